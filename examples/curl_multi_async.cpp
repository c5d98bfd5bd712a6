// Async without Asio: babelbird's async_token_source and async_send_authorized
// running on a libcurl multi loop, on one thread, without Boost. A program to
// copy and adapt (README.md, "Async without Asio: a libcurl multi loop").
//
//   export BABELBIRD_CLIENT_ID=... BABELBIRD_CLIENT_SECRET=... BABELBIRD_REFRESH_TOKEN=...
//   curl_multi_async https://disk.example.com/babel [calls]
//
// It sends `calls` (default 8) GET /api/v1/file/list requests at once, each
// with a Bearer token from one async_token_source: the first refreshes, the
// others join that refresh, and a call whose token is rejected (401) gets a
// fresh one and is retried once. It prints one line and never a secret:
//   calls=8 ok=8 failed=0 grants=1 http_requests=9 max_in_flight=8 ms=12
// (grants: new grants the rotation hook saw; http_requests: exchanges started,
// token requests included; max_in_flight: the most transfers running at once).
// Exit status: 0 when every call got a 2xx answer, 1 otherwise, 2 for bad input.
// Secrets come only from the environment: argv is visible to other users.
// Needs libcurl >= 7.68 (curl_multi_poll, curl_multi_wakeup).
//
// The pieces:
// - curl_loop, the event loop: run() turns curl_multi_perform (move every
//   transfer on), curl_multi_info_read (finished ones) and curl_multi_poll
//   (sleep until a socket is ready or post() wakes it with curl_multi_wakeup).
// - loop_executor, babelbird's `executor`: post(fn) queues fn on the loop.
// - multi_transport, babelbird's `async_transport`: async_send(request, done)
//   copies the request and posts its start; the loop thread adds an easy handle
//   to the multi handle and later calls `done` with the answer or with
//   error::transport(errc::...), mapped as include/babelbird/adapters/curl.hpp
//   does. Both are used from the loop thread only, so they need no lock.
#include <babelbird/babelbird.hpp>

#include <curl/curl.h>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace {

namespace bb = babelbird;

/// Zeroes bytes before their memory is freed: token answers and the Bearer
/// header pass through these buffers.
void wipe(char* data, std::size_t size) noexcept {
    volatile char* p = data;
    for (std::size_t i = 0; i < size; ++i) {
        p[i] = 0;
    }
}

/// No CR, LF or other control byte: such a byte in a header would let a value
/// inject a header of its own.
bool header_safe(std::string_view s) noexcept {
    return std::none_of(s.begin(), s.end(), [](char c) {
        return static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) == 0x7f;
    });
}

/// One exchange: the request (a copy; curl reads the URL, headers and body from
/// it), the answer as it arrives, and the completion to call at the end.
struct transfer {
    bb::http_request request; // zeroes its URL, header values and body when destroyed
    bb::transport_completion done;
    long timeout_ms;
    std::size_t max_body;
    CURL* easy = nullptr;
    curl_slist* headers = nullptr;
    std::string body;
    std::vector<bb::http_header> response_headers;
    std::size_t header_bytes = 0;
    bool too_large = false;

    transfer(const bb::http_request& r, bb::transport_completion&& d, long timeout, std::size_t cap)
        : request(r), done(std::move(d)), timeout_ms(timeout), max_body(cap) {}
    transfer(const transfer&) = delete;
    transfer& operator=(const transfer&) = delete;
    ~transfer() {
        if (easy != nullptr) {
            curl_easy_cleanup(easy);
        }
        for (curl_slist* h = headers; h != nullptr; h = h->next) {
            wipe(h->data, std::strlen(h->data));
        }
        curl_slist_free_all(headers);
        wipe(body.data(), body.size());
    }
};

