// The token response parser: one table row per policy case, prefixes,
// envelopes, custom field names, and the secret-free messages.
#include "support.hpp"

#include <doctest/doctest.h>

#include <string>

// A namespace per file: the unit tests are compiled as unity chunks.
namespace test_response {

using babelbird::errc;
using babelbird::error_class;
namespace ts = test_support;

namespace {

using babelbird::response_warnings;

struct row {
    std::string_view what;
    int status;
    std::string body;
    // Expected outcome: success (with these warnings), or an error code and
    // class, and the refresh token salvaged from the rejected answer ("" for
    // none; its warnings are `warnings`).
    bool ok;
    errc code;
    error_class kind;
    response_warnings warnings = response_warnings::none;
    std::string_view salvaged{};
};

row success(const char* what, int status, std::string body,
            response_warnings warnings = response_warnings::none) {
    return {what, status, std::move(body), true, errc{}, error_class::protocol, warnings, {}};
}
row failure(const char* what, int status, std::string body, errc code, error_class kind) {
    return {what, status, std::move(body), false, code, kind, response_warnings::none, {}};
}
/// A 200 answer rejected with `code` (protocol) whose new refresh token is salvaged.
row salvage(const char* what, std::string body, errc code, std::string_view token,
            response_warnings warnings = response_warnings::none) {
    return {what, 200, std::move(body), false, code, error_class::protocol, warnings, token};
}

const std::string typical =
    R"({"access_token":"at.ACCESS-0123456789abcdef0123456789","token_type":"bearer",)"
    R"("refresh_token":"rt+/=%Zq9-REFRESH-0123456789abcdef","expires_in":3600,"scope":"read write"})";

std::string with(std::string_view fields) {
    return std::string(R"({"access_token":"at.ACCESS-0123456789abcdef0123456789",)") +
           std::string(fields) + "}";
}

std::string nested(int depth) {
    std::string s = R"({"access_token":"tok","x":)";
    s += std::string(static_cast<std::size_t>(depth), '[');
    s += std::string(static_cast<std::size_t>(depth), ']');
    s += "}";
    return s;
}

using P = error_class;
using W = response_warnings;

// A refresh token the rows below expect to see salvaged.
constexpr std::string_view rt = "rt-NEW.0123456789";
std::string with_rt(std::string_view fields) {
    return R"({"refresh_token":"rt-NEW.0123456789")" +
           (fields.empty() ? std::string() : "," + std::string(fields)) + "}";
}

// Issue 10, "nothing lost" (docs/design.md, "Policies"): lenient where safe,
// strict where it matters, and a rotated refresh token is never dropped.
std::vector<row> issue10_table() {
    return {
        // scope: a string, or an array of strings joined; anything else dropped.
        success("scope array of strings", 200, with(R"("scope":["read","write"])")),
        success("scope empty array", 200, with(R"("scope":[])")),
        success("scope array with a number", 200, with(R"("scope":["read",5])"), W::scope_dropped),
        success("scope array with an array", 200, with(R"("scope":[["read"]])"), W::scope_dropped),
        success("scope array with null", 200, with(R"("scope":["read",null])"), W::scope_dropped),
        success("scope array element with a control byte", 200, with(R"("scope":["re\u0001ad"])"),
                W::scope_dropped),
        success("scope true", 200, with(R"("scope":true)"), W::scope_dropped),
        success("scope number", 200, with(R"("scope":7)"), W::scope_dropped),
        // token_type: header-safe string or dropped.
        success("token_type array", 200, with(R"("token_type":["bearer"])"), W::token_type_dropped),
        success("token_type object", 200, with(R"("token_type":{"v":1})"), W::token_type_dropped),
        success("token_type false", 200, with(R"("token_type":false)"), W::token_type_dropped),
        success("token_type empty string kept", 200, with(R"("token_type":"")")),
        // refresh_expires_in: like expires_in, dropped when malformed.
        success("refresh_expires_in negative", 200, with(R"("refresh_expires_in":-1)"),
                W::refresh_expires_in_dropped),
        success("refresh_expires_in non-numeric string", 200,
                with(R"("refresh_expires_in":"soon")"), W::refresh_expires_in_dropped),
        success("refresh_expires_in object", 200, with(R"("refresh_expires_in":{})"),
                W::refresh_expires_in_dropped),
        success("refresh_expires_in 2^64", 200,
                with(R"("refresh_expires_in":18446744073709551616)"),
                W::refresh_expires_in_dropped),
        success("refresh_expires_in fractional", 200, with(R"("refresh_expires_in":86400.5)"),
                W::refresh_expires_in_floored),
        success("refresh_expires_in 0: no fixed expiry", 200, with(R"("refresh_expires_in":0)")),
        success("three informational fields dropped at once", 200,
                with(R"("scope":5,"token_type":5,"refresh_expires_in":-1)"),
                W::scope_dropped | W::token_type_dropped | W::refresh_expires_in_dropped),
        // expires_in spellings.
        success("expires_in 3600.9 floored", 200, with(R"("expires_in":3600.9)"),
                W::expires_in_floored),
        success("expires_in fractional string", 200, with(R"("expires_in":"3600.5")"),
                W::expires_in_floored),
        success("expires_in 3.6e3", 200, with(R"("expires_in":3.6e3)")),
        success("expires_in 0.5 floored to 0", 200, with(R"("expires_in":0.5)"),
                W::expires_in_floored),
        success("expires_in at the one-year bound", 200, with(R"("expires_in":31536000)")),
        success("expires_in digit string with leading zeros", 200, with(R"("expires_in":"0060")")),
        failure("expires_in one above the bound", 200, with(R"("expires_in":31536001)"),
                errc::invalid_expires_in, P::protocol),
        failure("expires_in 1e400", 200, with(R"("expires_in":1e400)"), errc::invalid_expires_in,
                P::protocol),
        failure("expires_in -0.5", 200, with(R"("expires_in":-0.5)"), errc::invalid_expires_in,
                P::protocol),
        // Tokens.
        success("refresh_token with inner spaces", 200, with(R"("refresh_token":"r t 1")")),
        success("refresh_token with outer spaces", 200, with(R"("refresh_token":" r ")")),
        failure("access_token leading space", 200, R"({"access_token":" a"})", errc::invalid_token,
                P::protocol),
        failure("access_token trailing space", 200, R"({"access_token":"a "})", errc::invalid_token,
                P::protocol),
        failure("refresh_token escaped tab", 200, with(R"("refresh_token":"a\tb")"),
                errc::invalid_token, P::protocol),
        failure("refresh_token non-ASCII", 200, with(R"("refresh_token":"caf\u00e9")"),
                errc::invalid_token, P::protocol),
        failure("refresh_token object", 200, with(R"("refresh_token":{"v":"x"})"),
                errc::invalid_token, P::protocol),
        success("unknown fields of every type", 200,
                with(R"("a":{},"b":[],"c":true,"d":null,"e":1e400,"f":"\u00e9","g":-0.0)")),
        // Salvage: the access token or expires_in is rejected, the new refresh
        // token is rescued.
        salvage("salvage: access_token missing", with_rt(R"("expires_in":3600)"),
                errc::missing_access_token, rt),
        salvage("salvage: access_token null", with_rt(R"("access_token":null)"),
                errc::invalid_token, rt),
        salvage("salvage: access_token number", with_rt(R"("access_token":42)"),
                errc::invalid_token, rt),
        salvage("salvage: access_token empty", with_rt(R"("access_token":"")"), errc::invalid_token,
                rt),
        salvage("salvage: access_token escaped CR LF", with_rt(R"("access_token":"a\r\nb")"),
                errc::invalid_token, rt),
        salvage("salvage: access_token object", with_rt(R"("access_token":{"v":["x"]})"),
                errc::invalid_token, rt),
        salvage("salvage: access_token before the refresh token",
                R"({"access_token":false,"refresh_token":"rt-NEW.0123456789"})",
                errc::invalid_token, rt),
        salvage("salvage: expires_in negative", with_rt(R"("access_token":"A","expires_in":-60)"),
                errc::invalid_expires_in, rt),
        salvage("salvage: expires_in non-numeric",
                with_rt(R"("access_token":"A","expires_in":"soon")"), errc::invalid_expires_in, rt),
        salvage("salvage: expires_in above the bound",
                with_rt(R"("access_token":"A","expires_in":99999999999)"), errc::invalid_expires_in,
                rt),
        salvage("salvage: expires_in boolean", with_rt(R"("access_token":"A","expires_in":true)"),
                errc::invalid_expires_in, rt),
        salvage("salvage keeps the warnings",
                with_rt(R"("scope":5,"refresh_expires_in":"x","access_token":"")"),
                errc::invalid_token, rt, W::scope_dropped | W::refresh_expires_in_dropped),
        salvage("salvage: refresh token with spaces",
                R"({"refresh_token":"r t","expires_in":"x","access_token":"A"})",
                errc::invalid_expires_in, "r t"),
        // Nothing to salvage.
        failure("no salvage: refresh_token empty", 200, R"({"refresh_token":"","access_token":1})",
                errc::invalid_token, P::protocol),
        failure("no salvage: refresh_token null", 200, R"({"refresh_token":null})",
                errc::missing_access_token, P::protocol),
        failure("no salvage: refresh_token unusable", 200,
                R"({"refresh_token":"a\u0000b","access_token":1})", errc::invalid_token,
                P::protocol),
        failure("no salvage: error field", 200, with_rt(R"("error":"invalid_grant")"),
                errc::oauth_error_response, P::reauthorize),
        failure("no salvage: invalid JSON after", 200, with_rt(R"("access_token":1,"x":tru)"),
                errc::invalid_json, P::protocol),
        failure("no salvage: invalid JSON inside the bad access_token", 200,
                with_rt(R"("access_token":{"v":nul})"), errc::invalid_json, P::protocol),
        failure("no salvage: duplicate key", 200,
                with_rt(R"("access_token":1,"expires_in":1,"expires_in":2)"), errc::duplicate_field,
                P::protocol),
        failure("no salvage: case-variant key", 200, with_rt(R"("Access_Token":"A")"),
                errc::case_variant_field, P::protocol),
        failure("no salvage: trailing content", 200, with_rt("") + "{}", errc::trailing_content,
                P::protocol),
        failure("no salvage: too deep", 200,
                with_rt(R"("x":)" + std::string(100, '[') + std::string(100, ']')),
                errc::nesting_too_deep, P::protocol),
        failure("no salvage: leading zero is invalid JSON", 200,
                with_rt(R"("access_token":"A","expires_in":0123)"), errc::invalid_json,
                P::protocol),
        failure("no salvage: a 500", 500, with_rt(""), errc::unexpected_status, P::retry),
        failure("no salvage: invalid UTF-8", 200, with_rt("\"x\":\"\xC3\x28\""), errc::invalid_json,
                P::protocol),
        // Strings and keys are unescaped by the library (encoding/json_unescape.hpp).
        success("surrogate pair in an unknown field", 200, with(R"("x":"\ud83d\ude00")")),
        success("surrogate pair in an escaped key", 200, with(R"("\ud83d\ude00":1)")),
        success("escaped quote in a key", 200, with(R"("a\"b":1)")),
        failure("lone low surrogate", 200, with(R"("x":"\udc00")"), errc::invalid_json,
                P::protocol),
        failure("high surrogate then a non-surrogate", 200, with(R"("x":"\ud800\u0041")"),
                errc::invalid_json, P::protocol),
        failure("unknown escape", 200, with(R"("x":"\x41")"), errc::invalid_json, P::protocol),
        failure("short \\u escape in a key", 200, with(R"("\u41":1)"), errc::invalid_json,
                P::protocol),
        failure("raw control byte in a key", 200, with("\"a\tb\":1"), errc::invalid_json,
                P::protocol),
        failure("bad escape in a salvage candidate", 200, with_rt(R"("access_token":"\q")"),
                errc::invalid_json, P::protocol),
        // The configuration class (RFC 6749 section 5.2 codes about the client).
        failure("400 invalid_client", 400, R"({"error":"invalid_client"})",
                errc::oauth_error_response, P::configuration),
        failure("400 unauthorized_client", 400, R"({"error":"unauthorized_client"})",
                errc::oauth_error_response, P::configuration),
        failure("400 invalid_scope", 400, R"({"error":"invalid_scope"})",
                errc::oauth_error_response, P::configuration),
        failure("200 with invalid_client", 200, R"({"error":"invalid_client"})",
                errc::oauth_error_response, P::configuration),
        failure("401 access_denied stays reauthorize", 401, R"({"error":"access_denied"})",
                errc::oauth_error_response, P::reauthorize),
    };
}

std::vector<row> table() {
    return {
        // Success rule: any 2xx, JSON object, valid access_token, no error.
        success("typical", 200, typical),
        success("201 is 2xx", 201, typical),
        success("no refresh_token: not rotated", 200, with(R"("expires_in":60)")),
        success("refresh_token null: not rotated", 200, with(R"("refresh_token":null)")),
        success("expires_in as digit string", 200, with(R"("expires_in":"3600")")),
        success("expires_in absent", 200, with(R"("token_type":"bearer")")),
        success("expires_in null", 200, with(R"("expires_in":null)")),
        success("expires_in zero", 200, with(R"("expires_in":0)")),
        success("unknown nested fields ignored", 200,
                with(R"("x":{"a":[1,2.5,-3e2,true,false,null,"s\n"],"b":{}},"y":[])")),
        success("UTF-8 BOM tolerated", 200, "\xEF\xBB\xBF" + typical),
        success("whitespace around", 200, " \r\n\t" + typical + " \n"),
        success("escaped solidus in token", 200, R"({"access_token":"a\/b"})"),
        success("error null is no error", 200, with(R"("error":null)")),
        success("Content-Type is not consulted", 200, typical),
        success("unicode in unknown fields and scope", 200,
                with(R"("scope":"\u4e2d\u6587 files","x":"caf\u00e9")")),
        success("refresh_expires_in honoured", 200, with(R"("refresh_expires_in":"86400")")),
        // expires_in: non-negative number or digit string, fractions floored,
        // at most max_expires_in (changed in issue 10: fractions and exponents
        // were rejected, 2^64-1 accepted).
        success("expires_in fractional: floored", 200, with(R"("expires_in":3600.5)"),
                W::expires_in_floored),
        success("expires_in 3600.0: integral, no warning", 200, with(R"("expires_in":3600.0)")),
        failure("expires_in 2^64-1 above the bound", 200,
                with(R"("expires_in":18446744073709551615)"), errc::invalid_expires_in,
                P::protocol),
        failure("expires_in negative", 200, with(R"("expires_in":-1)"), errc::invalid_expires_in,
                P::protocol),
        failure("expires_in -0", 200, with(R"("expires_in":-0)"), errc::invalid_expires_in,
                P::protocol),
        success("expires_in exponent", 200, with(R"("expires_in":1e3)")),
        // 0123 is not a JSON number (RFC 8259 section 6): the document is invalid.
        failure("expires_in leading zero", 200, with(R"("expires_in":0123)"), errc::invalid_json,
                P::protocol),
        failure("expires_in 2^64", 200, with(R"("expires_in":18446744073709551616)"),
                errc::invalid_expires_in, P::protocol),
        failure("expires_in string overflow", 200, with(R"("expires_in":"99999999999999999999")"),
                errc::invalid_expires_in, P::protocol),
        failure("expires_in non-digit string", 200, with(R"("expires_in":"36x")"),
                errc::invalid_expires_in, P::protocol),
        failure("expires_in empty string", 200, with(R"("expires_in":"")"),
                errc::invalid_expires_in, P::protocol),
        failure("expires_in signed string", 200, with(R"("expires_in":"-5")"),
                errc::invalid_expires_in, P::protocol),
        failure("expires_in boolean", 200, with(R"("expires_in":true)"), errc::invalid_expires_in,
                P::protocol),
        failure("expires_in array", 200, with(R"("expires_in":[3600])"), errc::invalid_expires_in,
                P::protocol),
        // Tokens: access 1*VSCHAR without outer spaces, refresh 1*VSCHAR.
        failure("access_token missing", 200, R"({"token_type":"bearer","expires_in":1})",
                errc::missing_access_token, P::protocol),
        failure("access_token empty", 200, R"({"access_token":""})", errc::invalid_token,
                P::protocol),
        failure("access_token number", 200, R"({"access_token":123})", errc::invalid_token,
                P::protocol),
        failure("access_token null", 200, R"({"access_token":null})", errc::invalid_token,
                P::protocol),
        failure("access_token object", 200, R"({"access_token":{"v":"x"}})", errc::invalid_token,
                P::protocol),
        success("access_token with an inner space", 200, R"({"access_token":"a b"})"),
        failure("access_token escaped NUL", 200, R"({"access_token":"a\u0000b"})",
                errc::invalid_token, P::protocol),
        failure("access_token escaped CR LF", 200, R"({"access_token":"a\r\nX-Evil: 1"})",
                errc::invalid_token, P::protocol),
        failure("access_token non-ASCII", 200, R"({"access_token":"caf\u00e9"})",
                errc::invalid_token, P::protocol),
        success("refresh_token empty: not rotated", 200, with(R"("refresh_token":"")")),
        failure("refresh_token number", 200, with(R"("refresh_token":5)"), errc::invalid_token,
                P::protocol),
        // Duplicate and case-variant keys.
        failure("duplicate access_token", 200, R"({"access_token":"a","access_token":"b"})",
                errc::duplicate_field, P::protocol),
        failure("duplicate expires_in", 200, with(R"("expires_in":1,"expires_in":2)"),
                errc::duplicate_field, P::protocol),
        failure("duplicate refresh_token with null", 200,
                with(R"("refresh_token":null,"refresh_token":"x")"), errc::duplicate_field,
                P::protocol),
        failure("duplicate via escaped key", 200, R"({"access_token":"a","access\u005ftoken":"b"})",
                errc::duplicate_field, P::protocol),
        failure("case-variant key", 200, with(R"("Refresh_Token":"x")"), errc::case_variant_field,
                P::protocol),
        // Informational fields of the wrong type are dropped and flagged
        // (changed in issue 10: they were invalid_field_type).
        success("token_type number", 200, with(R"("token_type":5)"), W::token_type_dropped),
        success("token_type with CR LF", 200, with(R"("token_type":"bearer\r\nX-Evil: 1")"),
                W::token_type_dropped),
        success("token_type with space", 200, with(R"("token_type":"be arer")"),
                W::token_type_dropped),
        success("scope with escaped NUL", 200, with(R"("scope":"read\u0000write")"),
                W::scope_dropped),
        success("scope object", 200, with(R"("scope":{})"), W::scope_dropped),
        failure("error of wrong type", 200, with(R"("error":5)"), errc::invalid_field_type,
                P::protocol),
        // Not JSON, not an object, not only an object.
        failure("empty 200", 200, "", errc::invalid_json, P::protocol),
        failure("empty 204", 204, "", errc::invalid_json, P::protocol),
        failure("HTML 200", 200, "<html><body>Login</body></html>", errc::invalid_json,
                P::protocol),
        failure("array", 200, "[]", errc::not_an_object, P::protocol),
        failure("string", 200, R"("access_token")", errc::not_an_object, P::protocol),
        failure("trailing object", 200, typical + "{}", errc::trailing_content, P::protocol),
        // simdjson's first stage already rejects a scalar after the root value.
        failure("trailing garbage", 200, typical + " x", errc::invalid_json, P::protocol),
        failure("bad literal in unknown field", 200, with(R"("x":tru)"), errc::invalid_json,
                P::protocol),
        failure("raw control byte in unknown string", 200, with("\"x\":\"a\tb\""),
                errc::invalid_json, P::protocol),
        failure("invalid UTF-8", 200, with("\"x\":\"\xC3\x28\""), errc::invalid_json, P::protocol),
        failure("overlong UTF-8", 200, with("\"x\":\"\xC0\xAF\""), errc::invalid_json, P::protocol),
        failure("lone surrogate escape", 200, with(R"("x":"\ud800")"), errc::invalid_json,
                P::protocol),
        failure("deep nesting in unknown field", 200, nested(100), errc::nesting_too_deep,
                P::protocol),
        // OAuth errors in any body; class from the code, else the status.
        failure("200 with invalid_grant", 200, R"({"error":"invalid_grant"})",
                errc::oauth_error_response, P::reauthorize),
        failure("200 with unknown error code", 200, R"({"error":"weird_thing"})",
                errc::oauth_error_response, P::protocol),
        failure("200 with error and tokens", 200, with(R"("error":"invalid_grant")"),
                errc::oauth_error_response, P::reauthorize),
        failure("400 invalid_grant", 400,
                R"({"error":"invalid_grant","error_description":"refresh token expired"})",
                errc::oauth_error_response, P::reauthorize),
        failure("401 invalid_client", 401, R"({"error":"invalid_client"})",
                errc::oauth_error_response, P::configuration),
        failure("400 invalid_request", 400, R"({"error":"invalid_request"})",
                errc::oauth_error_response, P::reauthorize),
        failure("400 unsupported_grant_type", 400, R"({"error":"unsupported_grant_type"})",
                errc::oauth_error_response, P::configuration),
        failure("503 temporarily_unavailable", 503, R"({"error":"temporarily_unavailable"})",
                errc::oauth_error_response, P::retry),
        failure("500 server_error", 500, R"({"error":"server_error"})", errc::oauth_error_response,
                P::retry),
        failure("429 unknown code", 429, R"({"error":"slow_down"})", errc::oauth_error_response,
                P::retry),
        // Non-2xx without a readable OAuth error: by status, whatever the body.
        failure("503 HTML", 503, "<html>Service Unavailable</html>", errc::unexpected_status,
                P::retry),
        failure("502 empty", 502, "", errc::unexpected_status, P::retry),
        failure("429 empty", 429, "", errc::unexpected_status, P::retry),
        failure("408 empty", 408, "", errc::unexpected_status, P::retry),
        failure("401 empty", 401, "", errc::unexpected_status, P::reauthorize),
        failure("400 HTML", 400, "<h1>Bad Request</h1>", errc::unexpected_status, P::reauthorize),
        failure("403 JSON without error", 403, R"({"message":"forbidden"})",
                errc::unexpected_status, P::protocol),
        failure("404 HTML", 404, "<html>Not Found</html>", errc::unexpected_status, P::protocol),
        failure("400 truncated JSON", 400, R"({"error":"invalid_gr)", errc::unexpected_status,
                P::reauthorize),
        failure("302 redirect", 302, "", errc::redirect, P::protocol),
        failure("301 with tokens", 301, typical, errc::redirect, P::protocol),
        failure("1xx", 101, "", errc::unexpected_status, P::protocol),
        failure("status out of range", 99, typical, errc::unexpected_status, P::protocol),
        failure("status 600", 600, typical, errc::unexpected_status, P::protocol),
    };
}

} // namespace

void check_rows(const std::vector<row>& rows) {
    for (const auto& r : rows) {
        CAPTURE(r.what);
        const auto parsed = babelbird::parse_token_response(r.status, r.body);
        CHECK(parsed.has_value() == r.ok);
        CHECK(parsed.salvaged_refresh_token().expose_secret() == r.salvaged);
        CHECK(parsed.has_salvaged_refresh_token() == !r.salvaged.empty());
        if (parsed) {
            CHECK(parsed->warnings() == r.warnings);
            continue;
        }
        CHECK(parsed.error().code() == r.code);
        CHECK(parsed.error().kind() == r.kind);
        CHECK(parsed.error().origin() == babelbird::error_origin::server);
        CHECK(parsed.error().http_status() == r.status);
        if (parsed.has_salvaged_refresh_token()) {
            CHECK(parsed.salvaged_warnings() == r.warnings);
        }
        // The message never carries a byte of the salvaged token.
        CHECK(ts::remember(parsed.error()).find(r.salvaged.empty() ? "\x01" : r.salvaged) ==
              std::string::npos);
    }
}

TEST_CASE("token response: the policy table") {
    const auto rows = table();
    CHECK(rows.size() >= 40);
    check_rows(rows);
}

TEST_CASE("token response: the issue 10 table (nothing lost, lenient where safe)") {
    const auto rows = issue10_table();
    CHECK(rows.size() >= 30);
    check_rows(rows);
}

TEST_CASE("token response: typical answer, field by field") {
    const auto r = babelbird::parse_token_response(200, typical);
    REQUIRE(r);
    CHECK(r->access_token().expose_secret() == ts::access_token);
    CHECK(r->has_refresh_token());
    CHECK(r->refresh_token().expose_secret() == ts::refresh_token);
    CHECK(r->expires_in() == std::optional<std::uint64_t>(3600));
    CHECK(r->token_type() == "bearer");
    CHECK(r->scope() == "read write");
    CHECK_FALSE(r->refresh_expires_in());
}

TEST_CASE("token response: optional fields") {
    const auto a = babelbird::parse_token_response(200, with(R"("expires_in":"120")"));
    REQUIRE(a);
    CHECK(a->expires_in() == std::optional<std::uint64_t>(120));
    CHECK_FALSE(a->has_refresh_token());
    CHECK(a->refresh_token().empty());
    CHECK(a->token_type().empty());
    const auto b =
        babelbird::parse_token_response(200, with(R"("refresh_token":null,"scope":null)"));
    REQUIRE(b);
    CHECK_FALSE(b->has_refresh_token());
    CHECK_FALSE(b->expires_in());
    const auto c = babelbird::parse_token_response(200, R"({"access_token":"a\/b\u0041"})");
    REQUIRE(c);
    CHECK(c->access_token().expose_secret() == "a/bA");
    // The sanity bound is an option (issue 10: 2^64-1 was accepted before).
    babelbird::response_options ten_years;
    ten_years.max_expires_in = std::chrono::seconds(315360000);
    const auto d =
        babelbird::parse_token_response(200, with(R"("expires_in":315360000)"), ten_years);
    REQUIRE(d);
    CHECK(d->expires_in() == std::optional<std::uint64_t>(315360000));
    CHECK_FALSE(babelbird::parse_token_response(200, with(R"("expires_in":315360000)")));
}

TEST_CASE("token response: lenient fields, value by value") {
    const auto a = babelbird::parse_token_response(
        200, with(R"("scope":["read","write","admin.files"],"expires_in":3600.99)"));
    REQUIRE(a);
    CHECK(a->scope() == "read write admin.files");
    CHECK(a->expires_in() == std::optional<std::uint64_t>(3600));
    CHECK(a->warnings() == response_warnings::expires_in_floored);

    const auto b = babelbird::parse_token_response(
        200, with(R"("scope":["a\u0020b","c"],"token_type":7,"refresh_expires_in":0)"));
    REQUIRE(b);
    CHECK(b->scope() == "a b c");
    CHECK(b->token_type().empty());
    CHECK(b->refresh_expires_in() == std::optional<std::uint64_t>(0));
    CHECK(babelbird::has(b->warnings(), response_warnings::token_type_dropped));
    CHECK_FALSE(babelbird::has(b->warnings(), response_warnings::scope_dropped));

    const auto c = babelbird::parse_token_response(
        200, with(R"("scope":{"a":1},"refresh_expires_in":"86400.7","expires_in":"2.5e1")"));
    REQUIRE(c);
    CHECK(c->scope().empty());
    CHECK(c->refresh_expires_in() == std::optional<std::uint64_t>(86400));
    CHECK(c->expires_in() == std::optional<std::uint64_t>(25));
    CHECK(c->warnings() ==
          (response_warnings::scope_dropped | response_warnings::refresh_expires_in_floored));
    CHECK(babelbird::to_string(response_warnings::scope_dropped) == "scope_dropped");

    const auto d = babelbird::parse_token_response(
        200, R"({"access_token":"a b","refresh_token":" r\u0020t ","refresh_expires_in":-5})");
    REQUIRE(d);
    CHECK(d->access_token().expose_secret() == "a b");
    CHECK(d->refresh_token().expose_secret() == " r t ");
    CHECK(d->has_refresh_token());
    CHECK_FALSE(d->refresh_expires_in());
    CHECK(d->warnings() == response_warnings::refresh_expires_in_dropped);

    const auto e = babelbird::parse_token_response(200, with(R"("refresh_token":"")"));
    REQUIRE(e);
    CHECK_FALSE(e->has_refresh_token());
}

TEST_CASE("token response: the salvaged refresh token and its lifetime") {
    const auto a = babelbird::parse_token_response(
        200, R"({"access_token":null,"refresh_token":"R-new 2","refresh_expires_in":"600"})");
    REQUIRE_FALSE(a);
    CHECK(a.error().code() == errc::invalid_token);
    CHECK(a.salvaged_refresh_token().expose_secret() == "R-new 2");
    CHECK(a.salvaged_refresh_expires_in() == std::optional<std::uint64_t>(600));
    CHECK(a.salvaged_warnings() == response_warnings::none);

    // In an envelope, from the token object.
    babelbird::response_options options;
    options.envelope = "/data";
    const auto b = babelbird::parse_token_response(
        200, R"({"code":0,"data":{"refresh_token":"R2","expires_in":-1,"access_token":"A"}})",
        options);
    REQUIRE_FALSE(b);
    CHECK(b.error().code() == errc::invalid_expires_in);
    CHECK(b.salvaged_refresh_token().expose_secret() == "R2");
    CHECK_FALSE(b.salvaged_refresh_expires_in());

    // A success salvages nothing: the answer itself holds the token.
    const auto c = babelbird::parse_token_response(200, typical);
    REQUIRE(c);
    CHECK_FALSE(c.has_salvaged_refresh_token());
    CHECK(c.salvaged_refresh_token().empty());
}

TEST_CASE("token response: unknown OAuth codes are kept as text, known ones typed") {
    const auto a = babelbird::parse_token_response(400, R"({"error":"invalid_grant"})");
    REQUIRE_FALSE(a);
    CHECK(a.error().oauth_code() == babelbird::oauth_error::invalid_grant);
    CHECK(a.error().oauth_error_text() == "invalid_grant");
    CHECK(a.error().message() ==
          "the server answered with an OAuth error (HTTP 400, invalid_grant)");
    const auto b = babelbird::parse_token_response(400, R"({"error":"account_locked"})");
    REQUIRE_FALSE(b);
    CHECK(b.error().oauth_code() == babelbird::oauth_error::other);
    CHECK(b.error().oauth_error_text() == "account_locked");
    // A code outside the RFC 6749 character set or too long is not kept.
    const auto c = babelbird::parse_token_response(400, R"({"error":"bad\"quote"})");
    REQUIRE_FALSE(c);
    CHECK(c.error().oauth_error_text().empty());
    const auto d = babelbird::parse_token_response(
        400, R"({"error":"a_code_that_is_far_too_long_to_be_a_real_oauth_error"})");
    REQUIRE_FALSE(d);
    CHECK(d.error().oauth_error_text().empty());
}

