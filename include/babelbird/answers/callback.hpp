/// @file answers/callback.hpp
/// @brief The authorization callback: the redirect to
/// `redirect_uri?code=..&data=..` (or `?error=..`) parsed into a code, with the
/// returned `data` checked in constant time. Pure: no I/O, no JSON.
///
/// Policies:
/// - the query is split on '&'; empty pieces are skipped; a piece without '='
///   is a name with an empty value;
/// - every name and value must have valid `%XX` escapes and decode to valid
///   UTF-8, and no raw control byte may appear (the whole query, not only the
///   parameters read here, so no two parsers can disagree about it);
/// - '+' decodes to a space by default (form style, `callback_options`);
/// - `code`, `data`, `error`, `error_description` and `error_uri` may appear
///   at most once each; other parameters (for example the redirect URI's own
///   query) are ignored;
/// - an `error` wins over a `code`; `error_description` and `error_uri` are
///   never copied into the error (they are free text that may echo input);
/// - the code must be non-empty and header-safe (bytes 0x21-0x7E).
#pragma once

#include "babelbird/config/compiler_check.hpp"

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include "babelbird/encoding/percent.hpp"
#include "babelbird/encoding/utf8.hpp"
#include "babelbird/values/ascii.hpp"
#include "babelbird/values/result.hpp"
#include "babelbird/values/secret.hpp"
#include "babelbird/values/secure_zero.hpp"