// libcurl's callbacks. noexcept: an exception must not cross libcurl's C frames
// (running out of memory here ends the program).
std::size_t on_body(char* data, std::size_t size, std::size_t count, void* user) noexcept {
    auto& t = *static_cast<transfer*>(user);
    const std::size_t n = size * count;
    if (n > t.max_body - t.body.size()) {
        t.too_large = true;
        return 0; // aborts the transfer: the cap holds while receiving
    }
    if (t.body.size() + n > t.body.capacity()) {
        // Grow into a fresh buffer and wipe the old one, so no copy is left behind.
        std::string grown;
        grown.reserve(std::min(t.max_body, std::max(t.body.size() + n, 2 * t.body.capacity())));
        grown.append(t.body);
        wipe(t.body.data(), t.body.size());
        t.body.swap(grown);
    }
    t.body.append(data, n);
    return n;
}

std::size_t on_header(char* data, std::size_t size, std::size_t count, void* user) noexcept {
    auto& t = *static_cast<transfer*>(user);
    const std::size_t n = size * count;
    t.header_bytes += n;
    if (t.header_bytes > 64 * 1024) {
        t.too_large = true;
        return 0;
    }
    std::string_view line(data, n);
    while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) {
        line.remove_suffix(1);
    }
    if (line.starts_with("HTTP/")) {
        t.response_headers.clear(); // a new status line (after a 100 Continue)
        return n;
    }
    const std::size_t colon = line.find(':');
    if (colon != std::string_view::npos && colon > 0) {
        std::string_view value = line.substr(colon + 1);
        const std::size_t first = value.find_first_not_of(" \t");
        value = first == std::string_view::npos ? std::string_view() : value.substr(first);
        value = value.substr(0, value.find_last_not_of(" \t") + 1);
        t.response_headers.push_back({std::string(line.substr(0, colon)), std::string(value)});
    }
    return n;
}

/// Makes the easy handle of `t`; false when libcurl refuses.
bool configure(transfer& t) {
    CURL* h = t.easy = curl_easy_init();
    if (h == nullptr) {
        return false;
    }
    for (const auto& header : t.request.headers) {
        // "Name;" is curl's spelling of a header with an empty value.
        std::string line = header.name + (header.value.empty() ? ";" : ": ") + header.value;
        curl_slist* next = curl_slist_append(t.headers, line.c_str());
        wipe(line.data(), line.size()); // it may hold the Bearer token
        if (next == nullptr) {
            return false;
        }
        t.headers = next;
    }
    // Send only what the request says: curl's default Accept, Content-Type and Expect are off.
    for (const char* name : {"Accept", "Content-Type", "Expect"}) {
        if (!t.request.header(name)) {
            curl_slist* next = curl_slist_append(t.headers, (std::string(name) + ":").c_str());
            if (next == nullptr) {
                return false;
            }
            t.headers = next;
        }
    }
    const auto body_size = static_cast<curl_off_t>(t.request.body.size());
    bool ok = curl_easy_setopt(h, CURLOPT_URL, t.request.url.c_str()) == CURLE_OK;
    ok = ok && curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L) == CURLE_OK;
    ok = ok && curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L) == CURLE_OK; // a 3xx is an answer
#if LIBCURL_VERSION_NUM >= 0x075500
    ok = ok && curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https") == CURLE_OK;
#else
    ok = ok && curl_easy_setopt(h, CURLOPT_PROTOCOLS, CURLPROTO_HTTP | CURLPROTO_HTTPS) == CURLE_OK;
