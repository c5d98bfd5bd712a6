// Reading the environment: the only place secrets come from.
#pragma once

#include <babelbird/values/error.hpp>
#include <babelbird/values/secret.hpp>

#include <optional>
#include <string>

namespace cli {

/// A non-secret variable (e.g. BABELBIRD_CLIENT_ID); empty counts as unset.
std::optional<std::string> read_env(const char* name);

/// A secret variable, copied into a `babelbird::secret`; the bytes in the
/// process environment are then zeroed, so the value lives in one place only
/// (and no longer shows in /proc/<pid>/environ). Empty counts as unset.
std::optional<babelbird::secret> take_secret_env(const char* name);

} // namespace cli
