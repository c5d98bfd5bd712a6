/// @file adapters/beast.hpp
/// @brief An opt-in `async_transport` over Boost.Beast and Asio (not part of the
/// core single header; needs the Boost headers >= 1.81, and OpenSSL for https).
///
/// @code
/// boost::asio::io_context io;
/// babelbird::beast_transport transport(io.get_executor(), {.timeout = std::chrono::seconds(10)});
/// transport.async_send(request, [](babelbird::transport_result r) { ... });
/// io.run();
/// @endcode
///
/// What it guarantees:
/// - one connection per exchange: resolve, connect, (TLS handshake), write the
///   request, read one response, close. Nothing is kept between exchanges
///   (connection reuse is a possible later improvement);
/// - `timeout` bounds the whole exchange (resolve, connect, TLS, write, read): one
///   steady timer per exchange; when it fires the completion is called at once with
///   `errc::timeout`, even if a blocking name lookup is still running;
/// - the body is capped while it is read (the parser's `body_limit`): a
///   `Content-Length` over the cap stops it before the body is read; the header
///   block is capped by `max_header_size`, and so is a chunk-size line or the
///   trailer of a chunked body (the read buffer holds at most
///   `max_header_size` + 16 KiB);
/// - the answer to a HEAD request has no body, whatever its `Content-Length`;
/// - redirects are never followed (a 3xx is returned as it came; the core calls it
///   a protocol error); only http and https are spoken; 1xx answers are skipped;
/// - the URL follows the rules of `endpoint::make` (docs/design.md, "Policies"):
///   absolute http(s), no user info or fragment, plain http only to a loopback
///   host; IPv6 literals in brackets; the port defaults to 80 or 443;
/// - the request is sent as given: its method, target (path and query), headers
///   and body, plus `Host` (the URL's authority, unless the request has one) and
///   `Content-Length` (when there is a body, or for POST, PUT and PATCH);
/// - TLS (when built with OpenSSL): TLS 1.2 or later, SNI for host names, peer and
///   host name (or IP address) verification against the system CA store or
///   `ca_file`, unless `verify_tls` is off;
/// - errors are `babelbird::error` values without text (no URL, header or Asio
///   message is ever kept); the received body is grown by doubling into fresh
///   buffers and the old ones zeroed; the request's header values and target and
///   the read buffer are zeroed when the exchange ends. OpenSSL's and the kernel's
///   own copies are out of reach.
///
/// Errors (the same values as the libcurl adapter, adapters/curl.hpp):
/// - `error::transport(errc::timeout)`: the exchange exceeded `timeout`;
/// - `error::transport(errc::connection_refused)`: nothing listened (or the host
///   or network was unreachable);
/// - `error::transport(errc::connection_reset)`: the connection broke, or the
///   server closed it before a complete header block;
/// - `error::transport(errc::partial_body)`: the body ended before its end (its
///   `Content-Length` or last chunk);
/// - `errc::tls_verification_failed`, class `configuration`, origin `transport`:
///   the server's certificate or its host name did not verify, or `ca_file` could
///   not be loaded (docs/design.md, "Policies": signing in again cannot fix this);
/// - `errc::transport_failure`, class `configuration`, origin `transport`: an
///   https URL while the header was built without TLS (`BABELBIRD_BEAST_TLS` is 0);
/// - `error::transport(errc::transport_failure)`: anything else (DNS, another TLS
///   handshake failure, out of memory...);
/// - `error::usage(errc::invalid_url)`, `errc::insecure_url`: the URL (nothing sent);
/// - `error::usage(errc::control_character)`: a method, header name or value with
///   CR, LF or another control byte (nothing sent);
/// - `error::server(errc::body_too_large, kind, status)`: the body (or the header
///   block, a chunk-size line or the trailer) exceeded its cap; `kind` is `retry` for 408, 429 and
///   5xx answers and `protocol` otherwise. The response is not returned because it is incomplete.
///
/// TLS support: `BABELBIRD_BEAST_TLS` is 1 or 0; when the includer leaves it
/// undefined it is 1 exactly when `<openssl/ssl.h>` can be included. With 1 the
/// program must link OpenSSL (`-lssl -lcrypto`); meson's `babelbird-beast`
/// dependency defines the macro and adds OpenSSL when it finds it.
///
/// Exceptions: none escape from the library's code; an exception thrown by our own
/// code in a handler (only `std::bad_alloc` can be) ends the exchange with
/// `errc::transport_failure`. The completion runs inside the io_context's handlers,
/// so an exception the caller's completion throws leaves `io_context::run()`, as
/// with any Asio handler. Builds with `-fno-exceptions` (Boost then needs the
/// program to define `boost::throw_exception`, see Boost.ThrowException).
#pragma once

