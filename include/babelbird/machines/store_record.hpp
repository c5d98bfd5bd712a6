/// @file machines/store_record.hpp
/// @brief The values a shared token store holds and answers with: the record
/// `{gen, grant, state, pending}` and the outcome of a fenced commit
/// (docs/design.md, "Shared store: several processes, one grant").
///
/// Values only: no I/O, no locks. The store concepts are in
/// drivers/token_store.hpp; the lifecycle machine reads and writes these.
#pragma once

#include "babelbird/config/compiler_check.hpp"

#include <cstdint>
#include <optional>
#include <string>

#include "babelbird/values/clock.hpp"
#include "babelbird/values/token.hpp"

namespace babelbird::inline v1 {

/// Whether the shared grant can still be refreshed.
enum class grant_state : std::uint8_t {
    active, ///< usable, or refreshable
    /// the server refused the grant (`invalid_grant`) and no orphan rescued it:
    /// every process reports `reauthorize` without a network call, until a
    /// commit brings a live grant ("a live token beats a dead mark")
    dead,
};

/// The intent a lease holder records before it sends a refresh (design step 4):
/// who, from which generation, since when. A pending intent whose owner no
/// longer holds the lease is the trace of a refresh that may have rotated the
/// token without committing.
struct pending_refresh {
    /// The lease owner that recorded it (an identifier, not a secret).
    std::string owner;
    /// The generation whose refresh token was sent.
    std::uint64_t gen = 0;
    /// When it was recorded, on the recorder's clock.
    time_point since{};

    friend bool operator==(const pending_refresh&, const pending_refresh&) = default;
};

/// The shared record: one per grant name.
///
/// `gen` counts the commits: 0 is "nothing committed yet" (no grant, state
/// `active`, nothing pending), and every applied commit sets it to the
/// expected generation plus one. It is the fence of every write: a commit
/// applies only when the caller saw the latest generation.
struct store_record {
    /// The generation, 0 before the first commit.
    std::uint64_t gen = 0;
    /// The grant; empty before the first commit (and whenever a commit wrote none).
    std::optional<token_grant> grant;
    /// `dead` once the server refused the grant for everyone.
    grant_state state = grant_state::active;
    /// The intent of a refresh in flight, if one was recorded and not yet committed.
    std::optional<pending_refresh> pending;
};

/// What `commit(expected_gen, record)` did.
struct commit_outcome {
    /// Whether the record was written (the store was at `expected_gen`).
    bool applied = false;
    /// Applied: the record as written, its `gen` being `expected_gen + 1`.
    /// Conflict: the store's current record (the winner's), to adopt.
    store_record current;
};

} // namespace babelbird::inline v1
