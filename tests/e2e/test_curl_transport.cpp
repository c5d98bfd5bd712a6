// End to end: the library's refresh() through the libcurl transport against the
// BabelBird-compatible loopback server, over real sockets. The request the
// server saw is checked byte for byte.
#include <babelbird/adapters/curl.hpp>
#include <babelbird/babelbird.hpp>
#include <babelbird/drivers/token_source.hpp>
#include <babelbird/testing/fake_server.hpp>

#include <doctest/doctest.h>

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

using namespace std::chrono_literals;
namespace bt = babelbird::testing;

namespace {

// Known secret values: no error message may contain them.
constexpr std::string_view client_id = "babel-client";
constexpr std::string_view client_secret = "S3cr3t+/=:%!value";
constexpr std::string_view seed_refresh = "rt+/=%Zq9-REFRESH-0123456789abcdef";

bt::fake_server_options server_options() {
    bt::fake_server_options o;
    o.client_id = std::string(client_id);
    o.client_secret = std::string(client_secret);
    o.context_path = "/babel";
    return o;
}

babelbird::client_credentials credentials(std::string_view secret = client_secret) {
    return babelbird::client_credentials::make(client_id, secret).value();
}

babelbird::curl_transport transport(std::chrono::milliseconds timeout = 5s) {
    babelbird::curl_options o;
    o.timeout = timeout;
    o.proxy = ""; // loopback: never through a proxy from the environment
    return babelbird::curl_transport(o);
}

/// The server, started, with the seed refresh token known to it.
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
    for (std::string_view s : {client_secret, seed_refresh}) {
        CHECK(m.find(s) == std::string::npos);
    }
}

/// Percent-encoding written out by hand: the expected bytes, not another encoder.
constexpr std::string_view seed_refresh_encoded = "rt%2B%2F%3D%25Zq9-REFRESH-0123456789abcdef";
// base64("babel-client:S3cr3t+/=:%!value")
constexpr std::string_view expected_basic = "Basic YmFiZWwtY2xpZW50OlMzY3IzdCsvPTolIXZhbHVl";

} // namespace

TEST_CASE("e2e curl: refresh() against the loopback server, request checked byte for byte") {
    running_server s;
    auto t = transport();
    const auto grant =
        babelbird::refresh(t, credentials(), s.endpoint(), babelbird::secret_view(seed_refresh));
    REQUIRE(grant);
    CHECK(grant->refresh_token_rotated);
    CHECK(grant->expires_in == std::optional<std::uint64_t>(3600));
    CHECK(grant->token_type == "bearer");
    CHECK(s.server.access_token_valid(std::string(grant->access_token.expose_secret())));
    CHECK(s.server.refresh_token_valid(std::string(grant->refresh_token.expose_secret())));
    CHECK_FALSE(s.server.refresh_token_valid(std::string(seed_refresh))); // rotated away

    const auto seen = s.server.requests();
    REQUIRE(seen.size() == 1);
    const auto& r = seen[0];
    CHECK(r.method == "POST");
    CHECK(r.path == "/babel/api/refreshToken.do");
    CHECK(r.query == "grant_type=refresh_token&refresh_token=" + std::string(seed_refresh_encoded));
    REQUIRE(r.params.size() == 2);
    CHECK(r.params[0] == std::pair<std::string, std::string>("grant_type", "refresh_token"));
    CHECK(r.params[1] ==
          std::pair<std::string, std::string>("refresh_token", std::string(seed_refresh)));
    CHECK(r.header("Authorization") == std::optional<std::string>(std::string(expected_basic)));
    CHECK(r.header("Accept") == std::optional<std::string>("application/json"));
    CHECK(r.body.empty());
    // The transport adds nothing of its own beyond the framing.
    CHECK_FALSE(r.header("Content-Type"));
    CHECK_FALSE(r.header("Expect"));
    CHECK_FALSE(r.header("User-Agent"));
    for (const auto& h : r.headers) {
        const bool expected = h.first == "Host" || h.first == "Authorization" ||
                              h.first == "Accept" || h.first == "Content-Length";
        CHECK_MESSAGE(expected, h.first);
    }
}

TEST_CASE("e2e curl: the rotated refresh token works, the old one is rejected") {
    running_server s;
    auto t = transport();
    const auto creds = credentials();
    const auto first =
        babelbird::refresh(t, creds, s.endpoint(), babelbird::secret_view(seed_refresh));
    REQUIRE(first);
    const auto second = babelbird::refresh(t, creds, s.endpoint(), *first); // same handle
    REQUIRE(second);
    CHECK(second->refresh_token_rotated);
    CHECK(second->refresh_token.expose_secret() != first->refresh_token.expose_secret());

    const auto stale =
        babelbird::refresh(t, creds, s.endpoint(), babelbird::secret_view(seed_refresh));
    REQUIRE_FALSE(stale);
    CHECK(stale.error().code() == babelbird::errc::oauth_error_response);
    CHECK(stale.error().oauth_code() == babelbird::oauth_error::invalid_grant);
    CHECK(stale.error().http_status() == 400);
    CHECK(stale.error().kind() == babelbird::error_class::reauthorize);
    check_no_secret(stale.error());
}

