/// @file answers/detail/json_number.hpp
/// @brief JSON numbers as text (RFC 8259 section 6): the grammar, plain
/// digits, and the exact floor of a lifetime such as `3600.9` or `36e+2`,
/// without floating point. No simdjson.
#pragma once

#include "babelbird/config/compiler_check.hpp"

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "babelbird/values/ascii.hpp"

namespace babelbird::inline v1::detail {

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

} // namespace babelbird::inline v1::detail
