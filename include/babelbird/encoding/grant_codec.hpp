/// @file encoding/grant_codec.hpp
/// @brief A `token_grant` as one binary-safe byte string and back: what a
/// shared token store keeps (docs/design.md, "Shared store").
///
/// The format, version 1: the tag `bbgrant1;` and ten netstrings
/// (`<decimal length>:<bytes>,`) in a fixed order:
/// @code
/// bbgrant1;<access_token><refresh_token><rotated 0|1><expires_in | empty>
///          <issued_at><expires_at><refresh_expires_at | empty>
///          <token_type><scope><warnings>
/// @endcode
/// Times are signed decimal counts of `time_point::duration` since the epoch
/// (nanoseconds with libstdc++ and libc++ on Linux); `expires_in` and
/// `warnings` unsigned decimals; an empty netstring is an absent optional.
/// Lengths carry the tokens, so any byte (quotes, spaces, `:` `,`, NUL)
/// round-trips exactly, and encoding is deterministic: one grant, one string
/// (a store may compare encodings to find an entry).
///
/// Secrets: the encoding is a `secret` (zeroed when destroyed); decoding copies
/// the tokens into the grant's `secret`s and never into an error.
#pragma once

#include "babelbird/config/compiler_check.hpp"

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string_view>

#include "babelbird/values/error.hpp"
#include "babelbird/values/secret.hpp"
#include "babelbird/values/token.hpp"

namespace babelbird::inline v1 {

namespace detail {

inline constexpr std::string_view grant_codec_tag = "bbgrant1;";

/// Writes the decimal digits of `v` to `out` (if not null); returns their count.
inline std::size_t grant_codec_digits(char* out, std::uint64_t v, bool negative) noexcept {
    char buf[24];
    std::size_t n = 0;
    do {
        buf[n++] = static_cast<char>('0' + v % 10);
        v /= 10;
    } while (v != 0);
    if (negative) {
        buf[n++] = '-';
    }
    if (out != nullptr) {
        for (std::size_t i = 0; i < n; ++i) {
            out[i] = buf[n - 1 - i];
        }
    }
    return n;
}

/// One field: text, or a number written on the fly.
struct grant_codec_field {
    std::string_view text;
    bool is_number = false;
    bool negative = false;
    std::uint64_t magnitude = 0;

    static grant_codec_field of_text(std::string_view t) noexcept { return {t, false, false, 0}; }
    static grant_codec_field of_unsigned(std::uint64_t v) noexcept { return {{}, true, false, v}; }
    static grant_codec_field of_signed(std::int64_t v) noexcept {
        // The magnitude of INT64_MIN does not fit an int64_t: negate in unsigned.
        return v < 0 ? grant_codec_field{{}, true, true, 0 - static_cast<std::uint64_t>(v)}
                     : grant_codec_field{{}, true, false, static_cast<std::uint64_t>(v)};
    }
    std::size_t size() const noexcept {
        return is_number ? grant_codec_digits(nullptr, magnitude, negative) : text.size();
    }
    void write(char* out) const noexcept {
        if (is_number) {
            grant_codec_digits(out, magnitude, negative);
        } else if (!text.empty()) {
            std::memcpy(out, text.data(), text.size());
        }
    }
};

/// Reads the netstrings of a version-1 encoding in order.
class grant_codec_reader {
public:
    explicit grant_codec_reader(std::string_view in) noexcept : in_(in) {}

    /// The next netstring's bytes; empty optional when malformed.
    std::optional<std::string_view> next() noexcept {
        std::size_t len = 0;
        std::size_t i = 0;
        for (; i < in_.size() && in_[i] >= '0' && in_[i] <= '9'; ++i) {
            if (i >= 10) { // at most 10 digits: no overflow, at most ~10 GB
                return std::nullopt;
            }
            len = len * 10 + static_cast<std::size_t>(in_[i] - '0');
        }
        if (i == 0 || (i > 1 && in_[0] == '0') || i >= in_.size() || in_[i] != ':' ||
            in_.size() - i - 1 < len + 1 || in_[i + 1 + len] != ',') {
            return std::nullopt;
        }
        const std::string_view bytes = in_.substr(i + 1, len);
        in_.remove_prefix(i + 2 + len);
        return bytes;
    }
    bool at_end() const noexcept { return in_.empty(); }