#include "babelbird/config/compiler_check.hpp"

#if !defined(BABELBIRD_BEAST_TLS)
#if __has_include(<openssl/ssl.h>)
#define BABELBIRD_BEAST_TLS 1
#else
#define BABELBIRD_BEAST_TLS 0
#endif
#endif

#include <boost/version.hpp>

// Boost 1.81's <boost/beast/core/impl/buffers_cat.hpp> has two unconditional
// `throw std::logic_error("")` (for dereferencing a past-the-end iterator, a
// logic error Beast never commits), which a -fno-exceptions build cannot
// compile; Boost 1.82 replaced them (Beast commit c9900625). Only for that
// header, only without exceptions and only before 1.82, `throw` is made to
// abort instead: what a throw does without exceptions anyway. Every header it
// includes is included first, so the macro reaches that one file only.
#if !defined(__cpp_exceptions) && BOOST_VERSION < 108200
#include <boost/asio/buffer.hpp>
#include <boost/beast/core/buffer_traits.hpp>
#include <boost/beast/core/detail/config.hpp>
#include <boost/beast/core/detail/tuple.hpp>
#include <boost/beast/core/detail/type_traits.hpp>
#include <boost/beast/core/detail/variant.hpp>
#include <cstdint>
#include <cstdlib>
#include <iterator>
#include <new>
#include <stdexcept>
#include <utility>
#if defined(__clang__)
#pragma clang diagnostic push
#pragma clang diagnostic ignored "-Wkeyword-macro"
#endif
#pragma push_macro("throw")
#define throw ::std::abort(),
#include <boost/beast/core/buffers_cat.hpp>
#pragma pop_macro("throw")
#if defined(__clang__)
#pragma clang diagnostic pop
#endif
#endif

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core/buffers_range.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/optional/optional.hpp>

#if BABELBIRD_BEAST_TLS
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <openssl/err.h>
#include <openssl/ssl.h>
#endif

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <iterator>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "babelbird/drivers/async_transport.hpp"
#include "babelbird/encoding/url.hpp"
#include "babelbird/values/ascii.hpp"
#include "babelbird/values/errc.hpp"
#include "babelbird/values/error_value.hpp"
#include "babelbird/values/http.hpp"
#include "babelbird/values/result.hpp"
#include "babelbird/values/secure_zero.hpp"

namespace babelbird::inline v1 {

/// Options of `beast_transport` (the same meaning as in `curl_options`).
struct beast_options {
    /// Bounds the whole exchange: resolve, connect, TLS, write, read. At least one
    /// millisecond is used.
    std::chrono::milliseconds timeout{std::chrono::seconds(30)};
    /// The largest body accepted, enforced while reading (the core parser's
    /// default cap is the same).
    std::size_t max_body_size = std::size_t{1} << 20;
    /// The largest header block accepted (status line and fields).
    std::size_t max_header_size = std::size_t{64} << 10;
    /// Verify the TLS peer certificate and host name. Turn off only for tests.
    bool verify_tls = true;
    /// A CA bundle file (PEM) instead of the system's store; empty means the system's.
    std::string ca_file;
};

namespace detail {

/// Where one request goes, from its URL.
struct beast_target {
    bool https = false;
    bool ip_literal = false;
    std::string host;        ///< for the resolver and SNI: IPv6 without brackets
    std::string port;        ///< digits
    std::string host_header; ///< the authority as written
    std::string target;      ///< path and query as written, at least "/"
};

/// Splits `url` with the rules of `parse_base_url` (encoding/url.hpp) for
/// everything before the query; the query may hold any visible ASCII byte.
inline result<beast_target> parse_beast_url(std::string_view url) {
    if (has_control(url)) {
        return error::usage(errc::control_character);
    }
    if (url.find('#') != std::string_view::npos) {
        return error::usage(errc::invalid_url);
    }
    const std::size_t question = url.find('?');
    const std::string_view query =
        question == std::string_view::npos ? std::string_view() : url.substr(question);
    for (const char ch : query) {
        if (ch <= ' ' || ch > '~') {
            return error::usage(errc::invalid_url);
        }
    }
    auto parts = parse_base_url(url.substr(0, question));
    if (!parts) {
        return parts.error();
    }
    beast_target t;
    t.https = iequals(parts->scheme, "https");
    const std::string_view host = parts->host;
    t.ip_literal = host.front() == '[';
    t.host = std::string(t.ip_literal ? host.substr(1, host.size() - 2) : host);
    if (!t.ip_literal) {
        boost::system::error_code ec;
        (void)boost::asio::ip::make_address_v4(t.host, ec);
        t.ip_literal = !ec;
    }
    const std::string_view after_host = parts->authority.substr(host.size());
    t.port = after_host.empty() ? std::string(t.https ? "443" : "80")
                                : std::string(after_host.substr(1));
    t.host_header = std::string(parts->authority);
    const std::size_t path_start = parts->scheme.size() + 3 + parts->authority.size();
    t.target = std::string(url.substr(path_start));
    if (t.target.empty() || t.target.front() != '/') {
        t.target.insert(0, 1, '/');
    }
    return t;
}

/// A Beast body that reads into a `std::string`, growing by doubling into a fresh
/// buffer and zeroing the old one, so no copy of the body (tokens) is left behind
/// in freed memory. The parser enforces the size cap before `put`.
struct beast_scrubbing_body {
    using value_type = std::string;

