/// @file machines/token_lifecycle.hpp
/// @brief The token lifecycle machine: no threads, no I/O, no clock, no locks.
/// It says what to do at an instant, hands out the refresh request, takes what
/// the transport returned and yields the new grant or the classified error. For
/// async stacks (callback-based HTTP clients, coroutines); `token_source` is
/// the thread-safe cache over it. See docs/design.md, "token lifecycle machine".
///
/// @code
/// auto seed = babelbird::token_seed::from_refresh_token(rt);
/// babelbird::refresh_machine m(credentials, server, *seed);
/// switch (m.next(clock.now())) {
/// case babelbird::refresh_action::refresh:         // no usable token: refresh first
/// case babelbird::refresh_action::refresh_ahead: { // usable, but refresh now
///     auto request = m.begin_refresh();             // an error when nothing may be sent
///     const auto issued_at = clock.now();           // read before sending
///     http.async_send(*request, [&, issued_at](babelbird::transport_result r) {
///         auto grant = m.complete(r, issued_at, clock.now());
///         if (grant) persist(**grant);              // before anyone uses it
///         else if (m.salvaged()) persist(*m.salvaged()); // a rotated refresh token
///     });
///     break;
/// }
/// case babelbird::refresh_action::use_current:     // m.current()->access_token
/// case babelbird::refresh_action::wait:            // a refresh is in flight
/// case babelbird::refresh_action::fail:            // *m.failure() says why
///     break;
/// }
/// @endcode
///
/// Failure policy (docs/design.md, "Policies"):
/// - `reauthorize`, `configuration` and `usage` failures are remembered
///   ("blocked"): `next()` never asks for another refresh until `reset()` gives
///   a new seed, so a revoked refresh token or a rejected client is not sent
///   again and again. The current token is still used while it is valid.
/// - `retry` and `protocol` failures are remembered with a backoff. The n-th
///   consecutive failure waits a uniformly random delay ("full jitter") in
///   `[retry_backoff, min(max_retry_backoff, retry_backoff * 2^(n-1))]`, and at
///   least the server's `Retry-After` (`error::retry_after()`), counted from
///   the end of the failed attempt (from its start when its end is not given).
///   A success resets the count. Meanwhile a still-valid token is used, and
///   without one `next()` says `fail` with that error. The randomness comes from
///   a small PRNG seeded by `refresh_machine_options::jitter_seed`: the machine
///   stays deterministic for a given seed.
/// - Tiny lifetimes: a refresh that succeeded at `t` (its `issued_at`) is
///   followed by the next one no earlier than `t + min_refresh_interval`, so a
///   server that sends `expires_in: 0` (or anything below the skew margin)
///   cannot cause a refresh storm. In between, an expired token is never
///   reported usable: `next()` says `fail`, and `failure()` holds
///   `errc::token_lifetime_too_short` with class `retry` (origin `server`, the
///   status of the answer). Only `invalidate()` (the server
///   rejected the token) skips this interval: that is a fresh signal from the
///   server, not the clock; retry backoff still applies.
/// - Nothing lost: when a refresh fails but the answer carried a new refresh
///   token (`grant_result::salvaged()`), the machine adopts that refresh token
///   (the next refresh sends it; the old one, which the server has retired, is
///   never sent again) and `salvaged()` hands the rescued grant out for
///   persisting. The current access token is kept until its own expiry: the
///   server retired the refresh token it was sent, not the access token.
#pragma once

#include "babelbird/config/compiler_check.hpp"

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <utility>

#include "babelbird/drivers/transport.hpp"
#include "babelbird/machines/exchange.hpp"
#include "babelbird/machines/expiry.hpp"
#include "babelbird/requests/credentials.hpp"
#include "babelbird/requests/endpoint.hpp"
#include "babelbird/requests/token_requests.hpp"
#include "babelbird/values/clock.hpp"
#include "babelbird/values/error.hpp"
#include "babelbird/values/http.hpp"
#include "babelbird/values/secret.hpp"
#include "babelbird/values/token.hpp"

