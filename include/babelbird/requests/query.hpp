/// @file requests/query.hpp
/// @brief Query parameters shared by the authorize, code-exchange and file-API
/// builders: the public `query_parameter` pair, its percent-encoded
/// serialisation, and the redirect-URI check. No I/O, no JSON.
#pragma once

#include "babelbird/config/compiler_check.hpp"

#include <cstddef>
#include <span>
#include <string>
#include <string_view>

#include "babelbird/encoding/percent.hpp"
#include "babelbird/encoding/utf8.hpp"
#include "babelbird/values/ascii.hpp"
#include "babelbird/values/errc.hpp"

namespace babelbird::inline v1 {

/// One query parameter given by the caller. Name and value are both
/// percent-encoded (RFC 3986 section 2.1, unreserved bytes kept, UTF-8) when a
/// URL is built, so any valid UTF-8 text is safe in either.
/// @warning Both are views: they must outlive the builder call.
struct query_parameter {
    std::string_view name;
    std::string_view value;
};

namespace detail {

/// The bytes `sep name=value` adds to a URL once percent-encoded.
constexpr std::size_t encoded_parameter_size(std::string_view name,
                                             std::string_view value) noexcept {
    return 2 + percent_encoded_size(name) + percent_encoded_size(value);
}

/// Writes `sep name=value`, percent-encoded, at `w`; `sep` becomes '&'.
constexpr char* write_parameter(char* w, char& sep, std::string_view name,
                                std::string_view value) noexcept {
    *w++ = sep;
    sep = '&';
    w = percent_encode_to(name, w);
    *w++ = '=';
    return percent_encode_to(value, w);
}

/// Appends `sep name=value`, percent-encoded, to `out`; `sep` becomes '&'.
inline void append_parameter(std::string& out, char& sep, std::string_view name,
                             std::string_view value) {
    const std::size_t at = out.size();
    out.resize(at + encoded_parameter_size(name, value));
    write_parameter(out.data() + at, sep, name, value);
}

/// The size of `base path ?n1=v1&n2=v2...` over `fixed` then `extra`, encoded.
constexpr std::size_t url_size(std::string_view base, std::string_view path,
                               std::span<const query_parameter> fixed,
                               std::span<const query_parameter> extra) noexcept {
    std::size_t size = base.size() + path.size();
    for (const auto& p : fixed) {
        size += encoded_parameter_size(p.name, p.value);
    }
    for (const auto& p : extra) {
        size += encoded_parameter_size(p.name, p.value);
    }
    return size;
}

/// Writes `base path ?n1=v1&n2=v2...` (exactly `url_size(...)` bytes) at `w`;
/// no '?' when there are no parameters.
constexpr char* write_url(char* w, std::string_view base, std::string_view path,
                          std::span<const query_parameter> fixed,
                          std::span<const query_parameter> extra) noexcept {
    for (char ch : base) {
        *w++ = ch;
    }
    for (char ch : path) {
        *w++ = ch;
    }
    char sep = '?';
    for (const auto& p : fixed) {
        w = write_parameter(w, sep, p.name, p.value);
    }
    for (const auto& p : extra) {
        w = write_parameter(w, sep, p.name, p.value);
    }
    return w;
}

/// `base path ?n1=v1&n2=v2...` as a string, sized exactly (one allocation).
inline std::string build_url(std::string_view base, std::string_view path,
                             std::span<const query_parameter> fixed,
                             std::span<const query_parameter> extra = {}) {
    std::string url(url_size(base, path, fixed, extra), '\0');
    write_url(url.data(), base, path, fixed, extra);
    return url;
}

/// RFC 3986 section 3.1: `ALPHA *( ALPHA / DIGIT / "+" / "-" / "." )`.
constexpr bool is_uri_scheme(std::string_view s) noexcept {
    if (s.empty() || !is_alpha(s.front())) {
        return false;
    }
    for (char ch : s) {
        if (!is_alpha(ch) && !is_digit(ch) && ch != '+' && ch != '-' && ch != '.') {
            return false;
        }
    }
    return true;
}

/// ASCII bytes RFC 3986 never allows in a URI (section 2: they are neither
/// reserved nor unreserved). Non-ASCII bytes are allowed, as in an IRI.
constexpr bool is_excluded_uri_byte(char ch) noexcept {
    switch (ch) {
    case ' ':
    case '"':
    case '<':
    case '>':
    case '\\':
    case '^':
    case '`':
    case '{':
    case '|':
    case '}':
        return true;
    default:
        return false;
    }
}

/// Checks a redirect URI (RFC 6749 section 3.1.2): non-empty, no control
/// byte, valid UTF-8, absolute (a scheme, then something), no fragment, no
/// byte RFC 3986 excludes. `http`/`https` URIs need a non-empty host; any
/// host is accepted (the code is useless without the client secret, and the
/// server compares the URI with the registered one). A query is allowed.
/// @returns `errc{}` when acceptable, else `empty_value`, `control_character`,
/// `invalid_utf8` or `invalid_redirect_uri`.
constexpr errc redirect_uri_error(std::string_view uri) noexcept {
    if (uri.empty()) {
        return errc::empty_value;
    }
    if (has_control(uri)) {
        return errc::control_character;
    }
    if (!is_valid_utf8(uri)) {
        return errc::invalid_utf8;
    }
    for (char ch : uri) {
        if (is_excluded_uri_byte(ch) || ch == '#') {
            return errc::invalid_redirect_uri;
        }
    }
    const std::size_t colon = uri.find(':');
    if (colon == std::string_view::npos || !is_uri_scheme(uri.substr(0, colon)) ||
        colon + 1 == uri.size()) {
        return errc::invalid_redirect_uri;
    }
    const std::string_view scheme = uri.substr(0, colon);
    if (iequals(scheme, "http") || iequals(scheme, "https")) {
        const std::string_view rest = uri.substr(colon + 1);
        if (rest.substr(0, 2) != "//") {
            return errc::invalid_redirect_uri;
        }
        const std::string_view authority = rest.substr(2, rest.find_first_of("/?", 2) - 2);
        const std::string_view host = authority.substr(authority.rfind('@') + 1);
        if (host.empty() || host.front() == ':') {
            return errc::invalid_redirect_uri;
        }
    }
    return errc{};
}

/// Checks caller-supplied extra parameters: each name non-empty, names and
/// values valid UTF-8, no name equal (ASCII case-insensitively) to one of
/// `reserved` or to another extra name.
/// @returns `errc{}`, `empty_value`, `invalid_utf8`, `reserved_parameter` or
/// `duplicate_parameter`.
constexpr errc extra_parameters_error(std::span<const query_parameter> extra,
                                      std::span<const std::string_view> reserved) noexcept {
    for (std::size_t i = 0; i < extra.size(); ++i) {
        const query_parameter& p = extra[i];
        if (p.name.empty()) {
            return errc::empty_value;
        }
        if (!is_valid_utf8(p.name) || !is_valid_utf8(p.value)) {
            return errc::invalid_utf8;
        }
        for (std::string_view r : reserved) {
            if (iequals(p.name, r)) {
                return errc::reserved_parameter;
            }
        }
        for (std::size_t j = 0; j < i; ++j) {
            if (iequals(p.name, extra[j].name)) {
                return errc::duplicate_parameter;
            }
        }
    }
    return errc{};
}

} // namespace detail

} // namespace babelbird::inline v1
