/// @file answers/detail/unescape_arena.hpp
/// @brief The per-thread buffer that receives the unescaped bytes of every
/// string of a token answer, zeroed after each parse. No simdjson.
#pragma once

#include "babelbird/config/compiler_check.hpp"

#include <cstddef>
#include <memory>
#include <span>
#include <string_view>

#include "babelbird/encoding/json_unescape.hpp"
#include "babelbird/values/secure_zero.hpp"

namespace babelbird::inline v1::detail {

/// Where a string's unescaped bytes go: a per-thread buffer this library
/// owns and zeros after every parse (`json_scratch::release`). simdjson's own
/// unescaping (`get_string`, `unescaped_key`) is never used, so no token is
/// ever written into simdjson's string buffer, whose layout is not
/// documented and which this library could not zero reliably.
class unescape_arena {
public:
    static unescape_arena& for_this_thread() noexcept {
        thread_local unescape_arena arena;
        return arena;
    }

    /// Makes room for every string of a body of `body_size` bytes (the
    /// output of a string is never longer than its input; twice the body
    /// covers an envelope read twice).
    void prepare(std::size_t body_size) {
        const std::size_t need = 2 * body_size + 16;
        if (need > capacity_) {
            buffer_ = std::make_unique<char[]>(need);
            capacity_ = need;
        }
        used_ = 0;
    }

    /// Unescapes `content` (the bytes between the quotes) into the arena.
    /// @returns false for an invalid escape (or, defensively, no room)
    bool unescape(std::string_view content, std::string_view& out) noexcept {
        if (capacity_ - used_ < content.size()) {
            return false;
        }
        char* const at = buffer_.get() + used_;
        const std::size_t n = json_unescape(content, at);
        if (n == bad_escape) {
            secure_zero(at, content.size());
            return false;
        }
        used_ += n;
        out = std::string_view(at, n);
        return true;
    }

    /// Zeros what the last parse wrote; frees an unusually large buffer.
    void release(std::size_t keep_capacity) noexcept {
        secure_zero(buffer_.get(), used_);
        used_ = 0;
        if (capacity_ > keep_capacity) {
            buffer_.reset();
            capacity_ = 0;
        }
    }

    /// For tests: the whole buffer (zero-initialised when allocated).
    std::span<char> memory_for_testing() noexcept { return {buffer_.get(), capacity_}; }

private:
    std::unique_ptr<char[]> buffer_;
    std::size_t capacity_ = 0;
    std::size_t used_ = 0;
};

} // namespace babelbird::inline v1::detail
