/// @file values/error_value.hpp
/// @brief `error`: one failure as a small, copyable, secret-free value.
///
/// An error says *what* went wrong (`errc`), *what to do next* (`error_class`),
/// *where* it came from (`error_origin`) and, for server answers, the HTTP
/// status, the OAuth error code (RFC 6749 section 5.2) and the `Retry-After`
/// delay. It never holds a secret, a token or a raw body.
#pragma once

#include "babelbird/config/compiler_check.hpp"

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>

#include "babelbird/values/errc.hpp"
#include "babelbird/values/oauth_error.hpp"

namespace babelbird::inline v1 {

/// One failure: what, what next, where from, and the server's status and OAuth code.
///
/// Copying never allocates. The only server text kept is an unknown OAuth error
/// code, restricted to the RFC 6749 character set and to 40 bytes.
class error {
public:
    static constexpr std::size_t max_oauth_text = 40;

    constexpr error(errc code, error_class kind, error_origin origin) noexcept
        : code_(code), kind_(kind), origin_(origin) {}

    /// A caller mistake found before anything was sent.
    static constexpr error usage(errc code) noexcept {
        return {code, error_class::usage, error_origin::caller};
    }
    /// A failure of the caller's HTTP stack; transport failures are retryable.
    static constexpr error transport(errc code) noexcept {
        return {code, error_class::retry, error_origin::transport};
    }
    /// An answer of the server.
    static constexpr error server(errc code, error_class kind, int status,
                                  oauth_error oauth = oauth_error::none) noexcept {
        error e{code, kind, error_origin::server};
        e.status_ = status < 0 || status > 999 ? 0 : static_cast<std::uint16_t>(status);
        e.oauth_ = oauth;
        return e;
    }

    constexpr errc code() const noexcept { return code_; }
    /// The class: what the caller should do next.
    constexpr error_class kind() const noexcept { return kind_; }
    constexpr error_origin origin() const noexcept { return origin_; }
    /// The HTTP status of the server's answer, 0 when there was none.
    constexpr int http_status() const noexcept { return status_; }
    constexpr oauth_error oauth_code() const noexcept { return oauth_; }
    /// The wire OAuth error code: the known name, or the text of an unknown code.
    constexpr std::string_view oauth_error_text() const noexcept {
        return oauth_ == oauth_error::other ? std::string_view(oauth_text_, oauth_text_len_)
                                            : to_string(oauth_);
    }
    constexpr bool is_retryable() const noexcept { return kind_ == error_class::retry; }
    constexpr bool needs_reauthorization() const noexcept {
        return kind_ == error_class::reauthorize;
    }
    std::error_code to_error_code() const noexcept { return make_error_code(code_); }

    /// How long the server asked the client to wait (`Retry-After`, RFC 9110
    /// section 10.2.3, on 429/503 answers), in whole seconds; empty when it
    /// did not say. An HTTP-date is converted to a delay when the answer is read.
    constexpr std::optional<std::chrono::seconds> retry_after() const noexcept {
        if (!has_retry_after_) {
            return std::nullopt;
        }
        return std::chrono::seconds(retry_after_);
    }
    /// Sets `retry_after()`; negative delays count as zero, and delays are
    /// capped at about 136 years (the 32-bit field).
    constexpr error& with_retry_after(std::chrono::seconds delay) noexcept {
        const std::int64_t n = delay.count();
        constexpr std::int64_t cap = std::int64_t{UINT32_MAX};
        retry_after_ = n <= 0 ? 0u : n >= cap ? UINT32_MAX : static_cast<std::uint32_t>(n);
        has_retry_after_ = true;
        return *this;
    }

    /// Keeps an unknown OAuth code as text when it looks like one: 1-40 bytes of
    /// `[a-z0-9_]`, starting with a letter (every registered code does). Anything
    /// else, which could be an echoed token, is dropped rather than escaped.
    constexpr error& with_oauth_text(std::string_view text) noexcept {
        if (text.empty() || text.size() > max_oauth_text || !(text[0] >= 'a' && text[0] <= 'z')) {
            return *this;
        }
        for (char ch : text) {
            if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '_')) {
                return *this;
            }
        }
        for (std::size_t i = 0; i < text.size(); ++i) {
            oauth_text_[i] = text[i];
        }
        oauth_text_len_ = static_cast<std::uint8_t>(text.size());
        return *this;
    }

    /// Drops a kept OAuth text that overlaps `sent` (either contains the
    /// other), for callers that know which secrets they sent.
    constexpr error& forget_oauth_text_overlapping(std::string_view sent) noexcept {
        const std::string_view text(oauth_text_, oauth_text_len_);
        if (!text.empty() && !sent.empty() &&
            (text.find(sent) != std::string_view::npos ||
             sent.find(text) != std::string_view::npos)) {
            for (char& ch : oauth_text_) {
                ch = '\0';
            }
            oauth_text_len_ = 0;
        }
        return *this;
    }

    /// A one-line, secret-free description, e.g.
    /// "the server answered with an OAuth error (HTTP 400, invalid_grant)".
    std::string message() const {
        std::string out(describe(code_));
        const std::string_view oauth = oauth_error_text();
        if (status_ != 0 || !oauth.empty()) {
            out += " (";
            if (status_ != 0) {
                out += "HTTP ";
                out += std::to_string(status_);
            }
            if (!oauth.empty()) {
                if (status_ != 0) {
                    out += ", ";
                }
                out += oauth;
            }
            out += ')';
        }
        return out;
    }

    friend constexpr bool operator==(const error& a, const error& b) noexcept {
        return a.code_ == b.code_ && a.kind_ == b.kind_ && a.origin_ == b.origin_ &&
               a.status_ == b.status_ && a.oauth_ == b.oauth_ &&
               a.has_retry_after_ == b.has_retry_after_ && a.retry_after_ == b.retry_after_ &&
               a.oauth_error_text() == b.oauth_error_text();
    }

private:
    errc code_;
    error_class kind_;
    error_origin origin_;
    oauth_error oauth_ = oauth_error::none;
    std::uint16_t status_ = 0;
    std::uint8_t oauth_text_len_ = 0;
    bool has_retry_after_ = false;
    std::uint32_t retry_after_ = 0;
    char oauth_text_[max_oauth_text] = {};
};

} // namespace babelbird::inline v1