TEST_CASE("token response: body size cap applies before parsing") {
    babelbird::response_options options;
    options.max_body_size = typical.size() - 1;
    const auto a = babelbird::parse_token_response(200, typical, options);
    REQUIRE_FALSE(a);
    CHECK(a.error().code() == errc::body_too_large);
    options.max_body_size = typical.size();
    CHECK(babelbird::parse_token_response(200, typical, options));
    const std::string big(2 << 20, ' ');
    const auto b = babelbird::parse_token_response(200, big);
    REQUIRE_FALSE(b);
    CHECK(b.error().code() == errc::body_too_large);
    const auto c = babelbird::parse_token_response(503, big);
    REQUIRE_FALSE(c);
    CHECK(c.error().kind() == error_class::retry);
}

TEST_CASE("token response: a large valid body within the cap parses, and the next small one too") {
    std::string body = with(R"("pad":")" + std::string(200000, 'p') + "\"");
    CHECK(babelbird::parse_token_response(200, body));
    CHECK(babelbird::parse_token_response(200, typical));
}

TEST_CASE("token response: enveloped token object") {
    babelbird::response_options options;
    options.envelope = "/data";
    const std::string wrapped = R"({"code":0,"data":)" + typical + "}";
    const auto a = babelbird::parse_token_response(200, wrapped, options);
    REQUIRE(a);
    CHECK(a->access_token().expose_secret() == ts::access_token);
    CHECK(a->expires_in() == std::optional<std::uint64_t>(3600));

    const auto missing = babelbird::parse_token_response(200, R"({"code":0})", options);
    REQUIRE_FALSE(missing);
    CHECK(missing.error().code() == errc::envelope_not_found);

    const auto not_object = babelbird::parse_token_response(200, R"({"data":[1]})", options);
    REQUIRE_FALSE(not_object);
    CHECK(not_object.error().code() == errc::not_an_object);

    // An error at the root wins over the envelope.
    const auto root_error =
        babelbird::parse_token_response(200, R"({"error":"invalid_grant","data":{}})", options);
    REQUIRE_FALSE(root_error);
    CHECK(root_error.error().oauth_code() == babelbird::oauth_error::invalid_grant);

    // The whole document is still validated.
    const auto trailing = babelbird::parse_token_response(200, wrapped + "{}", options);
    REQUIRE_FALSE(trailing);
    CHECK(trailing.error().code() == errc::trailing_content);

    options.envelope = "/data/inner";
    const auto deep = babelbird::parse_token_response(
        200, R"({"data":{"inner":{"access_token":"x","expires_in":"5"}}})", options);
    REQUIRE(deep);
    CHECK(deep->expires_in() == std::optional<std::uint64_t>(5));
}