    class reader {
    public:
        template <bool IsRequest, class Fields>
        reader(boost::beast::http::header<IsRequest, Fields>&, value_type& body) noexcept
            : body_(body) {}

        void init(const boost::optional<std::uint64_t>& length, boost::system::error_code& ec) {
            ec = {};
            if (length && *length > 0) {
                if (*length > body_.max_size()) {
                    ec = boost::beast::http::error::buffer_overflow;
                    return;
                }
                grow(static_cast<std::size_t>(*length), ec); // capped by body_limit already
            }
        }

        template <class ConstBufferSequence>
        std::size_t put(const ConstBufferSequence& buffers, boost::system::error_code& ec) {
            ec = {};
            const std::size_t extra = boost::beast::buffer_bytes(buffers);
            if (extra > body_.max_size() - body_.size()) {
                ec = boost::beast::http::error::buffer_overflow;
                return 0;
            }
            if (body_.size() + extra > body_.capacity()) {
                std::size_t want = body_.capacity() < 4096 ? 4096 : body_.capacity() * 2;
                if (want < body_.size() + extra) {
                    want = body_.size() + extra;
                }
                grow(want, ec);
                if (ec) {
                    return 0;
                }
            }
            for (const auto b : boost::beast::buffers_range_ref(buffers)) {
                body_.append(static_cast<const char*>(b.data()), b.size());
            }
            return extra;
        }

        void finish(boost::system::error_code& ec) noexcept { ec = {}; }

    private:
        void grow(std::size_t want, boost::system::error_code& ec) {
#if defined(__cpp_exceptions)
            try {
                grow_unchecked(want);
            } catch (...) {
                ec = boost::beast::http::error::buffer_overflow;
            }
#else
            (void)ec;
            grow_unchecked(want);
#endif
        }
        void grow_unchecked(std::size_t want) {
            std::string grown;
            grown.reserve(want);
            grown.append(body_);
            scrub(body_);
            body_.swap(grown);
        }

