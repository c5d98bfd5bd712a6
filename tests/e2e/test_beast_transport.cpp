// End to end: the Boost.Beast async transport over real loopback sockets, against
// the BabelBird-compatible server (testing/fake_server.hpp) and, for what that
// server cannot do (stall before answering, IPv6, TLS), against small Asio
// servers made here. The TLS certificates are generated at run time with
// OpenSSL's API. One translation unit on purpose: Beast compiles slowly.
#include <babelbird/adapters/beast.hpp>
#include <babelbird/babelbird.hpp>
#include <babelbird/drivers/async_client.hpp>
#include <babelbird/testing/fake_server.hpp>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/streambuf.hpp>
#include <boost/asio/write.hpp>

#if BABELBIRD_BEAST_TLS
#include <boost/asio/ssl.hpp>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#endif

#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#if !defined(__cpp_exceptions)
// Boost needs this from the program when exceptions are off.
#include <boost/throw_exception.hpp>
namespace boost {
[[noreturn]] void throw_exception(const std::exception&) {
    std::abort();
}
[[noreturn]] void throw_exception(const std::exception&, const boost::source_location&) {
    std::abort();
}
} // namespace boost
#endif

namespace test_beast_transport {

using namespace std::chrono_literals;
namespace bt = babelbird::testing;
namespace asio = boost::asio;
using tcp = asio::ip::tcp;

constexpr std::string_view client_id = "babel-client";
constexpr std::string_view client_secret = "S3cr3t+/=:%!value";
constexpr std::string_view seed_refresh = "rt+/=%Zq9-REFRESH-0123456789abcdef";
constexpr std::string_view seed_refresh_encoded = "rt%2B%2F%3D%25Zq9-REFRESH-0123456789abcdef";
// base64("babel-client:S3cr3t+/=:%!value")
constexpr std::string_view expected_basic = "Basic YmFiZWwtY2xpZW50OlMzY3IzdCsvPTolIXZhbHVl";

bt::fake_server_options server_options() {
    bt::fake_server_options o;
    o.client_id = std::string(client_id);
    o.client_secret = std::string(client_secret);
    o.context_path = "/babel";
    return o;
}

babelbird::client_credentials credentials() {
    return babelbird::client_credentials::make(client_id, client_secret).value();
}

struct running_server {
    bt::fake_server server;
    explicit running_server(bt::fake_server_options o = server_options()) : server(std::move(o)) {
        REQUIRE(server.start());
        server.add_refresh_token(std::string(seed_refresh));
    }
    babelbird::endpoint endpoint() const {
        return babelbird::endpoint::make(server.base_url()).value();
    }
};

void check_no_secret(const babelbird::error& e) {
    const std::string m = e.message();
    for (std::string_view s : {client_secret, seed_refresh, seed_refresh_encoded}) {
        CHECK(m.find(s) == std::string::npos);
    }
}

/// The library's `executor` concept over an Asio executor.
struct asio_executor {
    asio::any_io_executor ex;
    // Wrapped in a lambda: handing the unique_function itself to asio::post makes
    // g++ 12 recurse on unique_function's converting constructor's constraint.
    void post(babelbird::posted_work work) {
        asio::post(ex, [w = std::move(work)]() mutable { w(); });
    }
};

babelbird::beast_options options(std::chrono::milliseconds timeout = 5s) {
    babelbird::beast_options o;
    o.timeout = timeout;
    return o;
}

/// One exchange, run to its end on a fresh io_context; checks the completion ran
/// exactly once and never inside `async_send`.
babelbird::transport_result send(const babelbird::http_request& request,
                                 babelbird::beast_options o = options()) {
    asio::io_context io;
    babelbird::beast_transport t(io.get_executor(), std::move(o));
    int calls = 0;
    bool inside = true;
    std::optional<babelbird::transport_result> got;
    t.async_send(request, [&](babelbird::transport_result r) {
        ++calls;
        CHECK_FALSE(inside);
        got.emplace(std::move(r));
    });
    inside = false;
    io.run_for(20s);
    REQUIRE(calls == 1);
    return std::move(*got);
}

babelbird::grant_result refresh_over_beast(const running_server& s,
                                           babelbird::beast_options o = options()) {
    asio::io_context io;
    babelbird::beast_transport t(io.get_executor(), std::move(o));
    std::optional<babelbird::grant_result> got;
    babelbird::async_refresh(t, asio_executor{io.get_executor()}, credentials(), s.endpoint(),
                             babelbird::secret_view(seed_refresh), {},
                             babelbird::system_clock_source{},
                             [&](babelbird::grant_result g) { got.emplace(std::move(g)); });
    io.run_for(20s);
    REQUIRE(got.has_value());
    return std::move(*got);
}

babelbird::http_request bearer_get(const std::string& url, std::string_view token) {
    babelbird::http_request req("GET", url);
    req.set_header("Authorization", "Bearer " + std::string(token));
    req.set_header("Accept", "application/json");
    return req;
}

// --- a small Asio server for what fake_server cannot do ---------------------------------

/// Accepts connections on its own thread; for each it reads the header block and
/// then answers `answer`, or (with `answer` empty) keeps the connection open
/// without answering until the server stops. With a TLS context it handshakes
/// first; with `stall_before_reading` it neither reads nor handshakes.
class raw_server {
public:
    struct config {
        std::string address = "127.0.0.1";
        std::string answer;
        bool stall_before_reading = false;
#if BABELBIRD_BEAST_TLS
        asio::ssl::context* tls = nullptr;
#endif
    };

