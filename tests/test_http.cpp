// HTTP values: case-insensitive header lookup and scrubbing on destruction.
#include "support.hpp"

#include <doctest/doctest.h>

// A namespace per file: the unit tests are compiled as unity chunks.
namespace test_http {

TEST_CASE("http_request: header lookup ignores letter case") {
    babelbird::http_request r("GET", "https://h/x", {{"Content-Type", "text/plain"}});
    CHECK(r.header("content-type") == std::optional<std::string_view>("text/plain"));
    CHECK(r.header("CONTENT-TYPE").has_value());
    CHECK_FALSE(r.header("Accept").has_value());
    r.set_header("content-TYPE", "application/json");
    CHECK(r.headers.size() == 1);
    CHECK(r.header("Content-Type") == std::optional<std::string_view>("application/json"));
}

TEST_CASE("http_response: header lookup ignores letter case") {
    const babelbird::http_response r(200, "{}", {{"WWW-Authenticate", "Bearer"}});
    CHECK(r.header("www-authenticate") == std::optional<std::string_view>("Bearer"));
    CHECK_FALSE(r.header("Location"));
}

TEST_CASE("scrub zeroes the whole capacity of a string") {
    std::string s = "a long secret value that is not in the small buffer";
    const char* data = s.data();
    const std::size_t cap = s.capacity();
    babelbird::detail::scrub(s);
    CHECK(s.empty());
    CHECK(s.data() == data); // same buffer, no reallocation
    // After scrub the string owns the zeroed buffer; resize (no reallocation)
    // exposes it again without undefined behaviour.
    s.resize(cap);
    CHECK(s == std::string(cap, '\0'));
}

TEST_CASE("transport concept: which callables qualify") {
    using babelbird::transport;
    auto good = [](const babelbird::http_request&) -> babelbird::transport_result {
        return babelbird::http_response{};
    };
    auto wrong_return = [](const babelbird::http_request&) { return 200; };
    auto wrong_arg = [](int) -> babelbird::transport_result { return babelbird::http_response{}; };
    static_assert(transport<decltype(good)>);
    static_assert(transport<test_support::recording_transport>);
    static_assert(!transport<decltype(wrong_return)>);
    static_assert(babelbird::transport_callable<decltype(wrong_return)>);
    static_assert(!transport<decltype(wrong_arg)>);
    static_assert(!babelbird::transport_callable<decltype(wrong_arg)>);
    static_assert(!transport<int>);
    static_assert(babelbird::clock_source<test_support::fixed_clock>);
    static_assert(babelbird::clock_source<babelbird::system_clock_source>);
    static_assert(!babelbird::clock_source<int>);
    const auto answered = good(babelbird::http_request{});
    REQUIRE(answered);
    CHECK(answered->status == 0);
}

} // namespace test_http
