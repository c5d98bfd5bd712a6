// What `refresh` and `call` do with --store redis://: read the shared record
// once to seed the library's token_source (the record's grant, else the
// environment's refresh token for an empty store), let the source run the
// shared-store protocol (docs/design.md, "Shared store"), and keep a rescue
// copy of every grant the server issued to this run until the store has it.
#pragma once

#include <babelbird/drivers/token_source.hpp>
#include <babelbird/drivers/token_store.hpp>
#include <babelbird/machines/token_lifecycle.hpp>

#include <memory>
#include <optional>
#include <string>

#include "args.hpp"
#include "store_file.hpp"
#include "verbose.hpp"

namespace cli {

/// The store and the seed of a run on a redis:// store.
struct shared_grant {
    std::shared_ptr<babelbird::any_token_store> store;
    babelbird::token_seed seed;
    /// The generation the seed was read at (0: the store was empty).
    std::uint64_t gen = 0;
    /// The last grant the server issued to this run (set by the hook).
    std::optional<babelbird::token_grant> rotated;
};

/// Opens the store and reads its record: a dead record is `reauthorize`
/// (nothing sent), an unreachable store `retry`, an empty store with no
/// BABELBIRD_REFRESH_TOKEN `usage`. The tokens read go into `secrets`.
/// On failure prints the failure line and sets `status`.
std::unique_ptr<shared_grant> open_shared_grant(const arguments& args, const store_location& where,
                                                redactor& secrets, int& status);

/// The token_source options for it: the store, this run's owner, the lease
/// (`--lease-ttl`, else `--timeout` + 5 s; renewed while a refresh runs unless
/// `--no-lease-renewal`), and a hook that adds every new token to `secrets`
/// and keeps the grant in `shared.rotated`.
babelbird::token_source_options shared_options(const arguments& args, shared_grant& shared,
                                               redactor& secrets);

/// After a failed run: whether the store holds `shared.rotated` (when set).
/// If it does not (or cannot be read), prints the grant on stdout as a rescue
/// copy and returns the failure line's status; else returns 0 (nothing to do).
int rescue_uncommitted(shared_grant& shared, const store_location& where, std::string_view what);

/// After a `get()` that succeeded: whether the store may lack the grant the
/// server issued to this run. The source hands out a rotated grant whose
/// commit (or orphan stash) failed and remembers the store's error in
/// `last_error()`; this run exits soon, so the grant must not be used as if
/// stored (check with `rescue_uncommitted`).
template <class Source>
bool maybe_uncommitted(const shared_grant& shared, const Source& source) {
    return shared.rotated.has_value() && source.last_error().has_value();
}

} // namespace cli