#endif
    ok = ok && curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, t.timeout_ms) == CURLE_OK;
    ok = ok && curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, t.timeout_ms) == CURLE_OK;
    ok = ok && curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L) == CURLE_OK;
    ok = ok && curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L) == CURLE_OK;
    ok = ok && curl_easy_setopt(h, CURLOPT_MAXFILESIZE_LARGE,
                                static_cast<curl_off_t>(t.max_body)) == CURLE_OK;
    ok = ok && curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, &on_body) == CURLE_OK;
    ok = ok && curl_easy_setopt(h, CURLOPT_WRITEDATA, static_cast<void*>(&t)) == CURLE_OK;
    ok = ok && curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, &on_header) == CURLE_OK;
    ok = ok && curl_easy_setopt(h, CURLOPT_HEADERDATA, static_cast<void*>(&t)) == CURLE_OK;
    ok = ok && curl_easy_setopt(h, CURLOPT_HTTPHEADER, t.headers) == CURLE_OK;
    if (t.request.method == "GET" && body_size == 0) {
        return ok && curl_easy_setopt(h, CURLOPT_HTTPGET, 1L) == CURLE_OK;
    }
    if (t.request.method == "HEAD" && body_size == 0) { // else curl waits for a body
        return ok && curl_easy_setopt(h, CURLOPT_NOBODY, 1L) == CURLE_OK;
    }
    ok = ok && curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, body_size) == CURLE_OK;
    ok = ok && curl_easy_setopt(h, CURLOPT_POSTFIELDS, t.request.body.data()) == CURLE_OK;
    if (t.request.method != "POST") {
        ok = ok && curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, t.request.method.c_str()) == CURLE_OK;
    }
    return ok;
}

/// The error of a failed transfer, as adapters/curl.hpp maps it. curl's own
/// error text is never kept: it may quote the URL, which may carry a token.
bb::error error_of(CURLcode code, const transfer& t, long status) {
    if (t.too_large || code == CURLE_FILESIZE_EXCEEDED) {
        const bool retry = status == 408 || status == 429 || (status >= 500 && status <= 599);
        return bb::error::server(bb::errc::body_too_large,
                                 retry ? bb::error_class::retry : bb::error_class::protocol,
                                 static_cast<int>(status));
    }
    switch (code) {
    case CURLE_OPERATION_TIMEDOUT:
        return bb::error::transport(bb::errc::timeout);
    case CURLE_COULDNT_CONNECT:
        return bb::error::transport(bb::errc::connection_refused);
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
        return bb::error::transport(bb::errc::connection_reset);
    case CURLE_PARTIAL_FILE:
        return bb::error::transport(bb::errc::partial_body);
    case CURLE_URL_MALFORMAT:
    case CURLE_UNSUPPORTED_PROTOCOL:
        return bb::error::usage(bb::errc::invalid_url);
    case CURLE_PEER_FAILED_VERIFICATION: // signing in again cannot fix these: the TLS setup must
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_CRL_BADFILE:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
        return {bb::errc::tls_verification_failed, bb::error_class::configuration,
                bb::error_origin::transport};
    default:
        return bb::error::transport(bb::errc::transport_failure);
    }
}

/// The event loop: one thread runs run(); post() and stop() may be called from any.
class curl_loop {
public:
    curl_loop() : multi_(curl_multi_init()) {}
    curl_loop(const curl_loop&) = delete;
    curl_loop& operator=(const curl_loop&) = delete;
    /// Drops what is left: a transfer's completion destroyed uncalled tells
    /// babelbird that no answer will come.
    ~curl_loop() {
        for (auto& [easy, t] : transfers_) {
            curl_multi_remove_handle(multi_, easy);
        }
        transfers_.clear();
        for (;;) { // dropping work may post more (a completion destroyed uncalled reports)
            std::deque<bb::posted_work> left;
            {
                std::lock_guard lock(mutex_);
                left.swap(queue_);
            }
            if (left.empty()) {
                break;
            }
        }
        curl_multi_cleanup(multi_);
    }

    bool valid() const noexcept { return multi_ != nullptr; }
    std::size_t started() const noexcept { return started_; }
    std::size_t max_in_flight() const noexcept { return max_in_flight_; }

    /// Queues `fn` for the loop thread and wakes the loop (never runs it here).
    void post(bb::posted_work fn) {
        {
            std::lock_guard lock(mutex_);
            queue_.push_back(std::move(fn));
        }
        curl_multi_wakeup(multi_);
    }