namespace babelbird::inline v1 {

/// Where a token source or refresh machine starts: a stored refresh token (the
/// first use refreshes) or a whole stored grant (its access token is used while
/// it is valid), so a restarted service resumes without re-authorization.
class token_seed {
public:
    /// A seed without an access token.
    /// @param refresh_expires_at the stored token's expiry, if known
    /// @returns `errc::empty_value`, `errc::control_character` or
    /// `errc::token_not_header_safe` (class `usage`) for a token that is not
    /// 1*VSCHAR (RFC 6749 appendix A.17: spaces allowed, control bytes never).
    static result<token_seed>
    from_refresh_token(secret_view refresh_token,
                       std::optional<time_point> refresh_expires_at = {}) {
        if (auto ok = detail::check_refresh_token_input(refresh_token.expose_secret()); !ok) {
            return ok.error();
        }
        token_grant grant;
        grant.refresh_token = secret(refresh_token);
        grant.refresh_expires_at = refresh_expires_at;
        return token_seed(std::move(grant));
    }

    /// A seed from a whole stored grant. Its access token, when not empty, is
    /// used until the expiry policy says otherwise. An empty refresh token is
    /// accepted (the grant is used until it expires; the refresh then fails with
    /// `errc::empty_value`, class `usage`).
    /// @returns `errc::empty_value` when both tokens are empty; the errors of
    /// `from_refresh_token` for a refresh token that is not 1*VSCHAR, and for an
    /// access token that is not VSCHAR without leading or trailing space (it
    /// goes into a header; RFC 6749 appendix A.12).
    static result<token_seed> from_grant(token_grant grant) {
        if (grant.access_token.empty() && grant.refresh_token.empty()) {
            return error::usage(errc::empty_value);
        }
        if (!grant.access_token.empty()) {
            if (auto ok = detail::check_access_token_input(grant.access_token.expose_secret());
                !ok) {
                return ok.error();
            }
        }
        if (!grant.refresh_token.empty()) {
            if (auto ok = detail::check_refresh_token_input(grant.refresh_token.expose_secret());
                !ok) {
                return ok.error();
            }
        }
        return token_seed(std::move(grant));
    }

    /// The seed as a grant (without an access token for `from_refresh_token`).
    const token_grant& grant() const noexcept { return grant_; }

private:
    friend class refresh_machine;
    explicit token_seed(token_grant grant) noexcept : grant_(std::move(grant)) {}
    token_grant grant_;
};

/// Options of the refresh machine (see the file comment for the policies).
/// @warning `client.response` holds views (`envelope`, `fields`): they must
/// outlive the machine.
struct refresh_machine_options {
    client_options client{};
    expiry_policy expiry{};
    /// The least wait after a `retry` or `protocol` failure before the next
    /// attempt, and the base of the exponential backoff. Zero retries at once
    /// (unless the server sent `Retry-After`). Negative counts as zero.
    std::chrono::milliseconds retry_backoff{2000};
    /// The cap of the exponential backoff (`Retry-After` may exceed it). A cap
    /// below `retry_backoff` counts as `retry_backoff`.
    std::chrono::milliseconds max_retry_backoff{std::chrono::minutes(5)};
    /// The least time between the start of a successful refresh and the start
    /// of the next refresh that `next()` asks for, unless the token was
    /// rejected with `invalidate()`. Zero disables it. Negative counts as zero.
    std::chrono::milliseconds min_refresh_interval{30000};
    /// Seeds the jitter of the backoff (a splitmix64 generator). Give each
    /// process its own seed (for example from `std::random_device`), or many
    /// clients that failed together retry together.
    std::uint64_t jitter_seed = 0;
};

/// What to do at an instant.
enum class refresh_action : std::uint8_t {
    use_current,   ///< use `current()`: it is valid and no refresh should start now
    refresh_ahead, ///< `current()` is valid, but a refresh should start now
    refresh,       ///< no valid token: refresh before use
    wait,          ///< no valid token, and a refresh is in flight
    fail,          ///< no valid token, and none may be fetched now: see `failure()`
};

/// The refresh state machine. Not thread-safe: one owner drives it.
class refresh_machine {
public:
    refresh_machine(client_credentials credentials, endpoint server, token_seed seed,
                    refresh_machine_options options = {})
        : credentials_(std::move(credentials)), server_(std::move(server)),
          options_(std::move(options)), rng_(options_.jitter_seed) {
        adopt(std::make_shared<const token_grant>(std::move(seed.grant_)));
    }