TEST_CASE("token response: renamed fields") {
    babelbird::response_options options;
    options.fields.access_token = "accessToken";
    options.fields.refresh_token = "refreshToken";
    options.fields.expires_in = "expiresIn";
    const auto a = babelbird::parse_token_response(
        200, R"({"accessToken":"A1","refreshToken":"R1","expiresIn":"7200"})", options);
    REQUIRE(a);
    CHECK(a->access_token().expose_secret() == "A1");
    CHECK(a->refresh_token().expose_secret() == "R1");
    CHECK(a->expires_in() == std::optional<std::uint64_t>(7200));
    // The default names are then unknown fields.
    const auto b = babelbird::parse_token_response(200, R"({"access_token":"A1"})", options);
    REQUIRE_FALSE(b);
    CHECK(b.error().code() == errc::missing_access_token);
}

TEST_CASE("token response: every proper prefix of a valid body is an error") {
    for (const std::string& body :
         {typical, with(R"("x":{"a":[1,{"b":null}]},"expires_in":"9")")}) {
        for (std::size_t n = 0; n < body.size(); ++n) {
            CAPTURE(n);
            const std::string prefix = body.substr(0, n);
            const auto r = babelbird::parse_token_response(200, prefix);
            REQUIRE_FALSE(r);
            CHECK(r.error().kind() == error_class::protocol);
            ts::remember(r.error());
        }
        CHECK(babelbird::parse_token_response(200, body));
    }
}

