/// @file answers/response_options.hpp
/// @brief How token answers are parsed: the body cap, the envelope, the field
/// names and the bound of `expires_in` (`response_options`).
#pragma once

#include "babelbird/config/compiler_check.hpp"

#include <chrono>
#include <cstddef>
#include <string_view>

namespace babelbird::inline v1 {

/// The JSON names of the response fields; deployments may rename them.
/// @warning The views must outlive every parse that uses them.
struct field_names {
    std::string_view access_token = "access_token";
    std::string_view refresh_token = "refresh_token";
    std::string_view expires_in = "expires_in";
    std::string_view refresh_expires_in = "refresh_expires_in";
    std::string_view token_type = "token_type";
    std::string_view scope = "scope";
    std::string_view error = "error";
};

/// How token answers are parsed.
/// @warning `envelope` and `fields` are views: they must outlive every parse.
struct response_options {
    /// Bodies longer than this are rejected before parsing.
    std::size_t max_body_size = std::size_t{1} << 20;
    /// A JSON pointer (RFC 6901) to the token object, e.g. "/data", for
    /// deployments that wrap it; empty means the root object.
    std::string_view envelope{};
    field_names fields{};
    /// The sanity bound of `expires_in` (docs/design.md, "Policies"): a larger
    /// value is rejected (`errc::invalid_expires_in`; a new refresh token in
    /// the same answer is still salvaged). Default: one year.
    std::chrono::seconds max_expires_in{31536000};
};

} // namespace babelbird::inline v1
