/// @file machines/token_lifecycle.hpp
/// @brief `token_lifecycle`: the whole life of one grant as a sans-I/O machine
/// (no threads, no locks, no clock reads, no I/O; deterministic). Events in,
/// actions out: a driver (`token_source`, or your own event loop) feeds it what
/// happened and does what it says. See docs/design.md, "Token lifecycle machine".
///
/// A driver over an event loop, in two functions. `m` is the machine, for
/// example `token_lifecycle m(credentials, server, *token_seed::from_grant(g))`;
/// `clock`, `publish_snapshot`, `resume`, `store` and `http` are yours
/// (tests/doc_examples/token_lifecycle.cpp compiles and runs this):
/// @code
/// void run(babelbird::lifecycle_actions a) {
///     if (a.publish) {
///         publish_snapshot(); // copy m.current(), m.window(), m.rejected() for readers
///     }
///     for (const babelbird::waiter_id w : a.complete) {
///         resume(w, *a.outcome); // one outcome for all
///     }
///     if (a.persist) { // store it, then report: nothing is published before
///         store.async_save(*a.persist, [](bool durable) { run(m.on_persisted(durable)); });
///     } else if (a.send) {
///         const babelbird::flight_id id = *a.send_flight;
///         const babelbird::time_point issued_at = clock.now(); // right before sending
///         http.async_send(*a.send, [id, issued_at](babelbird::transport_result r) {
///             run(m.on_response(id, r, issued_at, clock.now()));
///         });
///     }
/// }
///
/// // A caller wants a token: `w` is unique among the pending waiters.
/// void get_token(babelbird::waiter_id w) {
///     run(m.on_get(w, clock.now()));
/// }
/// @endcode
///
/// What a driver must do with a `lifecycle_actions`, in this order: republish
/// the read snapshot (`publish`), complete the listed waiters with `outcome`,
/// then either persist `persist` (and report `on_persisted()`) or send `send`
/// (and report `on_response()`, or `on_abandon()` if no answer will come). A set
/// that holds `persist` holds nothing else, so a grant is never published or
/// handed out before it is durable; `send` and `persist` never come together.
///
/// The rules (docs/design.md, "Token lifecycle machine"):
/// - `on_get(w, now)`: a token that is usable at `now` and not due
///   (`next(now) == use_current`) completes `w` at once with `current()`. When it
///   is due (refresh-soon, not in flight, past `next_attempt()`) the machine
///   sends, and `w` joins that refresh-ahead flight: it gets the new token, or
///   after a failure the old one while it is usable. Every other caller meanwhile
///   gets the old token at once. An expired (absent, rejected) token: with a
///   flight in progress `w` joins it; when a refresh may start, `send` and `w`
///   joins; otherwise (`next(now) == fail`) `w` is completed with `failure()`.
/// - One flight at a time: the machine never sends while a flight is in
///   progress (sending, or persisting its answer). Flight ids increase; an
///   `on_response()` or `on_abandon()` for any other id (after `on_reset()` or
///   `on_abandon()`) is ignored: empty actions.
/// - A flight's waiters share one outcome, decided when the flight ends, at the
///   latest clock reading the machine knows (the answer's `completed_at`, or a
///   later `now` of a waiter that joined): `current()` when it is usable at that
///   reading (the new token; after a failure, the old one), else the failure
///   (`errc::token_lifetime_too_short` for a new token that is already expired).
/// - Persist before publish (`token_lifecycle_options::persist_before_publish`,
///   default true): a new grant, or the grant salvaged from a rejected answer,
///   goes out as `persist`; the machine's state (and so `current()`) changes,
///   and the flight's waiters are completed, only at `on_persisted()`. Without it,
///   the answer is applied, published and handed out at once and no `persist`
///   is ever produced. One persist is outstanding at a time: a flight that ends
///   while `retry_persist()`'s persist is outstanding waits for it.
/// - `on_persisted(false)`: the grant is used anyway (the server may already
///   have retired the old refresh token), `persist_failed()` becomes true and the
///   grant stays `pending_persist()` until `retry_persist()` stores it or a later
///   grant supersedes it (a later durable persist clears it).
/// - Failures (docs/design.md, "Policies"): `reauthorize`, `configuration` and
///   `usage` failures block: the machine never sends again until `on_reset()`;
///   the current token is still served while usable. `retry` and `protocol`
///   failures back off: the n-th consecutive failure waits a uniformly random
///   delay ("full jitter") in `[retry_backoff, min(max_retry_backoff,
///   retry_backoff * 2^(n-1))]`, and at least the server's `Retry-After`
///   (capped at `max_retry_after`, default 1 hour), from
///   the failed attempt's `completed_at`; a success resets the count. The
///   randomness is a splitmix64 generator seeded by `jitter_seed`.
/// - Tiny lifetimes: after a refresh that succeeded at `issued_at`, the clock
///   starts the next one no earlier than `issued_at + min_refresh_interval`; in
///   between an expired token is never handed out: `failure()` holds
///   `errc::token_lifetime_too_short` (class `retry`). `on_invalidate()` skips
///   the interval (the server's word, not the clock's); backoff still applies.
/// - `on_invalidate(seen)`: marks the current access token rejected when it is
///   `seen` (constant-time compare), so the next `on_get()` refreshes; a token
///   already replaced or already rejected changes nothing (N requests that failed
///   with one token cause one refresh).
/// - Nothing lost: a failed answer that carried a new refresh token
///   (`grant_result::salvaged()`) is persisted (the salvaged grant: EMPTY access
///   token, the new refresh token), then adopted: the next request sends it and
///   never the old one; the current access token is kept until its own expiry.
///   The waiters get the failure (or the still-usable old token).
/// - `on_cancel(w)`: `w` leaves; the flight and the other waiters go on
///   (`has_waiter(w)` says beforehand whether `w` was still waiting).
/// - `on_abandon(id)`: the flight ends without an answer and without a recorded
///   failure; its waiters get `current()` while usable, else
///   `errc::transport_failure` (class `retry`).
/// - `on_reset(seed, now)`: starts over from `seed`, also during a flight (whose
///   answer is then ignored), forgetting the failure, the backoff, the rejection
///   and any grant pending persistence. The waiters of the dropped flight are
///   served under the new seed as if they asked at `now`: completed at once when
///   its token is usable and not due, else they join a new flight (`send`).
#pragma once

