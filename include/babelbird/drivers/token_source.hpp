/// @file drivers/token_source.hpp
/// @brief `token_source`: a thread-safe cache of the access token over the
/// refresh state machine, with one refresh in flight, refresh ahead of expiry,
/// 401 invalidation and a rotation hook.
///
/// @code
/// babelbird::token_source_options options;
/// options.on_rotate = [&](const babelbird::token_grant& g) {
///     return store.save(g.refresh_token.expose_secret()); // true when it is durable
/// };
/// babelbird::token_source source(transport, *credentials, *server,
///                                *babelbird::token_seed::from_refresh_token(stored), options);
/// auto token = source.get();             // from any thread
/// if (!token) { ... token.error().kind() says what to do ... }
/// send("Authorization: Bearer " + token->access_token().expose_secret());
/// if (status == 401) source.invalidate(token->access_token()); // then get() again
/// @endcode
///
/// Guarantees:
/// - `get()` returns an access token that is usable (not expired under the
///   expiry policy, not invalidated) at the clock reading it took, or an error.
/// - A reader of a still-valid token never waits on a refresh: the current
///   grant is an immutable snapshot; a reader copies the pointer to it under a
///   lock held only for that copy (never across a refresh, the hook, or the
///   refresh bookkeeping), checks its precomputed expiry and returns.
/// - At most one refresh is in flight. Callers that need it wait for it and all
///   receive its one outcome: the new token, or the same error.
/// - In the refresh-soon window one caller refreshes ahead while the others
///   keep getting the old token. If that refresh fails (any class) the old
///   token is still served while it is valid.
/// - After a `retry`/`protocol` failure the next attempt waits an exponential
///   backoff with full jitter (`retry_backoff` doubling per consecutive failure
///   up to `max_retry_backoff`, at least the server's `Retry-After`; reset by a
///   success). A `reauthorize`/`configuration`/`usage` failure is remembered
///   and never retried: the transport is not called again until `reset()`
///   gives a new seed. See refresh_machine.hpp for the exact rules.
/// - Tiny lifetimes (docs/design.md, "Policies"): refreshes that `get()` starts
///   because of the clock are at least `min_refresh_interval` apart, and
///   `get()` never returns a token that is expired at the reading it took. A
///   refresh whose token arrives already expired gives every caller of that
///   flight (the one that ran it and all waiters) the same error,
///   `errc::token_lifetime_too_short` with class `retry`; so does `get()` until the
///   interval has passed. `invalidate()` skips the interval.
/// - Nothing lost (docs/design.md, "Policies"): when a refresh fails but the
///   answer carried a new refresh token, the source adopts it (the next refresh
///   sends it, the old one is never sent again), persists it through the hook
///   and only then publishes it; the callers get the error. The current access
///   token stays in use until its own expiry: the server retired the refresh
///   token, not necessarily the access token.
/// - The transport is never called while holding a lock that readers need.
///
/// The rotation hook (`token_source_options::on_rotate`):
/// - called exactly once per successful refresh (rotated or not, see
///   `token_grant::refresh_token_rotated`), and once per failed refresh whose
///   answer carried a new refresh token (then with the salvaged grant: its
///   `access_token` is EMPTY, its `refresh_token` is the new one to store,
///   see `grant_result::salvaged()`), by the thread that ran the refresh,
///   never concurrently with itself, BEFORE any caller (that thread included)
///   can get the new grant;
/// - returns `true` when the grant is stored durably. On `false` the source
///   still uses the new grant (the server may already have retired the old
///   refresh token), `persist_failed()` becomes true, and the grant stays
///   pending until `retry_persist()` stores it or a later refresh supersedes it
///   (its hook call then carries the newer refresh token). `current()` is always
///   the latest grant, so no rotated refresh token is lost.
/// - it may read `current()`, but must not call `get()`, `reset()` or
///   `retry_persist()` of the same source (they wait for the refresh that is
///   running the hook).
#pragma once

#include "babelbird/config/compiler_check.hpp"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <type_traits>
#include <utility>

