/// @file drivers/client.hpp
/// @brief The blocking exchanges: `refresh()` and `exchange_code()` prepare an
/// exchange machine (machines/exchange.hpp), read the clock, call the caller's
/// transport once and finish. Another HTTP stack drives the same machines
/// itself (see machines/exchange.hpp).
#pragma once

#include "babelbird/config/compiler_check.hpp"

#include <optional>
#include <string_view>

#include "babelbird/drivers/transport.hpp"
#include "babelbird/machines/exchange.hpp"
#include "babelbird/requests/credentials.hpp"
#include "babelbird/requests/endpoint.hpp"
#include "babelbird/values/clock.hpp"
#include "babelbird/values/error.hpp"
#include "babelbird/values/secret.hpp"
#include "babelbird/values/token.hpp"

namespace babelbird::inline v1 {

namespace detail {
/// The blocking driver of an exchange machine: the clock is read once, before
/// sending, and the transport called once. A wrong transport or clock type gives
/// one readable error (see `check_transport`).
template <class Transport, class Clock, class Exchange>
grant_result run_exchange(Transport& transport, Clock& clock, const result<Exchange>& exchange) {
    if constexpr (check_clock<Clock>() && check_transport<Transport>()) {
        if (!exchange) {
            return exchange.error();
        }
        const time_point issued_at = clock.now();
        return exchange->finish(transport(exchange->request()), issued_at);
    } else {
        return error::usage(errc::invalid_argument);
    }
}
} // namespace detail

/// Refreshes an access token through the caller's transport: the blocking
/// driver of `refresh_exchange` (RFC 6749 section 6).
///
/// @param transport any `babelbird::transport` (see drivers/transport.hpp);
///        called once, from this thread
/// @param refresh_token the stored refresh token; kept in the grant when the
///        server does not send a new one
/// @param clock read once, before sending; expiry times count from that reading
/// @returns `refresh_exchange::finish` of the answer: the new grant, or an
/// error: `usage` for bad input (nothing sent), `retry` for transport failures,
/// and the parser's classes for the answer (maybe with `salvaged()`).
template <class Transport, class Clock = system_clock_source>
grant_result refresh(Transport&& transport, const client_credentials& credentials,
                     const endpoint& server, secret_view refresh_token,
                     const client_options& options = {}, Clock&& clock = Clock{}) {
    return detail::run_exchange(
        transport, clock,
        refresh_exchange::prepare(credentials, server, refresh_token, std::nullopt, options));
}

/// Refreshes the grant `previous`; when the server keeps the refresh token, the
/// new grant keeps `previous.refresh_expires_at`. Otherwise like the overload
/// above.
template <class Transport, class Clock = system_clock_source>
grant_result refresh(Transport&& transport, const client_credentials& credentials,
                     const endpoint& server, const token_grant& previous,
                     const client_options& options = {}, Clock&& clock = Clock{}) {
    return detail::run_exchange(transport, clock,
                                refresh_exchange::prepare(credentials, server, previous, options));
}

/// Exchanges an authorization code for tokens through the caller's transport:
/// the blocking driver of `code_exchange` (RFC 6749 section 4.1.3).
///
/// A code is single-use (and valid for 5 minutes): this function sends exactly
/// one request and never retries it, with these or other settings. A second
/// use of a code is rejected by the server, which gives a `reauthorize` error.
///
/// @param code the code from the callback (see answers/callback.hpp)
/// @param redirect_uri byte for byte the URI the authorization request carried
/// @param clock read once, before sending; expiry times count from that reading
/// @returns `code_exchange::finish` of the answer: the grant
/// (`refresh_token_rotated` tells whether the server sent a refresh token; when
/// it did not, `refresh_token` is empty and `refresh_expires_at` is empty unless
/// the server sent `refresh_expires_in`). Errors: `usage` for bad input
/// (nothing sent), `retry` for transport failures, and the parser's classes for
/// the answer (invalid_grant, 400 and 401 are `reauthorize`).
template <class Transport, class Clock = system_clock_source>
grant_result exchange_code(Transport&& transport, const client_credentials& credentials,
                           const endpoint& server, secret_view code, std::string_view redirect_uri,
                           const client_options& options = {}, Clock&& clock = Clock{}) {
    return detail::run_exchange(
        transport, clock, code_exchange::prepare(credentials, server, code, redirect_uri, options));
}

} // namespace babelbird::inline v1