    /// Makes run() return after its current turn.
    void stop() {
        {
            std::lock_guard lock(mutex_);
            stopping_ = true;
        }
        curl_multi_wakeup(multi_);
    }

    /// Loop thread only: adds the transfer to the multi handle.
    void start(std::unique_ptr<transfer> t) {
        ++started_;
        if (!configure(*t)) {
            t->done(bb::error::transport(bb::errc::transport_failure));
            return;
        }
        CURL* easy = t->easy;
        transfers_.emplace(easy, std::move(t));
        if (curl_multi_add_handle(multi_, easy) != CURLM_OK) {
            transfers_.extract(easy).mapped()->done(
                bb::error::transport(bb::errc::transport_failure));
            return;
        }
        max_in_flight_ = std::max(max_in_flight_, transfers_.size());
    }

    /// Runs the loop on the calling thread until stop().
    void run() {
        for (;;) {
            std::deque<bb::posted_work> turn; // what was posted before this turn
            {
                std::lock_guard lock(mutex_);
                turn.swap(queue_);
            }
            for (auto& fn : turn) {
                fn();
            }
            int running = 0;
            curl_multi_perform(multi_, &running);
            finish_transfers();
            bool more = false;
            {
                std::lock_guard lock(mutex_);
                if (stopping_) {
                    return;
                }
                more = !queue_.empty();
            }
            curl_multi_poll(multi_, nullptr, 0, more ? 0 : 1000, nullptr);
        }
    }

private:
    void finish_transfers() {
        int left = 0;
        while (CURLMsg* msg = curl_multi_info_read(multi_, &left)) {
            if (msg->msg != CURLMSG_DONE) {
                continue;
            }
            CURL* easy = msg->easy_handle;
            const CURLcode code = msg->data.result; // msg dies with the removal below
            curl_multi_remove_handle(multi_, easy);
            const std::unique_ptr<transfer> t = std::move(transfers_.extract(easy).mapped());
            long status = 0;
            curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
            if (code == CURLE_OK) {
                t->done(bb::http_response(static_cast<int>(status), std::move(t->body),
                                          std::move(t->response_headers)));
            } else {
                t->done(error_of(code, *t, status));
            }
        }
    }

    CURLM* multi_;
    std::mutex mutex_;
    std::deque<bb::posted_work> queue_; // guarded by mutex_
    bool stopping_ = false;             // guarded by mutex_
    std::unordered_map<CURL*, std::unique_ptr<transfer>> transfers_;
    std::size_t started_ = 0;
    std::size_t max_in_flight_ = 0;
};

/// babelbird's `executor`.
struct loop_executor {
    curl_loop* loop;
    void post(bb::posted_work fn) { loop->post(std::move(fn)); }
};

/// babelbird's `async_transport`: whole-exchange timeout, body cap, no
/// redirects, TLS verification on.
struct multi_transport {
    curl_loop* loop;
    long timeout_ms = 30000;
    std::size_t max_body = std::size_t{1} << 20;

    void async_send(const bb::http_request& request, bb::transport_completion&& done) {
        bool safe = header_safe(request.method) && header_safe(request.url);
        for (const auto& h : request.headers) {
            safe = safe && header_safe(h.name) && header_safe(h.value);
        }
        if (!safe) {
            done(bb::error::usage(bb::errc::control_character)); // allowed inside async_send
            return;
        }
        auto t = std::make_unique<transfer>(request, std::move(done), timeout_ms, max_body);
        loop->post([l = loop, t = std::move(t)]() mutable { l->start(std::move(t)); });
    }
};

