/// @file requests/authorize.hpp
/// @brief Authorization URLs: the browser login (`/api/authorize.do`) and the
/// login-free JWT variant (`/api/authorizeByJWT.do`). Pure: no I/O, no JSON.
///
/// Both put the documented parameters first, in the documented order, then the
/// caller's extra parameters in the caller's order. Every name and value is
/// percent-encoded as UTF-8 (RFC 3986 section 2.1: unreserved bytes kept, all
/// others `%XX` upper-case, so a space is `%20` and '+' is `%2B`).
#pragma once

#include "babelbird/config/compiler_check.hpp"

#include <array>
#include <cstddef>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "babelbird/encoding/utf8.hpp"
#include "babelbird/requests/endpoint.hpp"
#include "babelbird/requests/query.hpp"
#include "babelbird/requests/token_requests.hpp"
#include "babelbird/values/ascii.hpp"
#include "babelbird/values/result.hpp"
#include "babelbird/values/secret.hpp"

namespace babelbird::inline v1 {

/// The browser authorization (RFC 6749 section 4.1.1).
/// @warning All members are views: they must outlive the builder call.
struct authorize_params {
    /// The client id: non-empty, no control byte, valid UTF-8.
    std::string_view client_id;
    /// Where the server redirects with `code` and `data`: an absolute URI
    /// without fragment; it may have its own query. Pass the same bytes to
    /// `exchange_code` later.
    std::string_view redirect_uri;
    /// Opaque state echoed back in the callback (BabelBird calls it `data`;
    /// RFC 6749 calls it `state`). Use an unguessable value and check it with
    /// `parse_callback_url(..., expected_data)`. Any valid UTF-8; an engaged
    /// empty value is sent as `&data=`.
    std::optional<std::string_view> data{};
    /// Further parameters, sent after the documented ones. None may be named
    /// like a documented one (`response_type`, `client_id`, `redirect_uri`,
    /// `data`, compared ASCII-case-insensitively) or like another extra one.
    std::span<const query_parameter> extra{};
};

/// The login-free authorization. The caller signs the JWT (out of scope here).
/// At most one user selector may be given; none means the enterprise
/// administrator (BabelBird's rule for a blank user).
/// @warning All members are views: they must outlive the builder call.
struct authorize_jwt_params {
    /// The client id: non-empty, no control byte, valid UTF-8.
    std::string_view client_id;
    /// The signed JWT: non-empty and header-safe (bytes 0x21-0x7E).
    secret_view jwt_token{};
    /// Selects the user by e-mail address.
    std::optional<std::string_view> email{};
    /// Selects the user by phone number.
    std::optional<std::string_view> phone{};
    /// Selects the user by BabelBird user id (sent as `babelId`).
    std::optional<std::string_view> babel_id{};
    /// Further parameters, sent after the documented ones. None may be named
    /// like a documented one (`response_type`, `client_id`, `jwt_token`,
    /// `email`, `phone`, `babelId`, ASCII-case-insensitively) or like another.
    std::span<const query_parameter> extra{};
};

namespace detail {

inline constexpr std::array<std::string_view, 4> authorize_names = {"response_type", "client_id",
                                                                    "redirect_uri", "data"};
inline constexpr std::array<std::string_view, 6> authorize_jwt_names = {
    "response_type", "client_id", "jwt_token", "email", "phone", "babelId"};

constexpr errc client_id_error(std::string_view id) noexcept {
    if (id.empty()) {
        return errc::empty_client_id;
    }
    if (has_control(id)) {
        return errc::control_character;
    }
    if (!is_valid_utf8(id)) {
        return errc::invalid_utf8;
    }
    return errc{};
}

/// A user selector, when given: non-empty (an empty one would silently select
/// the administrator), no control byte, valid UTF-8.
constexpr errc selector_error(std::string_view value) noexcept {
    if (value.empty()) {
        return errc::empty_value;
    }
    if (has_control(value)) {
        return errc::control_character;
    }
    if (!is_valid_utf8(value)) {
        return errc::invalid_utf8;
    }
    return errc{};
}

} // namespace detail

/// The browser authorization URL:
/// `<base><authorize path>?response_type=code&client_id=..&redirect_uri=..[&data=..][&extra..]`.
///
/// Send the user's browser there; the server redirects to `redirect_uri` with
/// `code` and `data` (see answers/callback.hpp).
/// @returns the URL, or a `usage` error: `empty_client_id`,
/// `control_character`, `invalid_utf8` (client id, data or an extra
/// parameter), `empty_value`/`invalid_redirect_uri` (see
/// `build_code_exchange_request`), `empty_value` for an extra parameter
/// without a name, `reserved_parameter` or `duplicate_parameter`.
/// The URL carries no secret (the client id and `data` are public by design).
inline result<std::string> build_authorize_url(const endpoint& server,
                                               const authorize_params& params) {
    if (const errc e = detail::client_id_error(params.client_id); e != errc{}) {
        return error::usage(e);
    }
    if (const errc e = detail::redirect_uri_error(params.redirect_uri); e != errc{}) {
        return error::usage(e);
    }
    if (params.data && !detail::is_valid_utf8(*params.data)) {
        return error::usage(errc::invalid_utf8);
    }
    if (const errc e = detail::extra_parameters_error(params.extra, detail::authorize_names);
        e != errc{}) {
        return error::usage(e);
    }
    const std::array<query_parameter, 4> fixed = {{{"response_type", "code"},
                                                   {"client_id", params.client_id},
                                                   {"redirect_uri", params.redirect_uri},
                                                   {"data", params.data.value_or("")}}};
    const std::span<const query_parameter> documented(fixed.data(), params.data ? 4 : 3);
    const std::string_view path = server.paths().authorize;
    return detail::build_url(server.base_url(), path, documented, params.extra);
}

/// The login-free authorization URL:
/// `<base><authorizeByJWT path>?response_type=code&client_id=..&jwt_token=..`
/// `[&email=..|&phone=..|&babelId=..][&extra..]`.
///
/// Private deployments must enable this endpoint. Without a user selector the
/// server authorizes the enterprise administrator.
/// @returns the URL as a `secret` (it carries the JWT, a bearer credential:
/// read it with `expose_secret()`, zeroed when destroyed), or a `usage` error:
/// `empty_client_id`, `control_character`, `invalid_utf8`; `empty_value`,
/// `control_character` or `token_not_header_safe` for the JWT;
/// `conflicting_user_selectors` when more than one selector is given;
/// `empty_value` for an engaged but empty selector; `reserved_parameter` or
/// `duplicate_parameter` for the extra parameters.
inline result<secret> build_authorize_jwt_url(const endpoint& server,
                                              const authorize_jwt_params& params) {
    if (const errc e = detail::client_id_error(params.client_id); e != errc{}) {
        return error::usage(e);
    }
    if (auto ok = detail::check_token_input(params.jwt_token.expose_secret()); !ok) {
        return ok.error();
    }
    const int selectors = int(params.email.has_value()) + int(params.phone.has_value()) +
                          int(params.babel_id.has_value());
    if (selectors > 1) {
        return error::usage(errc::conflicting_user_selectors);
    }
    std::array<query_parameter, 4> fixed = {{{"response_type", "code"},
                                             {"client_id", params.client_id},
                                             {"jwt_token", params.jwt_token.expose_secret()},
                                             {}}};
    std::size_t count = 3;
    const std::optional<std::string_view>* const selector[3] = {&params.email, &params.phone,
                                                                &params.babel_id};
    for (std::size_t i = 0; i < 3; ++i) {
        if (selector[i]->has_value()) {
            if (const errc e = detail::selector_error(**selector[i]); e != errc{}) {
                return error::usage(e);
            }
            fixed[count++] = {detail::authorize_jwt_names[3 + i], **selector[i]};
        }
    }
    if (const errc e = detail::extra_parameters_error(params.extra, detail::authorize_jwt_names);
        e != errc{}) {
        return error::usage(e);
    }
    const std::span<const query_parameter> documented(fixed.data(), count);
    const std::string_view path = server.paths().authorize_jwt;
    return secret::build(
        detail::url_size(server.base_url(), path, documented, params.extra),
        [&](char* w) { detail::write_url(w, server.base_url(), path, documented, params.extra); });
}

} // namespace babelbird::inline v1
