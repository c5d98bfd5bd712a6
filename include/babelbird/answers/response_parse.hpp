/// @file answers/response_parse.hpp
/// @brief The body of `parse_token_response`: the one strict simdjson
/// on-demand pass over a token answer (see response.hpp for the policies).
///
/// Included by response.hpp in header-only builds (the default), and by
/// babelbird/src.hpp alone under `BABELBIRD_SEPARATE_COMPILATION`, so that only
/// one translation unit parses `<simdjson.h>`.
#pragma once

#include "babelbird/config/compiler_check.hpp"

#include <simdjson.h>

#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>

#include "babelbird/answers/token_response.hpp"
#include "babelbird/answers/token_response_result.hpp"
#include "babelbird/config/decl.hpp"
#include "babelbird/encoding/json_unescape.hpp"
#include "babelbird/values/ascii.hpp"
#include "babelbird/values/error.hpp"
#include "babelbird/values/response_warnings.hpp"
#include "babelbird/values/secret.hpp"
#include "babelbird/values/secure_zero.hpp"
#include "babelbird/values/token.hpp"

namespace babelbird::inline v1 {

namespace detail {

/// How deep unknown fields may nest before the answer is refused.
inline constexpr int max_unknown_depth = 64;

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

constexpr bool is_json_space(char ch) noexcept {
    return ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r';
}

// Word-at-a-time ("SWAR") byte tests on 8 bytes, the first byte in memory
// being the least significant, see
// https://graphics.stanford.edu/~seander/bithacks.html#HasLessInWord.
inline std::uint64_t swar_load(const char* p) noexcept {
    std::uint64_t v = 0;
    if constexpr (std::endian::native == std::endian::little) {
        std::memcpy(&v, p, sizeof v);
    } else {
        for (int i = 7; i >= 0; --i) {
            v = (v << 8) | static_cast<unsigned char>(p[i]);
        }
    }
    return v;
}
constexpr std::uint64_t swar_repeat(unsigned char c) noexcept {
    return 0x0101010101010101ull * c;
}
/// The high bit of every byte that is zero (exact for the lowest such byte;
/// bytes above it may be flagged spuriously, which only the callers that look
/// for the first hit may use).
constexpr std::uint64_t swar_has_zero(std::uint64_t v) noexcept {
    return (v - swar_repeat(1)) & ~v & swar_repeat(0x80);
}
/// The index of the first flagged byte in memory order.
inline std::size_t swar_first(std::uint64_t hits) noexcept {
    return static_cast<std::size_t>(std::countr_zero(hits)) / 8;
}
/// Whether any byte is below `n` (n <= 128) / above `n` (n <= 127). Exact.
constexpr bool swar_any_below(std::uint64_t v, unsigned char n) noexcept {
    return ((v - swar_repeat(n)) & ~v & swar_repeat(0x80)) != 0;
}
constexpr bool swar_any_above(std::uint64_t v, unsigned char n) noexcept {
    return (((v + swar_repeat(static_cast<unsigned char>(127 - n))) | v) & swar_repeat(0x80)) != 0;
}

/// Where a string's unescaped bytes go: a per-thread buffer this library
/// owns and zeros after every parse (`json_scratch::release`). simdjson's own
/// unescaping (`get_string`, `unescaped_key`) is never used, so no token is
/// ever written into simdjson's string buffer, whose layout is not
/// documented and which this library could not zero reliably.
class unescape_arena {
public:
    static unescape_arena& for_this_thread() noexcept {
        thread_local unescape_arena arena;
        return arena;
    }

    /// Makes room for every string of a body of `body_size` bytes (the
    /// output of a string is never longer than its input; twice the body
    /// covers an envelope read twice).
    void prepare(std::size_t body_size) {
        const std::size_t need = 2 * body_size + 16;
        if (need > capacity_) {
            buffer_ = std::make_unique<char[]>(need);
            capacity_ = need;
        }
        used_ = 0;
    }

    /// Unescapes `content` (the bytes between the quotes) into the arena.
    /// @returns false for an invalid escape (or, defensively, no room)
    bool unescape(std::string_view content, std::string_view& out) noexcept {
        if (capacity_ - used_ < content.size()) {
            return false;
        }
        char* const at = buffer_.get() + used_;
        const std::size_t n = json_unescape(content, at);
        if (n == bad_escape) {
            secure_zero(at, content.size());
            return false;
        }
        used_ += n;
        out = std::string_view(at, n);
        return true;
    }

