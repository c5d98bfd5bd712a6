/// @file drivers/async_token_source.hpp
/// @brief `async_token_source`: `token_source`'s guarantees without blocking a
/// thread. A driver of `token_lifecycle` (machines/token_lifecycle.hpp) over an
/// `async_transport` and an `executor` (drivers/async_transport.hpp): a mutex
/// around the machine (never held while calling the transport, the hook or the
/// executor), the waiters' completions kept until the machine completes them,
/// and every completion run through `executor.post` (docs/design.md, "Drivers").
///
/// @code
/// babelbird::async_token_source_options options;
/// options.on_rotate = [&](std::shared_ptr<const babelbird::token_grant> g,
///                         babelbird::persist_completion done) {
///     store.async_save(g->refresh_token.expose_secret(),
///                      [done = std::move(done)](bool ok) mutable { done(ok); });
/// };
/// babelbird::async_token_source source(transport, executor, *credentials, *server,
///                                      *babelbird::token_seed::from_refresh_token(stored),
///                                      std::move(options));
/// source.async_get([](babelbird::result<babelbird::token_handle> token) {
///     if (!token) { ... token.error().kind() says what to do ... }
///     ... send with "Authorization: Bearer " + token->access_token().expose_secret() ...
/// });
/// @endcode
///
/// Guarantees (those of `token_source`, see drivers/token_source.hpp, plus):
/// - Every completion of `async_get` runs exactly once, through `executor.post`:
///   never inside `async_get`, never inside the transport's `async_send` or the
///   hook, never under a lock of the source.
/// - A reader of a usable token that is not due reads the published snapshot
///   (no lock: drivers/snapshot_cell.hpp) and posts its completion.
/// - At most one refresh is in flight; the first caller that needs one starts
///   it (`async_send`, called after the source's lock is dropped), later ones
///   join it, and all receive its one outcome. In the refresh-soon window one
///   caller joins a refresh ahead while the others get the old token; if that
///   refresh fails, the old token is still served while it is usable.
/// - A transport (or hook) that calls its completion inside `async_send` (or
///   the hook call) neither deadlocks nor recurses: the driver notices and
///   carries on in its own loop after the call returns.
/// - A completion the transport destroys without calling counts as "no answer
///   will come" (`token_lifecycle::on_abandon`): the waiters get the old token
///   while usable, else `errc::transport_failure`. A hook completion destroyed
///   uncalled counts as `durable == false`.
/// - `cancel()` on the handle `async_get` returned completes that waiter (via
///   `post`) with `cancelled_error()`; the refresh and the other waiters go on.
/// - Destroying the source completes every pending waiter with
///   `cancelled_error()` (via `post`, from the destructor). A refresh still in
///   flight keeps the source's shared state alive (its completion holds a
///   reference). Nothing lost (docs/design.md, "Policies"): when its answer
///   arrives after the destructor, a new grant in it (or the refresh token
///   salvaged from a rejected answer) still goes to the rotation hook, as does
///   the grant of a refresh whose persist was queued behind an outstanding
///   `retry_persist()`; the hook's `done` may then be called or dropped, it
///   only ends the persist. Nothing else happens after the destructor: no
///   send, no `post`, no completion. So the executor must accept `post` until
///   the destructor returns, the hook (and what it captures) must stay callable
///   while a completion handed to the transport or the hook is alive, and the
///   transport must call or destroy its completion eventually (a transport held
///   BY VALUE that stores the completion inside itself keeps the state alive
///   until then).
///
/// A shared store (`async_token_source_options::async_store`, docs/design.md,
/// "Shared store"): the protocol `token_source` runs, asynchronously.
/// @code
/// babelbird::any_token_store redis(std::in_place_type<babelbird::redis_token_store>,
///                                  "127.0.0.1", 6379, "my-grant");
/// babelbird::asio::executor_adapter on_pool(blocking_pool.get_executor()); // may block
/// babelbird::async_token_source_options options;
/// options.async_store = std::make_shared<babelbird::any_async_token_store>(
///     babelbird::store_on_executor<babelbird::any_token_store, decltype(on_pool)>(redis,
///                                                                             on_pool));
/// options.schedule_after = babelbird::asio::timer_scheduler(io.get_executor());
/// @endcode
/// - Each store step of the machine starts the matching `async_*` operation
///   (without the source's lock); its completion re-enters the source like
///   the transport's (also inside the call, or from any thread). A store
///   completion destroyed uncalled counts as `store_error(errc::transport_failure)`.
/// - The waits for another source's lease run on `schedule_after`; without
///   one such a refresh fails with `error::usage(errc::no_scheduler)`. A
///   timer function destroyed uncalled ends the wait as a failed store read.
/// - While the refresh request runs under the lease, the lease is renewed
///   every `lease_ttl / 3` through `schedule_after` (`renew_lease`, on by
///   default) until the answer arrives or a renewal fails.
/// - After the destructor: the scheduler is never called, no lease is
///   renewed, no step before a request's answer is started (a lease held
///   then expires by its time to live); a late answer's grant still goes to
///   the hook, then its commit (and the lease's release) to the store, so the
///   store (and what `store_on_executor` refers to) must stay usable while a
///   completion handed to the transport or the store is alive. `reset()`
///   drops the results of the store steps and waits still outstanding.
///
/// The rotation hook (`async_token_source_options::on_rotate`) is called as
/// `on_rotate(grant, done)` at the points where `token_source` calls its hook
/// (also after the source is destroyed, see above), never twice at once,
/// without a lock; the grant is applied, published and
/// handed out only after `done(durable)` has been called (from any thread, at
/// any later time, or inside the hook call). On `false` the grant is used
/// anyway and `persist_failed()` becomes true (see `token_source`). The hook
/// may call `current()` and `async_get()`; the latter's callers join the
/// refresh that is persisting.
///
/// Thread-safety: every member may be called from any thread at once, except
/// the destructor. The clock is read from many threads at once.
#pragma once

