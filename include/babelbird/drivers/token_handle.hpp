/// @file drivers/token_handle.hpp
/// @brief `token_handle`, what the token sources hand out, and what both
/// sources (blocking and async) share: the snapshot they publish and read
/// without a lock, and their private helpers.
#pragma once

#include "babelbird/config/compiler_check.hpp"

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string_view>
#include <utility>

#include "babelbird/machines/expiry.hpp"
#include "babelbird/machines/token_lifecycle.hpp"
#include "babelbird/values/clock.hpp"
#include "babelbird/values/secret.hpp"
#include "babelbird/values/token.hpp"

namespace babelbird::inline v1 {

/// A cheap, copyable reference to one immutable grant. It keeps the grant alive
/// (and its secrets in memory) while any copy exists. Thread-safe to copy and
/// read from any thread.
class token_handle {
public:
    /// An empty handle: `access_token()` is empty.
    token_handle() noexcept = default;
    explicit token_handle(std::shared_ptr<const token_grant> grant) noexcept
        : grant_(std::move(grant)) {}

    /// The access token to send as `Authorization: Bearer ...`.
    secret_view access_token() const noexcept { return grant().access_token.view(); }
    /// The whole grant (expiry times, the refresh token to store, ...).
    const token_grant& grant() const noexcept { return grant_ ? *grant_ : empty_grant(); }
    /// Whether the handle refers to a grant.
    explicit operator bool() const noexcept { return grant_ != nullptr; }

private:
    static const token_grant& empty_grant() noexcept {
        static const token_grant empty{};
        return empty;
    }
    std::shared_ptr<const token_grant> grant_;
};

namespace detail {

/// One published grant with its precomputed window, as the lifecycle machine
/// had it at a `publish` action. Immutable but for the refresh-ahead claim.
struct grant_snapshot {
    std::shared_ptr<const token_grant> grant;
    expiry_window window;
    /// The server rejected this token (`invalidate()`).
    bool rejected = false;
    /// The earliest instant (in ticks) at which a reader may claim the
    /// refresh ahead; a claim sets it to the maximum.
    mutable std::atomic<tick_rep> next_ahead{0};

    /// The machine's state as a snapshot. Requires the driver's lock on `m`.
    static std::shared_ptr<const grant_snapshot> of(const token_lifecycle& m) {
        auto snap = std::make_shared<grant_snapshot>();
        snap->grant = m.current();
        snap->window = m.window();
        snap->rejected = m.rejected();
        snap->set_next_ahead(m.next_attempt());
        return snap;
    }

    bool usable_at(time_point now) const noexcept {
        return !grant->access_token.empty() && now < window.usable_until && !rejected;
    }
    bool holds(secret_view token) const noexcept {
        const std::string_view mine = grant->access_token.expose_secret();
        return !mine.empty() && constant_time_equals(mine, token.expose_secret());
    }
    /// Lets one reader through to the machine, which decides whether to
    /// refresh ahead (it never sends twice).
    bool claim_ahead(time_point now) const noexcept {
        tick_rep at = next_ahead.load(std::memory_order_relaxed);
        return now.time_since_epoch().count() >= at &&
               next_ahead.compare_exchange_strong(at, max_ticks, std::memory_order_acq_rel);
    }
    void set_next_ahead(time_point t) const noexcept {
        next_ahead.store(t.time_since_epoch().count(), std::memory_order_release);
    }
};

/// A handle that keeps `snap` (and so its grant) alive: aliasing, so copying
/// it touches only the reference count `snap` came with.
inline token_handle handle_of(std::shared_ptr<const grant_snapshot> snap) noexcept {
    const token_grant* grant = snap->grant.get();
    return token_handle(std::shared_ptr<const token_grant>(std::move(snap), grant));
}

/// `clock.now()`, or `fallback` when it throws (a caller's clock may; the
/// library throws nothing). For the reading taken when an answer has arrived:
/// an exception there must not lose the answer (a rotated refresh token), so
/// the reading before sending stands in for it.
template <class Clock>
time_point now_or(Clock& clock, time_point fallback) noexcept {
#if defined(__cpp_exceptions)
    try {
        return time_point(clock.now());
    } catch (...) {
        return fallback;
    }
#else
    (void)fallback;
    return time_point(clock.now());
#endif
}

/// A backoff-jitter seed that differs between sources and processes (no
/// std::random_device: it may throw, and the library throws nothing).
inline std::uint64_t default_jitter_seed(const void* self) noexcept {
    static std::atomic<std::uint64_t> counter{0};
    const auto mono =
        static_cast<std::uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count());
    const auto wall =
        static_cast<std::uint64_t>(std::chrono::system_clock::now().time_since_epoch().count());
    const auto addr = static_cast<std::uint64_t>(reinterpret_cast<std::uintptr_t>(self));
    return mono ^ (wall << 1) ^ (addr << 7) ^
           (counter.fetch_add(1, std::memory_order_relaxed) * 0x9e3779b97f4a7c15u);
}

} // namespace detail

} // namespace babelbird::inline v1
