/// @file requests.hpp
/// @brief Pure builders of the token-endpoint requests. No I/O, no JSON.
#pragma once

#include <cstddef>
#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>

#include "babelbird/credentials.hpp"
#include "babelbird/detail/ascii.hpp"
#include "babelbird/detail/percent.hpp"
#include "babelbird/endpoint.hpp"
#include "babelbird/error.hpp"
#include "babelbird/http.hpp"
#include "babelbird/secret.hpp"

namespace babelbird {

namespace detail {

/// One `name=value` pair of a query; names are literal, values get encoded.
struct query_param {
    std::string_view name;
    std::string_view value;
};

/// `base + path + "?" + n1=enc(v1)&n2=enc(v2)...` sized exactly, one allocation.
inline std::string build_url(std::string_view base, std::string_view path,
                             std::initializer_list<query_param> params) {
    std::size_t size = base.size() + path.size();
    for (const auto& p : params) {
        size += 2 + p.name.size() + percent_encoded_size(p.value);
    }
    std::string url(size, '\0');
    char* w = url.data();
    const auto put = [&w](std::string_view s) {
        for (char ch : s) {
            *w++ = ch;
        }
    };
    put(base);
    put(path);
    char sep = '?';
    for (const auto& p : params) {
        *w++ = sep;
        sep = '&';
        put(p.name);
        *w++ = '=';
        w = percent_encode_to(p.value, w);
    }
    return url;
}

/// The headers every token-endpoint request carries.
inline std::vector<http_header> token_endpoint_headers(const client_credentials& credentials) {
    std::vector<http_header> headers;
    headers.reserve(2);
    headers.push_back({"Authorization", credentials.basic_authorization_string()});
    headers.push_back({"Accept", "application/json"});
    return headers;
}

/// A token as input: non-empty and header-safe (it is also what servers issue).
inline result<void> check_token_input(std::string_view token) {
    if (token.empty()) {
        return error::usage(errc::empty_value);
    }
    if (has_control(token)) {
        return error::usage(errc::control_character);
    }
    if (!is_header_safe_token(token)) {
        return error::usage(errc::token_not_header_safe);
    }
    return {};
}

} // namespace detail

/// The refresh request:
/// `POST <base><refresh path>?grant_type=refresh_token&refresh_token=<percent-encoded>`
/// with `Authorization: Basic ...`, `Accept: application/json` and an empty body.
/// The parameters ride in the URL query, as the BabelBird documentation says.
/// @returns `errc::empty_value`, `errc::control_character` or
/// `errc::token_not_header_safe` (class `usage`) for a bad refresh token.
/// @warning The URL carries the refresh token: treat the request as a secret.
inline result<http_request> build_refresh_request(const client_credentials& credentials,
                                                  const endpoint& server,
                                                  secret_view refresh_token) {
    if (auto ok = detail::check_token_input(refresh_token.expose_secret()); !ok) {
        return ok.error();
    }
    http_request request;
    request.method = "POST";
    request.url = detail::build_url(
        server.base_url(), server.paths().refresh,
        {{"grant_type", "refresh_token"}, {"refresh_token", refresh_token.expose_secret()}});
    request.headers = detail::token_endpoint_headers(credentials);
    return request;
}

} // namespace babelbird
