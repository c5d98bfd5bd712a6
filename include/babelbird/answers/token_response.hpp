/// @file answers/token_response.hpp
/// @brief The token response parser's public declarations: its options and
/// `parse_token_response`, a status classification and one strict simdjson
/// on-demand pass over the token object, strict where it matters and lenient
/// where it is safe (the body is in answers/detail/).
///
/// Policies (docs/design.md, "Policies"):
/// - success is a 2xx whose body is a JSON object with a usable `access_token`
///   and no `error`;
/// - an `error` field in any body is an OAuth error (RFC 6749 section 5.2), typed when
///   the code is known and kept as text otherwise; the class comes from
///   `classify_failure` (`configuration`, `reauthorize`, `retry`, `protocol`);
/// - non-2xx answers are classified by status even when the body is HTML or empty;
/// - an access token is 1*VSCHAR without outer spaces (RFC 6749 A.12), a
///   refresh token 1*VSCHAR (A.17, spaces allowed); control bytes never;
/// - `expires_in` is a non-negative number (fractions floored) or a string of
///   one, at most `response_options::max_expires_in`;
/// - an absent, `null` or `""` `refresh_token` means it was not rotated;
/// - nothing lost: a usable new refresh token in an otherwise rejected answer
///   is salvaged (`token_response_result`); malformed informational fields
///   (`scope`, `token_type`, `refresh_expires_in`) are dropped and flagged
///   (`response_warnings`), never a rejection;
/// - the document must be valid JSON and UTF-8 (RFC 8259); known keys may
///   appear once, and no key may be a case variant of one (protocol errors,
///   nothing salvaged);
/// - unknown fields of any type are ignored but must be valid JSON;
/// - `Content-Type` is ignored: the body is parsed by its content; a UTF-8 BOM
///   is tolerated;
/// - the body is capped before parsing (1 MiB by default); an optional JSON
///   pointer selects an enveloped token object.
#pragma once

#include "babelbird/config/compiler_check.hpp"
#include "babelbird/config/decl.hpp"

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "babelbird/answers/classify_failure.hpp"
#include "babelbird/answers/response_options.hpp"
#include "babelbird/answers/retry_after.hpp"
#include "babelbird/answers/token_response_result.hpp"
#include "babelbird/values/errc.hpp"
#include "babelbird/values/error_value.hpp"
#include "babelbird/values/http.hpp"
#include "babelbird/values/oauth_error.hpp"
#include "babelbird/values/response_warnings.hpp"
#include "babelbird/values/secret.hpp"
#include "babelbird/values/token.hpp"

namespace babelbird::inline v1 {

/// Parses a token endpoint's answer (docs/design.md, "Policies").
///
/// A 2xx answer is accepted when it is a JSON object (RFC 8259, valid UTF-8)
/// with a usable `access_token` (1*VSCHAR, no outer space, RFC 6749 appendix
/// A.12) and no `error`, for example:
/// @code{.json}
/// {"access_token":"A","refresh_token":"R","expires_in":3600,"token_type":"bearer",
///  "scope":"read write"}
/// @endcode
/// - `refresh_token`: 1*VSCHAR, spaces allowed (appendix A.17); absent,
///   `null` or `""` means "not rotated".
/// - `expires_in`: a non-negative JSON number or a string of digits or of a
///   JSON number; a fraction is floored (`response_warnings::expires_in_floored`);
///   negative, non-numeric or above `options.max_expires_in` is
///   `errc::invalid_expires_in`; absent or `null`: the caller assumes a lifetime.
/// - `refresh_expires_in`: like `expires_in` without the bound; 0 means "no
///   fixed expiry"; a malformed one is dropped (`refresh_expires_in_dropped`).
/// - `token_type`: a header-safe string, else dropped (`token_type_dropped`).
/// - `scope`: a string without control bytes, or an array of strings joined
///   with single spaces; anything else is dropped (`scope_dropped`).
/// - unknown fields: any valid JSON, ignored.
///
/// @returns the validated fields (with `warnings()`), or an error of origin
/// `server`: `errc::redirect` (3xx, protocol); `errc::oauth_error_response`
/// with the OAuth code and a class from `classify_failure`;
/// `errc::unexpected_status` for a non-2xx without a readable OAuth error
/// (class from the status); for a 2xx, `errc::body_too_large`,
/// `errc::invalid_json`, `errc::not_an_object`, `errc::trailing_content`,
/// `errc::envelope_not_found`, `errc::missing_access_token`,
/// `errc::invalid_token`, `errc::invalid_expires_in`,
/// `errc::invalid_field_type` (an `error` that is not a string),
/// `errc::duplicate_field`, `errc::case_variant_field` or
/// `errc::nesting_too_deep` (all protocol). No error carries body text.
/// On `errc::missing_access_token`, `errc::invalid_token` (of the access
/// token) and `errc::invalid_expires_in`, a usable new refresh token of the
/// same answer is salvaged: see `token_response_result`.
BABELBIRD_DECL token_response_result parse_token_response(int status, std::string_view body,
                                                          const response_options& options = {});

/// Parses a token endpoint's answer from the transport's response, like the
/// overload above. A `retry` error also gets `error::retry_after()` from the
/// answer's `Retry-After` (RFC 9110 section 10.2.3): delay-seconds, or an
/// HTTP-date measured from the answer's `Date` (without `Date` an HTTP-date is
/// ignored here; `refresh()` and the machines measure it from their clock
/// reading). Garbage is ignored.
inline token_response_result parse_token_response(const http_response& response,
                                                  const response_options& options = {}) {
    auto parsed = parse_token_response(response.status, response.body, options);
    if (!parsed && parsed.error().kind() == error_class::retry) {
        error e = parsed.error();
        detail::add_retry_after(e, response, std::nullopt);
        return e; // a retry-class error never carries a salvaged token
    }
    return parsed;
}

} // namespace babelbird::inline v1

// The parser's body: here (header-only, the default), or in the one
// translation unit that includes babelbird/src.hpp (BABELBIRD_SEPARATE_COMPILATION).
#if !defined(BABELBIRD_SEPARATE_COMPILATION)
#include "babelbird/answers/detail/parse_token_response.hpp"
#endif
