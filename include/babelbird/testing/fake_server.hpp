/// @file testing/fake_server.hpp
/// @brief A BabelBird-compatible server on 127.0.0.1 for tests, demos and users'
/// own integration tests (opt-in; needs cpp-httplib and threads, throws like
/// cpp-httplib does; not part of the core single header).
///
/// What it serves, under an optional context path (e.g. `/babel`):
/// - `GET  /api/authorize.do`: auto-consent, 302 to `redirect_uri?code=..&data=..`
///   (appended with `&` when `redirect_uri` already has a query);
/// - `GET  /api/authorizeByJWT.do`: the same with a `jwt_token` instead of a login;
/// - `POST /api/token.do`: Basic client credentials (raw mode),
///   `grant_type=authorization_code&code=..&redirect_uri=..` in the URL query; a
///   code is valid 5 minutes, usable once, and bound to its `redirect_uri`;
/// - `POST /api/refreshToken.do`: Basic client credentials,
///   `grant_type=refresh_token&refresh_token=..` in the URL query; rotates the
///   refresh token by default (the old one then stops working); refresh tokens
///   live 30 days, access tokens 3600 s (both configurable);
/// - `GET  /api/v1/file/list`: Bearer-protected; 401 `{"error":"invalid_token"}`
///   with `WWW-Authenticate: Bearer error="invalid_token"` for a missing, unknown
///   or expired access token;
/// - `POST /api/v1/file/create`: Bearer-protected like the list; takes a JSON
///   body (`Content-Type: application/json...`, else 415) and answers 201
///   `{"created":true,"bytes":N}`.
///
/// Echo mode (`set_echo(true)`) reflects the secrets of each request in the
/// answer, as a careless server might: header `X-Echo` holds the request's
/// `Authorization` value, its raw query and the decoded query values, and a JSON
/// object answer gains a first member `"echo"` with the same text plus the
/// request body. For testing that clients never log what they receive.
///
/// Strict rotation (for scale-out tests): a rotated refresh token presented
/// again is always `invalid_grant` (with rotation on, the default); with
/// `fake_server_options::revoke_family_on_reuse` such a reuse also revokes
/// every refresh and access token descended from the same first grant (the
/// "token family" of the OAuth 2.0 Security BCP, section 4.14.2). With
/// `fake_server_options::reuse_grace`, as servers with a grace period do, a
/// retired refresh token presented again soon after its rotation is accepted
/// once more and rotated to a new token (both descendants then stay valid:
/// this is how a client that lost a race ends up with a second live token,
/// an orphan in docs/design.md, "Shared store"). Every
/// refresh is written to the redemption log (`redemptions()`): the server's
/// time, the outcome, and fingerprints (`token_fingerprint`) of the presented
/// and the issued refresh token, never the tokens.
///
/// Errors are OAuth JSON: `invalid_client` (401), `invalid_grant` (400),
/// `invalid_request` (400), `unsupported_grant_type` (400).
///
/// Time inside the server is virtual: it starts at the real time when the server
/// is made and moves only by `advance()`, so tests expire tokens without sleeping.
/// Every request is recorded (method, raw path and query, decoded parameters,
/// headers, body). Faults for the token endpoints are queued with `push_fault`
/// and consumed, in order, by the next requests to `token.do`/`refreshToken.do`.
///
/// `fake_server_options::intercept` sees every request first and may answer it
/// itself: `babelbird-cli serve-fake` puts its `/_fake/` control API there
/// (cli/fake_control.hpp), so tests in another process can steer the server.
///
/// @warning This is a test server: plain HTTP, loopback only, tokens in memory.
#pragma once

#include "babelbird/config/compiler_check.hpp"

#include <httplib.h>

#if defined(__unix__)
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#endif

#include <algorithm>
#include <cctype>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <iterator>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "babelbird/encoding/json_escape.hpp"
#include "babelbird/values/ascii.hpp"
#include "babelbird/values/error.hpp"
#include "babelbird/values/secret.hpp"

namespace babelbird::inline v1::testing {

class fake_server;
struct recorded_request;

/// How the server behaves.
struct fake_server_options {
    /// The client the token endpoints accept (Basic, raw mode).
    std::string client_id = "babel-client";
    std::string client_secret = "babel-secret";
    /// A context path such as "/babel" (no trailing slash), or empty.
    std::string context_path;
    /// 0 picks a free port.
    std::uint16_t port = 0;
    std::chrono::seconds access_token_lifetime{3600};
    std::chrono::seconds refresh_token_lifetime{std::chrono::hours(24 * 30)};
    std::chrono::seconds code_lifetime{300};
    /// Issue a new refresh token on every refresh; the old one stops working.
    /// When false the same refresh token is sent back and stays valid.
    bool rotate_refresh_tokens = true;
    /// With rotation: a retired refresh token presented again revokes its whole
    /// family (every refresh and access token descended from the same first
    /// grant), as a server that suspects a stolen token does.
    bool revoke_family_on_reuse = false;
    /// With rotation: a retired refresh token presented again within this time
    /// of its rotation is accepted once more and rotated to a new refresh
    /// token (logged as `redemption::outcome::grace`); the token it was rotated
    /// to first stays valid. Measured on the real (steady) clock and on the
    /// server's virtual one, so `advance()` past it also ends it; a second
    /// presentation, or one after the grace, is a reuse. 0: no grace.
    std::chrono::milliseconds reuse_grace{0};
    /// Send `expires_in` as a string of digits, as some deployments do.
    bool expires_in_as_string = false;
    /// The Bearer-protected file endpoint, relative to the context path.
    std::string file_path = "/api/v1/file/list";
    /// The Bearer-protected endpoint that takes a POSTed JSON body.
    std::string file_post_path = "/api/v1/file/create";
    /// Sees each request before the server does (from the server's threads);
    /// returns true when it has answered it, and the request is then neither
    /// recorded nor served. Empty: every request is served.
    std::function<bool(fake_server&, const recorded_request&, httplib::Response&)> intercept;
    /// The server's worker threads: connections beyond this many wait in a
    /// queue, so a test with many concurrent clients raises it.
    std::size_t worker_threads = 16;
};

/// One request as the server saw it.
struct recorded_request {
    std::string method;
    std::string path;  ///< raw, as sent (percent escapes kept), without the query
    std::string query; ///< raw, as sent, without '?'
    std::vector<std::pair<std::string, std::string>> params;  ///< decoded query parameters
    std::vector<std::pair<std::string, std::string>> headers; ///< as received
    std::string body;