#include "babelbird/config/compiler_check.hpp"

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "babelbird/machines/exchange.hpp"
#include "babelbird/machines/expiry.hpp"
#include "babelbird/machines/store_record.hpp"
#include "babelbird/machines/store_steps.hpp"
#include "babelbird/requests/credentials.hpp"
#include "babelbird/requests/endpoint.hpp"
#include "babelbird/requests/token_requests.hpp"
#include "babelbird/values/clock.hpp"
#include "babelbird/values/error.hpp"
#include "babelbird/values/http.hpp"
#include "babelbird/values/secret.hpp"
#include "babelbird/values/token.hpp"

namespace babelbird::inline v1 {

/// Where a token source or lifecycle machine starts: a stored refresh token (the
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
    friend class token_lifecycle;
    explicit token_seed(token_grant grant) noexcept : grant_(std::move(grant)) {}
    token_grant grant_;
};

/// Options of `token_lifecycle` (see the file comment for the policies).
/// @warning `client.response` holds views (`envelope`, `fields`): they must
/// outlive the machine.
struct token_lifecycle_options {
    client_options client{};
    expiry_policy expiry{};
    /// The least wait after a `retry` or `protocol` failure before the next
    /// attempt, and the base of the exponential backoff. Zero retries at once
    /// (unless the server sent `Retry-After`). Negative counts as zero.
    std::chrono::milliseconds retry_backoff{2000};
    /// The cap of the exponential backoff (`Retry-After` may exceed it). A cap
    /// below `retry_backoff` counts as `retry_backoff`.
    std::chrono::milliseconds max_retry_backoff{std::chrono::minutes(5)};
    /// The longest server's `Retry-After` honoured: a longer one counts as
    /// this (a `Retry-After: 999999999` would otherwise stop refreshes for
    /// decades). The backoff still applies. Negative counts as zero.
    std::chrono::milliseconds max_retry_after{std::chrono::hours(1)};
    /// The least time between the start of a successful refresh and the start
    /// of the next refresh that the clock starts (not `on_invalidate()`). Zero
    /// disables it. Negative counts as zero.
    std::chrono::milliseconds min_refresh_interval{30000};
    /// Seeds the jitter of the backoff (a splitmix64 generator). Give each
    /// process its own seed (for example from `std::random_device`), or many
    /// clients that failed together retry together.
    std::uint64_t jitter_seed = 0;
    /// Whether every new (or salvaged) grant goes out as a `persist` action and
    /// is applied, published and handed out only after `on_persisted()`. When
    /// false no `persist` is ever produced (nothing is stored).
    bool persist_before_publish = true;
    /// Whether a shared store is used: every refresh then runs the protocol of
    /// docs/design.md, "Shared store", as `store` steps (see `store_step`).
    /// False: no `store` step and no `wait_until` are ever produced.
    bool shared_store = false;
    /// The lease owner in the store (an identifier, not a secret; unique per
    /// machine). Used only with `shared_store`.
    std::string store_owner{};
    /// The lease's time to live (at least 1 ms).
    std::chrono::milliseconds lease_ttl{15000};
    /// The mean interval between re-reads while another holds the lease
    /// (each wait uniform in [lease_poll / 2, lease_poll]; at least 1 ms).
    std::chrono::milliseconds lease_poll{250};
    /// The longest a refresh waits for another's lease (from the start of
    /// the protocol) before it fails with `errc::lease_wait_timeout` (class
    /// `retry`);
    /// empty: twice `lease_ttl`. A holder that renews its lease (the
    /// blocking `token_source` does) may hold it for its whole request: give
    /// waiters at least the transport's timeout plus `lease_ttl`.
    std::optional<std::chrono::milliseconds> lease_wait{};
};

/// What `on_get()` would do at an instant (a pure query: `token_lifecycle::next()`).
enum class refresh_action : std::uint8_t {
    use_current,   ///< complete with `current()`: valid, no refresh should start now
    refresh_ahead, ///< `current()` is valid, but a refresh starts now (the caller joins it)
    refresh,       ///< no valid token: a refresh starts (the caller joins it)
    wait,          ///< no valid token, and a flight is in progress (the caller joins it)
    fail,          ///< no valid token, and none may be fetched now: `failure()` says why
};

/// Chosen by the driver, unique among the pending waiters.
using waiter_id = std::uint64_t;
/// Chosen by the machine, increasing from 1.
using flight_id = std::uint64_t;

/// What a driver must do after an event (see the file comment for the order).
struct lifecycle_actions {
    /// With `send`: the id to report the answer under (`on_response`, `on_abandon`).
    std::optional<flight_id> send_flight;
    /// The refresh request to send. Read the clock right before sending: that
    /// reading is `on_response()`'s `issued_at`.
    /// @warning The URL carries the refresh token: treat it as a secret.
    std::optional<http_request> send;
    /// The grant to store durably; then report `on_persisted(durable)`. Its
    /// `access_token` is EMPTY when it was salvaged from a rejected answer.
    std::shared_ptr<const token_grant> persist;
    /// `current()`, `window()`, `rejected()` or `next_attempt()` changed:
    /// republish the read snapshot. One change is not flagged: a `send` (a
    /// flight starts) turns `next_attempt()` to `time_point::max()` while the
    /// rest of the snapshot stays; a driver that caches `next_attempt()` reads
    /// it again after any event without `publish`.
    bool publish = false;
    /// The waiters to complete, each with `outcome` (one outcome for all).
    std::vector<waiter_id> complete;
    /// Set whenever `complete` is not empty: a usable grant, or the error.
    std::optional<result<std::shared_ptr<const token_grant>>> outcome;
    /// Only with `token_lifecycle_options::shared_store`: the store operation
    /// to run; report its result with `on_store_result()` (machines/store_steps.hpp).
    std::optional<store_step> store;
    /// Only with `shared_store`: call `on_timer()` at (or after) this instant
    /// (a wait for another's lease).
    std::optional<time_point> wait_until;

