/// @file machines/exchange.hpp
/// @brief The exchange machines: each token-endpoint request/answer pair as a
/// pure *prepare* (inputs to the `http_request` to send) and a pure *finish*
/// (what the transport returned, and the clock reading taken before sending,
/// to a stamped `grant_result`). No I/O, no clock, no locks (docs/design.md,
/// "The shape", exchange machines).
///
/// `refresh()` and `exchange_code()` (drivers/client.hpp) are blocking drivers
/// of a few lines over them; any other HTTP stack drives them the same way
/// (`credentials`, `server`, `clock`, `my_stack` and `store` are yours;
/// tests/doc_examples/exchange.cpp compiles and runs this):
/// @code
/// void start_refresh(const babelbird::token_grant& grant) {
///     auto exchange = babelbird::refresh_exchange::prepare(credentials, server, grant);
///     if (!exchange) {
///         return; // a usage error (exchange.error()): nothing to send
///     }
///     // The completion runs after this function returned: it owns the
///     // exchange, which holds the secrets finish() needs.
///     auto owned = std::make_shared<babelbird::refresh_exchange>(std::move(*exchange));
///     const babelbird::time_point issued_at = clock.now(); // right before sending
///     my_stack.send(owned->request(), [owned, issued_at](babelbird::transport_result answer) {
///         const babelbird::grant_result next = owned->finish(answer, issued_at);
///         if (next) {
///             store(*next); // the new grant
///         } else if (next.salvaged()) {
///             store(*next.salvaged()); // a rotated refresh token: the old one is dead
///         }
///     });
/// }
/// @endcode
#pragma once

#include "babelbird/config/compiler_check.hpp"

#include <chrono>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "babelbird/answers/retry_after.hpp"
#include "babelbird/answers/token_response.hpp"
#include "babelbird/machines/expiry.hpp"
#include "babelbird/requests/credentials.hpp"
#include "babelbird/requests/endpoint.hpp"
#include "babelbird/requests/token_requests.hpp"
#include "babelbird/values/clock.hpp"
#include "babelbird/values/error.hpp"
#include "babelbird/values/http.hpp"
#include "babelbird/values/secret.hpp"
#include "babelbird/values/token.hpp"

namespace babelbird::inline v1 {

/// Options of the exchanges (`refresh_exchange`, `code_exchange`, `refresh()`,
/// `exchange_code()`).
/// @warning `response.envelope` and `response.fields` are views: they must
/// outlive every `finish()` of an exchange prepared with these options.
struct client_options {
    response_options response{};
    /// The access-token lifetime assumed when the server sends no `expires_in`.
    std::chrono::seconds assumed_lifetime{3600};
    /// The lifetime of a newly issued refresh token, unless the server sends
    /// `refresh_expires_in` (BabelBird documents 30 days).
    std::chrono::seconds refresh_token_lifetime{std::chrono::hours(24 * 30)};
};

/// What a token exchange (`refresh_exchange::finish`, `code_exchange::finish`,
/// `refresh()`, `exchange_code()`, the lifecycle) returns: a
/// `result<token_grant>` that, when it holds an error, may also hold a refresh
/// token the server issued in that same rejected answer.
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

/// The one reading of a token-endpoint answer, behind every `finish()`: parse,
/// scrub, stamp. `sent` lists the secrets that went out with the request: an
/// unknown OAuth code that overlaps one of them is not kept in the error.
inline grant_result finish_token_answer(const transport_result& response, time_point issued_at,
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

} // namespace detail

/// The refresh exchange (RFC 6749 section 6; the vendor's `refreshToken.do`):
/// `POST <refresh path>?grant_type=refresh_token&refresh_token=...` with
/// `Authorization: Basic ...`, and the reading of its answer.
///
/// An object holds the request to send and copies of what reading the answer
/// needs: the refresh token that was sent (kept in the grant when the server
/// does not rotate it), its known expiry, the client secret (an OAuth error text
/// that echoes the token or the secret is dropped from the error, as for every
/// exchange) and the options. It does no I/O and reads no clock; every member
/// is pure. Copyable and movable; a `const` object may be used from several
/// threads at once. The secrets are zeroed when the object is destroyed.
/// A moved-from exchange holds nothing to use: do not send its `request()`; its
/// `finish()` refuses to read any answer (`usage`), since it no longer knows
/// the token to keep or the secrets to scrub. Finish the object it was moved to.
class refresh_exchange {
public:
    /// Prepares the refresh of `refresh_token`.
    /// @param refresh_expires_at when the token runs out, if known; the new
    ///        grant keeps it when the server does not rotate the token
    /// @returns the exchange, or a `usage` error of `build_refresh_request`
    /// (`empty_value`, `control_character`, `token_not_header_safe`): nothing
    /// is to be sent.
    static result<refresh_exchange> prepare(const client_credentials& credentials,
                                            const endpoint& server, secret_view refresh_token,
                                            std::optional<time_point> refresh_expires_at = {},
                                            client_options options = {}) {
        auto request = build_refresh_request(credentials, server, refresh_token);
        if (!request) {
            return request.error();
        }
        return refresh_exchange(std::move(*request), secret(refresh_token),
                                secret(credentials.client_secret()), refresh_expires_at,
                                std::move(options));
    }

