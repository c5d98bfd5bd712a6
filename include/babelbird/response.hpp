/// @file response.hpp
/// @brief The token response parser: status classification and a strict,
/// one-pass simdjson on-demand walk over the token object.
///
/// Policies (DESIGN.md):
/// - success is a 2xx whose body is a JSON object with a valid `access_token`
///   and no `error`;
/// - an `error` field in any body is an OAuth error (RFC 6749 section 5.2), typed when
///   the code is known and kept as text otherwise;
/// - non-2xx answers are classified by status even when the body is HTML or empty;
/// - tokens are non-empty and header-safe (0x21-0x7E);
/// - `expires_in` is a non-negative integer, as a JSON number or a digit string;
/// - an absent `refresh_token` means it was not rotated;
/// - known keys may appear once, and no key may be a case variant of one;
/// - unknown fields are ignored but must be valid JSON;
/// - `Content-Type` is ignored: the body is parsed by its content;
/// - the body is capped before parsing; an optional JSON pointer selects an
///   enveloped token object.
#pragma once

#include "babelbird/detail/compiler_check.hpp"

#include <simdjson.h>

#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>
#include <span>
#include <string_view>
#include <utility>

#include "babelbird/detail/ascii.hpp"
#include "babelbird/detail/secure_zero.hpp"
#include "babelbird/error.hpp"
#include "babelbird/http.hpp"
#include "babelbird/token.hpp"

namespace babelbird {

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
};