TEST_CASE("token response: the http_response overload reads status and body") {
    const babelbird::http_response ok(200, typical, {{"Content-Type", "text/html"}});
    CHECK(babelbird::parse_token_response(ok));
    const babelbird::http_response bad(401, R"({"error":"invalid_grant"})");
    const auto r = babelbird::parse_token_response(bad);
    REQUIRE_FALSE(r);
    CHECK(r.error().needs_reauthorization());
}

TEST_CASE("token response: classify_failure") {
    using babelbird::classify_failure;
    using babelbird::oauth_error;
    static_assert(classify_failure(400, oauth_error::none) == error_class::reauthorize);
    static_assert(classify_failure(401, oauth_error::none) == error_class::reauthorize);
    static_assert(classify_failure(500, oauth_error::invalid_grant) == error_class::reauthorize);
    static_assert(classify_failure(400, oauth_error::temporarily_unavailable) ==
                  error_class::retry);
    static_assert(classify_failure(599, oauth_error::none) == error_class::retry);
    static_assert(classify_failure(404, oauth_error::none) == error_class::protocol);
    static_assert(classify_failure(200, oauth_error::other) == error_class::protocol);
    CHECK(classify_failure(503, oauth_error::none) == error_class::retry);
    // Issue 10: codes about the client itself are configuration, whatever the status.
    for (auto code : {oauth_error::invalid_client, oauth_error::unauthorized_client,
                      oauth_error::unsupported_grant_type, oauth_error::invalid_scope}) {
        for (int status : {200, 400, 401, 403, 500}) {
            CHECK(classify_failure(status, code) == error_class::configuration);
        }
    }
    static_assert(classify_failure(400, oauth_error::invalid_grant) == error_class::reauthorize);
    static_assert(classify_failure(401, oauth_error::access_denied) == error_class::reauthorize);
}

