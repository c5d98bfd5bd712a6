/// @file drivers/token_source.hpp
/// @brief `token_source`: a thread-safe cache of the access token, with one
/// refresh in flight, refresh ahead of expiry, 401 invalidation and a rotation
/// hook. A thin blocking driver of `token_lifecycle` (machines/token_lifecycle.hpp),
/// which decides everything: a mutex around the machine, a condition variable
/// for the waiters, the transport and the hook called outside any lock.
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
///   That reading is taken after the token's snapshot was loaded (under the
///   lock on the slow path), so it is never older than the refresh that
///   brought the token: a token that arrived already expired is never handed
///   out, even to a thread that was descheduled across that refresh.
/// - A reader of a still-valid token never waits on a refresh and takes no
///   lock: the current grant is an immutable snapshot published through a
///   `detail::snapshot_cell` (drivers/snapshot_cell.hpp), which a reader loads
///   with one acquire load and a thread-private reference count; it checks the
///   precomputed expiry and returns. With a clock that has `now_upper_bound()`
///   (the default `system_clock_source` does: a coarse reading plus its
///   resolution) the fresh case needs no precise clock reading; when even that
///   bound is not clearly before the refresh-soon instant, `get()` decides on
///   `now()`, so the expiry policy is unchanged.
/// - Each thread that called `get()` keeps the last snapshot it read (the grant,
///   secrets included, still zeroed when freed) alive until its next read of a
///   source, `token_source<T, C>::release_thread_cache()`, or its exit;
///   `token_handle` copies keep a grant alive as before.
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
///   gives a new seed. See machines/token_lifecycle.hpp for the exact rules.
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
///   see `grant_result::salvaged()`), by the thread that ran the refresh (or,
///   when the refresh ended during a `retry_persist()`, by that caller), never
///   concurrently with itself, BEFORE any caller (that thread included) can
///   get the new grant;
/// - returns `true` when the grant is stored durably. On `false` the source
///   still uses the new grant (the server may already have retired the old
///   refresh token), `persist_failed()` becomes true, and the grant stays
///   pending until `retry_persist()` stores it or a later refresh supersedes it
///   (its hook call then carries the newer refresh token). `current()` is always
///   the latest grant, so no rotated refresh token is lost.
/// - it may read `current()`, but must not call `get()`, `reset()` or
///   `retry_persist()` of the same source (they wait for the refresh that is
///   running the hook).
///
/// A shared store (`token_source_options::store`, docs/design.md, "Shared
/// store"): several sources, in one process or many, share one grant.
/// @code
/// babelbird::token_source_options options;
/// options.store = std::make_shared<babelbird::any_token_store>(
///     std::in_place_type<babelbird::redis_token_store>, "127.0.0.1", 6379, "my-grant");
/// babelbird::token_source source(transport, *credentials, *server, *seed, options);
/// @endcode
/// - Every refresh that `get()` (or `invalidate()` then `get()`) needs runs the
///   protocol inside that `get()` call: it first loads the record and adopts a
///   newer one (so of N sources only the lease holder refreshes); it refreshes
///   only under the store's lease, with the refresh token read under it; it
///   commits the new grant with compare-and-set, after the rotation hook.
/// - The seed counts as generation 0. An empty store (gen 0) is seeded by the
///   first source that needs a refresh: under the lease, its intent commit
///   (step 4) writes its seed's grant as generation 1, then it refreshes and
///   commits generation 2. A source whose seed is older than the store's record
///   uses the record's grant, never its seed's.
/// - While the lease holder's refresh request runs (and its hook call before
///   the commit), a helper thread renews the lease every `lease_ttl / 3`
///   (`token_source_options::renew_lease`, on by default; stopped and joined
///   as soon as the transport or the hook returns; it takes no lock of the
///   source). A renewal that finds the lease lost, or fails, stops renewing:
///   the commit's compare-and-set still keeps every grant (the loser's as an
///   orphan). Without renewal `lease_ttl` must be longer than the transport's
///   whole timeout, or a lease that expires mid-request lets another source
///   send the same refresh token.
/// - A store that fails gives `store_error(...)` (class `retry`, with backoff);
///   a grant the server issued is never lost: the hook has it, and a failed
///   commit is reported, the grant kept as `current()`.
///
/// Destruction: like any object, the source may be destroyed only when no
/// call of a member is in progress. A refresh runs inside the `get()` call
/// that started it, its hook call included (a persist, inside `get()` or
/// `retry_persist()`), so once every call has returned no answer is
/// outstanding and every grant one brought has been through the hook: nothing
/// is lost at destruction. (`async_token_source`, whose refreshes outlive the calls,
/// hands a late answer's grant to its hook.)
#pragma once

