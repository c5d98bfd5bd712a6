/// @file adapters/curl.hpp
/// @brief An opt-in transport over one libcurl easy handle (not part of the core
/// single header; link with libcurl).
///
/// @code
/// babelbird::curl_transport transport({.timeout = std::chrono::seconds(10)});
/// auto grant = babelbird::refresh(transport, credentials, server, refresh_token);
/// @endcode
///
/// What it guarantees:
/// - one easy handle, reused across calls (connections and TLS sessions are kept);
/// - `timeout` bounds the whole exchange (connect, TLS, send, receive);
/// - the body is capped while it is received: past `max_body_size` the transfer is
///   aborted, never buffered; a `Content-Length` over the cap stops it before the
///   body is read;
/// - redirects are never followed (a 3xx is returned as it came; the token parser
///   calls it a protocol error); only http and https are spoken;
/// - TLS peer and host verification are on unless `verify_tls` is turned off;
/// - curl's verbose output is never enabled and curl's error texts are never
///   kept: errors are `babelbird::error` values without text;
/// - the header strings handed to curl (one carries the Basic or Bearer
///   credential) and the body buffers it grows are zeroed before they are freed.
///   libcurl's own internal copies of the URL and of the request bytes are out of
///   reach and are not zeroed.
///
/// Errors (all without secrets):
/// - `error::transport(errc::timeout)`: the exchange exceeded `timeout`;
/// - `error::transport(errc::connection_refused)`: nothing listened (or the host
///   was unreachable);
/// - `error::transport(errc::connection_reset)`: the connection broke, or the
///   server closed it without answering;
/// - `error::transport(errc::partial_body)`: the body ended before its
///   `Content-Length`;
/// - `errc::tls_verification_failed`, class `configuration`, origin
///   `transport`: the server's certificate, its issuer, its host name or a
///   pinned key did not verify, or the CA/CRL file or the client certificate
///   could not be used (docs/design.md, "Policies": signing in again cannot
///   fix this, the client's TLS settings or the server's certificate must
///   change);
/// - `error::transport(errc::transport_failure)`: anything else (DNS, a TLS
///   handshake failure, out of memory...);
/// - `error::usage(errc::control_character)`: a method, header name or value with
///   CR, LF or another control byte (nothing was sent);
/// - `error::server(errc::body_too_large, kind, status)`: the body (or the
///   headers) exceeded the cap; `kind` is `retry` for 408, 429 and 5xx answers
///   (an oversized error page of an overloaded server) and `protocol` otherwise.
///   The response is not returned because it is incomplete.
///
/// @warning libcurl must be initialised before threads start:
/// `curl_global_init(CURL_GLOBAL_DEFAULT)` in `main`, unless libcurl >= 7.84
/// (whose implicit initialisation is thread-safe). A `curl_transport` is one
/// handle: use one per thread.
#pragma once

#include "babelbird/config/compiler_check.hpp"

#include <curl/curl.h>

#include <chrono>
#include <climits>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "babelbird/answers/classify_failure.hpp"
#include "babelbird/drivers/transport.hpp"
#include "babelbird/values/ascii.hpp"
#include "babelbird/values/errc.hpp"
#include "babelbird/values/error_value.hpp"
#include "babelbird/values/http.hpp"
#include "babelbird/values/secure_zero.hpp"

namespace babelbird::inline v1 {

/// Options of `curl_transport`.
struct curl_options {
    /// Bounds the whole exchange; at least one millisecond is used.
    std::chrono::milliseconds timeout{std::chrono::seconds(30)};
    /// The largest body accepted (the core parser's default cap is the same).
    std::size_t max_body_size = std::size_t{1} << 20;
    /// The largest total size of the response header lines.
    std::size_t max_header_size = std::size_t{64} << 10;
    /// Verify the TLS peer certificate and host name. Turn off only for tests.
    bool verify_tls = true;
    /// A CA bundle file instead of the system's; empty means the default.
    std::string ca_file;
    /// The proxy: empty optional = libcurl's default (the `*_proxy` environment
    /// variables), an empty string = no proxy at all, else a proxy URL.
    std::optional<std::string> proxy;
};

namespace detail {

/// What the callbacks of one exchange write to.
struct curl_exchange {
    std::string body;
    std::vector<http_header> headers;
    std::size_t max_body = 0;
    std::size_t max_header = 0;
    std::size_t header_bytes = 0;
    bool too_large = false;
    bool out_of_memory = false;

