/// @file requests/token_requests.hpp
/// @brief Pure builders of the token-endpoint requests. No I/O, no JSON.
#pragma once

#include "babelbird/config/compiler_check.hpp"

#include <array>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "babelbird/requests/credentials.hpp"
#include "babelbird/requests/endpoint.hpp"
#include "babelbird/requests/query.hpp"
#include "babelbird/values/ascii.hpp"
#include "babelbird/values/http.hpp"
#include "babelbird/values/result.hpp"
#include "babelbird/values/secret.hpp"

namespace babelbird::inline v1 {

namespace detail {

/// The headers every token-endpoint request carries.
inline std::vector<http_header> token_endpoint_headers(const client_credentials& credentials) {
    std::vector<http_header> headers;
    headers.reserve(2);
    headers.push_back({"Authorization", credentials.basic_authorization_string()});
    headers.push_back({"Accept", "application/json"});
    return headers;
}

/// A token as input: non-empty, no control byte, and `well_formed(token)`.
/// @returns `errc::empty_value`, `errc::control_character` (C0 or DEL) or
/// `errc::token_not_header_safe` (what `well_formed` refuses), class `usage`.
inline result<void> check_token_shape(std::string_view token,
                                      bool (*well_formed)(std::string_view)) {
    if (token.empty()) {
        return error::usage(errc::empty_value);
    }
    if (has_control(token)) {
        return error::usage(errc::control_character);
    }
    if (!well_formed(token)) {
        return error::usage(errc::token_not_header_safe);
    }
    return {};
}

/// A code or JWT as input: header-safe (bytes 0x21-0x7E); see `check_token_shape`.
inline result<void> check_token_input(std::string_view token) {
    return check_token_shape(token, [](std::string_view t) { return is_header_safe_token(t); });
}

/// A refresh token as input: 1*VSCHAR, spaces allowed (RFC 6749 appendix
/// A.17, docs/design.md "Policies"); it travels percent-encoded in the query.
/// Accepts every refresh token the parser accepts; see `check_token_shape`.
inline result<void> check_refresh_token_input(std::string_view token) {
    return check_token_shape(token, [](std::string_view t) { return is_refresh_token(t); });
}

/// An access token as input: 1*VSCHAR without a leading or trailing space
/// (RFC 6749 appendix A.12; it goes into a header). Accepts every access token
/// the parser accepts; see `check_token_shape`.
inline result<void> check_access_token_input(std::string_view token) {
    return check_token_shape(token, [](std::string_view t) { return is_access_token(t); });
}

} // namespace detail

/// The refresh request:
/// `POST <base><refresh path>?grant_type=refresh_token&refresh_token=<percent-encoded>`
/// with `Authorization: Basic ...`, `Accept: application/json` and an empty body.
/// The parameters ride in the URL query, as the BabelBird documentation says.
/// The refresh token is 1*VSCHAR (0x20-0x7E, spaces allowed, RFC 6749 appendix
/// A.17) and percent-encoded (a space becomes %20).
/// @returns `errc::empty_value`, `errc::control_character` or
/// `errc::token_not_header_safe` (a byte above 0x7E), class `usage`, for a bad
/// refresh token.
/// @warning The URL carries the refresh token: treat the request as a secret.
inline result<http_request> build_refresh_request(const client_credentials& credentials,
                                                  const endpoint& server,
                                                  secret_view refresh_token) {
    if (auto ok = detail::check_refresh_token_input(refresh_token.expose_secret()); !ok) {
        return ok.error();
    }
    http_request request;
    request.method = "POST";
    const std::array<query_parameter, 2> params = {
        {{"grant_type", "refresh_token"}, {"refresh_token", refresh_token.expose_secret()}}};
    request.url = detail::build_url(server.base_url(), server.paths().refresh, params);
    request.headers = detail::token_endpoint_headers(credentials);
    return request;
}

/// The code exchange request (RFC 6749 section 4.1.3):
/// `POST <base><token path>?grant_type=authorization_code&code=<enc>&redirect_uri=<enc>`
/// with `Authorization: Basic ...`, `Accept: application/json` and an empty body,
/// parameters in the URL query like the refresh request.
/// @param code the code from the authorization callback: non-empty and
///        header-safe (bytes 0x21-0x7E), like every token the server issues
/// @param redirect_uri exactly the URI the authorization request carried; it
///        may have its own query (it is percent-encoded as one value)
/// @returns `errc::empty_value`, `errc::control_character` or
/// `errc::token_not_header_safe` for a bad code; `errc::empty_value`,
/// `errc::control_character`, `errc::invalid_utf8` or `errc::invalid_redirect_uri`
/// for a bad redirect URI (not absolute, a fragment, a space or another byte
/// RFC 3986 excludes). All of class `usage`.
/// @warning The URL carries the code: treat the request as a secret.
inline result<http_request> build_code_exchange_request(const client_credentials& credentials,
                                                        const endpoint& server, secret_view code,
                                                        std::string_view redirect_uri) {
    if (auto ok = detail::check_token_input(code.expose_secret()); !ok) {
        return ok.error();
    }
    if (const errc e = detail::redirect_uri_error(redirect_uri); e != errc{}) {
        return error::usage(e);
    }
    http_request request;
    request.method = "POST";
    const std::array<query_parameter, 3> params = {{{"grant_type", "authorization_code"},
                                                    {"code", code.expose_secret()},
                                                    {"redirect_uri", redirect_uri}}};
    request.url = detail::build_url(server.base_url(), server.paths().token, params);
    request.headers = detail::token_endpoint_headers(credentials);
    return request;
}

} // namespace babelbird::inline v1
