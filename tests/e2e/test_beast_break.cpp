// Attacks on beast_transport and the Asio front end (adapters/beast.hpp,
// adapters/asio.hpp) over loopback: servers that misbehave on purpose (a
// scripted POSIX socket per case), an io_context destroyed under pending
// operations, a source destroyed under a pending call. Each case failed (or
// crashed under ASan) before the fix it names, or pins a behaviour an attack
// probed. One translation unit on purpose: Beast compiles slowly.
#include <babelbird/adapters/asio.hpp>
#include <babelbird/adapters/beast.hpp>
#include <babelbird/babelbird.hpp>

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/io_context.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <thread>

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

namespace test_beast_break {

using namespace std::chrono_literals;
namespace net = boost::asio;
using clock_type = std::chrono::steady_clock;

/// One connection, one script: accepts on 127.0.0.1, reads the request's
/// header block, then runs `script(fd)` on its own thread; the script writes
/// whatever it likes. `stop` tells a spraying or stalling script to end.
class scripted_server {
public:
    using script_type = std::function<void(int fd, const std::atomic<bool>& stop)>;

    explicit scripted_server(script_type script) : script_(std::move(script)) {
        listener_ = ::socket(AF_INET, SOCK_STREAM, 0);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        socklen_t len = sizeof a;
        REQUIRE(::bind(listener_, reinterpret_cast<sockaddr*>(&a), len) == 0);
        REQUIRE(::listen(listener_, 4) == 0);
        REQUIRE(::getsockname(listener_, reinterpret_cast<sockaddr*>(&a), &len) == 0);
        port_ = ntohs(a.sin_port);
        thread_ = std::thread([this] { serve(); });
    }
    scripted_server(const scripted_server&) = delete;
    scripted_server& operator=(const scripted_server&) = delete;
    ~scripted_server() {
        stop_ = true;
        ::shutdown(listener_, SHUT_RDWR);
        thread_.join();
        ::close(listener_);
    }
    std::string url(std::string_view path = "/x") const {
        return "http://127.0.0.1:" + std::to_string(port_) + std::string(path);
    }
    /// Bytes written by the script's `spray` so far.
    std::size_t sprayed() const { return sprayed_.load(); }

    /// Writes all of `s` (false when the peer is gone).
    static bool write_all(int fd, std::string_view s) {
        while (!s.empty()) {
            const ssize_t n = ::send(fd, s.data(), s.size(), MSG_NOSIGNAL);
            if (n <= 0) {
                return false;
            }
            s.remove_prefix(static_cast<std::size_t>(n));
        }
        return true;
    }
    /// Writes `unit` again and again, up to `limit` bytes, until the peer goes.
    void spray(int fd, std::string_view unit, std::size_t limit) {
        while (!stop_ && sprayed_ < limit && write_all(fd, unit)) {
            sprayed_ += unit.size();
        }
    }
    static void linger_until(const std::atomic<bool>& stop, std::chrono::milliseconds at_most) {
        const auto end = clock_type::now() + at_most;
        while (!stop && clock_type::now() < end) {
            std::this_thread::sleep_for(5ms);
        }
    }

private:
    void serve() {
        const int fd = ::accept(listener_, nullptr, nullptr);
        if (fd < 0) {
            return;
        }
        std::string got;
        char buf[4096];
        while (got.find("\r\n\r\n") == std::string::npos) {
            const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
            if (n <= 0) {
                ::close(fd);
                return;
            }
            got.append(buf, static_cast<std::size_t>(n));
        }
        script_(fd, stop_);
        ::close(fd);
    }