TEST_CASE("e2e curl: rotation off and a missing refresh_token keep the token that was sent") {
    running_server s;
    auto t = transport();
    s.server.set_rotation(false);
    const auto same =
        babelbird::refresh(t, credentials(), s.endpoint(), babelbird::secret_view(seed_refresh));
    REQUIRE(same);
    CHECK(same->refresh_token.expose_secret() == seed_refresh);

    s.server.set_rotation(true);
    s.server.push_fault(bt::fault::of(bt::fault::kind::omit_refresh_token));
    const auto kept =
        babelbird::refresh(t, credentials(), s.endpoint(), babelbird::secret_view(seed_refresh));
    REQUIRE(kept);
    CHECK_FALSE(kept->refresh_token_rotated);
    CHECK(kept->refresh_token.expose_secret() == seed_refresh);
    CHECK(s.server.refresh_token_valid(std::string(seed_refresh)));
}

// The class follows docs/design.md (configuration since issue 10; the parser
// change is on issue10-parser).
TEST_CASE("e2e curl: a wrong client secret is invalid_client, configuration") {
    running_server s;
    auto t = transport();
    const auto r = babelbird::refresh(t, credentials("not-the-secret"), s.endpoint(),
                                      babelbird::secret_view(seed_refresh));
    REQUIRE_FALSE(r);
    CHECK(r.error().oauth_code() == babelbird::oauth_error::invalid_client);
    CHECK(r.error().http_status() == 401);
    CHECK(r.error().kind() == babelbird::error_class::configuration);
    check_no_secret(r.error());
}

TEST_CASE("e2e curl: code exchange and the Bearer-protected file endpoint, with expiry") {
    running_server s;
    auto t = transport();
    const std::string redirect = "https://app.example.com/callback?x=1";
    const std::string code = s.server.issue_code(redirect);
    const auto grant = babelbird::exchange_code(t, credentials(), s.endpoint(),
                                                babelbird::secret_view(code), redirect);
    REQUIRE(grant);
    const auto seen = s.server.requests();
    REQUIRE(seen.size() == 1);
    CHECK(seen[0].path == "/babel/api/token.do");
    CHECK(seen[0].param("grant_type") == std::optional<std::string>("authorization_code"));
    CHECK(seen[0].param("code") == std::optional<std::string>(code));
    CHECK(seen[0].param("redirect_uri") == std::optional<std::string>(redirect));

    // The code is single use.
    const auto again = babelbird::exchange_code(t, credentials(), s.endpoint(),
                                                babelbird::secret_view(code), redirect);
    REQUIRE_FALSE(again);
    CHECK(again.error().oauth_code() == babelbird::oauth_error::invalid_grant);

    const auto call = [&](std::string_view token) {
        babelbird::http_request req("GET", s.server.file_url());
        req.set_header("Authorization", "Bearer " + std::string(token));
        return t(req);
    };
    const auto ok = call(grant->access_token.expose_secret());
    REQUIRE(ok);
    CHECK(ok->status == 200);
    s.server.advance(3601s);
    const auto expired = call(grant->access_token.expose_secret());
    REQUIRE(expired);
    CHECK(expired->status == 401);
    CHECK(expired->header("WWW-Authenticate") ==
          std::optional<std::string_view>("Bearer error=\"invalid_token\""));
    CHECK(expired->body == R"({"error":"invalid_token"})");
}

