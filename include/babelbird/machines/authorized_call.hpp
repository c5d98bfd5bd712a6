/// @file machines/authorized_call.hpp
/// @brief The authorized-call machine: a file-API request with
/// `Authorization: Bearer <token>`, the classification of its answer (was the
/// token rejected?), invalidation of exactly the token used, and at most one
/// retry (docs/design.md, "The shape", authorized call machine).
///
/// Events in, actions out: no I/O, no clock, no locks. `send_authorized`
/// (drivers/send_authorized.hpp) is its blocking driver; any other stack runs
/// the same loop (`source` is a token provider such as `token_source`, `send`
/// your HTTP stack; tests/doc_examples/authorized_call.cpp compiles and runs this):
/// @code
/// babelbird::result<babelbird::http_response> call_file_api(babelbird::http_request request) {
///     babelbird::authorized_call call(std::move(request));
///     for (;;) {
///         switch (call.next()) {
///         case babelbird::authorized_action::get_token: {
///             auto token = source.get(); // keep it alive while on_token copies it
///             (void)(token ? call.on_token(token->access_token()) : call.on_token(token.error()));
///             break;
///         }
///         case babelbird::authorized_action::send:
///             (void)call.on_response(send(call.request_to_send()));
///             break;
///         case babelbird::authorized_action::invalidate:
///             source.invalidate(call.token_to_invalidate());
///             (void)call.on_invalidated();
///             break;
///         case babelbird::authorized_action::done:
///             return call.take_result();
///         }
///     }
/// }
/// @endcode
#pragma once

#include "babelbird/config/compiler_check.hpp"

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>
#include <utility>

#include "babelbird/requests/file_api.hpp"
#include "babelbird/values/ascii.hpp"
#include "babelbird/values/error.hpp"
#include "babelbird/values/http.hpp"
#include "babelbird/values/secret.hpp"

