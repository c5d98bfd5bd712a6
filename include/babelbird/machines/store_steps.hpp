/// @file machines/store_steps.hpp
/// @brief The store operations `token_lifecycle` asks a driver to run
/// (`lifecycle_actions::store`), one type per operation of the `token_store`
/// concept that the protocol uses (docs/design.md, "Shared store").
///
/// Values only. The driver runs the step on its store and reports the result
/// with the matching `token_lifecycle::on_store_result()` overload:
/// `store_load` -> `result<store_record>`; `store_acquire`, `store_release`,
/// `store_remove_orphan` -> `result<bool>`; `store_commit` ->
/// `result<commit_outcome>`; `store_stash_orphan` -> `result<void>`;
/// `store_read_orphans` -> `result<std::vector<token_grant>>`. Lease renewal is
/// not a step: a driver that renews does so on its own timer while a refresh
/// it sent is outstanding (`token_lifecycle::holds_lease()`).
#pragma once

#include "babelbird/config/compiler_check.hpp"

#include <chrono>
#include <cstdint>
#include <string>
#include <variant>

#include "babelbird/machines/store_record.hpp"
#include "babelbird/values/token.hpp"

namespace babelbird::inline v1 {

/// Step 1, 3 and 7: read the record (`load()`).
struct store_load {};
/// Step 2: take the lease (`try_acquire(owner, ttl)`).
struct store_acquire {
    std::string owner;
    std::chrono::milliseconds ttl{};
};
/// Steps 4, 6 and 7: write `record` when the store is at `expected_gen`
/// (`commit(expected_gen, record)`).
struct store_commit {
    std::uint64_t expected_gen = 0;
    store_record record;
};
/// Step 8: give the lease back if `owner` still holds it (`release(owner)`).
struct store_release {
    std::string owner;
};
/// Step 6, on a conflict: keep a grant the server issued (`stash_orphan(grant)`).
struct store_stash_orphan {
    token_grant grant;
};
/// Step 7: the orphans, newest first (`orphans()`).
struct store_read_orphans {};
/// Step 7: an orphan the server refused, or one that was just used
/// (`remove_orphan(grant)`).
struct store_remove_orphan {
    token_grant grant;
};

/// One store operation to run (see the file comment).
using store_step = std::variant<store_load, store_acquire, store_commit, store_release,
                                store_stash_orphan, store_read_orphans, store_remove_orphan>;

} // namespace babelbird::inline v1