#include "babelbird/config/compiler_check.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include "babelbird/drivers/snapshot_cell.hpp"
#include "babelbird/drivers/token_handle.hpp"
#include "babelbird/drivers/token_source_options.hpp"
#include "babelbird/drivers/token_store.hpp"
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

namespace detail {
/// Renews a store's lease from a thread of its own while a lease holder's
/// request (or its hook call) runs: `store.renew(owner, ttl)` every `ttl / 3`
/// (at least 1 ms) until `stop()`, or until a renewal answers `false` (the
/// lease was lost) or fails, which ends the renewals: the commit's
/// compare-and-set keeps a grant safe without the lease (docs/design.md,
/// "Shared store", step 5). The thread takes no lock but its own; `store`
/// must be safe to call from another thread while it lives, and must not
/// throw from `renew` (the library's stores never throw; an exception on that
/// thread ends the program).
class lease_renewer {
public:
    lease_renewer() = default;
    lease_renewer(const lease_renewer&) = delete;
    lease_renewer& operator=(const lease_renewer&) = delete;
    ~lease_renewer() { stop(); }

    /// Starts renewing. Requires: not started. `store` must outlive `stop()`.
    void start(any_token_store& store, std::string owner, std::chrono::milliseconds ttl) {
        const std::chrono::milliseconds lease = std::max(ttl, std::chrono::milliseconds(1));
        const std::chrono::milliseconds every = std::max(lease / 3, std::chrono::milliseconds(1));
        thread_ = std::thread([this, &store, owner = std::move(owner), lease, every] {
            std::unique_lock lock(mutex_);
            while (!stop_.wait_for(lock, every, [this] { return stopped_; })) {
                lock.unlock();
                const result<bool> renewed = store.renew(owner, lease);
                lock.lock();
                if (!renewed || !*renewed) {
                    return; // lost or failing: stop renewing, the commit's CAS decides
                }
            }
        });
    }

    /// Stops the renewals and waits for the thread (and a renewal in
    /// progress, bounded by the store's own timeout). Idempotent.
    void stop() noexcept {
        if (!thread_.joinable()) {
            return;
        }
        {
            std::lock_guard lock(mutex_);
            stopped_ = true;
        }
        stop_.notify_one();
        thread_.join();
    }

private:
    std::mutex mutex_;
    std::condition_variable stop_;
    bool stopped_ = false; // guarded by mutex_
    std::thread thread_;
};
} // namespace detail

/// Receives each new grant; returns whether it was stored durably.
using rotation_hook = std::function<bool(const token_grant&)>;

/// Options of `token_source` (drivers/token_source_options.hpp), with a
/// blocking hook.
using token_source_options = basic_token_source_options<rotation_hook>;