    curl_exchange() = default;
    curl_exchange(const curl_exchange&) = delete;
    curl_exchange& operator=(const curl_exchange&) = delete;
    ~curl_exchange() {
        scrub(body);
        scrub_headers(headers);
    }

    /// Appends, growing by doubling into a fresh buffer and zeroing the old one,
    /// so no copy of the body is left behind in freed memory.
    void append_body(const char* data, std::size_t n) {
        if (body.size() + n > body.capacity()) {
            std::size_t want = body.capacity() < 4096 ? 4096 : body.capacity() * 2;
            if (want < body.size() + n) {
                want = body.size() + n;
            }
            if (want > max_body) {
                want = max_body;
            }
            std::string grown;
            grown.reserve(want);
            grown.append(body);
            scrub(body);
            body.swap(grown);
        }
        body.append(data, n);
    }

    void add_header_line(std::string_view line) {
        while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) {
            line.remove_suffix(1);
        }
        if (line.substr(0, 5) == "HTTP/") {
            // A new status line (after a 100 Continue): only the final headers count.
            scrub_headers(headers);
            headers.clear();
            return;
        }
        const std::size_t colon = line.find(':');
        if (line.empty() || colon == std::string_view::npos) {
            return;
        }
        const std::string_view value = trim_ows(line.substr(colon + 1));
        headers.push_back({std::string(line.substr(0, colon)), std::string(value)});
    }
};

inline std::size_t curl_write_body(char* data, std::size_t size, std::size_t count,
                                   void* user) noexcept {
    auto& x = *static_cast<curl_exchange*>(user);
    const std::size_t n = size * count;
    if (n > x.max_body - x.body.size()) {
        x.too_large = true;
        return 0; // aborts the transfer with CURLE_WRITE_ERROR
    }
#if defined(__cpp_exceptions)
    try {
        x.append_body(data, n);
    } catch (...) {
        x.out_of_memory = true;
        return 0;
    }
#else
    x.append_body(data, n);
#endif
    return n;
}

inline std::size_t curl_write_header(char* data, std::size_t size, std::size_t count,
                                     void* user) noexcept {
    auto& x = *static_cast<curl_exchange*>(user);
    const std::size_t n = size * count;
    x.header_bytes += n;
    if (x.header_bytes > x.max_header) {
        x.too_large = true;
        return 0;
    }
#if defined(__cpp_exceptions)
    try {
        x.add_header_line(std::string_view(data, n));
    } catch (...) {
        x.out_of_memory = true;
        return 0;
    }
#else
    x.add_header_line(std::string_view(data, n));
#endif
    return n;
}

/// A header list whose strings are zeroed before curl frees them.
class curl_header_list {
public:
    curl_header_list() = default;
    curl_header_list(const curl_header_list&) = delete;
    curl_header_list& operator=(const curl_header_list&) = delete;
    ~curl_header_list() {
        for (curl_slist* item = list_; item != nullptr; item = item->next) {
            if (item->data != nullptr) {
                secure_zero(item->data, std::char_traits<char>::length(item->data));
            }
        }
        curl_slist_free_all(list_);
    }

    /// Adds `line`; false when curl could not allocate.
    bool add(const char* line) noexcept {
        curl_slist* next = curl_slist_append(list_, line);
        if (next == nullptr) {
            return false;
        }
        list_ = next;
        return true;
    }
    curl_slist* get() const noexcept { return list_; }

private:
    curl_slist* list_ = nullptr;
};

constexpr error_class oversize_class(long status) noexcept {
    return is_retry_status(status) ? error_class::retry : error_class::protocol;
}

} // namespace detail

/// A `babelbird::transport` over one libcurl easy handle. Move-only.
class curl_transport {
public:
    explicit curl_transport(curl_options options = {}) noexcept
        : options_(std::move(options)), handle_(curl_easy_init()) {}
    curl_transport(const curl_transport&) = delete;
    curl_transport& operator=(const curl_transport&) = delete;
    curl_transport(curl_transport&& other) noexcept
        : options_(std::move(other.options_)), handle_(std::exchange(other.handle_, nullptr)) {}
    curl_transport& operator=(curl_transport&& other) noexcept {
        if (this != &other) {
            if (handle_ != nullptr) {
                curl_easy_cleanup(handle_);
            }
            options_ = std::move(other.options_);
            handle_ = std::exchange(other.handle_, nullptr);
        }
        return *this;
    }
    ~curl_transport() {
        if (handle_ != nullptr) {
            curl_easy_cleanup(handle_);
        }
    }

