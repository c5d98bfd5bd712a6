/// @file drivers/token_source_options.hpp
/// @brief `basic_token_source_options`: the options both token sources take
/// (`token_source_options` for the blocking `token_source`,
/// `async_token_source_options` for `async_token_source`), which differ only
/// in the rotation hook's type.
#pragma once

#include "babelbird/config/compiler_check.hpp"

#include <chrono>
#include <cstdint>
#include <optional>
#include <utility>

#include "babelbird/drivers/token_handle.hpp"
#include "babelbird/machines/exchange.hpp"
#include "babelbird/machines/expiry.hpp"
#include "babelbird/machines/token_lifecycle.hpp"

namespace babelbird::inline v1 {

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
};

namespace detail {
/// The machine's options from a source's (all but the hook, which the source
/// keeps and may have moved out already: `has_hook` says whether there was
/// one); `self` seeds the jitter when the options do not.
template <class Hook>
token_lifecycle_options lifecycle_options_of(basic_token_source_options<Hook>& options,
                                             bool has_hook, const void* self) {
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
    };
}
} // namespace detail

} // namespace babelbird::inline v1