    /// Whether there is nothing to do.
    bool empty() const noexcept {
        return !send && !persist && !publish && complete.empty() && !store && !wait_until;
    }
};

/// The token lifecycle machine (see the file comment). Not thread-safe: one
/// owner drives it (a driver holds a lock around it). Never throws except
/// `std::bad_alloc`; no event can put it in an inconsistent state.
class token_lifecycle {
public:
    token_lifecycle(client_credentials credentials, endpoint server, token_seed seed,
                    token_lifecycle_options options = {})
        : credentials_(std::move(credentials)), server_(std::move(server)),
          options_(std::move(options)), rng_(options_.jitter_seed) {
        adopt(std::make_shared<const token_grant>(std::move(seed.grant_)));
    }

    // --- events -----------------------------------------------------------

    /// A caller `w` wants a usable token; `now` is the driver's clock reading.
    /// @returns `complete = {w}` (with `current()` or `failure()`), or `send`
    /// with `w` joining that flight, or nothing (`w` joined the flight in progress).
    lifecycle_actions on_get(waiter_id w, time_point now) {
        lifecycle_actions a;
        if (phase_ != phase::idle) {
            if (state_at(now) != token_state::expired) {
                complete_one(a, w, current_);
            } else {
                waiters_.push_back(w);
                latest_ = later(latest_, now);
            }
            return a;
        }
        waiters_.push_back(w);
        latest_ = now;
        serve_waiters(a);
        return a;
    }

    /// The answer (or transport failure) for flight `id`.
    /// @param issued_at the clock reading taken right before sending
    /// @param completed_at the clock reading when it arrived: the backoff counts
    ///        from it, and a new token not usable then counts as arrived expired
    /// @returns `persist` (with `persist_before_publish` and a new or salvaged
    /// grant), else `publish` and the flight's waiters completed. Empty for an
    /// id that is not the flight in progress.
    lifecycle_actions on_response(flight_id id, const transport_result& response,
                                  time_point issued_at, time_point completed_at) {
        lifecycle_actions a;
        if (phase_ != phase::sending || id != flight_) {
            return a;
        }
        latest_ = later(latest_, completed_at);
        // The exchange of this flight read its answer: the token it sent is kept
        // when the server does not rotate it, and only its secrets are scrubbed.
        auto grant = exchange_->finish(response, issued_at);
        exchange_.reset();
        staged_ = {};
        staged_.issued_at = issued_at;
        staged_.completed_at = completed_at;
        staged_.status = response ? response->status : 0;
        if (grant) {
            staged_.grant = std::make_shared<const token_grant>(std::move(*grant));
        } else {
            staged_.failure = grant.error();
            if (const auto& rescued = grant.salvaged();
                rescued && !rescued->refresh_token.empty()) {
                staged_.grant = std::make_shared<const token_grant>(*rescued);
            }
        }
        if (options_.shared_store && !staged_.grant && staged_.failure &&
            staged_.failure->kind() == error_class::reauthorize) {
            phase_ = phase::store; // step 7: the grant may live on elsewhere
            on_refused(a, completed_at);
            return a;
        }
        if (staged_.grant && options_.persist_before_publish) {
            phase_ = phase::persisting;
            if (persist_ == persist_state::none) {
                issue_flight_persist(a);
            } else {
                flight_persist_queued_ = true; // after the outstanding one
            }
            return a;
        }
        if (options_.shared_store) {
            phase_ = phase::store;
            if (staged_.grant) {
                begin_commit(a);
            } else {
                apply_staged();
                finish(a);
            }
            return a;
        }
        apply_staged();
        finish_flight(a);
        return a;
    }

    /// The outstanding `persist` finished; `durable` says whether it is stored.
    /// @returns for the flight's persist: `publish` and its waiters completed;
    /// for `retry_persist()`'s: nothing, or the persist of a flight that ended
    /// meanwhile. Empty when no persist is outstanding.
    lifecycle_actions on_persisted(bool durable) {
        lifecycle_actions a;
        const persist_state was = persist_;
        persist_ = persist_state::none;
        switch (was) {
        case persist_state::none:
            return a;
        case persist_state::stale: // its grant was dropped by on_reset()
            break;
        case persist_state::retry:
            if (durable) {
                pending_persist_.reset();
                persist_failed_ = false;
            }
            break;
        case persist_state::flight:
            if (durable) {
                pending_persist_.reset();
                persist_failed_ = false;
            } else {
                pending_persist_ = staged_.grant;
                persist_failed_ = true;
            }
            if (options_.shared_store) { // the hook has its rescue copy: now the store
                phase_ = phase::store;
                begin_commit(a);
                return a;
            }
            apply_staged();
            finish_flight(a);
            return a;
        }
        if (flight_persist_queued_) {
            flight_persist_queued_ = false;
            issue_flight_persist(a);
        }
        return a;
    }

    /// The server rejected `seen_access_token` (a 401 on the file API): marks
    /// the current access token rejected when it is that token.
    /// @returns `publish` when it was marked; empty for another token (already
    /// replaced), an empty one, or one already marked.
    lifecycle_actions on_invalidate(secret_view seen_access_token) noexcept {
        lifecycle_actions a;
        const std::string_view mine = current_->access_token.expose_secret();
        if (rejected_ || mine.empty() ||
            !constant_time_equals(mine, seen_access_token.expose_secret())) {
            return a;
        }
        rejected_ = true;
        a.publish = true;
        return a;
    }

