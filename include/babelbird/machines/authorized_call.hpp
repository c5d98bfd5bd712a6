/// @file machines/authorized_call.hpp
/// @brief `send_authorized`: send a file-API request with the current access
/// token and, when the server rejects that token, retry once with a fresh one.
///
/// The token comes from a `token_provider` (for example `babelbird::token_source`):
/// - `p.get()` returns `babelbird::result<H>` where `H` has
///   `access_token() const` returning a `secret_view` (or a `secret`);
/// - `p.invalidate(secret_view seen)` tells it the server rejected `seen`, so
///   the next `get()` refreshes, unless another caller already replaced it.
#pragma once

#include "babelbird/config/compiler_check.hpp"

#include <concepts>
#include <cstddef>
#include <string_view>
#include <type_traits>
#include <utility>

#include "babelbird/drivers/transport.hpp"
#include "babelbird/requests/file_api.hpp"
#include "babelbird/values/ascii.hpp"
#include "babelbird/values/error.hpp"
#include "babelbird/values/http.hpp"
#include "babelbird/values/secret.hpp"

namespace babelbird::inline v1 {

namespace detail {
template <class T>
struct is_result : std::false_type {};
template <class T>
struct is_result<result<T>> : std::true_type {};

template <class P>
using provider_get_t = std::remove_cvref_t<decltype(std::declval<P&>().get())>;
} // namespace detail

/// The provider has `get()` returning a `babelbird::result<H>`.
template <class P>
concept token_provider_gettable = requires(P& p) {
    { p.get() } -> std::same_as<detail::provider_get_t<P>>;
}
&&detail::is_result<detail::provider_get_t<P>>::value;

/// What `get()` holds has `access_token() const` giving a `secret_view`.
template <class P>
concept token_provider_handle = token_provider_gettable<P> &&
    requires(const typename detail::provider_get_t<P>::value_type& handle) {
    { handle.access_token() } -> std::convertible_to<secret_view>;
};

/// The provider has `invalidate(secret_view seen_access_token)`.
template <class P>
concept token_provider_invalidatable = requires(P& p, secret_view seen) {
    p.invalidate(seen);
};

/// A source of access tokens for `send_authorized`.
template <class P>
concept token_provider =
    token_provider_gettable<P> && token_provider_handle<P> && token_provider_invalidatable<P>;

namespace detail {
/// Checks a provider type with one readable message for the first missing piece.
template <class P>
constexpr bool check_token_provider() noexcept {
    if constexpr (!token_provider_gettable<P>) {
        static_assert(
            token_provider_gettable<P>,
            "babelbird: the token provider must have get() returning babelbird::result<H>");
        return false;
    } else if constexpr (!token_provider_handle<P>) {
        static_assert(token_provider_handle<P>,
                      "babelbird: the token provider's handle must have access_token() const "
                      "returning babelbird::secret_view");
        return false;
    } else if constexpr (!token_provider_invalidatable<P>) {
        static_assert(token_provider_invalidatable<P>,
                      "babelbird: the token provider must have invalidate(babelbird::secret_view)");
        return false;
    } else {
        return true;
    }
}
} // namespace detail

/// How `send_authorized` treats a rejected token.
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

/// Sends `request` with `Authorization: Bearer <token from provider.get()>`;
/// when the answer rejects the token (`is_invalid_token_response`), calls
/// `provider.invalidate()` with exactly the token that was sent, gets a new
/// one and sends the request once more, for idempotent methods (or with
/// `options.safe_to_retry`). Never more than two sends.
///
/// - A non-idempotent request that is not marked safe is not resent: its
///   rejected answer is returned, but the token is still invalidated, so the
///   next call gets a fresh one.
/// - If the provider hands back the same token after `invalidate`, the request
///   is not resent (it would be rejected again); the answer is returned.
/// - Transport failures are returned as they are, never retried here.
///
/// @param request any request (see `build_file_api_request`); an
///        `Authorization` header it has is replaced
/// @returns the last answer (any status, including a second rejection), or an
/// error: the provider's (for example `reauthorize` when the refresh token is
/// dead), the transport's, or `usage` for a token that is not header-safe.
template <class Transport, class Provider>
result<http_response> send_authorized(Transport&& transport, Provider&& provider,
                                      const http_request& request,
                                      const send_options& options = {}) {
    using provider_type = std::remove_reference_t<Provider>;
    if constexpr (detail::check_transport<std::remove_reference_t<Transport>>() &&
                  detail::check_token_provider<provider_type>()) {
        http_request attempt = request;
        // The token that went out, owned here: the provider may replace its own.
        secret used;
        {
            auto handle = provider.get();
            if (!handle) {
                return handle.error();
            }
            used = secret(secret_view(handle->access_token()));
        }
        if (auto ok = add_bearer(attempt, used.view()); !ok) {
            return ok.error();
        }
        transport_result first = transport(static_cast<const http_request&>(attempt));
        if (!first || !is_invalid_token_response(*first)) {
            return first;
        }
        (void)provider.invalidate(used.view());
        if (!options.safe_to_retry && !is_idempotent_method(request.method)) {
            return first;
        }
        auto fresh = provider.get();
        if (!fresh) {
            return fresh.error();
        }
        const secret next(secret_view(fresh->access_token()));
        if (constant_time_equals(next.expose_secret(), used.expose_secret())) {
            return first;
        }
        if (auto ok = add_bearer(attempt, next.view()); !ok) {
            return ok.error();
        }
        return transport(static_cast<const http_request&>(attempt));
    } else {
        return error::usage(errc::invalid_argument);
    }
}

} // namespace babelbird::inline v1
