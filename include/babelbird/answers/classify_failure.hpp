/// @file answers/classify_failure.hpp
/// @brief What a failed answer means for the caller: the `error_class` of an
/// HTTP status and an OAuth error code (docs/design.md, "Policies", error
/// classes).
#pragma once

#include "babelbird/config/compiler_check.hpp"

#include "babelbird/values/errc.hpp"
#include "babelbird/values/oauth_error.hpp"

namespace babelbird::inline v1 {

namespace detail {

/// The statuses after which the same request may succeed later: 408, 429 and
/// every 5xx.
constexpr bool is_retry_status(long status) noexcept {
    return status == 408 || status == 429 || (status >= 500 && status <= 599);
}

} // namespace detail

/// What a failed token-endpoint answer means for the caller (docs/design.md,
/// "Policies", error classes). A known OAuth code decides (RFC 6749 section
/// 5.2): `invalid_client`, `unauthorized_client`, `unsupported_grant_type` and
/// `invalid_scope` are `configuration` (the server rejects the client itself;
/// signing in again cannot help); `invalid_grant` and `access_denied` are
/// `reauthorize`; `temporarily_unavailable` and `server_error` are `retry`.
/// Otherwise the status does: 400/401 `reauthorize`, 408/429/5xx `retry`,
/// anything else `protocol`.
constexpr error_class classify_failure(int status, oauth_error code) noexcept {
    switch (code) {
    case oauth_error::invalid_client:
    case oauth_error::unauthorized_client:
    case oauth_error::unsupported_grant_type:
    case oauth_error::invalid_scope:
        return error_class::configuration;
    case oauth_error::invalid_grant:
    case oauth_error::access_denied:
        return error_class::reauthorize;
    case oauth_error::temporarily_unavailable:
    case oauth_error::server_error:
        return error_class::retry;
    default:
        break;
    }
    if (status == 400 || status == 401) {
        return error_class::reauthorize;
    }
    if (detail::is_retry_status(status)) {
        return error_class::retry;
    }
    return error_class::protocol;
}

} // namespace babelbird::inline v1