    /// Waiter `w` gives up (the driver completes it itself); the flight and the
    /// other waiters go on. Empty actions; an unknown `w` (already completed,
    /// or never seen) is ignored: `has_waiter(w)` before the call says which.
    lifecycle_actions on_cancel(waiter_id w) noexcept {
        for (auto it = waiters_.begin(); it != waiters_.end(); ++it) {
            if (*it == w) {
                waiters_.erase(it);
                break;
            }
        }
        return {};
    }

    /// The answer of flight `id` will never come (the transport threw, the
    /// driver shuts down): the flight ends, nothing is recorded as a failure.
    /// @returns `publish` and the waiters completed with `current()` while it
    /// is usable, else `errc::transport_failure` (class `retry`). Empty for an
    /// id that is not a flight waiting for its answer.
    lifecycle_actions on_abandon(flight_id id) {
        lifecycle_actions a;
        if (phase_ != phase::sending || id != flight_) {
            return a;
        }
        exchange_.reset();
        orphan_sent_.reset();
        orphan_queue_.clear();
        result<std::shared_ptr<const token_grant>> outcome =
            state_at(latest_) != token_state::expired
                ? result<std::shared_ptr<const token_grant>>(current_)
                : result<std::shared_ptr<const token_grant>>(
                      error::transport(errc::transport_failure));
        if (holds_lease_) {
            release_with(a, std::move(outcome));
            return a;
        }
        phase_ = phase::idle;
        stage_ = store_stage::none;
        a.publish = true;
        complete_all(a, std::move(outcome));
        return a;
    }

    /// Starts over from `seed` (e.g. after the user authorized again), also
    /// during a flight (its answer will be ignored): forgets the failure, the
    /// backoff, the rejection and any grant pending persistence.
    /// @returns `publish`, and for the waiters of a dropped flight what
    /// `on_get()` at `now` would give them (completed, or a new `send`).
    lifecycle_actions on_reset(token_seed seed, time_point now) {
        lifecycle_actions a;
        phase_ = phase::idle;
        staged_ = {};
        exchange_.reset();
        // A lease still held expires by its time to live; the seed is generation 0.
        stage_ = store_stage::none;
        holds_lease_ = false;
        orphan_sent_.reset();
        orphan_queue_.clear();
        store_gen_ = 0;
        flight_persist_queued_ = false;
        if (persist_ != persist_state::none) {
            persist_ = persist_state::stale;
        }
        pending_persist_.reset();
        persist_failed_ = false;
        adopt(std::make_shared<const token_grant>(std::move(seed.grant_)));
        a.publish = true;
        if (!waiters_.empty()) {
            latest_ = later(latest_, now);
            serve_waiters(a);
        }
        return a;
    }

    /// Asks to store `pending_persist()` again.
    /// @returns `persist` (report `on_persisted()`), or empty when nothing is
    /// pending or a persist is already outstanding.
    lifecycle_actions retry_persist() {
        lifecycle_actions a;
        if (persist_ == persist_state::none && pending_persist_) {
            persist_ = persist_state::retry;
            a.persist = pending_persist_;
        }
        return a;
    }

    /// The result of the `store_load` step (shared store only); `now` is the
    /// driver's clock reading when it arrived.
    /// @returns the next step, or the flight's end (waiters completed; a
    /// `store_release` when the lease is held). Empty when no load is awaited.
    lifecycle_actions on_store_result(const result<store_record>& r, time_point now) {
        lifecycle_actions a;
        if (stage_ != store_stage::loading && stage_ != store_stage::reloading &&
            stage_ != store_stage::refused_reload) {
            return a;
        }
        latest_ = later(latest_, now);
        if (!r) {
            store_failed(a, r.error(), now);
            return a;
        }
        const bool newer = r->gen > store_gen_;
        if (newer) {
            adopt_record(*r);
            a.publish = true;
        }
        if (r->state == grant_state::dead && r->gen >= store_gen_ && !blocked_) {
            mark_blocked_dead();
            a.publish = true;
        }
        if (blocked_) { // dead: reauthorize, no network call
            finish(a);
            return a;
        }
        if (newer && !due(latest_)) { // adopt, do not refresh (N-1 replicas)
            finish(a);
            return a;
        }
        switch (stage_) {
        case store_stage::loading: // step 2
            acquire(a);
            return a;
        case store_stage::reloading: // step 4
            record_intent(a, now);
            return a;
        case store_stage::refused_reload:
            if (newer) { // a sibling rotated: one more attempt with its token
                record_intent(a, now);
            } else {
                stage_ = store_stage::reading_orphans;
                a.store = store_read_orphans{};
            }
            return a;
        default:
            return a;
        }
    }

    /// The result of `store_acquire`, `store_release` or `store_remove_orphan`
    /// (shared store only). Empty when none of them is awaited.
    lifecycle_actions on_store_result(const result<bool>& r, time_point now) {
        lifecycle_actions a;
        latest_ = later(latest_, now);
        switch (stage_) {
        case store_stage::acquiring:
            if (!r) {
                store_failed(a, r.error(), now);
            } else if (*r) {
                holds_lease_ = true;
                stage_ = store_stage::reloading; // step 3
                a.store = store_load{};
            } else if (now >= wait_deadline_) {
                store_failed(a, lease_wait_timeout(), now);
            } else {
                const detail::tick_rep poll =
                    detail::saturating_ticks(at_least_1ms(options_.lease_poll));
                const detail::tick_rep half = poll / 2;
                const auto jitter = static_cast<detail::tick_rep>(
                    rng_.up_to(static_cast<std::uint64_t>(poll - half)));
                stage_ = store_stage::waiting;
                a.wait_until = detail::add_ticks_saturating(now, half + jitter);
            }
            return a;
        case store_stage::releasing:
            stage_ = store_stage::none;
            phase_ = phase::idle;
            a.publish = true;
            if (!waiters_.empty()) {
                serve_waiters(a);
            }
            return a;
        case store_stage::removing_orphan:
            if (orphan_sent_ && !orphan_done_) { // refused: the next one
                orphan_sent_.reset();
                try_next_orphan(a, now);
            } else {
                orphan_sent_.reset();
                finish(a);
            }
            return a;
        default:
            return {};
        }
    }