#include "babelbird/drivers/transport.hpp"
#include "babelbird/machines/exchange.hpp"
#include "babelbird/machines/expiry.hpp"
#include "babelbird/machines/token_lifecycle.hpp"
#include "babelbird/requests/credentials.hpp"
#include "babelbird/requests/endpoint.hpp"
#include "babelbird/values/clock.hpp"
#include "babelbird/values/error.hpp"
#include "babelbird/values/secret.hpp"
#include "babelbird/values/token.hpp"

namespace babelbird::inline v1 {

/// A cheap, copyable reference to one immutable grant. It keeps the grant alive
/// (and its secrets in memory) while any copy exists.
class token_handle {
public:
    /// An empty handle: `access_token()` is empty.
    token_handle() noexcept = default;
    explicit token_handle(std::shared_ptr<const token_grant> grant) noexcept
        : grant_(std::move(grant)) {}

    /// The access token to send as `Authorization: Bearer ...`.
    secret_view access_token() const noexcept { return grant().access_token.view(); }
    /// The whole grant (expiry times, the refresh token to store, ...).
    const token_grant& grant() const noexcept { return grant_ ? *grant_ : empty_grant(); }
    /// Whether the handle refers to a grant.
    explicit operator bool() const noexcept { return grant_ != nullptr; }

private:
    static const token_grant& empty_grant() noexcept {
        static const token_grant empty{};
        return empty;
    }
    std::shared_ptr<const token_grant> grant_;
};

/// Receives each new grant; returns whether it was stored durably.
using rotation_hook = std::function<bool(const token_grant&)>;

/// Options of `token_source`.
/// @warning `client.response` holds views (`envelope`, `fields`): they must
/// outlive the source.
struct token_source_options {
    /// How answers are parsed and stamped (assumed lifetime, refresh-token lifetime).
    client_options client{};
    /// When a token is refreshed ahead and when it counts as expired.
    expiry_policy expiry{};
    /// The least time between attempts after a `retry`/`protocol` failure, and
    /// the base of the exponential backoff (see `refresh_machine_options`).
    std::chrono::milliseconds retry_backoff{2000};
    /// The cap of the exponential backoff (`Retry-After` may exceed it).
    std::chrono::milliseconds max_retry_backoff{std::chrono::minutes(5)};
    /// The least time between the start of a successful refresh and the next
    /// refresh started because of the clock (0 disables; see the file comment).
    std::chrono::milliseconds min_refresh_interval{30000};
    /// The seed of the backoff jitter; empty: a per-source seed from the
    /// clocks, the source's address and a process-wide counter.
    std::optional<std::uint64_t> jitter_seed{};
    /// Called with each new grant before anyone can use it (see the file comment).
    rotation_hook on_rotate{};
};

/// A thread-safe source of valid access tokens (see the file comment).
///
/// @tparam Transport a `babelbird::transport`, stored by value (use a reference
///         type or a pointer wrapper to share one). Called from whichever thread
///         runs a refresh, never concurrently with itself.
/// @tparam Clock a `clock_source`, stored by value. `now()` is called from many
///         threads at once and must be safe for that.
template <class Transport, class Clock = system_clock_source>
class token_source {
    static_assert(detail::check_transport<std::remove_cvref_t<Transport>>(),
                  "babelbird: token_source needs a transport");
    static_assert(clock_source<std::remove_reference_t<Clock>>,
                  "babelbird: the clock must have now() returning babelbird::time_point");

public:
    token_source(Transport transport, client_credentials credentials, endpoint server,
                 token_seed seed, token_source_options options = {}, Clock clock = Clock{})
        : transport_(std::forward<Transport>(transport)), clock_(std::forward<Clock>(clock)),
          on_rotate_(std::move(options.on_rotate)),
          machine_(std::move(credentials), std::move(server), std::move(seed),
                   refresh_machine_options{
                       std::move(options.client), options.expiry, options.retry_backoff,
                       options.max_retry_backoff, options.min_refresh_interval,
                       options.jitter_seed ? *options.jitter_seed : default_seed()}) {
        publish(make_snapshot());
    }

    token_source(const token_source&) = delete;
    token_source& operator=(const token_source&) = delete;

