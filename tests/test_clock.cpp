// The clocks: the default clock's cheap upper-bound reading, and the helper
// that falls back to now() for clocks without one (the tests' manual clocks).
#include "support.hpp"

#include <doctest/doctest.h>

#include <chrono>

// A namespace per file: the unit tests are compiled as unity chunks.
namespace test_clock {

namespace ts = test_support;

static_assert(babelbird::upper_bound_clock_source<babelbird::system_clock_source>);
static_assert(babelbird::clock_source<ts::fixed_clock>);
static_assert(!babelbird::upper_bound_clock_source<ts::fixed_clock>);

TEST_CASE("clock: now_upper_bound() is never earlier than now(), and close to it") {
    const babelbird::system_clock_source clock;
    for (int i = 0; i < 20000; ++i) {
        const babelbird::time_point before = clock.now();
        const babelbird::time_point bound = clock.now_upper_bound();
        REQUIRE(bound >= before);
        // Two ticks of at most 100 ms, plus the time between the two readings.
        REQUIRE(bound - before < std::chrono::milliseconds(250));
    }
}

TEST_CASE("clock: read_upper_bound uses the bound where there is one, else one now()") {
    babelbird::system_clock_source system;
    const babelbird::time_point before = system.now();
    const auto bound = babelbird::detail::read_upper_bound(system);
    CHECK_FALSE(bound.exact);
    CHECK(bound.at >= before);

    ts::fixed_clock manual;
    const auto reading = babelbird::detail::read_upper_bound(manual);
    CHECK(reading.exact);
    CHECK(reading.at == manual.at);
    CHECK(manual.reads == 1);
}

} // namespace test_clock