    /// The current grant (never null). Without an access token when seeded from
    /// a refresh token and not yet refreshed.
    const std::shared_ptr<const token_grant>& current() const noexcept { return current_; }
    /// The current access token's window under the expiry policy.
    const expiry_window& window() const noexcept { return window_; }
    /// Whether the current access token was rejected with `invalidate()`.
    bool rejected() const noexcept { return rejected_; }
    /// Whether `current()` holds an access token that is neither rejected nor
    /// expired at `now`.
    bool usable_at(time_point now) const noexcept { return state_at(now) != token_state::expired; }
    /// The current access token's state; absent or rejected tokens are expired.
    token_state state_at(time_point now) const noexcept {
        if (current_->access_token.empty() || rejected_) {
            return token_state::expired;
        }
        return window_.state_at(now);
    }

    bool in_flight() const noexcept { return in_flight_; }
    /// The remembered failure: the blocking one, the last transient one, or
    /// after a success whose token stops being usable before the next refresh
    /// may start, `errc::token_lifetime_too_short` (class `retry`; see the file comment).
    const std::optional<error>& failure() const noexcept { return failure_; }
    /// Whether a `reauthorize`, `configuration` or `usage` failure stops further
    /// refreshes until `reset()`.
    bool blocked() const noexcept { return blocked_; }
    /// After a transient failure, the earliest start of the next attempt
    /// (`time_point::min()` when there is no backoff).
    time_point retry_not_before() const noexcept { return retry_not_before_; }
    /// The earliest start of the next refresh after the last successful one
    /// (`issued_at + min_refresh_interval`; `time_point::min()` after a seed).
    time_point refresh_not_before() const noexcept { return refresh_not_before_; }
    /// How many refreshes failed in a row with a `retry` or `protocol` error
    /// (the exponent of the backoff); 0 after a success or `reset()`.
    std::uint32_t consecutive_failures() const noexcept { return consecutive_failures_; }
    /// The earliest instant at which `next()` may ask for a refresh while the
    /// current token is usable: `time_point::max()` when blocked or in flight.
    time_point next_attempt() const noexcept {
        if (blocked_ || in_flight_) {
            return time_point::max();
        }
        return retry_not_before_ > refresh_not_before_ ? retry_not_before_ : refresh_not_before_;
    }
    /// The grant rescued by the last `complete()`, when it failed but the answer
    /// carried a new refresh token (`grant_result::salvaged()`); null otherwise.
    /// Its `access_token` is EMPTY and its `refresh_token` is the one `current()`
    /// now holds: persist it (the server has retired the one that was sent).
    /// Cleared by the next `begin_refresh()`, `complete()` or `reset()`.
    const std::shared_ptr<const token_grant>& salvaged() const noexcept { return salvaged_; }

    /// What to do at `now` (see `refresh_action`).
    refresh_action next(time_point now) const noexcept {
        switch (state_at(now)) {
        case token_state::fresh:
            return refresh_action::use_current;
        case token_state::refresh_soon:
            return now >= next_attempt() ? refresh_action::refresh_ahead
                                         : refresh_action::use_current;
        case token_state::expired:
            break;
        }
        if (in_flight_) {
            return refresh_action::wait;
        }
        if (blocked_ || (failure_ && now < retry_not_before_)) {
            return refresh_action::fail;
        }
        // A token that expired by the clock, too soon after the last refresh:
        // failure() holds the short-lifetime error (set by complete()).
        if (!rejected_ && failure_ && now < refresh_not_before_) {
            return refresh_action::fail;
        }
        return refresh_action::refresh;
    }

