/// @file answers/detail/swar.hpp
/// @brief Word-at-a-time ("SWAR") byte tests, and the one fused pass over a
/// string's raw bytes that finds control bytes, bytes above 0x7E and
/// backslashes. No simdjson.
#pragma once

#include "babelbird/config/compiler_check.hpp"

#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>

namespace babelbird::inline v1::detail {

// Word-at-a-time ("SWAR") byte tests on 8 bytes, the first byte in memory
// being the least significant, see
// https://graphics.stanford.edu/~seander/bithacks.html#HasLessInWord.
inline std::uint64_t swar_load(const char* p) noexcept {
    std::uint64_t v = 0;
    if constexpr (std::endian::native == std::endian::little) {
        std::memcpy(&v, p, sizeof v);
    } else {
        for (int i = 7; i >= 0; --i) {
            v = (v << 8) | static_cast<unsigned char>(p[i]);
        }
    }
    return v;
}
constexpr std::uint64_t swar_repeat(unsigned char c) noexcept {
    return 0x0101010101010101ull * c;
}
/// The high bit of every byte that is zero (exact for the lowest such byte;
/// bytes above it may be flagged spuriously, which only the callers that look
/// for the first hit may use).
constexpr std::uint64_t swar_has_zero(std::uint64_t v) noexcept {
    return (v - swar_repeat(1)) & ~v & swar_repeat(0x80);
}
/// The index of the first flagged byte in memory order.
inline std::size_t swar_first(std::uint64_t hits) noexcept {
    return static_cast<std::size_t>(std::countr_zero(hits)) / 8;
}
/// Whether any byte is below `n` (n <= 128) / above `n` (n <= 127). Exact.
constexpr bool swar_any_below(std::uint64_t v, unsigned char n) noexcept {
    return ((v - swar_repeat(n)) & ~v & swar_repeat(0x80)) != 0;
}
constexpr bool swar_any_above(std::uint64_t v, unsigned char n) noexcept {
    return (((v + swar_repeat(static_cast<unsigned char>(127 - n))) | v) & swar_repeat(0x80)) != 0;
}

/// What one pass over a string's raw bytes found: a control byte (below
/// 0x20), a byte above 0x7E, a backslash.
struct byte_range {
    bool control = false;
    bool above_ascii = false;
    bool escape = false;
};

inline byte_range scan_bytes(std::string_view s) noexcept {
    const char* p = s.data();
    const char* const end = p + s.size();
    byte_range r;
    // Eight bytes at a time, then the tail byte by byte.
    for (; end - p >= 8; p += 8) {
        const std::uint64_t v = swar_load(p);
        r.control |= swar_any_below(v, 0x20);
        r.above_ascii |= swar_any_above(v, 0x7E);
        r.escape |= swar_has_zero(v ^ swar_repeat('\\')) != 0;
    }
    for (; p < end; ++p) {
        const auto c = static_cast<unsigned char>(*p);
        r.control |= c < 0x20;
        r.above_ascii |= c > 0x7E;
        r.escape |= c == '\\';
    }
    return r;
}

} // namespace babelbird::inline v1::detail
