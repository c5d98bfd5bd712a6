/// @file machines/exchange.hpp
/// @brief Client functions: build the request, call the caller's transport, parse
/// the answer, stamp absolute times.
#pragma once

#include "babelbird/config/compiler_check.hpp"

#include <chrono>
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>

#include "babelbird/answers/retry_after.hpp"
#include "babelbird/answers/token_response.hpp"
#include "babelbird/drivers/transport.hpp"
#include "babelbird/machines/expiry.hpp"
#include "babelbird/requests/credentials.hpp"
#include "babelbird/requests/endpoint.hpp"
#include "babelbird/requests/token_requests.hpp"
#include "babelbird/values/clock.hpp"
#include "babelbird/values/error.hpp"
#include "babelbird/values/secret.hpp"
#include "babelbird/values/token.hpp"

namespace babelbird::inline v1 {

/// Options of the client functions.
struct client_options {
    response_options response{};
    /// The access-token lifetime assumed when the server sends no `expires_in`.
    std::chrono::seconds assumed_lifetime{3600};
    /// The lifetime of a newly issued refresh token, unless the server sends
    /// `refresh_expires_in` (BabelBird documents 30 days).
    std::chrono::seconds refresh_token_lifetime{std::chrono::hours(24 * 30)};
};

/// What a token exchange (`refresh()`, `exchange_code()`, the machines)
/// returns: a `result<token_grant>` that, when it holds an error, may also hold
/// a refresh token the server issued in that same rejected answer.
///
/// A 2xx answer can carry a usable new `refresh_token` next to an
/// `access_token` or `expires_in` the parser rejects. With rotating refresh
/// tokens the server has already revoked the token that was sent, so dropping
/// the new one would force the user to sign in again ("nothing lost",
/// docs/design.md). `salvaged()` hands it out; store it and use it for the
/// next refresh. A body that is not valid JSON salvages nothing.
class [[nodiscard]] grant_result : public result<token_grant> {
public:
    using result<token_grant>::result;
    grant_result(result<token_grant> r) : result<token_grant>(std::move(r)) {}
    /// An error with the rotated refresh token of the rejected answer.
    /// @param rescued a grant with an empty access token, `refresh_token` the new
    ///        token, `refresh_token_rotated` true and its expiry stamped
    grant_result(const babelbird::error& e, token_grant rescued)
        : result<token_grant>(e), salvaged_(std::move(rescued)) {}