    /// Starts a refresh of `current()`'s refresh token, whatever `next()` says
    /// (backoff and `min_refresh_interval` are `next()`'s advice):
    /// the request to send. Read the clock right before sending it and pass
    /// that reading to `complete()`.
    /// @returns the blocking failure when blocked; `errc::invalid_argument`
    /// (class `usage`) when a refresh is already in flight; the errors of
    /// `build_refresh_request()`, which also block (the token cannot be sent).
    /// @warning The request's URL carries the refresh token: treat it as a secret.
    result<http_request> begin_refresh() {
        if (blocked_) {
            return *failure_;
        }
        if (in_flight_) {
            return error::usage(errc::invalid_argument);
        }
        salvaged_.reset();
        auto request = build_refresh_request(credentials_, server_, current_->refresh_token);
        if (!request) {
            failure_ = request.error();
            blocked_ = true;
            return request.error();
        }
        in_flight_ = true;
        return request;
    }

    /// Takes what the transport returned for the request of `begin_refresh()`.
    /// Parsed and stamped exactly as `refresh(transport, ..., previous_grant)`:
    /// a kept refresh token keeps its expiry.
    /// @param issued_at the clock reading taken before the request was sent
    /// @param completed_at the clock reading when the answer (or failure)
    ///        arrived; the backoff after a transient failure counts from it
    ///        (from `issued_at` when not given), and a new token not usable at
    ///        that instant counts as arrived expired
    /// @returns the new grant, now `current()`; or the classified error, now
    /// `failure()` (see the failure policy). `errc::invalid_argument` (class
    /// `usage`, state unchanged) when no refresh is in flight.
    /// - A new grant whose token is already unusable at `completed_at`, or stops
    ///   being usable before `refresh_not_before()`, is still returned (persist
    ///   it: its refresh token may be new) and `failure()` then holds
    ///   `errc::token_lifetime_too_short` (class `retry`): check `next()` or
    ///   `usable_at()` before handing its access token out.
    /// - On an error with a salvaged refresh token, `salvaged()` holds it and
    ///   `current()` keeps its access token with the new refresh token.
    /// @warning Persist the new grant's refresh token (or `salvaged()`) before
    /// relying on it: a rotated refresh token replaces the old one on the server.
    result<std::shared_ptr<const token_grant>>
    complete(const transport_result& response, time_point issued_at,
             std::optional<time_point> completed_at = std::nullopt) {
        if (!in_flight_) {
            return error::usage(errc::invalid_argument);
        }
        in_flight_ = false;
        salvaged_.reset();
        const time_point ended_at = completed_at.value_or(issued_at);
        const token_grant& used = *current_;
        auto grant = detail::finish_exchange(
            response, issued_at,
            {used.refresh_token.expose_secret(), credentials_.client_secret().expose_secret()},
            used.refresh_token.view(), used.refresh_expires_at, options_.client);
        if (!grant) {
            if (const auto& rescued = grant.salvaged();
                rescued && !rescued->refresh_token.empty()) {
                adopt_salvaged(*rescued);
            }
            record_failure(grant.error(), ended_at);
            return grant.error();
        }
        adopt(std::make_shared<const token_grant>(std::move(*grant)));
        refresh_not_before_ = detail::add_ticks_saturating(
            issued_at, detail::saturating_ticks(options_.min_refresh_interval));
        if (window_.usable_until <= ended_at || window_.usable_until < refresh_not_before_) {
            // docs/design.md, "tiny lifetimes": never hand out an expired token,
            // never refresh again before min_refresh_interval.
            failure_ = error::server(errc::token_lifetime_too_short, error_class::retry,
                                     response ? response->status : 0);
        }
        return current_;
    }

    /// Forgets the refresh in flight (its answer will not come): `complete()`
    /// would then refuse it. Nothing else changes.
    void abandon() noexcept { in_flight_ = false; }

    /// Marks the current access token as rejected when it is `seen_access_token`
    /// (compared in constant time): `next()` then asks for a refresh. A token
    /// the machine has already replaced is ignored, so many requests that failed
    /// with the same token cause one refresh.
    /// @returns whether the current token was marked.
    bool invalidate(secret_view seen_access_token) noexcept {
        const std::string_view current = current_->access_token.expose_secret();
        if (current.empty() || !constant_time_equals(current, seen_access_token.expose_secret())) {
            return false;
        }
        rejected_ = true;
        return true;
    }

