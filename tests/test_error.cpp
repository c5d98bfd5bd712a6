// The error model: codes, classes, std::error_code, result<T>, secret-free messages.
#include "support.hpp"

#include <doctest/doctest.h>

#include <system_error>

// A namespace per file: the unit tests are compiled as unity chunks.
namespace test_error {

using babelbird::errc;
namespace ts = test_support;

TEST_CASE("errc works as a std::error_code") {
    const std::error_code ec = babelbird::errc::timeout;
    CHECK(ec.category().name() == std::string_view("babelbird"));
    CHECK(ec.message() == "the exchange timed out");
    CHECK(babelbird::error::transport(errc::timeout).to_error_code() == ec);
}

TEST_CASE("every error code has its own description") {
    std::vector<std::string_view> seen;
    for (int i = 1; i <= static_cast<int>(errc::no_scheduler); ++i) {
        const auto d = babelbird::describe(static_cast<errc>(i));
        CHECK(d != "unknown error");
        for (auto s : seen) {
            CHECK(s != d);
        }
        seen.push_back(d);
    }
}

TEST_CASE("error: factories set class and origin") {
    const auto u = babelbird::error::usage(errc::empty_value);
    CHECK(u.kind() == babelbird::error_class::usage);
    CHECK(u.origin() == babelbird::error_origin::caller);
    const auto t = babelbird::error::transport(errc::connection_refused);
    CHECK(t.is_retryable());
    CHECK(t.origin() == babelbird::error_origin::transport);
    const auto s =
        babelbird::error::server(errc::oauth_error_response, babelbird::error_class::reauthorize,
                                 400, babelbird::oauth_error::invalid_grant);
    CHECK(s.needs_reauthorization());
    CHECK(s.http_status() == 400);
    CHECK(s.message() == "the server answered with an OAuth error (HTTP 400, invalid_grant)");
    CHECK(babelbird::to_string(babelbird::error_class::retry) == "retry");
    CHECK(babelbird::parse_oauth_error("invalid_client") == babelbird::oauth_error::invalid_client);
    CHECK(babelbird::parse_oauth_error("nope") == babelbird::oauth_error::other);
}

TEST_CASE("result<T>: value, error, copy, move, value_or") {
    babelbird::result<std::string> ok(std::string("v"));
    babelbird::result<std::string> bad(babelbird::error::usage(errc::empty_value));
    CHECK(ok.has_value());
    CHECK(*ok == "v");
    CHECK(ok->size() == 1);
    CHECK_FALSE(bad);
    CHECK(bad.error().code() == errc::empty_value);
    CHECK(bad.value_or("fallback") == "fallback");
    babelbird::result<std::string> copy = ok;
    CHECK(*copy == "v");
    copy = bad;
    CHECK_FALSE(copy);
    babelbird::result<std::string> moved = std::move(ok);
    CHECK(*moved == "v");
    const babelbird::result<void> fine;
    CHECK(fine.has_value());
    const babelbird::result<void> failed = babelbird::error::usage(errc::invalid_argument);
    CHECK_FALSE(failed);
}

#if __cpp_exceptions
namespace {
/// Counts live instances; copying (and, with `moves_throw`, moving) throws
/// while `fail` is set.
template <bool moves_throw>
struct fragile {
    static inline int live = 0;
    static inline bool fail = false;
    int v = 0;
    explicit fragile(int x) : v(x) { ++live; }
    fragile(const fragile& o) : v(o.v) {
        if (fail) {
            throw 1;
        }
        ++live;
    }
    fragile(fragile&& o) noexcept(!moves_throw) : v(o.v) {
        if constexpr (moves_throw) {
            if (fail) {
                throw 2;
            }
        }
        ++live;
    }
    fragile& operator=(const fragile&) = default;
    ~fragile() { --live; }
};

/// After a throwing assignment the target is still a valid result: either its
/// old value (then the live count is unchanged) or an error (one fewer).
template <class T>
void check_still_valid(const babelbird::result<T>& r, int old_value, int live_before) {
    if (r.has_value()) {
        CHECK(r->v == old_value);
        CHECK(T::live == live_before);
    } else {
        CHECK(r.error().kind() == babelbird::error_class::usage);
        CHECK(T::live == live_before - 1);
    }
}
} // namespace

TEST_CASE("result<T>: an assignment whose copy throws leaves a valid result") {
    SUBCASE("copy throws, move does not: the old value stays (strong guarantee)") {
        using F = fragile<false>;
        {
            babelbird::result<F> a(F(1));
            const babelbird::result<F> b(F(2));
            REQUIRE(F::live == 2);
            F::fail = true;
            CHECK_THROWS(a = b);
            F::fail = false;
            check_still_valid(a, 1, 2);
            CHECK(a.has_value());
            a = b;
            CHECK(a->v == 2);
            CHECK(F::live == 2);
        }
        CHECK(F::live == 0);
    }
    SUBCASE("copy and move throw: an error, never a destroyed value marked live") {
        using F = fragile<true>;
        {
            babelbird::result<F> a(F(1));
            const babelbird::result<F> b(F(2));
            REQUIRE(F::live == 2);
            F::fail = true;
            CHECK_THROWS(a = b);
            F::fail = false;
            check_still_valid(a, 1, 2);
            babelbird::result<F> c(F(3));
            F::fail = true;
            CHECK_THROWS(a = std::move(c));
            F::fail = false;
            CHECK_FALSE(a.has_value());
            a = b; // usable again
            CHECK(a->v == 2);
        }
        CHECK(F::live == 0);
    }
}
#endif

TEST_CASE("error is small and copying it never allocates") {
    static_assert(std::is_trivially_copyable_v<babelbird::error>);
    static_assert(sizeof(babelbird::error) <= 64);
    CHECK(sizeof(babelbird::error) <= 64);
}

TEST_CASE("no error message contains a secret, token or body text") {
    const std::string_view secrets[] = {ts::client_secret, ts::refresh_token, ts::access_token,
                                        "SECRET-MARKER"};
    std::vector<babelbird::error> errors;
    auto collect = [&](const auto& r) {
        REQUIRE_FALSE(r);
        errors.push_back(r.error());
    };
    // Caller input carrying secrets.
    collect(babelbird::client_credentials::make("id\n", ts::client_secret));
    collect(babelbird::client_credentials::make("a:b", "SECRET-MARKER"));
    collect(babelbird::client_credentials::make("id", "SECRET-MARKER\r"));
    collect(babelbird::endpoint::make("https://x/SECRET-MARKER?refresh_token=SECRET-MARKER"));
    collect(babelbird::endpoint::make("http://SECRET-MARKER.example.com"));
    collect(babelbird::build_refresh_request(ts::credentials(), ts::server(),
                                             babelbird::secret_view("SECRET-MARKER\twith tab")));
    // Server answers echoing the secrets back.
    const std::string echoes[] = {
        R"({"access_token":"SECRET-MARKER \n"})",
        R"({"error":"SECRET-MARKER","error_description":"rt+/=%Zq9-REFRESH-0123456789abcdef"})",
        R"({"access_token":"at.ACCESS-0123456789abcdef0123456789","access_token":"x"})",
        R"({"access_token":"at.ACCESS-0123456789abcdef0123456789","expires_in":"SECRET-MARKER"})",
        "<html>S3cr3t+/=:%!value SECRET-MARKER</html>",
        R"({"error":"invalid_grant","error_description":"SECRET-MARKER expired"})",
    };
    for (int status : {200, 400, 401, 500}) {
        for (const auto& body : echoes) {
            collect(babelbird::parse_token_response(status, body));
        }
    }
    // The client function with each failure.
    ts::recording_transport transport;
    transport.answer = babelbird::http_response(401, R"({"error":"SECRET-MARKER"})");
    collect(babelbird::refresh(transport, ts::credentials(), ts::server(),
                               babelbird::secret_view(ts::refresh_token)));
    transport.failure = babelbird::error::transport(errc::connection_reset);
    collect(babelbird::refresh(transport, ts::credentials(), ts::server(),
                               babelbird::secret_view(ts::refresh_token)));

    CHECK(errors.size() > 25);
    for (const auto& e : errors) {
        const std::string m = e.message();
        CHECK_FALSE(m.empty());
        for (auto s : secrets) {
            CHECK(m.find(s) == std::string::npos);
            CHECK(std::string(e.oauth_error_text()).find(s) == std::string::npos);
        }
        CHECK(m.find("SECRET") == std::string::npos);
    }
    // And every message remembered by the other tests in this run.
    for (const auto& m : ts::observed_messages()) {
        for (auto s : secrets) {
            CHECK(m.find(s) == std::string::npos);
        }
    }
}

} // namespace test_error
