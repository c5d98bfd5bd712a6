/// @file drivers/transport.hpp
/// @brief The transport concept: the caller's HTTP stack as a callable, and the
/// one check every blocking driver runs on it (`refresh()`, `exchange_code()`,
/// `send_authorized()`, `token_source`).
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

#include "babelbird/values/clock.hpp"
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
/// Checks a transport type with one readable message per missing piece. Used in
/// an `if constexpr` so that nothing else in the caller is instantiated, giving
/// one error instead of a page.
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

/// Checks a clock type like `check_transport` checks a transport.
template <class C>
constexpr bool check_clock() noexcept {
    static_assert(clock_source<C>,
                  "babelbird: the clock must have now() returning babelbird::time_point");
    return clock_source<C>;
}
} // namespace detail

} // namespace babelbird::inline v1
