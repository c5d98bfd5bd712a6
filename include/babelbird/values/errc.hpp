/// @file values/errc.hpp
/// @brief What went wrong (`errc`), what to do next (`error_class`) and where
/// it came from (`error_origin`); `errc` as a `std::error_code`.
///
/// Each `errc` has a fixed, secret-free description (`describe`), which is
/// also the `std::error_category` message. The classes are the caller's
/// decision table (docs/design.md, "Policies", error classes).
#pragma once

#include "babelbird/config/compiler_check.hpp"

#include <cstdint>
#include <string>
#include <string_view>
#include <system_error>
#include <type_traits>

namespace babelbird::inline v1 {

/// What the caller should do next.
enum class error_class : std::uint8_t {
    usage,       ///< the caller's input was rejected before anything was sent: fix the call
    reauthorize, ///< the grant is dead (`invalid_grant`, 400/401 without a code): authorize again
    retry,       ///< transient failure: the same request may succeed later
    protocol,    ///< the server answered something malformed or unexpected
    /// the server rejected the client itself (`invalid_client`, `unauthorized_client`,
    /// `unsupported_grant_type`, `invalid_scope`, a TLS certificate that does not
    /// verify): fix the client's settings; signing in again cannot help
    configuration,
};

/// Where an error came from.
enum class error_origin : std::uint8_t {
    caller,    ///< input given to the library
    transport, ///< the caller's HTTP stack failed to deliver a response
    server,    ///< the server's answer
};

/// Error codes. Each has a fixed, secret-free description (`describe`).
enum class errc : std::uint8_t {
    // Caller input (class usage, origin caller).
    empty_client_id = 1, ///< the client id is empty
    /// raw Basic encoding cannot carry ':' in the client id (RFC 7617 section 2)
    colon_in_client_id,
    control_character, ///< CR, LF, NUL or another control byte in a header- or URL-bound value
    invalid_utf8,      ///< a value is not valid UTF-8
    empty_value,       ///< a required value (token, code, URI) is empty
    /// a token has a byte it may not hold: above 0x7E, or a space where its kind
    /// allows none (see values/ascii.hpp)
    token_not_header_safe,
    invalid_url,          ///< a URL is not absolute, or has a query, fragment or user info
    insecure_url,         ///< plain http:// for a host that is not loopback
    invalid_path,         ///< an endpoint path does not start with '/' or has forbidden bytes
    invalid_argument,     ///< another argument was rejected
    invalid_redirect_uri, ///< a redirect URI is not absolute, has a fragment or forbidden bytes
    reserved_parameter,   ///< an extra query parameter has the name of one the library sets
    conflicting_user_selectors, ///< more than one of email, phone and babelId was given
    invalid_method,             ///< an HTTP method is not an RFC 9110 token
    // Transport failures (class retry, origin transport).
    transport_failure,  ///< the transport failed for a reason it did not classify
    timeout,            ///< the exchange did not finish in time
    connection_refused, ///< nothing listens at the address
    connection_reset,   ///< the connection broke during the exchange
    partial_body,       ///< the response ended before its declared length
    // The server's answer (origin server; class from status and OAuth code).
    oauth_error_response, ///< the server answered with an OAuth `error` field
    unexpected_status,    ///< a status that is neither success nor an OAuth error
    redirect,             ///< a 3xx answer; token endpoints never redirect
    body_too_large,       ///< the body exceeds the configured cap
    invalid_json,         ///< the body is not valid JSON (or not valid UTF-8)
    not_an_object,        ///< the body (or the envelope target) is not a JSON object
    trailing_content,     ///< bytes follow the JSON value
    envelope_not_found,   ///< the configured JSON pointer does not resolve
    missing_access_token, ///< no `access_token` in a success answer
    invalid_token,        ///< a token in the answer is empty, not a string or not header-safe
    invalid_expires_in,   ///< `expires_in` is fractional, negative, overflowing or of a wrong type
    invalid_field_type,   ///< a known field has a JSON type it cannot have
    duplicate_field,      ///< a known field appears twice
    case_variant_field,   ///< a key equals a known field name except for letter case
    nesting_too_deep,     ///< unknown fields nest deeper than the parser allows
    authorization_error,  ///< the authorization callback carried an OAuth `error`
    missing_code,         ///< the authorization callback carried neither `code` nor `error`
    data_mismatch,        ///< the callback's `data` differs from the expected value (or is absent)
    duplicate_parameter,  ///< a query parameter appears more than once
    invalid_percent_encoding, ///< a '%' is not followed by two hex digits
    // The transport could not trust the server (class configuration, origin transport).
    tls_verification_failed, ///< the server's TLS certificate or host name did not verify
    // The lifecycle's "tiny lifetimes" policy (class retry, origin server).
    /// the new access token stops being usable before the next refresh may start
    /// (`min_refresh_interval`)
    token_lifetime_too_short,
    // An asynchronous operation that will not complete normally (class retry,
    // origin caller): its cancellation handle was used, or its source was
    // destroyed while it waited.
    cancelled, ///< the operation was cancelled by its caller or its source's destruction
    // The shared store's lease (docs/design.md, "Shared store").
    /// another source held the lease longer than `lease_wait` (class retry,
    /// origin transport, like a store that does not answer)
    lease_wait_timeout,
    /// a refresh must wait for another source's lease, and the asynchronous
    /// source was given no `schedule_after` to wait with (class usage, origin caller)
    no_scheduler,
};

/// A fixed description of an error code; never contains caller or server data.
constexpr std::string_view describe(errc code) noexcept {
    switch (code) {
    case errc::empty_client_id:
        return "the client id is empty";
    case errc::colon_in_client_id:
        return "the client id contains ':' (use basic_encoding::rfc6749)";
    case errc::control_character:
        return "a value contains a control character";
    case errc::invalid_utf8:
        return "a value is not valid UTF-8";
    case errc::empty_value:
        return "a required value is empty";
    case errc::token_not_header_safe:
        return "the token holds an invalid character (above 0x7E, or a misplaced space)";
    case errc::invalid_url:
        return "the URL is not an absolute http(s) URL without query or fragment";
    case errc::insecure_url:
        return "plain http is allowed only for loopback hosts; use https";
    case errc::invalid_path:
        return "an endpoint path must start with '/' and hold only URL path characters";
    case errc::invalid_argument:
        return "an argument was rejected";
    case errc::invalid_redirect_uri:
        return "the redirect URI is not an absolute URI without fragment";
    case errc::reserved_parameter:
        return "an extra parameter has the name of a parameter the library sets";
    case errc::conflicting_user_selectors:
        return "at most one of email, phone and babelId may be given";
    case errc::invalid_method:
        return "the HTTP method is not a valid token";
    case errc::transport_failure:
        return "the transport failed";
    case errc::timeout:
        return "the exchange timed out";
    case errc::connection_refused:
        return "the connection was refused";
    case errc::connection_reset:
        return "the connection was reset";
    case errc::partial_body:
        return "the response body was cut short";
    case errc::oauth_error_response:
        return "the server answered with an OAuth error";
    case errc::unexpected_status:
        return "the server answered with an unexpected HTTP status";
    case errc::redirect:
        return "the server answered with a redirect";
    case errc::body_too_large:
        return "the response body exceeds the size limit";
    case errc::invalid_json:
        return "the response body is not valid JSON";
    case errc::not_an_object:
        return "the response body is not a JSON object";
    case errc::trailing_content:
        return "the response body has content after the JSON object";
    case errc::envelope_not_found:
        return "the envelope pointer does not resolve to a value";
    case errc::missing_access_token:
        return "the response has no access_token";
    case errc::invalid_token:
        return "a token in the response is empty, not a string or not header-safe";
    case errc::invalid_expires_in:
        return "expires_in is not a non-negative integer";
    case errc::invalid_field_type:
        return "a known field of the response has the wrong JSON type";
    case errc::duplicate_field:
        return "a known field appears more than once in the response";
    case errc::case_variant_field:
        return "a key differs from a known field name only by letter case";
    case errc::nesting_too_deep:
        return "the response nests too deeply";
    case errc::authorization_error:
        return "the authorization callback carried an OAuth error";
    case errc::missing_code:
        return "the authorization callback has no code";
    case errc::data_mismatch:
        return "the callback's data does not match the expected value";
    case errc::duplicate_parameter:
        return "a query parameter appears more than once";
    case errc::invalid_percent_encoding:
        return "a value has an invalid percent-escape";
    case errc::tls_verification_failed:
        return "the server's TLS certificate could not be verified";
    case errc::token_lifetime_too_short:
        return "the new access token expires before the next refresh is allowed";
    case errc::cancelled:
        return "the operation was cancelled";
    case errc::lease_wait_timeout:
        return "another source held the shared store's lease longer than lease_wait";
    case errc::no_scheduler:
        return "a shared store needs schedule_after to wait for another source's lease";
    }
    return "unknown error";
}

/// The name of an error class: "usage", "reauthorize", "retry", "protocol" or "configuration".
constexpr std::string_view to_string(error_class c) noexcept {
    switch (c) {
    case error_class::usage:
        return "usage";
    case error_class::reauthorize:
        return "reauthorize";
    case error_class::retry:
        return "retry";
    case error_class::protocol:
        return "protocol";
    case error_class::configuration:
        return "configuration";
    }
    return "protocol";
}

namespace detail {
class error_category_impl final : public std::error_category {
public:
    const char* name() const noexcept override { return "babelbird"; }
    std::string message(int value) const override {
        return std::string(describe(static_cast<errc>(value)));
    }
};
} // namespace detail

/// The `std::error_category` of `errc`.
inline const std::error_category& error_category() noexcept {
    static const detail::error_category_impl category;
    return category;
}

/// Makes `errc` usable as a `std::error_code`.
inline std::error_code make_error_code(errc code) noexcept {
    return {static_cast<int>(code), error_category()};
}

} // namespace babelbird::inline v1

template <>
struct std::is_error_code_enum<babelbird::errc> : std::true_type {};
