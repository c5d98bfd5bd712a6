/// @file requests/file_api.hpp
/// @brief Requests to the file access API: a small builder (method, versioned
/// path, UTF-8 query, optional JSON body, `Accept`) and `add_bearer`, which puts
/// `Authorization: Bearer <access_token>` on any request. Pure: no I/O, no JSON
/// parsing (a JSON body is passed through as given).
#pragma once

#include "babelbird/config/compiler_check.hpp"

#include <cstddef>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "babelbird/encoding/percent.hpp"
#include "babelbird/encoding/url.hpp"
#include "babelbird/encoding/utf8.hpp"
#include "babelbird/requests/endpoint.hpp"
#include "babelbird/requests/query.hpp"
#include "babelbird/requests/token_requests.hpp"
#include "babelbird/values/ascii.hpp"
#include "babelbird/values/http.hpp"
#include "babelbird/values/result.hpp"
#include "babelbird/values/secret.hpp"
#include "babelbird/values/secure_zero.hpp"

namespace babelbird::inline v1 {

/// The `Content-Type` of a JSON body.
inline constexpr std::string_view json_content_type = "application/json; charset=utf-8";

/// One file-API request, before the Bearer token is added.
/// @warning All members are views: they must outlive the builder call.
struct file_api_params {
    /// The method, an RFC 9110 token, used as given (methods are case-sensitive).
    std::string_view method = "GET";
    /// The path under the base URL, API version included, for example
    /// `/api/v1/file/list`: it starts with '/', holds only URL path characters
    /// and valid `%XX` escapes, and has no `.` or `..` segment (not even an
    /// encoded one), so it cannot climb out of the base URL's context path.
    std::string_view path;
    /// Query parameters in this order, names and values percent-encoded as
    /// UTF-8 (RFC 3986: a space is `%20`). Names must be non-empty; a name may
    /// repeat (some APIs take lists that way).
    std::span<const query_parameter> query{};
    /// A JSON text sent as the body with `Content-Type: application/json;
    /// charset=utf-8`. It must be valid UTF-8; it is not parsed.
    std::optional<std::string_view> json_body{};
    /// The `Accept` header (the file API picks the response format by it);
    /// empty sends none.
    std::string_view accept = "application/json";
};

namespace detail {

/// RFC 9110 section 5.6.2 `tchar`.
constexpr bool is_tchar(char ch) noexcept {
    if (is_alpha(ch) || is_digit(ch)) {
        return true;
    }
    switch (ch) {
    case '!':
    case '#':
    case '$':
    case '%':
    case '&':
    case '\'':
    case '*':
    case '+':
    case '-':
    case '.':
    case '^':
    case '_':
    case '`':
    case '|':
    case '~':
        return true;
    default:
        return false;
    }
}

constexpr bool is_method_token(std::string_view method) noexcept {
    if (method.empty()) {
        return false;
    }
    for (char ch : method) {
        if (!is_tchar(ch)) {
            return false;
        }
    }
    return true;
}

/// Whether a path segment is `.` or `..`, written plainly or with `%2E`.
constexpr bool is_dot_segment(std::string_view segment) noexcept {
    std::size_t dots = 0;
    for (std::size_t i = 0; i < segment.size(); ++dots) {
        if (segment[i] == '.') {
            i += 1;
        } else if (segment.size() - i >= 3 && segment[i] == '%' && segment[i + 1] == '2' &&
                   (segment[i + 2] == 'e' || segment[i + 2] == 'E')) {
            i += 3;
        } else {
            return false;
        }
    }
    return dots == 1 || dots == 2;
}

constexpr errc file_path_error(std::string_view path) noexcept {
    if (path.empty() || path.front() != '/' || !is_valid_path(path)) {
        return errc::invalid_path;
    }
    std::size_t start = 1;
    while (start <= path.size()) {
        std::size_t slash = path.find('/', start);
        if (slash == std::string_view::npos) {
            slash = path.size();
        }
        if (is_dot_segment(path.substr(start, slash - start))) {
            return errc::invalid_path;
        }
        start = slash + 1;
    }
    return errc{};
}

/// A header value the caller chose: no control byte, ASCII only.
constexpr errc header_value_error(std::string_view value) noexcept {
    if (has_control(value)) {
        return errc::control_character;
    }
    for (char ch : value) {
        if (static_cast<unsigned char>(ch) > 0x7E) {
            return errc::invalid_argument;
        }
    }
    return errc{};
}

} // namespace detail

/// Builds a file-API request: `<method> <base><path>[?query]` with
/// `Accept` (unless empty) and, with a JSON body, `Content-Type:
/// application/json; charset=utf-8`. Add the token with `add_bearer` (or send
/// it with `send_authorized`, which does).
/// @returns the request, or a `usage` error: `invalid_method`;
/// `invalid_path`; `empty_value` (a query parameter without a name);
/// `invalid_utf8` (a query name or value, or the body); `control_character`
/// or `invalid_argument` (a non-ASCII byte) for `accept`.
inline result<http_request> build_file_api_request(const endpoint& server,
                                                   const file_api_params& params) {
    if (!detail::is_method_token(params.method)) {
        return error::usage(errc::invalid_method);
    }
    if (const errc e = detail::file_path_error(params.path); e != errc{}) {
        return error::usage(e);
    }
    for (const auto& p : params.query) {
        if (p.name.empty()) {
            return error::usage(errc::empty_value);
        }
        if (!detail::is_valid_utf8(p.name) || !detail::is_valid_utf8(p.value)) {
            return error::usage(errc::invalid_utf8);
        }
    }
    if (params.json_body && !detail::is_valid_utf8(*params.json_body)) {
        return error::usage(errc::invalid_utf8);
    }
    if (const errc e = detail::header_value_error(params.accept); e != errc{}) {
        return error::usage(e);
    }
    http_request request;
    request.method = std::string(params.method);
    request.url = detail::build_url(server.base_url(), params.path, {}, params.query);
    request.headers.reserve(3);
    if (!params.accept.empty()) {
        request.headers.push_back({"Accept", std::string(params.accept)});
    }
    if (params.json_body) {
        request.headers.push_back({"Content-Type", std::string(json_content_type)});
        request.body = std::string(*params.json_body);
    }
    return request;
}

/// Sets `Authorization: Bearer <access_token>` (RFC 6750 section 2.1) on
/// `request`, replacing any `Authorization` header it had; the replaced values
/// are zeroed first.
/// @returns `empty_value`, `control_character` or `token_not_header_safe`
/// (class `usage`) for a token that is not VSCHAR (0x20-0x7E) without leading
/// or trailing space (RFC 6749 appendix A.12); the request is then left unchanged.
/// @warning The request now carries the token: it zeros it when destroyed,
/// but do not log its headers.
inline result<void> add_bearer(http_request& request, secret_view access_token) {
    if (auto ok = detail::check_access_token_input(access_token.expose_secret()); !ok) {
        return ok;
    }
    constexpr std::string_view scheme = "Bearer ";
    std::string value;
    value.reserve(scheme.size() + access_token.size());
    value += scheme;
    value += access_token.expose_secret();
    for (auto& h : request.headers) {
        if (detail::iequals(h.name, "Authorization")) {
            detail::scrub(h.value);
        }
    }
    request.set_header("Authorization", std::move(value));
    return {};
}

} // namespace babelbird::inline v1
