/// @file drivers/send_authorized.hpp
/// @brief `send_authorized`: the blocking driver of the authorized-call machine
/// (machines/authorized_call.hpp): send a file-API request with the current
/// access token and, when the server rejects that token, retry once with a
/// fresh one.
///
/// The token comes from a `token_provider` (for example `babelbird::token_source`):
/// - `p.get()` returns `babelbird::result<H>` where `H` has
///   `access_token() const` returning a `secret_view` (or a `secret`);
/// - `p.invalidate(secret_view seen)` tells it the server rejected `seen`, so
///   the next `get()` refreshes, unless another caller already replaced it.
#pragma once

#include "babelbird/config/compiler_check.hpp"

#include <concepts>
#include <type_traits>
#include <utility>

#include "babelbird/drivers/transport.hpp"
#include "babelbird/machines/authorized_call.hpp"
#include "babelbird/values/error.hpp"
#include "babelbird/values/http.hpp"
#include "babelbird/values/secret.hpp"

namespace babelbird::inline v1 {

namespace detail {
template <class T>
struct is_result : std::false_type {};
template <class T>
struct is_result<result<T>> : std::true_type {};

template <class P>
using provider_get_t = std::remove_cvref_t<decltype(std::declval<P&>().get())>;
} // namespace detail

/// The provider has `get()` returning a `babelbird::result<H>`.
template <class P>
concept token_provider_gettable = requires(P& p) {
    { p.get() } -> std::same_as<detail::provider_get_t<P>>;
}
&&detail::is_result<detail::provider_get_t<P>>::value;

/// What `get()` holds has `access_token() const` giving a `secret_view`.
template <class P>
concept token_provider_handle = token_provider_gettable<P> &&
    requires(const typename detail::provider_get_t<P>::value_type& handle) {
    { handle.access_token() } -> std::convertible_to<secret_view>;
};

/// The provider has `invalidate(secret_view seen_access_token)`.
template <class P>
concept token_provider_invalidatable = requires(P& p, secret_view seen) {
    p.invalidate(seen);
};

/// A source of access tokens for `send_authorized`.
template <class P>
concept token_provider =
    token_provider_gettable<P> && token_provider_handle<P> && token_provider_invalidatable<P>;

namespace detail {
/// Checks a provider type with one readable message for the first missing piece.
template <class P>
constexpr bool check_token_provider() noexcept {
    if constexpr (!token_provider_gettable<P>) {
        static_assert(
            token_provider_gettable<P>,
            "babelbird: the token provider must have get() returning babelbird::result<H>");
        return false;
    } else if constexpr (!token_provider_handle<P>) {
        static_assert(token_provider_handle<P>,
                      "babelbird: the token provider's handle must have access_token() const "
                      "returning babelbird::secret_view");
        return false;
    } else if constexpr (!token_provider_invalidatable<P>) {
        static_assert(token_provider_invalidatable<P>,
                      "babelbird: the token provider must have invalidate(babelbird::secret_view)");
        return false;
    } else {
        return true;
    }
}
} // namespace detail

/// Sends `request` with `Authorization: Bearer <token from provider.get()>`;
/// when the answer rejects the token (`is_invalid_token_response`), calls
/// `provider.invalidate()` with exactly the token that was sent, gets a new
/// one and sends the request once more, for idempotent methods (or with
/// `options.safe_to_retry`). Never more than two sends. It runs an
/// `authorized_call` to its end, calling the provider and the transport from
/// this thread (see that class for the rules).
///
/// - A non-idempotent request that is not marked safe is not resent: its
///   rejected answer is returned, but the token is still invalidated, so the
///   next call gets a fresh one.
/// - If the provider hands back the same token after `invalidate`, the request
///   is not resent (it would be rejected again); the answer is returned.
/// - Transport failures are returned as they are, never retried here.
///
/// @param request any request (see `build_file_api_request`); an
///        `Authorization` header it has is replaced
/// @returns the last answer (any status, including a second rejection), or an
/// error: the provider's (for example `reauthorize` when the refresh token is
/// dead), the transport's, or `usage` for a token that is not header-safe.
template <class Transport, class Provider>
result<http_response> send_authorized(Transport&& transport, Provider&& provider,
                                      const http_request& request,
                                      const send_options& options = {}) {
    using provider_type = std::remove_reference_t<Provider>;
    if constexpr (detail::check_transport<std::remove_reference_t<Transport>>() &&
                  detail::check_token_provider<provider_type>()) {
        authorized_call call(request, options);
        // Each event fits the action just asked for, so none is refused.
        while (true) {
            switch (call.next()) {
            case authorized_action::get_token: {
                auto handle = provider.get(); // lives while on_token copies the token
                (void)(handle ? call.on_token(secret_view(handle->access_token()))
                              : call.on_token(handle.error()));
                break;
            }
            case authorized_action::send:
                (void)call.on_response(transport(call.request_to_send()));
                break;
            case authorized_action::invalidate:
                (void)provider.invalidate(call.token_to_invalidate());
                (void)call.on_invalidated();
                break;
            case authorized_action::done:
                return call.take_result();
            }
        }
    } else {
        return error::usage(errc::invalid_argument);
    }
}

} // namespace babelbird::inline v1
