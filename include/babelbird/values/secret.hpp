/// @file values/secret.hpp
/// @brief Types for secrets: redacted when printed, zeroed when destroyed, read only
/// through the explicit, greppable `expose_secret()`.
#pragma once

#include "babelbird/config/compiler_check.hpp"

#include <cstddef>
#include <iosfwd>
#include <string>
#include <string_view>
#include <utility>

#include "babelbird/values/secure_zero.hpp"

namespace babelbird::inline v1 {

/// What a secret prints as.
inline constexpr std::string_view redacted_text = "[redacted]";

/// Compares two byte strings in time that depends only on their lengths, not on
/// where they differ (for comparing a returned `state`/`data` value or a token).
constexpr bool constant_time_equals(std::string_view a, std::string_view b) noexcept {
    if (a.size() != b.size()) {
        return false;
    }
    unsigned char diff = 0;
    for (std::size_t i = 0; i < a.size(); ++i) {
        diff = static_cast<unsigned char>(
            diff | (static_cast<unsigned char>(a[i]) ^ static_cast<unsigned char>(b[i])));
    }
    return diff == 0;
}

/// A non-owning view of secret bytes. Prints as `[redacted]`.
/// @warning It does not own its bytes: it is valid while its source lives.
class secret_view {
public:
    constexpr secret_view() noexcept = default;
    constexpr explicit secret_view(std::string_view bytes) noexcept : bytes_(bytes) {}

    /// The secret bytes. Every read of a secret goes through this call.
    constexpr std::string_view expose_secret() const noexcept { return bytes_; }
    constexpr std::size_t size() const noexcept { return bytes_.size(); }
    constexpr bool empty() const noexcept { return bytes_.empty(); }

    template <class CharT, class Traits>
    friend std::basic_ostream<CharT, Traits>& operator<<(std::basic_ostream<CharT, Traits>& os,
                                                         const secret_view&) {
        return os << redacted_text.data();
    }

private:
    std::string_view bytes_;
};

namespace detail {
/// The part of `std::allocator_traits` a secret uses, spelt out so that this
/// header (and every request header that includes it) does not pay for
/// `<memory>`: allocate/deallocate, the copy hook and move propagation, with
/// the standard defaults.
template <class Allocator>
struct secret_allocator_traits {
    static auto allocate(Allocator& a, std::size_t n) { return a.allocate(n); }
    template <class Pointer>
    static void deallocate(Allocator& a, Pointer p, std::size_t n) noexcept {
        a.deallocate(p, n);
    }
    static Allocator select_on_container_copy_construction(const Allocator& a) {
        if constexpr (requires { a.select_on_container_copy_construction(); }) {
            return a.select_on_container_copy_construction();
        } else {
            return a;
        }
    }
    static constexpr bool propagate_on_move() noexcept {
        if constexpr (requires { typename Allocator::propagate_on_container_move_assignment; }) {
            return Allocator::propagate_on_container_move_assignment::value;
        } else {
            return false;
        }
    }
};
} // namespace detail

/// An owned secret (client secret, token, code, a URL that carries a token).
///
/// One allocation holds the bytes and a terminating NUL; the destructor and every
/// assignment overwrite the old bytes with zeros before giving the memory back.
/// The allocator is a parameter so a test can watch the storage being released.
template <class Allocator = std::allocator<char>>
class basic_secret {
    using traits = detail::secret_allocator_traits<Allocator>;

public:
    using allocator_type = Allocator;

    basic_secret() = default;
    explicit basic_secret(const Allocator& alloc) noexcept : alloc_(alloc) {}
    explicit basic_secret(std::string_view bytes, const Allocator& alloc = Allocator())
        : alloc_(alloc) {
        assign(bytes);
    }
    explicit basic_secret(secret_view view, const Allocator& alloc = Allocator())
        : basic_secret(view.expose_secret(), alloc) {}

    basic_secret(const basic_secret& other)
        : alloc_(traits::select_on_container_copy_construction(other.alloc_)) {
        assign(other.expose_secret());
    }
    basic_secret(basic_secret&& other) noexcept
        : alloc_(std::move(other.alloc_)), data_(std::exchange(other.data_, nullptr)),
          size_(std::exchange(other.size_, 0)) {}
    basic_secret& operator=(const basic_secret& other) {
        if (this != &other) {
            release();
            assign(other.expose_secret());
        }
        return *this;
    }
    basic_secret& operator=(basic_secret&& other) noexcept {
        if (this != &other) {
            release();
            if constexpr (traits::propagate_on_move()) {
                alloc_ = std::move(other.alloc_);
            }
            data_ = std::exchange(other.data_, nullptr);
            size_ = std::exchange(other.size_, 0);
        }
        return *this;
    }
    ~basic_secret() { release(); }

    /// The secret bytes. Every read of a secret goes through this call.
    std::string_view expose_secret() const noexcept {
        return data_ == nullptr ? std::string_view() : std::string_view(data_, size_);
    }
    /// The bytes as a NUL-terminated string, for C APIs.
    const char* expose_secret_c_str() const noexcept { return data_ == nullptr ? "" : data_; }
    std::size_t size() const noexcept { return size_; }
    bool empty() const noexcept { return size_ == 0; }
    /// A non-owning view, valid while this secret is neither changed nor destroyed.
    secret_view view() const noexcept { return secret_view(expose_secret()); }
    operator secret_view() const noexcept { return view(); }

    /// A secret of `size` bytes written by `fill(char* out)`, in one allocation:
    /// the bytes are produced straight into the secret's own storage.
    template <class Fill>
    static basic_secret build(std::size_t size, Fill&& fill, const Allocator& alloc = Allocator()) {
        basic_secret s(alloc);
        if (size != 0) {
            s.data_ = traits::allocate(s.alloc_, size + 1);
            s.size_ = size;
            std::forward<Fill>(fill)(s.data_);
            s.data_[size] = '\0';
        }
        return s;
    }

    /// Zeros and frees the bytes; the secret becomes empty.
    void clear() noexcept { release(); }

    template <class CharT, class Traits>
    friend std::basic_ostream<CharT, Traits>& operator<<(std::basic_ostream<CharT, Traits>& os,
                                                         const basic_secret&) {
        return os << redacted_text.data();
    }

    /// Constant-time comparison of the bytes.
    friend bool operator==(const basic_secret& a, const basic_secret& b) noexcept {
        return constant_time_equals(a.expose_secret(), b.expose_secret());
    }

private:
    void assign(std::string_view bytes) {
        if (bytes.empty()) {
            return;
        }
        data_ = traits::allocate(alloc_, bytes.size() + 1);
        for (std::size_t i = 0; i < bytes.size(); ++i) {
            data_[i] = bytes[i];
        }
        data_[bytes.size()] = '\0';
        size_ = bytes.size();
    }
    void release() noexcept {
        if (data_ != nullptr) {
            detail::secure_zero(data_, size_ + 1);
            traits::deallocate(alloc_, data_, size_ + 1);
            data_ = nullptr;
            size_ = 0;
        }
    }

    [[no_unique_address]] Allocator alloc_{};
    char* data_ = nullptr;
    std::size_t size_ = 0;
};

/// The secret type used throughout the library.
using secret = basic_secret<>;

} // namespace babelbird::inline v1