    explicit raw_server(config c) : config_(std::move(c)), acceptor_(io_) {
        boost::system::error_code ec;
        const auto address = asio::ip::make_address(config_.address, ec);
        if (ec) {
            return;
        }
        const tcp::endpoint where(address, 0);
        acceptor_.open(where.protocol(), ec);
        if (!ec) {
            acceptor_.bind(where, ec);
        }
        if (!ec) {
            acceptor_.listen(asio::socket_base::max_listen_connections, ec);
        }
        if (ec) {
            return;
        }
        port_ = acceptor_.local_endpoint(ec).port();
        ok_ = !ec;
        accept();
        thread_ = std::thread([this] { io_.run(); });
    }
    raw_server(const raw_server&) = delete;
    raw_server& operator=(const raw_server&) = delete;
    ~raw_server() {
        io_.stop();
        if (thread_.joinable()) {
            thread_.join();
        }
    }

    bool ok() const {
        return ok_;
    }
    unsigned short port() const {
        return port_;
    }
    int accepted() const {
        return accepted_.load();
    }
    /// The header blocks received so far.
    std::vector<std::string> requests() const {
        std::lock_guard lock(mutex_);
        return requests_;
    }

private:
    void accept() {
        acceptor_.async_accept([this](boost::system::error_code ec, tcp::socket socket) {
            if (ec) {
                return;
            }
            ++accepted_;
#if BABELBIRD_BEAST_TLS
            if (config_.tls != nullptr) {
                auto s = std::make_shared<asio::ssl::stream<tcp::socket>>(std::move(socket),
                                                                          *config_.tls);
                if (!config_.stall_before_reading) {
                    s->async_handshake(asio::ssl::stream_base::server,
                                       [this, s](boost::system::error_code e) {
                                           if (e) {
                                               boost::system::error_code ignored;
                                               s->lowest_layer().close(ignored);
                                               return;
                                           }
                                           serve(s);
                                       });
                }
                keep(s);
                accept();
                return;
            }
#endif
            auto s = std::make_shared<tcp::socket>(std::move(socket));
            if (!config_.stall_before_reading) {
                serve(s);
            }
            keep(s);
            accept();
        });
    }

    template <class Stream>
    void keep(std::shared_ptr<Stream> s) {
        kept_.push_back(std::static_pointer_cast<void>(s)); // open until the server stops
    }

    template <class Stream>
    void serve(std::shared_ptr<Stream> s) {
        auto buffer = std::make_shared<asio::streambuf>();
        asio::async_read_until(*s, *buffer, "\r\n\r\n",
                               [this, s, buffer](boost::system::error_code ec, std::size_t n) {
                                   if (ec) {
                                       return;
                                   }
                                   {
                                       std::lock_guard lock(mutex_);
                                       requests_.emplace_back(asio::buffers_begin(buffer->data()),
                                                              asio::buffers_begin(buffer->data()) +
                                                                  static_cast<std::ptrdiff_t>(n));
                                   }
                                   if (config_.answer.empty()) {
                                       return; // stall: the socket stays open in kept_
                                   }
                                   asio::async_write(
                                       *s, asio::buffer(config_.answer),
                                       [s](boost::system::error_code, std::size_t) {});
                               });
    }