    /// False when libcurl could not make a handle; every call then fails with
    /// `errc::transport_failure`.
    bool valid() const noexcept { return handle_ != nullptr; }
    const curl_options& options() const noexcept { return options_; }
    /// Changes the options for the next calls.
    curl_options& options() noexcept { return options_; }

    /// Sends `request` and returns the response as received (any status), or a
    /// transport error. Never throws.
    transport_result operator()(const http_request& request) noexcept {
#if defined(__cpp_exceptions)
        try {
            return perform(request);
        } catch (...) {
            return error::transport(errc::transport_failure);
        }
#else
        return perform(request);
#endif
    }

private:
    transport_result perform(const http_request& request) {
        if (handle_ == nullptr) {
            return error::transport(errc::transport_failure);
        }
        if (request.method.empty() || detail::has_control(request.method) ||
            request.method.find(' ') != std::string::npos || detail::has_control(request.url)) {
            return error::usage(errc::control_character);
        }
        CURL* h = handle_;
        curl_easy_reset(h); // keeps the connection cache, forgets the last call's options

        detail::curl_header_list headers;
        bool has_accept = false;
        bool has_content_type = false;
        for (const auto& header : request.headers) {
            if (header.name.empty() || detail::has_control(header.name) ||
                header.name.find(':') != std::string::npos || detail::has_control(header.value)) {
                return error::usage(errc::control_character);
            }
            has_accept = has_accept || detail::iequals(header.name, "Accept");
            has_content_type = has_content_type || detail::iequals(header.name, "Content-Type");
            // "Name;" is curl's spelling of a header with an empty value.
            std::string line;
            line.reserve(header.name.size() + 2 + header.value.size()); // one buffer to scrub
            line += header.name;
            line += header.value.empty() ? ";" : ": ";
            line += header.value;
            const bool added = headers.add(line.c_str());
            detail::scrub(line);
            if (!added) {
                return error::transport(errc::transport_failure);
            }
        }
        // Send only what the request says: no default Accept, Content-Type or Expect.
        if ((!has_accept && !headers.add("Accept:")) ||
            (!has_content_type && !headers.add("Content-Type:")) || !headers.add("Expect:")) {
            return error::transport(errc::transport_failure);
        }

        detail::curl_exchange x;
        x.max_body = options_.max_body_size;
        x.max_header = options_.max_header_size;

        const long timeout_ms = clamp_ms(options_.timeout);
        bool ok = curl_easy_setopt(h, CURLOPT_URL, request.url.c_str()) == CURLE_OK;
        ok = ok && curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L) == CURLE_OK;
        ok = ok && curl_easy_setopt(h, CURLOPT_VERBOSE, 0L) == CURLE_OK;
        ok = ok && curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L) == CURLE_OK;
#if LIBCURL_VERSION_NUM >= 0x075500
        ok = ok && curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https") == CURLE_OK;
