/// @file machines/expiry.hpp
/// @brief The expiry policy, pure: when an access token is fresh, due for an early
/// refresh or expired, and when a refresh token stops working.
///
/// A token issued at `issued_at` (the clock reading taken before its request was
/// sent) and expiring at `expires_at` has the lifetime `L = expires_at - issued_at`.
/// Two margins, each capped so that no lifetime means "always expired":
///
/// - `usable_until = expires_at - min(skew_margin, L / 2)`: from then on the token
///   counts as expired (room for clock skew between us and the server, and for
///   the time a request spends in flight). The cap: the skew margin never takes
///   more than half of the lifetime, so a 60 s margin on a 59 s token leaves it
///   usable for its first 29.5 s.
/// - `refresh_from = usable_until - min(refresh_ahead, (usable_until - issued_at) / 2)`:
///   from then on a refresh should start while the token is still served. The
///   cap: the early-refresh window never takes more than half of the usable span.
///
/// So any token with a positive lifetime is fresh for at least its first quarter
/// and usable for at least its first half. A token with a zero or negative
/// lifetime is expired from `expires_at` on. Every computation saturates at the
/// ends of `time_point`'s range instead of overflowing, for any input.
#pragma once

#include "babelbird/config/compiler_check.hpp"

#include <chrono>
#include <cstdint>
#include <limits>
#include <optional>
#include <ratio>
#include <string_view>

#include "babelbird/values/clock.hpp"
#include "babelbird/values/token.hpp"

namespace babelbird::inline v1 {

/// The state of an access token at an instant.
enum class token_state : std::uint8_t {
    fresh,        ///< use it; no refresh needed yet
    refresh_soon, ///< still usable, but a refresh should start now
    expired,      ///< do not use it: past (or too close to) its expiry, or absent
};

/// "fresh", "refresh_soon" or "expired".
constexpr std::string_view to_string(token_state state) noexcept {
    switch (state) {
    case token_state::fresh:
        return "fresh";
    case token_state::refresh_soon:
        return "refresh_soon";
    case token_state::expired:
        return "expired";
    }
    return "expired";
}

/// The margins of the expiry policy (see the file comment for the caps).
/// Negative durations count as zero.
struct expiry_policy {
    /// A token counts as expired this long before `expires_at` (capped at half
    /// of its lifetime).
    std::chrono::seconds skew_margin{60};
    /// A refresh starts this long before the token counts as expired, while it
    /// is still served (capped at half of the usable span).
    std::chrono::seconds refresh_ahead{300};
};

namespace detail {

using tick_rep = time_point::duration::rep;
inline constexpr tick_rep max_ticks = std::numeric_limits<tick_rep>::max();

/// A non-negative whole number of seconds (negative durations count as zero).
constexpr std::uint64_t whole_seconds(std::chrono::seconds s) noexcept {
    return s.count() < 0 ? 0 : static_cast<std::uint64_t>(s.count());
}

/// A non-negative duration in `time_point` ticks, saturating (negative is zero).
template <class Rep, class Period>
constexpr tick_rep saturating_ticks(std::chrono::duration<Rep, Period> d) noexcept {
    using ticks = time_point::duration;
    using ratio = std::ratio_divide<Period, ticks::period>;
    if (d.count() <= 0) {
        return 0;
    }
    if constexpr (ratio::den == 1) {
        if (d.count() >= max_ticks / ratio::num) {
            return max_ticks;
        }
        return static_cast<tick_rep>(d.count()) * static_cast<tick_rep>(ratio::num);
    } else {
        return std::chrono::duration_cast<ticks>(d).count();
    }
}

/// `t + d` for `d >= 0`, saturating at `time_point::max()`.
constexpr time_point add_ticks_saturating(time_point t, tick_rep d) noexcept {
    const tick_rep now = t.time_since_epoch().count();
    if (d <= 0) {
        return t;
    }
    if (now > 0 && d > max_ticks - now) {
        return time_point::max();
    }
    return time_point(time_point::duration(now + d));
}

/// `later - earlier` in ticks when `later >= earlier` (it fits an unsigned
/// 64-bit value for any pair), else 0.
constexpr std::uint64_t span_ticks(time_point earlier, time_point later) noexcept {
    const tick_rep a = earlier.time_since_epoch().count();
    const tick_rep b = later.time_since_epoch().count();
    if (b <= a) {
        return 0;
    }
    return static_cast<std::uint64_t>(b) - static_cast<std::uint64_t>(a);
}

/// `t - min(margin, span / 2)` for `span` ticks between some earlier instant and `t`:
/// the result never falls below that earlier instant, so it cannot overflow.
constexpr time_point subtract_capped(time_point t, tick_rep margin, std::uint64_t span) noexcept {
    const std::uint64_t half = span / 2; // <= 2^63 - 1
    const std::uint64_t m = margin <= 0 ? 0 : static_cast<std::uint64_t>(margin);
    const std::uint64_t take = m < half ? m : half;
    return time_point(time_point::duration(
        static_cast<tick_rep>(static_cast<std::uint64_t>(t.time_since_epoch().count()) - take)));
}

} // namespace detail

/// The two instants that decide a token's state (see the file comment).
struct expiry_window {
    /// From this instant on a refresh should start (state `refresh_soon`).
    time_point refresh_from{};
    /// From this instant on the token counts as expired.
    time_point usable_until{};