    /// On failure, the rescued refresh token (see the class comment): a grant
    /// whose `access_token` is empty and whose `refresh_token` must replace the
    /// stored one. Empty on success (the grant itself holds the tokens) and when
    /// nothing could be rescued.
    const std::optional<token_grant>& salvaged() const noexcept { return salvaged_; }

private:
    std::optional<token_grant> salvaged_;
};

namespace detail {

/// Turns a parsed answer into a grant. `used_refresh_token` is kept when the
/// server did not rotate it, with `used_refresh_expires_at` (if known).
inline token_grant make_grant(const token_response& response, secret_view used_refresh_token,
                              std::optional<time_point> used_refresh_expires_at,
                              time_point issued_at, const client_options& options) {
    token_grant grant;
    grant.access_token = secret(response.access_token());
    grant.refresh_token_rotated = response.has_refresh_token();
    grant.refresh_token =
        secret(grant.refresh_token_rotated ? response.refresh_token() : used_refresh_token);
    grant.expires_in = response.expires_in();
    grant.issued_at = issued_at;
    grant.expires_at =
        access_expires_at(issued_at, response.expires_in(), options.assumed_lifetime);
    grant.refresh_expires_at = babelbird::refresh_expires_at(
        issued_at, response.refresh_expires_in(), grant.refresh_token_rotated,
        used_refresh_expires_at, options.refresh_token_lifetime);
    grant.token_type = std::string(response.token_type());
    grant.scope = std::string(response.scope());
    grant.warnings = response.warnings();
    return grant;
}

/// The grant of a rejected answer that carried a new refresh token (see
/// `grant_result`): no access token (`expires_at == issued_at`, so it counts
/// as expired), the rescued refresh token, `refresh_token_rotated` true and
/// `refresh_expires_at` stamped like a normal grant.
inline token_grant make_salvaged_grant(const token_response_result& parsed, time_point issued_at,
                                       const client_options& options) {
    token_grant grant;
    grant.refresh_token = secret(parsed.salvaged_refresh_token());
    grant.refresh_token_rotated = true;
    grant.issued_at = issued_at;
    grant.expires_at = issued_at;
    grant.refresh_expires_at =
        babelbird::refresh_expires_at(issued_at, parsed.salvaged_refresh_expires_in(), true,
                                      std::nullopt, options.refresh_token_lifetime);
    grant.warnings = parsed.salvaged_warnings();
    return grant;
}

/// parse -> stamp, for what the transport returned; `issued_at` was read before
/// sending. `sent` lists the secrets that went out with the request: an unknown
/// OAuth code that overlaps one of them is not kept in the error. Shared by
/// `exchange()` and `refresh_machine` so both read answers the same way.
/// When the parser salvaged a new refresh token from a rejected answer, the
/// result holds the error and `salvaged()` (see `make_salvaged_grant`). A
/// retry-class error carries the answer's `Retry-After` (see retry_after.hpp).
inline grant_result finish_exchange(const transport_result& response, time_point issued_at,
                                    std::initializer_list<std::string_view> sent,
                                    secret_view used_refresh_token,
                                    std::optional<time_point> used_refresh_expires_at,
                                    const client_options& options) {
    if (!response) {
        return response.error();
    }
    const auto parsed = parse_token_response(*response, options.response);
    if (!parsed) {
        error e = parsed.error();
        for (std::string_view s : sent) {
            e.forget_oauth_text_overlapping(s);
        }
        // An HTTP-date without a Date header is measured from the clock reading.
        detail::add_retry_after(e, *response, issued_at);
        if (parsed.has_salvaged_refresh_token()) {
            return grant_result(e, make_salvaged_grant(parsed, issued_at, options));
        }
        return e;
    }
    return make_grant(*parsed, used_refresh_token, used_refresh_expires_at, issued_at, options);
}

/// build -> send -> parse -> stamp; `issued_at` is read before sending.
template <class Transport, class Clock>
grant_result exchange(Transport& transport, Clock& clock, const http_request& request,
                      std::initializer_list<std::string_view> sent, secret_view used_refresh_token,
                      std::optional<time_point> used_refresh_expires_at,
                      const client_options& options) {
    const time_point issued_at = clock.now();
    const transport_result response = transport(request);
    return finish_exchange(response, issued_at, sent, used_refresh_token, used_refresh_expires_at,
                           options);
}

} // namespace detail

/// Refreshes an access token: `POST <refresh path>?grant_type=refresh_token&...`
/// through the caller's transport.
///
/// @param transport any `babelbird::transport` (see transport.hpp)
/// @param refresh_token the stored refresh token; kept in the grant when the
///        server does not send a new one
/// @param clock read once, before sending; expiry times count from that reading
/// @returns the new grant, or an error: `usage` for bad input (nothing sent),
/// `retry` for transport failures, and the parser's classes for the answer.
template <class Transport, class Clock = system_clock_source>
grant_result refresh(Transport&& transport, const client_credentials& credentials,
                     const endpoint& server, secret_view refresh_token,
                     const client_options& options = {}, Clock&& clock = Clock{}) {
    static_assert(clock_source<std::remove_reference_t<Clock>>,
                  "babelbird: the clock must have now() returning babelbird::time_point");
    if constexpr (detail::check_transport<std::remove_reference_t<Transport>>()) {
        const auto request = build_refresh_request(credentials, server, refresh_token);
        if (!request) {
            return request.error();
        }
        return detail::exchange(
            transport, clock, *request,
            {refresh_token.expose_secret(), credentials.client_secret().expose_secret()},
            refresh_token, std::nullopt, options);
    } else {
        return error::usage(errc::invalid_argument);
    }
}

/// Refreshes the grant `previous`; when the server keeps the refresh token, the
/// new grant keeps `previous.refresh_expires_at`.
template <class Transport, class Clock = system_clock_source>
grant_result refresh(Transport&& transport, const client_credentials& credentials,
                     const endpoint& server, const token_grant& previous,
                     const client_options& options = {}, Clock&& clock = Clock{}) {
    static_assert(clock_source<std::remove_reference_t<Clock>>,
                  "babelbird: the clock must have now() returning babelbird::time_point");
    if constexpr (detail::check_transport<std::remove_reference_t<Transport>>()) {
        const auto request = build_refresh_request(credentials, server, previous.refresh_token);
        if (!request) {
            return request.error();
        }
        return detail::exchange(
            transport, clock, *request,
            {previous.refresh_token.expose_secret(), credentials.client_secret().expose_secret()},
            previous.refresh_token.view(), previous.refresh_expires_at, options);
    } else {
        return error::usage(errc::invalid_argument);
    }
}

/// Exchanges an authorization code for tokens (RFC 6749 section 4.1.3):
/// `POST <token path>?grant_type=authorization_code&code=..&redirect_uri=..`
/// through the caller's transport, parsed and stamped like `refresh()`.
///
/// A code is single-use (and valid for 5 minutes): this function sends exactly
/// one request and never retries it, with these or other settings. A second
/// use of a code is rejected by the server, which gives a `reauthorize` error.
///
/// @param code the code from the callback (see callback.hpp)
/// @param redirect_uri byte for byte the URI the authorization request carried
/// @param clock read once, before sending; expiry times count from that reading
/// @returns the grant: `refresh_token_rotated` tells whether the server sent a
/// refresh token; when it did not, `refresh_token` is empty and
/// `refresh_expires_at` is empty unless the server sent `refresh_expires_in`.
/// Errors: `usage` for bad input (nothing sent), `retry` for transport
/// failures, and the parser's classes for the answer (invalid_grant, 400 and
/// 401 are `reauthorize`).
template <class Transport, class Clock = system_clock_source>
grant_result exchange_code(Transport&& transport, const client_credentials& credentials,
                           const endpoint& server, secret_view code, std::string_view redirect_uri,
                           const client_options& options = {}, Clock&& clock = Clock{}) {
    static_assert(clock_source<std::remove_reference_t<Clock>>,
                  "babelbird: the clock must have now() returning babelbird::time_point");
    if constexpr (detail::check_transport<std::remove_reference_t<Transport>>()) {
        const auto request = build_code_exchange_request(credentials, server, code, redirect_uri);
        if (!request) {
            return request.error();
        }
        return detail::exchange(transport, clock, *request,
                                {code.expose_secret(), credentials.client_secret().expose_secret()},
                                secret_view(), std::nullopt, options);
    } else {
        return error::usage(errc::invalid_argument);
    }
}

} // namespace babelbird::inline v1