    /// Prepares the refresh of the grant `previous`: its `refresh_token` and
    /// `refresh_expires_at`. Same errors as the other overload.
    static result<refresh_exchange> prepare(const client_credentials& credentials,
                                            const endpoint& server, const token_grant& previous,
                                            client_options options = {}) {
        return prepare(credentials, server, previous.refresh_token.view(),
                       previous.refresh_expires_at, std::move(options));
    }

    /// The request to send, byte for byte `build_refresh_request`'s.
    /// @warning Its URL carries the refresh token: treat it as a secret.
    const http_request& request() const noexcept { return request_; }

    /// Reads the answer to `request()`. Pure: it may be called more than once
    /// (with the same arguments it gives the same result).
    /// @param response what the transport returned for `request()`
    /// @param issued_at the clock reading taken *before* sending; `expires_at`,
    ///        `refresh_expires_at` and an HTTP-date `Retry-After` without a
    ///        `Date` header count from it
    /// @returns the new grant; when the server did not rotate the refresh token
    /// it keeps the one that was sent and its `refresh_expires_at`. Errors: a
    /// transport error as it is (class `retry`); otherwise the parser's
    /// (`parse_token_response`), with `Retry-After` on retry-class answers and
    /// `salvaged()` when a rejected 2xx answer carried a new refresh token;
    /// `errc::invalid_argument` (class `usage`) on a moved-from exchange, whose
    /// answer is not read (it would lose the kept token, or keep an echo of a
    /// secret in the error).
    /// @note `finish` cannot tell which request an answer belongs to: it reads
    /// any answer as the answer to *this* request, keeps *this* refresh token
    /// when the answer rotates none, and scrubs only *this* exchange's secrets
    /// from an OAuth error text. Give each answer to the exchange whose request
    /// was sent.
    grant_result finish(const transport_result& response, time_point issued_at) const {
        if (refresh_token_.empty()) { // moved from: prepare() never holds an empty token
            return error::usage(errc::invalid_argument);
        }
        return detail::finish_token_answer(
            response, issued_at, {refresh_token_.expose_secret(), client_secret_.expose_secret()},
            refresh_token_.view(), refresh_expires_at_, options_);
    }

private:
    refresh_exchange(http_request request, secret refresh_token, secret client_secret,
                     std::optional<time_point> refresh_expires_at, client_options options)
        : request_(std::move(request)), refresh_token_(std::move(refresh_token)),
          client_secret_(std::move(client_secret)), refresh_expires_at_(refresh_expires_at),
          options_(std::move(options)) {}

    http_request request_;
    secret refresh_token_;
    secret client_secret_;
    std::optional<time_point> refresh_expires_at_;
    client_options options_;
};

/// The authorization-code exchange (RFC 6749 section 4.1.3):
/// `POST <token path>?grant_type=authorization_code&code=..&redirect_uri=..`
/// with `Authorization: Basic ...`, and the reading of its answer.
///
/// A code is single-use (and valid for 5 minutes): send `request()` once and
/// never again, with these or other settings; a second use is rejected by the
/// server (`reauthorize`). The object holds copies of the code and the client
/// secret (an OAuth error text that echoes them is dropped from the error).
/// Pure, like `refresh_exchange`; copyable, movable, and a `const` object may be
/// used from several threads at once; a moved-from one refuses to `finish()`.
class code_exchange {
public:
    /// Prepares the exchange of `code`.
    /// @param code the code from the callback (see answers/callback.hpp)
    /// @param redirect_uri byte for byte the URI the authorization request carried
    /// @returns the exchange, or a `usage` error of `build_code_exchange_request`
    /// (a bad code or redirect URI): nothing is to be sent.
    static result<code_exchange> prepare(const client_credentials& credentials,
                                         const endpoint& server, secret_view code,
                                         std::string_view redirect_uri,
                                         client_options options = {}) {
        auto request = build_code_exchange_request(credentials, server, code, redirect_uri);
        if (!request) {
            return request.error();
        }
        return code_exchange(std::move(*request), secret(code), secret(credentials.client_secret()),
                             std::move(options));
    }

    /// The request to send, byte for byte `build_code_exchange_request`'s.
    /// @warning Its URL carries the code: treat it as a secret.
    const http_request& request() const noexcept { return request_; }

    /// Reads the answer to `request()`; pure, like `refresh_exchange::finish`
    /// (the same parameters, errors and note on answers of other requests).
    /// @returns the first grant: `refresh_token_rotated` tells whether the
    /// server sent a refresh token; when it did not, `refresh_token` is empty
    /// and `refresh_expires_at` is empty unless the server sent
    /// `refresh_expires_in`. `invalid_grant` (a used or expired code), 400 and
    /// 401 are `reauthorize`. On a moved-from exchange `errc::invalid_argument`
    /// (class `usage`), the answer unread.
    grant_result finish(const transport_result& response, time_point issued_at) const {
        if (code_.empty()) { // moved from: prepare() never holds an empty code
            return error::usage(errc::invalid_argument);
        }
        return detail::finish_token_answer(response, issued_at,
                                           {code_.expose_secret(), client_secret_.expose_secret()},
                                           secret_view(), std::nullopt, options_);
    }

private:
    code_exchange(http_request request, secret code, secret client_secret, client_options options)
        : request_(std::move(request)), code_(std::move(code)),
          client_secret_(std::move(client_secret)), options_(std::move(options)) {}

    http_request request_;
    secret code_;
    secret client_secret_;
    client_options options_;
};

} // namespace babelbird::inline v1
