/// @file encoding/base64.hpp
/// @brief Base64 (RFC 4648 section 4) encoding and strict decoding, usable in constant expressions.
#pragma once

#include "babelbird/config/compiler_check.hpp"

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace babelbird::inline v1::detail {

inline constexpr char base64_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

constexpr std::size_t base64_encoded_size(std::size_t n) noexcept {
    return (n + 2) / 3 * 4;
}

/// Writes the padded encoding of `in` to `out` (room for `base64_encoded_size`);
/// returns the end of what was written.
constexpr char* base64_encode_to(std::string_view in, char* out) noexcept {
    std::size_t i = 0;
    const std::size_t n = in.size();
    for (; i + 3 <= n; i += 3) {
        const std::uint32_t v = (std::uint32_t(static_cast<unsigned char>(in[i])) << 16) |
                                (std::uint32_t(static_cast<unsigned char>(in[i + 1])) << 8) |
                                std::uint32_t(static_cast<unsigned char>(in[i + 2]));
        *out++ = base64_alphabet[(v >> 18) & 63];
        *out++ = base64_alphabet[(v >> 12) & 63];
        *out++ = base64_alphabet[(v >> 6) & 63];
        *out++ = base64_alphabet[v & 63];
    }
    if (n - i == 1) {
        const std::uint32_t v = std::uint32_t(static_cast<unsigned char>(in[i])) << 16;
        *out++ = base64_alphabet[(v >> 18) & 63];
        *out++ = base64_alphabet[(v >> 12) & 63];
        *out++ = '=';
        *out++ = '=';
    } else if (n - i == 2) {
        const std::uint32_t v = (std::uint32_t(static_cast<unsigned char>(in[i])) << 16) |
                                (std::uint32_t(static_cast<unsigned char>(in[i + 1])) << 8);
        *out++ = base64_alphabet[(v >> 18) & 63];
        *out++ = base64_alphabet[(v >> 12) & 63];
        *out++ = base64_alphabet[(v >> 6) & 63];
        *out++ = '=';
    }
    return out;
}

constexpr int base64_value(char ch) noexcept {
    if (ch >= 'A' && ch <= 'Z') {
        return ch - 'A';
    }
    if (ch >= 'a' && ch <= 'z') {
        return ch - 'a' + 26;
    }
    if (ch >= '0' && ch <= '9') {
        return ch - '0' + 52;
    }
    if (ch == '+') {
        return 62;
    }
    if (ch == '/') {
        return 63;
    }
    return -1;
}

/// The outcome of a decode into a caller buffer.
struct decode_outcome {
    std::size_t size = 0; ///< bytes written
    bool ok = false;
};

/// Upper bound of the decoded size.
constexpr std::size_t base64_decoded_max_size(std::size_t n) noexcept {
    return n / 4 * 3;
}

/// Strict decoding: the length is a multiple of 4, padding only at the end, only
/// alphabet bytes, and unused bits zero (RFC 4648 section 3.5), so every byte string has
/// exactly one accepted encoding.
constexpr decode_outcome base64_decode_to(std::string_view in, char* out) noexcept {
    if (in.size() % 4 != 0) {
        return {};
    }
    std::size_t written = 0;
    for (std::size_t i = 0; i < in.size(); i += 4) {
        const bool last = i + 4 == in.size();
        const int a = base64_value(in[i]);
        const int b = base64_value(in[i + 1]);
        if (a < 0 || b < 0) {
            return {};
        }
        const bool pad3 = last && in[i + 2] == '=';
        const bool pad4 = last && in[i + 3] == '=';
        if (pad3 && !pad4) {
            return {};
        }
        const int c = pad3 ? 0 : base64_value(in[i + 2]);
        const int d = pad4 ? 0 : base64_value(in[i + 3]);
        if (c < 0 || d < 0) {
            return {};
        }
        const std::uint32_t v = (std::uint32_t(a) << 18) | (std::uint32_t(b) << 12) |
                                (std::uint32_t(c) << 6) | std::uint32_t(d);
        out[written++] = static_cast<char>((v >> 16) & 0xFF);
        if (pad3) {
            if ((v & 0xFFFF) != 0) {
                return {}; // non-canonical: unused bits set
            }
            continue;
        }
        out[written++] = static_cast<char>((v >> 8) & 0xFF);
        if (pad4) {
            if ((v & 0xFF) != 0) {
                return {};
            }
            continue;
        }
        out[written++] = static_cast<char>(v & 0xFF);
    }
    return {written, true};
}

} // namespace babelbird::inline v1::detail
