// Authorization URLs: exact bytes of build_authorize_url() and
// build_authorize_jwt_url(), parameter order, encoding, and every usage error.
#include "support.hpp"

#include <doctest/doctest.h>

#include <concepts>
#include <string>

// A namespace per file: the unit tests are compiled as unity chunks.
namespace test_authorize {

using babelbird::errc;
using babelbird::query_parameter;
namespace ts = test_support;

namespace {
constexpr std::string_view redirect = "https://app.example.com/cb?next=%2Fhome&lang=zh";
constexpr std::string_view redirect_encoded =
    "https%3A%2F%2Fapp.example.com%2Fcb%3Fnext%3D%252Fhome%26lang%3Dzh";
constexpr std::string_view jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.s1g-_x";

std::string prefix() {
    return "https://disk.example.com/babel/api/authorize.do?response_type=code"
           "&client_id=babel-client&redirect_uri=" +
           std::string(redirect_encoded);
}
std::string jwt_prefix() {
    return "https://disk.example.com/babel/api/authorizeByJWT.do?response_type=code"
           "&client_id=babel-client&jwt_token=" +
           std::string(jwt);
}

babelbird::result<std::string> login(babelbird::authorize_params p) {
    return babelbird::build_authorize_url(ts::server(), p);
}
babelbird::result<babelbird::secret> by_jwt(babelbird::authorize_jwt_params p) {
    return babelbird::build_authorize_jwt_url(ts::server(), p);
}
template <class R>
errc usage_code(const R& r) {
    REQUIRE_FALSE(r);
    CHECK(r.error().kind() == babelbird::error_class::usage);
    CHECK(r.error().origin() == babelbird::error_origin::caller);
    const std::string message = ts::remember(r.error());
    CHECK(message.find(jwt) == std::string::npos);
    return r.error().code();
}
} // namespace

static_assert(std::same_as<decltype(babelbird::build_authorize_url(ts::server(), {})),
                           babelbird::result<std::string>>);
static_assert(std::same_as<decltype(babelbird::build_authorize_jwt_url(ts::server(), {})),
                           babelbird::result<babelbird::secret>>,
              "a URL carrying a JWT is a secret");

TEST_CASE("authorize URL: documented parameters in order, redirect_uri with its own query") {
    const auto url = login({.client_id = "babel-client", .redirect_uri = redirect});
    REQUIRE(url);
    CHECK(*url == prefix());
}

TEST_CASE("authorize URL: data with & = + spaces and non-ASCII text") {
    // "a&b=c+d e/\u4e2d\u6587~" : '~' is unreserved, everything else reserved is escaped.
    const auto url = login({.client_id = "babel-client",
                            .redirect_uri = redirect,
                            .data = "a&b=c+d e/\xE4\xB8\xAD\xE6\x96\x87~"});
    REQUIRE(url);
    CHECK(*url == prefix() + "&data=a%26b%3Dc%2Bd%20e%2F%E4%B8%AD%E6%96%87~");

    const auto empty = login({.client_id = "babel-client", .redirect_uri = redirect, .data = ""});
    REQUIRE(empty);
    CHECK(*empty == prefix() + "&data=");

    const auto percent =
        login({.client_id = "babel-client", .redirect_uri = redirect, .data = "100%?#x y"});
    REQUIRE(percent);
    CHECK(*percent == prefix() + "&data=100%25%3F%23x%20y");
}

TEST_CASE("authorize URL: extra parameters follow the documented ones, encoded") {
    const query_parameter extra[] = {{"scope", "files read"}, {"lang", "zh-CN"}, {"x y", "a=b"}};
    const auto url = login(
        {.client_id = "babel-client", .redirect_uri = redirect, .data = "s1", .extra = extra});
    REQUIRE(url);
    CHECK(*url == prefix() + "&data=s1&scope=files%20read&lang=zh-CN&x%20y=a%3Db");
}

TEST_CASE("authorize URL: context path, custom path, loopback http, encoded client id") {
    babelbird::endpoint_paths paths;
    paths.authorize = "/oauth2/authorize";
    const auto server = babelbird::endpoint::make("http://localhost:8080/ctx/", paths).value();
    const auto url = babelbird::build_authorize_url(
        server, {.client_id = "id:with space", .redirect_uri = "http://127.0.0.1:9/cb"});
    REQUIRE(url);
    CHECK(*url == "http://localhost:8080/ctx/oauth2/authorize?response_type=code"
                  "&client_id=id%3Awith%20space&redirect_uri=http%3A%2F%2F127.0.0.1%3A9%2Fcb");
}

TEST_CASE("authorize URL: extra parameters never override or repeat documented ones") {
    for (std::string_view name :
         {"response_type", "client_id", "redirect_uri", "data", "Data", "CLIENT_ID"}) {
        const query_parameter extra[] = {{name, "x"}};
        CAPTURE(name);
        CHECK(usage_code(
                  login({.client_id = "babel-client", .redirect_uri = redirect, .extra = extra})) ==
              errc::reserved_parameter);
    }
    const query_parameter twice[] = {{"scope", "a"}, {"Scope", "b"}};
    CHECK(usage_code(
              login({.client_id = "babel-client", .redirect_uri = redirect, .extra = twice})) ==
          errc::duplicate_parameter);
    const query_parameter unnamed[] = {{"", "a"}};
    CHECK(usage_code(
              login({.client_id = "babel-client", .redirect_uri = redirect, .extra = unnamed})) ==
          errc::empty_value);
    const query_parameter bad_value[] = {{"scope", "\xC3("}};
    CHECK(usage_code(
              login({.client_id = "babel-client", .redirect_uri = redirect, .extra = bad_value})) ==
          errc::invalid_utf8);
    const query_parameter bad_name[] = {{"\xFF", "a"}};
    CHECK(usage_code(
              login({.client_id = "babel-client", .redirect_uri = redirect, .extra = bad_name})) ==
          errc::invalid_utf8);
    // jwt_token is not a parameter of the login endpoint: allowed there.
    const query_parameter other_endpoint[] = {{"email", "a@b"}};
    CHECK(login({.client_id = "babel-client", .redirect_uri = redirect, .extra = other_endpoint}));
}

TEST_CASE("authorize URL: bad client id, redirect URI or data") {
    CHECK(usage_code(login({.client_id = "", .redirect_uri = redirect})) == errc::empty_client_id);
    CHECK(usage_code(login({.client_id = "a\nb", .redirect_uri = redirect})) ==
          errc::control_character);
    CHECK(usage_code(login({.client_id = "a\xED\xA0\x80", .redirect_uri = redirect})) ==
          errc::invalid_utf8);
    CHECK(usage_code(login({.client_id = "c", .redirect_uri = ""})) == errc::empty_value);
    CHECK(usage_code(login({.client_id = "c", .redirect_uri = "/cb"})) ==
          errc::invalid_redirect_uri);
    CHECK(usage_code(login({.client_id = "c", .redirect_uri = "https://a/cb#f"})) ==
          errc::invalid_redirect_uri);
    CHECK(usage_code(login({.client_id = "c", .redirect_uri = redirect, .data = "\xE4\xB8"})) ==
          errc::invalid_utf8);
}

TEST_CASE("JWT authorize URL: no selector means the enterprise administrator") {
    const auto url =
        by_jwt({.client_id = "babel-client", .jwt_token = babelbird::secret_view(jwt)});
    REQUIRE(url);
    CHECK(url->expose_secret() == jwt_prefix());
}

TEST_CASE("JWT authorize URL: email, phone and babelId selectors") {
    const auto email = by_jwt({.client_id = "babel-client",
                               .jwt_token = babelbird::secret_view(jwt),
                               .email = "zhang.san+docs@example.com"});
    REQUIRE(email);
    CHECK(email->expose_secret() == jwt_prefix() + "&email=zhang.san%2Bdocs%40example.com");

    const auto phone = by_jwt({.client_id = "babel-client",
                               .jwt_token = babelbird::secret_view(jwt),
                               .phone = "+86 138-0013-8000"});
    REQUIRE(phone);
    CHECK(phone->expose_secret() == jwt_prefix() + "&phone=%2B86%20138-0013-8000");

    const query_parameter extra[] = {{"data", "s&1"}};
    const auto id = by_jwt({.client_id = "babel-client",
                            .jwt_token = babelbird::secret_view(jwt),
                            .babel_id = "\xE5\xBC\xA0\xE4\xB8\x89",
                            .extra = extra});
    REQUIRE(id);
    CHECK(id->expose_secret() == jwt_prefix() + "&babelId=%E5%BC%A0%E4%B8%89&data=s%261");
}

TEST_CASE("JWT authorize URL: at most one user selector, and none may be empty") {
    const babelbird::secret_view token(jwt);
    CHECK(
        usage_code(by_jwt({.client_id = "c", .jwt_token = token, .email = "a@b", .phone = "1"})) ==
        errc::conflicting_user_selectors);
    CHECK(usage_code(
              by_jwt({.client_id = "c", .jwt_token = token, .email = "a@b", .babel_id = "7"})) ==
          errc::conflicting_user_selectors);
    CHECK(
        usage_code(by_jwt({.client_id = "c", .jwt_token = token, .phone = "1", .babel_id = "7"})) ==
        errc::conflicting_user_selectors);
    CHECK(usage_code(by_jwt(
              {.client_id = "c", .jwt_token = token, .email = "", .phone = "", .babel_id = ""})) ==
          errc::conflicting_user_selectors);
    // An empty selector would silently select the administrator: refused.
    CHECK(usage_code(by_jwt({.client_id = "c", .jwt_token = token, .email = ""})) ==
          errc::empty_value);
    CHECK(usage_code(by_jwt({.client_id = "c", .jwt_token = token, .phone = "1\r\n"})) ==
          errc::control_character);
    CHECK(usage_code(by_jwt({.client_id = "c", .jwt_token = token, .babel_id = "\x80"})) ==
          errc::invalid_utf8);
}

TEST_CASE("JWT authorize URL: selectors and documented names cannot come in as extras") {
    const babelbird::secret_view token(jwt);
    for (std::string_view name :
         {"email", "phone", "babelId", "babelid", "jwt_token", "client_id", "response_type"}) {
        const query_parameter extra[] = {{name, "x"}};
        CAPTURE(name);
        CHECK(usage_code(by_jwt({.client_id = "c", .jwt_token = token, .extra = extra})) ==
              errc::reserved_parameter);
    }
}

TEST_CASE("JWT authorize URL: the JWT must be a header-safe token; errors never carry it") {
    CHECK(usage_code(by_jwt({.client_id = "c"})) == errc::empty_value);
    CHECK(usage_code(by_jwt({.client_id = "c", .jwt_token = babelbird::secret_view("a b")})) ==
          errc::token_not_header_safe);
    CHECK(usage_code(by_jwt({.client_id = "c", .jwt_token = babelbird::secret_view("a\nb")})) ==
          errc::control_character);
    CHECK(usage_code(by_jwt({.client_id = "", .jwt_token = babelbird::secret_view(jwt)})) ==
          errc::empty_client_id);
}

TEST_CASE("JWT authorize URL: custom path") {
    babelbird::endpoint_paths paths;
    paths.authorize_jwt = "/sso/jwt";
    const auto server = babelbird::endpoint::make("https://disk.example.com", paths).value();
    const auto url = babelbird::build_authorize_jwt_url(
        server, {.client_id = "c", .jwt_token = babelbird::secret_view("J.W.T")});
    REQUIRE(url);
    CHECK(url->expose_secret() ==
          "https://disk.example.com/sso/jwt?response_type=code&client_id=c&jwt_token=J.W.T");
}

} // namespace test_authorize
