/// @file values/clock.hpp
/// @brief The clock concept: time comes from an injected clock, so tests never sleep.
#pragma once

#include "babelbird/config/compiler_check.hpp"

#include <chrono>
#include <concepts>
#include <cstdint>
#include <limits>

namespace babelbird::inline v1 {

/// Wall-clock instants (expiry times are printed as RFC 3339 UTC).
using time_point = std::chrono::system_clock::time_point;

/// Anything with `now()` returning a `time_point`.
template <class C>
concept clock_source = requires(C& c) {
    { c.now() } -> std::convertible_to<time_point>;
};

/// The default clock: `std::chrono::system_clock`.
struct system_clock_source {
    time_point now() const noexcept { return std::chrono::system_clock::now(); }
};

namespace detail {
/// `t + seconds`, saturating at the largest representable instant instead of
/// overflowing (a server may send `expires_in` of 2^64-1).
constexpr time_point add_seconds_saturating(time_point t, std::uint64_t seconds) noexcept {
    using rep = time_point::duration::rep;
    using period = time_point::duration::period;
    static_assert(period::num == 1, "system_clock ticks are fractions of a second");
    constexpr rep max_rep = std::numeric_limits<rep>::max();
    const rep now = t.time_since_epoch().count();
    const std::uint64_t max_seconds = static_cast<std::uint64_t>(max_rep / period::den);
    if (seconds > max_seconds) {
        return time_point::max();
    }
    const rep ticks = static_cast<rep>(seconds) * static_cast<rep>(period::den);
    if (now > 0 && ticks > max_rep - now) {
        return time_point::max();
    }
    return time_point(time_point::duration(now + ticks));
}
} // namespace detail

} // namespace babelbird::inline v1
