/// @file values/result.hpp
/// @brief `result<T>`: a value or an `error`, a small subset of C++23
/// `std::expected<T, error>`; `result<void>` for success or an error.
#pragma once

#include "babelbird/config/compiler_check.hpp"

#include <cassert>
#include <new>
#include <type_traits>
#include <utility>

#include "babelbird/values/error_value.hpp"

namespace babelbird::inline v1 {

/// A value or an error: a small subset of C++23 `std::expected<T, error>`.
///
/// @warning `value()`, `operator*` and `operator->` require `has_value()`;
/// `error()` requires `!has_value()`. Both are checked by `assert` only.
template <class T>
class [[nodiscard]] result {
    static_assert(!std::is_reference_v<T>, "result<T&> is not supported");
    static_assert(!std::is_same_v<std::remove_cv_t<T>, babelbird::error>,
                  "result<error> is ambiguous");

public:
    using value_type = T;
    using error_type = babelbird::error;

    result(const T& value) noexcept(std::is_nothrow_copy_constructible_v<T>) : has_value_(true) {
        ::new (static_cast<void*>(&value_)) T(value);
    }
    result(T&& value) noexcept(std::is_nothrow_move_constructible_v<T>) : has_value_(true) {
        ::new (static_cast<void*>(&value_)) T(std::move(value));
    }
    result(const babelbird::error& e) noexcept : has_value_(false) {
        ::new (static_cast<void*>(&error_)) babelbird::error(e);
    }
    result(const result& other) noexcept(std::is_nothrow_copy_constructible_v<T>)
        : has_value_(other.has_value_) {
        if (has_value_) {
            ::new (static_cast<void*>(&value_)) T(other.value_);
        } else {
            ::new (static_cast<void*>(&error_)) babelbird::error(other.error_);
        }
    }
    result(result&& other) noexcept(std::is_nothrow_move_constructible_v<T>)
        : has_value_(other.has_value_) {
        if (has_value_) {
            ::new (static_cast<void*>(&value_)) T(std::move(other.value_));
        } else {
            ::new (static_cast<void*>(&error_)) babelbird::error(other.error_);
        }
    }
    /// Copy assignment. When `T`'s copy constructor may throw but its move
    /// constructor does not, the copy is made first, so a throw leaves `*this`
    /// unchanged (strong guarantee). When both may throw, a throw leaves
    /// `*this` holding `error::usage(errc::invalid_argument)` (basic guarantee):
    /// never a destroyed value marked live.
    result& operator=(const result& other) {
        if (this == &other) {
            return *this;
        }
        if (!other.has_value_) {
            destroy();
            construct_error(other.error_);
        } else if constexpr (std::is_nothrow_copy_constructible_v<T>) {
            destroy();
            construct_value(other.value_);
        } else if constexpr (std::is_nothrow_move_constructible_v<T>) {
            T copy(other.value_); // may throw; *this is untouched
            destroy();
            construct_value(std::move(copy));
        } else {
            replace_value(other.value_);
        }
        return *this;
    }
    /// Move assignment; if `T`'s move constructor throws, `*this` holds
    /// `error::usage(errc::invalid_argument)` afterwards (basic guarantee).
    result& operator=(result&& other) noexcept(std::is_nothrow_move_constructible_v<T>) {
        if (this == &other) {
            return *this;
        }
        if (!other.has_value_) {
            destroy();
            construct_error(other.error_);
        } else if constexpr (std::is_nothrow_move_constructible_v<T>) {
            destroy();
            construct_value(std::move(other.value_));
        } else {
            replace_value(std::move(other.value_));
        }
        return *this;
    }
    ~result() { destroy(); }

    constexpr bool has_value() const noexcept { return has_value_; }
    constexpr explicit operator bool() const noexcept { return has_value_; }

    T& value() & noexcept {
        assert(has_value_);
        return value_;
    }
    const T& value() const& noexcept {
        assert(has_value_);
        return value_;
    }
    T&& value() && noexcept {
        assert(has_value_);
        return std::move(value_);
    }
    T& operator*() & noexcept { return value(); }
    const T& operator*() const& noexcept { return value(); }
    T&& operator*() && noexcept { return std::move(*this).value(); }
    T* operator->() noexcept { return &value(); }
    const T* operator->() const noexcept { return &value(); }

    const babelbird::error& error() const noexcept {
        assert(!has_value_);
        return error_;
    }

    template <class U>
    T value_or(U&& fallback) const& {
        return has_value_ ? value_ : static_cast<T>(std::forward<U>(fallback));
    }

private:
    void destroy() noexcept {
        if (has_value_) {
            value_.~T();
        } else {
            error_.~error();
        }
    }
    void construct_error(const babelbird::error& e) noexcept {
        ::new (static_cast<void*>(&error_)) babelbird::error(e);
        has_value_ = false;
    }
    template <class U>
    void construct_value(U&& v) noexcept(std::is_nothrow_constructible_v<T, U&&>) {
        ::new (static_cast<void*>(&value_)) T(std::forward<U>(v));
        has_value_ = true;
    }
    /// Replaces the content by a value whose construction may throw: the
    /// result is an error while the value is built, and is made one again by
    /// the guard if the construction throws (works with and without
    /// exceptions: no try/catch).
    template <class U>
    void replace_value(U&& v) {
        destroy();
        has_value_ = false;
        struct fallback {
            result* self;
            bool armed = true;
            ~fallback() {
                if (armed) {
                    self->construct_error(babelbird::error(
                        errc::invalid_argument, error_class::usage, error_origin::caller));
                }
            }
        } guard{this};
        ::new (static_cast<void*>(&value_)) T(std::forward<U>(v));
        guard.armed = false;
        has_value_ = true;
    }

    union {
        T value_;
        babelbird::error error_;
    };
    bool has_value_;
};

/// `result<void>`: success or an error.
template <>
class [[nodiscard]] result<void> {
public:
    using value_type = void;
    using error_type = babelbird::error;

    constexpr result() noexcept = default;
    constexpr result(const babelbird::error& e) noexcept : error_(e), has_value_(false) {}

    constexpr bool has_value() const noexcept { return has_value_; }
    constexpr explicit operator bool() const noexcept { return has_value_; }
    constexpr void value() const noexcept { assert(has_value_); }
    constexpr const babelbird::error& error() const noexcept {
        assert(!has_value_);
        return error_;
    }

private:
    babelbird::error error_{errc::invalid_argument, error_class::usage, error_origin::caller};
    bool has_value_ = true;
};

} // namespace babelbird::inline v1
