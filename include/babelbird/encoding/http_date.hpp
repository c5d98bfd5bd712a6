/// @file encoding/http_date.hpp
/// @brief The IMF-fixdate form of an HTTP-date (RFC 9110 section 5.6.7), as
/// seconds since the Unix epoch. Pure, constexpr, no locale, no `time_t`.
#pragma once

#include "babelbird/config/compiler_check.hpp"

#include <cstdint>
#include <optional>
#include <string_view>

#include "babelbird/values/ascii.hpp"

namespace babelbird::inline v1::detail {

/// Days from 1970-01-01 to the proleptic Gregorian date y-m-d (H. Hinnant's
/// `days_from_civil`, exact for every year).
constexpr std::int64_t days_from_civil(std::int64_t y, unsigned m, unsigned d) noexcept {
    y -= m <= 2 ? 1 : 0;
    const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
    const auto yoe = static_cast<unsigned>(y - era * 400);
    const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + static_cast<std::int64_t>(doe) - 719468;
}

constexpr bool is_leap_year(unsigned y) noexcept {
    return y % 4 == 0 && (y % 100 != 0 || y % 400 == 0);
}

constexpr unsigned days_in_month(unsigned y, unsigned m) noexcept {
    constexpr unsigned days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return m == 2 && is_leap_year(y) ? 29 : days[m - 1];
}

/// `n` ASCII digits at `s[at]` as a number, or -1.
constexpr int fixed_digits(std::string_view s, std::size_t at, std::size_t n) noexcept {
    int v = 0;
    for (std::size_t i = at; i < at + n; ++i) {
        if (i >= s.size() || !is_digit(s[i])) {
            return -1;
        }
        v = v * 10 + (s[i] - '0');
    }
    return v;
}

/// Parses an IMF-fixdate, `Sun, 06 Nov 1994 08:49:37 GMT` (exactly 29
/// bytes, names and `GMT` case-sensitive, RFC 9110 section 5.6.7), into
/// seconds since 1970-01-01T00:00:00Z. The day name is checked for spelling
/// only. The obsolete RFC 850 and asctime forms are not accepted.
/// @returns empty for anything else (an impossible date like 31 Apr too).
constexpr std::optional<std::int64_t> parse_imf_fixdate(std::string_view s) noexcept {
    constexpr std::string_view day_names[] = {"Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"};
    constexpr std::string_view month_names[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    // "Sun, 06 Nov 1994 08:49:37 GMT"
    //  0123456789012345678901234567 8
    if (s.size() != 29 || s.substr(3, 2) != ", " || s[7] != ' ' || s[11] != ' ' || s[16] != ' ' ||
        s[19] != ':' || s[22] != ':' || s.substr(25) != " GMT") {
        return std::nullopt;
    }
    bool day_ok = false;
    for (auto name : day_names) {
        day_ok = day_ok || s.substr(0, 3) == name;
    }
    unsigned month = 0;
    for (unsigned i = 0; i < 12; ++i) {
        if (s.substr(8, 3) == month_names[i]) {
            month = i + 1;
        }
    }
    const int day = fixed_digits(s, 5, 2);
    const int year = fixed_digits(s, 12, 4);
    const int hour = fixed_digits(s, 17, 2);
    const int minute = fixed_digits(s, 20, 2);
    const int second = fixed_digits(s, 23, 2);
    if (!day_ok || month == 0 || day < 1 || year < 0 || hour < 0 || hour > 23 || minute < 0 ||
        minute > 59 || second < 0 || second > 60 ||
        static_cast<unsigned>(day) > days_in_month(static_cast<unsigned>(year), month)) {
        return std::nullopt;
    }
    return days_from_civil(year, month, static_cast<unsigned>(day)) * 86400 + hour * 3600 +
           minute * 60 + second;
}

} // namespace babelbird::inline v1::detail