    /// The first decoded query parameter called `name`.
    std::optional<std::string> param(std::string_view name) const {
        for (const auto& p : params) {
            if (p.first == name) {
                return p.second;
            }
        }
        return std::nullopt;
    }
    /// The first header called `name` (any letter case).
    std::optional<std::string> header(std::string_view name) const {
        for (const auto& h : headers) {
            if (h.first.size() == name.size() &&
                std::equal(h.first.begin(), h.first.end(), name.begin(), [](char a, char b) {
                    return std::tolower(static_cast<unsigned char>(a)) ==
                           std::tolower(static_cast<unsigned char>(b));
                })) {
                return h.second;
            }
        }
        return std::nullopt;
    }
};

/// A fault for the next token-endpoint answer.
struct fault {
    enum class kind {
        answer, ///< send `status`, `body`, `content_type` instead
        hang,   ///< never answer (until the server stops)
        /// 200 with a generated JSON body of `bytes` bytes (chunked when `chunked`,
        /// so no Content-Length warns the client)
        oversize,
        redirect,           ///< 302 to `location`
        omit_refresh_token, ///< a success without `refresh_token`; no rotation happens
        partial,            ///< declare a Content-Length, send less, close the connection
        invalid_client,     ///< 401 `invalid_client` (the client itself is rejected)
        /// rotate the refresh token, then answer 200 with the new one and an unusable
        /// `access_token` (or `expires_in` when `bad_field` is "expires_in")
        rotate_reject,
        /// hold the refresh answer for `delay` (woken early by `stop()`): before
        /// the token is checked, or after it was rotated when `after_rotation`
        /// (a client that dies meanwhile loses the only copy of the new token)
        delay,
    };
    kind what = kind::answer;
    int status = 200;
    std::string body;
    std::string content_type = "application/json";
    std::size_t bytes = std::size_t{8} << 20;
    bool chunked = false;
    std::string location = "https://disk.example.com/elsewhere";
    /// A `Retry-After` header value for `answer` (empty: none).
    std::string retry_after;
    /// For `rotate_reject`: "access_token" (a control byte in it), "expires_in"
    /// (negative) or "missing" (no `access_token` at all).
    std::string bad_field = "access_token";
    /// For `delay`: how long, and whether the refresh is done before the wait.
    std::chrono::milliseconds delay{0};
    bool after_rotation = false;

    static fault answer(int status, std::string body,
                        std::string content_type = "application/json") {
        fault f;
        f.status = status;
        f.body = std::move(body);
        f.content_type = std::move(content_type);
        return f;
    }
    static fault of(kind k) {
        fault f;
        f.what = k;
        return f;
    }
};

/// A short, stable name of a token for logs and tests: 16 hex digits of its
/// 64-bit FNV-1a digest. Not a cryptographic commitment; tokens are random, so
/// it tells them apart without printing them.
inline std::string token_fingerprint(std::string_view token) {
    std::uint64_t h = 14695981039346656037ULL;
    for (const char ch : token) {
        h ^= static_cast<std::uint8_t>(ch);
        h *= 1099511628211ULL;
    }
    static constexpr char hex[] = "0123456789abcdef";
    std::string out(16, '0');
    for (std::size_t i = 0; i < 16; ++i) {
        out[15 - i] = hex[(h >> (4 * i)) & 15];
    }
    return out;
}

/// One refresh request as the redemption log keeps it.
struct redemption {
    /// What the server did with the presented refresh token.
    enum class outcome {
        rotated, ///< accepted, a new refresh token issued (the old one retired)
        kept,    ///< accepted, not rotated (rotation off, or an answer without one)
        /// a retired refresh token within `reuse_grace` of its rotation:
        /// accepted once more and rotated to a new one
        grace,
        reused,   ///< a retired refresh token: `invalid_grant`
        revoked,  ///< a token whose family was revoked: `invalid_grant`
        unknown,  ///< never issued (or expired, or missing): `invalid_grant`/`invalid_request`
        fault,    ///< a queued fault answered instead (nothing checked or changed)
        rejected, ///< client authentication or the request failed before the token was checked
    };
    /// 1, 2, ... in the order the server decided.
    std::uint64_t sequence = 0;
    /// The server's (virtual) time of the decision.
    std::chrono::system_clock::time_point at{};
    /// `token_fingerprint` of the refresh token presented ("" when none).
    std::string presented;
    outcome result = outcome::unknown;
    /// `token_fingerprint` of the refresh token issued ("" when none).
    std::string issued;
    /// Whether this reuse revoked a family (`revoke_family_on_reuse`).
    bool family_revoked = false;