TEST_CASE("Retry-After: delay-seconds and IMF-fixdate (RFC 9110 section 10.2.3)") {
    using babelbird::parse_retry_after;
    using babelbird::detail::parse_imf_fixdate;
    using std::chrono::seconds;
    // RFC 9110 section 5.6.7's example, and the epoch.
    static_assert(parse_imf_fixdate("Sun, 06 Nov 1994 08:49:37 GMT") == 784111777);
    static_assert(parse_imf_fixdate("Thu, 01 Jan 1970 00:00:00 GMT") == 0);
    static_assert(parse_imf_fixdate("Tue, 29 Feb 2000 12:00:00 GMT") == 951825600);
    static_assert(!parse_imf_fixdate("Mon, 29 Feb 1900 12:00:00 GMT")); // not a leap year
    static_assert(!parse_imf_fixdate("Sun, 31 Apr 1994 08:49:37 GMT"));
    static_assert(!parse_imf_fixdate("Sun, 06 Nov 1994 24:00:00 GMT"));
    static_assert(!parse_imf_fixdate("sun, 06 Nov 1994 08:49:37 GMT"));
    static_assert(!parse_imf_fixdate("Sun, 06 Nov 1994 08:49:37 UTC"));
    static_assert(!parse_imf_fixdate("Sunday, 06-Nov-94 08:49:37 GMT")); // RFC 850: not taken
    static_assert(!parse_imf_fixdate("Sun Nov  6 08:49:37 1994"));       // asctime: not taken

    const babelbird::time_point now{seconds(784111777)};
    const auto none = std::optional<std::string_view>();
    CHECK(parse_retry_after("120", none, std::nullopt) == seconds(120));
    CHECK(parse_retry_after(" 0\t", none, std::nullopt) == seconds(0));
    CHECK(parse_retry_after("99999999999999999999999", none, std::nullopt) ==
          seconds(std::int64_t{1} << 40));
    for (std::string_view garbage :
         {"", " ", "-5", "1.5", "+3", "12s", "soon", "0x10", "Sun, 06 Nov 1994 08:49:37 GMT x"}) {
        CAPTURE(garbage);
        CHECK_FALSE(parse_retry_after(garbage, none, now));
    }
    // An HTTP-date: from the Date header when there is one, else from `now`.
    CHECK(parse_retry_after("Sun, 06 Nov 1994 08:50:37 GMT", none, now) == seconds(60));
    CHECK(parse_retry_after("Sun, 06 Nov 1994 08:50:37 GMT",
                            std::string_view("Sun, 06 Nov 1994 08:50:07 GMT"), now) == seconds(30));
    CHECK(parse_retry_after("Sun, 06 Nov 1994 08:50:37 GMT", std::string_view("garbage"), now) ==
          seconds(60));
    CHECK(parse_retry_after("Sun, 06 Nov 1994 08:00:00 GMT", none, now) == seconds(0)); // past
    CHECK_FALSE(parse_retry_after("Sun, 06 Nov 1994 08:50:37 GMT", none, std::nullopt));
}

