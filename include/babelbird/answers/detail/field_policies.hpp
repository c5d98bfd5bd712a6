/// @file answers/detail/field_policies.hpp
/// @brief How each known field of a token answer is read: a token
/// (`access_token`, `refresh_token`), a lifetime (`expires_in`,
/// `refresh_expires_in`), a text (`token_type`, `error`) and `scope`.
///
/// Each reader says whether the value is usable, unusable for this field
/// (the caller drops it or rejects the answer, see token_object.hpp), or not
/// valid JSON at all. The policies are those of docs/design.md, "Policies".
#pragma once

#include "babelbird/config/compiler_check.hpp"

#include <simdjson.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "babelbird/answers/detail/json_number.hpp"
#include "babelbird/answers/detail/json_strict.hpp"
#include "babelbird/values/ascii.hpp"
#include "babelbird/values/errc.hpp"

namespace babelbird::inline v1::detail {

/// A token: a string that follows `rule`; null means absent (`present` stays
/// false). @returns `errc::invalid_token` for another type or a string
/// breaking the rule; `errc::invalid_json` when the value is not valid JSON.
inline errc read_token(simdjson::ondemand::value& v, const char* end, std::string_view& out,
                       string_rule rule, bool& present) noexcept {
    std::string_view raw;
    raw_kind kind{};
    if (errc e = raw_of(v, raw, kind); e != errc{}) {
        return e;
    }
    switch (kind) {
    case raw_kind::string:
        present = true;
        return read_raw_string(raw, out, rule);
    case raw_kind::null:
        return raw_null(raw);
    default:
        return wrong_type(v, end, errc::invalid_token);
    }
}

/// A lifetime in seconds (`expires_in`, `refresh_expires_in`): a non-negative
/// JSON number, or a string holding digits or a non-negative JSON number; a
/// fraction is floored (`floored` set); null means absent.
/// @returns `errc::invalid_expires_in` for a negative, non-numeric, too large
/// (above `max`) or wrongly typed value; `errc::invalid_json` when the value
/// is not valid JSON (for example the number `0123`).
inline errc read_seconds(simdjson::ondemand::value& v, const char* end, std::uint64_t max,
                         std::optional<std::uint64_t>& out, bool& floored) noexcept {
    std::string_view raw;
    raw_kind kind{};
    if (errc e = raw_of(v, raw, kind); e != errc{}) {
        return e;
    }
    std::uint64_t seconds = 0;
    bool fraction = false;
    switch (kind) {
    case raw_kind::null:
        out.reset();
        return raw_null(raw);
    case raw_kind::number:
        if (!is_json_number(raw)) {
            return errc::invalid_json;
        }
        if (!floor_json_number(raw, max, seconds, fraction)) {
            return errc::invalid_expires_in;
        }
        break;
    case raw_kind::string: {
        std::string_view text;
        if (errc e = read_raw_string(raw, text, string_rule::text); e != errc{}) {
            return e;
        }
        // Digits (leading zeros allowed in a string), or a JSON number.
        if (parse_digits(text, seconds)) {
            if (seconds > max) {
                return errc::invalid_expires_in;
            }
        } else if (!is_json_number(text) || !floor_json_number(text, max, seconds, fraction)) {
            return errc::invalid_expires_in;
        }
        break;
    }
    default:
        return wrong_type(v, end, errc::invalid_expires_in);
    }
    out = seconds;
    floored = fraction;
    return errc{};
}

/// An optional text field (`token_type`, `error`): a string, or null (`out`
/// stays empty and `present` false). @returns `errc::invalid_field_type` for
/// another (valid) JSON type.
inline errc read_text(simdjson::ondemand::value& v, const char* end, std::string_view& out,
                      bool* present = nullptr) noexcept {
    std::string_view raw;
    raw_kind kind{};
    if (errc e = raw_of(v, raw, kind); e != errc{}) {
        return e;
    }
    switch (kind) {
    case raw_kind::string:
        if (present != nullptr) {
            *present = true;
        }
        return read_raw_string(raw, out, string_rule::text);
    case raw_kind::null:
        out = {};
        return raw_null(raw);
    default:
        return wrong_type(v, end, errc::invalid_field_type);
    }
}

/// `scope` (RFC 6749 section 3.3): a string of space-separated tokens, or an
/// array of strings, joined here with single spaces into `joined`. Null is
/// absent. @returns `errc::invalid_field_type` for another type, an array
/// element that is not a string, or a control byte (the field is then
/// dropped); `errc::invalid_json` when the value is not valid JSON.
inline errc read_scope(simdjson::ondemand::value& v, const char* end, std::string_view& out,
                       std::string& joined, bool& is_joined) {
    std::string_view raw;
    raw_kind kind{};
    if (errc e = raw_of(v, raw, kind); e != errc{}) {
        return e;
    }
    if (kind != raw_kind::array) {
        if (kind == raw_kind::object || kind == raw_kind::number || kind == raw_kind::boolean) {
            return wrong_type(v, end, errc::invalid_field_type);
        }
        if (errc e = read_text(v, end, out); e != errc{}) {
            return e;
        }
        return has_control(out) ? errc::invalid_field_type : errc{};
    }
    simdjson::ondemand::array arr;
    if (v.get_array().get(arr) != simdjson::SUCCESS) {
        return errc::invalid_json;
    }
    errc verdict{};
    joined.clear();
    for (auto item : arr) {
        simdjson::ondemand::value element;
        if (std::move(item).get(element) != simdjson::SUCCESS) {
            return errc::invalid_json;
        }
        std::string_view element_raw;
        raw_kind element_kind{};
        if (errc e = raw_of(element, element_raw, element_kind); e != errc{}) {
            return e;
        }
        if (element_kind != raw_kind::string) {
            if (errc e = validate_value(element, end, 2); e != errc{}) {
                return e;
            }
            verdict = errc::invalid_field_type;
            continue;
        }
        std::string_view text;
        if (errc e = read_raw_string(element_raw, text, string_rule::text); e != errc{}) {
            return e;
        }
        if (has_control(text)) {
            verdict = errc::invalid_field_type;
        }
        if (verdict == errc{}) {
            if (!joined.empty()) {
                joined += ' ';
            }
            joined += text;
        }
    }
    if (verdict != errc{}) {
        joined.clear();
        return verdict;
    }
    is_joined = true;
    out = {};
    return errc{};
}

} // namespace babelbird::inline v1::detail
