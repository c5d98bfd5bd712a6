/// @file values/oauth_error.hpp
/// @brief The OAuth error codes a server may answer with (RFC 6749 sections
/// 4.1.2.1 and 5.2, RFC 6750 section 3.1): the enum, its wire names and the
/// mapping from a wire name.
#pragma once

#include "babelbird/config/compiler_check.hpp"

#include <cstdint>
#include <string_view>

namespace babelbird::inline v1 {

/// OAuth error codes: RFC 6749 section 4.1.2.1 and section 5.2, RFC 6750 section 3.1.
enum class oauth_error : std::uint8_t {
    none,                      ///< the answer carried no `error` field
    invalid_request,           ///< RFC 6749 section 5.2
    invalid_client,            ///< RFC 6749 section 5.2
    invalid_grant,             ///< RFC 6749 section 5.2
    unauthorized_client,       ///< RFC 6749 section 5.2
    unsupported_grant_type,    ///< RFC 6749 section 5.2
    invalid_scope,             ///< RFC 6749 section 5.2
    access_denied,             ///< RFC 6749 section 4.1.2.1
    unsupported_response_type, ///< RFC 6749 section 4.1.2.1
    server_error,              ///< RFC 6749 section 4.1.2.1
    temporarily_unavailable,   ///< RFC 6749 section 4.1.2.1
    invalid_token,             ///< RFC 6750 section 3.1
    insufficient_scope,        ///< RFC 6750 section 3.1
    other,                     ///< a code this library does not know (`error::oauth_error_text()`)
};

/// The wire name of an OAuth error code ("" for none and other).
constexpr std::string_view to_string(oauth_error code) noexcept {
    switch (code) {
    case oauth_error::none:
        return "";
    case oauth_error::invalid_request:
        return "invalid_request";
    case oauth_error::invalid_client:
        return "invalid_client";
    case oauth_error::invalid_grant:
        return "invalid_grant";
    case oauth_error::unauthorized_client:
        return "unauthorized_client";
    case oauth_error::unsupported_grant_type:
        return "unsupported_grant_type";
    case oauth_error::invalid_scope:
        return "invalid_scope";
    case oauth_error::access_denied:
        return "access_denied";
    case oauth_error::unsupported_response_type:
        return "unsupported_response_type";
    case oauth_error::server_error:
        return "server_error";
    case oauth_error::temporarily_unavailable:
        return "temporarily_unavailable";
    case oauth_error::invalid_token:
        return "invalid_token";
    case oauth_error::insufficient_scope:
        return "insufficient_scope";
    case oauth_error::other:
        return "";
    }
    return "";
}

/// Maps a wire error code to the enum; unknown codes map to `oauth_error::other`.
constexpr oauth_error parse_oauth_error(std::string_view text) noexcept {
    for (auto c = static_cast<std::uint8_t>(oauth_error::invalid_request);
         c < static_cast<std::uint8_t>(oauth_error::other); ++c) {
        if (to_string(static_cast<oauth_error>(c)) == text) {
            return static_cast<oauth_error>(c);
        }
    }
    return oauth_error::other;
}

} // namespace babelbird::inline v1