/// What a failed token-endpoint answer means for the caller. A known OAuth code
/// decides; otherwise the status does: 400/401 reauthorize, 408/429/5xx retry,
/// anything else protocol.
constexpr error_class classify_failure(int status, oauth_error code) noexcept {
    switch (code) {
    case oauth_error::invalid_grant:
    case oauth_error::invalid_client:
    case oauth_error::unauthorized_client:
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
    if (status == 408 || status == 429 || (status >= 500 && status <= 599)) {
        return error_class::retry;
    }
    return error_class::protocol;
}

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

/// What one walk over a token object found; views point into the parser's buffers.
struct token_fields {
    std::string_view access, refresh, type, scope, error_text;
    std::optional<std::uint64_t> expires_in, refresh_expires_in;
    unsigned seen = 0;
    bool has_refresh = false; ///< a non-null refresh_token was present
    bool has_error = false;   ///< a non-null error was present

    bool saw(field_id id) const noexcept { return (seen & (1u << unsigned(id))) != 0; }
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

/// The key of a field. A key without escapes is used in place, straight from
/// the body copy (no unescaping, no copy); one with escapes is unescaped by
/// simdjson, which also validates the escapes. `end` bounds the scan (the end
/// of the padded body copy); stage 1 already found the closing quote.
inline errc read_key(simdjson::ondemand::field& field, const char* end,
                     std::string_view& key) noexcept {
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
    for (; p < end; ++p) {
        if (*p == '"') {
            key = std::string_view(start, static_cast<std::size_t>(p - start));
            return errc{};
        }
        if (*p == '\\') {
            break;
        }
    }
    return field.unescaped_key().get(key) == simdjson::SUCCESS ? errc{} : errc::invalid_json;
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

/// What one pass over a string's raw bytes found: `low` is below 0x20 when
/// there is a control byte, and `low >= 0x21 && high <= 0x7E` when every byte
/// is header-safe; `escape` when there is a backslash.
struct byte_range {
    unsigned char low = 0xFF;
    unsigned char high = 0;
    bool escape = false;
};

inline byte_range scan_bytes(std::string_view s) noexcept {
    const char* p = s.data();
    const char* const end = p + s.size();
    bool control = false, unsafe = false, escape = false;
    // Eight bytes at a time; the exact per-byte classes are only needed for the
    // rare string that has a control byte, an escape or a non-token byte.
    for (; end - p >= 8; p += 8) {
        const std::uint64_t v = swar_load(p);
        control |= swar_any_below(v, 0x20);
        unsafe |= swar_any_below(v, 0x21) || swar_any_above(v, 0x7E);
        escape |= swar_has_zero(v ^ swar_repeat('\\')) != 0;
    }
    unsigned char low = control ? 0 : (unsafe ? 0x20 : 0xFF);
    unsigned char high = unsafe ? 0xFF : 0;
    for (; p < end; ++p) {
        const auto c = static_cast<unsigned char>(*p);
        low = c < low ? c : low;
        high = c > high ? c : high;
        escape |= c == '\\';
    }
    return {low, high, escape};
}

/// Reads a JSON string whose raw token is `raw` (trimmed, starting with '"').
/// Without escapes the bytes are used in place (no copy); with escapes simdjson
/// unescapes them. Raw control bytes are invalid JSON; DEL (0x7F) is legal.
/// With `token`, the string must also be non-empty and header-safe (0x21-0x7E).
inline errc read_raw_string(simdjson::ondemand::value& v, std::string_view raw,
                            std::string_view& out, bool token) noexcept {
    if (raw.size() < 2 || raw.back() != '"') {
        return errc::invalid_json;
    }
    const std::string_view content = raw.substr(1, raw.size() - 2);
    const byte_range r = scan_bytes(content);
    if (r.low < 0x20) {
        return errc::invalid_json;
    }
    if (!r.escape) {
        out = content;
        return !token || (!content.empty() && r.low >= 0x21 && r.high <= 0x7E)
                   ? errc{}
                   : errc::invalid_token;
    }
    if (v.get_string().get(out) != simdjson::SUCCESS) {
        return errc::invalid_json;
    }
    return !token || is_header_safe_token(out) ? errc{} : errc::invalid_token;
}

/// Reads a JSON string (any value that is not a string is invalid JSON here).
inline errc read_string(simdjson::ondemand::value& v, std::string_view& out) noexcept {
    std::string_view raw;
    if (errc e = raw_token(v, raw); e != errc{}) {
        return e;
    }
    return read_raw_string(v, raw, out, false);
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

/// A token: a string of header-safe bytes. `nullable`: null means absent
/// (`present` stays false).
inline errc read_token(simdjson::ondemand::value& v, std::string_view& out,
                       bool* present = nullptr) noexcept {
    std::string_view raw;
    if (errc e = raw_token(v, raw); e != errc{}) {
        return e;
    }
    switch (kind_of(raw.front())) {
    case raw_kind::string:
        if (present != nullptr) {
            *present = true;
        }
        return read_raw_string(v, raw, out, true);
    case raw_kind::null:
        if (present != nullptr) {
            return raw_null(raw); // forgiving: null means "not rotated"
        }
        return errc::invalid_token;
    case raw_kind::invalid:
        return errc::invalid_json;
    default:
        return errc::invalid_token;
    }
}

/// A lifetime in seconds: a JSON integer (no sign, fraction or exponent) or a
/// string of digits; null means absent.
inline errc read_seconds(simdjson::ondemand::value& v, std::optional<std::uint64_t>& out) noexcept {
    std::string_view raw;
    if (errc e = raw_token(v, raw); e != errc{}) {
        return e;
    }
    std::uint64_t seconds = 0;
    switch (kind_of(raw.front())) {
    case raw_kind::null:
        out.reset();
        return raw_null(raw);
    case raw_kind::number:
        // JSON forbids leading zeros; "0" alone is fine.
        if ((raw.size() > 1 && raw.front() == '0') || !parse_digits(raw, seconds)) {
            return errc::invalid_expires_in;
        }
        break;
    case raw_kind::string: {
        std::string_view text;
        if (errc e = read_raw_string(v, raw, text, false); e != errc{}) {
            return e;
        }
        if (!parse_digits(text, seconds)) {
            return errc::invalid_expires_in;
        }
        break;
    }
    case raw_kind::invalid:
        return errc::invalid_json;
    default:
        return errc::invalid_expires_in;
    }
    out = seconds;
    return errc{};
}

/// An optional text field (`token_type`, `scope`, `error`): a string, or null
/// (`out` stays empty and `present` false).
inline errc read_text(simdjson::ondemand::value& v, std::string_view& out,
                      bool* present = nullptr) noexcept {
    std::string_view raw;
    if (errc e = raw_token(v, raw); e != errc{}) {
        return e;
    }
    switch (kind_of(raw.front())) {
    case raw_kind::string:
        if (present != nullptr) {
            *present = true;
        }
        return read_raw_string(v, raw, out, false);
    case raw_kind::null:
        out = {};
        return raw_null(raw);
    case raw_kind::invalid:
        return errc::invalid_json;
    default:
        return errc::invalid_field_type;
    }
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
            if (errc e = read_key(field, end, key); e != errc{}) {
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
    case simdjson::ondemand::json_type::string: {
        std::string_view s;
        return read_string(v, s);
    }
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
inline errc walk_object(simdjson::ondemand::object& obj, const field_names& names,
                        token_fields& out, bool errors_only, const char* end) noexcept {
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
        switch (id) {
        case field_id::access:
            e = read_token(v, out.access);
            break;
        case field_id::refresh:
            e = read_token(v, out.refresh, &out.has_refresh);
            break;
        case field_id::expires:
            e = read_seconds(v, out.expires_in);
            break;
        case field_id::refresh_expires:
            e = read_seconds(v, out.refresh_expires_in);
            break;
        case field_id::type:
            // Callers put it in a header ("<token_type> <token>"): header-safe or absent.
            e = read_text(v, out.type);
            if (e == errc{} && !out.type.empty() && !is_header_safe_token(out.type)) {
                e = errc::invalid_field_type;
            }
            break;
        case field_id::scope:
            // Space-separated scope tokens (RFC 6749 section 3.3): no control bytes.
            e = read_text(v, out.scope);
            if (e == errc{} && has_control(out.scope)) {
                e = errc::invalid_field_type;
            }
            break;
        case field_id::error:
            // A string is the code; null is forgiven as "no error".
            e = read_text(v, out.error_text, &out.has_error);
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

/// A per-thread padded copy of the body and a reused parser: after the first
/// call, parsing allocates nothing but the result.
class json_scratch {
public:
    static json_scratch& for_this_thread() noexcept {
        thread_local json_scratch scratch;
        return scratch;
    }

    /// Walks `body` and fills `out`; the views in `out` stay valid until `release`.
    errc parse(std::string_view body, const response_options& options, token_fields& out) noexcept {
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
        if (errc e = walk_object(root, options.fields, out, enveloped, end); e != errc{}) {
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
        if (errc e = walk_object(inner, options.fields, enveloped_fields, false, end);
            e != errc{}) {
            return e;
        }
        out = enveloped_fields;
        return errc{};
    }

    /// Zeros what the parse left in this thread's buffers (the body copy, the
    /// unescaped tokens and simdjson's string buffer), and gives back memory
    /// grown for an unusually large body.
    void release(const token_fields& fields) noexcept {
        scrub_view(fields.access);
        scrub_view(fields.refresh);
        secure_zero(buffer_.get(), used_);
        scrub_string_buffer(used_);
        used_ = 0;
        if (capacity_ > keep_capacity) {
            buffer_.reset();
            capacity_ = 0;
            parser_ = simdjson::ondemand::parser{};
            strings_ = nullptr;
            strings_capacity_ = 0;
        }
    }

    /// For tests and fuzzers: the memory a parse copies body bytes into.
    /// `body_copy` is the padded copy of the body (zero-initialised when
    /// allocated); `strings` is the part of simdjson's string buffer that any
    /// body within the parser's current capacity can reach, which `release`
    /// zeroes (all of it when the buffer is new). Both views end at the next parse.
    struct memory_view {
        std::span<char> body_copy;
        std::span<char> strings;
    };
    memory_view memory_for_testing() noexcept {
        const bool located = strings_ != nullptr && strings_capacity_ == parser_.capacity();
        return {std::span<char>(buffer_.get(), capacity_),
                std::span<char>(strings_,
                                located ? strings_capacity_ + simdjson::SIMDJSON_PADDING : 0)};
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

    /// simdjson unescapes every key and escaped string it is asked for into the
    /// parser's string buffer, from its start, in blocks of up to 64 bytes that
    /// run past the string: after `{"access_token":"T"}` the buffer holds
    /// `access_token":"T"}` though only the key was asked for. The writes of one
    /// parse stay within its first `body size + SIMDJSON_PADDING` bytes, and
    /// simdjson allocates 5/3 of its capacity plus the padding.
    void scrub_string_buffer(std::size_t body_size) noexcept {
        if (parser_.capacity() == 0) {
            return;
        }
        std::size_t reach = body_size;
        if (strings_ == nullptr || strings_capacity_ != parser_.capacity()) {
            strings_ = locate_string_buffer();
            strings_capacity_ = parser_.capacity();
            reach = strings_capacity_; // a new buffer: zero all a parse can reach, once
        }
        if (strings_ != nullptr) {
            secure_zero(strings_, reach + simdjson::SIMDJSON_PADDING);
        }
    }

    /// Where the string buffer starts: an empty string unescapes to a view at
    /// its start. Needed only after simdjson (re)allocated it.
    char* locate_string_buffer() noexcept {
        static constexpr char probe[2 + simdjson::SIMDJSON_PADDING] = "\"\"";
        simdjson::ondemand::document doc;
        std::string_view empty;
        if (parser_.iterate(probe, 2, sizeof probe).get(doc) != simdjson::SUCCESS ||
            doc.get_string().get(empty) != simdjson::SUCCESS) {
            return nullptr;
        }
        // The view points into the parser's own (non-const) buffer.
        return const_cast<char*>(empty.data());
    }

    /// The views point into buffers this object owns (the body copy or the
    /// parser's string buffer), which are not const objects.
    static void scrub_view(std::string_view v) noexcept {
        if (!v.empty()) {
            secure_zero(const_cast<char*>(v.data()), v.size());
        }
    }

    simdjson::ondemand::parser parser_;
    std::unique_ptr<char[]> buffer_;
    std::size_t capacity_ = 0;
    std::size_t used_ = 0;
    char* strings_ = nullptr;          ///< start of the parser's string buffer, once located
    std::size_t strings_capacity_ = 0; ///< the parser capacity `strings_` was located for
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

/// Parses a token endpoint's answer.
///
/// @returns the validated fields, or an error of origin `server`:
/// `errc::redirect` (3xx, protocol); `errc::oauth_error_response` with the OAuth
/// code and a class from `classify_failure`; `errc::unexpected_status` for a
/// non-2xx without a readable OAuth error; for a 2xx, `errc::body_too_large`,
/// `errc::invalid_json`, `errc::not_an_object`, `errc::trailing_content`,
/// `errc::envelope_not_found`, `errc::missing_access_token`,
/// `errc::invalid_token`, `errc::invalid_expires_in`, `errc::invalid_field_type`,
/// `errc::duplicate_field`, `errc::case_variant_field` or
/// `errc::nesting_too_deep` (all protocol). No error carries body text.
inline result<token_response> parse_token_response(int status, std::string_view body,
                                                   const response_options& options = {}) {
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
    if (!fields.saw(detail::field_id::access)) {
        return error::server(errc::missing_access_token, error_class::protocol, status);
    }
    return detail::token_response_builder::build(fields.access, fields.refresh, fields.has_refresh,
                                                 fields.type, fields.scope, fields.expires_in,
                                                 fields.refresh_expires_in);
}

/// Parses a token endpoint's answer from the transport's response.
inline result<token_response> parse_token_response(const http_response& response,
                                                   const response_options& options = {}) {
    return parse_token_response(response.status, response.body, options);
}

} // namespace babelbird
