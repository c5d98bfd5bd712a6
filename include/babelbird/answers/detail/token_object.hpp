/// @file answers/detail/token_object.hpp
/// @brief One pass over a token object: which known field each key names
/// (exact bytes; a case variant is refused), each known key at most once,
/// and the field policies of field_policies.hpp applied to what it holds.
#pragma once

#include "babelbird/config/compiler_check.hpp"

#include <simdjson.h>

#include <cstdint>
#include <cstring>
#include <iterator>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "babelbird/answers/detail/field_policies.hpp"
#include "babelbird/answers/detail/json_strict.hpp"
#include "babelbird/answers/response_options.hpp"
#include "babelbird/values/ascii.hpp"
#include "babelbird/values/errc.hpp"
#include "babelbird/values/response_warnings.hpp"

namespace babelbird::inline v1::detail {

enum class field_id : std::uint8_t {
    access,
    refresh,
    expires,
    refresh_expires,
    type,
    scope,
    error,
    unknown,
    case_variant,
};

/// What one walk over a token object found; views point into the body copy
/// or the unescape arena (or, for a joined `scope` array, into `scope_joined`).
struct token_fields {
    std::string_view access, refresh, type, scope, error_text;
    std::string scope_joined; ///< a `scope` array, joined with single spaces
    bool scope_is_joined = false;
    std::optional<std::uint64_t> expires_in, refresh_expires_in;
    unsigned seen = 0;
    bool has_refresh = false; ///< a non-empty refresh_token was present
    bool has_error = false;   ///< a non-null error was present
    /// Why the access token is unusable (`errc::invalid_token`), if it is.
    errc access_error{};
    /// Why `expires_in` was rejected (`errc::invalid_expires_in`), if it was.
    errc expires_error{};
    response_warnings warnings = response_warnings::none;

    bool saw(field_id id) const noexcept { return (seen & (1u << unsigned(id))) != 0; }
    std::string_view scope_text() const noexcept {
        return scope_is_joined ? std::string_view(scope_joined) : scope;
    }
};

inline bool same_bytes(std::string_view a, std::string_view b) noexcept {
    return a.size() == b.size() && (a.empty() || std::memcmp(a.data(), b.data(), a.size()) == 0);
}

inline field_id identify(std::string_view key, const field_names& n) noexcept {
    const std::string_view names[] = {
        n.access_token, n.refresh_token, n.expires_in, n.refresh_expires_in,
        n.token_type,   n.scope,         n.error};
    for (std::size_t i = 0; i < std::size(names); ++i) {
        if (same_bytes(key, names[i])) {
            return static_cast<field_id>(i);
        }
    }
    // Only a key that matched no name exactly can be a case variant of one.
    for (const auto& name : names) {
        if (iequals(key, name)) {
            return field_id::case_variant;
        }
    }
    return field_id::unknown;
}

/// One pass over the token object, dispatching on each key.
/// With `errors_only`, only the `error` field is read and everything else is
/// merely validated (used for the root of an enveloped answer). `end` is the
/// end of the padded body copy.
///
/// Returns only what makes the whole document unusable (invalid JSON,
/// duplicate or case-variant keys, too deep, an unusable `refresh_token` or
/// `error`); a rejected access token or `expires_in` is kept in `out` (so the
/// refresh token can be salvaged), and a malformed informational field is
/// dropped and flagged in `out.warnings`.
inline errc walk_object(simdjson::ondemand::object& obj, const response_options& options,
                        token_fields& out, bool errors_only, const char* end) {
    const field_names& names = options.fields;
    const auto max_expires_in = static_cast<std::uint64_t>(
        options.max_expires_in.count() < 0 ? 0 : options.max_expires_in.count());
    for (auto item : obj) {
        simdjson::ondemand::field field;
        std::string_view key;
        if (std::move(item).get(field) != simdjson::SUCCESS) {
            return errc::invalid_json;
        }
        if (errc e = read_key(field, end, key); e != errc{}) {
            return e;
        }
        field_id id = identify(key, names);
        if (errors_only && id != field_id::error) {
            id = field_id::unknown;
        }
        if (id == field_id::unknown) {
            if (errc e = validate_value(field.value(), end, 1); e != errc{}) {
                return e;
            }
            continue;
        }
        if (id == field_id::case_variant) {
            return errc::case_variant_field;
        }
        if (out.saw(id)) {
            return errc::duplicate_field;
        }
        out.seen |= 1u << unsigned(id);
        simdjson::ondemand::value& v = field.value();
        errc e{};
        bool floored = false;
        switch (id) {
        case field_id::access: {
            bool present = false;
            e = read_token(v, end, out.access, string_rule::access_token, present);
            if (e == errc::invalid_token || (e == errc{} && !present)) {
                out.access_error = errc::invalid_token; // null is not a token either
                e = errc{};
            }
            break;
        }
        case field_id::refresh:
            e = read_token(v, end, out.refresh, string_rule::refresh_token, out.has_refresh);
            // "" means "not rotated", like absent and null (docs/design.md).
            out.has_refresh = out.has_refresh && !out.refresh.empty();
            break;
        case field_id::expires:
            e = read_seconds(v, end, max_expires_in, out.expires_in, floored);
            if (e == errc::invalid_expires_in) {
                out.expires_error = e;
                out.expires_in.reset();
                e = errc{};
            } else if (floored) {
                out.warnings |= response_warnings::expires_in_floored;
            }
            break;
        case field_id::refresh_expires:
            e = read_seconds(v, end, UINT64_MAX, out.refresh_expires_in, floored);
            if (e == errc::invalid_expires_in) {
                out.warnings |= response_warnings::refresh_expires_in_dropped;
                out.refresh_expires_in.reset();
                e = errc{};
            } else if (floored) {
                out.warnings |= response_warnings::refresh_expires_in_floored;
            }
            break;
        case field_id::type:
            // Callers put it in a header ("<token_type> <token>"): header-safe or dropped.
            e = read_text(v, end, out.type);
            if (e == errc::invalid_field_type ||
                (e == errc{} && !out.type.empty() && !is_header_safe_token(out.type))) {
                out.type = {};
                out.warnings |= response_warnings::token_type_dropped;
                e = errc{};
            }
            break;
        case field_id::scope:
            e = read_scope(v, end, out.scope, out.scope_joined, out.scope_is_joined);
            if (e == errc::invalid_field_type) {
                out.scope = {};
                out.warnings |= response_warnings::scope_dropped;
                e = errc{};
            }
            break;
        case field_id::error:
            // A string is the code; null is forgiven as "no error".
            e = read_text(v, end, out.error_text, &out.has_error);
            break;
        default:
            break;
        }
        if (e != errc{}) {
            return e;
        }
    }
    return errc{};
}

} // namespace babelbird::inline v1::detail
