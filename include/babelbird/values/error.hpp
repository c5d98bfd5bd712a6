/// @file values/error.hpp
/// @brief Error codes, error classes, the error value and the `result<T>` type.
///
/// The library never throws, prints or aborts: every fallible call returns a
/// `result<T>` that holds either a value or an `error`. An error says *what*
/// went wrong (`errc`), *what to do next* (`error_class`), *where* it came from
/// (`error_origin`) and, for server answers, the HTTP status and the OAuth error
/// code (RFC 6749 section 5.2). Errors never hold a secret, a token or a raw body.
#pragma once

#include "babelbird/config/compiler_check.hpp"

#include <cassert>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <new>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <type_traits>
#include <utility>

namespace babelbird::inline v1 {

/// What the caller should do next.
enum class error_class : std::uint8_t {
    usage,         ///< the caller's input was rejected before anything was sent: fix the call
    reauthorize,   ///< the grant is dead (`invalid_grant`, 400/401 without a code): authorize again
    retry,         ///< transient failure: the same request may succeed later
    protocol,      ///< the server answered something malformed or unexpected
    configuration, ///< the server rejected the client itself (`invalid_client`,
                   ///< `unauthorized_client`, `unsupported_grant_type`, `invalid_scope`, a TLS
                   ///< certificate that does not verify): fix the client's settings; signing in
                   ///< again cannot help
};

/// Where an error came from.
enum class error_origin : std::uint8_t {
    caller,    ///< input given to the library
    transport, ///< the caller's HTTP stack failed to deliver a response
    server,    ///< the server's answer
};

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
    other, ///< a code this library does not know; see `error::oauth_error_text()`
};

/// Error codes. Each has a fixed, secret-free description (`describe`).
enum class errc : std::uint8_t {
    // Caller input (class usage, origin caller).
    empty_client_id = 1, ///< the client id is empty
    colon_in_client_id,  ///< raw Basic encoding cannot carry ':' in the client id (RFC 7617 section
                         ///< 2)
    control_character,   ///< CR, LF, NUL or another control byte in a header- or URL-bound value
    invalid_utf8,        ///< a value is not valid UTF-8
    empty_value,         ///< a required value (token, code, URI) is empty
    token_not_header_safe, ///< a token has a byte it may not hold: above 0x7E, or a space
                           ///< where its kind allows none (see requests.hpp)
    invalid_url,           ///< a URL is not absolute, or has a query, fragment or user info
    insecure_url,          ///< plain http:// for a host that is not loopback
    invalid_path,          ///< an endpoint path does not start with '/' or has forbidden bytes
    invalid_argument,      ///< another argument was rejected
    invalid_redirect_uri,  ///< a redirect URI is not absolute, has a fragment or forbidden bytes
    reserved_parameter,    ///< an extra query parameter has the name of one the library sets
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
    token_lifetime_too_short, ///< the new access token stops being usable before the next
                              ///< refresh may start (`min_refresh_interval`)
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
    }
    return "unknown error";
}

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

/// One failure: what, what next, where from, and the server's status and OAuth code.
///
/// Copying never allocates. The only server text kept is an unknown OAuth error
/// code, restricted to the RFC 6749 character set and to 40 bytes.
class error {
public:
    static constexpr std::size_t max_oauth_text = 40;

    constexpr error(errc code, error_class kind, error_origin origin) noexcept
        : code_(code), kind_(kind), origin_(origin) {}

    /// A caller mistake found before anything was sent.
    static constexpr error usage(errc code) noexcept {
        return {code, error_class::usage, error_origin::caller};
    }
    /// A failure of the caller's HTTP stack; transport failures are retryable.
    static constexpr error transport(errc code) noexcept {
        return {code, error_class::retry, error_origin::transport};
    }
    /// An answer of the server.
    static constexpr error server(errc code, error_class kind, int status,
                                  oauth_error oauth = oauth_error::none) noexcept {
        error e{code, kind, error_origin::server};
        e.status_ = status < 0 || status > 999 ? 0 : static_cast<std::uint16_t>(status);
        e.oauth_ = oauth;
        return e;
    }

    constexpr errc code() const noexcept { return code_; }
    /// The class: what the caller should do next.
    constexpr error_class kind() const noexcept { return kind_; }
    constexpr error_origin origin() const noexcept { return origin_; }
    /// The HTTP status of the server's answer, 0 when there was none.
    constexpr int http_status() const noexcept { return status_; }
    constexpr oauth_error oauth_code() const noexcept { return oauth_; }
    /// The wire OAuth error code: the known name, or the text of an unknown code.
    constexpr std::string_view oauth_error_text() const noexcept {
        return oauth_ == oauth_error::other ? std::string_view(oauth_text_, oauth_text_len_)
                                            : to_string(oauth_);
    }
    constexpr bool is_retryable() const noexcept { return kind_ == error_class::retry; }
    constexpr bool needs_reauthorization() const noexcept {
        return kind_ == error_class::reauthorize;
    }
    std::error_code to_error_code() const noexcept { return make_error_code(code_); }