namespace babelbird::inline v1 {

/// How an authorized call (`authorized_call`, `send_authorized`) treats a
/// rejected token.
struct send_options {
    /// Retry a request with a non-idempotent method (POST, PATCH, anything
    /// but GET, HEAD, PUT, DELETE, OPTIONS, TRACE) too. Set it only when
    /// repeating the request cannot do harm (the server deduplicates it, or
    /// this call is known to be idempotent). A 401 normally means the server
    /// did nothing, but a proxy or a half-applied write can prove otherwise.
    bool safe_to_retry = false;
};

/// RFC 9110 section 9.2.2: the idempotent methods. Methods are case-sensitive.
constexpr bool is_idempotent_method(std::string_view method) noexcept {
    return method == "GET" || method == "HEAD" || method == "PUT" || method == "DELETE" ||
           method == "OPTIONS" || method == "TRACE";
}

namespace detail {

constexpr bool is_http_space(char ch) noexcept {
    return ch == ' ' || ch == '\t';
}

/// RFC 9110 section 11.2 `token68` characters (the trailing '=' aside).
constexpr bool is_token68_char(char ch) noexcept {
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
           ch == '-' || ch == '.' || ch == '_' || ch == '~' || ch == '+' || ch == '/';
}

/// Whether the quoted-string `q` (without its quotes, escapes still in it)
/// unescapes to exactly `want` (RFC 9110 section 5.6.4).
constexpr bool quoted_equals(std::string_view q, std::string_view want) noexcept {
    std::size_t w = 0;
    for (std::size_t i = 0; i < q.size(); ++i) {
        const char ch = q[i] == '\\' && i + 1 < q.size() ? q[++i] : q[i];
        if (w >= want.size() || want[w] != ch) {
            return false;
        }
        ++w;
    }
    return w == want.size();
}

/// Whether a `WWW-Authenticate` field value holds a `Bearer` challenge with
/// the auth-param `error="invalid_token"` (RFC 6750 section 3), parsed with the
/// RFC 9110 section 11.6.1 grammar: several challenges separated by commas;
/// scheme and parameter names case-insensitive; the value a token or a
/// quoted-string (with backslash escapes), compared case-sensitively; other
/// parameters, a token68 and whitespace around '=' allowed. A parameter of
/// another scheme, or text inside another parameter's quoted value, does not
/// count. Parsing stops at the first malformed element (no match from there on).
constexpr bool bearer_invalid_token(std::string_view v) noexcept {
    const std::size_t n = v.size();
    std::size_t i = 0;
    bool in_bearer = false;
    bool after_scheme = false; // a scheme was read and no comma has followed yet
    const auto skip_space = [&](std::size_t at) {
        while (at < n && is_http_space(v[at])) {
            ++at;
        }
        return at;
    };
    while (true) {
        // Empty list elements and whitespace (RFC 9110 section 5.6.1).
        while (i < n && (is_http_space(v[i]) || v[i] == ',')) {
            after_scheme = after_scheme && v[i] != ',';
            ++i;
        }
        if (i >= n) {
            return false;
        }
        std::size_t j = i;
        while (j < n && is_tchar(v[j])) {
            ++j;
        }
        const std::string_view name = v.substr(i, j - i);
        const std::size_t eq = skip_space(j);
        const std::size_t value_at = eq < n && v[eq] == '=' ? skip_space(eq + 1) : n;
        // "name=value" is a parameter; "abc==" or "abc=" (then ',' or the end)
        // is a token68 with its padding.
        const bool is_param =
            !name.empty() && value_at < n && (v[value_at] == '"' || is_tchar(v[value_at]));
        if (is_param) {
            // auth-param = token BWS "=" BWS ( token / quoted-string )
            std::size_t end = value_at;
            bool match = false;
            if (v[value_at] == '"') {
                end = value_at + 1;
                while (end < n && v[end] != '"') {
                    end += v[end] == '\\' ? std::size_t{2} : std::size_t{1};
                }
                if (end >= n) {
                    return false; // unterminated quoted-string
                }
                match = quoted_equals(v.substr(value_at + 1, end - value_at - 1), "invalid_token");
                ++end;
            } else {
                while (end < n && is_tchar(v[end])) {
                    ++end;
                }
                match = v.substr(value_at, end - value_at) == "invalid_token";
            }
            if (in_bearer && iequals(name, "error") && match) {
                return true;
            }
            i = skip_space(end);
            if (i < n && v[i] != ',') {
                return false; // junk after a parameter
            }
            after_scheme = false;
        } else if (after_scheme) {
            // token68 = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="
            std::size_t end = i;
            while (end < n && is_token68_char(v[end])) {
                ++end;
            }
            if (end == i) {
                return false;
            }
            while (end < n && v[end] == '=') {
                ++end;
            }
            i = skip_space(end);
            if (i < n && v[i] != ',') {
                return false;
            }
            after_scheme = false;
        } else if (!name.empty() && (j >= n || is_http_space(v[j]) || v[j] == ',')) {
            // A new challenge starts with its scheme.
            in_bearer = iequals(name, "Bearer");
            after_scheme = true;
            i = j;
        } else {
            return false;
        }
    }
}

} // namespace detail

/// Whether a file-API answer says the access token was rejected
/// (docs/design.md, "authorized call machine"; RFC 6750 section 3.1):
/// - status 401, with or without a challenge;
/// - status 400 or 403 with a `WWW-Authenticate` challenge `Bearer` carrying
///   `error="invalid_token"` (see `detail::bearer_invalid_token` for the parse).
///
/// Nothing else: another error code (`insufficient_scope`, `invalid_request`),
/// another scheme, another status (a 5xx is the server's trouble, not the
/// token's), and the body are not looked at. A 2xx body holding
/// `"error":"invalid_token"` is the caller's data (a file may contain anything),
/// never a rejection. Pure, noexcept, thread-safe.
inline bool is_invalid_token_response(const http_response& response) noexcept {
    if (response.status == 401) {
        return true;
    }
    if (response.status != 400 && response.status != 403) {
        return false;
    }
    for (const auto& h : response.headers) {
        if (detail::iequals(h.name, "WWW-Authenticate") && detail::bearer_invalid_token(h.value)) {
            return true;
        }
    }
    return false;
}

/// What an `authorized_call` needs done next (see `authorized_call::next`).
enum class authorized_action : std::uint8_t {
    get_token,  ///< get an access token and pass it to `on_token`
    send,       ///< send `request_to_send()` and pass what came back to `on_response`
    invalidate, ///< tell the token's owner `token_to_invalidate()` was rejected, then
                ///< call `on_invalidated`
    done,       ///< the call is over: `take_result()`
};

/// One file-API call with a Bearer token, as a state machine: at most two
/// tokens, two sends and one invalidation (docs/design.md, "The shape",
/// authorized call machine). The driver asks `next()`, does that, and reports
/// it with the matching `on_...` event, until `next()` is `done`.
///
/// The rules (the same as `send_authorized`):
/// - the first token goes on the request as `Authorization: Bearer <token>`
///   (`add_bearer`; a token that is not header-safe ends the call with its
///   `usage` error, nothing sent);
/// - an answer that does not reject the token (`is_invalid_token_response` is
///   false) ends the call with that answer, any status; so does a transport
///   error, which is never retried;
/// - a rejected token is invalidated: `token_to_invalidate()` is exactly the
///   token that was sent. Then, for an idempotent method
///   (`is_idempotent_method`) or with `send_options::safe_to_retry`, a second
///   token is asked for; otherwise the call ends with the rejected answer;
/// - a second token equal to the first (compared in constant time) ends the
///   call with the rejected answer, nothing resent; a different one is sent
///   once, and whatever comes back ends the call;
/// - an error handed to `on_token` ends the call with that error.
///
/// Every event returns `result<void>`: an empty success when the event fits the
/// state, or `error::usage(errc::invalid_argument)` when it does not (an
/// `on_response` while a token is awaited, a second `take_result()`, ...), in
/// which case nothing changes. What the call itself ends with is in
/// `take_result()`.
///
/// No I/O, no clock, no locks; one object per call, used by one thread at a
/// time. The tokens are kept as `secret`s (zeroed on destruction), and the
/// request, which carries one, is an `http_request` (scrubbed likewise).
/// Copyable and movable; a moved-from call is over (`next()` is `done`,
/// `take_result()` a `usage` error), so it never asks to send an empty request
/// or to resend a token it no longer remembers.
class authorized_call {
public:
    /// @param request any request (see `build_file_api_request`); an
    ///        `Authorization` header it has is replaced
    explicit authorized_call(http_request request, send_options options = {}) noexcept
        : request_(std::move(request)), options_(options) {}

