/// @file encoding/utf8.hpp
/// @brief Strict UTF-8 validation (RFC 3629): no overlongs, no surrogates, at most U+10FFFF.
#pragma once

#include "babelbird/config/compiler_check.hpp"

#include <cstddef>
#include <string_view>

namespace babelbird::inline v1::detail {

constexpr bool is_valid_utf8(std::string_view s) noexcept {
    std::size_t i = 0;
    const std::size_t n = s.size();
    while (i < n) {
        const auto c = static_cast<unsigned char>(s[i]);
        if (c < 0x80) {
            ++i;
            continue;
        }
        std::size_t len = 0;
        unsigned char lo = 0x80; // allowed range of the second byte
        unsigned char hi = 0xBF;
        if (c >= 0xC2 && c <= 0xDF) {
            len = 2;
        } else if (c >= 0xE0 && c <= 0xEF) {
            len = 3;
            if (c == 0xE0) {
                lo = 0xA0; // overlong
            } else if (c == 0xED) {
                hi = 0x9F; // surrogates
            }
        } else if (c >= 0xF0 && c <= 0xF4) {
            len = 4;
            if (c == 0xF0) {
                lo = 0x90; // overlong
            } else if (c == 0xF4) {
                hi = 0x8F; // above U+10FFFF
            }
        } else {
            return false; // continuation byte, overlong lead C0/C1, or F5..FF
        }
        if (n - i < len) {
            return false;
        }
        const auto c1 = static_cast<unsigned char>(s[i + 1]);
        if (c1 < lo || c1 > hi) {
            return false;
        }
        for (std::size_t k = 2; k < len; ++k) {
            const auto ck = static_cast<unsigned char>(s[i + k]);
            if (ck < 0x80 || ck > 0xBF) {
                return false;
            }
        }
        i += len;
    }
    return true;
}

} // namespace babelbird::inline v1::detail
