/// @file answers/token_response_result.hpp
/// @brief `token_response_result`: what `parse_token_response` returns, a
/// `result<token_response>` that can carry a refresh token rescued from a
/// rejected answer.
#pragma once

#include "babelbird/config/compiler_check.hpp"

#include <cstdint>
#include <optional>
#include <utility>

#include "babelbird/values/response_warnings.hpp"
#include "babelbird/values/result.hpp"
#include "babelbird/values/secret.hpp"
#include "babelbird/values/token.hpp"

namespace babelbird::inline v1 {

/// The parsed answer, or an error and possibly a salvaged refresh token.
///
/// "Nothing lost" (docs/design.md, "Policies"): with rotating refresh tokens
/// the server revokes the token that was sent as soon as it answers. When a
/// 2xx answer is a valid JSON object (RFC 8259, valid UTF-8, no duplicate or
/// case-variant known keys, no `error` field) with a usable new
/// `refresh_token`, but the parser rejects the access token
/// (`errc::missing_access_token`, `errc::invalid_token`) or `expires_in`
/// (`errc::invalid_expires_in`), the result holds that error *and* the new
/// refresh token: `salvaged_refresh_token()`. Store it; the old one is dead.
/// An answer that is not valid JSON, has an `error` field, or whose
/// `refresh_token` itself is unusable salvages nothing.
class [[nodiscard]] token_response_result : public result<token_response> {
public:
    using result<token_response>::result;
    token_response_result(result<token_response> r) : result<token_response>(std::move(r)) {}
    /// An error with the refresh token rescued from the same answer.
    token_response_result(const babelbird::error& e, secret rescued,
                          std::optional<std::uint64_t> refresh_expires_in,
                          response_warnings warnings) noexcept
        : result<token_response>(e), salvaged_(std::move(rescued)),
          salvaged_refresh_expires_in_(refresh_expires_in), salvaged_warnings_(warnings) {}

    /// Whether a refresh token was rescued (only ever on failure).
    bool has_salvaged_refresh_token() const noexcept { return !salvaged_.empty(); }
    /// The rescued refresh token: non-empty, bytes 0x20-0x7E (RFC 6749
    /// appendix A.17). Empty on success and when nothing was rescued.
    secret_view salvaged_refresh_token() const noexcept { return salvaged_.view(); }
    /// The rescued token's `refresh_expires_in`, when the answer had a usable
    /// one (0: no fixed expiry).
    std::optional<std::uint64_t> salvaged_refresh_expires_in() const noexcept {
        return salvaged_refresh_expires_in_;
    }
    /// What was dropped or adjusted in the rejected answer (see
    /// values/response_warnings.hpp).
    response_warnings salvaged_warnings() const noexcept { return salvaged_warnings_; }

private:
    secret salvaged_;
    std::optional<std::uint64_t> salvaged_refresh_expires_in_;
    response_warnings salvaged_warnings_ = response_warnings::none;
};

} // namespace babelbird::inline v1