#endif
        ok = ok && curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, timeout_ms) == CURLE_OK;
        ok = ok && curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, timeout_ms) == CURLE_OK;
        ok = ok &&
             curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, options_.verify_tls ? 1L : 0L) == CURLE_OK;
        ok = ok &&
             curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, options_.verify_tls ? 2L : 0L) == CURLE_OK;
        if (!options_.ca_file.empty()) {
            ok = ok && curl_easy_setopt(h, CURLOPT_CAINFO, options_.ca_file.c_str()) == CURLE_OK;
        }
        if (options_.proxy) {
            ok = ok && curl_easy_setopt(h, CURLOPT_PROXY, options_.proxy->c_str()) == CURLE_OK;
        }
        if (options_.max_body_size <= static_cast<std::size_t>(LLONG_MAX)) {
            ok =
                ok && curl_easy_setopt(h, CURLOPT_MAXFILESIZE_LARGE,
                                       static_cast<curl_off_t>(options_.max_body_size)) == CURLE_OK;
        }
        ok = ok && curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, &detail::curl_write_body) == CURLE_OK;
        ok = ok && curl_easy_setopt(h, CURLOPT_WRITEDATA, static_cast<void*>(&x)) == CURLE_OK;
        ok = ok &&
             curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, &detail::curl_write_header) == CURLE_OK;
        ok = ok && curl_easy_setopt(h, CURLOPT_HEADERDATA, static_cast<void*>(&x)) == CURLE_OK;
        ok = ok && curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers.get()) == CURLE_OK;
        ok = ok && set_method(h, request);
        if (!ok) {
            return error::transport(errc::transport_failure);
        }

        const CURLcode code = curl_easy_perform(h);
        long status = 0;
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
        // Drop curl's pointers to this call's buffers and header list.
        curl_easy_setopt(h, CURLOPT_HTTPHEADER, static_cast<curl_slist*>(nullptr));
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, static_cast<const char*>(nullptr));

        if (code != CURLE_OK) {
            return map_failure(code, x, status);
        }
        return http_response(static_cast<int>(status), std::move(x.body), std::move(x.headers));
    }

    static long clamp_ms(std::chrono::milliseconds t) noexcept {
        const long long count = t.count();
        if (count < 1) {
            return 1;
        }
        return count > static_cast<long long>(LONG_MAX) ? LONG_MAX : static_cast<long>(count);
    }

    static bool set_method(CURL* h, const http_request& request) noexcept {
        const std::string& m = request.method;
        const auto body_size = static_cast<curl_off_t>(request.body.size());
        if (m == "GET" && request.body.empty()) {
            return curl_easy_setopt(h, CURLOPT_HTTPGET, 1L) == CURLE_OK;
        }
        if (m == "HEAD" && request.body.empty()) {
            return curl_easy_setopt(h, CURLOPT_NOBODY, 1L) == CURLE_OK;
        }
        // POST and the rest: the body is sent from the request's own buffer (no copy).
        bool ok = curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, body_size) == CURLE_OK;
        ok = ok && curl_easy_setopt(h, CURLOPT_POSTFIELDS, request.body.data()) == CURLE_OK;
        if (m != "POST") {
            ok = ok && curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, m.c_str()) == CURLE_OK;
        }
        return ok;
    }

    static error map_failure(CURLcode code, const detail::curl_exchange& x, long status) noexcept {
        if (x.too_large || code == CURLE_FILESIZE_EXCEEDED) {
            return error::server(errc::body_too_large, detail::oversize_class(status),
                                 static_cast<int>(status));
        }
        switch (code) {
        case CURLE_OPERATION_TIMEDOUT:
            return error::transport(errc::timeout);
        case CURLE_COULDNT_CONNECT:
            return error::transport(errc::connection_refused);
        case CURLE_RECV_ERROR:
        case CURLE_SEND_ERROR:
        case CURLE_GOT_NOTHING:
            return error::transport(errc::connection_reset);
        case CURLE_PARTIAL_FILE:
            return error::transport(errc::partial_body);
        case CURLE_URL_MALFORMAT:
        case CURLE_UNSUPPORTED_PROTOCOL:
            return error::usage(errc::invalid_url);
        default:
            break;
        }
        if (tls_configuration_failure(code)) {
            return error(errc::tls_verification_failed, error_class::configuration,
                         error_origin::transport);
        }
        return error::transport(errc::transport_failure);
    }

    /// A TLS failure no retry can fix (CURLE_SSL_CACERT is an alias of
    /// CURLE_PEER_FAILED_VERIFICATION since curl 7.62, so it is not listed).
    static bool tls_configuration_failure(CURLcode code) noexcept {
        switch (code) {
        case CURLE_PEER_FAILED_VERIFICATION:
        case CURLE_SSL_CERTPROBLEM:
        case CURLE_SSL_CACERT_BADFILE:
        case CURLE_SSL_CRL_BADFILE:
        case CURLE_SSL_ISSUER_ERROR:
        case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
            return true;
        default:
            return false;
        }
    }

    curl_options options_;
    CURL* handle_ = nullptr;
};

static_assert(transport<curl_transport>, "curl_transport must satisfy babelbird::transport");

} // namespace babelbird::inline v1
