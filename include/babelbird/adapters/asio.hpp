/// @file adapters/asio.hpp
/// @brief The opt-in Boost.Asio front end of the async drivers (docs/design.md,
/// "Drivers"): `executor_adapter` makes any Asio executor a babelbird
/// `executor`, and `async_get_token` / `async_send_authorized` take any Asio
/// completion token (a callback, `use_awaitable`, `deferred`, `use_future`,
/// `as_tuple(...)`, ...). Needs the Boost.Asio headers (1.81 or later); the
/// core and the single header never include Boost.
///
/// @code
/// namespace net = boost::asio; // not `asio`: see the warning below
/// net::io_context io;
/// babelbird::asio::executor_adapter on_io(io.get_executor());
/// babelbird::async_token_source source(my_transport{io}, on_io, *credentials, *server,
///                                      std::move(seed));
/// net::co_spawn(io, [&]() -> net::awaitable<void> {
///     auto token = co_await babelbird::asio::async_get_token(source, net::use_awaitable);
///     if (!token) { ... token.error().kind() says what to do ... }
///     auto answer = co_await babelbird::asio::async_send_authorized(
///         files, source, babelbird::http_request("GET", url), net::use_awaitable);
/// }, net::detached);
/// io.run();
/// @endcode
///
/// Completion signatures carry `babelbird::result<T>`: `void(result<token_handle>)`
/// and `void(result<http_response>)`, neither an `error_code` pair nor an
/// exception. Why: a babelbird `error` carries more than an `error_code` can
/// (its class says what to do next: retry, sign in again, fix the
/// configuration; the server's OAuth error; `Retry-After`), the same value the
/// blocking and the callback drivers give, and the library throws nothing
/// (it builds with `-fno-exceptions`). So `co_await` never throws for a
/// failure: it returns the `result`, and `as_tuple` gives a one-element tuple.
///
/// Which executor each completion runs on: the handler's associated executor
/// (`boost::asio::get_associated_executor(handler, io)`), where the default
/// `io` is the source's Asio executor when the source's executor is an
/// `executor_adapter`, else `boost::asio::system_executor` (whose dispatch runs
/// the handler on the thread of the source's own executor). Never inside the
/// initiating call: the source posts every completion, and the front end then
/// dispatches to the handler's executor. While an operation is pending it
/// keeps outstanding work on both executors (Asio's composed-operation rule),
/// so `io_context::run()` does not return under it.
///
/// Per-operation cancellation, through the handler's associated cancellation
/// slot (`bind_cancellation_slot`, a coroutine's cancellation state, the
/// `||` awaitable operator...). See each function for what cancelling does;
/// the operation completes with `babelbird::cancelled_error()` (via post,
/// never inside `emit`). As everywhere in Asio, the signal must be emitted
/// from the handler's executor context (a slot is not thread-safe).
///
/// The handler's associated allocator is not used: the operation's state is
/// allocated with the global `operator new`, as the core's drivers do.
///
/// @warning The namespace is `babelbird::asio`. After `using namespace
/// babelbird;`, a user's own `namespace asio = boost::asio;` (or standalone
/// Asio's `::asio`) and `babelbird::asio` are both visible as `asio`, and an
/// unqualified `asio::post(...)` becomes ambiguous. Name Boost's as `net` (as
/// Beast does), or write `babelbird::asio::...` and `boost::asio::...` in full.
///
/// Under `-fno-exceptions`, Boost needs the program to define
/// `boost::throw_exception` (Boost's rule for `BOOST_NO_EXCEPTIONS`); this
/// header defines nothing of Boost's. Asio's coroutines (`use_awaitable`,
/// `co_spawn`) do not build without exceptions; the other tokens do.
#pragma once

#include "babelbird/config/compiler_check.hpp"

#include <boost/asio/append.hpp>
#include <boost/asio/associated_cancellation_slot.hpp>
#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/cancellation_type.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/system_executor.hpp>

#include <chrono>
#include <memory>
#include <mutex>
#include <optional>
#include <type_traits>
#include <utility>

#include "babelbird/drivers/async_send_authorized.hpp"
#include "babelbird/drivers/async_token_source.hpp"
#include "babelbird/drivers/async_transport.hpp"
#include "babelbird/drivers/token_handle.hpp"
#include "babelbird/drivers/unique_function.hpp"
#include "babelbird/machines/authorized_call.hpp"
#include "babelbird/values/error.hpp"
#include "babelbird/values/http.hpp"
#include "babelbird/values/secret.hpp"

