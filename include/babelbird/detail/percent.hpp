/// @file detail/percent.hpp
/// @brief Percent-encoding (RFC 3986 section 2.1, section 2.3) and form encoding, usable in
/// constant expressions.
#pragma once

#include <cstddef>
#include <string_view>

#include "babelbird/detail/ascii.hpp"
#include "babelbird/detail/base64.hpp"

namespace babelbird::detail {

inline constexpr char upper_hex[] = "0123456789ABCDEF";

/// RFC 3986 section 2.3 unreserved: ALPHA / DIGIT / "-" / "." / "_" / "~".
constexpr bool is_unreserved(char ch) noexcept {
    return is_alpha(ch) || is_digit(ch) || ch == '-' || ch == '.' || ch == '_' || ch == '~';
}

/// Bytes kept as they are by the application/x-www-form-urlencoded serializer
/// (WHATWG URL section 5.2, which RFC 6749 Appendix B refers to through HTML).
constexpr bool is_form_safe(char ch) noexcept {
    return is_alpha(ch) || is_digit(ch) || ch == '*' || ch == '-' || ch == '.' || ch == '_';
}

constexpr std::size_t percent_encoded_size(std::string_view in) noexcept {
    std::size_t n = in.size();
    for (char ch : in) {
        if (!is_unreserved(ch)) {
            n += 2;
        }
    }
    return n;
}

/// Keeps unreserved bytes and writes every other byte as upper-case `%XX`.
constexpr char* percent_encode_to(std::string_view in, char* out) noexcept {
    for (char ch : in) {
        if (is_unreserved(ch)) {
            *out++ = ch;
        } else {
            const auto c = static_cast<unsigned char>(ch);
            *out++ = '%';
            *out++ = upper_hex[c >> 4];
            *out++ = upper_hex[c & 15];
        }
    }
    return out;
}

constexpr std::size_t form_encoded_size(std::string_view in) noexcept {
    std::size_t n = in.size();
    for (char ch : in) {
        if (!is_form_safe(ch) && ch != ' ') {
            n += 2;
        }
    }
    return n;
}

/// application/x-www-form-urlencoded: space becomes '+', other unsafe bytes `%XX`.
constexpr char* form_encode_to(std::string_view in, char* out) noexcept {
    for (char ch : in) {
        if (is_form_safe(ch)) {
            *out++ = ch;
        } else if (ch == ' ') {
            *out++ = '+';
        } else {
            const auto c = static_cast<unsigned char>(ch);
            *out++ = '%';
            *out++ = upper_hex[c >> 4];
            *out++ = upper_hex[c & 15];
        }
    }
    return out;
}

/// Decodes `%XX` escapes (either case); a '%' not followed by two hex digits is
/// an error. With `plus_is_space`, '+' decodes to a space (form encoding).
/// `out` needs room for `in.size()` bytes; it may alias `in`.
constexpr decode_outcome percent_decode_to(std::string_view in, char* out,
                                           bool plus_is_space = false) noexcept {
    std::size_t w = 0;
    for (std::size_t i = 0; i < in.size(); ++i) {
        const char ch = in[i];
        if (ch == '%') {
            if (in.size() - i < 3) {
                return {};
            }
            if (!is_hex_digit(in[i + 1]) || !is_hex_digit(in[i + 2])) {
                return {};
            }
            out[w++] = static_cast<char>(hex_value(in[i + 1]) * 16 + hex_value(in[i + 2]));
            i += 2;
        } else if (ch == '+' && plus_is_space) {
            out[w++] = ' ';
        } else {
            out[w++] = ch;
        }
    }
    return {w, true};
}

} // namespace babelbird::detail
