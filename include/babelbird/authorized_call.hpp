/// @file authorized_call.hpp
/// @brief `send_authorized`: send a file-API request with the current access
/// token and, when the server rejects that token, retry once with a fresh one.
///
/// The token comes from a `token_provider` (for example `babelbird::token_source`):
/// - `p.get()` returns `babelbird::result<H>` where `H` has
///   `access_token() const` returning a `secret_view` (or a `secret`);
/// - `p.invalidate(secret_view seen)` tells it the server rejected `seen`, so
///   the next `get()` refreshes, unless another caller already replaced it.
#pragma once

#include "babelbird/detail/compiler_check.hpp"

#include <concepts>
#include <cstddef>
#include <string_view>
#include <type_traits>
#include <utility>

#include "babelbird/detail/ascii.hpp"
#include "babelbird/error.hpp"
#include "babelbird/file_api.hpp"
#include "babelbird/http.hpp"
#include "babelbird/secret.hpp"
#include "babelbird/transport.hpp"

namespace babelbird {

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

/// Whether a `WWW-Authenticate` value has a Bearer challenge with
/// `error="invalid_token"` (RFC 6750 section 3; the value may be quoted or not).
constexpr bool bearer_invalid_token(std::string_view value) noexcept {
    bool in_bearer = false;
    std::size_t i = 0;
    while (i < value.size()) {
        while (i < value.size() && (is_http_space(value[i]) || value[i] == ',')) {
            ++i;
        }
        std::size_t j = i;
        while (j < value.size() && value[j] != '=' && value[j] != ',' && !is_http_space(value[j])) {
            ++j;
        }
        const std::string_view word = value.substr(i, j - i);
        std::size_t k = j;
        while (k < value.size() && is_http_space(value[k])) {
            ++k;
        }
        if (k < value.size() && value[k] == '=' && !word.empty()) {
            // auth-param: name = token / quoted-string
            ++k;
            while (k < value.size() && is_http_space(value[k])) {
                ++k;
            }
            std::string_view param;
            if (k < value.size() && value[k] == '"') {
                std::size_t end = k + 1;
                while (end < value.size() && value[end] != '"') {
                    end += value[end] == '\\' ? std::size_t{2} : std::size_t{1};
                }
                param = value.substr(k + 1, (end < value.size() ? end : value.size()) - k - 1);
                k = end + 1;
            } else {
                std::size_t end = k;
                while (end < value.size() && value[end] != ',' && !is_http_space(value[end])) {
                    ++end;
                }
                param = value.substr(k, end - k);
                k = end;
            }
            if (in_bearer && iequals(word, "error") && param == "invalid_token") {
                return true;
            }
            i = k;
        } else if (!word.empty()) {
            // A new challenge starts with its scheme.
            in_bearer = iequals(word, "Bearer");
            i = j;
        } else {
            i = j + 1;
        }
    }
    return false;
}

constexpr bool is_json_whitespace(char ch) noexcept {
    return ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r';
}

/// Whether a body is a JSON object whose top-level `error` member is the
/// string "invalid_token". A small scanner, not a parser: strings and nesting
/// are skipped; a key or value written with escapes does not match (the
/// answer then counts as not an invalid-token answer, and is not retried).
constexpr bool json_error_is_invalid_token(std::string_view body) noexcept {
    std::size_t i = 0;
    const auto skip_space = [&] {
        while (i < body.size() && is_json_whitespace(body[i])) {
            ++i;
        }
    };
    // Reads a string at `i` (which is '"'); returns its raw content.
    const auto read_string = [&](std::string_view& out) {
        const std::size_t start = ++i;
        while (i < body.size() && body[i] != '"') {
            i += body[i] == '\\' ? std::size_t{2} : std::size_t{1};
        }
        if (i >= body.size()) {
            return false;
        }
        out = body.substr(start, i - start);
        ++i;
        return true;
    };
    skip_space();
    if (i >= body.size() || body[i] != '{') {
        return false;
    }
    ++i;
    int depth = 1;
    bool expect_key = true;
    bool value_of_error = false;
    while (i < body.size() && depth > 0) {
        skip_space();
        if (i >= body.size()) {
            return false;
        }
        const char ch = body[i];
        if (ch == '"') {
            std::string_view s;
            if (!read_string(s)) {
                return false;
            }
            if (depth == 1 && expect_key) {
                value_of_error = s == "error";
                expect_key = false;
            } else if (depth == 1 && value_of_error) {
                if (s == "invalid_token") {
                    return true;
                }
                value_of_error = false;
            }
            continue;
        }
        if (ch == '{' || ch == '[') {
            ++depth;
        } else if (ch == '}' || ch == ']') {
            --depth;
        } else if (ch == ',' && depth == 1) {
            expect_key = true;
            value_of_error = false;
        }
        ++i;
    }
    return false;
}

} // namespace detail

/// Whether an answer says the access token was rejected: status 401, a
/// `WWW-Authenticate: Bearer error="invalid_token"` challenge (any status), or
/// a JSON body whose top-level `error` is "invalid_token" (any status; some
/// deployments answer 200 or 403 with such a body).
inline bool is_invalid_token_response(const http_response& response) noexcept {
    if (response.status == 401) {
        return true;
    }
    for (const auto& h : response.headers) {
        if (detail::iequals(h.name, "WWW-Authenticate") && detail::bearer_invalid_token(h.value)) {
            return true;
        }
    }
    return detail::json_error_is_invalid_token(response.body);
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

} // namespace babelbird
