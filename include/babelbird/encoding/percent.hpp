/// @file encoding/percent.hpp
/// @brief Percent-encoding (RFC 3986 section 2.1, section 2.3) and form encoding, usable in
/// constant expressions.
#pragma once

#include "babelbird/config/compiler_check.hpp"

#include <cstddef>
#include <cstring>
#include <string_view>
#include <type_traits>

#include "babelbird/encoding/base64.hpp"
#include "babelbird/values/ascii.hpp"

namespace babelbird::inline v1::detail {

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

/// 1 for the bytes RFC 3986 keeps, 0 for the ones it escapes: one load per
/// byte instead of a chain of comparisons.
struct unreserved_table_t {
    unsigned char keep[256];
};
inline constexpr unreserved_table_t unreserved_table = [] {
    unreserved_table_t t{};
    for (int c = 0; c < 256; ++c) {
        t.keep[c] = is_unreserved(static_cast<char>(c)) ? 1 : 0;
    }
    return t;
}();

constexpr unsigned char keeps(char ch) noexcept {
    return unreserved_table.keep[static_cast<unsigned char>(ch)];
}

/// 1 when all eight bytes at `p` are unreserved: eight lookups ANDed, one branch.
constexpr unsigned char keeps8(const char* p) noexcept {
    return static_cast<unsigned char>(keeps(p[0]) & keeps(p[1]) & keeps(p[2]) & keeps(p[3]) &
                                      keeps(p[4]) & keeps(p[5]) & keeps(p[6]) & keeps(p[7]));
}

constexpr std::size_t percent_encoded_size(std::string_view in) noexcept {
    // Branch-free: count the kept bytes eight at a time; every other byte adds two.
    std::size_t kept = 0;
    std::size_t i = 0;
    for (; in.size() - i >= 8; i += 8) {
        unsigned k = 0;
        for (std::size_t j = 0; j < 8; ++j) {
            k += keeps(in[i + j]);
        }
        kept += k;
    }
    for (; i < in.size(); ++i) {
        kept += keeps(in[i]);
    }
    return in.size() + 2 * (in.size() - kept);
}

constexpr char* copy_bytes(const char* from, std::size_t n, char* out) noexcept {
    if (std::is_constant_evaluated()) {
        for (std::size_t i = 0; i < n; ++i) {
            out[i] = from[i];
        }
    } else if (n != 0) {
        std::memcpy(out, from, n);
    }
    return out + n;
}

/// Keeps unreserved bytes and writes every other byte as upper-case `%XX`.
/// Runs of unreserved bytes (most of a token) are found eight bytes at a time
/// and copied whole.
constexpr char* percent_encode_to(std::string_view in, char* out) noexcept {
    const std::size_t n = in.size();
    std::size_t i = 0;
    while (i < n) {
        std::size_t j = i;
        while (n - j >= 8 && keeps8(in.data() + j) != 0) {
            j += 8;
        }
        while (j < n && keeps(in[j]) != 0) {
            ++j;
        }
        out = copy_bytes(in.data() + i, j - i, out);
        if (j < n) {
            const auto c = static_cast<unsigned char>(in[j]);
            *out++ = '%';
            *out++ = upper_hex[c >> 4];
            *out++ = upper_hex[c & 15];
            ++j;
        }
        i = j;
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

} // namespace babelbird::inline v1::detail
