// The checks every parse implementation applies to the fields it extracts, so
// that the peers do the same work as babelbird (babelbird's own helpers, so the
// per-byte work is identical).
#pragma once

#include <babelbird/answers/detail/json_number.hpp>
#include <babelbird/answers/token_response.hpp>
#include <babelbird/values/ascii.hpp>

#include <cstdint>
#include <string_view>

namespace bench {

enum class key_id : unsigned {
    access,
    refresh,
    expires,
    refresh_expires,
    type,
    scope,
    error,
    unknown,
};

/// Which known field a key names (exact match, as a peer would write it).
inline key_id identify_key(std::string_view key) noexcept {
    if (key == "access_token") {
        return key_id::access;
    }
    if (key == "refresh_token") {
        return key_id::refresh;
    }
    if (key == "expires_in") {
        return key_id::expires;
    }
    if (key == "refresh_expires_in") {
        return key_id::refresh_expires;
    }
    if (key == "token_type") {
        return key_id::type;
    }
    if (key == "scope") {
        return key_id::scope;
    }
    if (key == "error") {
        return key_id::error;
    }
    return key_id::unknown;
}

/// Records a known key; false when it was already seen (a duplicate).
inline bool first_time(unsigned& seen, key_id id) noexcept {
    const unsigned bit = 1u << static_cast<unsigned>(id);
    if ((seen & bit) != 0) {
        return false;
    }
    seen |= bit;
    return true;
}

inline bool token_ok(std::string_view s) noexcept {
    return babelbird::detail::is_header_safe_token(s);
}

inline bool digits_ok(std::string_view s, std::uint64_t& out) noexcept {
    return babelbird::detail::parse_digits(s, out);
}

} // namespace bench
