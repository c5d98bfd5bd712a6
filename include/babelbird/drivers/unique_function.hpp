/// @file drivers/unique_function.hpp
/// @brief `unique_function<R(Args...)>`: a type-erased, move-only callable for
/// C++20 (a small `std::move_only_function`), the currency of the async drivers:
/// an `async_transport`'s completion and an `executor`'s posted work
/// (drivers/async_transport.hpp).
///
/// It lives with the drivers, not in values/: only drivers hand callbacks
/// around; the machines below them take events and return actions.
///
/// @code
/// babelbird::unique_function<void(int)> f = [p = std::make_unique<int>(1)](int x) { *p += x; };
/// auto g = std::move(f); // f is empty now
/// g(41);
/// @endcode
///
/// - Small callables (at most `inline_size` bytes, alignment at most
///   `alignof(void*)`, nothrow move-constructible) are stored inline: no
///   allocation. Others are allocated with `new`.
/// - Moving never throws and never allocates; a moved-from function is empty.
/// - Calling an empty function is a precondition violation (it aborts).
/// - The library throws nothing; a callable that throws propagates its
///   exception through `operator()` unchanged.
/// - Not thread-safe: one thread at a time calls, moves or destroys one object.
#pragma once

#include "babelbird/config/compiler_check.hpp"

#include <concepts>
#include <cstddef>
#include <cstdlib>
#include <functional>
#include <memory>
#include <new>
#include <type_traits>
#include <utility>

namespace babelbird::inline v1 {

template <class Signature>
class unique_function;

namespace detail {
template <class T>
struct is_unique_function : std::false_type {};
template <class Signature>
struct is_unique_function<unique_function<Signature>> : std::true_type {};
} // namespace detail

/// A move-only `R(Args...)` callable (see the file comment).
template <class R, class... Args>
class unique_function<R(Args...)> {
public:
    /// Callables up to this size (and `alignof(void*)`) are stored inline.
    static constexpr std::size_t inline_size = 4 * sizeof(void*);

    /// An empty function.
    unique_function() noexcept = default;
    unique_function(std::nullptr_t) noexcept {}

    /// Wraps `f` (moved or copied in). A null function pointer or member
    /// pointer gives an empty function.
    template <class F>
    requires(!detail::is_unique_function<std::remove_cvref_t<F>>::value &&
             std::is_constructible_v<std::decay_t<F>, F> &&
             std::is_invocable_r_v<R, std::decay_t<F>&, Args...>)
        unique_function(F&& f) { // NOLINT(google-explicit-constructor): like std::function
        using stored = std::decay_t<F>;
        if constexpr (std::is_pointer_v<stored> || std::is_member_pointer_v<stored>) {
            if (f == nullptr) {
                return;
            }
        }
        if constexpr (stores_inline<stored>()) {
            ::new (static_cast<void*>(storage_)) stored(std::forward<F>(f));
            ops_ = &inline_ops<stored>;
        } else {
            ::new (static_cast<void*>(storage_)) stored*(new stored(std::forward<F>(f)));
            ops_ = &heap_ops<stored>;
        }
    }

    unique_function(unique_function&& other) noexcept { take(other); }
    unique_function& operator=(unique_function&& other) noexcept {
        if (this != &other) {
            reset();
            take(other);
        }
        return *this;
    }
    unique_function& operator=(std::nullptr_t) noexcept {
        reset();
        return *this;
    }
    unique_function(const unique_function&) = delete;
    unique_function& operator=(const unique_function&) = delete;
    ~unique_function() { reset(); }

    /// Calls the wrapped callable. Precondition: not empty (aborts otherwise).
    R operator()(Args... args) {
        if (ops_ == nullptr) {
            std::abort();
        }
        return ops_->invoke(storage_, std::forward<Args>(args)...);
    }

    /// Whether a callable is held.
    explicit operator bool() const noexcept { return ops_ != nullptr; }
    friend bool operator==(const unique_function& f, std::nullptr_t) noexcept { return !f; }

    /// Whether a callable of type `F` is stored without an allocation.
    template <class F>
    static constexpr bool stores_inline() noexcept {
        return sizeof(F) <= inline_size && alignof(F) <= alignof(void*) &&
               std::is_nothrow_move_constructible_v<F>;
    }

private:
    struct operations {
        R (*invoke)(void* storage, Args&&... args);
        /// Move-constructs into `to` from `from` and destroys `from`'s callable.
        void (*relocate)(void* to, void* from) noexcept;
        void (*destroy)(void* storage) noexcept;
    };

    template <class F>
    static constexpr operations inline_ops{
        [](void* s, Args&&... args) -> R {
            return std::invoke(*static_cast<F*>(s), std::forward<Args>(args)...);
        },
        [](void* to, void* from) noexcept {
            F* source = static_cast<F*>(from);
            ::new (to) F(std::move(*source));
            source->~F();
        },
        [](void* s) noexcept { static_cast<F*>(s)->~F(); },
    };

    template <class F>
    static constexpr operations heap_ops{
        [](void* s, Args&&... args) -> R {
            return std::invoke(**static_cast<F**>(s), std::forward<Args>(args)...);
        },
        [](void* to, void* from) noexcept { ::new (to) F*(*static_cast<F**>(from)); },
        [](void* s) noexcept { delete *static_cast<F**>(s); },
    };

    void take(unique_function& other) noexcept {
        if (other.ops_ != nullptr) {
            other.ops_->relocate(storage_, other.storage_);
            ops_ = other.ops_;
            other.ops_ = nullptr;
        }
    }

    void reset() noexcept {
        if (ops_ != nullptr) {
            const operations* ops = ops_;
            ops_ = nullptr;
            ops->destroy(storage_);
        }
    }

    alignas(void*) unsigned char storage_[inline_size];
    const operations* ops_ = nullptr;
};

} // namespace babelbird::inline v1
