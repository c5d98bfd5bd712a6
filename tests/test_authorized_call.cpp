// send_authorized(): one retry on a rejected token, with a fake token provider
// and a scripted recording transport.
#include "support.hpp"

#include <doctest/doctest.h>

#include <optional>
#include <string>
#include <vector>

// A namespace per file: the unit tests are compiled as unity chunks.
namespace test_authorized_call {

using babelbird::errc;
namespace ts = test_support;

namespace {

struct fake_handle {
    std::string token;
    babelbird::secret_view access_token() const { return babelbird::secret_view(token); }
};

/// Hands out tokens[current]; invalidate(seen) moves on to the next token when
/// `seen` is the current one (what token_source does: only the token the
/// server rejected is replaced).
struct fake_provider {
    std::vector<std::string> tokens{"TOKEN-1", "TOKEN-2", "TOKEN-3"};
    std::size_t current = 0;
    std::vector<std::string> invalidated;
    int gets = 0;
    std::optional<babelbird::error> fail_first_get;
    std::optional<babelbird::error> fail_after_invalidate;
    bool ignore_invalidate = false;

    babelbird::result<fake_handle> get() {
        ++gets;
        if (fail_first_get) {
            return *fail_first_get;
        }
        if (fail_after_invalidate && !invalidated.empty()) {
            return *fail_after_invalidate;
        }
        return fake_handle{tokens[current]};
    }
    void invalidate(babelbird::secret_view seen) {
        invalidated.emplace_back(seen.expose_secret());
        if (!ignore_invalidate && seen.expose_secret() == tokens[current] &&
            current + 1 < tokens.size()) {
            ++current;
        }
    }
};

/// Records each request and answers from a script.
struct scripted_transport {
    std::vector<babelbird::http_request> requests;
    std::vector<babelbird::transport_result> answers;
    std::size_t next = 0;