#include "babelbird/config/compiler_check.hpp"

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include "babelbird/drivers/async_transport.hpp"
#include "babelbird/drivers/snapshot_cell.hpp"
#include "babelbird/drivers/token_handle.hpp"
#include "babelbird/drivers/token_source_options.hpp"
#include "babelbird/drivers/token_store.hpp"
#include "babelbird/drivers/transport.hpp"
#include "babelbird/drivers/unique_function.hpp"
#include "babelbird/machines/exchange.hpp"
#include "babelbird/machines/expiry.hpp"
#include "babelbird/machines/store_record.hpp"
#include "babelbird/machines/store_steps.hpp"
#include "babelbird/machines/token_lifecycle.hpp"
#include "babelbird/requests/credentials.hpp"
#include "babelbird/requests/endpoint.hpp"
#include "babelbird/values/clock.hpp"
#include "babelbird/values/error.hpp"
#include "babelbird/values/http.hpp"
#include "babelbird/values/secret.hpp"
#include "babelbird/values/token.hpp"

namespace babelbird::inline v1 {

/// What `async_get` calls with the token (or the error), once, via `post`.
using token_completion = unique_function<void(result<token_handle>)>;

/// What the asynchronous rotation hook calls once the grant is stored:
/// `durable` says whether it is.
using persist_completion = unique_function<void(bool durable)>;

/// Receives each new grant and a completion to call when it is stored (see
/// the file comment).
using async_rotation_hook =
    unique_function<void(std::shared_ptr<const token_grant> grant, persist_completion done)>;

/// Options of `async_token_source` (drivers/token_source_options.hpp), with
/// an asynchronous hook.
using async_token_source_options = basic_token_source_options<async_rotation_hook>;

namespace detail {
/// What a cancellation handle reaches: the waiters of one source.
class async_waiter_registry {
public:
    virtual bool cancel_waiter(waiter_id id) = 0;

protected:
    ~async_waiter_registry() = default;
};
} // namespace detail

/// Cancels one pending `async_get`. Copyable, cheap; refers weakly to the
/// source, so it may outlive it.
class async_cancellation {
public:
    /// A handle that cancels nothing (what a reader of a usable token gets).
    async_cancellation() noexcept = default;
    async_cancellation(std::weak_ptr<detail::async_waiter_registry> registry, waiter_id id) noexcept
        : registry_(std::move(registry)), id_(id) {}