    config config_;
    asio::io_context io_;
    tcp::acceptor acceptor_;
    std::vector<std::shared_ptr<void>> kept_;
    std::thread thread_;
    std::atomic<int> accepted_{0};
    mutable std::mutex mutex_;
    std::vector<std::string> requests_;
    unsigned short port_ = 0;
    bool ok_ = false;
};

constexpr std::string_view ok_answer =
    "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nok";

// --- the fake server through the library's drivers ---------------------------------------

TEST_CASE("e2e beast: async_refresh over beast_transport, request checked byte for byte") {
    running_server s;
    const auto grant = refresh_over_beast(s);
    REQUIRE(grant);
    CHECK(grant->refresh_token_rotated);
    CHECK(grant->expires_in == std::optional<std::uint64_t>(3600));
    CHECK(s.server.access_token_valid(std::string(grant->access_token.expose_secret())));
    CHECK(s.server.refresh_token_valid(std::string(grant->refresh_token.expose_secret())));
    CHECK_FALSE(s.server.refresh_token_valid(std::string(seed_refresh)));

    const auto seen = s.server.requests();
    REQUIRE(seen.size() == 1);
    const auto& r = seen[0];
    CHECK(r.method == "POST");
    CHECK(r.path == "/babel/api/refreshToken.do");
    CHECK(r.query == "grant_type=refresh_token&refresh_token=" + std::string(seed_refresh_encoded));
    CHECK(r.header("Authorization") == std::optional<std::string>(std::string(expected_basic)));
    CHECK(r.header("Accept") == std::optional<std::string>("application/json"));
    CHECK(r.header("Host") ==
          std::optional<std::string>("127.0.0.1:" + std::to_string(s.server.port())));
    CHECK(r.header("Content-Length") == std::optional<std::string>("0"));
    CHECK(r.body.empty());
    // The transport adds nothing of its own beyond the framing.
    for (const auto& h : r.headers) {
        const bool expected = h.first == "Host" || h.first == "Authorization" ||
                              h.first == "Accept" || h.first == "Content-Length" ||
                              h.first == "Connection";
        CHECK_MESSAGE(expected, h.first);
    }
}

TEST_CASE("e2e beast: a wrong refresh token is invalid_grant through the async driver") {
    running_server s;
    REQUIRE(refresh_over_beast(s)); // rotates the seed away
    const auto stale = refresh_over_beast(s);
    REQUIRE_FALSE(stale);
    CHECK(stale.error().oauth_code() == babelbird::oauth_error::invalid_grant);
    CHECK(stale.error().http_status() == 400);
    CHECK(stale.error().kind() == babelbird::error_class::reauthorize);
    check_no_secret(stale.error());
}

TEST_CASE("e2e beast: the file API with Bearer: GET, POST with a body, expiry") {
    running_server s;
    const auto grant = refresh_over_beast(s);
    REQUIRE(grant);
    const std::string token(grant->access_token.expose_secret());

    const auto ok = send(bearer_get(s.server.file_url(), token));
    REQUIRE(ok);
    CHECK(ok->status == 200);
    CHECK_FALSE(ok->body.empty());
    CHECK(ok->header("content-type"));
    auto seen = s.server.requests();
    REQUIRE(seen.size() == 2);
    CHECK(seen[1].method == "GET");
    CHECK(seen[1].header("Authorization") == std::optional<std::string>("Bearer " + token));
    CHECK_FALSE(seen[1].header("Content-Length")); // a GET without a body has none

    babelbird::http_request post("POST", s.server.base_url() + s.server.options().file_post_path);
    post.set_header("Authorization", "Bearer " + token);
    post.set_header("Content-Type", "application/json; charset=utf-8");
    post.body = R"({"name":"report.docx","parent":"/docs"})";
    const auto created = send(post);
    REQUIRE(created);
    CHECK(created->status == 201);
    CHECK(created->body == R"({"created":true,"bytes":)" + std::to_string(post.body.size()) + "}");
    seen = s.server.requests();
    REQUIRE(seen.size() == 3);
    CHECK(seen[2].body == post.body);
    CHECK(seen[2].header("Content-Length") ==
          std::optional<std::string>(std::to_string(post.body.size())));

    s.server.advance(3601s);
    const auto expired = send(bearer_get(s.server.file_url(), token));
    REQUIRE(expired);
    CHECK(expired->status == 401);
    CHECK(expired->header("WWW-Authenticate") ==
          std::optional<std::string_view>("Bearer error=\"invalid_token\""));
    CHECK(expired->body == R"({"error":"invalid_token"})");
}

TEST_CASE("e2e beast: a 302 is returned as it came, never followed") {
    running_server s;
    SUBCASE("at the transport") {
        const auto r = send(babelbird::http_request(
            "GET", s.server.base_url() +
                       "/api/authorize.do?response_type=code&client_id=" + std::string(client_id) +
                       "&redirect_uri=https%3A%2F%2Fapp.example.com%2Fcb"));
        REQUIRE(r);
        CHECK(r->status == 302);
        const auto location = r->header("Location");
        REQUIRE(location);
        CHECK(location->rfind("https://app.example.com/cb?code=code-", 0) == 0);
        CHECK(s.server.requests().size() == 1);
    }
    SUBCASE("through async_refresh: errc::redirect, protocol") {
        s.server.push_fault(bt::fault::of(bt::fault::kind::redirect));
        const auto g = refresh_over_beast(s);
        REQUIRE_FALSE(g);
        CHECK(g.error().code() == babelbird::errc::redirect);
        CHECK(g.error().kind() == babelbird::error_class::protocol);
        CHECK(g.error().http_status() == 302);
        CHECK(s.server.requests().size() == 1);
    }
}

TEST_CASE("e2e beast: server faults map to the libcurl adapter's errors") {
    running_server s;
    const auto attempt = [&](bt::fault f, babelbird::beast_options o = options()) {
        s.server.push_fault(std::move(f));
        auto g = refresh_over_beast(s, std::move(o));
        REQUIRE_FALSE(g);
        check_no_secret(g.error());
        return g.error();
    };
    SUBCASE("a body over the cap (Content-Length) is refused before it is read") {
        auto f = bt::fault::of(bt::fault::kind::oversize);
        f.bytes = std::size_t{64} << 20;
        const auto e = attempt(f);
        CHECK(e.code() == babelbird::errc::body_too_large);
        CHECK(e.kind() == babelbird::error_class::protocol);
        CHECK(e.http_status() == 200);
        CHECK(s.server.oversize_bytes_written() < f.bytes);
    }
    SUBCASE("a chunked body over the cap is stopped while reading") {
        auto f = bt::fault::of(bt::fault::kind::oversize);
        f.bytes = std::size_t{64} << 20;
        f.chunked = true;
        const auto e = attempt(f);
        CHECK(e.code() == babelbird::errc::body_too_large);
        CHECK(e.kind() == babelbird::error_class::protocol);
        CHECK(s.server.oversize_bytes_written() < f.bytes);
    }
    SUBCASE("a small cap applies to an ordinary answer; an oversized 503 is retry") {
        auto small = options();
        small.max_body_size = 10;
        CHECK(attempt(bt::fault::answer(200, R"({"access_token":"0123456789"})"), small).code() ==
              babelbird::errc::body_too_large);
        const auto e = attempt(bt::fault::answer(503, "<html>overloaded</html>"), small);
        CHECK(e.code() == babelbird::errc::body_too_large);
        CHECK(e.kind() == babelbird::error_class::retry);
        CHECK(e.http_status() == 503);
    }
    SUBCASE("a body at exactly the cap is accepted") {
        const std::string body = R"({"error":"slow_down"})";
        auto exact = options();
        exact.max_body_size = body.size();
        const auto e = attempt(bt::fault::answer(429, body), exact);
        CHECK(e.code() == babelbird::errc::oauth_error_response);
        CHECK(e.http_status() == 429);
    }
    SUBCASE("a body cut short of its Content-Length is partial_body, retry") {
        const auto e = attempt(bt::fault::of(bt::fault::kind::partial));
        CHECK(e.code() == babelbird::errc::partial_body);
        CHECK(e.kind() == babelbird::error_class::retry);
    }
    SUBCASE("503 is retry, garbage is invalid_json") {
        CHECK(attempt(bt::fault::answer(503, "<html>down</html>", "text/html")).kind() ==
              babelbird::error_class::retry);
        CHECK(attempt(bt::fault::answer(200, "<html>hello</html>")).code() ==
              babelbird::errc::invalid_json);
    }
}

TEST_CASE("e2e beast: the whole-exchange deadline gives errc::timeout within the bound") {
    const auto timed = [](const babelbird::http_request& req) {
        const auto start = std::chrono::steady_clock::now();
        auto r = send(req, options(400ms));
        const auto took = std::chrono::steady_clock::now() - start;
        CHECK(took >= 390ms);
        CHECK(took < 1500ms);
        return r;
    };
    SUBCASE("the fake server reads the request and never answers") {
        running_server s;
        s.server.push_fault(bt::fault::of(bt::fault::kind::hang));
        babelbird::http_request req(
            "POST", s.server.base_url() +
                        "/api/refreshToken.do?grant_type=refresh_token&refresh_token=" +
                        std::string(seed_refresh_encoded));
        req.set_header("Authorization", std::string(expected_basic));
        const auto r = timed(req);
        REQUIRE_FALSE(r);
        CHECK(r.error().code() == babelbird::errc::timeout);
        CHECK(r.error().kind() == babelbird::error_class::retry);
        check_no_secret(r.error());
    }
    SUBCASE("a socket that accepts and never reads") {
        raw_server::config c;
        c.stall_before_reading = true;
        raw_server stall(c);
        REQUIRE(stall.ok());
        const auto r = timed(babelbird::http_request(
            "GET", "http://127.0.0.1:" + std::to_string(stall.port()) + "/x"));
        REQUIRE_FALSE(r);
        CHECK(r.error().code() == babelbird::errc::timeout);
        CHECK(stall.accepted() == 1);
    }
    SUBCASE("a server that sends half a header block and stops") {
        raw_server::config c;
        c.answer = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n"; // no blank line, ever
        raw_server half(c);
        REQUIRE(half.ok());
        const auto r = timed(babelbird::http_request(
            "GET", "http://127.0.0.1:" + std::to_string(half.port()) + "/x"));
        REQUIRE_FALSE(r);
        CHECK(r.error().code() == babelbird::errc::timeout);
    }
}

TEST_CASE("e2e beast: connection refused once the server has stopped") {
    bt::fake_server server(server_options());
    REQUIRE(server.start());
    const auto url = server.file_url();
    server.stop();
    const auto r = send(babelbird::http_request("GET", url));
    REQUIRE_FALSE(r);
    CHECK(r.error().code() == babelbird::errc::connection_refused);
    CHECK(r.error().kind() == babelbird::error_class::retry);
    CHECK(r.error().origin() == babelbird::error_origin::transport);
}

TEST_CASE("e2e beast: a server that closes without answering is connection_reset") {
    // Reads the request, never answers; stopping it closes the connection.
    auto server = std::make_unique<raw_server>(raw_server::config{});
    REQUIRE(server->ok());
    const std::string url = "http://127.0.0.1:" + std::to_string(server->port()) + "/x";
    asio::io_context io;
    babelbird::beast_transport t(io.get_executor(), options(5s));
    std::optional<babelbird::transport_result> got;
    t.async_send(babelbird::http_request("GET", url),
                 [&](babelbird::transport_result r) { got.emplace(std::move(r)); });
    // Let the request arrive, then stop the server: its sockets close unanswered.
    for (int i = 0; i < 200 && server->requests().empty(); ++i) {
        io.run_for(10ms);
    }
    REQUIRE(server->requests().size() == 1);
    server.reset();
    io.run_for(5s);
    REQUIRE(got);
    REQUIRE_FALSE(*got);
    CHECK(got->error().code() == babelbird::errc::connection_reset);
}

TEST_CASE("e2e beast: requests the transport refuses before sending, completed via the executor") {
    running_server s;
    SUBCASE("CR/LF in a header value") {
        babelbird::http_request req("GET", s.server.file_url());
        req.headers.push_back({"X-Bad", "a\r\nInjected: yes"});
        const auto r = send(req);
        REQUIRE_FALSE(r);
        CHECK(r.error().code() == babelbird::errc::control_character);
        CHECK(r.error().kind() == babelbird::error_class::usage);
    }
    SUBCASE("a space in a method") {
        const auto r = send(babelbird::http_request("GET /x", s.server.file_url()));
        REQUIRE_FALSE(r);
        CHECK(r.error().code() == babelbird::errc::control_character);
    }
    SUBCASE("plain http to a host that is not loopback") {
        const auto r = send(babelbird::http_request("GET", "http://docs.example.com/api"));
        REQUIRE_FALSE(r);
        CHECK(r.error().code() == babelbird::errc::insecure_url);
    }
    SUBCASE("a fragment, user info, another scheme, a space in the query") {
        for (const char* url : {"http://127.0.0.1:1/a#frag", "http://u:p@127.0.0.1:1/a",
                                "ftp://127.0.0.1/a", "http://127.0.0.1:1/a?x=1 2", "127.0.0.1/a"}) {
            CAPTURE(url);
            const auto r = send(babelbird::http_request("GET", url));
            REQUIRE_FALSE(r);
            CHECK(r.error().kind() == babelbird::error_class::usage);
        }
    }
    CHECK(s.server.requests().empty());
}

TEST_CASE("e2e beast: the URL's target, Host and port; a host-less URL path is /") {
    raw_server::config c;
    c.answer = std::string(ok_answer);
    raw_server server(c);
    REQUIRE(server.ok());
    const std::string authority = "127.0.0.1:" + std::to_string(server.port());
    const auto a = send(babelbird::http_request("GET", "http://" + authority));
    REQUIRE(a);
    CHECK(a->status == 200);
    CHECK(a->body == "ok");
    CHECK(a->header("Content-Type") == std::optional<std::string_view>("text/plain"));
    const auto b =
        send(babelbird::http_request("DELETE", "http://" + authority + "/a/b%20c/?q=1&r=%2B+x"));
    REQUIRE(b);
    const auto seen = server.requests();
    REQUIRE(seen.size() == 2);
    CHECK(seen[0] == "GET / HTTP/1.1\r\nHost: " + authority + "\r\nConnection: close\r\n\r\n");
    CHECK(seen[1] == "DELETE /a/b%20c/?q=1&r=%2B+x HTTP/1.1\r\nHost: " + authority +
                         "\r\nConnection: close\r\n\r\n");
}

TEST_CASE("e2e beast: an IPv6 literal host") {
    raw_server::config c;
    c.address = "::1";
    c.answer = std::string(ok_answer);
    raw_server server(c);
    if (!server.ok()) {
        MESSAGE("no IPv6 loopback on this machine: the case is skipped");
        return;
    }
    const std::string authority = "[::1]:" + std::to_string(server.port());
    const auto r = send(babelbird::http_request("GET", "http://" + authority + "/v6"));
    REQUIRE(r);
    CHECK(r->status == 200);
    const auto seen = server.requests();
    REQUIRE(seen.size() == 1);
    CHECK(seen[0] == "GET /v6 HTTP/1.1\r\nHost: " + authority + "\r\nConnection: close\r\n\r\n");
}

TEST_CASE("e2e beast: 32 concurrent exchanges on one io_context, started from 4 threads") {
    running_server s;
    const auto grant = refresh_over_beast(s);
    REQUIRE(grant);
    const std::string token(grant->access_token.expose_secret());
    const std::string url = s.server.file_url();

    asio::io_context io;
    auto work = asio::make_work_guard(io);
    babelbird::beast_transport shared(io.get_executor(), options(10s));
    std::atomic<int> ok{0};
    std::atomic<int> calls{0};
    std::vector<std::thread> runners;
    for (int i = 0; i < 2; ++i) {
        runners.emplace_back([&] { io.run(); });
    }
    std::vector<std::thread> starters;
    for (int i = 0; i < 4; ++i) {
        starters.emplace_back([&, t = shared]() mutable { // each thread its own copy
            for (int j = 0; j < 8; ++j) {
                t.async_send(bearer_get(url, token), [&](babelbird::transport_result r) {
                    if (r && r->status == 200 && !r->body.empty()) {
                        ++ok;
                    }
                    ++calls;
                });
            }
        });
    }
    for (auto& th : starters) {
        th.join();
    }
    const auto until = std::chrono::steady_clock::now() + 20s;
    while (calls.load() < 32 && std::chrono::steady_clock::now() < until) {
        std::this_thread::sleep_for(5ms);
    }
    work.reset();
    for (auto& th : runners) {
        th.join();
    }
    CHECK(calls.load() == 32);
    CHECK(ok.load() == 32);
    CHECK(s.server.requests().size() == 33);
}

// --- TLS ------------------------------------------------------------------------------

#if BABELBIRD_BEAST_TLS

/// A self-signed certificate and its key, made at run time (EC P-256).
struct test_certificate {
    std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> key{nullptr, &EVP_PKEY_free};
    std::unique_ptr<X509, decltype(&X509_free)> cert{nullptr, &X509_free};
    std::string pem; ///< the certificate in PEM, for `ca_file`

