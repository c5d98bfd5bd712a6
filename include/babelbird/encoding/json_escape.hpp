/// @file encoding/json_escape.hpp
/// @brief Writing JSON string literals (RFC 8259 section 7): the counterpart of
/// json_unescape.hpp, for the tools that answer or print JSON (the test
/// server, the CLI).
#pragma once

#include "babelbird/config/compiler_check.hpp"

#include <string>
#include <string_view>

#include "babelbird/values/ascii.hpp"

namespace babelbird::inline v1::detail {

/// Appends `text` as a JSON string literal, quotes included: `"` and `\` are
/// escaped with a backslash, control bytes (C0 and DEL) as `\u00XX`, every
/// other byte is copied as it is (valid UTF-8 stays valid UTF-8).
/// Written in place, so a token is never copied into a temporary that would be
/// freed without being zeroed.
inline void append_json_string(std::string& out, std::string_view text) {
    static constexpr char hex[] = "0123456789abcdef";
    out += '"';
    for (char ch : text) {
        const auto c = static_cast<unsigned char>(ch);
        if (ch == '"' || ch == '\\') {
            out += '\\';
            out += ch;
        } else if (is_control(ch)) {
            out += "\\u00";
            out += hex[c >> 4];
            out += hex[c & 15];
        } else {
            out += ch;
        }
    }
    out += '"';
}

} // namespace babelbird::inline v1::detail
