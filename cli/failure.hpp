// Failures of a command: one line on stderr, "babelbird-cli: <class>: <message>",
// and the exit status of the class (docs/design.md, command-line client contract).
#pragma once

#include <babelbird/values/error.hpp>

#include <string_view>

namespace cli {

/// 0 success; 2 usage, 3 reauthorize, 4 retry, 5 protocol, 6 configuration.
int exit_status(babelbird::error_class kind) noexcept;

/// Prints the failure line and returns the exit status of `kind`.
/// @warning `message` must not hold a secret: callers pass fixed texts or
/// `babelbird::error::message()`, which never does.
int fail(babelbird::error_class kind, std::string_view message);

/// A library error: its class and its secret-free message, with the server's
/// `Retry-After` delay when it sent one.
int fail(const babelbird::error& e);

/// A usage failure (bad arguments, missing environment).
int fail_usage(std::string_view message);

/// Flushes stdout and checks that everything written to it arrived (closing
/// it when `close`). @returns 0, or the failure line (retry) saying that
/// `what` could not be written to stdout.
int finish_stdout(std::string_view what, bool close = true);

} // namespace cli