    /// A usable access token: the cached one, or a refreshed one.
    /// Thread-safe; a reader of a valid token takes no lock held across a refresh.
    /// @returns the error of the refresh that was needed: `reauthorize` (the
    /// user must authorize again; remembered until `reset()`), `configuration`
    /// (fix the client's settings; remembered until `reset()`), `retry` (try
    /// later; remembered for the backoff; `errc::token_lifetime_too_short` when the
    /// server's token lifetime is too short to use and `min_refresh_interval`
    /// has not passed), `protocol`, or `usage` (the seed cannot be sent).
    result<token_handle> get() {
        const time_point now = clock_.now();
        std::shared_ptr<const snapshot> snap = load_snapshot();
        if (snap->usable_at(now)) {
            if (now < snap->window.refresh_from || !snap->claim_ahead(now)) {
                return handle_of(std::move(snap));
            }
        }
        return get_slow(now);
    }

    /// Reports that the server rejected `seen_access_token` (a 401 on the file
    /// API). Forces a refresh only if it is still the cached token; a token that
    /// was already replaced is ignored, so N requests failing with the same
    /// token cause one refresh.
    void invalidate(secret_view seen_access_token) {
        if (!load_snapshot()->holds(seen_access_token)) {
            return;
        }
        std::lock_guard lock(mutex_);
        const auto snap = load_snapshot();
        if (snap->holds(seen_access_token)) {
            snap->rejected.store(true, std::memory_order_release);
            machine_.invalidate(seen_access_token);
        }
    }

    /// The latest grant, usable or not (e.g. to store it, or to show expiry
    /// times). Without an access token before the first refresh of a refresh
    /// token seed.
    token_handle current() const { return handle_of(load_snapshot()); }

    /// The state of the cached access token at `now` (absent or invalidated
    /// tokens are expired).
    token_state state_at(time_point now) const {
        const auto snap = load_snapshot();
        if (snap->grant->access_token.empty() || snap->rejected.load(std::memory_order_acquire)) {
            return token_state::expired;
        }
        return snap->window.state_at(now);
    }

    /// The remembered failure of the last refresh, if it failed.
    std::optional<error> last_error() const {
        std::lock_guard lock(mutex_);
        return machine_.failure();
    }

    /// Whether the hook failed to store the latest grant (see `retry_persist()`).
    bool persist_failed() const noexcept { return persist_failed_.load(std::memory_order_acquire); }

    /// Calls the hook again with the pending grant, if any.
    /// @returns whether nothing is pending any more.
    bool retry_persist() {
        std::lock_guard lock(persist_mutex_);
        if (!unpersisted_) {
            return true;
        }
        if (!on_rotate_ || on_rotate_(*unpersisted_)) {
            unpersisted_.reset();
            persist_failed_.store(false, std::memory_order_release);
            return true;
        }
        return false;
    }

    /// Starts over from `seed` (e.g. after the user authorized again): waits for
    /// a refresh in flight, then forgets the remembered failure and any grant
    /// still pending persistence (store `current()` first if it matters).
    void reset(token_seed seed) {
        std::unique_lock lock(mutex_);
        done_.wait(lock, [this] { return flight_ == nullptr; });
        machine_.reset(std::move(seed));
        publish(make_snapshot());
        std::lock_guard persist(persist_mutex_);
        unpersisted_.reset();
        persist_failed_.store(false, std::memory_order_release);
    }

private:
    /// One published grant with its precomputed window. Immutable except for
    /// two atomic flags that readers update without a lock.
    struct snapshot {
        std::shared_ptr<const token_grant> grant;
        expiry_window window;
        /// Set by `invalidate()`: the server rejected this token.
        mutable std::atomic<bool> rejected{false};
        /// The earliest instant (in ticks) at which a reader may claim the
        /// refresh ahead; a claim sets it to the maximum.
        mutable std::atomic<detail::tick_rep> next_ahead{0};

        bool usable_at(time_point now) const noexcept {
            return !grant->access_token.empty() && now < window.usable_until &&
                   !rejected.load(std::memory_order_acquire);
        }
        bool holds(secret_view token) const noexcept {
            const std::string_view mine = grant->access_token.expose_secret();
            return !mine.empty() && constant_time_equals(mine, token.expose_secret());
        }
        /// Lets exactly one reader through to start the refresh ahead.
        bool claim_ahead(time_point now) const noexcept {
            detail::tick_rep at = next_ahead.load(std::memory_order_relaxed);
            return now.time_since_epoch().count() >= at &&
                   next_ahead.compare_exchange_strong(at, detail::max_ticks,
                                                      std::memory_order_acq_rel);
        }
        void set_next_ahead(time_point t) const noexcept {
            next_ahead.store(t.time_since_epoch().count(), std::memory_order_release);
        }
    };