    /// Zeros what the last parse wrote; frees an unusually large buffer.
    void release(std::size_t keep_capacity) noexcept {
        secure_zero(buffer_.get(), used_);
        used_ = 0;
        if (capacity_ > keep_capacity) {
            buffer_.reset();
            capacity_ = 0;
        }
    }

    /// For tests: the whole buffer (zero-initialised when allocated).
    std::span<char> memory_for_testing() noexcept { return {buffer_.get(), capacity_}; }

private:
    std::unique_ptr<char[]> buffer_;
    std::size_t capacity_ = 0;
    std::size_t used_ = 0;
};

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

/// What one pass over a string's raw bytes found: a control byte (below
/// 0x20), a byte above 0x7E, a backslash.
struct byte_range {
    bool control = false;
    bool above_ascii = false;
    bool escape = false;
};

inline byte_range scan_bytes(std::string_view s) noexcept {
    const char* p = s.data();
    const char* const end = p + s.size();
    byte_range r;
    // Eight bytes at a time, then the tail byte by byte.
    for (; end - p >= 8; p += 8) {
        const std::uint64_t v = swar_load(p);
        r.control |= swar_any_below(v, 0x20);
        r.above_ascii |= swar_any_above(v, 0x7E);
        r.escape |= swar_has_zero(v ^ swar_repeat('\\')) != 0;
    }
    for (; p < end; ++p) {
        const auto c = static_cast<unsigned char>(*p);
        r.control |= c < 0x20;
        r.above_ascii |= c > 0x7E;
        r.escape |= c == '\\';
    }
    return r;
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

/// The JSON number grammar (RFC 8259 section 6), whatever the magnitude:
/// `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`.
constexpr bool is_json_number(std::string_view s) noexcept {
    std::size_t i = 0;
    const auto digits = [&s, &i]() noexcept {
        const std::size_t start = i;
        while (i < s.size() && is_digit(s[i])) {
            ++i;
        }
        return i - start;
    };
    if (i < s.size() && s[i] == '-') {
        ++i;
    }
    if (i < s.size() && s[i] == '0') {
        ++i;
    } else if (digits() == 0) {
        return false;
    }
    if (i < s.size() && s[i] == '.') {
        ++i;
        if (digits() == 0) {
            return false;
        }
    }
    if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
        ++i;
        if (i < s.size() && (s[i] == '+' || s[i] == '-')) {
            ++i;
        }
        if (digits() == 0) {
            return false;
        }
    }
    return i == s.size();
}

/// Parses 1-20 ASCII digits into a uint64, refusing overflow.
constexpr bool parse_digits(std::string_view s, std::uint64_t& out) noexcept {
    if (s.empty() || s.size() > 20) {
        return false;
    }
    std::uint64_t v = 0;
    for (char ch : s) {
        if (!is_digit(ch)) {
            return false;
        }
        const auto d = static_cast<std::uint64_t>(ch - '0');
        // Up to 19 digits cannot overflow; only the 20th needs the check.
        if (s.size() == 20 && v > (UINT64_MAX - d) / 10) {
            return false;
        }
        v = v * 10 + d;
    }
    out = v;
    return true;
}

/// The floor of a non-negative JSON number (`is_json_number(s)` holds), exact
/// for any spelling (`3600`, `3600.9`, `3.6e3`, `36e+2`, `0.5`), without
/// floating point. Fails for a minus sign (even `-0`) and above `max`.
/// `fraction` tells whether a non-zero fractional part was cut off.
constexpr bool floor_json_number(std::string_view s, std::uint64_t max, std::uint64_t& out,
                                 bool& fraction) noexcept {
    if (s.empty() || s.front() == '-') {
        return false;
    }
    // The digits before and after the point, and where the point sits after
    // applying the exponent (clamped: anything past 20 digits fails anyway).
    std::size_t i = 0;
    while (i < s.size() && is_digit(s[i])) {
        ++i;
    }
    const std::string_view whole = s.substr(0, i);
    std::string_view frac;
    if (i < s.size() && s[i] == '.') {
        const std::size_t start = ++i;
        while (i < s.size() && is_digit(s[i])) {
            ++i;
        }
        frac = s.substr(start, i - start);
    }
    long long exponent = 0;
    if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
        ++i;
        bool negative = false;
        if (i < s.size() && (s[i] == '+' || s[i] == '-')) {
            negative = s[i] == '-';
            ++i;
        }
        for (; i < s.size(); ++i) {
            if (exponent < 100000) {
                exponent = exponent * 10 + (s[i] - '0');
            }
        }
        exponent = negative ? -exponent : exponent;
    }
    const auto total = static_cast<long long>(whole.size() + frac.size());
    const long long point = static_cast<long long>(whole.size()) + exponent;
    const auto digit_at = [&](long long k) noexcept -> char {
        if (k < 0 || k >= total) {
            return '0';
        }
        const auto u = static_cast<std::size_t>(k);
        return u < whole.size() ? whole[u] : frac[u - whole.size()];
    };
    std::uint64_t value = 0;
    for (long long k = 0; k < point; ++k) {
        if (k >= total && value == 0) {
            break; // only zeros remain: 0e99999 is 0
        }
        const auto d = static_cast<std::uint64_t>(digit_at(k) - '0');
        if (value > (max - d) / 10 || value * 10 + d > max) {
            return false;
        }
        value = value * 10 + d;
    }
    fraction = false;
    for (long long k = point < 0 ? 0 : point; k < total; ++k) {
        fraction |= digit_at(k) != '0';
    }
    out = value;
    return true;
}

/// The raw JSON type of a value, from its first byte.
inline errc raw_of(simdjson::ondemand::value& v, std::string_view& raw, raw_kind& kind) noexcept {
    if (errc e = raw_token(v, raw); e != errc{}) {
        return e;
    }
    kind = kind_of(raw.front());
    return kind == raw_kind::invalid ? errc::invalid_json : errc{};
}

inline errc validate_value(simdjson::ondemand::value v, const char* end, int depth) noexcept;

/// Validates a value of a known field that has the wrong type, so that the
/// rest of the answer can still be used: `invalid_json` (or
/// `nesting_too_deep`) when it is not valid JSON, else `wrong_type`.
inline errc wrong_type(simdjson::ondemand::value& v, const char* end, errc wrong) noexcept {
    if (errc e = validate_value(v, end, 1); e != errc{}) {
        return e;
    }
    return wrong;
}

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

/// A per-thread padded copy of the body, the unescape arena and a reused
/// parser: after the first call, parsing allocates nothing but the result.
///
/// Secret hygiene (docs/design.md, "Policies", secrets) rests only on memory
/// this library owns: the body copy and the arena are zeroed after every
/// parse. simdjson is only asked for structure and raw token positions
/// (`raw_json_token`, `key().raw()`, types, iteration, `at_pointer`, which
/// matches raw keys); it is never asked to unescape, so its string buffer
/// never receives a byte of the body (test_secret_hygiene.cpp proves it by
/// watching the parser's freed blocks).
class json_scratch {
public:
    static json_scratch& for_this_thread() noexcept {
        thread_local json_scratch scratch;
        return scratch;
    }