    static std::string_view name(outcome o) noexcept {
        switch (o) {
        case outcome::rotated:
            return "rotated";
        case outcome::kept:
            return "kept";
        case outcome::grace:
            return "grace";
        case outcome::reused:
            return "reused";
        case outcome::revoked:
            return "revoked";
        case outcome::unknown:
            return "unknown";
        case outcome::fault:
            return "fault";
        case outcome::rejected:
            return "rejected";
        }
        return "unknown";
    }
};

namespace detail {

inline std::string base64(std::string_view in) {
    static constexpr char table[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    std::string out;
    std::size_t i = 0;
    for (; i + 3 <= in.size(); i += 3) {
        const auto v = (std::uint32_t(std::uint8_t(in[i])) << 16) |
                       (std::uint32_t(std::uint8_t(in[i + 1])) << 8) |
                       std::uint32_t(std::uint8_t(in[i + 2]));
        out += table[(v >> 18) & 63];
        out += table[(v >> 12) & 63];
        out += table[(v >> 6) & 63];
        out += table[v & 63];
    }
    if (i + 1 == in.size()) {
        const auto v = std::uint32_t(std::uint8_t(in[i])) << 16;
        out += table[(v >> 18) & 63];
        out += table[(v >> 12) & 63];
        out += "==";
    } else if (i + 2 == in.size()) {
        const auto v = (std::uint32_t(std::uint8_t(in[i])) << 16) |
                       (std::uint32_t(std::uint8_t(in[i + 1])) << 8);
        out += table[(v >> 18) & 63];
        out += table[(v >> 12) & 63];
        out += table[(v >> 6) & 63];
        out += '=';
    }
    return out;
}

inline int hex_value(char ch) noexcept {
    if (ch >= '0' && ch <= '9') {
        return ch - '0';
    }
    if (ch >= 'A' && ch <= 'F') {
        return ch - 'A' + 10;
    }
    if (ch >= 'a' && ch <= 'f') {
        return ch - 'a' + 10;
    }
    return -1;
}

/// Decodes a query component the way a servlet container does: `%XX` escapes,
/// and '+' is a space (so a client that leaves '+' unencoded is caught).
inline std::string form_decode(std::string_view in) {
    std::string out;
    out.reserve(in.size());
    for (std::size_t i = 0; i < in.size(); ++i) {
        if (in[i] == '+') {
            out += ' ';
        } else if (in[i] == '%' && i + 2 < in.size() && hex_value(in[i + 1]) >= 0 &&
                   hex_value(in[i + 2]) >= 0) {
            out += static_cast<char>(hex_value(in[i + 1]) * 16 + hex_value(in[i + 2]));
            i += 2;
        } else {
            out += in[i];
        }
    }
    return out;
}

inline std::vector<std::pair<std::string, std::string>> parse_query(std::string_view query) {
    std::vector<std::pair<std::string, std::string>> out;
    while (!query.empty()) {
        const std::size_t amp = query.find('&');
        const std::string_view part = query.substr(0, amp);
        query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
        if (part.empty()) {
            continue;
        }
        const std::size_t eq = part.find('=');
        out.emplace_back(form_decode(part.substr(0, eq)), eq == std::string_view::npos
                                                              ? std::string()
                                                              : form_decode(part.substr(eq + 1)));
    }
    return out;
}

/// RFC 3986 unreserved bytes kept, everything else `%XX`.
inline std::string percent_encode(std::string_view in) {
    static constexpr char hex[] = "0123456789ABCDEF";
    std::string out;
    for (char ch : in) {
        const auto c = static_cast<unsigned char>(ch);
        if (std::isalnum(c) != 0 || ch == '-' || ch == '.' || ch == '_' || ch == '~') {
            out += ch;
        } else {
            out += '%';
            out += hex[c >> 4];
            out += hex[c & 15];
        }
    }
    return out;
}

inline std::string json_string(std::string_view in) {
    std::string out;
    babelbird::detail::append_json_string(out, in);
    return out;
}

inline std::string oauth_error_body(std::string_view code, std::string_view description) {
    return "{\"error\":" + json_string(code) +
           ",\"error_description\":" + json_string(description) + "}";
}

} // namespace detail

/// The server. Not copyable; `start()` binds and runs it on its own thread,
/// `stop()` (or the destructor) ends it and joins every thread it started.
class fake_server {
public:
    explicit fake_server(fake_server_options options = {})
        : options_(std::move(options)), base_time_(std::chrono::system_clock::now()),
          rng_(std::random_device{}()) {}
    fake_server(const fake_server&) = delete;
    fake_server& operator=(const fake_server&) = delete;
    ~fake_server() { stop(); }

    /// Binds 127.0.0.1 and starts serving. False if the port cannot be bound.
    bool start() {
        if (thread_.joinable()) {
            return true;
        }
        server_ = std::make_unique<httplib::Server>();
        install_handlers();
        server_->set_keep_alive_timeout(1);
        // Headers and body go out as two writes: without TCP_NODELAY the second
        // waits for the client's delayed ACK (about 40 ms a request on Linux).
        server_->set_tcp_nodelay(true);
        const std::size_t workers = options_.worker_threads > 0 ? options_.worker_threads : 1;
        server_->new_task_queue = [workers] { return new httplib::ThreadPool(workers); };
        server_->set_read_timeout(5);
        server_->set_write_timeout(5);
        int port = 0;
        if (options_.port == 0) {
            port = server_->bind_to_any_port("127.0.0.1");
        } else {
            port = server_->bind_to_port("127.0.0.1", options_.port) ? options_.port : -1;
        }
        if (port <= 0) {
            server_.reset();
            return false;
        }
        port_ = static_cast<std::uint16_t>(port);
        widen_backlog(port_);
        {
            std::lock_guard lock(mutex_);
            stopping_ = false;
        }
        thread_ = std::thread([this] { server_->listen_after_bind(); });
        // stop() is a no-op until the accept loop runs: wait for it.
        for (int i = 0; i < 5000 && !server_->is_running(); ++i) {
            std::this_thread::sleep_for(std::chrono::milliseconds(1));
        }
        return true;
    }

