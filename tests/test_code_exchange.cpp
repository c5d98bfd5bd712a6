// Code exchange: build_code_exchange_request() golden bytes and input checks,
// exchange_code() through a recording fake transport.
#include "support.hpp"

#include <doctest/doctest.h>

#include <chrono>
#include <string>

// A namespace per file: the unit tests are compiled as unity chunks.
namespace test_code_exchange {

using namespace std::chrono_literals;
using babelbird::errc;
namespace ts = test_support;

namespace {
constexpr std::string_view code = "co+de/9=Zq-AUTH";
constexpr std::string_view code_encoded = "co%2Bde%2F9%3DZq-AUTH";
constexpr std::string_view redirect = "https://app.example.com/cb?next=%2Fhome&lang=zh";
constexpr std::string_view redirect_encoded =
    "https%3A%2F%2Fapp.example.com%2Fcb%3Fnext%3D%252Fhome%26lang%3Dzh";

babelbird::result<babelbird::http_request> build(std::string_view c, std::string_view uri) {
    return babelbird::build_code_exchange_request(ts::credentials(), ts::server(),
                                                  babelbird::secret_view(c), uri);
}
errc usage_code(std::string_view c, std::string_view uri) {
    const auto r = build(c, uri);
    REQUIRE_FALSE(r);
    CHECK(r.error().kind() == babelbird::error_class::usage);
    CHECK(r.error().origin() == babelbird::error_origin::caller);
    ts::remember(r.error());
    return r.error().code();
}
} // namespace

static_assert(babelbird::detail::redirect_uri_error("https://a.example/cb?x=1&y=2") == errc{});
static_assert(babelbird::detail::redirect_uri_error("com.example.app:/oauth2redirect") == errc{});
static_assert(babelbird::detail::redirect_uri_error("/cb") == errc::invalid_redirect_uri);
static_assert(babelbird::detail::redirect_uri_error("https://a/cb#frag") ==
              errc::invalid_redirect_uri);
static_assert(babelbird::detail::redirect_uri_error("") == errc::empty_value);

TEST_CASE("code exchange request: exact bytes, redirect_uri with its own query") {
    const auto r = build(code, redirect);
    REQUIRE(r);
    CHECK(r->method == "POST");
    CHECK(r->url == std::string("https://disk.example.com/babel/api/token.do"
                                "?grant_type=authorization_code&code=") +
                        std::string(code_encoded) +
                        "&redirect_uri=" + std::string(redirect_encoded));
    REQUIRE(r->headers.size() == 2);
    CHECK(r->headers[0].name == "Authorization");
    CHECK(r->headers[0].value == "Basic YmFiZWwtY2xpZW50OlMzY3IzdCsvPTolIXZhbHVl");
    CHECK(r->headers[1].name == "Accept");
    CHECK(r->headers[1].value == "application/json");
    CHECK(r->body.empty());
}

TEST_CASE("code exchange request: custom token path, loopback http, non-ASCII redirect path") {
    babelbird::endpoint_paths paths;
    paths.token = "/oauth/token";
    const auto server = babelbird::endpoint::make("http://127.0.0.1:8080/", paths).value();
    const auto r = babelbird::build_code_exchange_request(
        ts::credentials(), server, babelbird::secret_view("abc"),
        "http://localhost:9/\xE5\x9B\x9E\xE8\xB0\x83?a=b c");
    // A space is excluded from URIs: rejected, not encoded.
    REQUIRE_FALSE(r);
    CHECK(r.error().code() == errc::invalid_redirect_uri);

    const auto ok = babelbird::build_code_exchange_request(
        ts::credentials(), server, babelbird::secret_view("abc"),
        "http://localhost:9/\xE5\x9B\x9E\xE8\xB0\x83?a=b");
    REQUIRE(ok);
    CHECK(ok->url == "http://127.0.0.1:8080/oauth/token?grant_type=authorization_code&code=abc"
                     "&redirect_uri=http%3A%2F%2Flocalhost%3A9%2F%E5%9B%9E%E8%B0%83%3Fa%3Db");
}

TEST_CASE("code exchange request: a custom-scheme redirect URI is accepted") {
    const auto r = build("abc", "com.example.app:/oauth2redirect");
    REQUIRE(r);
    CHECK(r->url == "https://disk.example.com/babel/api/token.do?grant_type=authorization_code"
                    "&code=abc&redirect_uri=com.example.app%3A%2Foauth2redirect");
}

TEST_CASE("code exchange request: bad codes are usage errors") {
    CHECK(usage_code("", redirect) == errc::empty_value);
    CHECK(usage_code("ab\r\ncd", redirect) == errc::control_character);
    CHECK(usage_code(std::string_view("ab\0cd", 5), redirect) == errc::control_character);
    CHECK(usage_code("ab cd", redirect) == errc::token_not_header_safe);
    CHECK(usage_code("ab\xC3\xA9", redirect) == errc::token_not_header_safe);
}

TEST_CASE("code exchange request: bad redirect URIs are usage errors") {
    CHECK(usage_code("abc", "") == errc::empty_value);
    CHECK(usage_code("abc", "https://app/cb\r\nX: y") == errc::control_character);
    CHECK(usage_code("abc", "https://app/\xFF") == errc::invalid_utf8);
    CHECK(usage_code("abc", "https://app/\xC0\xAF") == errc::invalid_utf8);
    CHECK(usage_code("abc", "/cb") == errc::invalid_redirect_uri);
    CHECK(usage_code("abc", "cb") == errc::invalid_redirect_uri);
    CHECK(usage_code("abc", "app.example.com/cb") == errc::invalid_redirect_uri);
    CHECK(usage_code("abc", "https:") == errc::invalid_redirect_uri);
    CHECK(usage_code("abc", "https:app/cb") == errc::invalid_redirect_uri);
    CHECK(usage_code("abc", "https://") == errc::invalid_redirect_uri);
    CHECK(usage_code("abc", "https:///cb") == errc::invalid_redirect_uri);
    CHECK(usage_code("abc", "https://:443/cb") == errc::invalid_redirect_uri);
    CHECK(usage_code("abc", "https://user@/cb") == errc::invalid_redirect_uri);
    CHECK(usage_code("abc", "https://app/cb#frag") == errc::invalid_redirect_uri);
    CHECK(usage_code("abc", "https://app/c b") == errc::invalid_redirect_uri);
    CHECK(usage_code("abc", "https://app/<cb>") == errc::invalid_redirect_uri);
    CHECK(usage_code("abc", "1https://app/cb") == errc::invalid_redirect_uri);
    CHECK(usage_code("abc", ":cb") == errc::invalid_redirect_uri);
}

TEST_CASE("exchange_code: sends exactly one request and stamps times from the clock") {
    ts::recording_transport transport;
    transport.answer = babelbird::http_response(
        200, R"({"access_token":"AT-1","refresh_token":"RT-1","expires_in":"7200",)"
             R"("token_type":"bearer"})");
    ts::fixed_clock clock;
    const auto grant = babelbird::exchange_code(transport, ts::credentials(), ts::server(),
                                                babelbird::secret_view(code), redirect, {}, clock);
    REQUIRE(grant);
    REQUIRE(transport.requests.size() == 1);
    const auto expected = build(code, redirect);
    REQUIRE(expected);
    CHECK(transport.requests[0].url == expected->url);
    CHECK(transport.requests[0].method == "POST");
    CHECK(transport.requests[0].header("authorization") == expected->header("Authorization"));
    CHECK(clock.reads == 1);
    CHECK(grant->access_token.expose_secret() == "AT-1");
    CHECK(grant->refresh_token.expose_secret() == "RT-1");
    CHECK(grant->refresh_token_rotated);
    CHECK(grant->issued_at == clock.at);
    CHECK(grant->expires_at == clock.at + 7200s);
    REQUIRE(grant->refresh_expires_at);
    CHECK(*grant->refresh_expires_at == clock.at + std::chrono::hours(24 * 30));
    CHECK(grant->token_type == "bearer");
}

TEST_CASE("exchange_code: an answer without refresh_token gives an empty refresh token") {
    ts::recording_transport transport;
    transport.answer = babelbird::http_response(200, R"({"access_token":"AT-1"})");
    ts::fixed_clock clock;
    babelbird::client_options options;
    options.assumed_lifetime = 600s;
    const auto grant =
        babelbird::exchange_code(transport, ts::credentials(), ts::server(),
                                 babelbird::secret_view("abc"), redirect, options, clock);
    REQUIRE(grant);
    CHECK_FALSE(grant->refresh_token_rotated);
    CHECK(grant->refresh_token.empty());
    CHECK_FALSE(grant->refresh_expires_at);
    CHECK(grant->expires_at == clock.at + 600s);
}

TEST_CASE("exchange_code: a used code is a reauthorize error and is not retried") {
    ts::recording_transport transport;
    transport.answer = babelbird::http_response(
        400, R"({"error":"invalid_grant","error_description":"code co+de/9=Zq-AUTH used"})");
    ts::fixed_clock clock;
    const auto grant = babelbird::exchange_code(transport, ts::credentials(), ts::server(),
                                                babelbird::secret_view(code), redirect, {}, clock);
    REQUIRE_FALSE(grant);
    CHECK(transport.requests.size() == 1);
    CHECK(grant.error().needs_reauthorization());
    CHECK(grant.error().oauth_code() == babelbird::oauth_error::invalid_grant);
    CHECK(grant.error().http_status() == 400);
    const std::string message = ts::remember(grant.error());
    CHECK(message.find("co+de") == std::string::npos);

    // A bare 401 without a body is also reauthorize.
    transport.answer = babelbird::http_response(401, "");
    const auto again = babelbird::exchange_code(transport, ts::credentials(), ts::server(),
                                                babelbird::secret_view(code), redirect, {}, clock);
    REQUIRE_FALSE(again);
    CHECK(again.error().needs_reauthorization());
    CHECK(transport.requests.size() == 2);
}

TEST_CASE("exchange_code: an unknown OAuth code that echoes the code is not kept") {
    ts::recording_transport transport;
    transport.answer = babelbird::http_response(400, R"({"error":"abc123code"})");
    const auto grant = babelbird::exchange_code(transport, ts::credentials(), ts::server(),
                                                babelbird::secret_view("abc123code"), redirect, {},
                                                ts::fixed_clock{});
    REQUIRE_FALSE(grant);
    CHECK(grant.error().oauth_code() == babelbird::oauth_error::other);
    CHECK(grant.error().oauth_error_text().empty());
    CHECK(ts::remember(grant.error()).find("abc123code") == std::string::npos);
}

TEST_CASE("exchange_code: bad input sends nothing; transport failures are retry class") {
    ts::recording_transport transport;
    const auto bad =
        babelbird::exchange_code(transport, ts::credentials(), ts::server(),
                                 babelbird::secret_view("abc"), "/relative", {}, ts::fixed_clock{});
    REQUIRE_FALSE(bad);
    CHECK(bad.error().code() == errc::invalid_redirect_uri);
    CHECK(transport.requests.empty());

    transport.failure = babelbird::error::transport(errc::timeout);
    const auto failed =
        babelbird::exchange_code(transport, ts::credentials(), ts::server(),
                                 babelbird::secret_view("abc"), redirect, {}, ts::fixed_clock{});
    REQUIRE_FALSE(failed);
    CHECK(failed.error().is_retryable());
    CHECK(transport.requests.size() == 1);
}

TEST_CASE("exchange_code: a refresh token in a rejected answer is salvaged") {
    ts::recording_transport transport;
    transport.answer = babelbird::http_response(
        200, R"({"access_token":{"nested":true},"refresh_token":"RT-from-code"})");
    ts::fixed_clock clock;
    const auto grant = babelbird::exchange_code(transport, ts::credentials(), ts::server(),
                                                babelbird::secret_view(code), redirect, {}, clock);
    REQUIRE_FALSE(grant);
    CHECK(transport.requests.size() == 1);
    CHECK(grant.error().code() == errc::invalid_token);
    REQUIRE(grant.salvaged());
    CHECK(grant.salvaged()->access_token.empty());
    CHECK(grant.salvaged()->refresh_token.expose_secret() == "RT-from-code");
    CHECK(grant.salvaged()->refresh_token_rotated);
    CHECK(grant.salvaged()->issued_at == clock.at);
    CHECK(grant.salvaged()->refresh_expires_at == clock.at + std::chrono::hours(24 * 30));
    CHECK(ts::remember(grant.error()).find("RT-from") == std::string::npos);

    // No refresh token in the answer: nothing to salvage.
    transport.answer = babelbird::http_response(200, R"({"access_token":null})");
    const auto none = babelbird::exchange_code(transport, ts::credentials(), ts::server(),
                                               babelbird::secret_view(code), redirect, {}, clock);
    REQUIRE_FALSE(none);
    CHECK_FALSE(none.salvaged());
}

} // namespace test_code_exchange