    /// The one refresh in flight; its waiters share its outcome.
    struct flight {
        bool done = false;
        result<token_handle> outcome{error::transport(errc::transport_failure)};
    };

    std::shared_ptr<const snapshot> load_snapshot() const {
        std::lock_guard lock(snapshot_mutex_);
        return published_;
    }
    void publish(std::shared_ptr<const snapshot> snap) {
        {
            std::lock_guard lock(snapshot_mutex_);
            published_.swap(snap);
        }
        // The previous snapshot, if this was its last reference, is freed here,
        // outside the lock.
    }

    static token_handle handle_of(std::shared_ptr<const snapshot> snap) noexcept {
        const token_grant* grant = snap->grant.get();
        // Aliasing: the handle keeps the snapshot (and so the grant) alive.
        return token_handle(std::shared_ptr<const token_grant>(std::move(snap), grant));
    }

    /// Requires `mutex_`.
    std::shared_ptr<const snapshot> make_snapshot() const {
        auto snap = std::make_shared<snapshot>();
        snap->grant = machine_.current();
        snap->window = machine_.window();
        snap->rejected.store(machine_.rejected(), std::memory_order_relaxed);
        snap->set_next_ahead(machine_.next_attempt());
        return snap;
    }

    result<token_handle> get_slow(time_point now) {
        std::unique_lock lock(mutex_);
        auto snap = load_snapshot();
        const bool usable = snap->usable_at(now);
        if (flight_ != nullptr) {
            if (usable) {
                return handle_of(std::move(snap));
            }
            const std::shared_ptr<flight> f = flight_;
            done_.wait(lock, [&f] { return f->done; });
            // The outcome was checked at the flight's end; a waiter whose
            // reading is later (a slow waiter, a tiny lifetime) checks again.
            if (f->outcome) {
                const token_grant& g = f->outcome->grant();
                if (expiry_window_for(g.issued_at, g.expires_at, machine_.options().expiry)
                        .state_at(now) == token_state::expired) {
                    return machine_.failure().value_or(
                        error::server(errc::token_lifetime_too_short, error_class::retry, 0));
                }
            }
            return f->outcome;
        }
        switch (machine_.next(now)) {
        case refresh_action::refresh_ahead: {
            auto fresh = run_flight(lock);
            // A failed refresh ahead: the old token is still served while
            // valid, from the published snapshot (it carries a salvaged
            // refresh token, if any).
            if (!fresh && usable) {
                auto latest = load_snapshot();
                if (latest->holds(snap->grant->access_token.view()) &&
                    latest->usable_at(clock_.now())) {
                    return handle_of(std::move(latest));
                }
            }
            return fresh;
        }
        case refresh_action::refresh:
            return run_flight(lock);
        case refresh_action::fail:
            return *machine_.failure();
        case refresh_action::use_current:
        case refresh_action::wait:
            break;
        }
        if (!usable) { // not reached: the snapshot mirrors the machine
            return run_flight(lock);
        }
        // Valid, and no refresh may start yet (blocked or backing off).
        snap->set_next_ahead(machine_.next_attempt());
        return handle_of(std::move(snap));
    }

