// File-API requests: build_file_api_request() golden bytes and input checks,
// add_bearer().
#include "support.hpp"

#include <doctest/doctest.h>

#include <string>

// A namespace per file: the unit tests are compiled as unity chunks.
namespace test_file_api {

using babelbird::errc;
using babelbird::query_parameter;
namespace ts = test_support;

namespace {
babelbird::result<babelbird::http_request> build(const babelbird::file_api_params& p) {
    return babelbird::build_file_api_request(ts::server(), p);
}
errc usage_code(const babelbird::result<babelbird::http_request>& r) {
    REQUIRE_FALSE(r);
    CHECK(r.error().kind() == babelbird::error_class::usage);
    ts::remember(r.error());
    return r.error().code();
}
} // namespace

static_assert(babelbird::detail::is_dot_segment("."));
static_assert(babelbird::detail::is_dot_segment(".."));
static_assert(babelbird::detail::is_dot_segment("%2e%2E"));
static_assert(babelbird::detail::is_dot_segment(".%2e"));
static_assert(!babelbird::detail::is_dot_segment("..."));
static_assert(!babelbird::detail::is_dot_segment(".hidden"));
static_assert(!babelbird::detail::is_dot_segment(""));
static_assert(babelbird::detail::file_path_error("/api/v1/file/list") == errc{});
static_assert(babelbird::detail::file_path_error("/api/v1/../admin") == errc::invalid_path);

TEST_CASE("file API: GET with UTF-8 query parameters, exact bytes") {
    // folder = "/\u6211\u7684\u6587\u6863/a b", sort = "name+asc"
    const query_parameter query[] = {
        {"folder", "/\xE6\x88\x91\xE7\x9A\x84\xE6\x96\x87\xE6\xA1\xA3/a b"},
        {"page", "1"},
        {"sort", "name+asc"},
        {"q&x", "a=b"}};
    const auto r = build({.path = "/api/v1/file/list", .query = query});
    REQUIRE(r);
    CHECK(r->method == "GET");
    CHECK(r->url == "https://disk.example.com/babel/api/v1/file/list"
                    "?folder=%2F%E6%88%91%E7%9A%84%E6%96%87%E6%A1%A3%2Fa%20b&page=1"
                    "&sort=name%2Basc&q%26x=a%3Db");
    REQUIRE(r->headers.size() == 1);
    CHECK(r->headers[0].name == "Accept");
    CHECK(r->headers[0].value == "application/json");
    CHECK(r->body.empty());
    CHECK_FALSE(r->header("Authorization"));
}

TEST_CASE("file API: POST with a JSON body") {
    const std::string body = "{\"name\":\"\xE6\x8A\xA5\xE5\x91\x8A.docx\",\"parent\":42}";
    const auto r = build({.method = "POST", .path = "/api/v2/file/create", .json_body = body});
    REQUIRE(r);
    CHECK(r->method == "POST");
    CHECK(r->url == "https://disk.example.com/babel/api/v2/file/create");
    CHECK(r->header("content-type") ==
          std::optional<std::string_view>("application/json; charset=utf-8"));
    CHECK(r->header("accept") == std::optional<std::string_view>("application/json"));
    CHECK(r->body == body);
    REQUIRE(r->headers.size() == 2);
}

TEST_CASE("file API: Accept can be changed or left out; names may repeat") {
    const auto xml = build({.path = "/api/v1/file/info", .accept = "application/xml"});
    REQUIRE(xml);
    CHECK(xml->header("Accept") == std::optional<std::string_view>("application/xml"));
    const auto none = build({.path = "/api/v1/file/info", .accept = ""});
    REQUIRE(none);
    CHECK(none->headers.empty());

    const query_parameter ids[] = {{"id", "1"}, {"id", "2"}, {"empty", ""}};
    const auto list = build({.method = "DELETE", .path = "/api/v1/file", .query = ids});
    REQUIRE(list);
    CHECK(list->method == "DELETE");
    CHECK(list->url == "https://disk.example.com/babel/api/v1/file?id=1&id=2&empty=");
}

TEST_CASE("file API: paths with escapes and dots that are not dot segments") {
    const auto r = build({.path = "/api/v1/file/%E6%96%87/.config/a..b/..."});
    REQUIRE(r);
    CHECK(r->url == "https://disk.example.com/babel/api/v1/file/%E6%96%87/.config/a..b/...");
}

TEST_CASE("file API: bad method, path, query, body or Accept are usage errors") {
    for (std::string_view m : {"", "GE T", "GET\r\n", "G(ET", "\xC3\xA9"}) {
        CAPTURE(m);
        CHECK(usage_code(build({.method = m, .path = "/api/v1/x"})) == errc::invalid_method);
    }
    for (std::string_view p :
         {"", "api/v1/x", "/api/../admin", "/api/v1/..", "/api/%2e%2e/admin", "/api/%2E/x",
          "/./api", "/a?b=1", "/a#b", "/a b", "/a%zz", "/a%4", "/\xE6\x96\x87"}) {
        CAPTURE(p);
        CHECK(usage_code(build({.path = p})) == errc::invalid_path);
    }
    const query_parameter unnamed[] = {{"", "v"}};
    CHECK(usage_code(build({.path = "/x", .query = unnamed})) == errc::empty_value);
    const query_parameter bad_value[] = {{"n", "\xE6\x96"}};
    CHECK(usage_code(build({.path = "/x", .query = bad_value})) == errc::invalid_utf8);
    const query_parameter bad_name[] = {{"\xC0\x80", "v"}};
    CHECK(usage_code(build({.path = "/x", .query = bad_name})) == errc::invalid_utf8);
    CHECK(usage_code(build({.method = "POST", .path = "/x", .json_body = "{\"a\":\"\xFF\"}"})) ==
          errc::invalid_utf8);
    CHECK(usage_code(build({.path = "/x", .accept = "application/json\r\nX-Evil: 1"})) ==
          errc::control_character);
    CHECK(usage_code(build({.path = "/x", .accept = "text/\xE6\x96\x87"})) ==
          errc::invalid_argument);
}

TEST_CASE("add_bearer: sets exactly one Authorization header") {
    auto r = build({.path = "/api/v1/file/list"});
    REQUIRE(r);
    r->headers.push_back({"authorization", "Basic old"});
    r->headers.push_back({"AUTHORIZATION", "Bearer older"});
    const auto ok = babelbird::add_bearer(*r, babelbird::secret_view(ts::access_token));
    REQUIRE(ok);
    int count = 0;
    for (const auto& h : r->headers) {
        count += babelbird::detail::iequals(h.name, "authorization") ? 1 : 0;
    }
    CHECK(count == 1);
    CHECK(r->header("Authorization") ==
          std::optional<std::string_view>("Bearer " + std::string(ts::access_token)));

    const auto plus = babelbird::add_bearer(*r, babelbird::secret_view("a+b/c="));
    REQUIRE(plus);
    CHECK(r->header("Authorization") == std::optional<std::string_view>("Bearer a+b/c="));
}

TEST_CASE("add_bearer: refuses tokens that are not header-safe and leaves the request alone") {
    auto r = build({.path = "/x"});
    REQUIRE(r);
    REQUIRE(babelbird::add_bearer(*r, babelbird::secret_view("GOOD")));
    for (std::string_view bad :
         {std::string_view(""), std::string_view(" ab"), std::string_view("tok\r\nX-Evil: 1"),
          std::string_view("a\0b", 3), std::string_view("t\xC3\xA9")}) {
        const auto e = babelbird::add_bearer(*r, babelbird::secret_view(bad));
        REQUIRE_FALSE(e);
        CHECK(e.error().kind() == babelbird::error_class::usage);
        CHECK(r->header("Authorization") == std::optional<std::string_view>("Bearer GOOD"));
        const std::string message = ts::remember(e.error());
        if (!bad.empty()) {
            CHECK(message.find(bad) == std::string::npos);
        }
    }
    CHECK(babelbird::add_bearer(*r, babelbird::secret_view("")).error().code() ==
          errc::empty_value);
    CHECK(babelbird::add_bearer(*r, babelbird::secret_view("a\nb")).error().code() ==
          errc::control_character);
    CHECK(babelbird::add_bearer(*r, babelbird::secret_view("ab ")).error().code() ==
          errc::token_not_header_safe);
    // RFC 6749 A.12: an inner space is VSCHAR, and the parser accepts it too.
    REQUIRE(babelbird::add_bearer(*r, babelbird::secret_view("a b")));
    CHECK(r->header("Authorization") == std::optional<std::string_view>("Bearer a b"));
}

} // namespace test_file_api