        value_type& body_;
    };
};

constexpr error_class beast_oversize_class(unsigned status) noexcept {
    return status == 408 || status == 429 || (status >= 500 && status <= 599)
               ? error_class::retry
               : error_class::protocol;
}

/// What every copy of one `beast_transport` shares; immutable after construction.
struct beast_shared {
    boost::asio::any_io_executor executor;
    beast_options options;
#if BABELBIRD_BEAST_TLS
    std::unique_ptr<boost::asio::ssl::context> tls;
    bool tls_ready = false; ///< false when the context or `ca_file` could not be set up
#endif
};

using beast_request = boost::beast::http::request<boost::beast::http::string_body>;
using beast_response_parser = boost::beast::http::response_parser<beast_scrubbing_body>;

/// Zeros the target, the header values and the body of a Beast request. Beast
/// keeps them in buffers it allocated itself (never const objects), and exposes
/// them only as views.
inline void scrub_beast_request(beast_request& req) noexcept {
    const auto wipe = [](boost::beast::string_view v) noexcept {
        if (!v.empty()) {
            secure_zero(const_cast<char*>(v.data()), v.size());
        }
    };
    wipe(req.target());
    for (const auto& field : req) {
        wipe(field.value());
    }
    scrub(req.body());
}

/// One exchange: owns its strand, resolver, stream, timer and the caller's
/// completion. Every handler runs on the strand, so the state needs no lock.
///
/// The stream is Asio's `tcp::socket` or `ssl::stream<tcp::socket>` rather than
/// Beast's `tcp_stream` / `ssl_stream`: the deadline is this exchange's own timer
/// (one for the whole exchange, the name lookup included), so `tcp_stream`'s
/// per-operation timers would add nothing, and Boost 1.81's `tcp_stream` has an
/// unguarded `try` that no -fno-exceptions build can compile.
template <class Stream>
class beast_exchange : public std::enable_shared_from_this<beast_exchange<Stream>> {
public:
    static constexpr bool is_tls = !std::is_same_v<Stream, boost::asio::ip::tcp::socket>;
    using strand_type = boost::asio::strand<boost::asio::any_io_executor>;

    template <class... StreamArgs>
    beast_exchange(std::shared_ptr<const beast_shared> shared, strand_type strand,
                   beast_target where, beast_request req, transport_completion&& done,
                   StreamArgs&&... stream_args)
        : shared_(std::move(shared)), strand_(strand), resolver_(strand), timer_(strand),
          stream_(strand, std::forward<StreamArgs>(stream_args)...), where_(std::move(where)),
          req_(std::move(req)), done_(std::move(done)),
          buffer_(read_buffer_limit(shared_->options.max_header_size)) {}
    beast_exchange(const beast_exchange&) = delete;
    beast_exchange& operator=(const beast_exchange&) = delete;
    ~beast_exchange() {
        scrub_beast_request(req_);
        scrub_read_buffer();
    }

    /// Starts on the strand; the caller's thread only posts.
    void start() {
        boost::asio::post(
            strand_, [self = this->shared_from_this()] { self->step([&] { self->begin(); }); });
    }

private:
    /// Runs one handler body; an exception from our own code ends the exchange.
    /// The completion is called after the body, outside any `try`.
    template <class F>
    void step(F&& body) noexcept {
        if (finished_) {
            return;
        }
#if defined(__cpp_exceptions)
        try {
            body();
        } catch (...) {
            fail(error::transport(errc::transport_failure));
        }
#else
        body();
#endif
        deliver();
    }

    void begin() {
        const long long ms = shared_->options.timeout.count();
        timer_.expires_after(std::chrono::milliseconds(ms < 1 ? 1 : ms));
        timer_.async_wait([self = this->shared_from_this()](boost::system::error_code ec) {
            if (!ec) {
                self->step([&] { self->fail(error::transport(errc::timeout)); });
            }
        });
        resolver_.async_resolve(
            where_.host, where_.port, boost::asio::ip::tcp::resolver::numeric_service,
            [self = this->shared_from_this()](boost::system::error_code ec,
                                              boost::asio::ip::tcp::resolver::results_type found) {
                self->step([&] { self->on_resolve(ec, std::move(found)); });
            });
    }

    void on_resolve(boost::system::error_code ec,
                    boost::asio::ip::tcp::resolver::results_type found) {
        if (ec) {
            fail(error::transport(errc::transport_failure)); // DNS, as libcurl's adapter
            return;
        }
        boost::asio::async_connect(
            socket(), found,
            [self = this->shared_from_this()](boost::system::error_code e,
                                              const boost::asio::ip::tcp::endpoint&) {
                self->step([&] { self->on_connect(e); });
            });
    }