namespace babelbird::inline v1::asio {

/// Any Asio executor (an `io_context`'s, a strand, a thread pool's,
/// `any_io_executor`...) as the library's `executor` concept
/// (drivers/async_transport.hpp): `post(fn)` is `boost::asio::post(ex, fn)`,
/// which never runs `fn` inside the call and keeps the context's work count
/// up until `fn` has run. Copyable; thread-safe as the executor is.
template <class Executor>
class executor_adapter {
public:
    explicit executor_adapter(Executor ex) noexcept : ex_(std::move(ex)) {}

    /// Runs `work` later on the Asio executor, exactly once (unless the
    /// execution context is destroyed first: then `work` is destroyed uncalled,
    /// which the core's drivers count as a dropped completion).
    void post(posted_work work) const { ::boost::asio::post(ex_, posted_handler{std::move(work)}); }

    /// The Asio executor; the default executor of the front end's completions.
    const Executor& get_inner_executor() const noexcept { return ex_; }

private:
    /// Not the `unique_function` itself: Asio's `binder0<H>` has a constructor
    /// from `H&`, and `unique_function`'s converting constructor, asked whether
    /// a `binder0<unique_function>` converts, recurses into its own constraint.
    struct posted_handler {
        posted_work work;
        void operator()() { work(); }
    };

    Executor ex_;
};

template <class Executor>
executor_adapter(Executor) -> executor_adapter<Executor>;

/// The timer of `async_token_source` (`basic_token_source_options::schedule_after`,
/// a `babelbird::delay_scheduler`) over an Asio executor: each call starts a
/// `boost::asio::steady_timer` on it and runs `fn` in the timer's handler,
/// on the executor's thread, once (also when the wait ends with an error).
/// When the execution context is destroyed first, `fn` is destroyed
/// uncalled (the source counts that as a failed store read). While a timer
/// is pending it keeps the context's work count up. Copyable; thread-safe as
/// the executor is.
/// @code
/// babelbird::async_token_source_options options;
/// options.async_store = store;
/// options.schedule_after = babelbird::asio::timer_scheduler(io.get_executor());
/// @endcode
template <class Executor>
class timer_scheduler {
public:
    explicit timer_scheduler(Executor ex) noexcept : ex_(std::move(ex)) {}

    void operator()(std::chrono::milliseconds delay, unique_function<void()> fn) const {
        auto timer = std::make_shared<::boost::asio::steady_timer>(ex_, delay);
        timer->async_wait(fire{timer, std::move(fn)});
    }

    const Executor& get_inner_executor() const noexcept { return ex_; }

private:
    /// Keeps its timer alive until the wait ends.
    struct fire {
        std::shared_ptr<::boost::asio::steady_timer> timer;
        unique_function<void()> fn;
        void operator()(const ::boost::system::error_code&) { fn(); }
    };

    Executor ex_;
};

template <class Executor>
timer_scheduler(Executor) -> timer_scheduler<Executor>;

namespace detail {

template <class T>
struct is_executor_adapter : std::false_type {};
template <class E>
struct is_executor_adapter<executor_adapter<E>> : std::true_type {};

/// The Asio executor a source's completions are posted to, or the system
/// executor when the source's executor is not an Asio one.
template <class Source>
auto io_executor_of(Source& source) {
    if constexpr (requires { source.get_executor(); }) {
        using executor_type = std::remove_cvref_t<decltype(source.get_executor())>;
        if constexpr (is_executor_adapter<executor_type>::value) {
            return source.get_executor().get_inner_executor();
        } else {
            return ::boost::asio::system_executor();
        }
    } else {
        return ::boost::asio::system_executor();
    }
}

/// The kinds of cancellation an operation honours.
constexpr bool requested(::boost::asio::cancellation_type_t type,
                         ::boost::asio::cancellation_type_t honoured) noexcept {
    return (type & honoured) != ::boost::asio::cancellation_type::none;
}

/// The last step of an operation, run on the handler's executor: the slot is
/// cleared there (where the signal is emitted), then the handler is called.
template <class Handler, class Value>
struct final_call {
    Handler handler;
    Value value;
    void operator()() {
        auto slot = ::boost::asio::get_associated_cancellation_slot(handler);
        if (slot.is_connected()) {
            slot.clear();
        }
        std::move(handler)(std::move(value));
    }
};

/// The handler of one operation with the outstanding work it keeps on the
/// I/O executor and on the handler's executor until it completes.
template <class Handler, class IoExecutor>
class completion_holder {
public:
    using handler_executor = ::boost::asio::associated_executor_t<Handler, IoExecutor>;