    /// Stops serving: wakes hanging answers, closes the socket, joins the threads.
    void stop() {
        if (!thread_.joinable()) {
            return;
        }
        {
            std::lock_guard lock(mutex_);
            stopping_ = true;
        }
        wake_.notify_all();
        server_->stop();
        thread_.join();
        server_.reset();
    }

    bool running() const noexcept { return thread_.joinable(); }
    std::uint16_t port() const noexcept { return port_; }
    /// `http://127.0.0.1:<port><context path>`, the base URL for `endpoint::make`.
    std::string base_url() const {
        return "http://127.0.0.1:" + std::to_string(port_) + options_.context_path;
    }
    /// The absolute URL of the Bearer-protected file endpoint.
    std::string file_url() const { return base_url() + options_.file_path; }
    const fake_server_options& options() const noexcept { return options_; }

    // --- virtual time -----------------------------------------------------------------

    /// The server's current time.
    std::chrono::system_clock::time_point now() const {
        std::lock_guard lock(mutex_);
        return now_locked();
    }
    /// Moves the server's clock forward.
    void advance(std::chrono::seconds by) {
        std::lock_guard lock(mutex_);
        offset_ += by;
    }

    // --- state ------------------------------------------------------------------------

    /// Makes the server accept `token` as a refresh token (valid for the configured lifetime).
    void add_refresh_token(std::string token) {
        std::lock_guard lock(mutex_);
        family_[token] = ++families_;
        latest_refresh_ = token;
        refresh_tokens_[std::move(token)] = now_locked() + options_.refresh_token_lifetime;
    }
    /// Issues an authorization code bound to `redirect_uri`, as a consent would.
    std::string issue_code(std::string_view redirect_uri) {
        std::lock_guard lock(mutex_);
        return issue_code_locked(redirect_uri);
    }
    /// Whether `token` is a refresh token the server would accept now.
    bool refresh_token_valid(const std::string& token) const {
        std::lock_guard lock(mutex_);
        const auto it = refresh_tokens_.find(token);
        return it != refresh_tokens_.end() && now_locked() < it->second;
    }
    /// Whether `token` is an access token the server would accept now.
    bool access_token_valid(const std::string& token) const {
        std::lock_guard lock(mutex_);
        const auto it = access_tokens_.find(token);
        return it != access_tokens_.end() && now_locked() < it->second;
    }
    void set_rotation(bool rotate) {
        std::lock_guard lock(mutex_);
        options_.rotate_refresh_tokens = rotate;
    }
    /// See `fake_server_options::revoke_family_on_reuse`.
    void set_revoke_family_on_reuse(bool revoke) {
        std::lock_guard lock(mutex_);
        options_.revoke_family_on_reuse = revoke;
    }
    /// See `fake_server_options::reuse_grace` (for tokens rotated from now
    /// on and those still in their grace; negative counts as 0).
    void set_reuse_grace(std::chrono::milliseconds grace) {
        std::lock_guard lock(mutex_);
        options_.reuse_grace = std::max(grace, std::chrono::milliseconds(0));
    }
    /// The lifetime of access tokens issued from now on (at least 1 s).
    void set_access_token_lifetime(std::chrono::seconds lifetime) {
        std::lock_guard lock(mutex_);
        options_.access_token_lifetime = std::max(lifetime, std::chrono::seconds(1));
    }
    /// The redemption log: every request to the refresh endpoint, in order.
    std::vector<redemption> redemptions() const {
        std::lock_guard lock(mutex_);
        return redemptions_;
    }
    void clear_redemptions() {
        std::lock_guard lock(mutex_);
        redemptions_.clear();
    }
    /// The refresh token issued last (by a refresh, a code exchange or
    /// `add_refresh_token`), whether or not it is still valid; "" before any.
    std::string latest_refresh_token() const {
        std::lock_guard lock(mutex_);
        return latest_refresh_;
    }
    /// Echo mode (see the file comment).
    void set_echo(bool echo) {
        std::lock_guard lock(mutex_);
        echo_ = echo;
    }
    /// The next file-API request (with a valid token) gets this answer.
    void push_file_fault(int status, std::string body) {
        std::lock_guard lock(mutex_);
        file_faults_.emplace_back(status, std::move(body));
    }

    // --- faults and records -----------------------------------------------------------

    /// Queues a fault for the next token-endpoint request.
    void push_fault(fault f) {
        std::lock_guard lock(mutex_);
        faults_.push_back(std::move(f));
    }
    void clear_faults() {
        std::lock_guard lock(mutex_);
        faults_.clear();
        file_faults_.clear();
    }
    /// Every request seen so far (control requests excluded).
    std::vector<recorded_request> requests() const {
        std::lock_guard lock(mutex_);
        return requests_;
    }
    void clear_requests() {
        std::lock_guard lock(mutex_);
        requests_.clear();
    }
    /// Bytes of oversized bodies actually written (the client should stop early).
    std::size_t oversize_bytes_written() const {
        std::lock_guard lock(mutex_);
        return oversize_written_;
    }

private:
    using clock_time = std::chrono::system_clock::time_point;

