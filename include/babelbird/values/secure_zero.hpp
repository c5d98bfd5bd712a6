/// @file values/secure_zero.hpp
/// @brief Zeroing that the optimiser may not remove, for buffers that held secrets.
#pragma once

#include "babelbird/config/compiler_check.hpp"

#include <cstddef>
#include <cstring>
#include <string>

namespace babelbird::inline v1::detail {

/// Overwrites `size` bytes at `data` with zeros. A plain memset before a free is
/// a dead store the compiler may delete; the empty asm statement makes the
/// bytes observable so the store stays.
inline void secure_zero(void* data, std::size_t size) noexcept {
    if (size == 0) {
        return;
    }
#if defined(__GNUC__) || defined(__clang__)
    std::memset(data, 0, size);
    __asm__ __volatile__("" : : "r"(data) : "memory");
#else
    volatile unsigned char* p = static_cast<volatile unsigned char*>(data);
    while (size-- != 0) {
        *p++ = 0;
    }
#endif
}

/// Zeros every byte a string owns (its whole capacity, including what an earlier,
/// longer value left behind) and empties it.
inline void scrub(std::string& s) noexcept {
    // Growing to capacity never reallocates, and makes the whole buffer part of
    // the string, so zeroing it is well-defined.
    s.resize(s.capacity());
    secure_zero(s.data(), s.size());
    s.clear();
}

} // namespace babelbird::inline v1::detail
