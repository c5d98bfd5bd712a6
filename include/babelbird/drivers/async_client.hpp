/// @file drivers/async_client.hpp
/// @brief The asynchronous exchanges: `async_refresh` and `async_exchange_code`
/// prepare an exchange machine (machines/exchange.hpp), read the clock, start
/// one `async_send` and finish the answer; the completion runs via
/// `executor.post` (docs/design.md, "Drivers"). The async twins of
/// drivers/client.hpp.
///
/// @code
/// babelbird::async_refresh(transport, executor, *credentials, *server,
///                          babelbird::secret_view(stored), {}, babelbird::system_clock_source{},
///                          [](babelbird::grant_result grant) { ... });
/// @endcode
#pragma once

#include "babelbird/config/compiler_check.hpp"

#include <optional>
#include <string_view>
#include <type_traits>
#include <utility>

#include "babelbird/drivers/async_transport.hpp"
#include "babelbird/drivers/transport.hpp"
#include "babelbird/drivers/unique_function.hpp"
#include "babelbird/machines/exchange.hpp"
#include "babelbird/requests/credentials.hpp"
#include "babelbird/requests/endpoint.hpp"
#include "babelbird/values/clock.hpp"
#include "babelbird/values/error.hpp"
#include "babelbird/values/secret.hpp"
#include "babelbird/values/token.hpp"

namespace babelbird::inline v1 {

namespace detail {

/// The transport's completion for one exchange: finishes the answer and posts
/// the caller's completion. Destroyed uncalled, it posts `errc::transport_failure`.
template <class Exchange, class Executor, class Completion>
struct exchange_done {
    struct parts {
        Exchange exchange;
        Executor executor;
        Completion completion;
        time_point issued_at;
    };
    std::unique_ptr<parts> p;

    explicit exchange_done(std::unique_ptr<parts> q) noexcept : p(std::move(q)) {}
    exchange_done(exchange_done&&) noexcept = default;
    exchange_done& operator=(exchange_done&&) = delete;
    ~exchange_done() {
        if (p) {
            deliver(error::transport(errc::transport_failure));
        }
    }
    void operator()(transport_result response) {
        if (p) {
            deliver(std::move(response));
        }
    }
    void deliver(const transport_result& response) {
        const std::unique_ptr<parts> q = std::move(p);
        grant_result grant = q->exchange.finish(response, q->issued_at);
        q->executor.post(posted_work(
            [c = std::move(q->completion), g = std::move(grant)]() mutable { c(std::move(g)); }));
    }
};

/// The async driver of an exchange machine: the clock is read once, before
/// sending; the transport is called once; the completion runs via `post`
/// (also for an exchange that could not be prepared: nothing is sent).
template <class AsyncTransport, class Executor, class Clock, class Exchange, class Completion>
void async_run_exchange(AsyncTransport& transport, Executor executor, Clock& clock,
                        result<Exchange> exchange, Completion&& completion) {
    using completion_type = std::decay_t<Completion>;
    static_assert(std::is_invocable_v<completion_type&, grant_result> &&
                      std::is_move_constructible_v<completion_type>,
                  "babelbird: the completion must be a movable callable as "
                  "f(babelbird::grant_result)");
    if constexpr (check_clock<Clock>() && check_async_transport<AsyncTransport>() &&
                  check_executor<Executor>()) {
        if (!exchange) {
            executor.post(posted_work([c = completion_type(std::forward<Completion>(completion)),
                                       e = exchange.error()]() mutable { c(grant_result(e)); }));
            return;
        }
        using done = exchange_done<Exchange, Executor, completion_type>;
        const time_point issued_at = clock.now();
        auto parts = std::make_unique<typename done::parts>(
            typename done::parts{std::move(*exchange), std::move(executor),
                                 completion_type(std::forward<Completion>(completion)), issued_at});
        // The request lives in the exchange, which lives until the completion runs.
        const http_request& request = parts->exchange.request();
        transport.async_send(request, transport_completion(done(std::move(parts))));
    }
}

} // namespace detail

/// Refreshes an access token through an async transport: the async driver of
/// `refresh_exchange` (RFC 6749 section 6); see `refresh()` for the results.
///
/// @param transport an `async_transport`; `async_send` is called once, from
///        this thread; it need only live until that call returns
/// @param executor an `executor` (copied): `completion` runs through its `post`
/// @param clock read once, before sending
/// @param completion called once as `completion(grant_result)`, via `post`;
///        `errc::transport_failure` when the transport destroys its completion
///        without calling it
template <class AsyncTransport, class Executor, class Clock, class Completion>
void async_refresh(AsyncTransport& transport, Executor executor,
                   const client_credentials& credentials, const endpoint& server,
                   secret_view refresh_token, const client_options& options, Clock clock,
                   Completion&& completion) {
    detail::async_run_exchange(
        transport, std::move(executor), clock,
        refresh_exchange::prepare(credentials, server, refresh_token, std::nullopt, options),
        std::forward<Completion>(completion));
}

/// Refreshes the grant `previous` (keeping its `refresh_expires_at` when the
/// server keeps the refresh token); otherwise like the overload above.
template <class AsyncTransport, class Executor, class Clock, class Completion>
void async_refresh(AsyncTransport& transport, Executor executor,
                   const client_credentials& credentials, const endpoint& server,
                   const token_grant& previous, const client_options& options, Clock clock,
                   Completion&& completion) {
    detail::async_run_exchange(transport, std::move(executor), clock,
                               refresh_exchange::prepare(credentials, server, previous, options),
                               std::forward<Completion>(completion));
}

/// Exchanges an authorization code through an async transport: the async
/// driver of `code_exchange` (RFC 6749 section 4.1.3); see `exchange_code()`
/// for the results. One request, never retried (a code is single-use).
/// Parameters as for `async_refresh`.
template <class AsyncTransport, class Executor, class Clock, class Completion>
void async_exchange_code(AsyncTransport& transport, Executor executor,
                         const client_credentials& credentials, const endpoint& server,
                         secret_view code, std::string_view redirect_uri,
                         const client_options& options, Clock clock, Completion&& completion) {
    detail::async_run_exchange(
        transport, std::move(executor), clock,
        code_exchange::prepare(credentials, server, code, redirect_uri, options),
        std::forward<Completion>(completion));
}

} // namespace babelbird::inline v1