    clock_time now_locked() const { return base_time_ + offset_; }

    /// cpp-httplib listens with a backlog of 5 (compiled into Debian's
    /// libcpp-httplib): a burst of concurrent clients (a test's 64 coroutines,
    /// 32 CLI processes) overflows it, and Linux drops the SYNs it has no room
    /// for, which the clients resend only after 1 s, 3 s, 7 s. The socket is
    /// not exposed, so it is found by its port and listen() is called again
    /// with a larger backlog (Linux applies the new value to a listening socket).
    static void widen_backlog([[maybe_unused]] std::uint16_t port) noexcept {
#if defined(__unix__)
        rlimit limit{};
        int max_fd = 1024;
        if (getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < 65536) {
            max_fd = static_cast<int>(limit.rlim_cur);
        }
        for (int fd = 3; fd < max_fd; ++fd) {
            int listening = 0;
            socklen_t length = sizeof listening;
            if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &length) != 0 ||
                listening == 0) {
                continue;
            }
            sockaddr_in address{};
            socklen_t address_length = sizeof address;
            if (getsockname(fd, reinterpret_cast<sockaddr*>(&address), &address_length) == 0 &&
                address.sin_family == AF_INET && ntohs(address.sin_port) == port &&
                ntohl(address.sin_addr.s_addr) == INADDR_LOOPBACK) {
                (void)::listen(fd, 512);
                return;
            }
        }
#endif
    }

    std::string random_token(std::string_view prefix) {
        // Standard Base64 of random bytes: tokens carry '+', '/' and '=', which
        // exercises every encoder on the way.
        std::string raw(25, '\0');
        std::uniform_int_distribution<int> byte(0, 255);
        for (char& ch : raw) {
            ch = static_cast<char>(byte(rng_));
        }
        return std::string(prefix) + detail::base64(raw);
    }

    std::string issue_code_locked(std::string_view redirect_uri) {
        std::string code = random_token("code-");
        codes_[code] = {std::string(redirect_uri), now_locked() + options_.code_lifetime};
        return code;
    }

    static recorded_request record_of(const httplib::Request& req) {
        recorded_request r;
        r.method = req.method;
        const std::size_t q = req.target.find('?');
        r.path = req.target.substr(0, q);
        r.query = q == std::string::npos ? std::string() : req.target.substr(q + 1);
        r.params = detail::parse_query(r.query);
        for (const auto& [name, value] : req.headers) {
            // cpp-httplib adds these pseudo headers itself.
            if (name == "REMOTE_ADDR" || name == "REMOTE_PORT" || name == "LOCAL_ADDR" ||
                name == "LOCAL_PORT") {
                continue;
            }
            r.headers.emplace_back(name, value);
        }
        r.body = req.body;
        return r;
    }

    static void send_json(httplib::Response& res, int status, const std::string& body) {
        res.status = status;
        res.set_header("Cache-Control", "no-store");
        res.set_content(body, "application/json;charset=UTF-8");
    }
    static void send_oauth_error(httplib::Response& res, int status, std::string_view code,
                                 std::string_view description) {
        if (status == 401) {
            res.set_header("WWW-Authenticate", "Basic realm=\"babelbird\"");
        }
        send_json(res, status, detail::oauth_error_body(code, description));
    }

    bool basic_ok(const recorded_request& r) const {
        const auto got = r.header("Authorization");
        const std::string want =
            "Basic " + detail::base64(options_.client_id + ":" + options_.client_secret);
        return got && constant_time_equals(*got, want);
    }

    void install_handlers() {
        const auto handler = [this](const httplib::Request& req, httplib::Response& res) {
            handle(req, res);
        };
        server_->Get(".*", handler);
        server_->Post(".*", handler);
        server_->Put(".*", handler);
        server_->Patch(".*", handler);
        server_->Delete(".*", handler);
        server_->Options(".*", handler);
    }

    void handle(const httplib::Request& req, httplib::Response& res) {
        recorded_request r = record_of(req);
        if (options_.intercept && options_.intercept(*this, r, res)) {
            return;
        }
        {
            std::lock_guard lock(mutex_);
            requests_.push_back(r);
        }
        const std::string& ctx = options_.context_path;
        if (r.path.size() < ctx.size() || r.path.compare(0, ctx.size(), ctx) != 0) {
            send_json(res, 404, R"({"error":"not_found"})");
            return;
        }
        const std::string path = r.path.substr(ctx.size());
        dispatch(r, path, res);
        bool echo = false;
        {
            std::lock_guard lock(mutex_);
            echo = echo_;
        }
        if (echo) {
            add_echo(r, res);
        }
    }

    /// Reflects the request's secrets in the answer (echo mode).
    static void add_echo(const recorded_request& r, httplib::Response& res) {
        std::string text = r.header("Authorization").value_or("");
        text += " " + r.query;
        for (const auto& p : r.params) {
            text += " " + p.second;
        }
        for (char& ch : text) {
            if (babelbird::detail::is_control(ch)) {
                ch = '?'; // a header value stays one line
            }
        }
        res.set_header("X-Echo", text);
        if (!res.body.empty() && res.body.front() == '{') {
            const bool empty_object = res.body.size() >= 2 && res.body[1] == '}';
            res.body.insert(1, "\"echo\":" + detail::json_string(text + " " + r.body) +
                                   (empty_object ? "" : ","));
        }
    }