    completion_holder(Handler handler, const IoExecutor& io)
        : io_work_(::boost::asio::make_work_guard(io)),
          handler_work_(
              ::boost::asio::make_work_guard(::boost::asio::get_associated_executor(handler, io))),
          handler_(std::move(handler)) {}

    /// Completes with `value` on the handler's executor: inline if the caller
    /// already runs there (we are inside a posted function, never inside the
    /// initiating call), else posted there.
    template <class Value>
    void dispatch(Value value) {
        const handler_executor ex = handler_work_.get_executor();
        ::boost::asio::dispatch(ex,
                                final_call<Handler, Value>{std::move(handler_), std::move(value)});
        handler_work_.reset();
        io_work_.reset();
    }

    /// Completes with `value` on the handler's executor, never inside this call.
    template <class Value>
    void post(Value value) {
        const handler_executor ex = handler_work_.get_executor();
        ::boost::asio::post(ex, final_call<Handler, Value>{std::move(handler_), std::move(value)});
        handler_work_.reset();
        io_work_.reset();
    }

private:
    ::boost::asio::executor_work_guard<IoExecutor> io_work_;
    ::boost::asio::executor_work_guard<handler_executor> handler_work_;
    Handler handler_;
};

/// What a slot's cancellation handler of `async_get_token` reaches: the
/// source's handle of the waiter, once `async_get` has returned it.
struct get_cancel_state {
    std::mutex mutex;
    async_cancellation handle; // guarded by mutex
    bool started = false;      // guarded by mutex
    bool requested = false;    // guarded by mutex