    /// `san` as OpenSSL's config syntax: "IP:127.0.0.1", "DNS:other.example".
    static test_certificate make(const char* common_name, const char* san) {
        test_certificate t;
        t.key.reset(EVP_EC_gen("P-256"));
        REQUIRE(t.key);
        t.cert.reset(X509_new());
        X509* x = t.cert.get();
        REQUIRE(X509_set_version(x, 2) == 1);
        ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
        X509_gmtime_adj(X509_getm_notBefore(x), -3600);
        X509_gmtime_adj(X509_getm_notAfter(x), 3600L * 24);
        REQUIRE(X509_set_pubkey(x, t.key.get()) == 1);
        X509_NAME* name = X509_get_subject_name(x);
        X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                                   reinterpret_cast<const unsigned char*>(common_name), -1, -1, 0);
        REQUIRE(X509_set_issuer_name(x, name) == 1);
        X509V3_CTX ctx;
        X509V3_set_ctx_nodb(&ctx);
        X509V3_set_ctx(&ctx, x, x, nullptr, nullptr, 0);
        for (const auto& [nid, value] : {std::pair<int, const char*>{NID_subject_alt_name, san},
                                         {NID_basic_constraints, "critical,CA:TRUE"}}) {
            X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value);
            REQUIRE(ext != nullptr);
            X509_add_ext(x, ext, -1);
            X509_EXTENSION_free(ext);
        }
        REQUIRE(X509_sign(x, t.key.get(), EVP_sha256()) > 0);
        BIO* bio = BIO_new(BIO_s_mem());
        REQUIRE(PEM_write_bio_X509(bio, x) == 1);
        char* data = nullptr;
        const long n = BIO_get_mem_data(bio, &data);
        t.pem.assign(data, static_cast<std::size_t>(n));
        BIO_free(bio);
        return t;
    }
};

