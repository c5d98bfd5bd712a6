/// @file encoding/json_unescape.hpp
/// @brief Unescaping of JSON strings (RFC 8259 section 7) into memory the
/// caller owns, so that no unescaped token ever lands in a third-party buffer
/// this library cannot zero (docs/design.md, "Policies", secrets).
#pragma once

#include "babelbird/config/compiler_check.hpp"

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "babelbird/values/ascii.hpp"

namespace babelbird::inline v1::detail {

inline constexpr std::size_t bad_escape = static_cast<std::size_t>(-1);

/// The four hex digits at `s[at]`, or -1.
constexpr long hex4(std::string_view s, std::size_t at) noexcept {
    if (at + 4 > s.size()) {
        return -1;
    }
    long v = 0;
    for (std::size_t i = at; i < at + 4; ++i) {
        if (!is_hex_digit(s[i])) {
            return -1;
        }
        v = v * 16 + hex_value(s[i]);
    }
    return v;
}

/// Unescapes the bytes between the quotes of a JSON string. `in` must hold no
/// raw control byte and be valid UTF-8 (simdjson's first stage checks the
/// whole document); this checks the escapes: `\" \\ \/ \b \f \n \r \t` and
/// `\uXXXX`, where a UTF-16 surrogate must come as a high-low pair (a lone
/// surrogate has no UTF-8 form).
/// @param out at least `in.size()` bytes (the output is never longer than the
///        input), or null to validate only
/// @returns the number of bytes written, or `bad_escape`
constexpr std::size_t json_unescape(std::string_view in, char* out) noexcept {
    std::size_t w = 0;
    const auto put = [&](std::uint32_t byte) noexcept {
        if (out != nullptr) {
            out[w] = static_cast<char>(static_cast<unsigned char>(byte));
        }
        ++w;
    };
    for (std::size_t i = 0; i < in.size(); ++i) {
        if (in[i] != '\\') {
            put(static_cast<unsigned char>(in[i]));
            continue;
        }
        if (++i >= in.size()) {
            return bad_escape;
        }
        switch (in[i]) {
        case '"':
        case '\\':
        case '/':
            put(static_cast<unsigned char>(in[i]));
            continue;
        case 'b':
            put('\b');
            continue;
        case 'f':
            put('\f');
            continue;
        case 'n':
            put('\n');
            continue;
        case 'r':
            put('\r');
            continue;
        case 't':
            put('\t');
            continue;
        case 'u':
            break;
        default:
            return bad_escape;
        }
        const long first = hex4(in, i + 1);
        if (first < 0) {
            return bad_escape;
        }
        i += 4;
        auto cp = static_cast<std::uint32_t>(first);
        if (cp >= 0xDC00 && cp <= 0xDFFF) {
            return bad_escape; // a low surrogate first
        }
        if (cp >= 0xD800 && cp <= 0xDBFF) {
            if (i + 2 >= in.size() || in[i + 1] != '\\' || in[i + 2] != 'u') {
                return bad_escape;
            }
            const long second = hex4(in, i + 3);
            if (second < 0xDC00 || second > 0xDFFF) {
                return bad_escape;
            }
            i += 6;
            cp = 0x10000 + ((cp - 0xD800) << 10) + (static_cast<std::uint32_t>(second) - 0xDC00);
        }
        if (cp < 0x80) {
            put(cp);
        } else if (cp < 0x800) {
            put(0xC0 | (cp >> 6));
            put(0x80 | (cp & 0x3F));
        } else if (cp < 0x10000) {
            put(0xE0 | (cp >> 12));
            put(0x80 | ((cp >> 6) & 0x3F));
            put(0x80 | (cp & 0x3F));
        } else {
            put(0xF0 | (cp >> 18));
            put(0x80 | ((cp >> 12) & 0x3F));
            put(0x80 | ((cp >> 6) & 0x3F));
            put(0x80 | (cp & 0x3F));
        }
    }
    return w;
}

} // namespace babelbird::inline v1::detail