    /// The result of `store_commit` (shared store only). Empty when no commit
    /// is awaited.
    lifecycle_actions on_store_result(const result<commit_outcome>& r, time_point now) {
        lifecycle_actions a;
        latest_ = later(latest_, now);
        switch (stage_) {
        case store_stage::intent:
            if (!r) {
                store_failed(a, r.error(), now);
            } else if (r->applied) { // step 5
                store_gen_ = r->current.gen;
                const token_grant& from = orphan_sent_ ? *orphan_sent_ : *current_;
                if (!start_send(a, from)) {
                    finish(a);
                }
            } else { // the fence moved under the lease (it expired): re-read
                if (r->current.gen > store_gen_) {
                    adopt_record(r->current);
                    a.publish = true;
                }
                if (blocked_ || !due(latest_) || ++store_rounds_ > max_store_rounds) {
                    finish(a);
                } else {
                    record_intent(a, now);
                }
            }
            return a;
        case store_stage::committing:
            if (!r) { // the hook has the grant: use it, report the store's error
                apply_staged();
                failure_ = r.error();
                finish(a);
            } else if (r->applied) {
                store_gen_ = r->current.gen;
                apply_staged();
                commit_grant_.reset();
                if (orphan_sent_) { // it was rotated by this refresh
                    orphan_done_ = true;
                    stage_ = store_stage::removing_orphan;
                    a.store = store_remove_orphan{*orphan_sent_};
                    a.publish = true;
                } else {
                    finish(a);
                }
            } else if ((r->current.state == grant_state::dead || superseded(r->current)) &&
                       ++store_rounds_ <= max_store_rounds) {
                // A live token beats a dead mark (revive the record with it),
                // and beats a record still holding the refresh token it came
                // from (an intent written after this lease expired).
                store_gen_ = r->current.gen;
                a.store = store_commit{store_gen_, record_of(*commit_grant_)};
            } else { // another commit won: keep ours as an orphan, then adopt
                winner_ = r->current;
                stage_ = store_stage::stashing;
                a.store = store_stash_orphan{*commit_grant_};
            }
            return a;
        case store_stage::marking_dead:
            if (!r) {
                store_failed(a, *refused_, now);
            } else if (r->applied) {
                store_gen_ = r->current.gen;
                record_failure(*refused_, now);
                finish(a);
            } else { // someone committed meanwhile: theirs
                if (r->current.gen > store_gen_) {
                    adopt_record(r->current);
                }
                if (r->current.state == grant_state::dead && !blocked_) {
                    mark_blocked_dead();
                }
                if (!usable_at(latest_) && !blocked_) {
                    record_failure(*refused_, now);
                }
                a.publish = true;
                finish(a);
            }
            return a;
        default:
            return a;
        }
    }

    /// The result of `store_stash_orphan` (shared store only). Empty when none
    /// is awaited.
    lifecycle_actions on_store_result(const result<void>& r, time_point now) {
        lifecycle_actions a;
        if (stage_ != store_stage::stashing) {
            return a;
        }
        latest_ = later(latest_, now);
        // Stashed, or not (then the hook's copy is the only one left): the
        // winner's record is the shared truth either way.
        staged_ = {};
        commit_grant_.reset();
        orphan_sent_.reset();
        if (winner_.gen > store_gen_) {
            adopt_record(winner_);
        }
        if (winner_.state == grant_state::dead) {
            mark_blocked_dead();
        }
        if (!r) {
            failure_ = r.error();
        }
        a.publish = true;
        finish(a);
        return a;
    }

    /// The result of `store_read_orphans` (shared store only). Empty when none
    /// is awaited.
    lifecycle_actions on_store_result(const result<std::vector<token_grant>>& r, time_point now) {
        lifecycle_actions a;
        if (stage_ != store_stage::reading_orphans) {
            return a;
        }
        latest_ = later(latest_, now);
        if (!r) {
            store_failed(a, *refused_, now); // the refusal stands
            return a;
        }
        orphan_queue_ = *r;
        try_next_orphan(a, now);
        return a;
    }

    /// A `wait_until` instant came (shared store only): re-reads the record.
    /// Empty when no wait is in progress.
    lifecycle_actions on_timer(time_point now) {
        lifecycle_actions a;
        if (stage_ != store_stage::waiting) {
            return a;
        }
        latest_ = later(latest_, now);
        stage_ = store_stage::loading;
        a.store = store_load{};
        return a;
    }

    // --- queries ----------------------------------------------------------

    /// The current grant (never null). Without an access token when seeded from
    /// a refresh token and not yet refreshed.
    const std::shared_ptr<const token_grant>& current() const noexcept { return current_; }
    /// The current access token's window under the expiry policy.
    const expiry_window& window() const noexcept { return window_; }
    /// Whether the current access token was rejected with `on_invalidate()`.
    bool rejected() const noexcept { return rejected_; }
    /// The current access token's state; absent or rejected tokens are expired.
    token_state state_at(time_point now) const noexcept {
        if (current_->access_token.empty() || rejected_) {
            return token_state::expired;
        }
        return window_.state_at(now);
    }
    /// Whether `current()` holds an access token that is neither rejected nor
    /// expired at `now`.
    bool usable_at(time_point now) const noexcept { return state_at(now) != token_state::expired; }