    /// Runs one refresh: requires `lock` held and no flight; returns with
    /// `lock` released. The transport and the hook run without the lock.
    result<token_handle> run_flight(std::unique_lock<std::mutex>& lock) {
        const auto f = std::make_shared<flight>();
        flight_ = f;
        // Ends the flight if the transport or the hook throws (the library
        // itself never does), so that waiters are not stranded.
        struct unwind_guard {
            token_source* self;
            std::unique_lock<std::mutex>* lock;
            flight* f;
            bool armed = true;
            ~unwind_guard() {
                if (armed) {
                    if (!lock->owns_lock()) {
                        lock->lock();
                    }
                    self->machine_.abandon();
                    self->end_flight(*f, nullptr, time_point{});
                    lock->unlock();
                }
            }
        } guard{this, &lock, f.get()};

        std::shared_ptr<const token_grant> fresh;
        time_point completed_at{};
        auto request = machine_.begin_refresh();
        if (!request) {
            f->outcome = request.error();
        } else {
            lock.unlock();
            const time_point issued_at = clock_.now();
            const transport_result response = transport_(*request);
            completed_at = clock_.now();
            lock.lock();
            auto grant = machine_.complete(response, issued_at, completed_at);
            // Persist before publish: a new grant, or on failure the refresh
            // token salvaged from the answer (its access token is empty).
            std::shared_ptr<const token_grant> to_persist;
            if (!grant) {
                f->outcome = grant.error();
                to_persist = machine_.salvaged();
            } else {
                fresh = std::move(*grant);
                to_persist = fresh;
            }
            if (to_persist) {
                lock.unlock();
                persist(to_persist);
                lock.lock();
            }
        }
        guard.armed = false;
        end_flight(*f, fresh, completed_at);
        lock.unlock();
        return f->outcome;
    }

    /// Calls the hook (outside `mutex_`, serialised with `retry_persist()`).
    void persist(const std::shared_ptr<const token_grant>& grant) {
        std::lock_guard lock(persist_mutex_);
        // Records the outcome on every path, a throwing hook included.
        struct record {
            token_source* self;
            const std::shared_ptr<const token_grant>* grant;
            bool stored = false;
            ~record() {
                if (stored) {
                    self->unpersisted_.reset();
                } else {
                    self->unpersisted_ = *grant;
                }
                self->persist_failed_.store(!stored, std::memory_order_release);
            }
        } outcome{this, &grant};
        outcome.stored = !on_rotate_ || on_rotate_(*grant);
    }

    /// Requires `mutex_`: publishes the machine's state, hands the flight its
    /// outcome and wakes the waiters. A new token that is not usable at
    /// `completed_at` is published (it is the current grant) but not handed
    /// out: the flight's outcome is the machine's short-lifetime error.
    void end_flight(flight& f, const std::shared_ptr<const token_grant>& fresh,
                    time_point completed_at) {
        auto snap = make_snapshot();
        if (fresh) {
            if (snap->usable_at(completed_at)) {
                f.outcome = handle_of(snap);
            } else {
                f.outcome = machine_.failure().value_or(
                    error::server(errc::token_lifetime_too_short, error_class::retry, 0));
            }
        }
        publish(std::move(snap));
        f.done = true;
        flight_.reset();
        done_.notify_all();
    }

    /// A seed that differs between sources and processes (no std::random_device:
    /// it may throw, and the library throws nothing).
    std::uint64_t default_seed() const noexcept {
        static std::atomic<std::uint64_t> counter{0};
        const auto mono =
            static_cast<std::uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count());
        const auto wall =
            static_cast<std::uint64_t>(std::chrono::system_clock::now().time_since_epoch().count());
        const auto self = static_cast<std::uint64_t>(reinterpret_cast<std::uintptr_t>(this));
        return mono ^ (wall << 1) ^ (self << 7) ^
               (counter.fetch_add(1, std::memory_order_relaxed) * 0x9e3779b97f4a7c15u);
    }

    Transport transport_;
    Clock clock_;
    rotation_hook on_rotate_;

    mutable std::mutex mutex_;
    std::condition_variable done_;
    refresh_machine machine_;        // guarded by mutex_
    std::shared_ptr<flight> flight_; // guarded by mutex_
    // The published snapshot. Its mutex is held only to copy or swap the
    // pointer: never across a refresh, the hook or `mutex_`'s critical sections.
    // (Not std::atomic<std::shared_ptr>: libstdc++ 12's load() ends with a
    // relaxed unlock, a race that ThreadSanitizer reports.)
    mutable std::mutex snapshot_mutex_;
    std::shared_ptr<const snapshot> published_;

    std::mutex persist_mutex_;
    std::shared_ptr<const token_grant> unpersisted_; // guarded by persist_mutex_
    std::atomic<bool> persist_failed_{false};
};

} // namespace babelbird::inline v1