/// A server TLS context that presents `c`.
std::unique_ptr<asio::ssl::context> server_context(const test_certificate& c) {
    auto ctx = std::make_unique<asio::ssl::context>(asio::ssl::context::tls_server);
    REQUIRE(SSL_CTX_use_certificate(ctx->native_handle(), c.cert.get()) == 1);
    REQUIRE(SSL_CTX_use_PrivateKey(ctx->native_handle(), c.key.get()) == 1);
    return ctx;
}

/// A file removed at the end of the scope.
struct temp_file {
    std::string path;
    explicit temp_file(const std::string& content) {
        char name[] = "/tmp/babelbird-beast-ca-XXXXXX";
        const int fd = mkstemp(name);
        REQUIRE(fd >= 0);
        path = name;
        std::FILE* f = fdopen(fd, "w");
        REQUIRE(f != nullptr);
        std::fwrite(content.data(), 1, content.size(), f);
        std::fclose(f);
    }
    temp_file(const temp_file&) = delete;
    temp_file& operator=(const temp_file&) = delete;
    ~temp_file() { std::remove(path.c_str()); }
};

TEST_CASE("e2e beast: TLS against a local server with a certificate made at run time") {
    const auto good = test_certificate::make("127.0.0.1", "IP:127.0.0.1");
    auto ctx = server_context(good);
    raw_server::config c;
    c.answer = std::string(ok_answer);
    c.tls = ctx.get();
    raw_server server(c);
    REQUIRE(server.ok());
    const std::string url = "https://127.0.0.1:" + std::to_string(server.port()) + "/secure?k=v";
    const temp_file good_ca(good.pem);

    SUBCASE("the system CA store does not know it: tls_verification_failed, configuration") {
        const auto r = send(babelbird::http_request("GET", url));
        REQUIRE_FALSE(r);
        CHECK(r.error().code() == babelbird::errc::tls_verification_failed);
        CHECK(r.error().kind() == babelbird::error_class::configuration);
        CHECK(r.error().origin() == babelbird::error_origin::transport);
        CHECK(server.requests().empty()); // nothing was sent
    }
    SUBCASE("verify_tls = false: the exchange succeeds") {
        auto o = options();
        o.verify_tls = false;
        const auto r = send(babelbird::http_request("GET", url), o);
        REQUIRE(r);
        CHECK(r->status == 200);
        CHECK(r->body == "ok");
        REQUIRE(server.requests().size() == 1);
        CHECK(server.requests()[0].rfind("GET /secure?k=v HTTP/1.1\r\n", 0) == 0);
    }
    SUBCASE("ca_file holding the certificate: verified, host checked against the IP SAN") {
        auto o = options();
        o.ca_file = good_ca.path;
        const auto r = send(babelbird::http_request("GET", url), o);
        REQUIRE(r);
        CHECK(r->status == 200);
    }
    SUBCASE("a ca_file that cannot be read: tls_verification_failed, nothing sent") {
        auto o = options();
        o.ca_file = "/nonexistent/babelbird-ca.pem";
        const auto r = send(babelbird::http_request("GET", url), o);
        REQUIRE_FALSE(r);
        CHECK(r.error().code() == babelbird::errc::tls_verification_failed);
        CHECK(r.error().kind() == babelbird::error_class::configuration);
        CHECK(server.accepted() == 0);
    }
    SUBCASE("plain http to the TLS port: the server hangs up, connection_reset") {
        const auto r = send(babelbird::http_request(
            "GET", "http://127.0.0.1:" + std::to_string(server.port()) + "/"));
        REQUIRE_FALSE(r);
        CHECK(r.error().code() == babelbird::errc::connection_reset);
    }
}