    /// What `on_get()` would do at `now` (no state change).
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
        if (phase_ != phase::idle) {
            return refresh_action::wait;
        }
        if (blocked_ || (failure_ && now < retry_not_before_)) {
            return refresh_action::fail;
        }
        // Expired by the clock too soon after the last refresh: failure() holds
        // the short-lifetime error (docs/design.md, "tiny lifetimes").
        if (!rejected_ && failure_ && now < refresh_not_before_) {
            return refresh_action::fail;
        }
        return refresh_action::refresh;
    }

    /// Whether a flight is in progress: sent, or its answer being persisted.
    bool in_flight() const noexcept { return phase_ != phase::idle; }
    /// The id of the flight in progress.
    std::optional<flight_id> flight() const noexcept {
        return phase_ == phase::idle ? std::nullopt : std::optional<flight_id>(flight_);
    }
    /// The waiters of the flight in progress, in the order they joined.
    const std::vector<waiter_id>& waiters() const noexcept { return waiters_; }
    /// Whether `w` waits for the flight in progress (joined and not yet
    /// completed or cancelled): what `on_cancel(w)` would take out.
    bool has_waiter(waiter_id w) const noexcept {
        for (const waiter_id x : waiters_) {
            if (x == w) {
                return true;
            }
        }
        return false;
    }

    /// The remembered failure: the blocking one, the last transient one, or
    /// after a success whose token stops being usable before the next refresh
    /// may start, `errc::token_lifetime_too_short` (class `retry`).
    const std::optional<error>& failure() const noexcept { return failure_; }
    /// Whether a `reauthorize`, `configuration` or `usage` failure stops every
    /// further refresh until `on_reset()`.
    bool blocked() const noexcept { return blocked_; }
    /// After a transient failure, the earliest start of the next attempt
    /// (`time_point::min()` when there is no backoff).
    time_point retry_not_before() const noexcept { return retry_not_before_; }
    /// `issued_at + min_refresh_interval` of the last successful refresh
    /// (`time_point::min()` after a seed).
    time_point refresh_not_before() const noexcept { return refresh_not_before_; }
    /// How many refreshes failed in a row with a `retry` or `protocol` error
    /// (the exponent of the backoff); 0 after a success or `on_reset()`.
    std::uint32_t consecutive_failures() const noexcept { return consecutive_failures_; }
    /// The earliest instant at which a usable, refresh-soon token is refreshed
    /// ahead: `time_point::max()` when blocked or in flight.
    time_point next_attempt() const noexcept {
        if (blocked_ || phase_ != phase::idle) {
            return time_point::max();
        }
        return later(retry_not_before_, refresh_not_before_);
    }

    /// Whether the last persisted grant is not durable (see `pending_persist()`).
    bool persist_failed() const noexcept { return persist_failed_; }
    /// The grant whose persist failed, until `retry_persist()` stores it, a
    /// later grant is stored, or `on_reset()`; null otherwise.
    const std::shared_ptr<const token_grant>& pending_persist() const noexcept {
        return pending_persist_;
    }
    /// The store generation `current()` came from (0: the seed). Shared store only.
    std::uint64_t store_gen() const noexcept { return store_gen_; }
    /// Whether this machine holds the store's lease (from its acquisition to
    /// its `store_release` step): a driver that renews the lease while a
    /// refresh runs checks it.
    bool holds_lease() const noexcept { return holds_lease_; }
    /// Whether a `persist` action awaits its `on_persisted()`.
    bool persisting() const noexcept { return persist_ != persist_state::none; }

    const token_lifecycle_options& options() const noexcept { return options_; }
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

    enum class phase : std::uint8_t { idle, sending, persisting, store };
    enum class persist_state : std::uint8_t { none, flight, retry, stale };

    /// A flight's answer, applied at once or after its persist.
    struct staged_answer {
        std::shared_ptr<const token_grant> grant; ///< new, or salvaged (with `failure`)
        std::optional<error> failure;
        time_point issued_at{};
        time_point completed_at{};
        int status = 0;
    };

    static time_point later(time_point a, time_point b) noexcept { return a < b ? b : a; }

    static void complete_one(lifecycle_actions& a, waiter_id w,
                             result<std::shared_ptr<const token_grant>> outcome) {
        a.complete.push_back(w);
        a.outcome = std::move(outcome);
    }

    void complete_all(lifecycle_actions& a, result<std::shared_ptr<const token_grant>> outcome) {
        if (!waiters_.empty()) {
            a.complete = std::move(waiters_);
            a.outcome = std::move(outcome);
        }
        waiters_.clear();
        latest_ = time_point::min();
    }

    /// Requires no flight: decides for every waiter at `latest_` as `on_get()` does.
    void serve_waiters(lifecycle_actions& a) {
        switch (next(latest_)) {
        case refresh_action::use_current:
            complete_all(a, current_);
            return;
        case refresh_action::fail:
            complete_all(a, *failure_);
            return;
        case refresh_action::refresh_ahead:
        case refresh_action::refresh:
        case refresh_action::wait:
            break;
        }
        if (options_.shared_store) {
            start_protocol(a);
            return;
        }
        if (!start_send(a, *current_)) {
            if (usable_at(latest_)) {
                complete_all(a, current_);
            } else {
                complete_all(a, *failure_);
            }
        }
    }

    /// Sends a refresh with `from`'s refresh token; false (blocked with a
    /// `usage` failure, `publish`) when it cannot be sent.
    bool start_send(lifecycle_actions& a, const token_grant& from) {
        auto request = refresh_exchange::prepare(credentials_, server_, from.refresh_token.view(),
                                                 from.refresh_expires_at, options_.client);
        if (!request) { // the token cannot be sent: block (a usage error)
            failure_ = request.error();
            blocked_ = true;
            a.publish = true;
            return false;
        }
        phase_ = phase::sending;
        stage_ = store_stage::none;
        sent_from_ = from.refresh_token;
        a.send_flight = ++flight_;
        a.send = request->request();
        exchange_ = std::move(*request);
        return true;
    }

    void issue_flight_persist(lifecycle_actions& a) {
        persist_ = persist_state::flight;
        a.persist = staged_.grant;
    }

    /// Applies the flight's answer to the state.
    void apply_staged() {
        staged_answer s = std::move(staged_);
        staged_ = {};
        if (s.failure) {
            if (s.grant) {
                adopt_salvaged(*s.grant);
            }
            record_failure(*s.failure, s.completed_at);
            return;
        }
        adopt(std::move(s.grant));
        refresh_not_before_ = detail::add_ticks_saturating(
            s.issued_at, detail::saturating_ticks(options_.min_refresh_interval));
        if (window_.usable_until <= s.completed_at || window_.usable_until < refresh_not_before_) {
            // docs/design.md, "tiny lifetimes": never hand out an expired token,
            // never refresh again before min_refresh_interval.
            failure_ = short_lifetime(s.status);
        }
        last_status_ = s.status;
    }

    /// Ends the flight: publish, and its waiters get the one outcome.
    void finish_flight(lifecycle_actions& a) {
        phase_ = phase::idle;
        a.publish = true;
        if (usable_at(latest_)) {
            complete_all(a, current_);
        } else {
            complete_all(a, failure_ ? *failure_ : short_lifetime(last_status_));
        }
    }

    static error short_lifetime(int status) {
        return error::server(errc::token_lifetime_too_short, error_class::retry, status);
    }

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
            detail::tick_rep asked = detail::saturating_ticks(*after);
            const detail::tick_rep most = detail::saturating_ticks(options_.max_retry_after);
            asked = asked > most ? most : asked;
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

    // --- the shared-store protocol (docs/design.md, "Shared store") ---------

    enum class store_stage : std::uint8_t {
        none,
        loading,         ///< step 1 (and each re-read while waiting)
        acquiring,       ///< step 2
        waiting,         ///< step 2: `wait_until` given
        reloading,       ///< step 3, under the lease
        intent,          ///< step 4
        committing,      ///< step 6
        stashing,        ///< step 6, on a conflict
        refused_reload,  ///< step 7: re-read after `invalid_grant`
        reading_orphans, ///< step 7
        removing_orphan, ///< step 7: refused, or used
        marking_dead,    ///< step 7
        releasing,       ///< step 8
    };
    /// Conflicts and re-sends one flight tolerates before it gives up.
    static constexpr int max_store_rounds = 4;

    static std::chrono::milliseconds at_least_1ms(std::chrono::milliseconds d) noexcept {
        return d < std::chrono::milliseconds(1) ? std::chrono::milliseconds(1) : d;
    }
    static error lease_wait_timeout() noexcept {
        return error(errc::lease_wait_timeout, error_class::retry, error_origin::transport);
    }
    /// The error of a record marked dead: as the server's `invalid_grant`.
    static error dead_error() noexcept {
        return error::server(errc::oauth_error_response, error_class::reauthorize, 0,
                             oauth_error::invalid_grant);
    }

    /// Whether a refresh should run at `now` (what `next()` says when idle).
    bool due(time_point now) const noexcept {
        switch (state_at(now)) {
        case token_state::fresh:
            return false;
        case token_state::refresh_soon:
            return now >= later(retry_not_before_, refresh_not_before_);
        case token_state::expired:
            break;
        }
        return true;
    }

    void start_protocol(lifecycle_actions& a) {
        phase_ = phase::store;
        stage_ = store_stage::loading;
        store_rounds_ = 0;
        holds_lease_ = false;
        orphan_queue_.clear();
        orphan_sent_.reset();
        orphan_done_ = false;
        refused_.reset();
        commit_grant_.reset();
        wait_deadline_ = detail::add_ticks_saturating(
            latest_, options_.lease_wait
                         ? detail::saturating_ticks(at_least_1ms(*options_.lease_wait))
                         : 2 * detail::saturating_ticks(at_least_1ms(options_.lease_ttl)));
        a.store = store_load{};
    }

    void acquire(lifecycle_actions& a) {
        stage_ = store_stage::acquiring;
        a.store = store_acquire{options_.store_owner, at_least_1ms(options_.lease_ttl)};
    }

    /// Step 4: the intent, fenced on the generation read under the lease. An
    /// empty store (gen 0) is seeded here with this machine's grant.
    void record_intent(lifecycle_actions& a, time_point now) {
        stage_ = store_stage::intent;
        store_record next = record_of(*current_);
        next.pending = pending_refresh{options_.store_owner, store_gen_, now};
        a.store = store_commit{store_gen_, std::move(next)};
    }

    static store_record record_of(const token_grant& g) {
        store_record r;
        r.grant = g;
        return r;
    }

    /// Whether `r` holds the refresh token this flight rotated: a grant the
    /// server issued for it is newer than anything in `r`.
    bool superseded(const store_record& r) const noexcept {
        return r.grant && !sent_from_.empty() &&
               constant_time_equals(r.grant->refresh_token.expose_secret(),
                                    sent_from_.expose_secret());
    }

    /// A newer record's grant becomes `current()`; its `dead` mark blocks.
    void adopt_record(const store_record& r) {
        store_gen_ = r.gen;
        if (r.grant) {
            // A newer generation may hold the same access token (a sibling's
            // intent, step 4): the server's 401 for it still stands.
            const bool still_rejected =
                rejected_ && constant_time_equals(r.grant->access_token.expose_secret(),
                                                  current_->access_token.expose_secret());
            adopt(std::make_shared<const token_grant>(*r.grant));
            rejected_ = still_rejected;
            // As if this machine had run that refresh: not again before the interval.
            refresh_not_before_ = detail::add_ticks_saturating(
                r.grant->issued_at, detail::saturating_ticks(options_.min_refresh_interval));
        }
        if (r.state == grant_state::dead) {
            mark_blocked_dead();
        }
    }

    void mark_blocked_dead() noexcept {
        failure_ = dead_error();
        blocked_ = true;
    }

    /// A store operation failed (class `retry`): backoff, end the flight.
    void store_failed(lifecycle_actions& a, const error& e, time_point now) {
        if (staged_.grant) { // never lose a grant the server issued
            apply_staged();
        }
        record_failure(e, now);
        a.publish = true;
        finish(a);
    }

    /// Step 6: commit the grant the server just issued (the hook already has it).
    void begin_commit(lifecycle_actions& a) {
        if (staged_.failure) { // salvaged: the access token stays, the refresh token is new
            auto merged = std::make_shared<token_grant>(*current_);
            merged->refresh_token = staged_.grant->refresh_token;
            merged->refresh_token_rotated = true;
            merged->refresh_expires_at = staged_.grant->refresh_expires_at;
            commit_grant_ = std::move(merged);
        } else {
            commit_grant_ = staged_.grant;
        }
        stage_ = store_stage::committing;
        a.store = store_commit{store_gen_, record_of(*commit_grant_)};
    }

    /// Step 7: the server refused the refresh token sent.
    void on_refused(lifecycle_actions& a, time_point now) {
        if (!refused_) {
            refused_ = staged_.failure;
        }
        if (orphan_sent_) { // that orphan is dead: drop it, try the next
            orphan_done_ = false;
            stage_ = store_stage::removing_orphan;
            a.store = store_remove_orphan{*orphan_sent_};
            staged_ = {};
            return;
        }
        staged_ = {};
        if (++store_rounds_ > max_store_rounds) {
            record_failure(*refused_, now);
            finish(a);
            return;
        }
        stage_ = store_stage::refused_reload;
        a.store = store_load{};
    }

    void try_next_orphan(lifecycle_actions& a, time_point now) {
        while (!orphan_queue_.empty()) {
            orphan_sent_ = std::move(orphan_queue_.front());
            orphan_queue_.erase(orphan_queue_.begin());
            orphan_done_ = false;
            if (start_send(a, *orphan_sent_)) {
                return;
            }
            blocked_ = false; // an orphan that cannot be sent is skipped, not fatal
            failure_.reset();
        }
        orphan_sent_.reset();
        // No orphan left: mark the record dead, once, for everyone.
        stage_ = store_stage::marking_dead;
        store_record dead = record_of(*current_);
        dead.state = grant_state::dead;
        a.store = store_commit{store_gen_, std::move(dead)};
        (void)now;
    }

    /// Ends the flight: its waiters get `current()` or the failure; a held
    /// lease is released first (step 8).
    void finish(lifecycle_actions& a) {
        result<std::shared_ptr<const token_grant>> outcome =
            usable_at(latest_) ? result<std::shared_ptr<const token_grant>>(current_)
                               : result<std::shared_ptr<const token_grant>>(
                                     failure_ ? *failure_ : short_lifetime(last_status_));
        if (holds_lease_) {
            release_with(a, std::move(outcome));
            return;
        }
        phase_ = phase::idle;
        stage_ = store_stage::none;
        a.publish = true;
        complete_all(a, std::move(outcome));
    }

    void release_with(lifecycle_actions& a, result<std::shared_ptr<const token_grant>> outcome) {
        holds_lease_ = false;
        phase_ = phase::store;
        stage_ = store_stage::releasing;
        a.store = store_release{options_.store_owner};
        a.publish = true;
        complete_all(a, std::move(outcome));
    }

    client_credentials credentials_;
    endpoint server_;
    token_lifecycle_options options_;
    std::shared_ptr<const token_grant> current_;
    expiry_window window_{};
    std::optional<error> failure_;
    splitmix64 rng_;
    time_point retry_not_before_ = time_point::min();
    time_point refresh_not_before_ = time_point::min();
    std::uint32_t consecutive_failures_ = 0;
    int last_status_ = 0;
    bool rejected_ = false;
    bool blocked_ = false;

    // The flight and its waiters. Invariant: no waiters without a flight.
    phase phase_ = phase::idle;
    flight_id flight_ = 0;
    std::vector<waiter_id> waiters_;
    /// The latest clock reading of the flight (its waiters' `now`, its answer's
    /// `completed_at`): its outcome is checked at this instant.
    time_point latest_ = time_point::min();
    staged_answer staged_;
    /// The exchange of the flight being sent (prepared request, the secrets to
    /// scrub from its answer); empty otherwise.
    std::optional<refresh_exchange> exchange_;

    // Persistence: one persist outstanding at a time.
    persist_state persist_ = persist_state::none;
    bool flight_persist_queued_ = false;
    bool persist_failed_ = false;
    std::shared_ptr<const token_grant> pending_persist_;

    // The shared-store protocol's state (only with options_.shared_store).
    store_stage stage_ = store_stage::none;
    /// The generation `current()` came from (0: the seed).
    std::uint64_t store_gen_ = 0;
    bool holds_lease_ = false;
    /// The orphan used or refused last is removed after this step.
    bool orphan_done_ = false;
    int store_rounds_ = 0;
    time_point wait_deadline_{};
    /// The grant being committed (step 6).
    std::shared_ptr<const token_grant> commit_grant_;
    /// The record that won a commit (step 6), adopted after the stash.
    store_record winner_;
    /// Step 7: the orphans still to try, and the one whose refresh is in flight.
    std::vector<token_grant> orphan_queue_;
    std::optional<token_grant> orphan_sent_;
    /// The refresh token of the flight's request (shared store only).
    secret sent_from_;
    /// Step 7: the server's refusal.
    std::optional<error> refused_;
};

} // namespace babelbird::inline v1