    /// How long the server asked the client to wait (`Retry-After`, RFC 9110
    /// section 10.2.3, on 429/503 answers), in whole seconds; empty when it
    /// did not say. An HTTP-date is converted to a delay when the answer is read.
    constexpr std::optional<std::chrono::seconds> retry_after() const noexcept {
        if (!has_retry_after_) {
            return std::nullopt;
        }
        return std::chrono::seconds(retry_after_);
    }
    /// Sets `retry_after()`; negative delays count as zero, and delays are
    /// capped at about 136 years (the 32-bit field).
    constexpr error& with_retry_after(std::chrono::seconds delay) noexcept {
        const std::int64_t n = delay.count();
        constexpr std::int64_t cap = std::int64_t{UINT32_MAX};
        retry_after_ = n <= 0 ? 0u : n >= cap ? UINT32_MAX : static_cast<std::uint32_t>(n);
        has_retry_after_ = true;
        return *this;
    }

    /// Keeps an unknown OAuth code as text when it looks like one: 1-40 bytes of
    /// `[a-z0-9_]`, starting with a letter (every registered code does). Anything
    /// else, which could be an echoed token, is dropped rather than escaped.
    constexpr error& with_oauth_text(std::string_view text) noexcept {
        if (text.empty() || text.size() > max_oauth_text || !(text[0] >= 'a' && text[0] <= 'z')) {
            return *this;
        }
        for (char ch : text) {
            if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '_')) {
                return *this;
            }
        }
        for (std::size_t i = 0; i < text.size(); ++i) {
            oauth_text_[i] = text[i];
        }
        oauth_text_len_ = static_cast<std::uint8_t>(text.size());
        return *this;
    }

    /// Drops a kept OAuth text that overlaps `sent` (either contains the
    /// other), for callers that know which secrets they sent.
    constexpr error& forget_oauth_text_overlapping(std::string_view sent) noexcept {
        const std::string_view text(oauth_text_, oauth_text_len_);
        if (!text.empty() && !sent.empty() &&
            (text.find(sent) != std::string_view::npos ||
             sent.find(text) != std::string_view::npos)) {
            for (char& ch : oauth_text_) {
                ch = '\0';
            }
            oauth_text_len_ = 0;
        }
        return *this;
    }

    /// A one-line, secret-free description, e.g.
    /// "the server answered with an OAuth error (HTTP 400, invalid_grant)".
    std::string message() const {
        std::string out(describe(code_));
        const std::string_view oauth = oauth_error_text();
        if (status_ != 0 || !oauth.empty()) {
            out += " (";
            if (status_ != 0) {
                out += "HTTP ";
                out += std::to_string(status_);
            }
            if (!oauth.empty()) {
                if (status_ != 0) {
                    out += ", ";
                }
                out += oauth;
            }
            out += ')';
        }
        return out;
    }

    friend constexpr bool operator==(const error& a, const error& b) noexcept {
        return a.code_ == b.code_ && a.kind_ == b.kind_ && a.origin_ == b.origin_ &&
               a.status_ == b.status_ && a.oauth_ == b.oauth_ &&
               a.has_retry_after_ == b.has_retry_after_ && a.retry_after_ == b.retry_after_ &&
               a.oauth_error_text() == b.oauth_error_text();
    }

private:
    errc code_;
    error_class kind_;
    error_origin origin_;
    oauth_error oauth_ = oauth_error::none;
    std::uint16_t status_ = 0;
    std::uint8_t oauth_text_len_ = 0;
    bool has_retry_after_ = false;
    std::uint32_t retry_after_ = 0;
    char oauth_text_[max_oauth_text] = {};
};

namespace detail {
struct value_tag {};
} // namespace detail

/// A value or an error: a small subset of C++23 `std::expected<T, error>`.
///
/// @warning `value()`, `operator*` and `operator->` require `has_value()`;
/// `error()` requires `!has_value()`. Both are checked by `assert` only.
template <class T>
class [[nodiscard]] result {
    static_assert(!std::is_reference_v<T>, "result<T&> is not supported");
    static_assert(!std::is_same_v<std::remove_cv_t<T>, babelbird::error>,
                  "result<error> is ambiguous");

public:
    using value_type = T;
    using error_type = babelbird::error;