    babelbird::transport_result operator()(const babelbird::http_request& request) {
        requests.push_back(request);
        REQUIRE(next < answers.size());
        return answers[next++];
    }
};

babelbird::http_response answer(int status, std::string body = "",
                                std::vector<babelbird::http_header> headers = {}) {
    return babelbird::http_response(status, std::move(body), std::move(headers));
}

babelbird::http_request request(std::string_view method = "GET") {
    auto r = babelbird::build_file_api_request(
        ts::server(), {.method = method, .path = "/api/v1/file/list", .json_body = "{}"});
    REQUIRE(r);
    return *r;
}

std::optional<std::string_view> bearer_of(const babelbird::http_request& r) {
    return r.header("Authorization");
}

// Types for the concept checks.
struct no_invalidate {
    babelbird::result<fake_handle> get() { return fake_handle{}; }
};
struct plain_get {
    fake_handle get() { return {}; }
    void invalidate(babelbird::secret_view) {}
};
struct no_access_token_handle {
    int value = 0;
};
struct bad_handle_provider {
    babelbird::result<no_access_token_handle> get() { return no_access_token_handle{}; }
    void invalidate(babelbird::secret_view) {}
};
struct owning_handle {
    babelbird::secret token{std::string_view("OWNED")};
    const babelbird::secret& access_token() const { return token; }
};
struct owning_provider {
    babelbird::result<owning_handle> get() { return owning_handle{}; }
    babelbird::result<void> invalidate(babelbird::secret_view) { return {}; }
};

} // namespace

static_assert(babelbird::token_provider<fake_provider>);
static_assert(babelbird::token_provider<owning_provider>);
static_assert(!babelbird::token_provider_invalidatable<no_invalidate>);
static_assert(!babelbird::token_provider_gettable<plain_get>);
static_assert(babelbird::token_provider_gettable<bad_handle_provider>);
static_assert(!babelbird::token_provider_handle<bad_handle_provider>);

static_assert(babelbird::is_idempotent_method("GET"));
static_assert(babelbird::is_idempotent_method("HEAD"));
static_assert(babelbird::is_idempotent_method("PUT"));
static_assert(babelbird::is_idempotent_method("DELETE"));
static_assert(babelbird::is_idempotent_method("OPTIONS"));
static_assert(!babelbird::is_idempotent_method("POST"));
static_assert(!babelbird::is_idempotent_method("PATCH"));
static_assert(!babelbird::is_idempotent_method("get"));

static_assert(babelbird::detail::bearer_invalid_token(R"(Bearer error="invalid_token")"));
static_assert(babelbird::detail::bearer_invalid_token(
    R"(Bearer realm="disk", error="invalid_token", error_description="expired")"));
static_assert(babelbird::detail::bearer_invalid_token("bearer error=invalid_token"));
static_assert(
    babelbird::detail::bearer_invalid_token(R"(Basic realm="a", Bearer error="invalid_token")"));
static_assert(!babelbird::detail::bearer_invalid_token(R"(Bearer error="insufficient_scope")"));
static_assert(!babelbird::detail::bearer_invalid_token(R"(Basic error="invalid_token")"));
static_assert(!babelbird::detail::bearer_invalid_token(
    R"(Bearer error_description="invalid_token", error="x")"));
static_assert(!babelbird::detail::bearer_invalid_token(""));

// The challenge parser (RFC 9110 section 11.6.1): scheme and parameter names
// case-insensitive, token or quoted value, other parameters and challenges
// around it, token68, whitespace around '='.
static_assert(babelbird::detail::bearer_invalid_token(R"(BEARER Error = "invalid_token")"));
static_assert(babelbird::detail::bearer_invalid_token(R"(Bearer error="invalid\_token")"));
static_assert(babelbird::detail::bearer_invalid_token(
    R"(Negotiate a/b+c==, Bearer realm="x, error=y", error=invalid_token)"));
static_assert(babelbird::detail::bearer_invalid_token(
    R"(Newauth realm="apps", type=1, title="Login to \"apps\"", Bearer error="invalid_token")"));
static_assert(
    babelbird::detail::bearer_invalid_token("Basic YWxhZGRpbg==,\tBearer error=invalid_token"));
static_assert(!babelbird::detail::bearer_invalid_token(R"(Bearer error="INVALID_TOKEN")"));
static_assert(!babelbird::detail::bearer_invalid_token(R"(Bearer error="invalid_token2")"));
static_assert(!babelbird::detail::bearer_invalid_token(R"(Bearer realm="error=invalid_token")"));
static_assert(!babelbird::detail::bearer_invalid_token(
    R"(Bearer error_description="error=\"invalid_token\"")"));
static_assert(!babelbird::detail::bearer_invalid_token(R"(Bearerx error="invalid_token")"));
static_assert(!babelbird::detail::bearer_invalid_token(R"(Bearer, Basic error="invalid_token")"));
static_assert(!babelbird::detail::bearer_invalid_token(R"(error="invalid_token")"));
static_assert(!babelbird::detail::bearer_invalid_token(R"(Bearer error="invalid_token)"));
static_assert(!babelbird::detail::bearer_invalid_token(R"(Bearer invalid_token)"));
static_assert(!babelbird::detail::bearer_invalid_token("Bearer abc=="));

TEST_CASE("send_authorized: an accepted token is sent once, nothing invalidated") {
    fake_provider provider;
    scripted_transport transport;
    transport.answers = {answer(200, "[]")};
    const auto r = babelbird::send_authorized(transport, provider, request());
    REQUIRE(r);
    CHECK(r->status == 200);
    CHECK(r->body == "[]");
    REQUIRE(transport.requests.size() == 1);
    CHECK(bearer_of(transport.requests[0]) == std::optional<std::string_view>("Bearer TOKEN-1"));
    CHECK(provider.invalidated.empty());
    CHECK(provider.gets == 1);
}

TEST_CASE("send_authorized: 401 invalidates exactly the token used and retries once") {
    fake_provider provider;
    scripted_transport transport;
    transport.answers = {answer(401), answer(200, "ok")};
    const auto original = request();
    const auto r = babelbird::send_authorized(transport, provider, original);
    REQUIRE(r);
    CHECK(r->status == 200);
    CHECK(r->body == "ok");
    CHECK(provider.invalidated == std::vector<std::string>{"TOKEN-1"});
    CHECK(provider.gets == 2);
    REQUIRE(transport.requests.size() == 2);
    CHECK(bearer_of(transport.requests[0]) == std::optional<std::string_view>("Bearer TOKEN-1"));
    CHECK(bearer_of(transport.requests[1]) == std::optional<std::string_view>("Bearer TOKEN-2"));
    for (const auto& sent : transport.requests) {
        CHECK(sent.method == original.method);
        CHECK(sent.url == original.url);
        CHECK(sent.body == original.body);
        CHECK(sent.header("Accept") == original.header("Accept"));
        CHECK(sent.headers.size() == original.headers.size() + 1);
    }
    CHECK_FALSE(original.header("Authorization")); // the caller's request is untouched
}

TEST_CASE("send_authorized: a second rejection is returned, never a third send") {
    fake_provider provider;
    scripted_transport transport;
    transport.answers = {answer(401), answer(401, R"({"error":"invalid_token"})")};
    const auto r = babelbird::send_authorized(transport, provider, request("PUT"));
    REQUIRE(r);
    CHECK(r->status == 401);
    CHECK(transport.requests.size() == 2);
    CHECK(provider.invalidated == std::vector<std::string>{"TOKEN-1"});
}

TEST_CASE(
    "send_authorized: a 403 Bearer invalid_token retries; a 2xx invalid_token body does not") {
    {
        fake_provider provider;
        scripted_transport transport;
        transport.answers = {
            answer(403, "", {{"www-authenticate", R"(Bearer realm="d", error="invalid_token")"}}),
            answer(200)};
        const auto r = babelbird::send_authorized(transport, provider, request("DELETE"));
        REQUIRE(r);
        CHECK(r->status == 200);
        CHECK(transport.requests.size() == 2);
        CHECK(provider.invalidated == std::vector<std::string>{"TOKEN-1"});
    }
    {
        fake_provider provider;
        scripted_transport transport;
        // The caller's data (a file may hold anything), not a rejection.
        transport.answers = {answer(200, R"({"error":"invalid_token","code":-1})")};
        const auto r = babelbird::send_authorized(transport, provider, request("HEAD"));
        REQUIRE(r);
        CHECK(r->body == R"({"error":"invalid_token","code":-1})");
        CHECK(transport.requests.size() == 1);
        CHECK(provider.invalidated.empty());
    }
    {
        // Other rejections are the caller's to handle: no retry.
        fake_provider provider;
        scripted_transport transport;
        transport.answers = {
            answer(403, R"({"error":"insufficient_scope"})",
                   {{"WWW-Authenticate", R"(Bearer error="insufficient_scope")"}})};
        const auto r = babelbird::send_authorized(transport, provider, request("OPTIONS"));
        REQUIRE(r);
        CHECK(r->status == 403);
        CHECK(transport.requests.size() == 1);
        CHECK(provider.invalidated.empty());
    }
}

TEST_CASE("send_authorized: POST and PATCH are not resent unless marked safe") {
    for (std::string_view method : {"POST", "PATCH", "get", "MKCOL"}) {
        CAPTURE(method);
        fake_provider provider;
        scripted_transport transport;
        transport.answers = {answer(401)};
        const auto r = babelbird::send_authorized(transport, provider, request(method));
        REQUIRE(r);
        CHECK(r->status == 401);
        CHECK(transport.requests.size() == 1);
        // The token is still known to be bad: the next call gets a fresh one.
        CHECK(provider.invalidated == std::vector<std::string>{"TOKEN-1"});
        CHECK(provider.gets == 1);
    }
    fake_provider provider;
    scripted_transport transport;
    transport.answers = {answer(401), answer(201, "created")};
    const auto r = babelbird::send_authorized(transport, provider, request("POST"),
                                              babelbird::send_options{.safe_to_retry = true});
    REQUIRE(r);
    CHECK(r->status == 201);
    REQUIRE(transport.requests.size() == 2);
    CHECK(transport.requests[1].method == "POST");
    CHECK(transport.requests[1].body == "{}");
    CHECK(bearer_of(transport.requests[1]) == std::optional<std::string_view>("Bearer TOKEN-2"));
    CHECK(provider.invalidated == std::vector<std::string>{"TOKEN-1"});
}

TEST_CASE("send_authorized: the provider's errors are returned") {
    {
        fake_provider provider;
        provider.fail_first_get = babelbird::error::server(errc::oauth_error_response,
                                                           babelbird::error_class::reauthorize, 400,
                                                           babelbird::oauth_error::invalid_grant);
        scripted_transport transport;
        const auto r = babelbird::send_authorized(transport, provider, request());
        REQUIRE_FALSE(r);
        CHECK(r.error().needs_reauthorization());
        CHECK(transport.requests.empty());
    }
    {
        fake_provider provider;
        provider.fail_after_invalidate = babelbird::error::transport(errc::timeout);
        scripted_transport transport;
        transport.answers = {answer(401)};
        const auto r = babelbird::send_authorized(transport, provider, request());
        REQUIRE_FALSE(r);
        CHECK(r.error().code() == errc::timeout);
        CHECK(transport.requests.size() == 1);
        CHECK(provider.invalidated == std::vector<std::string>{"TOKEN-1"});
    }
}

TEST_CASE("send_authorized: the same token after invalidate is not sent again") {
    fake_provider provider;
    provider.ignore_invalidate = true;
    scripted_transport transport;
    transport.answers = {answer(401)};
    const auto r = babelbird::send_authorized(transport, provider, request());
    REQUIRE(r);
    CHECK(r->status == 401);
    CHECK(transport.requests.size() == 1);
    CHECK(provider.invalidated == std::vector<std::string>{"TOKEN-1"});
}

TEST_CASE("send_authorized: transport failures are returned, not retried") {
    fake_provider provider;
    scripted_transport transport;
    transport.answers = {babelbird::error::transport(errc::connection_reset)};
    const auto r = babelbird::send_authorized(transport, provider, request());
    REQUIRE_FALSE(r);
    CHECK(r.error().code() == errc::connection_reset);
    CHECK(transport.requests.size() == 1);
    CHECK(provider.invalidated.empty());
}

TEST_CASE("send_authorized: a token that is not header-safe is refused before sending") {
    fake_provider provider;
    provider.tokens = {"BAD TOKEN "}; // a trailing space cannot go into a header
    scripted_transport transport;
    const auto r = babelbird::send_authorized(transport, provider, request());
    REQUIRE_FALSE(r);
    CHECK(r.error().code() == errc::token_not_header_safe);
    CHECK(transport.requests.empty());
    CHECK(ts::remember(r.error()).find("BAD TOKEN") == std::string::npos);

    // A provider whose handle owns a secret (access_token() returns const secret&).
    scripted_transport other;
    other.answers = {answer(200)};
    owning_provider owning;
    const auto ok = babelbird::send_authorized(other, owning, request());
    REQUIRE(ok);
    CHECK(bearer_of(other.requests[0]) == std::optional<std::string_view>("Bearer OWNED"));
}

TEST_CASE("send_authorized: the caller's Authorization header is replaced") {
    fake_provider provider;
    scripted_transport transport;
    transport.answers = {answer(200)};
    auto r = request();
    r.headers.push_back({"authorization", "Bearer STALE"});
    const auto out = babelbird::send_authorized(transport, provider, r);
    REQUIRE(out);
    int count = 0;
    for (const auto& h : transport.requests[0].headers) {
        count += babelbird::detail::iequals(h.name, "Authorization") ? 1 : 0;
    }
    CHECK(count == 1);
    CHECK(bearer_of(transport.requests[0]) == std::optional<std::string_view>("Bearer TOKEN-1"));
}

TEST_CASE("send_authorized: which answers reject the token (classification table)") {
    using hdrs = std::vector<babelbird::http_header>;
    const babelbird::http_header bearer_invalid{"WWW-Authenticate",
                                                R"(Bearer realm="disk", error="invalid_token")"};
    const babelbird::http_header bearer_other{"WWW-Authenticate",
                                              R"(Bearer error="invalid_request")"};
    const babelbird::http_header bearer_scope{"www-authenticate",
                                              R"(Bearer error="insufficient_scope")"};
    const babelbird::http_header basic_invalid{"WWW-Authenticate",
                                               R"(Basic realm="x", error="invalid_token")"};
    const babelbird::http_header bearer_bare{"WWW-Authenticate", R"(Bearer realm="disk")"};
    const babelbird::http_header not_challenge{"X-Error", R"(Bearer error="invalid_token")"};
    const std::string invalid_body = R"({"error":"invalid_token"})";
    struct row {
        const char* what;
        int status;
        std::string body;
        hdrs headers;
        bool rejected;
    };
    const row rows[] = {
        {"401 without a challenge", 401, "", {}, true},
        {"401 with Bearer invalid_token", 401, "", {bearer_invalid}, true},
        {"401 with another error", 401, "", {bearer_other}, true},
        {"401 with another scheme", 401, "", {basic_invalid}, true},
        {"400 with Bearer invalid_token", 400, "", {bearer_invalid}, true},
        {"403 with Bearer invalid_token", 403, "", {bearer_invalid}, true},
        {"403 with the challenge second", 403, "", {bearer_bare, bearer_invalid}, true},
        {"400 with Bearer invalid_request", 400, "", {bearer_other}, false},
        {"403 with Bearer insufficient_scope", 403, invalid_body, {bearer_scope}, false},
        {"403 with Basic error=invalid_token", 403, "", {basic_invalid}, false},
        {"403 with a Bearer challenge without error", 403, "", {bearer_bare}, false},
        {"403 with the value in another header", 403, "", {not_challenge}, false},
        {"403 with invalid_token only in the body", 403, invalid_body, {}, false},
        {"400 without a challenge", 400, invalid_body, {}, false},
        {"200 with an invalid_token body", 200, invalid_body, {}, false},
        {"204 with Bearer invalid_token", 204, "", {bearer_invalid}, false},
        {"404 with Bearer invalid_token", 404, "", {bearer_invalid}, false},
        {"500 with Bearer invalid_token", 500, invalid_body, {bearer_invalid}, false},
        {"503", 503, "", {}, false},
        {"302", 302, "", {}, false},
    };
    for (const row& r : rows) {
        CAPTURE(r.what);
        const auto response = answer(r.status, r.body, r.headers);
        CHECK(babelbird::is_invalid_token_response(response) == r.rejected);

        fake_provider provider;
        scripted_transport transport;
        transport.answers = {response, answer(200, "second")};
        const auto got = babelbird::send_authorized(transport, provider, request("GET"));
        REQUIRE(got);
        CHECK(transport.requests.size() == (r.rejected ? 2u : 1u));
        CHECK(provider.invalidated.size() == (r.rejected ? 1u : 0u));
        CHECK(got->status == (r.rejected ? 200 : r.status));
        if (r.rejected) {
            CHECK(bearer_of(transport.requests[1]) == "Bearer TOKEN-2");
        }
    }
}

} // namespace test_authorized_call