    /// Completes the waiter (via `post`) with `cancelled_error()` if it is still
    /// pending; the refresh it waits for and the other waiters go on.
    /// Thread-safe.
    /// @returns true when the waiter was pending and its completion is now
    /// posted with `cancelled_error()` (and will see nothing else); false when
    /// there was nothing to cancel: an empty handle, a waiter already completed
    /// (its outcome posted, whether or not it has run yet: it keeps that
    /// outcome), already cancelled, or cancelled by the source's destructor.
    bool cancel() const {
        if (const auto registry = registry_.lock()) {
            return registry->cancel_waiter(id_);
        }
        return false;
    }

private:
    std::weak_ptr<detail::async_waiter_registry> registry_;
    waiter_id id_ = 0;
};

namespace detail {

/// The shared state of an `async_token_source`: kept alive by the source and
/// by every completion handed to the transport or the hook.
template <class AsyncTransport, class Executor, class Clock>
class async_source_state final
    : public async_waiter_registry,
      public std::enable_shared_from_this<async_source_state<AsyncTransport, Executor, Clock>> {
public:
    async_source_state(AsyncTransport transport, Executor executor, Clock clock,
                       async_rotation_hook on_rotate, std::shared_ptr<any_async_token_store> store,
                       delay_scheduler schedule_after, bool renew_lease, token_lifecycle machine)
        : transport_(std::forward<AsyncTransport>(transport)),
          executor_(std::forward<Executor>(executor)), clock_(std::forward<Clock>(clock)),
          on_rotate_(std::move(on_rotate)), store_(std::move(store)),
          schedule_after_(std::move(schedule_after)), renew_lease_(renew_lease),
          machine_(std::move(machine)) {
        store_owner_ = machine_.options().store_owner;
        machine_lease_ttl_ = machine_.options().lease_ttl;
        if (machine_lease_ttl_ < std::chrono::milliseconds(1)) {
            machine_lease_ttl_ = std::chrono::milliseconds(1);
        }
        published_.store(make_snapshot());
    }

    template <class F>
    async_cancellation get(F&& completion) {
        const auto bound = read_upper_bound(clock_);
        std::shared_ptr<const grant_snapshot> snap = published_.load();
        if (snap->usable_at(bound.at) && bound.at < snap->window.refresh_from) {
            post_value(std::forward<F>(completion), std::move(snap));
            return {};
        }
        const time_point now = bound.exact ? bound.at : clock_.now();
        if (snap->usable_at(now) && (now < snap->window.refresh_from || !snap->claim_ahead(now))) {
            post_value(std::forward<F>(completion), std::move(snap));
            return {};
        }
        token_completion waiter(std::forward<F>(completion));
        ready_list ready(*this);
        waiter_id id = 0;
        {
            std::unique_lock lock(mutex_);
            if (closed_) { // the source is being destroyed
                ready.add(std::move(waiter), cancelled_error());
            } else {
                id = ++last_waiter_;
                waiters_.emplace_back(id, std::move(waiter));
                lifecycle_actions actions = machine_.on_get(id, now);
                if (!actions.publish) {
                    // This reader may have taken the claim: it follows the machine again.
                    published_.load()->set_next_ahead(machine_.next_attempt());
                }
                drive(std::move(actions), lock, ready);
            }
        }
        ready.post();
        if (id == 0) {
            return {};
        }
        return async_cancellation(std::weak_ptr<async_waiter_registry>(this->weak_from_this()), id);
    }

    bool cancel_waiter(waiter_id id) override {
        token_completion waiter;
        {
            std::lock_guard lock(mutex_);
            // The driver holds a completion exactly while the machine lists
            // its waiter (both change together under mutex_, and the
            // destructor cancels both), so the driver's list decides.
            for (auto it = waiters_.begin(); it != waiters_.end(); ++it) {
                if (it->first == id) {
                    waiter = std::move(it->second);
                    waiters_.erase(it);
                    (void)machine_.on_cancel(id);
                    break;
                }
            }
        }
        if (!waiter) {
            return false;
        }
        ready_list ready(*this);
        ready.add(std::move(waiter), cancelled_error());
        return true;
    }

    void invalidate(secret_view seen) {
        if (!published_.load()->holds(seen)) {
            return;
        }
        run_event([&] { return machine_.on_invalidate(seen); });
    }

    void reset(token_seed seed) {
        const time_point now = clock_.now();
        run_event([&] {
            // A store step or a wait still outstanding belongs to the dropped
            // flight: its result must not reach the next one.
            ++epoch_;
            stop_renewal();
            return machine_.on_reset(std::move(seed), now);
        });
    }

    void retry_persist() {
        run_event([&] { return machine_.retry_persist(); });
    }

    /// The source is gone: every waiter gets `cancelled_error()`. A late
    /// answer still reaches the machine, and its grant the hook (see `drive`).
    void close() {
        ready_list ready(*this);
        {
            std::lock_guard lock(mutex_);
            closed_ = true;
            stop_renewal();
            for (auto& w : waiters_) {
                (void)machine_.on_cancel(w.first);
                ready.add(std::move(w.second), cancelled_error());
            }
            waiters_.clear();
        }
    }

    std::shared_ptr<const grant_snapshot> snapshot() const { return published_.load(); }
    std::optional<error> last_error() const {
        std::lock_guard lock(mutex_);
        return machine_.failure();
    }
    bool persist_failed() const noexcept { return persist_failed_.load(std::memory_order_acquire); }
    Executor& executor() noexcept { return executor_; }

private:
    /// Completions the machine completed, posted once the lock is dropped
    /// (declared before the lock, so even an unwinding leaves none stranded).
    class ready_list {
    public:
        explicit ready_list(async_source_state& owner) noexcept : owner_(&owner) {}
        ready_list(const ready_list&) = delete;
        ready_list& operator=(const ready_list&) = delete;
        ~ready_list() { post(); }
        void add(token_completion completion, result<token_handle> outcome) {
            items_.emplace_back(std::move(completion), std::move(outcome));
        }
        void post() {
            auto items = std::move(items_);
            items_.clear();
            for (auto& [completion, outcome] : items) {
                owner_->executor_.post(
                    posted_work([c = std::move(completion), r = std::move(outcome)]() mutable {
                        c(std::move(r));
                    }));
            }
        }

    private:
        async_source_state* owner_;
        std::vector<std::pair<token_completion, result<token_handle>>> items_;
    };

    /// One exchange with the transport, the hook, the store or the timer,
    /// from its start until the machine is told how it ended. Guarded by
    /// `mutex_`.
    struct pending_op {
        enum class kind : std::uint8_t { send, persist, store, timer };
        enum class stage : std::uint8_t {
            starting, ///< inside the call that started it
            arrived,  ///< its completion ran (or died) inside that call
            waiting,  ///< the call returned; the completion has not run yet
            reported, ///< the machine was told
        };
        /// What a store operation answered (the type its step expects).
        using store_answer =
            std::variant<result<store_record>, result<bool>, result<commit_outcome>, result<void>,
                         result<std::vector<token_grant>>>;

        kind what = kind::persist;
        flight_id flight = 0;
        /// Valid until the completion runs (the async_transport contract).
        http_request request;
        time_point issued_at{};
        stage at = stage::starting;
        std::optional<transport_result> response; ///< empty: no answer will come
        time_point completed_at{};
        bool durable = false;
        /// The store step (its arguments live here while the store runs it).
        std::optional<store_step> step;
        std::optional<store_answer> answer;
        /// The timer's instant; whether it fired (false: dropped uncalled).
        time_point until{};
        bool fired = false;
        /// The source's `epoch_` when the step or the wait started.
        std::uint64_t epoch = 0;
    };

    /// The transport's completion: reports the answer; destroyed uncalled, it
    /// reports that none will come.
    struct send_done {
        std::shared_ptr<async_source_state> self;
        std::shared_ptr<pending_op> op;
        send_done(std::shared_ptr<async_source_state> s, std::shared_ptr<pending_op> o) noexcept
            : self(std::move(s)), op(std::move(o)) {}
        send_done(send_done&& other) noexcept = default;
        send_done& operator=(send_done&&) = delete;
        ~send_done() {
            if (self) {
                auto s = std::move(self);
                s->finish_send(*op, std::nullopt);
            }
        }
        void operator()(transport_result response) {
            if (self) {
                auto s = std::move(self);
                s->finish_send(*op, std::move(response));
            }
        }
    };

    /// The hook's completion; destroyed uncalled, it reports `durable == false`.
    struct persist_done {
        std::shared_ptr<async_source_state> self;
        std::shared_ptr<pending_op> op;
        persist_done(std::shared_ptr<async_source_state> s, std::shared_ptr<pending_op> o) noexcept
            : self(std::move(s)), op(std::move(o)) {}
        persist_done(persist_done&& other) noexcept = default;
        persist_done& operator=(persist_done&&) = delete;
        ~persist_done() {
            if (self) {
                auto s = std::move(self);
                s->finish(*op, time_point{}, [](pending_op& o) { o.durable = false; });
            }
        }
        void operator()(bool durable) {
            if (self) {
                auto s = std::move(self);
                s->finish(*op, time_point{}, [durable](pending_op& o) { o.durable = durable; });
            }
        }
    };

    /// A store operation's completion; destroyed uncalled, it reports
    /// `store_error(errc::transport_failure)`.
    template <class T>
    struct store_done {
        std::shared_ptr<async_source_state> self;
        std::shared_ptr<pending_op> op;
        store_done(std::shared_ptr<async_source_state> s, std::shared_ptr<pending_op> o) noexcept
            : self(std::move(s)), op(std::move(o)) {}
        store_done(store_done&& other) noexcept = default;
        store_done& operator=(store_done&&) = delete;
        ~store_done() {
            if (self) {
                (*this)(result<T>(store_error(errc::transport_failure)));
            }
        }
        void operator()(result<T> r) {
            if (self) {
                auto s = std::move(self);
                const time_point now = detail::now_or(s->clock_, time_point{});
                s->finish(*op, now, [&r](pending_op& o) { o.answer.emplace(std::move(r)); });
            }
        }
    };

    /// The timer's function; destroyed uncalled, the wait ends as a failed
    /// store read.
    struct timer_done {
        std::shared_ptr<async_source_state> self;
        std::shared_ptr<pending_op> op;
        timer_done(std::shared_ptr<async_source_state> s, std::shared_ptr<pending_op> o) noexcept
            : self(std::move(s)), op(std::move(o)) {}
        timer_done(timer_done&& other) noexcept = default;
        timer_done& operator=(timer_done&&) = delete;
        ~timer_done() {
            if (self) {
                auto s = std::move(self);
                const time_point now = detail::now_or(s->clock_, op->until);
                s->finish(*op, now, [](pending_op& o) { o.fired = false; });
            }
        }
        void operator()() {
            if (self) {
                auto s = std::move(self);
                const time_point now = detail::now_or(s->clock_, op->until);
                s->finish(*op, now, [](pending_op& o) { o.fired = true; });
            }
        }
    };

    /// One lease renewal chain (while one request is in flight); `active`
    /// is guarded by `mutex_`.
    struct renewal {
        bool active = true;
    };

    template <class F>
    void post_value(F&& completion, std::shared_ptr<const grant_snapshot> snap) {
        executor_.post(posted_work(
            [f = std::forward<F>(completion), handle = handle_of(std::move(snap))]() mutable {
                f(result<token_handle>(std::move(handle)));
            }));
    }

    template <class Event>
    void run_event(Event&& event) {
        ready_list ready(*this);
        {
            std::unique_lock lock(mutex_);
            if (closed_) {
                return;
            }
            drive(event(), lock, ready);
        }
    }

    /// Requires `mutex_`.
    std::shared_ptr<const grant_snapshot> make_snapshot() const {
        return grant_snapshot::of(machine_);
    }

    /// Requires `mutex_`: publishes, and moves the completions the machine
    /// completes into `ready` (posted after the lock is dropped).
    void deliver(const lifecycle_actions& actions, ready_list& ready) {
        if (actions.publish) {
            published_.store(make_snapshot());
        }
        if (!actions.complete.empty() && actions.outcome) {
            const result<token_handle> outcome =
                *actions.outcome ? result<token_handle>(token_handle(**actions.outcome))
                                 : result<token_handle>(actions.outcome->error());
            for (const waiter_id id : actions.complete) {
                for (auto it = waiters_.begin(); it != waiters_.end(); ++it) {
                    if (it->first == id) {
                        ready.add(std::move(it->second), outcome);
                        waiters_.erase(it);
                        break;
                    }
                }
            }
        }
        persist_failed_.store(machine_.persist_failed(), std::memory_order_release);
    }

    /// Requires `mutex_`: answers `step` with `e` (a store that cannot run it).
    lifecycle_actions fail_step(const store_step& step, const error& e, time_point now) {
        return std::visit(
            [&](const auto& s) -> lifecycle_actions {
                using T = std::decay_t<decltype(s)>;
                if constexpr (std::is_same_v<T, store_load>) {
                    return machine_.on_store_result(result<store_record>(e), now);
                } else if constexpr (std::is_same_v<T, store_commit>) {
                    return machine_.on_store_result(result<commit_outcome>(e), now);
                } else if constexpr (std::is_same_v<T, store_stash_orphan>) {
                    return machine_.on_store_result(result<void>(e), now);
                } else if constexpr (std::is_same_v<T, store_read_orphans>) {
                    return machine_.on_store_result(result<std::vector<token_grant>>(e), now);
                } else { // acquire, release, remove_orphan
                    return machine_.on_store_result(result<bool>(e), now);
                }
            },
            step);
    }

    /// Requires `mutex_`: a wait that cannot be timed (no scheduler, or its
    /// function died uncalled) ends as the store read after it failing with `e`.
    lifecycle_actions fail_wait(const error& e, time_point now) {
        lifecycle_actions a = machine_.on_timer(now);
        if (a.store) {
            const store_step step = std::move(*a.store);
            a.store.reset();
            lifecycle_actions b = fail_step(step, e, now);
            b.publish = b.publish || a.publish;
            return b;
        }
        return a;
    }

    /// Requires `mutex_`: ends the lease renewal of the request in flight.
    void stop_renewal() noexcept {
        if (renewal_) {
            renewal_->active = false;
            renewal_.reset();
        }
    }

    /// Requires `op.at == reported` and `mutex_`: the machine's event for it.
    lifecycle_actions report(pending_op& op) {
        switch (op.what) {
        case pending_op::kind::persist:
            return machine_.on_persisted(op.durable);
        case pending_op::kind::send:
            stop_renewal();
            if (!op.response) {
                return machine_.on_abandon(op.flight);
            }
            answered_ = true;
            return machine_.on_response(op.flight, *op.response, op.issued_at, op.completed_at);
        case pending_op::kind::store:
            if (op.epoch != epoch_) {
                return {};
            }
            return std::visit(
                [&](const auto& r) { return machine_.on_store_result(r, op.completed_at); },
                *op.answer);
        case pending_op::kind::timer:
            break;
        }
        if (op.epoch != epoch_) {
            return {};
        }
        return op.fired ? machine_.on_timer(op.completed_at)
                        : fail_wait(store_error(errc::transport_failure), op.completed_at);
    }

    /// Requires the lock released: starts the store operation of `op`.
    void start_store(const std::shared_ptr<pending_op>& op) {
        any_async_token_store& st = *store_;
        auto self = this->shared_from_this();
        std::visit(
            [&](const auto& s) {
                using T = std::decay_t<decltype(s)>;
                if constexpr (std::is_same_v<T, store_load>) {
                    st.async_load(store_completion<store_record>(
                        store_done<store_record>(std::move(self), op)));
                } else if constexpr (std::is_same_v<T, store_acquire>) {
                    st.async_try_acquire(
                        s.owner, s.ttl,
                        store_completion<bool>(store_done<bool>(std::move(self), op)));
                } else if constexpr (std::is_same_v<T, store_release>) {
                    st.async_release(s.owner,
                                     store_completion<bool>(store_done<bool>(std::move(self), op)));
                } else if constexpr (std::is_same_v<T, store_commit>) {
                    st.async_commit(s.expected_gen, s.record,
                                    store_completion<commit_outcome>(
                                        store_done<commit_outcome>(std::move(self), op)));
                } else if constexpr (std::is_same_v<T, store_stash_orphan>) {
                    st.async_stash_orphan(
                        s.grant, store_completion<void>(store_done<void>(std::move(self), op)));
                } else if constexpr (std::is_same_v<T, store_read_orphans>) {
                    st.async_orphans(store_completion<std::vector<token_grant>>(
                        store_done<std::vector<token_grant>>(std::move(self), op)));
                } else {
                    st.async_remove_orphan(
                        s.grant, store_completion<bool>(store_done<bool>(std::move(self), op)));
                }
            },
            *op->step);
    }

    /// Requires the lock released: the next renewal of `r` in a third of the
    /// lease's time to live.
    void schedule_renewal(const std::shared_ptr<renewal>& r) {
        const auto period = machine_lease_ttl_ / 3;
        schedule_after_(period < std::chrono::milliseconds(1) ? std::chrono::milliseconds(1)
                                                              : period,
                        unique_function<void()>([w = this->weak_from_this(), r] {
                            if (const auto s = w.lock()) {
                                s->renew(r);
                            }
                        }));
    }

    void renew(const std::shared_ptr<renewal>& r) {
        {
            std::lock_guard lock(mutex_);
            if (!r->active || closed_) {
                return;
            }
        }
        store_->async_renew(
            store_owner_, machine_lease_ttl_,
            store_completion<bool>([w = this->weak_from_this(), r](result<bool> held) {
                const auto s = w.lock();
                if (!s) {
                    return;
                }
                {
                    std::lock_guard lock(s->mutex_);
                    if (!r->active || s->closed_) {
                        return;
                    }
                    if (!held || !*held) { // lost: the commit's fence decides
                        r->active = false;
                        return;
                    }
                }
                s->schedule_renewal(r);
            }));
    }

    /// Runs the machine's actions until none is left or one waits for a
    /// completion: requires `lock` held and returns with it held. The
    /// transport, the hook, the store and the scheduler are called without
    /// it, after `ready` was posted; a completion that ran inside that call is
    /// picked up here (a loop, not a recursion). Once the source is closed it
    /// still persists a late answer's grant and runs the store steps after
    /// that answer (its commit: docs/design.md "nothing lost"), and releases
    /// the lease; it never sends (the machine only produces a send for a
    /// caller, and a closed source has none), never waits and never starts
    /// another step.
    void drive(lifecycle_actions actions, std::unique_lock<std::mutex>& lock, ready_list& ready) {
        for (;;) {
            deliver(actions, ready);
            if (closed_ && actions.send) {
                actions = machine_.on_abandon(*actions.send_flight);
                continue;
            }
            if (closed_ &&
                (actions.wait_until || (actions.store && !answered_ &&
                                        !std::holds_alternative<store_release>(*actions.store)))) {
                return;
            }
            if (actions.store && !store_) { // not produced: shared_store follows store_
                actions = fail_step(*actions.store, error::usage(errc::invalid_argument),
                                    detail::now_or(clock_, time_point{}));
                continue;
            }
            if (actions.wait_until && !schedule_after_) {
                actions = fail_wait(error::usage(errc::no_scheduler),
                                    detail::now_or(clock_, *actions.wait_until));
                continue;
            }
            if (!actions.persist && !actions.send && !actions.store && !actions.wait_until) {
                return;
            }
            auto op = std::make_shared<pending_op>();
            op->epoch = epoch_;
            std::shared_ptr<const token_grant> grant;
            std::shared_ptr<renewal> renewing;
            if (actions.persist) {
                grant = std::move(actions.persist);
            } else if (actions.send) {
                op->what = pending_op::kind::send;
                op->flight = *actions.send_flight;
                op->request = std::move(*actions.send);
                answered_ = false;
                stop_renewal();
                if (renew_lease_ && schedule_after_ && machine_.holds_lease()) {
                    renewal_ = std::make_shared<renewal>();
                    renewing = renewal_;
                }
            } else if (actions.store) {
                op->what = pending_op::kind::store;
                op->step = std::move(actions.store);
            } else {
                op->what = pending_op::kind::timer;
                op->until = *actions.wait_until;
            }
            start_guard guard{this, &lock, op.get(), &ready};
            lock.unlock();
            ready.post();
            switch (op->what) {
            case pending_op::kind::send:
                if (renewing) {
                    schedule_renewal(renewing);
                }
                op->issued_at = clock_.now();
                transport_.async_send(
                    op->request, transport_completion(send_done(this->shared_from_this(), op)));
                break;
            case pending_op::kind::persist:
                if (on_rotate_) {
                    on_rotate_(std::move(grant),
                               persist_completion(persist_done(this->shared_from_this(), op)));
                } else {
                    persist_done(this->shared_from_this(), op)(true);
                }
                break;
            case pending_op::kind::store:
                start_store(op);
                break;
            case pending_op::kind::timer: {
                const time_point now = clock_.now();
                const auto delay =
                    op->until > now ? std::chrono::ceil<std::chrono::milliseconds>(op->until - now)
                                    : std::chrono::milliseconds(0);
                schedule_after_(delay,
                                unique_function<void()>(timer_done(this->shared_from_this(), op)));
                break;
            }
            }
            lock.lock();
            guard.armed = false;
            if (op->at != pending_op::stage::arrived) {
                op->at = pending_op::stage::waiting;
                return;
            }
            op->at = pending_op::stage::reported;
            actions = report(*op);
        }
    }

    void finish_send(pending_op& op, std::optional<transport_result> response) {
        // A clock that throws here would lose the answer: see now_or.
        const time_point completed_at = detail::now_or(clock_, op.issued_at);
        finish(op, completed_at, [&response](pending_op& o) { o.response = std::move(response); });
    }

    /// A completion ran (or died uncalled): `fill` records its result in `op`
    /// (under the lock); then tell the machine, or leave it to the loop that
    /// is still inside the call that started it.
    template <class Fill>
    void finish(pending_op& op, time_point completed_at, Fill&& fill) {
        ready_list ready(*this);
        {
            std::unique_lock lock(mutex_);
            if (op.at == pending_op::stage::reported || op.at == pending_op::stage::arrived) {
                return;
            }
            fill(op);
            op.completed_at = completed_at;
            if (op.at == pending_op::stage::starting) {
                op.at = pending_op::stage::arrived;
                return;
            }
            op.at = pending_op::stage::reported;
            drive(report(op), lock, ready);
        }
    }

    /// If the transport, the hook, the store, the scheduler, the clock or the
    /// executor throws while an operation starts (the library itself never
    /// does), the machine is told (what the completion reported if it ran
    /// inside the call, else the flight abandoned, the persist not durable,
    /// the store step or the wait failed) so that no waiter is stranded; no
    /// further I/O is started while unwinding (a grant still to persist
    /// counts as not durable: `retry_persist()` hands it over; a store step
    /// fails). Leaves `mutex_` held for the unwinding (the caller's lock
    /// releases it, then its `ready_list` posts what was completed).
    struct start_guard {
        async_source_state* self;
        std::unique_lock<std::mutex>* lock;
        pending_op* op;
        ready_list* ready;
        bool armed = true;
        ~start_guard() {
            if (!armed) {
                return;
            }
            if (!lock->owns_lock()) {
                lock->lock();
            }
            if (op->at != pending_op::stage::reported) {
                // A completion that ran inside the call before it threw keeps
                // its report: an answer's new grant is not lost, a durable
                // report stays durable.
                const bool arrived = op->at == pending_op::stage::arrived;
                op->at = pending_op::stage::reported;
                auto& m = self->machine_;
                const time_point now = detail::now_or(self->clock_, time_point{});
                const error failed = store_error(errc::transport_failure);
                lifecycle_actions actions;
                if (arrived) {
                    actions = self->report(*op);
                } else {
                    switch (op->what) {
                    case pending_op::kind::send:
                        self->stop_renewal();
                        actions = m.on_abandon(op->flight);
                        break;
                    case pending_op::kind::persist:
                        actions = m.on_persisted(false);
                        break;
                    case pending_op::kind::store:
                        actions = self->fail_step(*op->step, failed, now);
                        break;
                    case pending_op::kind::timer:
                        actions = self->fail_wait(failed, now);
                        break;
                    }
                }
                for (;;) {
                    self->deliver(actions, *ready);
                    if (actions.persist) {
                        actions = m.on_persisted(false);
                    } else if (actions.send) {
                        actions = m.on_abandon(*actions.send_flight);
                    } else if (actions.store) {
                        actions = self->fail_step(*actions.store, failed, now);
                    } else if (actions.wait_until) {
                        actions = self->fail_wait(failed, now);
                    } else {
                        break;
                    }
                }
            }
            op->at = pending_op::stage::reported;
        }
    };

    AsyncTransport transport_;
    Executor executor_;
    Clock clock_;
    async_rotation_hook on_rotate_;
    std::shared_ptr<any_async_token_store> store_; // empty: no shared store
    delay_scheduler schedule_after_;               // empty: none
    bool renew_lease_;
    std::string store_owner_;                            // the machine's, for renewals
    std::chrono::milliseconds machine_lease_ttl_{15000}; // the machine's, for renewals

    mutable std::mutex mutex_;
    token_lifecycle machine_;                                     // guarded by mutex_
    std::vector<std::pair<waiter_id, token_completion>> waiters_; // guarded by mutex_
    waiter_id last_waiter_ = 0;                                   // guarded by mutex_
    bool closed_ = false;                                         // guarded by mutex_
    /// The request of the current flight got its answer (so its store steps
    /// run also after the destructor). Guarded by mutex_.
    bool answered_ = false;
    /// Counts resets: a store result or a wait of an older epoch is dropped.
    std::uint64_t epoch_ = 0;          // guarded by mutex_
    std::shared_ptr<renewal> renewal_; // guarded by mutex_
    snapshot_cell<grant_snapshot> published_;
    std::atomic<bool> persist_failed_{false};
};

} // namespace detail

/// A source of valid access tokens for asynchronous code (see the file comment).
///
/// @tparam AsyncTransport an `async_transport`, stored by value (use a pointer
///         wrapper to share one).
/// @tparam Executor an `executor`, stored by value; every completion runs
///         through its `post`.
/// @tparam Clock a `clock_source`, stored by value, read from many threads.
///         A `now()` that throws when an answer arrives counts as the reading
///         taken before sending (the answer is kept, see `token_source`).
template <class AsyncTransport, class Executor, class Clock = system_clock_source>
class async_token_source {
    static_assert(detail::check_async_transport<std::remove_cvref_t<AsyncTransport>>(),
                  "babelbird: async_token_source needs an async transport");
    static_assert(detail::check_executor<std::remove_cvref_t<Executor>>(),
                  "babelbird: async_token_source needs an executor");
    static_assert(detail::check_clock<std::remove_reference_t<Clock>>(),
                  "babelbird: async_token_source needs a clock");

