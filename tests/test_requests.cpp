// The refresh request: exact URL and header bytes, and rejected inputs.
#include "support.hpp"

#include <doctest/doctest.h>

// A namespace per file: the unit tests are compiled as unity chunks.
namespace test_requests {

namespace ts = test_support;

TEST_CASE("refresh request: exact bytes") {
    const auto r = babelbird::build_refresh_request(ts::credentials(), ts::server(),
                                                    babelbird::secret_view("abc123"));
    REQUIRE(r);
    CHECK(r->method == "POST");
    CHECK(r->url == "https://disk.example.com/babel/api/refreshToken.do"
                    "?grant_type=refresh_token&refresh_token=abc123");
    REQUIRE(r->headers.size() == 2);
    CHECK(r->headers[0].name == "Authorization");
    CHECK(r->headers[0].value == "Basic YmFiZWwtY2xpZW50OlMzY3IzdCsvPTolIXZhbHVl");
    CHECK(r->headers[1].name == "Accept");
    CHECK(r->headers[1].value == "application/json");
    CHECK(r->body.empty());
}

TEST_CASE("refresh request: + / = % in the token are percent-encoded and decode back") {
    const auto r =
        babelbird::build_refresh_request(ts::credentials(), ts::server("http://127.0.0.1:8080"),
                                         babelbird::secret_view(ts::refresh_token));
    REQUIRE(r);
    CHECK(r->url == "http://127.0.0.1:8080/api/refreshToken.do?grant_type=refresh_token"
                    "&refresh_token=rt%2B%2F%3D%25Zq9-REFRESH-0123456789abcdef");
    const std::string_view url = r->url;
    const std::string_view value = url.substr(url.rfind('=') + 1);
    const auto decoded = babelbird::percent_decode(value);
    REQUIRE(decoded);
    CHECK(*decoded == ts::refresh_token);
}

TEST_CASE("refresh request: the path follows the endpoint configuration") {
    babelbird::endpoint_paths paths;
    paths.refresh = "/custom/refresh.do";
    const auto e = babelbird::endpoint::make("https://h:8443/ctx/", paths);
    REQUIRE(e);
    const auto r =
        babelbird::build_refresh_request(ts::credentials(), *e, babelbird::secret_view("t"));
    REQUIRE(r);
    CHECK(r->url ==
          "https://h:8443/ctx/custom/refresh.do?grant_type=refresh_token&refresh_token=t");
}

TEST_CASE("refresh request: a bad refresh token is refused before anything is built") {
    const std::pair<std::string_view, babelbird::errc> bad[] = {
        {"", babelbird::errc::empty_value},
        {"a\r\nb", babelbird::errc::control_character},
        {std::string_view("a\0b", 3), babelbird::errc::control_character},
        {"a\tb", babelbird::errc::control_character},
        {"a\x7F", babelbird::errc::control_character},
        {"caf\xC3\xA9", babelbird::errc::token_not_header_safe},
    };
    for (const auto& [token, code] : bad) {
        const auto r = babelbird::build_refresh_request(ts::credentials(), ts::server(),
                                                        babelbird::secret_view(token));
        REQUIRE_FALSE(r);
        CHECK(r.error().code() == code);
        CHECK(r.error().kind() == babelbird::error_class::usage);
        ts::remember(r.error());
    }
}

TEST_CASE("refresh request: a refresh token may hold spaces (RFC 6749 A.17), percent-encoded") {
    // Issue 10: spaces were refused before; the parser accepts such tokens, so
    // the builder must too, or a rotated token could never be used.
    for (std::string_view token : {"a b", " lead", "trail ", " "}) {
        CAPTURE(token);
        const auto r = babelbird::build_refresh_request(ts::credentials(), ts::server(),
                                                        babelbird::secret_view(token));
        REQUIRE(r);
        CHECK(r->url.find(' ') == std::string::npos);
    }
    const auto r = babelbird::build_refresh_request(ts::credentials(), ts::server(),
                                                    babelbird::secret_view("a b+c"));
    REQUIRE(r);
    CHECK(r->url.ends_with("&refresh_token=a%20b%2Bc"));
}

TEST_CASE("token input checks: refresh tokens, access tokens, codes") {
    using babelbird::errc;
    using babelbird::detail::check_access_token_input;
    using babelbird::detail::check_refresh_token_input;
    using babelbird::detail::check_token_input;
    CHECK(check_refresh_token_input("a b"));
    CHECK(check_refresh_token_input(" "));
    CHECK(check_refresh_token_input("a\nb").error().code() == errc::control_character);
    CHECK(check_access_token_input("a b"));
    CHECK(check_access_token_input(" ab").error().code() == errc::token_not_header_safe);
    CHECK(check_access_token_input("ab ").error().code() == errc::token_not_header_safe);
    CHECK(check_access_token_input("a\x01").error().code() == errc::control_character);
    CHECK(check_access_token_input("").error().code() == errc::empty_value);
    CHECK(check_token_input("a b").error().code() == errc::token_not_header_safe);
    // Everything the parser accepts, the checks accept.
    const auto parsed =
        babelbird::parse_token_response(200, R"({"access_token":"a ~b","refresh_token":" r~ "})");
    REQUIRE(parsed);
    CHECK(check_access_token_input(parsed->access_token().expose_secret()));
    CHECK(check_refresh_token_input(parsed->refresh_token().expose_secret()));
}

TEST_CASE("refresh request: header values never contain CR, LF or NUL") {
    const auto r = babelbird::build_refresh_request(ts::credentials(), ts::server(),
                                                    babelbird::secret_view(ts::refresh_token));
    REQUIRE(r);
    for (const auto& h : r->headers) {
        CHECK_FALSE(babelbird::detail::has_control(h.value));
    }
    CHECK_FALSE(babelbird::detail::has_control(r->url));
}

} // namespace test_requests