    /// Walks `body` and fills `out`; the views in `out` stay valid until `release`.
    errc parse(std::string_view body, const response_options& options, token_fields& out) {
        if (body.size() >= 3 && body.substr(0, 3) == "\xEF\xBB\xBF") {
            body.remove_prefix(3); // forgiving: some servers prefix a UTF-8 BOM
        }
        const std::size_t need = body.size() + simdjson::SIMDJSON_PADDING;
        if (need > capacity_) {
            buffer_ = std::make_unique<char[]>(need);
            capacity_ = need;
        }
        std::memcpy(buffer_.get(), body.data(), body.size());
        std::memset(buffer_.get() + body.size(), ' ', simdjson::SIMDJSON_PADDING);
        used_ = body.size();
        unescape_arena::for_this_thread().prepare(body.size());

        simdjson::ondemand::document doc;
        if (parser_.iterate(buffer_.get(), body.size(), capacity_).get(doc) != simdjson::SUCCESS) {
            return errc::invalid_json;
        }
        simdjson::ondemand::object root;
        const auto root_error = doc.get_object().get(root);
        if (root_error != simdjson::SUCCESS) {
            return root_error == simdjson::INCORRECT_TYPE && starts_json_value(body)
                       ? errc::not_an_object
                       : errc::invalid_json;
        }
        const bool enveloped = !options.envelope.empty();
        const char* const end = buffer_.get() + capacity_;
        if (errc e = walk_object(root, options, out, enveloped, end); e != errc{}) {
            return e;
        }
        if (errc e = check_end(doc); e != errc{}) {
            return e;
        }
        if (!enveloped || out.has_error) {
            return errc{};
        }
        simdjson::ondemand::value target;
        if (doc.at_pointer(options.envelope).get(target) != simdjson::SUCCESS) {
            return errc::envelope_not_found;
        }
        simdjson::ondemand::object inner;
        if (target.get_object().get(inner) != simdjson::SUCCESS) {
            return errc::not_an_object;
        }
        token_fields enveloped_fields;
        if (errc e = walk_object(inner, options, enveloped_fields, false, end); e != errc{}) {
            return e;
        }
        out = std::move(enveloped_fields);
        return errc{};
    }