    void on_connect(boost::system::error_code ec) {
        if (ec) {
            fail(map_io_error(ec));
            return;
        }
        if constexpr (is_tls) {
#if BABELBIRD_BEAST_TLS
            if (!where_.ip_literal &&
                SSL_set_tlsext_host_name(stream_.native_handle(), where_.host.c_str()) != 1) {
                fail(error::transport(errc::transport_failure));
                return;
            }
            if (shared_->options.verify_tls) {
                boost::system::error_code vec;
                stream_.set_verify_callback(boost::asio::ssl::host_name_verification(where_.host),
                                            vec);
                if (vec) {
                    fail(error::transport(errc::transport_failure));
                    return;
                }
            }
            stream_.async_handshake(boost::asio::ssl::stream_base::client,
                                    [self = this->shared_from_this()](boost::system::error_code e) {
                                        self->step([&] { self->on_handshake(e); });
                                    });
#endif
        } else {
            write();
        }
    }

#if BABELBIRD_BEAST_TLS
    void on_handshake(boost::system::error_code ec) {
        if (ec) {
            const long verify = SSL_get_verify_result(stream_.native_handle());
            const bool verify_failed =
                verify != X509_V_OK || (ec.category() == boost::asio::error::get_ssl_category() &&
                                        ERR_GET_REASON(static_cast<unsigned long>(ec.value())) ==
                                            SSL_R_CERTIFICATE_VERIFY_FAILED);
            if (verify_failed && shared_->options.verify_tls) {
                fail(error(errc::tls_verification_failed, error_class::configuration,
                           error_origin::transport));
            } else {
                fail(map_io_error(ec));
            }
            return;
        }
        write();
    }
#endif

    void write() {
        boost::beast::http::async_write(
            stream_, req_,
            [self = this->shared_from_this()](boost::system::error_code ec, std::size_t) {
                self->step([&] { self->on_write(ec); });
            });
    }

    void on_write(boost::system::error_code ec) {
        if (ec) {
            fail(map_io_error(ec));
            return;
        }
        buffer_.reserve(16384);
        read();
    }

    /// The read buffer holds what the parser has not consumed yet: a header
    /// block, a chunk-size line or the trailer, which Beast buffers whole until
    /// their CRLF (no limit of their own), plus one read. Body bytes are
    /// consumed as they come (the body cap applies to them).
    static std::size_t read_buffer_limit(std::size_t max_header_size) noexcept {
        constexpr std::size_t slack = 16384;
        return max_header_size > std::numeric_limits<std::size_t>::max() - slack
                   ? std::numeric_limits<std::size_t>::max()
                   : max_header_size + slack;
    }

    void read() {
        parser_.emplace();
        // The answer to HEAD has no body whatever its Content-Length says
        // (RFC 9110 section 9.3.2); Beast cannot know the request's method.
        parser_->skip(req_.method() == boost::beast::http::verb::head);
        parser_->body_limit(shared_->options.max_body_size);
        const std::size_t header_cap = shared_->options.max_header_size;
        parser_->header_limit(header_cap > std::numeric_limits<std::uint32_t>::max()
                                  ? std::numeric_limits<std::uint32_t>::max()
                                  : static_cast<std::uint32_t>(header_cap));
        boost::beast::http::async_read(
            stream_, buffer_, *parser_,
            [self = this->shared_from_this()](boost::system::error_code ec, std::size_t) {
                self->step([&] { self->on_read(ec); });
            });
    }

    void on_read(boost::system::error_code ec) {
        namespace http = boost::beast::http;
        if (ec) {
            const bool header_done = parser_->is_header_done();
            const unsigned status = header_done ? parser_->get().result_int() : 0U;
            if (ec == http::error::body_limit || ec == http::error::header_limit ||
                ec == http::error::buffer_overflow) {
                fail(error::server(errc::body_too_large, beast_oversize_class(status),
                                   static_cast<int>(status)));
            } else if (header_done && (ec == http::error::partial_message ||
                                       ec == boost::asio::error::eof || is_truncated(ec))) {
                fail(error::transport(errc::partial_body));
            } else if (ec == http::error::end_of_stream || ec == http::error::partial_message ||
                       is_truncated(ec)) {
                fail(error::transport(errc::connection_reset));
            } else {
                fail(map_io_error(ec));
            }
            return;
        }
        auto& msg = parser_->get();
        const unsigned status = msg.result_int();
        if (status >= 100 && status < 200 && status != 101) {
            read(); // an interim answer: the final one follows
            return;
        }
        std::vector<http_header> headers;
        headers.reserve(static_cast<std::size_t>(std::distance(msg.begin(), msg.end())));
        for (const auto& field : msg) {
            headers.push_back(
                {std::string(field.name_string()), std::string(trim_ows(field.value()))});
        }
        outcome_.emplace(
            http_response(static_cast<int>(status), std::move(msg.body()), std::move(headers)));
    }

