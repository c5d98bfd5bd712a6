/// @file drivers/async_send_authorized.hpp
/// @brief `async_send_authorized`: the async driver of the authorized-call
/// machine (machines/authorized_call.hpp), the twin of `send_authorized`: a
/// file-API request with the current access token and, when the server
/// rejects that token, one retry with a fresh one.
///
/// The token comes from an `async_token_provider` (for example
/// `babelbird::async_token_source`):
/// - `p.async_get(f)` calls `f(babelbird::result<token_handle>)` once, later;
/// - `p.invalidate(secret_view seen)` tells it the server rejected `seen`;
/// - `p.get_executor()` gives the `executor` the call's completion is posted to.
#pragma once

#include "babelbird/config/compiler_check.hpp"

#include <atomic>
#include <memory>
#include <type_traits>
#include <utility>

#include "babelbird/drivers/async_transport.hpp"
#include "babelbird/drivers/token_handle.hpp"
#include "babelbird/drivers/unique_function.hpp"
#include "babelbird/machines/authorized_call.hpp"
#include "babelbird/values/error.hpp"
#include "babelbird/values/http.hpp"
#include "babelbird/values/secret.hpp"

namespace babelbird::inline v1 {

/// The provider has `async_get(f)` taking a `unique_function<void(result<token_handle>)>`.
template <class P>
concept async_token_provider_gettable = requires(P& p,
                                                 unique_function<void(result<token_handle>)>&& f) {
    p.async_get(std::move(f));
};

/// The provider has `invalidate(secret_view seen_access_token)`.
template <class P>
concept async_token_provider_invalidatable = requires(P& p, secret_view seen) {
    p.invalidate(seen);
};

/// The provider has `get_executor()` giving an `executor`.
template <class P>
concept async_token_provider_executor = requires(P& p) {
    { p.get_executor() } -> executor;
};

/// A source of access tokens for `async_send_authorized`.
template <class P>
concept async_token_provider = async_token_provider_gettable<P> &&
    async_token_provider_invalidatable<P> && async_token_provider_executor<P>;

namespace detail {
/// Checks a provider type with one readable message for the first missing piece.
template <class P>
constexpr bool check_async_token_provider() noexcept {
    if constexpr (!async_token_provider_gettable<P>) {
        static_assert(async_token_provider_gettable<P>,
                      "babelbird: the async token provider must have async_get(f) calling "
                      "f(babelbird::result<babelbird::token_handle>)");
        return false;
    } else if constexpr (!async_token_provider_invalidatable<P>) {
        static_assert(async_token_provider_invalidatable<P>,
                      "babelbird: the async token provider must have "
                      "invalidate(babelbird::secret_view)");
        return false;
    } else if constexpr (!async_token_provider_executor<P>) {
        static_assert(async_token_provider_executor<P>,
                      "babelbird: the async token provider must have get_executor() giving a "
                      "babelbird::executor");
        return false;
    } else {
        return true;
    }
}

/// One `async_send_authorized` in progress. Owned by the completions handed
/// to the provider and the transport (one at a time); each step returns right
/// after starting the next, so a completion that runs inside its call only
/// nests a bounded number of frames (at most two tokens and two sends).
template <class AsyncTransport, class Provider, class Completion>
class authorized_op
    : public std::enable_shared_from_this<authorized_op<AsyncTransport, Provider, Completion>> {
public:
    authorized_op(AsyncTransport& transport, Provider& provider, http_request request,
                  send_options options, Completion completion)
        : transport_(transport), provider_(provider), call_(std::move(request), options),
          completion_(std::move(completion)) {}

    void step() {
        for (;;) {
            switch (call_.next()) {
            case authorized_action::get_token:
                in_get_.store(true, std::memory_order_release);
                provider_.async_get(unique_function<void(result<token_handle>)>(
                    get_done{this->shared_from_this()}));
                in_get_.store(false, std::memory_order_release);
                return;
            case authorized_action::send:
                // call_ keeps the request unchanged until this completion runs.
                transport_.async_send(call_.request_to_send(),
                                      transport_completion(send_done{this->shared_from_this()}));
                return;
            case authorized_action::invalidate:
                provider_.invalidate(call_.token_to_invalidate());
                (void)call_.on_invalidated();
                break;
            case authorized_action::done:
                if (provider_gone_) {
                    // Already inside the provider's own (posted) completion,
                    // and the provider may be destroyed: do not reach it.
                    Completion c = std::move(completion_);
                    c(call_.take_result());
                    return;
                }
                provider_.get_executor().post(
                    posted_work([c = std::move(completion_), r = call_.take_result()]() mutable {
                        c(std::move(r));
                    }));
                return;
            }
        }
    }

private:
    /// Destroyed uncalled, it reports `cancelled_error()`.
    struct get_done {
        std::shared_ptr<authorized_op> self;
        get_done(std::shared_ptr<authorized_op> s) noexcept : self(std::move(s)) {}
        get_done(get_done&&) noexcept = default;
        get_done& operator=(get_done&&) = delete;
        ~get_done() {
            if (self) {
                (*this)(cancelled_error());
            }
        }
        void operator()(result<token_handle> token) {
            if (const auto s = std::move(self)) {
                // A cancelled token request (the provider destroyed, or the
                // waiter taken out) that arrives after `async_get` returned
                // ends the call here: the provider may no longer exist.
                if (!token && is_cancelled(token.error()) &&
                    !s->in_get_.load(std::memory_order_acquire)) {
                    s->provider_gone_ = true;
                }
                (void)(token ? s->call_.on_token(secret_view(token->access_token()))
                             : s->call_.on_token(token.error()));
                s->step();
            }
        }
    };

    /// Destroyed uncalled, it reports `errc::transport_failure`.
    struct send_done {
        std::shared_ptr<authorized_op> self;
        send_done(std::shared_ptr<authorized_op> s) noexcept : self(std::move(s)) {}
        send_done(send_done&&) noexcept = default;
        send_done& operator=(send_done&&) = delete;
        ~send_done() {
            if (self) {
                (*this)(error::transport(errc::transport_failure));
            }
        }
        void operator()(transport_result response) {
            if (const auto s = std::move(self)) {
                (void)s->call_.on_response(std::move(response));
                s->step();
            }
        }
    };

    AsyncTransport& transport_;
    Provider& provider_;
    authorized_call call_;
    Completion completion_;
    /// True while `provider_.async_get` runs (its completion may run inside it
    /// or on another thread meanwhile).
    std::atomic<bool> in_get_{false};
    bool provider_gone_ = false; ///< set by a cancelled token request, read by `step`
};
} // namespace detail

/// Sends `request` with `Authorization: Bearer <token from provider.async_get>`;
/// when the answer rejects the token (`is_invalid_token_response`), calls
/// `provider.invalidate()` with exactly that token, gets a new one and sends
/// the request once more, for idempotent methods (or with
/// `options.safe_to_retry`). The same rules and results as `send_authorized`
/// (drivers/send_authorized.hpp); nothing blocks.
///
/// @param transport an `async_transport`; it and `provider` must outlive the
///        call (until `completion` runs)
/// @param completion called once as `completion(result<http_response>)` via
///        `provider.get_executor().post`; never inside this call. A transport
///        that destroys its completion uncalled ends the call with
///        `errc::transport_failure`; a cancelled token request (the provider
///        destroyed) ends it with `cancelled_error()`, called right inside
///        the provider's completion (which `async_token_source` runs via its
///        executor's `post`) rather than posted again, since the provider
///        may be gone by then: this is the one case where `provider` need
///        not outlive the call.
template <class AsyncTransport, class Provider, class Completion>
void async_send_authorized(AsyncTransport& transport, Provider& provider,
                           const http_request& request, const send_options& options,
                           Completion&& completion) {
    using completion_type = std::decay_t<Completion>;
    static_assert(std::is_invocable_v<completion_type&, result<http_response>> &&
                      std::is_move_constructible_v<completion_type>,
                  "babelbird: the completion of async_send_authorized must be a movable callable "
                  "as f(babelbird::result<babelbird::http_response>)");
    if constexpr (detail::check_async_transport<AsyncTransport>() &&
                  detail::check_async_token_provider<Provider>()) {
        auto op =
            std::make_shared<detail::authorized_op<AsyncTransport, Provider, completion_type>>(
                transport, provider, request, options,
                completion_type(std::forward<Completion>(completion)));
        op->step();
    }
}

} // namespace babelbird::inline v1