    using state_type = detail::async_source_state<AsyncTransport, Executor, Clock>;

public:
    async_token_source(AsyncTransport transport, Executor executor, client_credentials credentials,
                       endpoint server, token_seed seed, async_token_source_options options = {},
                       Clock clock = Clock{}) {
        const bool has_hook = static_cast<bool>(options.on_rotate);
        token_lifecycle_options machine_options = detail::lifecycle_options_of(
            options, has_hook, static_cast<bool>(options.async_store), this);
        state_ = std::make_shared<state_type>(
            std::forward<AsyncTransport>(transport), std::forward<Executor>(executor),
            std::forward<Clock>(clock), std::move(options.on_rotate),
            std::move(options.async_store), std::move(options.schedule_after), options.renew_lease,
            token_lifecycle(std::move(credentials), std::move(server), std::move(seed),
                            std::move(machine_options)));
    }

    async_token_source(const async_token_source&) = delete;
    async_token_source& operator=(const async_token_source&) = delete;

    /// Completes every pending `async_get` with `cancelled_error()` (via
    /// `post`, so the executor must still accept work). An answer still in
    /// flight completes nobody when it arrives, but its new grant (or salvaged
    /// refresh token) still goes to the rotation hook (see the file comment).
    ~async_token_source() { state_->close(); }

