/// @file drivers/token_source_options.hpp
/// @brief `basic_token_source_options`: the options both token sources take
/// (`token_source_options` for the blocking `token_source`,
/// `async_token_source_options` for `async_token_source`), which differ only
/// in the rotation hook's type.
#pragma once

#include "babelbird/config/compiler_check.hpp"

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>

#include "babelbird/drivers/token_handle.hpp"
#include "babelbird/drivers/token_store.hpp"
#include "babelbird/drivers/unique_function.hpp"
#include "babelbird/machines/exchange.hpp"
#include "babelbird/machines/expiry.hpp"
#include "babelbird/machines/token_lifecycle.hpp"

namespace babelbird::inline v1 {

/// Runs `fn` once, after about `delay` (never earlier), on any thread: the
/// timer of `async_token_source` (`basic_token_source_options::schedule_after`).
/// Called from any thread, possibly several at once, never under a lock of
/// the source; `fn` may run inside the call only when `delay` is zero.
/// Destroying `fn` uncalled (a scheduler that shuts down) is allowed: the
/// source counts it as a failed store read (`store_error`, class `retry`).
/// `babelbird::asio::timer_scheduler` (adapters/asio.hpp) is one over an Asio
/// executor.
using delay_scheduler =
    std::function<void(std::chrono::milliseconds delay, unique_function<void()> fn)>;

/// Options of a token source; `Hook` is its rotation hook (`rotation_hook`,
/// drivers/token_source.hpp, or `async_rotation_hook`,
/// drivers/async_token_source.hpp). One aggregate, so designated initializers
/// name every field:
/// @code
/// babelbird::token_source_options options{.retry_backoff = std::chrono::seconds(1),
///                                         .on_rotate = save};
/// @endcode
/// The policies behind the fields are `token_lifecycle_options`'
/// (machines/token_lifecycle.hpp).
/// @warning `client.response` holds views (`envelope`, `fields`): they must
/// outlive the source.
template <class Hook>
struct basic_token_source_options {
    /// How answers are parsed and stamped (assumed lifetime, refresh-token lifetime).
    client_options client{};
    /// When a token is refreshed ahead and when it counts as expired.
    expiry_policy expiry{};
    /// The least time between attempts after a `retry`/`protocol` failure, and
    /// the base of the exponential backoff.
    std::chrono::milliseconds retry_backoff{2000};
    /// The cap of the exponential backoff (`Retry-After` may exceed it).
    std::chrono::milliseconds max_retry_backoff{std::chrono::minutes(5)};
    /// The longest server's `Retry-After` honoured (a longer one counts as this).
    std::chrono::milliseconds max_retry_after{std::chrono::hours(1)};
    /// The least time between the start of a successful refresh and the next
    /// refresh started because of the clock (0 disables).
    std::chrono::milliseconds min_refresh_interval{30000};
    /// The seed of the backoff jitter; empty: a per-source seed from the
    /// clocks, the source's address and a process-wide counter.
    std::optional<std::uint64_t> jitter_seed{};
    /// Called with each new grant before anyone can use it (see the source's
    /// file comment).
    Hook on_rotate{};
    /// The shared store that `token_source` runs the protocol of docs/design.md,
    /// "Shared store", over (several processes, one grant); empty: none, the
    /// source behaves as without a store. Shared, so several sources of one
    /// process may use one store; thread-safe use is the store's. Ignored by
    /// `async_token_source` (see `async_store`).
    std::shared_ptr<any_token_store> store{};
    /// The shared store of `async_token_source`, which runs the same protocol
    /// over it (its operations started without a lock, their completions
    /// taken from any thread); empty: none. Ignored by `token_source`.
    std::shared_ptr<any_async_token_store> async_store{};
    /// The timer of `async_token_source` with an `async_store`: the waits for
    /// another source's lease (`lease_poll`) and the lease renewal
    /// (`renew_lease`). Empty: a refresh that has to wait for a lease fails
    /// with `error::usage(errc::invalid_argument)` (class `usage`, remembered
    /// until `reset()`), and the lease is not renewed. Called until the
    /// source's destructor returns, never after it. Ignored by `token_source`.
    delay_scheduler schedule_after{};
    /// This source's lease owner in the store (an identifier, not a secret, at
    /// most 256 bytes, unique per source); empty: a random one per source.
    std::string store_owner{};
    /// The lease's time to live. The blocking `token_source` renews its lease
    /// while the refresh request runs (see `renew_lease`).
    std::chrono::milliseconds lease_ttl{15000};
    /// How often a source that waits for another's lease re-reads the record
    /// (each wait jittered uniformly in [lease_poll / 2, lease_poll]); the wait
    /// is bounded by `lease_wait`, then the refresh fails with
    /// `errc::lease_wait_timeout` (class `retry`).
    std::chrono::milliseconds lease_poll{250};
    /// The longest a refresh waits for another source's lease; empty: twice
    /// `lease_ttl`. A holder that renews its lease (`renew_lease`) may keep it
    /// for its whole request: with renewal, give at least the transport's
    /// whole timeout plus `lease_ttl`, or waiters give up on a slow but live
    /// refresh.
    std::optional<std::chrono::milliseconds> lease_wait{};
    /// Whether the lease holder renews its lease (`renew(owner, lease_ttl)`
    /// every `lease_ttl / 3`) while its refresh request, and the hook call
    /// before the commit, run; a renewal that finds the lease lost or fails
    /// stops renewing (docs/design.md, "Shared store", step 5). `token_source`
    /// renews from a helper thread, `async_token_source` through
    /// `schedule_after` (not without one). Disabled, `lease_ttl` must exceed
    /// the transport's whole timeout (and the hook's time): a lease that
    /// expires mid-request lets another source send the same refresh token
    /// (the compare-and-set still keeps both grants, one as an orphan, but a
    /// server that refuses a reused token may then revoke the grant).
    bool renew_lease = true;
};

namespace detail {
/// A lease owner unique to the source `self` (an identifier, not a secret):
/// "bb-" and 32 hex digits from the clocks, the address and a counter.
inline std::string random_store_owner(const void* self) {
    static constexpr char digits[] = "0123456789abcdef";
    std::string owner = "bb-";
    for (int part = 0; part < 2; ++part) {
        std::uint64_t z = default_jitter_seed(self) + 0x9e3779b97f4a7c15u;
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
        z ^= z >> 31;
        for (int i = 0; i < 16; ++i) {
            owner += digits[(z >> (4 * i)) & 0xfu];
        }
    }
    return owner;
}

/// The machine's options from a source's (all but the hook, which the source
/// keeps and may have moved out already: `has_hook` says whether there was
/// one); `has_store`: whether the driver has a store of its own kind (a
/// blocking source given only `async_store` runs without one); `self` seeds
/// the jitter when the options do not.
template <class Hook>
token_lifecycle_options lifecycle_options_of(basic_token_source_options<Hook>& options,
                                             bool has_hook, bool has_store, const void* self) {
    // Designated: a new field keeps its default, a renamed or reordered one is
    // a compile error; nothing shifts silently.
    return token_lifecycle_options{
        .client = std::move(options.client),
        .expiry = options.expiry,
        .retry_backoff = options.retry_backoff,
        .max_retry_backoff = options.max_retry_backoff,
        .max_retry_after = options.max_retry_after,
        .min_refresh_interval = options.min_refresh_interval,
        .jitter_seed = options.jitter_seed ? *options.jitter_seed : default_jitter_seed(self),
        .persist_before_publish = has_hook,
        .shared_store = has_store,
        .store_owner = options.store_owner.empty() && has_store ? random_store_owner(self)
                                                                : std::move(options.store_owner),
        .lease_ttl = options.lease_ttl,
        .lease_poll = options.lease_poll,
        .lease_wait = options.lease_wait,
    };
}
} // namespace detail

} // namespace babelbird::inline v1
