/// @file refresh_machine.hpp
/// @brief The refresh state machine: no threads, no I/O. It says what to do at an
/// instant, hands out the refresh request, takes what the transport returned and
/// yields the new grant or the classified error. For async stacks (callback-based
/// HTTP clients, coroutines); `token_source` is the thread-safe cache over it.
///
/// @code
/// babelbird::refresh_machine m(credentials, server,
/// *babelbird::token_seed::from_refresh_token(rt)); switch (m.next(clock.now())) { case
/// babelbird::refresh_action::refresh:        // no usable token: refresh first case
/// babelbird::refresh_action::refresh_ahead: { // usable, but refresh now
///     auto request = m.begin_refresh();            // an error when nothing may be sent
///     const auto issued_at = clock.now();          // read before sending
///     http.async_send(*request, [&, issued_at](babelbird::transport_result r) {
///         auto grant = m.complete(r, issued_at);   // new grant, or the classified error
///         if (grant) persist((*grant)->refresh_token);
///     });
///     break;
/// }
/// case babelbird::refresh_action::use_current:    // m.current()->access_token
/// case babelbird::refresh_action::wait:           // a refresh is in flight
/// case babelbird::refresh_action::fail:           // *m.failure() says why
///     break;
/// }
/// @endcode
///
/// Failure policy:
/// - `reauthorize` and `usage` failures are remembered ("blocked"): `next()`
///   never asks for another refresh until `reset()` gives a new seed, so a
///   revoked refresh token is not sent again and again. The current token is
///   still used while it is valid.
/// - `retry` and `protocol` failures are remembered with a backoff: attempts
///   start at least `retry_backoff` after the failed attempt ended (or, when
///   its end time is not given, after it started). Meanwhile a still-valid token is used, and
///   without one `next()` says `fail` with that error.
#pragma once

#include "babelbird/detail/compiler_check.hpp"

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <utility>

#include "babelbird/client.hpp"
#include "babelbird/clock.hpp"
#include "babelbird/credentials.hpp"
#include "babelbird/endpoint.hpp"
#include "babelbird/error.hpp"
#include "babelbird/expiry.hpp"
#include "babelbird/http.hpp"
#include "babelbird/requests.hpp"
#include "babelbird/secret.hpp"
#include "babelbird/token.hpp"
#include "babelbird/transport.hpp"

namespace babelbird {

/// Where a token source or refresh machine starts: a stored refresh token (the
/// first use refreshes) or a whole stored grant (its access token is used while
/// it is valid), so a restarted service resumes without re-authorization.
class token_seed {
public:
    /// A seed without an access token.
    /// @param refresh_expires_at the stored token's expiry, if known
    /// @returns `errc::empty_value`, `errc::control_character` or
    /// `errc::token_not_header_safe` (class `usage`) for a bad token.
    static result<token_seed>
    from_refresh_token(secret_view refresh_token,
                       std::optional<time_point> refresh_expires_at = {}) {
        if (auto ok = detail::check_token_input(refresh_token.expose_secret()); !ok) {
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
    /// `from_refresh_token` for a non-empty token that is not header-safe.
    static result<token_seed> from_grant(token_grant grant) {
        if (grant.access_token.empty() && grant.refresh_token.empty()) {
            return error::usage(errc::empty_value);
        }
        for (const secret* s : {&grant.access_token, &grant.refresh_token}) {
            if (!s->empty()) {
                if (auto ok = detail::check_token_input(s->expose_secret()); !ok) {
                    return ok.error();
                }
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

/// Options of the refresh machine.
/// @warning `client.response` holds views (`envelope`, `fields`): they must
/// outlive the machine.
struct refresh_machine_options {
    client_options client{};
    expiry_policy expiry{};
    /// How long to wait after a `retry` or `protocol` failure before the next
    /// attempt. Zero retries at once.
    std::chrono::milliseconds retry_backoff{2000};
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
          options_(std::move(options)) {
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
    /// The remembered failure: the blocking one, or the last transient one.
    const std::optional<error>& failure() const noexcept { return failure_; }
    /// Whether a `reauthorize` or `usage` failure stops further refreshes
    /// until `reset()`.
    bool blocked() const noexcept { return blocked_; }
    /// After a transient failure, the earliest start of the next attempt.
    time_point retry_not_before() const noexcept { return retry_not_before_; }
    /// The earliest instant at which `next()` may ask for a refresh while the
    /// current token is usable: `time_point::max()` when blocked or in flight.
    time_point next_attempt() const noexcept {
        if (blocked_ || in_flight_) {
            return time_point::max();
        }
        return retry_not_before_;
    }

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
        return refresh_action::refresh;
    }

    /// Starts a refresh of `current()`'s refresh token, whatever `next()` says:
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
    ///        (from `issued_at` when not given)
    /// @returns the new grant, now `current()`; or the classified error, now
    /// `failure()` (see the failure policy). `errc::invalid_argument` (class
    /// `usage`, state unchanged) when no refresh is in flight.
    /// @warning Persist the new grant's refresh token before relying on it: a
    /// rotated refresh token replaces the old one on the server.
    result<std::shared_ptr<const token_grant>>
    complete(const transport_result& response, time_point issued_at,
             std::optional<time_point> completed_at = std::nullopt) {
        if (!in_flight_) {
            return error::usage(errc::invalid_argument);
        }
        in_flight_ = false;
        const token_grant& used = *current_;
        auto grant = detail::finish_exchange(
            response, issued_at,
            {used.refresh_token.expose_secret(), credentials_.client_secret().expose_secret()},
            used.refresh_token.view(), used.refresh_expires_at, options_.client);
        if (!grant) {
            record_failure(grant.error(), completed_at.value_or(issued_at));
            return grant.error();
        }
        adopt(std::make_shared<const token_grant>(std::move(*grant)));
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
        adopt(std::make_shared<const token_grant>(std::move(seed.grant_)));
    }

    const refresh_machine_options& options() const noexcept { return options_; }
    const client_credentials& credentials() const noexcept { return credentials_; }
    const endpoint& server() const noexcept { return server_; }

private:
    void adopt(std::shared_ptr<const token_grant> grant) noexcept {
        current_ = std::move(grant);
        window_ = expiry_window_for(current_->issued_at, current_->expires_at, options_.expiry);
        rejected_ = false;
        failure_.reset();
        blocked_ = false;
        retry_not_before_ = time_point::min();
    }

    void record_failure(const error& e, time_point ended_at) noexcept {
        failure_ = e;
        if (e.kind() == error_class::reauthorize || e.kind() == error_class::usage) {
            blocked_ = true;
        } else {
            retry_not_before_ = detail::add_ticks_saturating(
                ended_at, detail::saturating_ticks(options_.retry_backoff));
        }
    }

    client_credentials credentials_;
    endpoint server_;
    refresh_machine_options options_;
    std::shared_ptr<const token_grant> current_;
    expiry_window window_{};
    std::optional<error> failure_;
    time_point retry_not_before_ = time_point::min();
    bool rejected_ = false;
    bool in_flight_ = false;
    bool blocked_ = false;
};

} // namespace babelbird