TEST_CASE("Retry-After reaches retry-class errors of the http_response overload") {
    const auto parse = [](int status, std::string body,
                          std::vector<babelbird::http_header> headers) {
        return babelbird::parse_token_response(
            babelbird::http_response(status, std::move(body), std::move(headers)));
    };
    const auto a = parse(429, "", {{"retry-after", "30"}});
    REQUIRE_FALSE(a);
    CHECK(a.error().kind() == error_class::retry);
    CHECK(a.error().retry_after() == std::chrono::seconds(30));
    const auto b = parse(503, R"({"error":"temporarily_unavailable"})",
                         {{"Date", "Sun, 06 Nov 1994 08:49:37 GMT"},
                          {"Retry-After", "Sun, 06 Nov 1994 08:51:37 GMT"}});
    REQUIRE_FALSE(b);
    CHECK(b.error().retry_after() == std::chrono::seconds(120));
    // An HTTP-date without a Date header needs a clock: ignored here.
    const auto c = parse(503, "", {{"Retry-After", "Sun, 06 Nov 1994 08:51:37 GMT"}});
    REQUIRE_FALSE(c);
    CHECK_FALSE(c.error().retry_after());
    // Garbage is ignored; other classes never get one.
    const auto d = parse(503, "", {{"Retry-After", "later"}});
    REQUIRE_FALSE(d);
    CHECK_FALSE(d.error().retry_after());
    const auto e = parse(400, R"({"error":"invalid_grant"})", {{"Retry-After", "30"}});
    REQUIRE_FALSE(e);
    CHECK_FALSE(e.error().retry_after());
    const auto f = parse(200, "<html>", {{"Retry-After", "30"}});
    REQUIRE_FALSE(f);
    CHECK_FALSE(f.error().retry_after());
    const auto g = parse(500, R"({"error":"server_error"})", {{"Retry-After", "7"}});
    REQUIRE_FALSE(g);
    CHECK(g.error().retry_after() == std::chrono::seconds(7));
}

