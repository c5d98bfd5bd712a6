// JSON output of the commands: one object on one line.
#pragma once

#include <babelbird/values/clock.hpp>
#include <babelbird/values/token.hpp>

#include <string>
#include <string_view>

namespace cli {

/// A JSON string literal (quotes included).
std::string json_string(std::string_view text);

/// RFC 3339 in UTC with a `Z`, whole seconds, e.g. "2026-11-26T07:00:00Z";
/// instants past year 9999 print as "9999-12-31T23:59:59Z".
std::string rfc3339_utc(babelbird::time_point t);

/// The success object of `refresh` and `token` (and the store's content):
/// access_token (null for a rescued refresh token without one), refresh_token
/// (null when there is none), expires_in (null when the server sent none),
/// expires_at, refresh_expires_at (null when unknown), and token_type and scope
/// when the server sent them.
/// @warning The text holds the tokens; write it with `write_stdout_and_scrub`.
std::string grant_json(const babelbird::token_grant& grant);

/// Writes `text` and, with `newline`, a newline (unless it ends with one) to
/// stdout, flushes, and zeros `text`.
/// @returns 0, or the errno of the failed write or flush (e.g. ENOSPC for
/// /dev/full): the text did not reach its reader.
int write_stdout_and_scrub(std::string& text, bool newline = true);

/// Closes stdout (the last check that its data was delivered).
/// @returns 0, or the errno of the failure.
int close_stdout();

} // namespace cli
