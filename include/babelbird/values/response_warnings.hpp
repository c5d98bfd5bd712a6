/// @file values/response_warnings.hpp
/// @brief `response_warnings`: which informational fields of a token answer
/// were dropped or adjusted instead of failing the answer.
///
/// The "nothing lost" policy (docs/design.md, "Policies"): `scope`,
/// `token_type`, `refresh_expires_in` and unknown fields never cause a
/// rejection. A malformed one is dropped and flagged here. The flags hold no
/// values, only which field was affected, so they are safe to log.
#pragma once

#include "babelbird/config/compiler_check.hpp"

#include <cstdint>
#include <string_view>

namespace babelbird::inline v1 {

/// A bitmask of the adjustments the parser made to an accepted answer (or to
/// the part it salvaged from a rejected one). `none` when the answer was clean.
enum class response_warnings : std::uint8_t {
    none = 0,
    /// `scope` was dropped: not a string, an array with a non-string element,
    /// or a string with control bytes (RFC 6749 section 3.3). An array of
    /// strings is not dropped: its elements are joined with single spaces.
    scope_dropped = 1u << 0,
    /// `token_type` was dropped: not a string, or not header-safe (0x21-0x7E).
    token_type_dropped = 1u << 1,
    /// `refresh_expires_in` was dropped: not a lifetime `expires_in` would
    /// accept (wrong type, negative, not numeric, or too large to add).
    refresh_expires_in_dropped = 1u << 2,
    /// `expires_in` had a fractional part, which was floored (3600.9 -> 3600).
    expires_in_floored = 1u << 3,
    /// `refresh_expires_in` had a fractional part, which was floored.
    refresh_expires_in_floored = 1u << 4,
};

constexpr response_warnings operator|(response_warnings a, response_warnings b) noexcept {
    return static_cast<response_warnings>(static_cast<std::uint8_t>(a) |
                                          static_cast<std::uint8_t>(b));
}
constexpr response_warnings operator&(response_warnings a, response_warnings b) noexcept {
    return static_cast<response_warnings>(static_cast<std::uint8_t>(a) &
                                          static_cast<std::uint8_t>(b));
}
constexpr response_warnings& operator|=(response_warnings& a, response_warnings b) noexcept {
    a = a | b;
    return a;
}

/// Whether every flag of `flags` is set in `warnings`.
constexpr bool has(response_warnings warnings, response_warnings flags) noexcept {
    return (warnings & flags) == flags;
}

/// The name of a single flag ("scope_dropped", ...); "" for `none` or a mix.
constexpr std::string_view to_string(response_warnings flag) noexcept {
    switch (flag) {
    case response_warnings::scope_dropped:
        return "scope_dropped";
    case response_warnings::token_type_dropped:
        return "token_type_dropped";
    case response_warnings::refresh_expires_in_dropped:
        return "refresh_expires_in_dropped";
    case response_warnings::expires_in_floored:
        return "expires_in_floored";
    case response_warnings::refresh_expires_in_floored:
        return "refresh_expires_in_floored";
    default:
        return "";
    }
}

} // namespace babelbird::inline v1