/// A thread-safe source of valid access tokens (see the file comment).
///
/// @tparam Transport a `babelbird::transport`, stored by value (use a reference
///         type or a pointer wrapper to share one). Called from whichever thread
///         runs a refresh, never concurrently with itself.
/// @tparam Clock a `clock_source`, stored by value. `now()` (and
///         `now_upper_bound()`, when it has one: a reading never earlier than
///         `now()`, see values/clock.hpp) is called from many threads at once
///         and must be safe for that; `get()`'s slow path and `reset()` call
///         `now()` under the source's lock, so it must not call the source.
///         If `now()` throws, the exception reaches the caller and no caller
///         is stranded, except for the reading taken when an answer has
///         arrived: there the reading taken before sending stands in for it,
///         so the answer (a rotated refresh token) is never lost.
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
          on_rotate_(std::move(options.on_rotate)), store_(options.store),
          renew_lease_(options.renew_lease), lease_ttl_(options.lease_ttl),
          machine_(std::move(credentials), std::move(server), std::move(seed),
                   detail::lifecycle_options_of(options, static_cast<bool>(on_rotate_),
                                                static_cast<bool>(options.store), this)) {
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
        // The snapshot first, then the clock: a reading taken before the load
        // may predate the grant loaded (a thread descheduled in between) and
        // vouch for a token that arrived already expired.
        std::shared_ptr<const snapshot> snap = load_snapshot();
        // A reading never earlier than now (the clock's cheap bound, or now()
        // for a clock without one): while even it is before refresh_from the
        // token is fresh; otherwise decide on the precise reading.
        const auto bound = detail::read_upper_bound(clock_);
        if (snap->usable_at(bound.at) && bound.at < snap->window.refresh_from) {
            return handle_of(std::move(snap));
        }
        const time_point now = bound.exact ? bound.at : clock_.now();
        if (snap->usable_at(now)) {
            if (now < snap->window.refresh_from || !snap->claim_ahead(now)) {
                return handle_of(std::move(snap));
            }
        }
        return get_slow();
    }

    /// Reports that the server rejected `seen_access_token` (a 401 on the file
    /// API). Forces a refresh only if it is still the cached token; a token that
    /// was already replaced is ignored, so N requests failing with the same
    /// token cause one refresh.
    void invalidate(secret_view seen_access_token) {
        if (!load_snapshot()->holds(seen_access_token)) {
            return; // already replaced: no lock needed to know it
        }
        std::unique_lock lock(mutex_);
        run(machine_.on_invalidate(seen_access_token), lock);
    }

    /// The latest grant, usable or not (e.g. to store it, or to show expiry
    /// times). Without an access token before the first refresh of a refresh
    /// token seed.
    token_handle current() const { return handle_of(load_snapshot()); }

    /// The state of the cached access token at `now` (absent or invalidated
    /// tokens are expired).
    token_state state_at(time_point now) const {
        const auto snap = load_snapshot();
        if (snap->grant->access_token.empty() || snap->rejected) {
            return token_state::expired;
        }
        return snap->window.state_at(now);
    }

    /// The remembered failure of the last refresh, if it failed. With a
    /// shared store, also set after a refresh whose grant `get()` handed out
    /// but whose commit (or orphan stash) failed: the store's error; the next
    /// refresh writes that grant (docs/design.md, "Shared store").
    std::optional<error> last_error() const {
        std::lock_guard lock(mutex_);
        return machine_.failure();
    }

    /// Whether the hook failed to store the latest grant (see `retry_persist()`).
    bool persist_failed() const noexcept { return persist_failed_.load(std::memory_order_acquire); }

    /// Calls the hook again with the pending grant, if any (after waiting for a
    /// hook call in progress).
    /// @returns whether nothing is pending any more.
    bool retry_persist() {
        std::unique_lock lock(mutex_);
        done_.wait(lock, [this] { return !machine_.persisting(); });
        run(machine_.retry_persist(), lock);
        return machine_.pending_persist() == nullptr;
    }

    /// Starts over from `seed` (e.g. after the user authorized again): waits for
    /// a refresh in flight (and its hook call), then forgets the remembered
    /// failure and any grant still pending persistence (store `current()` first
    /// if it matters).
    void reset(token_seed seed) {
        std::unique_lock lock(mutex_);
        done_.wait(lock, [this] { return !machine_.in_flight() && !machine_.persisting(); });
        run(machine_.on_reset(std::move(seed), clock_.now()), lock);
    }

    /// Frees the calling thread's cached snapshots of every token source (any
    /// `token_source` or `async_token_source`), and so the grants and secrets
    /// they keep alive (see the file comment), e.g. before a reader thread
    /// goes idle for long. The thread's next `get()` of each source takes the
    /// cell's slow path once (a short lock, one allocation). Affects only the
    /// calling thread; never touches a source, so any may be destroyed.
    static void release_thread_cache() noexcept {
        detail::snapshot_cell<snapshot>::release_thread_cache();
    }

