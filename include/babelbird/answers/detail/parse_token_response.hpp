/// @file answers/detail/parse_token_response.hpp
/// @brief The body of `parse_token_response` (declared in
/// answers/token_response.hpp, which states the policies): the status and the
/// size cap first, then one strict pass (json_scratch.hpp), then the verdict:
/// an OAuth error, a rejection that salvages a rotated refresh token, or the
/// validated fields.
///
/// Included by answers/token_response.hpp in header-only builds (the
/// default), and by babelbird/src.hpp alone under
/// `BABELBIRD_SEPARATE_COMPILATION`, so that only one translation unit parses
/// `<simdjson.h>`.
#pragma once

#include "babelbird/config/compiler_check.hpp"

#include <string_view>
#include <utility>

#include "babelbird/answers/classify_failure.hpp"
#include "babelbird/answers/detail/json_scratch.hpp"
#include "babelbird/answers/detail/token_object.hpp"
#include "babelbird/answers/token_response.hpp"
#include "babelbird/answers/token_response_result.hpp"
#include "babelbird/config/decl.hpp"
#include "babelbird/values/error_value.hpp"
#include "babelbird/values/oauth_error.hpp"
#include "babelbird/values/secret.hpp"
#include "babelbird/values/token.hpp"

namespace babelbird::inline v1 {

BABELBIRD_DECL token_response_result parse_token_response(int status, std::string_view body,
                                                          const response_options& options) {
    if (status < 100 || status > 599) {
        return error::server(errc::unexpected_status, error_class::protocol, status);
    }
    if (status >= 300 && status < 400) {
        return error::server(errc::redirect, error_class::protocol, status);
    }
    const bool success = status >= 200 && status < 300;
    if (body.size() > options.max_body_size) {
        return success ? error::server(errc::body_too_large, error_class::protocol, status)
                       : error::server(errc::unexpected_status,
                                       classify_failure(status, oauth_error::none), status);
    }
    detail::token_fields fields;
    detail::json_scratch& scratch = detail::json_scratch::for_this_thread();
    const detail::scratch_guard guard(scratch, fields);
    const errc walked = scratch.parse(body, options, fields);

    if (walked == errc{} && fields.has_error) {
        const oauth_error code = parse_oauth_error(fields.error_text);
        error e =
            error::server(errc::oauth_error_response, classify_failure(status, code), status, code);
        if (code == oauth_error::other) {
            e.with_oauth_text(fields.error_text);
        }
        return e;
    }
    if (!success) {
        return error::server(errc::unexpected_status, classify_failure(status, oauth_error::none),
                             status);
    }
    if (walked != errc{}) {
        return error::server(walked, error_class::protocol, status);
    }
    errc rejected =
        !fields.saw(detail::field_id::access) ? errc::missing_access_token : fields.access_error;
    if (rejected == errc{}) {
        rejected = fields.expires_error;
    }
    if (rejected != errc{}) {
        const error e = error::server(rejected, error_class::protocol, status);
        if (!fields.has_refresh) {
            return e;
        }
        // Nothing lost: the server has already rotated the refresh token.
        return token_response_result(e, secret(fields.refresh), fields.refresh_expires_in,
                                     fields.warnings);
    }
    return detail::token_response_builder::build(
        fields.access, fields.refresh, fields.has_refresh, fields.type, fields.scope_text(),
        fields.expires_in, fields.refresh_expires_in, fields.warnings);
}

} // namespace babelbird::inline v1