    static bool is_truncated(boost::system::error_code ec) noexcept {
#if BABELBIRD_BEAST_TLS
        return ec == boost::asio::ssl::error::stream_truncated;
#else
        (void)ec;
        return false;
#endif
    }

    /// A socket-level failure (the timer's own closing is reported by the timer).
    static error map_io_error(boost::system::error_code ec) noexcept {
        namespace ae = boost::asio::error;
        if (ec == ae::connection_refused || ec == ae::host_unreachable ||
            ec == ae::network_unreachable) {
            return error::transport(errc::connection_refused);
        }
        if (ec == ae::connection_reset || ec == ae::broken_pipe || ec == ae::connection_aborted ||
            ec == ae::eof || ec == boost::beast::http::error::end_of_stream) {
            return error::transport(errc::connection_reset);
        }
        if (ec == boost::beast::error::timeout || ec == ae::timed_out) {
            return error::transport(errc::timeout);
        }
        return error::transport(errc::transport_failure);
    }

    /// Records the first failure; `deliver` (after the handler body) stops the rest.
    void fail(error e) noexcept {
        if (!outcome_) {
            outcome_.emplace(e);
        }
    }

    /// Calls the completion once an outcome exists; closes everything first, so
    /// the handlers still queued find `finished_` and do nothing.
    void deliver() noexcept {
        if (!outcome_ || finished_) {
            return;
        }
        finished_ = true;
        boost::system::error_code ignored;
        timer_.cancel();
        resolver_.cancel();
        socket().shutdown(boost::asio::ip::tcp::socket::shutdown_both, ignored);
        socket().close(ignored);
        transport_completion done = std::move(done_);
        transport_result r = std::move(*outcome_);
        outcome_.reset();
        done(std::move(r));
    }

    boost::asio::ip::tcp::socket& socket() noexcept {
        if constexpr (is_tls) {
            return stream_.next_layer();
        } else {
            return stream_;
        }
    }

    void scrub_read_buffer() noexcept {
        // Emptied, the whole storage is writable again: headers and body passed here.
        buffer_.clear();
        const auto all = buffer_.prepare(buffer_.capacity());
        secure_zero(static_cast<char*>(all.data()), all.size());
    }

    std::shared_ptr<const beast_shared> shared_;
    strand_type strand_;
    boost::asio::ip::tcp::resolver resolver_;
    boost::asio::steady_timer timer_;
    Stream stream_;
    beast_target where_;
    beast_request req_;
    transport_completion done_;
    boost::beast::flat_buffer buffer_;
    std::optional<beast_response_parser> parser_;
    std::optional<transport_result> outcome_;
    bool finished_ = false;
};

} // namespace detail

/// An `async_transport` over Boost.Beast: one connection per exchange, run on the
/// executor given at construction (each exchange on its own strand of it).
///
/// Cheap to copy (the copies share the options and the TLS context) and usable
/// from several threads at once. `async_send` copies what it needs from the
/// request before it returns, never throws and never calls the completion inside
/// itself (a rejected request is completed through the executor too). The
/// completion is called exactly once, on the executor, without any lock held;
/// only if the io_context is stopped for good or destroyed before the exchange
/// ends is it destroyed uncalled (which the async drivers read as "no answer",
/// drivers/async_transport.hpp). See the file comment for the errors.
class beast_transport {
public:
    /// Whether https URLs can be used (`BABELBIRD_BEAST_TLS`).
    static constexpr bool tls_supported = BABELBIRD_BEAST_TLS != 0;

    /// @param ex the executor every exchange runs on (an io_context's, or a strand's)
    /// @param options the limits and TLS settings; a `ca_file` that cannot be loaded
    ///        makes every https exchange fail with `errc::tls_verification_failed`
    explicit beast_transport(boost::asio::any_io_executor ex, beast_options options = {})
        : shared_(make_shared_state(std::move(ex), std::move(options))) {}

    const beast_options& options() const noexcept { return shared_->options; }