namespace babelbird::inline v1 {

/// How a callback query is decoded.
struct callback_options {
    /// Decode '+' as a space, as `application/x-www-form-urlencoded` does
    /// (WHATWG URL section 5.1) and as servlet containers and browsers do. The
    /// authorize builders send '+' as `%2B`, so a raw '+' coming back was put
    /// there by a form-style encoder for a space. Set false for a server that
    /// encodes with RFC 3986 only and leaves '+' raw.
    bool plus_is_space = true;
};

/// What a successful callback carried.
struct authorization_callback {
    /// The authorization code: single-use, valid for 5 minutes; pass it to
    /// `exchange_code` together with the same redirect URI.
    secret code;
    /// The returned `data`, decoded; empty when the callback carried none.
    std::optional<std::string> data;
};

namespace detail {

/// The comparison of the returned `data` with the expected value. It runs in
/// time that depends only on the lengths (`constant_time_equals`): no early
/// exit at the first differing byte, so an attacker probing values learns
/// nothing from timing but the length.
constexpr bool data_matches(std::string_view expected, std::string_view returned) noexcept {
    return constant_time_equals(expected, returned);
}

/// A callback `error` code: transient server trouble is `retry`; everything
/// else (access_denied, invalid_request, unauthorized_client,
/// unsupported_response_type, invalid_scope, unknown codes) means the
/// authorization produced no code and must be started again: `reauthorize`.
constexpr error_class callback_error_class(oauth_error code) noexcept {
    return code == oauth_error::temporarily_unavailable || code == oauth_error::server_error
               ? error_class::retry
               : error_class::reauthorize;
}

constexpr error callback_failure(errc code, error_class kind = error_class::protocol) noexcept {
    return error::server(code, kind, 0);
}

/// Decodes `raw` into `out` (replacing its content). `errc{}`, or
/// `invalid_percent_encoding` or `invalid_utf8`.
inline errc decode_component(std::string_view raw, std::string& out, bool plus_is_space) {
    out.resize(raw.size());
    const decode_outcome r = percent_decode_to(raw, out.data(), plus_is_space);
    if (!r.ok) {
        return errc::invalid_percent_encoding;
    }
    out.resize(r.size);
    return is_valid_utf8(out) ? errc{} : errc::invalid_utf8;
}

/// Zeros a buffer that held a code when the parse returns, on every path.
struct scrub_guard {
    std::string& buffer;
    explicit scrub_guard(std::string& b) noexcept : buffer(b) {}
    scrub_guard(const scrub_guard&) = delete;
    scrub_guard& operator=(const scrub_guard&) = delete;
    ~scrub_guard() { scrub(buffer); }
};

} // namespace detail

/// Parses the query string of the authorization callback (with or without
/// its leading '?').
///
/// @param expected_data the `data` sent in the authorization URL, when one
///        was sent: the callback must carry the same value, compared in
///        constant time; `std::nullopt` skips the check (the returned `data`,
///        if any, is still decoded and returned)
/// @returns the code and data, or an error of origin `server` and status 0:
/// - `authorization_error` with the OAuth code (`oauth_code()`; an unknown
///   code is kept as text only if it looks like one): class `retry` for
///   temporarily_unavailable and server_error, `reauthorize` otherwise;
/// - `data_mismatch` (class `reauthorize`: start again; the callback may be
///   forged) when `data` differs from `expected_data` or is missing;
/// - `missing_code`, `invalid_token` (a code with bytes outside 0x21-0x7E),
///   `duplicate_parameter`, `invalid_percent_encoding`, `invalid_utf8` or
///   `control_character`, all of class `protocol`.
/// No message contains the code, the data or any error description.
inline result<authorization_callback>
parse_callback_query(std::string_view query, std::optional<std::string_view> expected_data,
                     const callback_options& options = {}) {
    if (!query.empty() && query.front() == '?') {
        query.remove_prefix(1);
    }
    if (detail::has_control(query)) {
        return detail::callback_failure(errc::control_character);
    }
    struct slot {
        std::string_view name;
        std::string_view raw{};
        bool seen = false;
    };
    slot slots[] = {{"code"}, {"data"}, {"error"}, {"error_description"}, {"error_uri"}};
    slot& code = slots[0];
    slot& data = slots[1];
    slot& err = slots[2];

    std::string name;
    std::string value;
    const detail::scrub_guard value_guard{value};
    std::size_t pos = 0;
    while (pos <= query.size()) {
        std::size_t amp = query.find('&', pos);
        if (amp == std::string_view::npos) {
            amp = query.size();
        }
        const std::string_view piece = query.substr(pos, amp - pos);
        pos = amp + 1;
        if (piece.empty()) {
            continue;
        }
        const std::size_t eq = piece.find('=');
        const std::string_view raw_name = piece.substr(0, eq);
        const std::string_view raw_value =
            eq == std::string_view::npos ? std::string_view() : piece.substr(eq + 1);
        if (const errc e = detail::decode_component(raw_name, name, options.plus_is_space);
            e != errc{}) {
            return detail::callback_failure(e);
        }
        if (const errc e = detail::decode_component(raw_value, value, options.plus_is_space);
            e != errc{}) {
            return detail::callback_failure(e);
        }
        for (slot& s : slots) {
            if (name == s.name) {
                if (s.seen) {
                    return detail::callback_failure(errc::duplicate_parameter);
                }
                s.seen = true;
                s.raw = raw_value;
            }
        }
    }

    if (err.seen) {
        (void)detail::decode_component(err.raw, value, options.plus_is_space);
        const oauth_error oauth = parse_oauth_error(value);
        error e =
            error::server(errc::authorization_error, detail::callback_error_class(oauth), 0, oauth);
        if (oauth == oauth_error::other) {
            e.with_oauth_text(value);
            if (expected_data) {
                e.forget_oauth_text_overlapping(*expected_data);
            }
            if (code.seen) {
                e.forget_oauth_text_overlapping(code.raw);
            }
        }
        return e;
    }

    authorization_callback out;
    if (data.seen) {
        std::string decoded;
        (void)detail::decode_component(data.raw, decoded, options.plus_is_space);
        out.data = std::move(decoded);
    }
    if (expected_data && !(out.data && detail::data_matches(*expected_data, *out.data))) {
        return detail::callback_failure(errc::data_mismatch, error_class::reauthorize);
    }

    if (!code.seen) {
        return detail::callback_failure(errc::missing_code);
    }
    (void)detail::decode_component(code.raw, value, options.plus_is_space);
    if (value.empty()) {
        return detail::callback_failure(errc::missing_code);
    }
    if (!detail::is_header_safe_token(value)) {
        return detail::callback_failure(errc::invalid_token);
    }
    out.code = secret(std::string_view(value));
    return out;
}

/// Parses the callback from the whole redirect URL
/// (`https://app.example.com/cb?code=..&data=..`) or from a request target
/// (`/cb?code=..&data=..`): the query is what follows the first '?', up to a
/// '#'. A URL without '?' has no code. Same errors as `parse_callback_query`.
inline result<authorization_callback>
parse_callback_url(std::string_view url, std::optional<std::string_view> expected_data,
                   const callback_options& options = {}) {
    if (const std::size_t hash = url.find('#'); hash != std::string_view::npos) {
        url = url.substr(0, hash);
    }
    if (detail::has_control(url)) {
        return detail::callback_failure(errc::control_character);
    }
    const std::size_t question = url.find('?');
    return parse_callback_query(question == std::string_view::npos ? std::string_view()
                                                                   : url.substr(question + 1),
                                expected_data, options);
}

} // namespace babelbird::inline v1