private:
    /// One published grant with its precomputed window (drivers/token_handle.hpp).
    using snapshot = detail::grant_snapshot;

    /// Where a blocked `get()` receives its outcome. Guarded by `mutex_`.
    struct waiter_slot {
        bool done = false;
        result<token_handle> outcome{error::transport(errc::transport_failure)};
    };

    /// No lock and no shared reference count on the fast path (snapshot_cell.hpp).
    std::shared_ptr<const snapshot> load_snapshot() const { return published_.load(); }
    /// The previous snapshot is released outside the cell's mutex; reader
    /// threads free their copies at their next read (snapshot_cell.hpp).
    void publish(std::shared_ptr<const snapshot> snap) { published_.store(std::move(snap)); }

    static token_handle handle_of(std::shared_ptr<const snapshot> snap) noexcept {
        return detail::handle_of(std::move(snap));
    }

    /// Requires `mutex_`.
    std::shared_ptr<const snapshot> make_snapshot() const { return snapshot::of(machine_); }

    result<token_handle> get_slow() {
        std::unique_lock lock(mutex_);
        // Read under the lock, so never earlier than a reading the machine has
        // already seen (a refresh's completed_at, taken before it relocked): a
        // reading from before a refresh ended cannot vouch for its token.
        const time_point now = clock_.now();
        waiter_slot slot;
        const waiter_id id = ++last_waiter_;
        slots_.emplace_back(id, &slot);
        // Unregisters the slot if this call leaves early (an exception).
        struct slot_guard {
            token_source* self;
            waiter_id id;
            ~slot_guard() {
                if (self->take_slot(id) != nullptr) {
                    (void)self->machine_.on_cancel(id);
                }
            }
        } guard{this, id};
        lifecycle_actions actions = machine_.on_get(id, now);
        if (!actions.publish) {
            // This reader may have taken the refresh-ahead claim of the
            // published snapshot: it follows the machine's next attempt again.
            load_snapshot()->set_next_ahead(machine_.next_attempt());
        }
        run(std::move(actions), lock);
        done_.wait(lock, [&slot] { return slot.done; });
        return std::move(slot.outcome);
    }

    /// Requires `mutex_`: removes the slot of `id` from the list; null if absent.
    waiter_slot* take_slot(waiter_id id) noexcept {
        for (auto it = slots_.begin(); it != slots_.end(); ++it) {
            if (it->first == id) {
                waiter_slot* slot = it->second;
                slots_.erase(it);
                return slot;
            }
        }
        return nullptr;
    }

    /// Requires `mutex_`: publishes and completes as the machine says.
    void deliver(const lifecycle_actions& actions) {
        if (actions.publish) {
            publish(make_snapshot());
        }
        if (!actions.complete.empty() && actions.outcome) {
            const result<token_handle> outcome =
                *actions.outcome ? result<token_handle>(token_handle(**actions.outcome))
                                 : result<token_handle>(actions.outcome->error());
            for (const waiter_id id : actions.complete) {
                if (waiter_slot* slot = take_slot(id)) {
                    slot->outcome = outcome;
                    slot->done = true;
                }
            }
        }
        persist_failed_.store(machine_.persist_failed(), std::memory_order_release);
        done_.notify_all();
    }

    /// Runs the machine's actions until none is left: requires `lock` held and
    /// returns with it held. The transport and the hook run without it.
    void run(lifecycle_actions actions, std::unique_lock<std::mutex>& lock) {
        for (;;) {
            deliver(actions);
            if (actions.persist) {
                const std::shared_ptr<const token_grant> grant = std::move(actions.persist);
                unwind_guard guard{this, &lock, std::nullopt};
                // Declared after the guard: stopped before it relocks when unwinding.
                detail::lease_renewer renewer;
                std::optional<std::string> owner = lease_to_renew();
                lock.unlock();
                if (owner) {
                    renewer.start(*store_, std::move(*owner), lease_ttl_);
                }
                const bool durable = !on_rotate_ || on_rotate_(*grant);
                renewer.stop();
                lock.lock();
                guard.armed = false;
                actions = machine_.on_persisted(durable);
            } else if (actions.send) {
                const flight_id id = *actions.send_flight;
                const http_request request = std::move(*actions.send);
                unwind_guard guard{this, &lock, id};
                detail::lease_renewer renewer;
                std::optional<std::string> owner = lease_to_renew();
                lock.unlock();
                if (owner) {
                    renewer.start(*store_, std::move(*owner), lease_ttl_);
                }
                const time_point issued_at = clock_.now();
                const transport_result response = transport_(request);
                // A clock that throws here would lose the answer: see now_or.
                const time_point completed_at = detail::now_or(clock_, issued_at);
                renewer.stop();
                lock.lock();
                guard.armed = false;
                actions = machine_.on_response(id, response, issued_at, completed_at);
            } else if (actions.store && store_) {
                // The store runs without the lock, like the transport.
                const store_step step = std::move(*actions.store);
                lock.unlock();
                actions = run_store_step(step, lock);
            } else if (actions.wait_until && store_) {
                const time_point until = *actions.wait_until;
                lock.unlock();
                const time_point before = clock_.now();
                if (before < until) {
                    std::this_thread::sleep_for(until - before);
                }
                const time_point now = detail::now_or(clock_, until);
                lock.lock();
                actions = machine_.on_timer(now);
            } else {
                return;
            }
        }
    }

    /// Requires `mutex_`: the lease owner to renew while the next request or
    /// hook call runs (this source holds the lease and renews it), or none.
    std::optional<std::string> lease_to_renew() const {
        if (!renew_lease_ || !store_ || !machine_.holds_lease()) {
            return std::nullopt;
        }
        return machine_.options().store_owner;
    }

    /// Requires `lock` released; returns with it held: runs one store step
    /// (a store that throws leaves the machine waiting for this result: the
    /// library's stores never throw) and reports its result to the machine.
    lifecycle_actions run_store_step(const store_step& step, std::unique_lock<std::mutex>& lock) {
        any_token_store& st = *store_;
        const auto report = [&](const auto& r) {
            const time_point now = detail::now_or(clock_, time_point{});
            lock.lock();
            return machine_.on_store_result(r, now);
        };
        return std::visit(
            [&](const auto& op) -> lifecycle_actions {
                using T = std::decay_t<decltype(op)>;
                if constexpr (std::is_same_v<T, store_load>) {
                    return report(st.load());
                } else if constexpr (std::is_same_v<T, store_acquire>) {
                    return report(st.try_acquire(op.owner, op.ttl));
                } else if constexpr (std::is_same_v<T, store_release>) {
                    return report(st.release(op.owner));
                } else if constexpr (std::is_same_v<T, store_commit>) {
                    return report(st.commit(op.expected_gen, op.record));
                } else if constexpr (std::is_same_v<T, store_stash_orphan>) {
                    return report(st.stash_orphan(op.grant));
                } else if constexpr (std::is_same_v<T, store_read_orphans>) {
                    return report(st.orphans());
                } else {
                    return report(st.remove_orphan(op.grant));
                }
            },
            step);
    }

    /// If the transport, the clock or the hook throws (the library itself never
    /// does), tells the machine (the flight is abandoned, the persist failed) so
    /// that no waiter is stranded, and leaves `mutex_` held for the unwinding.
    struct unwind_guard {
        token_source* self;
        std::unique_lock<std::mutex>* lock;
        std::optional<flight_id> flight;
        bool armed = true;
        ~unwind_guard() {
            if (!armed) {
                return;
            }
            if (!lock->owns_lock()) {
                lock->lock();
            }
            auto& m = self->machine_;
            lifecycle_actions actions = flight ? m.on_abandon(*flight) : m.on_persisted(false);
            // No more I/O while unwinding: every further persist fails, every send is abandoned.
            for (;;) {
                self->deliver(actions);
                if (actions.persist) {
                    actions = m.on_persisted(false);
                } else if (actions.send) {
                    actions = m.on_abandon(*actions.send_flight);
                } else {
                    break;
                }
            }
        }
    };

    Transport transport_;
    Clock clock_;
    rotation_hook on_rotate_;
    std::shared_ptr<any_token_store> store_; // empty: no shared store
    bool renew_lease_;                       // options.renew_lease
    std::chrono::milliseconds lease_ttl_;    // options.lease_ttl

    mutable std::mutex mutex_;
    std::condition_variable done_;
    token_lifecycle machine_;                               // guarded by mutex_
    std::vector<std::pair<waiter_id, waiter_slot*>> slots_; // guarded by mutex_
    waiter_id last_waiter_ = 0;                             // guarded by mutex_
    // The published snapshot: readers load it without a lock or a shared
    // count; its mutex is held only to swap the pointer, never across a
    // refresh, the hook or `mutex_`'s critical sections (snapshot_cell.hpp).
    // (Not std::atomic<std::shared_ptr>: libstdc++ 12's load() ends with a
    // relaxed unlock, a race that ThreadSanitizer reports.)
    detail::snapshot_cell<snapshot> published_;

    std::atomic<bool> persist_failed_{false}; // mirrors machine_.persist_failed()
};

} // namespace babelbird::inline v1