TEST_CASE("e2e curl: server faults map to the documented error classes") {
    running_server s;
    auto t = transport(2s);
    const auto creds = credentials();
    const auto attempt = [&](bt::fault f) {
        s.server.push_fault(std::move(f));
        auto r = babelbird::refresh(t, creds, s.endpoint(), babelbird::secret_view(seed_refresh));
        REQUIRE_FALSE(r);
        check_no_secret(r.error());
        return r.error();
    };
    SUBCASE("503 and 429 are retry") {
        CHECK(attempt(bt::fault::answer(503, "<html>down</html>", "text/html")).kind() ==
              babelbird::error_class::retry);
        CHECK(attempt(bt::fault::answer(429, "")).kind() == babelbird::error_class::retry);
    }
    SUBCASE("garbage and truncated JSON are protocol") {
        CHECK(attempt(bt::fault::answer(200, "<html>hello</html>")).code() ==
              babelbird::errc::invalid_json);
        CHECK(attempt(bt::fault::answer(200, R"({"access_token":"abc)")).code() ==
              babelbird::errc::invalid_json);
    }
    SUBCASE("a 302 is returned, not followed: protocol") {
        const auto e = attempt(bt::fault::of(bt::fault::kind::redirect));
        CHECK(e.code() == babelbird::errc::redirect);
        CHECK(e.http_status() == 302);
        CHECK(s.server.requests().size() == 1);
    }
    SUBCASE("a body over the cap is aborted while receiving") {
        auto f = bt::fault::of(bt::fault::kind::oversize);
        f.bytes = std::size_t{64} << 20;
        const auto e = attempt(f);
        CHECK(e.code() == babelbird::errc::body_too_large);
        CHECK(e.kind() == babelbird::error_class::protocol);
        CHECK(s.server.oversize_bytes_written() < f.bytes);
    }
    SUBCASE("a chunked body over the cap is aborted in the write callback") {
        auto f = bt::fault::of(bt::fault::kind::oversize);
        f.bytes = std::size_t{64} << 20;
        f.chunked = true;
        const auto e = attempt(f);
        CHECK(e.code() == babelbird::errc::body_too_large);
        CHECK(e.kind() == babelbird::error_class::protocol);
        CHECK(s.server.oversize_bytes_written() < f.bytes);
    }
    SUBCASE("a small cap applies to an ordinary answer too") {
        babelbird::curl_options o;
        o.max_body_size = 10;
        o.proxy = "";
        babelbird::curl_transport small(o);
        const auto r =
            babelbird::refresh(small, creds, s.endpoint(), babelbird::secret_view(seed_refresh));
        REQUIRE_FALSE(r);
        CHECK(r.error().code() == babelbird::errc::body_too_large);
    }
    SUBCASE("a body cut short of its Content-Length is partial_body, retry") {
        const auto e = attempt(bt::fault::of(bt::fault::kind::partial));
        CHECK(e.code() == babelbird::errc::partial_body);
        CHECK(e.kind() == babelbird::error_class::retry);
    }
    SUBCASE("a server that never answers times out within the bound") {
        auto quick = transport(500ms);
        s.server.push_fault(bt::fault::of(bt::fault::kind::hang));
        const auto start = std::chrono::steady_clock::now();
        const auto r =
            babelbird::refresh(quick, creds, s.endpoint(), babelbird::secret_view(seed_refresh));
        const auto took = std::chrono::steady_clock::now() - start;
        REQUIRE_FALSE(r);
        CHECK(r.error().code() == babelbird::errc::timeout);
        CHECK(r.error().kind() == babelbird::error_class::retry);
        CHECK(took < 1500ms);
    }
}

TEST_CASE("e2e curl: connection refused once the server has stopped") {
    bt::fake_server server(server_options());
    REQUIRE(server.start());
    const auto base = server.base_url();
    server.stop();
    CHECK_FALSE(server.running());
    auto t = transport();
    const auto r = babelbird::refresh(t, credentials(), babelbird::endpoint::make(base).value(),
                                      babelbird::secret_view(seed_refresh));
    REQUIRE_FALSE(r);
    CHECK(r.error().code() == babelbird::errc::connection_refused);
    CHECK(r.error().kind() == babelbird::error_class::retry);
}

TEST_CASE("e2e curl: a request with CR/LF in a header is refused before sending") {
    running_server s;
    auto t = transport();
    babelbird::http_request req("GET", s.server.file_url());
    req.headers.push_back({"X-Bad", "a\r\nInjected: yes"});
    const auto r = t(req);
    REQUIRE_FALSE(r);
    CHECK(r.error().kind() == babelbird::error_class::usage);
    CHECK(s.server.requests().empty());
}

TEST_CASE("e2e server: authorize auto-consents and redirects with code and data") {
    running_server s;
    auto t = transport();
    babelbird::http_request req(
        "GET", s.server.base_url() +
                   "/api/authorize.do?response_type=code&client_id=" + std::string(client_id) +
                   "&redirect_uri=https%3A%2F%2Fapp.example.com%2Fcb%3Fx%3D1"
                   "&data=st%2Bate");
    const auto r = t(req);
    REQUIRE(r);
    CHECK(r->status == 302);
    const auto location = r->header("Location");
    REQUIRE(location);
    CHECK(location->rfind("https://app.example.com/cb?x=1&code=code-", 0) == 0);
    CHECK(location->find("&data=st%2Bate") != std::string_view::npos);
}

TEST_CASE("e2e server: authorizeByJWT needs a jwt_token and redirects like authorize") {
    running_server s;
    auto t = transport();
    const std::string base =
        s.server.base_url() +
        "/api/authorizeByJWT.do?response_type=code&client_id=" + std::string(client_id);
    const auto missing = t(babelbird::http_request("GET", base));
    REQUIRE(missing);
    CHECK(missing->status == 400);
    CHECK(missing->body.find("invalid_request") != std::string::npos);

    const auto ok = t(babelbird::http_request(
        "GET",
        base + "&jwt_token=eyJ.x.y&email=a%40example.com&redirect_uri=https%3A%2F%2Fa.example"));
    REQUIRE(ok);
    CHECK(ok->status == 302);
    const auto location = ok->header("Location");
    REQUIRE(location);
    CHECK(location->rfind("https://a.example?code=code-", 0) == 0);
}

TEST_CASE("e2e server: refresh tokens live 30 days, codes 5 minutes") {
    running_server s;
    auto t = transport();
    s.server.advance(std::chrono::hours(24 * 30) - 1s);
    CHECK(s.server.refresh_token_valid(std::string(seed_refresh)));
    const std::string code = s.server.issue_code("https://a.example/cb");
    s.server.advance(1s);
    CHECK_FALSE(s.server.refresh_token_valid(std::string(seed_refresh)));
    const auto r =
        babelbird::refresh(t, credentials(), s.endpoint(), babelbird::secret_view(seed_refresh));
    REQUIRE_FALSE(r);
    CHECK(r.error().oauth_code() == babelbird::oauth_error::invalid_grant);

    s.server.advance(300s);
    const auto late = babelbird::exchange_code(
        t, credentials(), s.endpoint(), babelbird::secret_view(code), "https://a.example/cb");
    REQUIRE_FALSE(late);
    CHECK(late.error().oauth_code() == babelbird::oauth_error::invalid_grant);
}

TEST_CASE("e2e server: expires_in as a string and a configurable access-token lifetime") {
    auto o = server_options();
    o.expires_in_as_string = true;
    o.access_token_lifetime = 120s;
    running_server s(o);
    auto t = transport();
    const auto grant =
        babelbird::refresh(t, credentials(), s.endpoint(), babelbird::secret_view(seed_refresh));
    REQUIRE(grant);
    CHECK(grant->expires_in == std::optional<std::uint64_t>(120));
    s.server.advance(119s);
    CHECK(s.server.access_token_valid(std::string(grant->access_token.expose_secret())));
    s.server.advance(1s);
    CHECK_FALSE(s.server.access_token_valid(std::string(grant->access_token.expose_secret())));
}

namespace {

/// The server's virtual clock as the token source's clock: `advance()` moves
/// both, so the test never sleeps.
struct server_clock {
    const bt::fake_server* server;
    babelbird::time_point now() const { return server->now(); }
};

} // namespace

// Needs the Retry-After parsing (issue10-parser) and the Retry-After backoff of
// token_source (issue10-lifecycle): without them the second request goes out
// after retry_backoff (1 s) instead of after the server's 120 s.
TEST_CASE("e2e curl: token_source honours Retry-After of a 429/503 (no request before the delay)") {
    for (const int status : {429, 503}) {
        CAPTURE(status);
        running_server s;
        auto f =
            bt::fault::answer(status, status == 429 ? R"({"error":"slow_down"})"
                                                    : R"({"error":"temporarily_unavailable"})");
        f.retry_after = "120";
        s.server.push_fault(std::move(f));
        auto t = transport();
        babelbird::token_source_options options;
        options.retry_backoff = 1s; // shorter than Retry-After: the server's delay must win
        babelbird::token_source<babelbird::curl_transport&, server_clock> source(
            t, credentials(), s.endpoint(),
            babelbird::token_seed::from_refresh_token(babelbird::secret_view(seed_refresh)).value(),
            options, server_clock{&s.server});

        const auto first = source.get();
        REQUIRE_FALSE(first);
        CHECK(first.error().kind() == babelbird::error_class::retry);
        CHECK(first.error().retry_after() == std::optional<std::chrono::seconds>(120s));
        check_no_secret(first.error());
        REQUIRE(s.server.requests().size() == 1);

        // 2 s, 32 s, 92 s, 119 s after the answer: still waiting, no request.
        for (const auto step : {2s, 30s, 60s, 27s}) {
            s.server.advance(step);
            const auto again = source.get();
            CHECK_FALSE(again);
            if (!again) {
                CHECK(again.error().kind() == babelbird::error_class::retry);
            }
            CHECK(s.server.requests().size() == 1);
        }

        // Past the delay: the refresh goes out and succeeds.
        s.server.advance(6s);
        const auto later = source.get();
        REQUIRE(later);
        CHECK(s.server.requests().size() == 2);
        CHECK(s.server.access_token_valid(std::string(later->access_token().expose_secret())));
    }
}