    script_type script_;
    int listener_ = -1;
    unsigned short port_ = 0;
    std::atomic<bool> stop_{false};
    std::atomic<std::size_t> sprayed_{0};
    std::thread thread_;
};

struct outcome {
    babelbird::transport_result result;
    std::chrono::milliseconds took;
};

outcome exchange(const babelbird::http_request& request, std::chrono::milliseconds timeout) {
    net::io_context io;
    babelbird::beast_options o;
    o.timeout = timeout;
    babelbird::beast_transport t(io.get_executor(), o);
    std::optional<babelbird::transport_result> got;
    const auto start = clock_type::now();
    t.async_send(request, [&](babelbird::transport_result r) { got.emplace(std::move(r)); });
    io.run_for(timeout + 10s);
    REQUIRE(got.has_value());
    return {std::move(*got),
            std::chrono::duration_cast<std::chrono::milliseconds>(clock_type::now() - start)};
}

babelbird::errc errc_of(const babelbird::transport_result& r) {
    REQUIRE_FALSE(r);
    return r.error().code();
}

// --- the transport against hostile servers -------------------------------------------

// Before the fix the parser waited for the Content-Length body a HEAD answer
// never has (RFC 9110 section 9.3.2): errc::timeout after the whole deadline.
TEST_CASE("beast break: a HEAD answer with Content-Length has no body") {
    scripted_server server([](int fd, const std::atomic<bool>& stop) {
        (void)scripted_server::write_all(
            fd, "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\nContent-Type: text/plain\r\n\r\n");
        scripted_server::linger_until(stop, 5s); // keeps the connection open
    });
    const outcome o = exchange(babelbird::http_request("HEAD", server.url()), 3s);
    REQUIRE(o.result);
    CHECK(o.result->status == 200);
    CHECK(o.result->body.empty());
    CHECK(o.took < 2s);
}

// Before the fix Beast's read buffer had no cap: a chunk-size line (or the
// trailer) is buffered whole until its CRLF, so a server could fill the
// client's memory for the whole deadline (here 64 MiB, then a timeout).
TEST_CASE("beast break: an endless chunk extension is capped like a header") {
    scripted_server server([&](int fd, const std::atomic<bool>& stop) {
        (void)scripted_server::write_all(
            fd, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=");
        static const std::string unit(65536, 'a');
        server.spray(fd, unit, std::size_t{64} << 20);
        scripted_server::linger_until(stop, 5s);
    });
    const outcome o = exchange(babelbird::http_request("GET", server.url()), 4s);
    CHECK(errc_of(o.result) == babelbird::errc::body_too_large);
    CHECK(o.took < 3s);
    CHECK(server.sprayed() < (std::size_t{16} << 20));
}

TEST_CASE("beast break: an endless trailer is capped like a header") {
    scripted_server server([&](int fd, const std::atomic<bool>& stop) {
        (void)scripted_server::write_all(
            fd, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\nX-T: ");
        static const std::string unit(65536, 'b');
        server.spray(fd, unit, std::size_t{64} << 20);
        scripted_server::linger_until(stop, 5s);
    });
    const outcome o = exchange(babelbird::http_request("GET", server.url()), 4s);
    CHECK(errc_of(o.result) == babelbird::errc::body_too_large);
    CHECK(o.took < 3s);
    CHECK(server.sprayed() < (std::size_t{16} << 20));
}

TEST_CASE("beast break: an endless header line is body_too_large, not a timeout") {
    scripted_server server([&](int fd, const std::atomic<bool>& stop) {
        (void)scripted_server::write_all(fd, "HTTP/1.1 200 OK\r\nX-Long: ");
        static const std::string unit(65536, 'c');
        server.spray(fd, unit, std::size_t{64} << 20);
        scripted_server::linger_until(stop, 5s);
    });
    const outcome o = exchange(babelbird::http_request("GET", server.url()), 4s);
    CHECK(errc_of(o.result) == babelbird::errc::body_too_large);
    CHECK(o.took < 3s);
}

TEST_CASE("beast break: a storm of 1xx answers, then the final one") {
    scripted_server server([](int fd, const std::atomic<bool>&) {
        std::string storm;
        for (int i = 0; i < 2000; ++i) {
            storm += "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 102 Processing\r\nX: y\r\n\r\n";
        }
        storm += "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
        (void)scripted_server::write_all(fd, storm);
    });
    const outcome o = exchange(babelbird::http_request("GET", server.url()), 5s);
    REQUIRE(o.result);
    CHECK(o.result->status == 200);
    CHECK(o.result->body == "ok");
}

TEST_CASE("beast break: Content-Length lies, chunked garbage, a stall after the header") {
    SUBCASE("fewer bytes than Content-Length, then close: partial_body") {
        scripted_server server([](int fd, const std::atomic<bool>&) {
            (void)scripted_server::write_all(fd,
                                             "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc");
        });
        CHECK(errc_of(exchange(babelbird::http_request("GET", server.url()), 3s).result) ==
              babelbird::errc::partial_body);
    }
    SUBCASE("more bytes than Content-Length: the declared ones only") {
        scripted_server server([](int fd, const std::atomic<bool>&) {
            (void)scripted_server::write_all(
                fd, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokEXTRA-BYTES");
        });
        const outcome o = exchange(babelbird::http_request("GET", server.url()), 3s);
        REQUIRE(o.result);
        CHECK(o.result->body == "ok");
    }
    SUBCASE("two different Content-Length values: refused") {
        scripted_server server([](int fd, const std::atomic<bool>&) {
            (void)scripted_server::write_all(
                fd, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nokk");
        });
        CHECK(errc_of(exchange(babelbird::http_request("GET", server.url()), 3s).result) ==
              babelbird::errc::transport_failure);
    }
    SUBCASE("a chunk size that is not hex: refused") {
        scripted_server server([](int fd, const std::atomic<bool>&) {
            (void)scripted_server::write_all(
                fd, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nok\r\n0\r\n\r\n");
        });
        CHECK(errc_of(exchange(babelbird::http_request("GET", server.url()), 3s).result) ==
              babelbird::errc::transport_failure);
    }
    SUBCASE("a chunk size over the body cap: body_too_large before it is read") {
        scripted_server server([](int fd, const std::atomic<bool>& stop) {
            (void)scripted_server::write_all(
                fd, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nFFFFFFFF\r\nab");
            scripted_server::linger_until(stop, 5s);
        });
        CHECK(errc_of(exchange(babelbird::http_request("GET", server.url()), 3s).result) ==
              babelbird::errc::body_too_large);
    }
    SUBCASE("a stall after the header: the whole-exchange deadline") {
        scripted_server server([](int fd, const std::atomic<bool>& stop) {
            (void)scripted_server::write_all(fd,
                                             "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc");
            scripted_server::linger_until(stop, 5s);
        });
        const outcome o = exchange(babelbird::http_request("GET", server.url()), 500ms);
        CHECK(errc_of(o.result) == babelbird::errc::timeout);
        CHECK(o.took < 2s);
    }
}

TEST_CASE("beast break: odd URLs are refused before anything is sent") {
    for (const char* url : {
             "http://127.0.0.1:0/",
             "http://127.0.0.1:65536/",
             "http://127.0.0.1:/",
             "http://user:pw@127.0.0.1/",
             "http://127.0.0.1/a\r\nX-Injected: 1",
             "http://127.0.0.1/a b",
             "http://127.0.0.1/a#frag",
             "http://[::1/",
             "http://example.com/", // plain http to a host that is not loopback
             "ftp://127.0.0.1/",
         }) {
        CAPTURE(url);
        CHECK_FALSE(babelbird::detail::parse_beast_url(url));
    }
    const auto v6 = babelbird::detail::parse_beast_url("http://[::1]:8080/p?q=1");
    REQUIRE(v6);
    CHECK(v6->host == "::1");
    CHECK(v6->port == "8080");
    CHECK(v6->host_header == "[::1]:8080");
    CHECK(v6->target == "/p?q=1");
}

// --- the io_context and the source going away under pending operations ---------------

using source_type = babelbird::async_token_source<
    babelbird::beast_transport, babelbird::asio::executor_adapter<net::io_context::executor_type>>;

babelbird::beast_options timeout_of(std::chrono::milliseconds timeout) {
    babelbird::beast_options o;
    o.timeout = timeout;
    return o;
}

babelbird::client_credentials credentials() {
    return babelbird::client_credentials::make("babel-client", "S3cr3t-client-secret").value();
}
babelbird::token_seed seed() {
    return babelbird::token_seed::from_refresh_token(babelbird::secret_view("R0-refresh")).value();
}

// Run under ASan: no leak, no use-after-free. The handlers the io_context
// destroys hold the exchange, the source's completion and the front end's.
TEST_CASE("beast break: an io_context destroyed with a refresh and calls pending") {
    scripted_server server([](int, const std::atomic<bool>& stop) {
        scripted_server::linger_until(stop, 10s); // never answers
    });
    int completions = 0;
    {
        auto io = std::make_unique<net::io_context>();
        babelbird::beast_transport transport(io->get_executor(), timeout_of(30s));
        babelbird::beast_transport files(io->get_executor(), timeout_of(30s));
        source_type source(transport, babelbird::asio::executor_adapter(io->get_executor()),
                           credentials(), babelbird::endpoint::make(server.url("/babel")).value(),
                           seed());
        babelbird::asio::async_get_token(source, [&](auto) { ++completions; });
        babelbird::asio::async_send_authorized(files, source,
                                               babelbird::http_request("GET", server.url("/f")),
                                               [&](auto) { ++completions; });
        io->run_for(200ms);
        io->stop();
        // The source's destructor posts the cancelled waiters to the stopped
        // context; the context is destroyed with them and the exchange queued.
    }
    CHECK(completions == 0);
}

// Before the fix (drivers/async_send_authorized.hpp) the cancelled token
// request reached the destroyed source's executor: a use-after-free.
TEST_CASE("beast break: the source destroyed while a front-end call waits for its token") {
    scripted_server server([](int, const std::atomic<bool>& stop) {
        scripted_server::linger_until(stop, 10s); // the refresh never answers
    });
    net::io_context io;
    babelbird::beast_transport transport(io.get_executor(), timeout_of(30s));
    babelbird::beast_transport files(io.get_executor(), timeout_of(30s));
    auto source = std::make_unique<source_type>(
        transport, babelbird::asio::executor_adapter(io.get_executor()), credentials(),
        babelbird::endpoint::make(server.url("/babel")).value(), seed());
    std::optional<babelbird::result<babelbird::http_response>> got;
    babelbird::asio::async_send_authorized(
        files, *source, babelbird::http_request("GET", server.url("/f")),
        [&](babelbird::result<babelbird::http_response> r) { got.emplace(std::move(r)); });
    io.run_for(100ms);
    CHECK_FALSE(got);
    source.reset();
    io.run_for(100ms);
    REQUIRE(got);
    REQUIRE_FALSE(*got);
    CHECK(got->error() == babelbird::cancelled_error());
}

TEST_CASE("beast break: a cancellation emitted as the token arrives completes once") {
    // The refresh answers at once; the cancellation is emitted on the io
    // thread right after the answer was handed to the source: either outcome
    // is fine, exactly one completion is the rule.
    scripted_server server([](int fd, const std::atomic<bool>&) {
        const std::string body =
            R"({"access_token":"A1-access","refresh_token":"R1","expires_in":3600})";
        (void)scripted_server::write_all(
            fd, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: " +
                    std::to_string(body.size()) + "\r\n\r\n" + body);
    });
    net::io_context io;
    babelbird::beast_transport transport(io.get_executor(), timeout_of(5s));
    source_type source(transport, babelbird::asio::executor_adapter(io.get_executor()),
                       credentials(), babelbird::endpoint::make(server.url("/babel")).value(),
                       seed());
    net::cancellation_signal signal;
    int calls = 0;
    babelbird::asio::async_get_token(
        source, net::bind_cancellation_slot(
                    signal.slot(), [&](babelbird::result<babelbird::token_handle>) { ++calls; }));
    for (int i = 0; i < 200 && calls == 0; ++i) {
        io.run_one_for(50ms);
        signal.emit(net::cancellation_type::terminal);
    }
    io.run_for(50ms);
    CHECK(calls == 1);
}

} // namespace test_beast_break