    /// The state at `now`: fresh before `refresh_from`, refresh-soon before
    /// `usable_until`, expired from then on.
    constexpr token_state state_at(time_point now) const noexcept {
        if (now >= usable_until) {
            return token_state::expired;
        }
        return now < refresh_from ? token_state::fresh : token_state::refresh_soon;
    }

    friend constexpr bool operator==(const expiry_window&, const expiry_window&) = default;
};

/// The window of a token issued at `issued_at` that expires at `expires_at`.
/// A zero or negative lifetime gives `refresh_from == usable_until == expires_at`.
constexpr expiry_window expiry_window_for(time_point issued_at, time_point expires_at,
                                          const expiry_policy& policy = {}) noexcept {
    const std::uint64_t lifetime = detail::span_ticks(issued_at, expires_at);
    expiry_window w;
    w.usable_until =
        detail::subtract_capped(expires_at, detail::saturating_ticks(policy.skew_margin), lifetime);
    w.refresh_from =
        detail::subtract_capped(w.usable_until, detail::saturating_ticks(policy.refresh_ahead),
                                detail::span_ticks(issued_at, w.usable_until));
    return w;
}

/// The state of an access token at `now` from its issue time and expiry.
constexpr token_state token_state_at(time_point issued_at, time_point expires_at, time_point now,
                                     const expiry_policy& policy = {}) noexcept {
    return expiry_window_for(issued_at, expires_at, policy).state_at(now);
}

/// The state of a grant's access token at `now`; a grant without an access
/// token (seeded from a refresh token only) is `expired`.
inline token_state token_state_at(const token_grant& grant, time_point now,
                                  const expiry_policy& policy = {}) noexcept {
    if (grant.access_token.empty()) {
        return token_state::expired;
    }
    return token_state_at(grant.issued_at, grant.expires_at, now, policy);
}

/// When an access token expires: `issued_at + expires_in`, or
/// `issued_at + assumed_lifetime` when the server sent no `expires_in`.
/// Saturates at `time_point::max()`; a negative assumed lifetime counts as zero.
constexpr time_point access_expires_at(time_point issued_at,
                                       std::optional<std::uint64_t> expires_in,
                                       std::chrono::seconds assumed_lifetime) noexcept {
    return detail::add_seconds_saturating(
        issued_at, expires_in ? *expires_in : detail::whole_seconds(assumed_lifetime));
}

/// When a refresh token stops working:
/// - empty when the server sent `refresh_expires_in: 0`, which means "no
///   fixed expiry", not "now" (docs/design.md, "Policies");
/// - `issued_at + refresh_expires_in` when the server sent another value;
/// - else, for a newly issued (rotated) token, `issued_at + refresh_token_lifetime`
///   (BabelBird documents 30 days);
/// - else (the server kept the old token) the old token's expiry, `previous`,
///   which may be unknown.
constexpr std::optional<time_point>
refresh_expires_at(time_point issued_at, std::optional<std::uint64_t> refresh_expires_in,
                   bool rotated, std::optional<time_point> previous,
                   std::chrono::seconds refresh_token_lifetime) noexcept {
    if (refresh_expires_in) {
        if (*refresh_expires_in == 0) {
            return std::nullopt;
        }
        return detail::add_seconds_saturating(issued_at, *refresh_expires_in);
    }
    if (rotated) {
        return detail::add_seconds_saturating(issued_at,
                                              detail::whole_seconds(refresh_token_lifetime));
    }
    return previous;
}

/// Whether a grant's refresh token is past its known expiry at `now` (an
/// unknown expiry counts as not expired: the server decides).
inline bool refresh_token_expired(const token_grant& grant, time_point now) noexcept {
    return grant.refresh_expires_at.has_value() && now >= *grant.refresh_expires_at;
}

} // namespace babelbird::inline v1
