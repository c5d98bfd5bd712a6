// Delivering a grant the server issued: durably into the store first (when
// there is one), then on stdout. A grant is never dropped silently: whatever
// fails, the exit status is non-zero and one stderr line says what happened.
#pragma once

#include <babelbird/values/error.hpp>
#include <babelbird/values/token.hpp>

#include <optional>

#include "store_file.hpp"

namespace cli {

/// A new grant: stored (when `store`), then printed as the JSON object on
/// stdout. If the store cannot be written the grant is printed as a rescue
/// copy. @returns the exit status (0 when both succeeded).
int deliver_grant(const babelbird::token_grant& grant, const std::optional<store_location>& store);

/// A failed exchange whose answer carried a new refresh token (`rescued`, see
/// `grant_result::salvaged()`): stored (when `store`; else, or when that fails,
/// printed on stdout as a rescue copy), then the failure line of `e`.
/// @returns the exit status of `e`.
int deliver_salvaged(const babelbird::token_grant& rescued,
                     const std::optional<store_location>& store, const babelbird::error& e);

/// The failure line for a grant received but not delivered.
int fail_undelivered(std::string_view what);

} // namespace cli
