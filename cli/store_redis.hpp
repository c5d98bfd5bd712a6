// --store redis://HOST:PORT/NAME: the grant shared through Redis by every run
// (and every machine) that names it, with the protocol of docs/design.md,
// "Shared store" run by the library's token_source. Built only with hiredis
// (meson defines BABELBIRD_CLI_REDIS); otherwise every function here says so.
//
// The password, when Redis wants one, comes from BABELBIRD_REDIS_PASSWORD
// (taken out of the environment like every secret), never from the URL.
#pragma once

#include <babelbird/drivers/token_store.hpp>
#include <babelbird/values/token.hpp>

#include <chrono>
#include <memory>
#include <string>
#include <variant>

#include "store_file.hpp"

namespace cli {

/// Whether this build can talk to Redis.
bool redis_supported() noexcept;

/// A store for `where` (which must be a redis:// location), connecting on
/// first use; each Redis command and each connect is bounded by `timeout`
/// (at most 5 s). @returns a usage message when this build has no Redis.
std::variant<std::shared_ptr<babelbird::any_token_store>, store_error>
open_redis_store(const store_location& where, std::chrono::milliseconds timeout);

/// This run's lease owner: "babelbird-cli:<host>:<pid>:<8 hex digits>" (an
/// identifier, not a secret).
std::string store_owner();

/// Writes `grant` as the store's new record (state active, nothing pending),
/// over whatever it held: what `token` does with the first grant. Retries a
/// few times when another writer moves the generation meanwhile.
/// @returns the error (class retry when Redis is unreachable).
std::optional<babelbird::error> put_grant(babelbird::any_token_store& store,
                                          const babelbird::token_grant& grant);

/// Replaces the content of either kind of store with `grant`: `write_store`
/// for a file, `put_grant` for Redis (commands bounded by `timeout`).
/// @returns a secret-free message on failure.
std::optional<store_error>
write_any_store(const store_location& where, const babelbird::token_grant& grant,
                std::chrono::milliseconds timeout = std::chrono::milliseconds(5000));

} // namespace cli