TEST_CASE("e2e beast: TLS with a trusted certificate for another host name fails verification") {
    const auto other = test_certificate::make("other.example", "DNS:other.example");
    auto ctx = server_context(other);
    raw_server::config c;
    c.answer = std::string(ok_answer);
    c.tls = ctx.get();
    raw_server server(c);
    REQUIRE(server.ok());
    const temp_file ca(other.pem);
    auto o = options();
    o.ca_file = ca.path;
    const auto r = send(
        babelbird::http_request("GET", "https://127.0.0.1:" + std::to_string(server.port()) + "/"),
        o);
    REQUIRE_FALSE(r);
    CHECK(r.error().code() == babelbird::errc::tls_verification_failed);
    CHECK(r.error().kind() == babelbird::error_class::configuration);
    CHECK(server.requests().empty());
}

TEST_CASE("e2e beast: the deadline covers the TLS handshake") {
    const auto good = test_certificate::make("127.0.0.1", "IP:127.0.0.1");
    auto ctx = server_context(good);
    raw_server::config c;
    c.tls = ctx.get();
    c.stall_before_reading = true; // accepts, never handshakes
    raw_server server(c);
    REQUIRE(server.ok());
    const auto start = std::chrono::steady_clock::now();
    const auto r = send(
        babelbird::http_request("GET", "https://127.0.0.1:" + std::to_string(server.port()) + "/"),
        options(300ms));
    const auto took = std::chrono::steady_clock::now() - start;
    REQUIRE_FALSE(r);
    CHECK(r.error().code() == babelbird::errc::timeout);
    CHECK(took < 1500ms);
}

#else

TEST_CASE("e2e beast: without TLS support an https URL is a configuration error") {
    const auto r = send(babelbird::http_request("GET", "https://127.0.0.1:1/"));
    REQUIRE_FALSE(r);
    CHECK(r.error().code() == babelbird::errc::transport_failure);
    CHECK(r.error().kind() == babelbird::error_class::configuration);
}

#endif

} // namespace test_beast_transport