    /// Starts over from `seed` (e.g. after the user authorized again): forgets
    /// the failure, the rejection and any refresh in flight.
    void reset(token_seed seed) {
        in_flight_ = false;
        salvaged_.reset();
        adopt(std::make_shared<const token_grant>(std::move(seed.grant_)));
    }

    const refresh_machine_options& options() const noexcept { return options_; }
    const client_credentials& credentials() const noexcept { return credentials_; }
    const endpoint& server() const noexcept { return server_; }

private:
    /// splitmix64 (Steele, Lea, Flood 2014): tiny, and every seed is good.
    struct splitmix64 {
        std::uint64_t state;
        explicit splitmix64(std::uint64_t seed) noexcept : state(seed) {}
        std::uint64_t next() noexcept {
            std::uint64_t z = (state += 0x9e3779b97f4a7c15u);
            z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
            z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
            return z ^ (z >> 31);
        }
        /// Uniform in [0, bound] (the modulo bias is below 2^-40 for the spans
        /// of a backoff, irrelevant for jitter).
        std::uint64_t up_to(std::uint64_t bound) noexcept {
            const std::uint64_t r = next();
            return bound == UINT64_MAX ? r : r % (bound + 1);
        }
    };

    void adopt(std::shared_ptr<const token_grant> grant) noexcept {
        current_ = std::move(grant);
        window_ = expiry_window_for(current_->issued_at, current_->expires_at, options_.expiry);
        rejected_ = false;
        failure_.reset();
        blocked_ = false;
        retry_not_before_ = time_point::min();
        refresh_not_before_ = time_point::min();
        consecutive_failures_ = 0;
    }

    /// The current grant with the salvaged refresh token: the access token (and
    /// its window and rejection) stay as they are.
    void adopt_salvaged(const token_grant& rescued) {
        auto merged = std::make_shared<token_grant>(*current_);
        merged->refresh_token = rescued.refresh_token;
        merged->refresh_token_rotated = true;
        merged->refresh_expires_at = rescued.refresh_expires_at;
        current_ = std::move(merged);
        salvaged_ = std::make_shared<const token_grant>(rescued);
    }

    void record_failure(const error& e, time_point ended_at) noexcept {
        failure_ = e;
        if (e.kind() == error_class::reauthorize || e.kind() == error_class::usage ||
            e.kind() == error_class::configuration) {
            blocked_ = true;
            return;
        }
        if (consecutive_failures_ < UINT32_MAX) {
            ++consecutive_failures_;
        }
        detail::tick_rep delay = backoff_ticks(consecutive_failures_);
        if (const auto after = e.retry_after()) {
            const detail::tick_rep asked = detail::saturating_ticks(*after);
            delay = asked > delay ? asked : delay;
        }
        retry_not_before_ = detail::add_ticks_saturating(ended_at, delay);
    }

    /// Full jitter: uniform in [base, min(cap, base * 2^(n-1))].
    detail::tick_rep backoff_ticks(std::uint32_t n) noexcept {
        const detail::tick_rep base = detail::saturating_ticks(options_.retry_backoff);
        detail::tick_rep cap = detail::saturating_ticks(options_.max_retry_backoff);
        cap = cap < base ? base : cap;
        detail::tick_rep ceiling = base;
        for (std::uint32_t i = 1; i < n && ceiling != 0 && ceiling < cap; ++i) {
            ceiling = ceiling > cap / 2 ? cap : ceiling * 2;
        }
        ceiling = ceiling > cap ? cap : ceiling;
        const auto span = static_cast<std::uint64_t>(ceiling - base);
        return base + static_cast<detail::tick_rep>(rng_.up_to(span));
    }

    client_credentials credentials_;
    endpoint server_;
    refresh_machine_options options_;
    std::shared_ptr<const token_grant> current_;
    expiry_window window_{};
    std::optional<error> failure_;
    std::shared_ptr<const token_grant> salvaged_;
    splitmix64 rng_;
    time_point retry_not_before_ = time_point::min();
    time_point refresh_not_before_ = time_point::min();
    std::uint32_t consecutive_failures_ = 0;
    bool rejected_ = false;
    bool in_flight_ = false;
    bool blocked_ = false;
};

} // namespace babelbird::inline v1
