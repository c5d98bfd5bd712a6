/// @file values/clock.hpp
/// @brief The clock concept: time comes from an injected clock, so tests never sleep.
#pragma once

#include "babelbird/config/compiler_check.hpp"

#include <chrono>
#include <concepts>
#include <cstdint>
#include <limits>
#if defined(__linux__)
#include <time.h>
#endif

namespace babelbird::inline v1 {

/// Wall-clock instants (expiry times are printed as RFC 3339 UTC).
using time_point = std::chrono::system_clock::time_point;

/// Anything with `now()` returning a `time_point`.
template <class C>
concept clock_source = requires(C& c) {
    { c.now() } -> std::convertible_to<time_point>;
};

/// A clock that can also give a cheap reading that is never earlier than
/// `now()` would be at the same instant (see `system_clock_source`). Hot paths
/// use it through `detail::read_upper_bound` and confirm with `now()` whenever
/// the bound alone cannot decide.
template <class C>
concept upper_bound_clock_source = clock_source<C> && requires(C& c) {
    { c.now_upper_bound() } -> std::convertible_to<time_point>;
};

/// The default clock: `std::chrono::system_clock`.
struct system_clock_source {
    /// The wall clock (`clock_gettime(CLOCK_REALTIME)` on Linux, through the vDSO).
    time_point now() const noexcept { return std::chrono::system_clock::now(); }

    /// A reading never earlier than `now()`, cheaper to take: on Linux the
    /// kernel's tick-updated `CLOCK_REALTIME_COARSE` plus two of its ticks
    /// (`clock_getres`, 1-10 ms): the coarse clock lags the precise one by at
    /// most one tick while the kernel's timekeeping runs, the second absorbs a
    /// late tick. Elsewhere, or when the coarse clock is unavailable, `now()`.
    /// A guest whose timekeeping stalls for longer (a paused virtual machine)
    /// can read early by the stall, as any reading is late by the time a thread
    /// is descheduled between taking it and using it.
    time_point now_upper_bound() const noexcept {
#if defined(__linux__) && defined(CLOCK_REALTIME_COARSE)
        static const std::int64_t slack_ns = coarse_slack_ns();
        timespec ts{};
        if (slack_ns >= 0 && ::clock_gettime(CLOCK_REALTIME_COARSE, &ts) == 0) {
            const auto since_epoch =
                std::chrono::seconds(ts.tv_sec) + std::chrono::nanoseconds(ts.tv_nsec + slack_ns);
            return time_point(std::chrono::ceil<time_point::duration>(since_epoch));
        }
#endif
        return now();
    }

private:
#if defined(__linux__) && defined(CLOCK_REALTIME_COARSE)
    /// Two ticks of the coarse clock in nanoseconds; -1 when it has none, or a
    /// tick longer than 100 ms (no longer cheap in accuracy: use `now()`).
    static std::int64_t coarse_slack_ns() noexcept {
        timespec res{};
        if (::clock_getres(CLOCK_REALTIME_COARSE, &res) != 0 || res.tv_sec != 0 ||
            res.tv_nsec <= 0 || res.tv_nsec > 100'000'000) {
            return -1;
        }
        return 2 * static_cast<std::int64_t>(res.tv_nsec);
    }
#endif
};

namespace detail {
/// A reading of `clock` that is never earlier than its `now()`, and whether it
/// is `now()` itself (`exact`): `now_upper_bound()` where the clock has one,
/// else `now()`. A caller that needs the precise reading takes `now()` only
/// when `exact` is false, so a clock without the bound is read once.
struct upper_bound_reading {
    time_point at;
    bool exact;
};
template <clock_source Clock>
upper_bound_reading read_upper_bound(Clock& clock) {
    if constexpr (upper_bound_clock_source<Clock>) {
        return {clock.now_upper_bound(), false};
    } else {
        return {clock.now(), true};
    }
}

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
