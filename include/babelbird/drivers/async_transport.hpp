/// @file drivers/async_transport.hpp
/// @brief The two concepts every async driver runs on: `async_transport` (the
/// caller's non-blocking HTTP stack) and `executor` (where completions run),
/// with one readable check each, and the error a cancelled operation ends with
/// (docs/design.md, "Drivers").
///
/// An async transport has `async_send(const http_request&, transport_completion&&)`:
/// it starts the exchange and returns; later (or at once, inside the call) it
/// calls the completion once with the `http_response` it received (any status)
/// or an `error::transport(errc::...)`. An executor has `post(fn)` taking a
/// move-only `unique_function<void()>`, which it runs later, never inside
/// `post`.
/// @code
/// struct my_transport {
///     my_http_client* http;
///     void async_send(const babelbird::http_request& req, babelbird::transport_completion&& done)
///     {
///         http->start(req.method, req.url, req.headers, req.body,
///                     [done = std::move(done)](int status, std::string body) mutable {
///                         done(babelbird::http_response(status, std::move(body)));
///                     });
///     }
/// };
/// struct my_executor {
///     my_event_loop* loop;
///     void post(babelbird::unique_function<void()> fn) { loop->queue(std::move(fn)); }
/// };
/// @endcode
///
/// The contract of `async_send`:
/// - `request` stays valid and unchanged until the completion is called or
///   destroyed; a transport that needs it longer copies it.
/// - The completion is called at most once, from any thread, even inside
///   `async_send` (the drivers cope). A completion destroyed without being
///   called counts as "no answer will come": the drivers then treat the
///   exchange as failed (`errc::transport_failure`), so no caller is stranded.
/// - `async_send` may be called from several threads at once.
///
/// The contract of `post`: callable from any thread at once; it runs `fn` later
/// (never inside `post`), exactly once, on whatever thread the executor owns.
/// An executor that runs `fn` inside `post` breaks the drivers' promise that
/// no completion runs inside the caller's call; the drivers hold no lock while
/// they post, so it does not deadlock, but a completion run that way which
/// destroys the source returns into a member call of the destroyed source
/// (`async_get` posting its outcome, say): a use-after-free. Do not write one.
#pragma once

#include "babelbird/config/compiler_check.hpp"

#include <concepts>
#include <type_traits>
#include <utility>

#include "babelbird/drivers/unique_function.hpp"
#include "babelbird/values/error.hpp"
#include "babelbird/values/http.hpp"

namespace babelbird::inline v1 {

/// What an async transport calls with the answer (or its failure), once.
using transport_completion = unique_function<void(transport_result)>;

/// Work posted to an executor.
using posted_work = unique_function<void()>;

/// The transport has `async_send(const http_request&, transport_completion&&)`.
template <class T>
concept async_transport = requires(T& t, const http_request& request,
                                   transport_completion&& completion) {
    t.async_send(request, std::move(completion));
};

/// The executor has `post(fn)` accepting a move-only `unique_function<void()>`.
template <class E>
concept executor = requires(E& e, posted_work&& work) {
    e.post(std::move(work));
};

namespace detail {
/// Checks an async transport type with one readable message (see
/// `check_transport` for why it is an `if constexpr` guard).
template <class T>
constexpr bool check_async_transport() noexcept {
    static_assert(async_transport<T>,
                  "babelbird: the async transport must have async_send(const "
                  "babelbird::http_request&, babelbird::transport_completion&&), the completion "
                  "being a move-only void(babelbird::transport_result)");
    return async_transport<T>;
}

/// Checks an executor type with one readable message.
template <class E>
constexpr bool check_executor() noexcept {
    static_assert(executor<E>, "babelbird: the executor must have post(fn) accepting a move-only "
                               "babelbird::unique_function<void()>");
    return executor<E>;
}
} // namespace detail

/// The error an async operation ends with when it was cancelled (its
/// cancellation handle, or the destruction of its source): `errc::cancelled`,
/// class `retry`, origin `caller`. The operation may be started again.
constexpr error cancelled_error() noexcept {
    return error(errc::cancelled, error_class::retry, error_origin::caller);
}

/// Whether `e` is `cancelled_error()` (`errc::cancelled`).
constexpr bool is_cancelled(const error& e) noexcept {
    return e.code() == errc::cancelled;
}

} // namespace babelbird::inline v1