    result(const T& value) noexcept(std::is_nothrow_copy_constructible_v<T>) : has_value_(true) {
        ::new (static_cast<void*>(&value_)) T(value);
    }
    result(T&& value) noexcept(std::is_nothrow_move_constructible_v<T>) : has_value_(true) {
        ::new (static_cast<void*>(&value_)) T(std::move(value));
    }
    result(const babelbird::error& e) noexcept : has_value_(false) {
        ::new (static_cast<void*>(&error_)) babelbird::error(e);
    }
    result(const result& other) noexcept(std::is_nothrow_copy_constructible_v<T>)
        : has_value_(other.has_value_) {
        if (has_value_) {
            ::new (static_cast<void*>(&value_)) T(other.value_);
        } else {
            ::new (static_cast<void*>(&error_)) babelbird::error(other.error_);
        }
    }
    result(result&& other) noexcept(std::is_nothrow_move_constructible_v<T>)
        : has_value_(other.has_value_) {
        if (has_value_) {
            ::new (static_cast<void*>(&value_)) T(std::move(other.value_));
        } else {
            ::new (static_cast<void*>(&error_)) babelbird::error(other.error_);
        }
    }
    /// Copy assignment. When `T`'s copy constructor may throw but its move
    /// constructor does not, the copy is made first, so a throw leaves `*this`
    /// unchanged (strong guarantee). When both may throw, a throw leaves
    /// `*this` holding `error::usage(errc::invalid_argument)` (basic guarantee):
    /// never a destroyed value marked live.
    result& operator=(const result& other) {
        if (this == &other) {
            return *this;
        }
        if (!other.has_value_) {
            destroy();
            construct_error(other.error_);
        } else if constexpr (std::is_nothrow_copy_constructible_v<T>) {
            destroy();
            construct_value(other.value_);
        } else if constexpr (std::is_nothrow_move_constructible_v<T>) {
            T copy(other.value_); // may throw; *this is untouched
            destroy();
            construct_value(std::move(copy));
        } else {
            replace_value(other.value_);
        }
        return *this;
    }
    /// Move assignment; if `T`'s move constructor throws, `*this` holds
    /// `error::usage(errc::invalid_argument)` afterwards (basic guarantee).
    result& operator=(result&& other) noexcept(std::is_nothrow_move_constructible_v<T>) {
        if (this == &other) {
            return *this;
        }
        if (!other.has_value_) {
            destroy();
            construct_error(other.error_);
        } else if constexpr (std::is_nothrow_move_constructible_v<T>) {
            destroy();
            construct_value(std::move(other.value_));
        } else {
            replace_value(std::move(other.value_));
        }
        return *this;
    }
    ~result() { destroy(); }

    constexpr bool has_value() const noexcept { return has_value_; }
    constexpr explicit operator bool() const noexcept { return has_value_; }

    T& value() & noexcept {
        assert(has_value_);
        return value_;
    }
    const T& value() const& noexcept {
        assert(has_value_);
        return value_;
    }
    T&& value() && noexcept {
        assert(has_value_);
        return std::move(value_);
    }
    T& operator*() & noexcept { return value(); }
    const T& operator*() const& noexcept { return value(); }
    T&& operator*() && noexcept { return std::move(*this).value(); }
    T* operator->() noexcept { return &value(); }
    const T* operator->() const noexcept { return &value(); }

    const babelbird::error& error() const noexcept {
        assert(!has_value_);
        return error_;
    }

    template <class U>
    T value_or(U&& fallback) const& {
        return has_value_ ? value_ : static_cast<T>(std::forward<U>(fallback));
    }

private:
    void destroy() noexcept {
        if (has_value_) {
            value_.~T();
        } else {
            error_.~error();
        }
    }
    void construct_error(const babelbird::error& e) noexcept {
        ::new (static_cast<void*>(&error_)) babelbird::error(e);
        has_value_ = false;
    }
    template <class U>
    void construct_value(U&& v) noexcept(std::is_nothrow_constructible_v<T, U&&>) {
        ::new (static_cast<void*>(&value_)) T(std::forward<U>(v));
        has_value_ = true;
    }
    /// Replaces the content by a value whose construction may throw: the
    /// result is an error while the value is built, and is made one again by
    /// the guard if the construction throws (works with and without
    /// exceptions: no try/catch).
    template <class U>
    void replace_value(U&& v) {
        destroy();
        has_value_ = false;
        struct fallback {
            result* self;
            bool armed = true;
            ~fallback() {
                if (armed) {
                    self->construct_error(babelbird::error(
                        errc::invalid_argument, error_class::usage, error_origin::caller));
                }
            }
        } guard{this};
        ::new (static_cast<void*>(&value_)) T(std::forward<U>(v));
        guard.armed = false;
        has_value_ = true;
    }

    union {
        T value_;
        babelbird::error error_;
    };
    bool has_value_;
};

/// `result<void>`: success or an error.
template <>
class [[nodiscard]] result<void> {
public:
    using value_type = void;
    using error_type = babelbird::error;

    constexpr result() noexcept = default;
    constexpr result(const babelbird::error& e) noexcept : error_(e), has_value_(false) {}

    constexpr bool has_value() const noexcept { return has_value_; }
    constexpr explicit operator bool() const noexcept { return has_value_; }
    constexpr void value() const noexcept { assert(has_value_); }
    constexpr const babelbird::error& error() const noexcept {
        assert(!has_value_);
        return error_;
    }

private:
    babelbird::error error_{errc::invalid_argument, error_class::usage, error_origin::caller};
    bool has_value_ = true;
};

} // namespace babelbird::inline v1

template <>
struct std::is_error_code_enum<babelbird::errc> : std::true_type {};
