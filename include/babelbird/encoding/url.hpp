/// @file encoding/url.hpp
/// @brief Validation of the base URL and endpoint paths; loopback detection.
#pragma once

#include "babelbird/config/compiler_check.hpp"

#include <cstddef>
#include <string_view>

#include "babelbird/values/ascii.hpp"
#include "babelbird/values/result.hpp"

namespace babelbird::inline v1::detail {

/// RFC 3986 pchar minus '%' (checked separately) plus '/': what a path may hold.
constexpr bool is_path_char(char ch) noexcept {
    if (is_alpha(ch) || is_digit(ch)) {
        return true;
    }
    switch (ch) {
    case '-':
    case '.':
    case '_':
    case '~': // unreserved
    case '!':
    case '$':
    case '&':
    case '\'':
    case '(':
    case ')': // sub-delims
    case '*':
    case '+':
    case ',':
    case ';':
    case '=':
    case ':':
    case '@':
    case '/':
        return true;
    default:
        return false;
    }
}

/// A path of path characters and valid `%XX` escapes.
constexpr bool is_valid_path(std::string_view path) noexcept {
    for (std::size_t i = 0; i < path.size(); ++i) {
        if (path[i] == '%') {
            if (path.size() - i < 3 || !is_hex_digit(path[i + 1]) || !is_hex_digit(path[i + 2])) {
                return false;
            }
            i += 2;
        } else if (!is_path_char(path[i])) {
            return false;
        }
    }
    return true;
}

/// Dotted-quad IPv4 in 127.0.0.0/8: four decimal octets, no leading zeros.
constexpr bool is_ipv4_loopback(std::string_view host) noexcept {
    int octets = 0;
    std::size_t i = 0;
    int first = -1;
    while (i <= host.size()) {
        std::size_t j = i;
        int value = 0;
        while (j < host.size() && is_digit(host[j])) {
            value = value * 10 + (host[j] - '0');
            if (value > 255) {
                return false;
            }
            ++j;
        }
        const std::size_t len = j - i;
        if (len == 0 || len > 3 || (len > 1 && host[i] == '0')) {
            return false;
        }
        if (first < 0) {
            first = value;
        }
        ++octets;
        if (j == host.size()) {
            break;
        }
        if (host[j] != '.') {
            return false;
        }
        i = j + 1;
    }
    return octets == 4 && first == 127;
}

/// A host that cannot leave the machine: localhost, 127.0.0.0/8, [::1].
constexpr bool is_loopback_host(std::string_view host) noexcept {
    return iequals(host, "localhost") || host == "[::1]" || is_ipv4_loopback(host);
}

constexpr bool is_reg_name_char(char ch) noexcept {
    return is_alpha(ch) || is_digit(ch) || ch == '-' || ch == '.' || ch == '_' || ch == '~';
}

/// The pieces of a validated base URL.
struct base_url_parts {
    std::string_view scheme;    ///< "http" or "https" as written (any case)
    std::string_view authority; ///< host[:port]
    std::string_view host;      ///< as written; IPv6 literals keep their brackets
    std::string_view path;      ///< context path without trailing slashes; may be empty
    bool loopback = false;
};

/// Checks an absolute http(s) URL with no user info, query or fragment, and
/// splits it. Plain http is accepted only for loopback hosts.
inline result<base_url_parts> parse_base_url(std::string_view url) noexcept {
    base_url_parts parts;
    const std::size_t colon = url.find("://");
    if (colon == std::string_view::npos) {
        return error::usage(errc::invalid_url);
    }
    parts.scheme = url.substr(0, colon);
    const bool https = iequals(parts.scheme, "https");
    if (!https && !iequals(parts.scheme, "http")) {
        return error::usage(errc::invalid_url);
    }
    std::string_view rest = url.substr(colon + 3);
    if (has_control(rest)) {
        return error::usage(errc::control_character);
    }
    const std::size_t slash = rest.find('/');
    parts.authority = rest.substr(0, slash);
    std::string_view path =
        slash == std::string_view::npos ? std::string_view() : rest.substr(slash);
    if (parts.authority.empty() || parts.authority.find('@') != std::string_view::npos ||
        parts.authority.find_first_of("?#") != std::string_view::npos ||
        path.find_first_of("?#") != std::string_view::npos) {
        return error::usage(errc::invalid_url);
    }
    // Host: an IPv6 literal in brackets, or a registered name / IPv4 address.
    std::string_view after_host;
    if (parts.authority.front() == '[') {
        const std::size_t close = parts.authority.find(']');
        if (close == std::string_view::npos || close < 3) {
            return error::usage(errc::invalid_url);
        }
        parts.host = parts.authority.substr(0, close + 1);
        for (char ch : parts.host.substr(1, close - 1)) {
            if (!is_hex_digit(ch) && ch != ':' && ch != '.') {
                return error::usage(errc::invalid_url);
            }
        }
        after_host = parts.authority.substr(close + 1);
    } else {
        const std::size_t port_colon = parts.authority.find(':');
        parts.host = parts.authority.substr(0, port_colon);
        after_host = port_colon == std::string_view::npos ? std::string_view()
                                                          : parts.authority.substr(port_colon);
        if (parts.host.empty()) {
            return error::usage(errc::invalid_url);
        }
        for (char ch : parts.host) {
            if (!is_reg_name_char(ch)) {
                return error::usage(errc::invalid_url);
            }
        }
    }
    if (!after_host.empty()) {
        // ":" port, 1..65535
        if (after_host.front() != ':' || after_host.size() < 2 || after_host.size() > 6) {
            return error::usage(errc::invalid_url);
        }
        unsigned port = 0;
        for (char ch : after_host.substr(1)) {
            if (!is_digit(ch)) {
                return error::usage(errc::invalid_url);
            }
            port = port * 10 + static_cast<unsigned>(ch - '0');
        }
        if (port == 0 || port > 65535) {
            return error::usage(errc::invalid_url);
        }
    }
    if (!is_valid_path(path)) {
        return error::usage(errc::invalid_url);
    }
    while (!path.empty() && path.back() == '/') {
        path.remove_suffix(1);
    }
    parts.path = path;
    parts.loopback = is_loopback_host(parts.host);
    if (!https && !parts.loopback) {
        return error::usage(errc::insecure_url);
    }
    return parts;
}

} // namespace babelbird::inline v1::detail