    authorized_call(const authorized_call&) = default;
    authorized_call& operator=(const authorized_call&) = default;
    authorized_call(authorized_call&& other) noexcept
        : request_(std::move(other.request_)), options_(other.options_),
          used_(std::move(other.used_)), outcome_(std::move(other.outcome_)),
          state_(std::exchange(other.state_, state::taken)) {
        other.outcome_.reset();
    }
    authorized_call& operator=(authorized_call&& other) noexcept {
        if (this != &other) {
            request_ = std::move(other.request_);
            options_ = other.options_;
            used_ = std::move(other.used_);
            outcome_ = std::move(other.outcome_);
            other.outcome_.reset();
            state_ = std::exchange(other.state_, state::taken);
        }
        return *this;
    }
    ~authorized_call() = default;

    /// What to do now; `done` once the call is over (also after `take_result()`).
    authorized_action next() const noexcept {
        switch (state_) {
        case state::first_token:
        case state::second_token:
            return authorized_action::get_token;
        case state::first_send:
        case state::second_send:
            return authorized_action::send;
        case state::invalidating:
            return authorized_action::invalidate;
        case state::done:
        case state::taken:
            break;
        }
        return authorized_action::done;
    }

    /// The request with `Authorization: Bearer <the current token>`: send it
    /// when `next()` is `send`. In other states it is the request as it stands.
    /// @warning It carries the access token: treat it as a secret.
    const http_request& request_to_send() const noexcept { return request_; }

    /// When `next()` is `invalidate`, exactly the token that was sent and
    /// rejected (valid until the next event); otherwise empty.
    secret_view token_to_invalidate() const noexcept {
        return state_ == state::invalidating ? used_.view() : secret_view();
    }

    /// The answer to `get_token`: the token (copied; the view need only live
    /// for this call), or the provider's error, which ends the call with it.
    result<void> on_token(result<secret_view> token) {
        if (state_ != state::first_token && state_ != state::second_token) {
            return out_of_order();
        }
        if (!token) {
            end(token.error());
            return {};
        }
        if (state_ == state::second_token &&
            constant_time_equals(token->expose_secret(), used_.expose_secret())) {
            state_ = state::done; // resending would be rejected again: keep the answer
            return {};
        }
        used_ = secret(*token);
        if (auto ok = add_bearer(request_, used_.view()); !ok) {
            end(ok.error());
            return {};
        }
        state_ = state_ == state::first_token ? state::first_send : state::second_send;
        return {};
    }

    /// The answer to `send`: what the transport returned for `request_to_send()`.
    result<void> on_response(transport_result response) {
        if (state_ == state::first_send && response && is_invalid_token_response(*response)) {
            outcome_.emplace(std::move(response));
            state_ = state::invalidating;
            return {};
        }
        if (state_ != state::first_send && state_ != state::second_send) {
            return out_of_order();
        }
        end(std::move(response));
        return {};
    }

    /// The answer to `invalidate`: the token's owner was told.
    result<void> on_invalidated() {
        if (state_ != state::invalidating) {
            return out_of_order();
        }
        const bool may_retry = options_.safe_to_retry || is_idempotent_method(request_.method);
        state_ = may_retry ? state::second_token : state::done;
        return {};
    }

    /// When `next()` is `done`, what the call ends with, moved out (once): the
    /// last answer (any status, a second rejection included), or an error: the
    /// provider's (for example `reauthorize`), the transport's, or `usage` for a
    /// token that is not header-safe. In any other state, and on a second call,
    /// `error::usage(errc::invalid_argument)`.
    result<http_response> take_result() {
        if (state_ != state::done || !outcome_) {
            return error::usage(errc::invalid_argument);
        }
        state_ = state::taken;
        result<http_response> out = std::move(*outcome_);
        outcome_.reset();
        return out;
    }

private:
    enum class state : std::uint8_t {
        first_token,
        first_send,
        invalidating,
        second_token,
        second_send,
        done,
        taken,
    };

    static result<void> out_of_order() noexcept { return error::usage(errc::invalid_argument); }

    void end(transport_result outcome) {
        outcome_.emplace(std::move(outcome));
        state_ = state::done;
    }

    http_request request_;
    send_options options_;
    secret used_;                             // the token on request_, owned here
    std::optional<transport_result> outcome_; // the rejected first answer, then the end
    state state_ = state::first_token;
};

} // namespace babelbird::inline v1