    void cancel() {
        async_cancellation h;
        {
            std::lock_guard lock(mutex);
            requested = true;
            if (!started) {
                return;
            }
            h = handle;
        }
        (void)h.cancel();
    }
    void started_with(async_cancellation h) {
        {
            std::lock_guard lock(mutex);
            handle = h;
            started = true;
            if (!requested) {
                return;
            }
        }
        (void)h.cancel();
    }
};

/// The completion `async_get_token` hands to the source.
template <class Handler, class IoExecutor>
struct get_token_completion {
    completion_holder<Handler, IoExecutor> holder;
    void operator()(result<token_handle> token) { holder.dispatch(std::move(token)); }
};

struct initiate_get_token {
    template <class Handler, class Source>
    void operator()(Handler&& handler, Source* source) const {
        using handler_type = std::decay_t<Handler>;
        const auto io = io_executor_of(*source);
        using io_type = std::remove_cvref_t<decltype(io)>;
        auto slot = ::boost::asio::get_associated_cancellation_slot(handler);
        std::shared_ptr<get_cancel_state> cancel;
        if (slot.is_connected()) {
            // A waiter taken out has no effect on anything else: every kind is honoured.
            cancel = std::make_shared<get_cancel_state>();
            slot.assign([state = cancel](::boost::asio::cancellation_type_t type) {
                if (requested(type, ::boost::asio::cancellation_type::terminal |
                                        ::boost::asio::cancellation_type::partial |
                                        ::boost::asio::cancellation_type::total)) {
                    state->cancel();
                }
            });
        }
        get_token_completion<handler_type, io_type> completion{
            completion_holder<handler_type, io_type>(std::forward<Handler>(handler), io)};
        if constexpr (std::is_same_v<decltype(source->async_get(std::move(completion))),
                                     async_cancellation>) {
            const async_cancellation handle = source->async_get(std::move(completion));
            if (cancel) {
                cancel->started_with(handle);
            }
        } else {
            source->async_get(std::move(completion));
        }
    }
};

/// One `async_send_authorized`: the handler until it is completed (by the
/// core's answer or by a cancellation, whichever comes first), and the
/// provider and transport the core's operation refers to (it holds them by
/// reference; this state outlives it, kept by the completion it holds).
template <class AsyncTransport, class Source, class Handler, class IoExecutor>
class send_state
    : public std::enable_shared_from_this<send_state<AsyncTransport, Source, Handler, IoExecutor>> {
public:
    send_state(AsyncTransport& transport, Source& source, Handler handler, const IoExecutor& io)
        : transport_{&transport, this}, provider_{&source, this},
          holder_(std::in_place, std::move(handler), io) {}

    /// Cancellation: completes the handler now (posted) and stops the core's
    /// operation from starting anything more.
    void cancel() {
        std::optional<completion_holder<Handler, IoExecutor>> holder;
        async_cancellation wait;
        {
            std::lock_guard lock(mutex_);
            if (cancelled_ || !holder_) {
                return;
            }
            cancelled_ = true;
            holder.emplace(std::move(*holder_));
            holder_.reset();
            wait = token_wait_;
        }
        (void)wait.cancel();
        holder->post(result<http_response>(cancelled_error()));
    }

    /// The core's operation ended (on the source's executor).
    void finish(result<http_response> answer) {
        std::optional<completion_holder<Handler, IoExecutor>> holder;
        {
            std::lock_guard lock(mutex_);
            if (holder_) {
                holder.emplace(std::move(*holder_));
                holder_.reset();
            }
        }
        if (holder) {
            holder->dispatch(std::move(answer));
        }
    }

    bool is_cancelled() {
        std::lock_guard lock(mutex_);
        return cancelled_;
    }

    /// Refers to the source; a token request after a cancellation is refused
    /// (its completion destroyed uncalled, which the core reads as cancelled).
    struct provider_proxy {
        Source* source;
        send_state* state;
        template <class F>
        void async_get(F&& f) {
            if (state->is_cancelled()) {
                return;
            }
            if constexpr (std::is_same_v<decltype(source->async_get(std::forward<F>(f))),
                                         async_cancellation>) {
                // The token may complete the whole operation on another thread
                // before async_get returns: keep this state alive until then.
                const std::shared_ptr<send_state> keep = state->shared_from_this();
                const async_cancellation handle = source->async_get(std::forward<F>(f));
                bool cancel_now = false;
                {
                    std::lock_guard lock(state->mutex_);
                    state->token_wait_ = handle;
                    cancel_now = state->cancelled_;
                }
                if (cancel_now) {
                    (void)handle.cancel();
                }
            } else {
                source->async_get(std::forward<F>(f));
            }
        }
        void invalidate(secret_view seen) { source->invalidate(seen); }
        decltype(auto) get_executor() { return source->get_executor(); }
    };

    /// Refers to the transport; a send after a cancellation is refused (its
    /// completion destroyed uncalled, which the core reads as a failed
    /// exchange, whose outcome nobody receives).
    struct transport_proxy {
        AsyncTransport* transport;
        send_state* state;
        void async_send(const http_request& request, transport_completion&& done) {
            if (state->is_cancelled()) {
                return;
            }
            transport->async_send(request, std::move(done));
        }
    };

    transport_proxy& transport() noexcept { return transport_; }
    provider_proxy& provider() noexcept { return provider_; }

private:
    transport_proxy transport_;
    provider_proxy provider_;
    std::mutex mutex_;
    std::optional<completion_holder<Handler, IoExecutor>> holder_; // guarded by mutex_
    async_cancellation token_wait_;                                // guarded by mutex_
    bool cancelled_ = false;                                       // guarded by mutex_
};

/// The completion handed to the core's `async_send_authorized`.
template <class State>
struct send_completion {
    std::shared_ptr<State> state;
    void operator()(result<http_response> answer) { state->finish(std::move(answer)); }
};

struct initiate_send_authorized {
    template <class Handler, class AsyncTransport, class Source>
    void operator()(Handler&& handler, AsyncTransport* transport, Source* source,
                    http_request request, send_options options) const {
        using handler_type = std::decay_t<Handler>;
        const auto io = io_executor_of(*source);
        using io_type = std::remove_cvref_t<decltype(io)>;
        using state_type = send_state<AsyncTransport, Source, handler_type, io_type>;
        auto slot = ::boost::asio::get_associated_cancellation_slot(handler);
        auto state =
            std::make_shared<state_type>(*transport, *source, std::forward<Handler>(handler), io);
        if (slot.is_connected()) {
            // Weak: the handler (a coroutine frame, say) may own the signal.
            // Not `total`: a request may already have been sent.
            slot.assign(
                [weak = std::weak_ptr<state_type>(state)](::boost::asio::cancellation_type_t type) {
                    if (!requested(type, ::boost::asio::cancellation_type::terminal |
                                             ::boost::asio::cancellation_type::partial)) {
                        return;
                    }
                    if (const auto s = weak.lock()) {
                        s->cancel();
                    }
                });
        }
        ::babelbird::async_send_authorized(state->transport(), state->provider(), request, options,
                                           send_completion<state_type>{state});
    }
};

} // namespace detail

/// Asks `source` for a usable access token, as `source.async_get` does (one
/// refresh shared by every concurrent caller; docs/design.md, "Drivers").
///
/// @param source an `async_token_source` (or anything with `async_get(f)`
///        returning an `async_cancellation`); it must outlive the operation's
///        start (a `deferred` operation: until it is launched). Destroying it
///        while the operation waits completes the operation with
///        `cancelled_error()`.
/// @param token any completion token for `void(babelbird::result<babelbird::token_handle>)`.
/// @returns what the token makes of it (nothing for a callback, an awaitable,
///          a `std::future`, a deferred operation...).
///
/// Errors: those of `source.async_get` (the error `token_source::get()` would
/// give) and `cancelled_error()`.
///
/// Cancellation (terminal, partial or total, all honoured): takes this waiter
/// out of the source (`async_cancellation::cancel`); it completes with
/// `cancelled_error()`, while the refresh it waited for and the other waiters
/// go on untouched. No effect once the source has completed it.
///
/// Thread-safe as `source.async_get` is: any thread may start it.
template <class Source, class CompletionToken>
auto async_get_token(Source& source, CompletionToken&& token) {
    return ::boost::asio::async_initiate<CompletionToken, void(result<token_handle>)>(
        detail::initiate_get_token{}, token, std::addressof(source));
}

/// Sends `request` with the source's access token and, when the server rejects
/// that token (401 with `invalid_token`), one retry with a fresh one: the
/// core's `babelbird::async_send_authorized` (drivers/async_send_authorized.hpp),
/// its rules and its results, behind a completion token.
///
/// @param transport an `async_transport` for the file API; it and `source`
///        must outlive the operation (until the core's operation has ended,
///        which may be after a cancellation: see below).
/// @param source an `async_token_provider` (an `async_token_source`).
/// @param request taken by value (the operation keeps its own copy).
/// @param options `send_options`: `safe_to_retry` for a non-idempotent method.
/// @param token any completion token for `void(babelbird::result<babelbird::http_response>)`.
///
/// Errors: the answer of any status is a value (the caller reads `status`); a
/// transport error, the source's error when no token can be had, and
/// `cancelled_error()`.
///
/// Cancellation (terminal or partial; not total, since a request may already
/// have been sent) completes the operation at once with `cancelled_error()`
/// (posted to the handler's executor). Then, inside the core's operation: a
/// token request still waiting is taken out of the source (the refresh itself
/// goes on), no token is requested and nothing is sent afterwards. An
/// exchange already in flight is not aborted (an `async_transport` has no
/// cancellation): it runs to its end, and its answer is dropped; a 401 in it
/// still tells the source the token was rejected (`invalidate`), which is true
/// whoever waits. So `transport` and `source` must live until that late answer
/// has arrived.
///
/// Thread-safe as the transport and the source are.
template <class AsyncTransport, class Source, class CompletionToken>
auto async_send_authorized(AsyncTransport& transport, Source& source, http_request request,
                           const send_options& options, CompletionToken&& token) {
    return ::boost::asio::async_initiate<CompletionToken, void(result<http_response>)>(
        detail::initiate_send_authorized{}, token, std::addressof(transport),
        std::addressof(source), std::move(request), options);
}

/// `async_send_authorized` with the default `send_options` (a non-idempotent
/// method is not resent after a 401).
template <class AsyncTransport, class Source, class CompletionToken>
auto async_send_authorized(AsyncTransport& transport, Source& source, http_request request,
                           CompletionToken&& token) {
    return asio::async_send_authorized(transport, source, std::move(request), send_options{},
                                       std::forward<CompletionToken>(token));
}

} // namespace babelbird::inline v1::asio