    /// Zeros what the parse left in this thread's buffers (the body copy and
    /// the unescaped strings), and gives back memory grown for an unusually
    /// large body.
    void release(const token_fields& fields) noexcept {
        scrub_view(fields.access);
        scrub_view(fields.refresh);
        secure_zero(buffer_.get(), used_);
        used_ = 0;
        unescape_arena::for_this_thread().release(2 * keep_capacity);
        if (capacity_ > keep_capacity) {
            buffer_.reset();
            capacity_ = 0;
            parser_ = simdjson::ondemand::parser{};
        }
    }

    /// For tests and fuzzers: the memory a parse copies body bytes into.
    /// `body_copy` is the padded copy of the body, `strings` the unescape
    /// arena (both zero-initialised when allocated and zeroed by `release`).
    /// Both views end at the next parse.
    struct memory_view {
        std::span<char> body_copy;
        std::span<char> strings;
    };
    memory_view memory_for_testing() noexcept {
        return {std::span<char>(buffer_.get(), capacity_),
                unescape_arena::for_this_thread().memory_for_testing()};
    }

private:
    static constexpr std::size_t keep_capacity = 64 * 1024;

    /// Whether the first non-space byte can start a JSON value: tells "a JSON
    /// array" (not an object) from "an HTML page" (not JSON at all).
    static bool starts_json_value(std::string_view body) noexcept {
        for (char ch : body) {
            if (!is_json_space(ch)) {
                return ch == '[' || ch == '"' || ch == '-' || is_digit(ch) || ch == 't' ||
                       ch == 'f' || ch == 'n';
            }
        }
        return false;
    }

    static errc check_end(simdjson::ondemand::document& doc) noexcept {
        const char* location = nullptr;
        const auto e = doc.current_location().get(location);
        if (e == simdjson::OUT_OF_BOUNDS) {
            return errc{};
        }
        return e == simdjson::SUCCESS ? errc::trailing_content : errc::invalid_json;
    }

    /// The views point into buffers this library owns (the body copy or the
    /// unescape arena), which are not const objects.
    static void scrub_view(std::string_view v) noexcept {
        if (!v.empty()) {
            secure_zero(const_cast<char*>(v.data()), v.size());
        }
    }

    simdjson::ondemand::parser parser_;
    std::unique_ptr<char[]> buffer_;
    std::size_t capacity_ = 0;
    std::size_t used_ = 0;
};

/// Zeros the scratch buffers when the parse is over, whatever path it took.
class scratch_guard {
public:
    scratch_guard(json_scratch& scratch, const token_fields& fields) noexcept
        : scratch_(scratch), fields_(fields) {}
    scratch_guard(const scratch_guard&) = delete;
    scratch_guard& operator=(const scratch_guard&) = delete;
    ~scratch_guard() { scratch_.release(fields_); }

private:
    json_scratch& scratch_;
    const token_fields& fields_;
};

} // namespace detail

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
