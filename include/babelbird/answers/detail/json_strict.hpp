/// @file answers/detail/json_strict.hpp
/// @brief Strict reading of raw JSON tokens over simdjson on-demand: keys,
/// strings (in place or unescaped into the arena), nulls, value kinds, and the
/// validation of values nobody reads (depth-limited).
///
/// simdjson is asked for structure and raw token positions only; every
/// string is checked and unescaped here (see json_scratch.hpp for why).
#pragma once

#include "babelbird/config/compiler_check.hpp"

#include <simdjson.h>

#include <cstdint>
#include <string_view>
#include <utility>

#include "babelbird/answers/detail/json_number.hpp"
#include "babelbird/answers/detail/swar.hpp"
#include "babelbird/answers/detail/unescape_arena.hpp"
#include "babelbird/encoding/json_unescape.hpp"
#include "babelbird/values/ascii.hpp"
#include "babelbird/values/errc.hpp"

namespace babelbird::inline v1::detail {

/// How deep unknown fields may nest before the answer is refused.
inline constexpr int max_unknown_depth = 64;

/// The key of a field. A key without escapes is used in place, straight from
/// the body copy (no unescaping, no copy); one with escapes is unescaped into
/// the arena (or, with `validate_only`, just checked). `end` bounds the scan
/// (the end of the padded body copy); stage 1 already found the closing quote.
inline errc read_key(simdjson::ondemand::field& field, const char* end, std::string_view& key,
                     bool validate_only = false) noexcept {
    const char* const start = field.key().raw();
    const char* p = start;
    // Eight bytes at a time: the first '"' or '\\' decides.
    for (; end - p >= 8; p += 8) {
        const std::uint64_t hit = swar_has_zero(swar_load(p) ^ swar_repeat('"')) |
                                  swar_has_zero(swar_load(p) ^ swar_repeat('\\'));
        if (hit != 0) {
            p += swar_first(hit);
            break;
        }
    }
    bool escaped = false;
    for (; p < end; ++p) {
        if (*p == '"') {
            break;
        }
        if (*p == '\\') {
            escaped = true;
            ++p; // skip the escaped byte (a '"' among them)
        }
    }
    if (p >= end) {
        return errc::invalid_json;
    }
    const std::string_view raw(start, static_cast<std::size_t>(p - start));
    for (char ch : raw) {
        if (static_cast<unsigned char>(ch) < 0x20) {
            return errc::invalid_json; // RFC 8259 section 7: controls must be escaped
        }
    }
    if (!escaped) {
        key = raw;
        return errc{};
    }
    if (validate_only) {
        return json_unescape(raw, nullptr) == bad_escape ? errc::invalid_json : errc{};
    }
    return unescape_arena::for_this_thread().unescape(raw, key) ? errc{} : errc::invalid_json;
}

/// The raw token of a value without the whitespace simdjson leaves after it.
inline errc raw_token(simdjson::ondemand::value& v, std::string_view& raw) noexcept {
    raw = v.raw_json_token();
    while (!raw.empty() && is_json_space(raw.back())) {
        raw.remove_suffix(1);
    }
    return raw.empty() ? errc::invalid_json : errc{};
}

/// The JSON type a value's first byte announces, as on-demand's `type()` tells
/// it; `invalid` for a byte that starts no value.
enum class raw_kind : std::uint8_t { string, number, null, boolean, object, array, invalid };

constexpr raw_kind kind_of(char first) noexcept {
    switch (first) {
    case '"':
        return raw_kind::string;
    case 'n':
        return raw_kind::null;
    case 't':
    case 'f':
        return raw_kind::boolean;
    case '{':
        return raw_kind::object;
    case '[':
        return raw_kind::array;
    case '-':
        return raw_kind::number;
    default:
        return is_digit(first) ? raw_kind::number : raw_kind::invalid;
    }
}

/// What a string must be, beyond valid JSON.
enum class string_rule : std::uint8_t {
    text,          ///< any JSON string
    access_token,  ///< `is_access_token`: 0x20-0x7E, no outer space, non-empty
    refresh_token, ///< `is_refresh_token`: 0x20-0x7E, may be empty (= not rotated)
};

inline bool follows_rule(std::string_view s, string_rule rule) noexcept {
    switch (rule) {
    case string_rule::access_token:
        return is_access_token(s);
    case string_rule::refresh_token:
        return s.empty() || is_refresh_token(s);
    case string_rule::text:
        break;
    }
    return true;
}

/// Reads a JSON string whose raw token is `raw` (trimmed, starting with '"').
/// Without escapes the bytes are used in place (no copy); with escapes they
/// are unescaped into the arena (`unescape_arena`). Raw control bytes are
/// invalid JSON; DEL (0x7F) is legal.
/// @returns `errc::invalid_json`, or `errc::invalid_token` when the string
/// breaks `rule`.
inline errc read_raw_string(std::string_view raw, std::string_view& out,
                            string_rule rule) noexcept {
    if (raw.size() < 2 || raw.back() != '"') {
        return errc::invalid_json;
    }
    const std::string_view content = raw.substr(1, raw.size() - 2);
    const byte_range r = scan_bytes(content);
    if (r.control) {
        return errc::invalid_json;
    }
    if (!r.escape) {
        out = content;
    } else if (!unescape_arena::for_this_thread().unescape(content, out)) {
        return errc::invalid_json;
    }
    return follows_rule(out, rule) ? errc{} : errc::invalid_token;
}

/// Checks a JSON string that nobody reads (an unknown field's): no raw
/// control byte, valid escapes. Nothing is unescaped.
inline errc check_string(simdjson::ondemand::value& v) noexcept {
    std::string_view raw;
    if (errc e = raw_token(v, raw); e != errc{}) {
        return e;
    }
    if (raw.size() < 2 || raw.front() != '"' || raw.back() != '"') {
        return errc::invalid_json;
    }
    const std::string_view content = raw.substr(1, raw.size() - 2);
    const byte_range r = scan_bytes(content);
    if (r.control || (r.escape && json_unescape(content, nullptr) == bad_escape)) {
        return errc::invalid_json;
    }
    return errc{};
}

inline errc read_type(simdjson::ondemand::value& v, simdjson::ondemand::json_type& t) noexcept {
    return v.type().get(t) == simdjson::SUCCESS ? errc{} : errc::invalid_json;
}

/// A JSON null, checked byte for byte (on-demand only looks at the first byte).
inline errc read_null(simdjson::ondemand::value& v) noexcept {
    bool is_null = false;
    if (v.is_null().get(is_null) != simdjson::SUCCESS || !is_null) {
        return errc::invalid_json;
    }
    return errc{};
}

/// The same check on a raw token: exactly the four bytes `null`.
constexpr errc raw_null(std::string_view raw) noexcept {
    return raw == "null" ? errc{} : errc::invalid_json;
}

/// The raw JSON type of a value, from its first byte.
inline errc raw_of(simdjson::ondemand::value& v, std::string_view& raw, raw_kind& kind) noexcept {
    if (errc e = raw_token(v, raw); e != errc{}) {
        return e;
    }
    kind = kind_of(raw.front());
    return kind == raw_kind::invalid ? errc::invalid_json : errc{};
}

/// Walks a value the caller does not need, so that it is still validated.
inline errc validate_value(simdjson::ondemand::value v, const char* end, int depth) noexcept {
    if (depth > max_unknown_depth) {
        return errc::nesting_too_deep;
    }
    simdjson::ondemand::json_type t;
    if (errc e = read_type(v, t); e != errc{}) {
        return e;
    }
    switch (t) {
    case simdjson::ondemand::json_type::object: {
        simdjson::ondemand::object obj;
        if (v.get_object().get(obj) != simdjson::SUCCESS) {
            return errc::invalid_json;
        }
        for (auto item : obj) {
            simdjson::ondemand::field field;
            std::string_view key;
            if (std::move(item).get(field) != simdjson::SUCCESS) {
                return errc::invalid_json;
            }
            if (errc e = read_key(field, end, key, true); e != errc{}) {
                return e;
            }
            if (errc e = validate_value(field.value(), end, depth + 1); e != errc{}) {
                return e;
            }
        }
        return errc{};
    }
    case simdjson::ondemand::json_type::array: {
        simdjson::ondemand::array arr;
        if (v.get_array().get(arr) != simdjson::SUCCESS) {
            return errc::invalid_json;
        }
        for (auto item : arr) {
            simdjson::ondemand::value element;
            if (std::move(item).get(element) != simdjson::SUCCESS) {
                return errc::invalid_json;
            }
            if (errc e = validate_value(element, end, depth + 1); e != errc{}) {
                return e;
            }
        }
        return errc{};
    }
    case simdjson::ondemand::json_type::number: {
        // Checked against the grammar, not converted: an unknown field may hold
        // a number no double or 64-bit integer can (a 30-digit id, 1e400).
        std::string_view raw;
        if (errc e = raw_token(v, raw); e != errc{}) {
            return e;
        }
        return is_json_number(raw) ? errc{} : errc::invalid_json;
    }
    case simdjson::ondemand::json_type::string:
        return check_string(v);
    case simdjson::ondemand::json_type::boolean: {
        bool b = false;
        return v.get_bool().get(b) == simdjson::SUCCESS ? errc{} : errc::invalid_json;
    }
    case simdjson::ondemand::json_type::null:
        return read_null(v);
    }
    return errc::invalid_json;
}

/// Validates a value of a known field that has the wrong type, so that the
/// rest of the answer can still be used: `invalid_json` (or
/// `nesting_too_deep`) when it is not valid JSON, else `wrong_type`.
inline errc wrong_type(simdjson::ondemand::value& v, const char* end, errc wrong) noexcept {
    if (errc e = validate_value(v, end, 1); e != errc{}) {
        return e;
    }
    return wrong;
}

} // namespace babelbird::inline v1::detail
