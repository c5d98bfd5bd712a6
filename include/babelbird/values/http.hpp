/// @file values/http.hpp
/// @brief Plain HTTP values exchanged with the caller's transport.
///
/// The library never does I/O: it hands an `http_request` to the caller's
/// transport and reads the `http_response` that comes back.
#pragma once

#include "babelbird/config/compiler_check.hpp"

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "babelbird/values/ascii.hpp"
#include "babelbird/values/result.hpp"
#include "babelbird/values/secure_zero.hpp"

namespace babelbird::inline v1 {

/// One header field. Names compare case-insensitively (RFC 9110 section 5.1).
struct http_header {
    std::string name;
    std::string value;
};

namespace detail {
inline const http_header* find_header(const std::vector<http_header>& headers,
                                      std::string_view name) noexcept {
    for (const auto& h : headers) {
        if (iequals(h.name, name)) {
            return &h;
        }
    }
    return nullptr;
}
inline void scrub_headers(std::vector<http_header>& headers) noexcept {
    for (auto& h : headers) {
        scrub(h.value);
    }
}
} // namespace detail

/// A request to send: method, absolute URL, headers, body.
///
/// The URL may carry a token and the headers a credential, so the destructor
/// zeros the URL, the header values and the body before their memory is freed.
struct http_request {
    std::string method;
    std::string url;
    std::vector<http_header> headers;
    std::string body;

    http_request() = default;
    http_request(std::string method_, std::string url_, std::vector<http_header> headers_ = {},
                 std::string body_ = {})
        : method(std::move(method_)), url(std::move(url_)), headers(std::move(headers_)),
          body(std::move(body_)) {}
    http_request(const http_request&) = default;
    http_request(http_request&&) noexcept = default;
    /// Assignment zeros the old URL, header values and body first: a string
    /// may free its buffer when it is assigned to (always, with libc++ moves).
    http_request& operator=(const http_request& other) {
        if (this != &other) {
            scrub_storage();
            method = other.method;
            url = other.url;
            headers = other.headers;
            body = other.body;
        }
        return *this;
    }
    http_request& operator=(http_request&& other) noexcept {
        if (this != &other) {
            scrub_storage();
            method = std::move(other.method);
            url = std::move(other.url);
            headers = std::move(other.headers);
            body = std::move(other.body);
        }
        return *this;
    }
    ~http_request() { scrub_storage(); }

    /// The value of the first header called `name` (any letter case), if present.
    std::optional<std::string_view> header(std::string_view name) const noexcept {
        const http_header* h = detail::find_header(headers, name);
        return h == nullptr ? std::nullopt : std::optional<std::string_view>(h->value);
    }
    /// Replaces every header called `name` (any letter case) by one with `value`.
    /// The replaced values (a credential, say) are zeroed before they are freed.
    void set_header(std::string_view name, std::string value) {
        for (auto& h : headers) {
            if (detail::iequals(h.name, name)) {
                detail::scrub(h.value);
            }
        }
        std::erase_if(headers, [&](const http_header& h) { return detail::iequals(h.name, name); });
        headers.push_back({std::string(name), std::move(value)});
    }

private:
    void scrub_storage() noexcept {
        detail::scrub(url);
        detail::scrub_headers(headers);
        detail::scrub(body);
    }
};

/// A response as the transport received it.
///
/// The body may hold tokens, so the destructor zeros it before it is freed.
struct http_response {
    int status = 0;
    std::vector<http_header> headers;
    std::string body;

    http_response() = default;
    http_response(int status_, std::string body_, std::vector<http_header> headers_ = {})
        : status(status_), headers(std::move(headers_)), body(std::move(body_)) {}
    http_response(const http_response&) = default;
    http_response(http_response&&) noexcept = default;
    /// Assignment zeros the old header values and body first.
    http_response& operator=(const http_response& other) {
        if (this != &other) {
            scrub_storage();
            status = other.status;
            headers = other.headers;
            body = other.body;
        }
        return *this;
    }
    http_response& operator=(http_response&& other) noexcept {
        if (this != &other) {
            scrub_storage();
            status = other.status;
            headers = std::move(other.headers);
            body = std::move(other.body);
        }
        return *this;
    }
    ~http_response() { scrub_storage(); }

    /// The value of the first header called `name` (any letter case), if present.
    std::optional<std::string_view> header(std::string_view name) const noexcept {
        const http_header* h = detail::find_header(headers, name);
        return h == nullptr ? std::nullopt : std::optional<std::string_view>(h->value);
    }

private:
    void scrub_storage() noexcept {
        detail::scrub_headers(headers);
        detail::scrub(body);
    }
};

/// What a transport (blocking or asynchronous) returns for one request: the
/// answer, whatever its status, or the failure to get one.
using transport_result = result<http_response>;

} // namespace babelbird::inline v1
