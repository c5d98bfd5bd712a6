/// @file answers/retry_after.hpp
/// @brief `Retry-After` (RFC 9110 section 10.2.3): how long a server asked the
/// client to wait, from a 429/503 (or another retry-class) answer.
#pragma once

#include "babelbird/config/compiler_check.hpp"

#include <chrono>
#include <cstdint>
#include <optional>
#include <string_view>

#include "babelbird/encoding/http_date.hpp"
#include "babelbird/values/ascii.hpp"
#include "babelbird/values/clock.hpp"
#include "babelbird/values/error_value.hpp"
#include "babelbird/values/http.hpp"

namespace babelbird::inline v1 {

/// The delay a `Retry-After` value asks for.
///
/// @param value the field value: `delay-seconds` (1*DIGIT, e.g. `120`) or an
///        HTTP-date in IMF-fixdate form (`Fri, 31 Dec 1999 23:59:59 GMT`);
///        surrounding spaces and tabs are ignored
/// @param date the answer's `Date` header, if any: an HTTP-date is measured
///        from it, so clock skew between server and client does not matter
/// @param now the client's clock reading, used for an HTTP-date when `date`
///        is absent or not an IMF-fixdate
/// @returns the delay in whole seconds (a date in the past gives 0; a huge
///          number saturates); empty for anything else (garbage is ignored,
///          as is an HTTP-date with neither `date` nor `now`)
constexpr std::optional<std::chrono::seconds>
parse_retry_after(std::string_view value, std::optional<std::string_view> date,
                  std::optional<time_point> now) noexcept {
    value = detail::trim_ows(value);
    if (value.empty()) {
        return std::nullopt;
    }
    if (detail::is_digit(value.front())) {
        constexpr std::int64_t cap = std::int64_t{1} << 40; // saturate; error caps it further
        std::int64_t n = 0;
        for (char ch : value) {
            if (!detail::is_digit(ch)) {
                return std::nullopt;
            }
            n = n >= cap ? cap : n * 10 + (ch - '0');
        }
        return std::chrono::seconds(n);
    }
    const auto when = detail::parse_imf_fixdate(value);
    if (!when) {
        return std::nullopt;
    }
    std::optional<std::int64_t> reference;
    if (date) {
        reference = detail::parse_imf_fixdate(*date);
    }
    if (!reference && now) {
        reference = std::chrono::floor<std::chrono::seconds>(now->time_since_epoch()).count();
    }
    if (!reference) {
        return std::nullopt;
    }
    return std::chrono::seconds(*when > *reference ? *when - *reference : 0);
}

namespace detail {

/// Sets `e.retry_after()` from the answer's `Retry-After` when `e` is a
/// retry-class error about a server answer (429, 503, another 5xx, 408,
/// `temporarily_unavailable`...). Garbage is ignored.
inline void add_retry_after(error& e, const http_response& response,
                            std::optional<time_point> now) noexcept {
    if (e.kind() != error_class::retry || e.origin() != error_origin::server) {
        return;
    }
    const auto value = response.header("Retry-After");
    if (!value) {
        return;
    }
    if (const auto delay = parse_retry_after(*value, response.header("Date"), now)) {
        e.with_retry_after(*delay);
    }
}

} // namespace detail

} // namespace babelbird::inline v1
