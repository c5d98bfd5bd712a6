/// @file values/ascii.hpp
/// @brief Byte classes used by validation: control bytes, header-safe tokens,
/// case folding, digits, and the whitespace of HTTP fields and of JSON.
#pragma once

#include "babelbird/config/compiler_check.hpp"

#include <string_view>

namespace babelbird::inline v1::detail {

/// C0 controls and DEL: never allowed in a header value or a URL.
constexpr bool is_control(char ch) noexcept {
    const auto c = static_cast<unsigned char>(ch);
    return c < 0x20 || c == 0x7F;
}

constexpr bool has_control(std::string_view s) noexcept {
    for (char ch : s) {
        if (is_control(ch)) {
            return true;
        }
    }
    return false;
}

/// Whether `s` is non-empty and every byte lies in `lo`..`hi`.
constexpr bool is_nonempty_in(std::string_view s, unsigned char lo, unsigned char hi) noexcept {
    if (s.empty()) {
        return false;
    }
    for (char ch : s) {
        const auto c = static_cast<unsigned char>(ch);
        if (c < lo || c > hi) {
            return false;
        }
    }
    return true;
}

/// A token is header-safe when it is non-empty and every byte is visible ASCII
/// (0x21-0x7E): no space, no control byte, nothing that could split a header.
constexpr bool is_header_safe_token(std::string_view s) noexcept {
    return is_nonempty_in(s, 0x21, 0x7E);
}

/// Every byte is a VSCHAR or a space (0x20-0x7E, RFC 6749 appendix A), and
/// there is at least one.
constexpr bool is_vschar_or_space(std::string_view s) noexcept {
    return is_nonempty_in(s, 0x20, 0x7E);
}

/// A refresh token: 1*VSCHAR with spaces allowed (RFC 6749 appendix A.17,
/// docs/design.md "Policies"). It travels percent-encoded in a URL query.
constexpr bool is_refresh_token(std::string_view s) noexcept {
    return is_vschar_or_space(s);
}

/// An access token (also a code or a JWT given as input): 0x20-0x7E without a
/// leading or trailing space (RFC 6749 appendix A.12), because it goes into a
/// header value, where outer spaces would be stripped.
constexpr bool is_access_token(std::string_view s) noexcept {
    return is_vschar_or_space(s) && s.front() != ' ' && s.back() != ' ';
}

constexpr char to_lower(char ch) noexcept {
    return ch >= 'A' && ch <= 'Z' ? static_cast<char>(ch - 'A' + 'a') : ch;
}

constexpr bool iequals(std::string_view a, std::string_view b) noexcept {
    if (a.size() != b.size()) {
        return false;
    }
    for (std::size_t i = 0; i < a.size(); ++i) {
        if (to_lower(a[i]) != to_lower(b[i])) {
            return false;
        }
    }
    return true;
}

constexpr bool is_digit(char ch) noexcept {
    return ch >= '0' && ch <= '9';
}
constexpr bool is_alpha(char ch) noexcept {
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z');
}
constexpr bool is_hex_digit(char ch) noexcept {
    return is_digit(ch) || (ch >= 'a' && ch <= 'f') || (ch >= 'A' && ch <= 'F');
}
constexpr int hex_value(char ch) noexcept {
    return is_digit(ch) ? ch - '0' : (to_lower(ch) - 'a' + 10);
}

/// Optional whitespace around an HTTP field value (RFC 9110 section 5.6.3):
/// space and horizontal tab.
constexpr bool is_ows(char ch) noexcept {
    return ch == ' ' || ch == '\t';
}

/// `s` without leading and trailing spaces and tabs (RFC 9110 section 5.5:
/// they are not part of a field value).
constexpr std::string_view trim_ows(std::string_view s) noexcept {
    while (!s.empty() && is_ows(s.front())) {
        s.remove_prefix(1);
    }
    while (!s.empty() && is_ows(s.back())) {
        s.remove_suffix(1);
    }
    return s;
}

/// JSON insignificant whitespace (RFC 8259 section 2): space, tab, LF, CR.
constexpr bool is_json_space(char ch) noexcept {
    return ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r';
}

} // namespace babelbird::inline v1::detail