/// Sends `calls` authorized requests at once; prints the summary line.
int run(bb::client_credentials credentials, bb::endpoint server, bb::token_seed seed,
        const bb::http_request& list, std::size_t calls) {
    curl_loop loop; // declared first: destroyed after the source, which posts to it
    if (!loop.valid()) {
        std::fputs("curl_multi_async: curl_multi_init failed\n", stderr);
        return 1;
    }
    std::size_t grants = 0;
    bb::async_token_source_options options;
    options.on_rotate = [&grants](std::shared_ptr<const bb::token_grant>,
                                  bb::persist_completion done) {
        // Store the grant's refresh_token here (it replaces the one you had;
        // asynchronously if you like), then report whether it is stored.
        ++grants;
        done(true);
    };
    bb::async_token_source source(multi_transport{&loop}, loop_executor{&loop},
                                  std::move(credentials), std::move(server), std::move(seed),
                                  std::move(options));
    multi_transport files{&loop};

    std::size_t ok = 0;
    std::size_t remaining = calls;
    std::string failure; // the first failure, secret-free
    const auto began = std::chrono::steady_clock::now();
    for (std::size_t i = 0; i < calls; ++i) {
        // Each completion runs on the loop thread (posted to loop_executor).
        bb::async_send_authorized(
            files, source, list, bb::send_options{}, [&](bb::result<bb::http_response> answer) {
                if (answer && answer->status / 100 == 2) {
                    ++ok;
                } else if (failure.empty()) {
                    failure = answer ? "HTTP " + std::to_string(answer->status)
                                     : std::string(bb::to_string(answer.error().kind())) + ": " +
                                           answer.error().message();
                }
                if (--remaining == 0) {
                    loop.stop();
                }
            });
    }
    loop.run();
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
        std::chrono::steady_clock::now() - began);
    std::printf("calls=%zu ok=%zu failed=%zu grants=%zu http_requests=%zu max_in_flight=%zu "
                "ms=%lld%s%s\n",
                calls, ok, calls - ok, grants, loop.started(), loop.max_in_flight(),
                static_cast<long long>(ms.count()),
                failure.empty() ? "" : " first_failure=", failure.c_str());
    return ok == calls ? 0 : 1;
}

int usage(const char* what) {
    std::fprintf(stderr,
                 "curl_multi_async: %s\nusage: curl_multi_async BASE_URL [CALLS] (1..1000), "
                 "with BABELBIRD_CLIENT_ID, BABELBIRD_CLIENT_SECRET and BABELBIRD_REFRESH_TOKEN "
                 "in the environment\n",
                 what);
    return 2;
}

} // namespace

int main(int argc, char** argv) {
    const char* id = std::getenv("BABELBIRD_CLIENT_ID");
    const char* secret = std::getenv("BABELBIRD_CLIENT_SECRET");
    const char* refresh_token = std::getenv("BABELBIRD_REFRESH_TOKEN");
    if (argc < 2 || argc > 3 || id == nullptr || secret == nullptr || refresh_token == nullptr) {
        return usage("missing arguments or environment");
    }
    const long calls = argc == 3 ? std::strtol(argv[2], nullptr, 10) : 8;
    if (calls < 1 || calls > 1000) {
        return usage("CALLS must be 1..1000");
    }
    auto credentials = bb::client_credentials::make(id, secret);
    auto server = bb::endpoint::make(argv[1]);
    auto seed = bb::token_seed::from_refresh_token(bb::secret_view(refresh_token));
    if (!credentials || !server || !seed) {
        const bb::error e = !credentials ? credentials.error()
                            : !server    ? server.error()
                                         : seed.error();
        return usage(e.message().c_str()); // secret-free
    }
    const auto list = bb::build_file_api_request(*server, {.path = "/api/v1/file/list"});
    if (!list) {
        return usage(list.error().message().c_str());
    }
    // Before any other thread starts (libcurl < 7.84 needs it).
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        std::fputs("curl_multi_async: curl_global_init failed\n", stderr);
        return 1;
    }
    const int status = run(std::move(*credentials), std::move(*server), std::move(*seed), *list,
                           static_cast<std::size_t>(calls));
    curl_global_cleanup();
    return status;
}