    void dispatch(const recorded_request& r, const std::string& path, httplib::Response& res) {
        if (path == "/api/authorize.do" || path == "/api/authorizeByJWT.do") {
            if (r.method != "GET") {
                send_json(res, 405, R"({"error":"method_not_allowed"})");
                return;
            }
            authorize(r, res, path == "/api/authorizeByJWT.do");
        } else if (path == "/api/token.do" || path == "/api/refreshToken.do") {
            if (r.method != "POST") {
                send_json(res, 405, R"({"error":"method_not_allowed"})");
                return;
            }
            token_endpoint(r, res, path == "/api/refreshToken.do");
        } else if (path == options_.file_path) {
            file_endpoint(r, res, false);
        } else if (path == options_.file_post_path) {
            file_endpoint(r, res, true);
        } else {
            send_json(res, 404, R"({"error":"not_found"})");
        }
    }

    void authorize(const recorded_request& r, httplib::Response& res, bool jwt) {
        const auto client = r.param("client_id");
        if (!client || *client != options_.client_id) {
            send_oauth_error(res, 400, "invalid_client", "unknown client_id");
            return;
        }
        if (r.param("response_type") != std::optional<std::string>("code")) {
            send_oauth_error(res, 400, "unsupported_response_type", "response_type must be code");
            return;
        }
        if (jwt) {
            const auto token = r.param("jwt_token");
            if (!token || token->empty()) {
                send_oauth_error(res, 400, "invalid_request", "jwt_token is required");
                return;
            }
        }
        const auto redirect = r.param("redirect_uri");
        if (!jwt && (!redirect || redirect->empty())) {
            send_oauth_error(res, 400, "invalid_request", "redirect_uri is required");
            return;
        }
        std::string code;
        {
            std::lock_guard lock(mutex_);
            code = issue_code_locked(redirect.value_or(""));
        }
        if (!redirect || redirect->empty()) {
            send_json(res, 200, "{\"code\":" + detail::json_string(code) + "}");
            return;
        }
        std::string location = *redirect;
        location += location.find('?') == std::string::npos ? '?' : '&';
        location += "code=" + detail::percent_encode(code);
        if (const auto data = r.param("data")) {
            location += "&data=" + detail::percent_encode(*data);
        }
        res.status = 302;
        res.set_header("Location", location);
    }

