/// @file encoding/codecs.hpp
/// @brief Base64 (RFC 4648) and percent-encoding (RFC 3986) as string functions.
///
/// The constant-expression forms that write into a caller's buffer live in
/// `babelbird::detail` (`base64_encode_to`, `percent_encode_to`, ...).
#pragma once

#include "babelbird/config/compiler_check.hpp"

#include <string>
#include <string_view>

#include "babelbird/encoding/base64.hpp"
#include "babelbird/encoding/percent.hpp"
#include "babelbird/values/result.hpp"

namespace babelbird::inline v1 {

/// Base64 with padding (RFC 4648 section 4). One allocation.
inline std::string base64_encode(std::string_view bytes) {
    std::string out(detail::base64_encoded_size(bytes.size()), '\0');
    detail::base64_encode_to(bytes, out.data());
    return out;
}

/// Strict Base64 decoding (padding required, canonical); `errc::invalid_argument` otherwise.
inline result<std::string> base64_decode(std::string_view text) {
    std::string out(detail::base64_decoded_max_size(text.size()), '\0');
    const auto r = detail::base64_decode_to(text, out.data());
    if (!r.ok) {
        return error::usage(errc::invalid_argument);
    }
    out.resize(r.size);
    return out;
}

/// RFC 3986 percent-encoding: unreserved bytes kept, all others `%XX` upper-case.
inline std::string percent_encode(std::string_view bytes) {
    std::string out(detail::percent_encoded_size(bytes), '\0');
    detail::percent_encode_to(bytes, out.data());
    return out;
}

/// Decodes `%XX` escapes ('+' stays '+'); `errc::invalid_argument` for a bad escape.
inline result<std::string> percent_decode(std::string_view text) {
    std::string out(text.size(), '\0');
    const auto r = detail::percent_decode_to(text, out.data());
    if (!r.ok) {
        return error::usage(errc::invalid_argument);
    }
    out.resize(r.size);
    return out;
}

/// application/x-www-form-urlencoded serialisation of one value (space as '+').
inline std::string form_encode(std::string_view bytes) {
    std::string out(detail::form_encoded_size(bytes), '\0');
    detail::form_encode_to(bytes, out.data());
    return out;
}

} // namespace babelbird::inline v1