    /// Starts one exchange and returns; `completion(transport_result)` runs later on
    /// the executor (see the class comment).
    void async_send(const http_request& request, transport_completion&& completion) noexcept {
#if defined(__cpp_exceptions)
        try {
            start(request, completion);
        } catch (...) {
            reject(completion, error::transport(errc::transport_failure));
        }
#else
        start(request, completion);
#endif
    }

private:
    static std::shared_ptr<const detail::beast_shared>
    make_shared_state(boost::asio::any_io_executor ex, beast_options options) {
        auto s = std::make_shared<detail::beast_shared>();
        s->executor = std::move(ex);
        s->options = std::move(options);
#if BABELBIRD_BEAST_TLS
        namespace ssl = boost::asio::ssl;
        s->tls = std::make_unique<ssl::context>(ssl::context::tls_client);
        boost::system::error_code ec;
        SSL_CTX_set_min_proto_version(s->tls->native_handle(), TLS1_2_VERSION);
        if (s->options.verify_tls) {
            s->tls->set_verify_mode(ssl::verify_peer, ec);
            if (!ec) {
                if (s->options.ca_file.empty()) {
                    s->tls->set_default_verify_paths(ec);
                } else {
                    s->tls->load_verify_file(s->options.ca_file, ec);
                }
            }
        } else {
            s->tls->set_verify_mode(ssl::verify_none, ec);
        }
        s->tls_ready = !ec;
#endif
        return s;
    }

    /// Completes `completion` through the executor (never inside `async_send`).
    void reject(transport_completion& completion, error e) noexcept {
        if (!completion) {
            return;
        }
#if defined(__cpp_exceptions)
        try {
#endif
            boost::asio::post(shared_->executor, [done = std::move(completion), e]() mutable {
                done(transport_result(e));
            });
#if defined(__cpp_exceptions)
        } catch (...) {
            // Out of memory while posting: the completion is destroyed uncalled,
            // which the drivers read as a failed exchange.
        }
#endif
    }

    void start(const http_request& request, transport_completion& completion) {
        auto where = detail::parse_beast_url(request.url);
        if (!where) {
            reject(completion, where.error());
            return;
        }
        if (request.method.empty() || detail::has_control(request.method) ||
            request.method.find(' ') != std::string::npos) {
            reject(completion, error::usage(errc::control_character));
            return;
        }
        for (const auto& header : request.headers) {
            if (header.name.empty() || detail::has_control(header.name) ||
                header.name.find(':') != std::string::npos ||
                header.name.find(' ') != std::string::npos || detail::has_control(header.value)) {
                reject(completion, error::usage(errc::control_character));
                return;
            }
        }
        detail::beast_request req;
        req.version(11);
        req.method_string(request.method);
        req.target(where->target);
        bool has_host = false;
        bool has_connection = false;
        for (const auto& header : request.headers) {
            has_host = has_host || detail::iequals(header.name, "Host");
            has_connection = has_connection || detail::iequals(header.name, "Connection");
            if (!detail::iequals(header.name, "Content-Length")) {
                req.insert(header.name, header.value);
            }
        }
        if (!has_host) {
            req.insert(boost::beast::http::field::host, where->host_header);
        }
        // One connection per exchange (RFC 9112 section 9.6): saying so lets the
        // server free the connection at once instead of holding it for a next
        // request that never comes.
        if (!has_connection) {
            req.insert(boost::beast::http::field::connection, "close");
        }
        const std::string_view m = request.method;
        if (!request.body.empty() || m == "POST" || m == "PUT" || m == "PATCH") {
            req.content_length(request.body.size());
        }
        req.body() = request.body;

        auto strand = boost::asio::make_strand(shared_->executor);
        if (where->https) {
#if BABELBIRD_BEAST_TLS
            if (!shared_->tls_ready) {
                detail::scrub_beast_request(req);
                reject(completion, error(errc::tls_verification_failed, error_class::configuration,
                                         error_origin::transport));
                return;
            }
            using tls_stream = boost::asio::ssl::stream<boost::asio::ip::tcp::socket>;
            std::make_shared<detail::beast_exchange<tls_stream>>(
                shared_, strand, std::move(*where), std::move(req), std::move(completion),
                *shared_->tls)
                ->start();
#else
            detail::scrub_beast_request(req);
            reject(completion, error(errc::transport_failure, error_class::configuration,
                                     error_origin::transport));
#endif
            return;
        }
        std::make_shared<detail::beast_exchange<boost::asio::ip::tcp::socket>>(
            shared_, strand, std::move(*where), std::move(req), std::move(completion))
            ->start();
    }

    std::shared_ptr<const detail::beast_shared> shared_;
};

static_assert(async_transport<beast_transport>,
              "beast_transport must satisfy babelbird::async_transport");

} // namespace babelbird::inline v1