    /// Asks for a usable access token; `completion(result<token_handle>)` runs
    /// once, via `post`, with it or with the error `token_source::get()` would
    /// return (plus `cancelled_error()`, see `async_cancellation`).
    /// Thread-safe; never blocks on a refresh.
    /// @returns a handle that cancels this request while it waits for a
    /// refresh (an empty one when it was served from the cache).
    template <class F>
    async_cancellation async_get(F&& completion) {
        static_assert(std::is_invocable_v<std::decay_t<F>&, result<token_handle>> &&
                          std::is_move_constructible_v<std::decay_t<F>>,
                      "babelbird: the completion of async_get must be a movable callable "
                      "as f(babelbird::result<babelbird::token_handle>)");
        return state_->get(std::forward<F>(completion));
    }

    /// The server rejected `seen_access_token` (a 401 on the file API): the
    /// next `async_get` refreshes, unless the token was already replaced.
    void invalidate(secret_view seen_access_token) { state_->invalidate(seen_access_token); }

    /// The latest grant, usable or not (no lock).
    token_handle current() const { return detail::handle_of(state_->snapshot()); }

    /// The state of the cached access token at `now` (absent or invalidated
    /// tokens are expired).
    token_state state_at(time_point now) const {
        const auto snap = state_->snapshot();
        if (snap->grant->access_token.empty() || snap->rejected) {
            return token_state::expired;
        }
        return snap->window.state_at(now);
    }

    /// The remembered failure of the last refresh, if it failed.
    std::optional<error> last_error() const { return state_->last_error(); }

    /// Whether the hook reported the latest grant not durable.
    bool persist_failed() const noexcept { return state_->persist_failed(); }

    /// Calls the hook again with the grant whose persist failed, if any and if
    /// no persist is outstanding (it never waits).
    void retry_persist() { state_->retry_persist(); }

    /// Starts over from `seed`, also during a refresh (whose answer is then
    /// ignored; `token_lifecycle::on_reset`): the waiters of that refresh are
    /// served under the new seed. Never waits.
    void reset(token_seed seed) { state_->reset(std::move(seed)); }

    /// The executor every completion is posted to.
    Executor& get_executor() noexcept { return state_->executor(); }

private:
    std::shared_ptr<state_type> state_;
};

} // namespace babelbird::inline v1
