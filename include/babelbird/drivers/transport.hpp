/// @file drivers/transport.hpp
/// @brief The transport concept: the caller's HTTP stack as a callable.
///
/// A transport is anything callable as `transport(const http_request&)` that
/// returns `transport_result`: the `http_response` it received (any status), or
/// an `error` made with `error::transport(errc::...)` when no response arrived.
/// @code
/// auto transport = [&](const babelbird::http_request& req) -> babelbird::transport_result {
///     ... send req.method, req.url, req.headers, req.body with your HTTP client ...
///     if (timed_out) return babelbird::error::transport(babelbird::errc::timeout);
///     return babelbird::http_response{status, body, headers};
/// };
/// @endcode
#pragma once

#include "babelbird/config/compiler_check.hpp"

#include <concepts>
#include <type_traits>

#include "babelbird/values/error.hpp"
#include "babelbird/values/http.hpp"

namespace babelbird::inline v1 {

/// The transport can be called with a `const http_request&`.
template <class T>
concept transport_callable = std::invocable<T&, const http_request&>;

/// The call returns exactly `transport_result`.
template <class T>
concept transport_returns_result = transport_callable<T> &&
    std::same_as<std::invoke_result_t<T&, const http_request&>, transport_result>;

/// A transport for the client functions.
template <class T>
concept transport = transport_callable<T> && transport_returns_result<T>;

namespace detail {
/// Checks a transport type with one readable message per missing piece; used in
/// an `if constexpr` so that nothing else in the caller is instantiated.
template <class T>
constexpr bool check_transport() noexcept {
    if constexpr (!transport_callable<T>) {
        static_assert(transport_callable<T>, "babelbird: the transport must be callable as "
                                             "transport(const babelbird::http_request&)");
        return false;
    } else if constexpr (!transport_returns_result<T>) {
        static_assert(transport_returns_result<T>,
                      "babelbird: the transport must return babelbird::transport_result "
                      "(babelbird::result<babelbird::http_response>)");
        return false;
    } else {
        return true;
    }
}
} // namespace detail

} // namespace babelbird::inline v1