    static std::optional<std::uint64_t> as_unsigned(std::string_view t) noexcept {
        if (t.empty() || t.size() > 20 || (t.size() > 1 && t[0] == '0')) {
            return std::nullopt;
        }
        std::uint64_t v = 0;
        for (char ch : t) {
            if (ch < '0' || ch > '9') {
                return std::nullopt;
            }
            const auto digit = static_cast<std::uint64_t>(ch - '0');
            if (v > (UINT64_MAX - digit) / 10) {
                return std::nullopt;
            }
            v = v * 10 + digit;
        }
        return v;
    }
    static std::optional<std::int64_t> as_signed(std::string_view t) noexcept {
        const bool negative = !t.empty() && t[0] == '-';
        const auto magnitude = as_unsigned(negative ? t.substr(1) : t);
        constexpr auto max = static_cast<std::uint64_t>(INT64_MAX);
        if (!magnitude || (negative && *magnitude == 0) || *magnitude > max + (negative ? 1 : 0)) {
            return std::nullopt;
        }
        return negative ? static_cast<std::int64_t>(0 - *magnitude)
                        : static_cast<std::int64_t>(*magnitude);
    }

private:
    std::string_view in_;
};

inline time_point grant_codec_time(std::int64_t count) noexcept {
    return time_point(time_point::duration(static_cast<time_point::duration::rep>(count)));
}

} // namespace detail

/// The error a malformed stored value gives: `errc::invalid_argument`, class
/// `protocol` (the store holds something this version cannot read), origin
/// `transport` (the store is the caller's infrastructure). Secret-free.
constexpr error malformed_stored_grant() noexcept {
    return error(errc::invalid_argument, error_class::protocol, error_origin::transport);
}

/// `grant` in the format of the file comment, as a `secret`.
/// Allocates once (the secret). Thread-safe (pure).
inline secret encode_grant(const token_grant& grant) {
    using detail::grant_codec_field;
    const std::int64_t issued = grant.issued_at.time_since_epoch().count();
    const std::int64_t expires = grant.expires_at.time_since_epoch().count();
    const grant_codec_field fields[10] = {
        grant_codec_field::of_text(grant.access_token.expose_secret()),
        grant_codec_field::of_text(grant.refresh_token.expose_secret()),
        grant_codec_field::of_text(grant.refresh_token_rotated ? "1" : "0"),
        grant.expires_in ? grant_codec_field::of_unsigned(*grant.expires_in)
                         : grant_codec_field::of_text({}),
        grant_codec_field::of_signed(issued),
        grant_codec_field::of_signed(expires),
        grant.refresh_expires_at
            ? grant_codec_field::of_signed(grant.refresh_expires_at->time_since_epoch().count())
            : grant_codec_field::of_text({}),
        grant_codec_field::of_text(grant.token_type),
        grant_codec_field::of_text(grant.scope),
        grant_codec_field::of_unsigned(static_cast<std::uint64_t>(grant.warnings)),
    };
    std::size_t total = detail::grant_codec_tag.size();
    for (const auto& f : fields) {
        const std::size_t n = f.size();
        total += detail::grant_codec_digits(nullptr, n, false) + 2 + n;
    }
    return secret::build(total, [&](char* out) {
        std::memcpy(out, detail::grant_codec_tag.data(), detail::grant_codec_tag.size());
        out += detail::grant_codec_tag.size();
        for (const auto& f : fields) {
            const std::size_t n = f.size();
            out += detail::grant_codec_digits(out, n, false);
            *out++ = ':';
            f.write(out);
            out += n;
            *out++ = ',';
        }
    });
}

/// The grant `encoded` holds (the exact format of `encode_grant`).
/// @returns the grant, or `malformed_stored_grant()` for anything else
/// (another version, a cut or padded string, a number out of range).
/// Thread-safe (pure).
inline result<token_grant> decode_grant(std::string_view encoded) {
    if (encoded.substr(0, detail::grant_codec_tag.size()) != detail::grant_codec_tag) {
        return malformed_stored_grant();
    }
    detail::grant_codec_reader in(encoded.substr(detail::grant_codec_tag.size()));
    std::string_view f[10];
    for (auto& field : f) {
        const auto next = in.next();
        if (!next) {
            return malformed_stored_grant();
        }
        field = *next;
    }
    using reader = detail::grant_codec_reader;
    const auto issued = reader::as_signed(f[4]);
    const auto expires = reader::as_signed(f[5]);
    const auto warnings = reader::as_unsigned(f[9]);
    if (!in.at_end() || (f[2] != "0" && f[2] != "1") || !issued || !expires || !warnings ||
        *warnings > 0xFF) {
        return malformed_stored_grant();
    }
    token_grant grant;
    if (!f[3].empty()) {
        grant.expires_in = reader::as_unsigned(f[3]);
        if (!grant.expires_in) {
            return malformed_stored_grant();
        }
    }
    if (!f[6].empty()) {
        const auto refresh_expires = reader::as_signed(f[6]);
        if (!refresh_expires) {
            return malformed_stored_grant();
        }
        grant.refresh_expires_at = detail::grant_codec_time(*refresh_expires);
    }
    grant.access_token = secret(f[0]);
    grant.refresh_token = secret(f[1]);
    grant.refresh_token_rotated = f[2] == "1";
    grant.issued_at = detail::grant_codec_time(*issued);
    grant.expires_at = detail::grant_codec_time(*expires);
    grant.token_type = std::string(f[7]);
    grant.scope = std::string(f[8]);
    grant.warnings = static_cast<response_warnings>(*warnings);
    return grant;
}

} // namespace babelbird::inline v1
