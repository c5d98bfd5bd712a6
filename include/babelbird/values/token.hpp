/// @file values/token.hpp
/// @brief What a token endpoint answered (`token_response`) and what a client
/// function returns (`token_grant`: the tokens with absolute expiry times).
#pragma once

#include "babelbird/config/compiler_check.hpp"

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>

#include "babelbird/values/clock.hpp"
#include "babelbird/values/response_warnings.hpp"
#include "babelbird/values/secret.hpp"

namespace babelbird::inline v1 {

namespace detail {
struct token_response_builder;
}

/// The fields of a successful token answer, validated.
///
/// All strings share one zeroed-on-destruction allocation: a successful parse
/// allocates exactly once.
class token_response {
public:
    token_response() = default;

    /// Non-empty, bytes 0x20-0x7E (RFC 6749 appendix A.12), no leading or
    /// trailing space: it goes into an `Authorization` header.
    secret_view access_token() const noexcept { return secret_view(piece(0)); }
    /// Whether the answer carried a non-empty `refresh_token` (it was rotated).
    /// Absent, `null` and `""` all mean "not rotated".
    bool has_refresh_token() const noexcept { return has_refresh_; }
    /// The new refresh token, bytes 0x20-0x7E (RFC 6749 appendix A.17: spaces
    /// allowed); empty when the answer had none.
    secret_view refresh_token() const noexcept { return secret_view(piece(1)); }
    /// `expires_in` in whole seconds (number or digit string, a fraction
    /// floored); empty when absent or null.
    std::optional<std::uint64_t> expires_in() const noexcept { return expires_in_; }
    /// The refresh token's own lifetime, when the server sent a usable
    /// `refresh_expires_in`; 0 means "no fixed expiry" (docs/design.md).
    std::optional<std::uint64_t> refresh_expires_in() const noexcept { return refresh_expires_in_; }
    /// `token_type` as sent (e.g. "bearer"); empty when absent or dropped.
    std::string_view token_type() const noexcept { return piece(2); }
    /// `scope` as sent (an array of strings joined with single spaces); empty
    /// when absent or dropped.
    std::string_view scope() const noexcept { return piece(3); }
    /// The informational fields that were dropped or adjusted (see
    /// response_warnings.hpp); `response_warnings::none` for a clean answer.
    response_warnings warnings() const noexcept { return warnings_; }

private:
    friend struct detail::token_response_builder;

    std::string_view piece(std::size_t i) const noexcept {
        return storage_.expose_secret().substr(offsets_[i], offsets_[i + 1] - offsets_[i]);
    }

    secret storage_;
    std::size_t offsets_[5] = {0, 0, 0, 0, 0};
    std::optional<std::uint64_t> expires_in_;
    std::optional<std::uint64_t> refresh_expires_in_;
    bool has_refresh_ = false;
    response_warnings warnings_ = response_warnings::none;
};

namespace detail {
/// Assembles a `token_response` from views into the parser's buffers, copying
/// all four strings into one allocation.
struct token_response_builder {
    static token_response build(std::string_view access, std::string_view refresh, bool has_refresh,
                                std::string_view type, std::string_view scope,
                                std::optional<std::uint64_t> expires_in,
                                std::optional<std::uint64_t> refresh_expires_in,
                                response_warnings warnings = response_warnings::none) {
        token_response r;
        const std::string_view parts[4] = {access, refresh, type, scope};
        std::size_t total = 0;
        for (std::size_t i = 0; i < 4; ++i) {
            r.offsets_[i] = total;
            total += parts[i].size();
        }
        r.offsets_[4] = total;
        r.storage_ = secret::build(total, [&](char* w) {
            for (const auto& p : parts) {
                if (!p.empty()) {
                    std::memcpy(w, p.data(), p.size());
                    w += p.size();
                }
            }
        });
        r.has_refresh_ = has_refresh;
        r.expires_in_ = expires_in;
        r.refresh_expires_in_ = refresh_expires_in;
        r.warnings_ = warnings;
        return r;
    }
};
} // namespace detail

/// A usable grant: the tokens to use and to store, with absolute expiry times.
///
/// Times are stamped from the clock reading taken *before* the request was sent,
/// so they err on the early side.
struct token_grant {
    secret access_token;
    /// The refresh token to store for next time: the new one if the server
    /// rotated it, else the one that was used.
    secret refresh_token;
    /// Whether the server sent a new refresh token.
    bool refresh_token_rotated = false;
    /// `expires_in` in seconds as the server sent it; empty when it sent none.
    std::optional<std::uint64_t> expires_in;
    /// The clock reading before the request was sent.
    time_point issued_at{};
    /// `issued_at + expires_in`, or `issued_at` + the assumed lifetime when the
    /// server sent none; saturates instead of overflowing.
    time_point expires_at{};
    /// When the refresh token stops working: issue time + `refresh_expires_in` if
    /// the server sent it, else + 30 days (configurable) for a newly issued
    /// token. Empty when the server kept the old refresh token and its expiry is
    /// unknown to this call (pass the previous grant to keep it), and when the
    /// server sent `refresh_expires_in: 0` ("no fixed expiry").
    std::optional<time_point> refresh_expires_at;
    std::string token_type;
    std::string scope;
    /// What the parser dropped or adjusted in the answer (see
    /// response_warnings.hpp); never a value, only which field.
    response_warnings warnings = response_warnings::none;
};

} // namespace babelbird::inline v1