    /// Applies the next queued fault; true when it produced the answer.
    bool apply_fault(httplib::Response& res, bool& omit_refresh, std::string& reject_field,
                     std::chrono::milliseconds& hold_after) {
        std::optional<fault> f;
        {
            std::lock_guard lock(mutex_);
            if (!faults_.empty()) {
                f = std::move(faults_.front());
                faults_.pop_front();
            }
        }
        if (!f) {
            return false;
        }
        switch (f->what) {
        case fault::kind::answer:
            res.status = f->status;
            if (!f->retry_after.empty()) {
                res.set_header("Retry-After", f->retry_after);
            }
            res.set_content(f->body, f->content_type);
            return true;
        case fault::kind::invalid_client:
            send_oauth_error(res, 401, "invalid_client", "the client is not known");
            return true;
        case fault::kind::rotate_reject:
            reject_field = f->bad_field.empty() ? std::string("access_token") : f->bad_field;
            return false;
        case fault::kind::hang: {
            std::unique_lock lock(mutex_);
            wake_.wait_for(lock, std::chrono::minutes(2), [this] { return stopping_; });
            res.status = 503;
            res.set_content(R"({"error":"temporarily_unavailable"})", "application/json");
            return true;
        }
        case fault::kind::oversize: {
            res.status = 200;
            const std::size_t total = std::max<std::size_t>(f->bytes, 64);
            auto provider = [this, total](std::size_t offset, std::size_t length,
                                          httplib::DataSink& sink) {
                // {"access_token":"xxxx...x"} generated in chunks, never stored whole.
                static constexpr std::string_view head = R"({"access_token":")";
                char chunk[16384];
                const std::size_t n = std::min({length, sizeof chunk, total - offset});
                for (std::size_t i = 0; i < n; ++i) {
                    const std::size_t at = offset + i;
                    chunk[i] = at < head.size()  ? head[at]
                               : at == total - 2 ? '"'
                               : at == total - 1 ? '}'
                                                 : 'x';
                }
                if (!sink.write(chunk, n)) {
                    return false;
                }
                std::lock_guard lock(mutex_);
                oversize_written_ += n;
                return true;
            };
            if (f->chunked) {
                res.set_chunked_content_provider(
                    "application/json",
                    [provider, total](std::size_t offset, httplib::DataSink& sink) mutable {
                        if (offset >= total) {
                            sink.done();
                            return true;
                        }
                        return provider(offset, total - offset, sink);
                    });
            } else {
                res.set_content_provider(total, "application/json", provider);
            }
            return true;
        }
        case fault::kind::redirect:
            res.status = 302;
            res.set_header("Location", f->location);
            return true;
        case fault::kind::omit_refresh_token:
            omit_refresh = true;
            return false;
        case fault::kind::delay:
            if (f->after_rotation) {
                hold_after = f->delay;
            } else {
                std::unique_lock lock(mutex_);
                wake_.wait_for(lock, f->delay, [this] { return stopping_; });
            }
            return false;
        case fault::kind::partial:
            res.status = 200;
            res.set_content_provider(
                1000, "application/json",
                [](std::size_t offset, std::size_t, httplib::DataSink& sink) {
                    if (offset == 0) {
                        sink.write(R"({"access_token":"cut)", 20);
                    }
                    return false; // closes the connection short of Content-Length
                });
            return true;
        }
        return false;
    }

    void token_endpoint(const recorded_request& r, httplib::Response& res, bool refreshing) {
        bool omit_refresh = false;
        std::string reject_field; // rotate_reject: the field to spoil
        std::chrono::milliseconds hold_after{0};
        const std::optional<std::string> sent =
            refreshing ? r.param("refresh_token") : std::nullopt;
        const auto log = [&](redemption::outcome o, std::string_view issued = {},
                             bool revoked = false) {
            if (!refreshing) {
                return;
            }
            std::lock_guard lock(mutex_);
            log_locked(sent, o, issued, revoked);
        };
        if (apply_fault(res, omit_refresh, reject_field, hold_after)) {
            log(redemption::outcome::fault);
            return;
        }
        if (!basic_ok(r)) {
            log(redemption::outcome::rejected);
            send_oauth_error(res, 401, "invalid_client", "client authentication failed");
            return;
        }
        const auto grant = r.param("grant_type");
        const std::string want_grant = refreshing ? "refresh_token" : "authorization_code";
        if (!grant) {
            log(redemption::outcome::rejected);
            send_oauth_error(res, 400, "invalid_request", "grant_type is required");
            return;
        }
        if (*grant != want_grant) {
            log(redemption::outcome::rejected);
            send_oauth_error(res, 400, "unsupported_grant_type", "wrong grant_type");
            return;
        }
        std::unique_lock lock(mutex_);
        const clock_time now = now_locked();
        std::string refresh_token;
        std::uint64_t family = 0;
        if (refreshing) {
            if (!sent || sent->empty()) {
                log_locked(sent, redemption::outcome::unknown, {}, false);
                send_oauth_error(res, 400, "invalid_request", "refresh_token is required");
                return;
            }
            const auto it = refresh_tokens_.find(*sent);
            bool in_grace = false;
            if (it == refresh_tokens_.end() && options_.rotate_refresh_tokens && !omit_refresh) {
                if (const auto g = rotated_at_.find(*sent); g != rotated_at_.end()) {
                    const auto since = std::chrono::steady_clock::now() - g->second.first;
                    const auto virtual_since = now - g->second.second;
                    in_grace = since < options_.reuse_grace && virtual_since < options_.reuse_grace;
                    rotated_at_.erase(g); // once: the next presentation is a reuse
                }
            }
            if (!in_grace && (it == refresh_tokens_.end() || now >= it->second)) {
                auto outcome = redemption::outcome::unknown;
                bool revoked_now = false;
                if (const auto old = retired_.find(*sent); old != retired_.end()) {
                    outcome = redemption::outcome::reused;
                    if (options_.revoke_family_on_reuse) {
                        revoked_now = revoke_family_locked(old->second);
                    }
                } else if (revoked_.count(*sent) != 0) {
                    outcome = redemption::outcome::revoked;
                }
                log_locked(sent, outcome, {}, revoked_now);
                send_oauth_error(res, 400, "invalid_grant", "the refresh token is not valid");
                return;
            }
            family = family_of_locked(*sent);
            if (omit_refresh) {
                // The answer carries no refresh token: the one sent stays valid.
            } else if (options_.rotate_refresh_tokens) {
                if (!in_grace) {
                    refresh_tokens_.erase(it);
                    retired_[*sent] = family;
                    if (options_.reuse_grace.count() > 0) {
                        prune_grace_locked(now);
                        rotated_at_[*sent] = {std::chrono::steady_clock::now(), now};
                    }
                }
                refresh_token = random_token("rt-");
                refresh_tokens_[refresh_token] = now + options_.refresh_token_lifetime;
                family_[refresh_token] = family;
                latest_refresh_ = refresh_token;
            } else {
                refresh_token = *sent;
            }
            log_locked(sent,
                       in_grace ? redemption::outcome::grace
                       : refresh_token.empty() || refresh_token == *sent
                           ? redemption::outcome::kept
                           : redemption::outcome::rotated,
                       refresh_token, false);
        } else {
            const auto code = r.param("code");
            const auto redirect = r.param("redirect_uri");
            if (!code || code->empty() || !redirect) {
                send_oauth_error(res, 400, "invalid_request", "code and redirect_uri are required");
                return;
            }
            const auto it = codes_.find(*code);
            if (it == codes_.end()) {
                send_oauth_error(res, 400, "invalid_grant", "the code is not valid");
                return;
            }
            const auto [bound_uri, expires] = it->second;
            codes_.erase(it); // single use, even when the exchange fails below
            if (now >= expires || (!bound_uri.empty() && bound_uri != *redirect)) {
                send_oauth_error(res, 400, "invalid_grant", "the code is not valid");
                return;
            }
            family = ++families_;
            if (!omit_refresh) {
                refresh_token = random_token("rt-");
                refresh_tokens_[refresh_token] = now + options_.refresh_token_lifetime;
                family_[refresh_token] = family;
                latest_refresh_ = refresh_token;
            }
        }
        const std::string access = random_token("at-");
        std::string lifetime = std::to_string(options_.access_token_lifetime.count());
        std::string access_json = detail::json_string(access);
        if (reject_field == "expires_in") {
            lifetime = "-5"; // negative: the access token is unusable
        } else if (!reject_field.empty()) {
            access_json = "\"at-\\u0001-control\""; // a control byte: never a usable token
        } else {
            access_tokens_[access] = now + options_.access_token_lifetime;
            family_[access] = family;
        }
        std::string body = (reject_field == "missing" ? std::string("{\"access\":null")
                                                      : "{\"access_token\":" + access_json) +
                           ",\"token_type\":\"bearer\",\"expires_in\":" +
                           (options_.expires_in_as_string ? "\"" + lifetime + "\"" : lifetime);
        if (!refresh_token.empty()) {
            body += ",\"refresh_token\":" + detail::json_string(refresh_token);
        }
        body += "}";
        send_json(res, 200, body);
        if (hold_after.count() > 0) {
            // The token is rotated; the answer waits (the lock is released meanwhile).
            wake_.wait_for(lock, hold_after, [this] { return stopping_; });
        }
    }

    void log_locked(const std::optional<std::string>& presented, redemption::outcome o,
                    std::string_view issued, bool family_revoked) {
        redemption entry;
        entry.sequence = redemptions_.size() + 1;
        entry.at = now_locked();
        entry.presented = presented && !presented->empty() ? token_fingerprint(*presented) : "";
        entry.result = o;
        entry.issued = issued.empty() ? std::string() : token_fingerprint(issued);
        entry.family_revoked = family_revoked;
        redemptions_.push_back(std::move(entry));
    }

    std::uint64_t family_of_locked(const std::string& token) {
        const auto it = family_.find(token);
        if (it != family_.end()) {
            return it->second;
        }
        return family_[token] = ++families_;
    }

    /// Forgets the retired tokens whose grace is over.
    void prune_grace_locked(clock_time now) {
        const auto real_now = std::chrono::steady_clock::now();
        for (auto it = rotated_at_.begin(); it != rotated_at_.end();) {
            if (real_now - it->second.first >= options_.reuse_grace ||
                now - it->second.second >= options_.reuse_grace) {
                it = rotated_at_.erase(it);
            } else {
                ++it;
            }
        }
    }

    /// Revokes every live refresh and access token of `family` (and ends the
    /// grace of its retired ones); true when any live one was.
    bool revoke_family_locked(std::uint64_t family) {
        for (auto it = rotated_at_.begin(); it != rotated_at_.end();) {
            const auto f = family_.find(it->first);
            it = f != family_.end() && f->second == family ? rotated_at_.erase(it) : std::next(it);
        }
        bool any = false;
        const auto sweep = [&](std::map<std::string, clock_time>& tokens) {
            for (auto it = tokens.begin(); it != tokens.end();) {
                const auto f = family_.find(it->first);
                if (f != family_.end() && f->second == family) {
                    revoked_.insert(it->first);
                    it = tokens.erase(it);
                    any = true;
                } else {
                    ++it;
                }
            }
        };
        sweep(refresh_tokens_);
        sweep(access_tokens_);
        return any;
    }

    void file_endpoint(const recorded_request& r, httplib::Response& res, bool create) {
        const auto auth = r.header("Authorization");
        constexpr std::string_view bearer = "Bearer ";
        bool ok = false;
        if (auth && auth->size() > bearer.size() && auth->compare(0, bearer.size(), bearer) == 0) {
            const std::string token = auth->substr(bearer.size());
            std::lock_guard lock(mutex_);
            const auto it = access_tokens_.find(token);
            ok = it != access_tokens_.end() && now_locked() < it->second;
        }
        if (!ok) {
            res.set_header("WWW-Authenticate", "Bearer error=\"invalid_token\"");
            send_json(res, 401, R"({"error":"invalid_token"})");
            return;
        }
        std::optional<std::pair<int, std::string>> forced;
        {
            std::lock_guard lock(mutex_);
            if (!file_faults_.empty()) {
                forced = std::move(file_faults_.front());
                file_faults_.pop_front();
            }
        }
        if (forced) {
            send_json(res, forced->first, forced->second);
            return;
        }
        if (create) {
            if (r.method != "POST") {
                send_json(res, 405, R"({"error":"method_not_allowed"})");
                return;
            }
            const auto type = r.header("Content-Type").value_or("");
            if (type.rfind("application/json", 0) != 0) {
                send_json(res, 415, R"({"error":"unsupported_media_type"})");
                return;
            }
            send_json(res, 201,
                      "{\"created\":true,\"bytes\":" + std::to_string(r.body.size()) + "}");
            return;
        }
        send_json(res, 200,
                  R"({"files":[{"name":"report.docx","size":48213},)"
                  R"({"name":"budget.xlsx","size":10240}]})");
    }

    struct code_entry {
        std::string redirect_uri;
        clock_time expires;
    };

    fake_server_options options_;
    clock_time base_time_;
    std::chrono::seconds offset_{0};
    std::mt19937_64 rng_;
    mutable std::mutex mutex_;
    std::condition_variable wake_;
    bool stopping_ = false;
    std::map<std::string, clock_time> refresh_tokens_;
    std::map<std::string, clock_time> access_tokens_;
    std::map<std::string, code_entry> codes_;
    std::map<std::string, std::uint64_t> family_;  ///< token -> the first grant it descends from
    std::map<std::string, std::uint64_t> retired_; ///< rotated refresh tokens -> family
    std::set<std::string> revoked_;                ///< tokens revoked with their family
    /// Retired refresh tokens still within `reuse_grace`: when they were
    /// rotated, on the real and the virtual clock (only while a grace is set).
    std::map<std::string, std::pair<std::chrono::steady_clock::time_point, clock_time>> rotated_at_;
    std::uint64_t families_ = 0;
    std::string latest_refresh_;
    std::vector<redemption> redemptions_;
    std::deque<fault> faults_;
    std::deque<std::pair<int, std::string>> file_faults_;
    bool echo_ = false;
    std::vector<recorded_request> requests_;
    std::size_t oversize_written_ = 0;
    std::unique_ptr<httplib::Server> server_;
    std::thread thread_;
    std::uint16_t port_ = 0;
};

} // namespace babelbird::inline v1::testing