TEST_CASE("json_unescape: escapes, UTF-8 and surrogates (RFC 8259 section 7)") {
    using babelbird::detail::bad_escape;
    using babelbird::detail::json_unescape;
    const auto un = [](std::string_view in) {
        std::string out(in.size(), '\0');
        const std::size_t n = json_unescape(in, out.data());
        return n == bad_escape ? std::string("<bad>") : out.substr(0, n);
    };
    CHECK(un(R"(a\"b\\c\/d)") == "a\"b\\c/d");
    CHECK(un(R"(\b\f\n\r\t)") == "\b\f\n\r\t");
    CHECK(un(R"(\u0041\u00e9\u4e2d)") == "A\xC3\xA9\xE4\xB8\xAD");
    CHECK(un(R"(\ud83d\ude00)") == "\xF0\x9F\x98\x80");
    CHECK(un(R"(\u0000)") == std::string(1, '\0'));
    for (std::string_view bad : {R"(\)", R"(\x)", R"(\u12)", R"(\u12g4)", R"(\ud800)", R"(\ud800x)",
                                 R"(\ud800\u0041)", R"(\udfff)"}) {
        CAPTURE(bad);
        CHECK(un(bad) == "<bad>");
        CHECK(json_unescape(bad, nullptr) == bad_escape);
    }
    static_assert(json_unescape("abc", nullptr) == 3);
}

} // namespace test_response
