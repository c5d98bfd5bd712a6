// Secret hygiene, checked:
// 1. every failing path (credentials, endpoint, refresh and code-exchange
//    requests, the parser over the hostile corpus and over echoing answers,
//    refresh() and exchange_code() with each kind of failure) runs with known
//    secret values, and no error message or kept OAuth text contains any of them;
// 2. heap blocks that held a Basic value, a URL with a token or a token are
//    zeroed before they are freed: a replacement operator delete inspects every
//    block it is handed back (the memory still belongs to it: no undefined
//    behaviour) and records any block that still holds a secret;
// 3. the parser's per-thread scratch memory holds no token byte after a parse;
// 4. simdjson's own buffers never receive a token (no reliance on its internals).
#include "hostile_corpus.hpp"
#include "support.hpp"

#include <doctest/doctest.h>
#include <simdjson.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <iterator>
#include <mutex>
#include <new>
#include <string>
#include <string_view>
#include <vector>

using babelbird::errc;
namespace ts = test_support;

// --- 2. A watch on freed heap blocks -------------------------------------------------------------
namespace {

/// Every block carries its size in a header, so operator delete can read the
/// block before giving it back.
struct alignas(std::max_align_t) block_header {
    std::size_t size;
};

struct free_watch {
    std::atomic<bool> armed{false};
    std::mutex lock;
    std::vector<std::string_view> needles; ///< set before arming, cleared after
    int dirty_blocks = 0;                  ///< freed blocks that still held a needle
    std::size_t watched_bytes = 0;
    // The first few dirty blocks: which needle, and the block's size (no
    // allocation may happen inside operator delete).
    std::size_t dirty_needle[8] = {};
    std::size_t dirty_size[8] = {};
};

free_watch& watch() {
    static free_watch* w = new free_watch; // never destroyed: used until exit
    return *w;
}

void inspect(const char* data, std::size_t size) {
    free_watch& w = watch();
    if (!w.armed.load(std::memory_order_acquire)) {
        return;
    }
    const std::lock_guard<std::mutex> guard(w.lock);
    w.watched_bytes += size;
    const std::string_view block(data, size);
    for (std::size_t i = 0; i < w.needles.size(); ++i) {
        if (!w.needles[i].empty() && block.find(w.needles[i]) != std::string_view::npos) {
            if (w.dirty_blocks < 8) {
                w.dirty_needle[w.dirty_blocks] = i;
                w.dirty_size[w.dirty_blocks] = size;
            }
            ++w.dirty_blocks;
            return;
        }
    }
}

void* allocate(std::size_t size) {
    // Zeroed: a block must hold a needle only if it was written after it was
    // allocated. malloc may hand back memory that an earlier, deliberately
    // unscrubbed block (a control case, the test's own strings) freed, and a
    // block its owner never writes in full (simdjson's uninitialised buffers)
    // would then be reported with that stale content.
    void* raw = std::calloc(1, sizeof(block_header) + (size == 0 ? 1 : size));
    if (raw == nullptr) {
        return nullptr;
    }
    static_cast<block_header*>(raw)->size = size;
    return static_cast<char*>(raw) + sizeof(block_header);
}

void release(void* p) noexcept {
    if (p == nullptr) {
        return;
    }
    char* raw = static_cast<char*>(p) - sizeof(block_header);
    inspect(static_cast<const char*>(p), reinterpret_cast<block_header*>(raw)->size);
    std::free(raw);
}

/// Arms the watch for its lifetime; `dirty()` counts the blocks freed meanwhile
/// that still held one of the needles.
class watch_frees {
public:
    explicit watch_frees(std::vector<std::string_view> needles) {
        const std::lock_guard<std::mutex> guard(watch().lock);
        watch().needles = std::move(needles);
        watch().dirty_blocks = 0;
        watch().watched_bytes = 0;
        watch().armed.store(true, std::memory_order_release);
    }
    watch_frees(const watch_frees&) = delete;
    watch_frees& operator=(const watch_frees&) = delete;
    ~watch_frees() { stop(); }
    void stop() {
        watch().armed.store(false, std::memory_order_release);
        const std::lock_guard<std::mutex> guard(watch().lock);
        watch().needles.clear();
    }
    int dirty() {
        // Copied under the lock, reported outside it: MESSAGE allocates and frees.
        int count = 0;
        std::size_t needle[8] = {};
        std::size_t size[8] = {};
        {
            const std::lock_guard<std::mutex> guard(watch().lock);
            count = watch().dirty_blocks;
            std::copy(std::begin(watch().dirty_needle), std::end(watch().dirty_needle), needle);
            std::copy(std::begin(watch().dirty_size), std::end(watch().dirty_size), size);
        }
        for (int i = 0; i < count && i < 8; ++i) {
            MESSAGE("freed unscrubbed: needle #" << needle[i] << " in a block of " << size[i]
                                                 << " bytes");
        }
        return count;
    }
    std::size_t watched_bytes() {
        const std::lock_guard<std::mutex> guard(watch().lock);
        return watch().watched_bytes;
    }
};

} // namespace

// Replacement allocation functions ([replacement.functions]) for the whole
// unit-test binary; only the watch above reads the blocks, and only when armed.
void* operator new(std::size_t size) {
    if (void* p = allocate(size)) {
        return p;
    }
    std::abort(); // the tests may be built without exceptions
}
void* operator new[](std::size_t size) {
    return operator new(size);
}
void* operator new(std::size_t size, const std::nothrow_t&) noexcept {
    return allocate(size);
}
void* operator new[](std::size_t size, const std::nothrow_t&) noexcept {
    return allocate(size);
}
void operator delete(void* p) noexcept {
    release(p);
}
void operator delete[](void* p) noexcept {
    release(p);
}
void operator delete(void* p, std::size_t) noexcept {
    release(p);
}
void operator delete[](void* p, std::size_t) noexcept {
    release(p);
}
void operator delete(void* p, const std::nothrow_t&) noexcept {
    release(p);
}
void operator delete[](void* p, const std::nothrow_t&) noexcept {
    release(p);
}

// A namespace per file: the unit tests are compiled as unity chunks.
namespace test_secret_hygiene {

// --- secret values -------------------------------------------------------------------------------
namespace {

// Longer than any small-string buffer, so they live on the heap.
constexpr std::string_view client_secret = "CLIENT-SECRET+/=:%!hygiene-0001";
constexpr std::string_view refresh_token = "RT+/=%hygiene-refresh-token-0002";
constexpr std::string_view access_token = "AT.hygiene-access-token-0003-xyz";
constexpr std::string_view new_refresh = "RT2.hygiene-rotated-refresh-0004";
constexpr std::string_view auth_code = "CODE.hygiene-authorization-0005";
// Secrets shaped like OAuth error codes, so that an echo could be kept as text.
constexpr std::string_view code_like_token = "hygienetoken0006abcdef";
constexpr std::string_view code_like_secret = "hygienesecret0007abcdef";

babelbird::client_credentials credentials(std::string_view secret = client_secret) {
    return babelbird::client_credentials::make("hygiene-client", secret).value();
}

std::string token_body() {
    return std::string(R"({"access_token":")") + std::string(access_token) +
           R"(","refresh_token":")" + std::string(new_refresh) + R"(","expires_in":3600})";
}

/// The answers a hostile or broken server could give, echoing the secrets.
std::vector<std::string> echoing_bodies() {
    std::vector<std::string> bodies;
    for (std::string_view s : {client_secret, refresh_token, access_token, new_refresh, auth_code,
                               code_like_token, code_like_secret}) {
        const std::string v(s);
        bodies.push_back(R"({"error":")" + v + R"("})");
        bodies.push_back(R"({"error":"invalid_grant","error_description":")" + v + R"("})");
        // Not a usable access token (an escaped CR LF; issue 10 allows inner spaces).
        bodies.push_back(R"({"access_token":")" + v + R"(\r\nx"})");
        bodies.push_back(R"({"access_token":")" + v + R"(","access_token":")" + v + R"("})");
        bodies.push_back(R"({"access_token":"a","expires_in":")" + v + R"("})");
        bodies.push_back(R"({"access_token":"a",")" + v + R"(":1})");
        bodies.push_back("<html><body>" + v + "</body></html>");
        bodies.push_back(v);
    }
    return bodies;
}

} // namespace

// --- 1. No secret in any error -------------------------------------------------------------------
TEST_CASE("secret hygiene: no failing path puts a secret into an error") {
    const std::string_view all_secrets[] = {
        client_secret,     refresh_token,    access_token,           new_refresh,
        auth_code,         code_like_token,  code_like_secret,       ts::client_secret,
        ts::refresh_token, ts::access_token, "at.HOSTILE-0123456789"};
    std::vector<babelbird::error> errors;
    auto collect = [&](const auto& r) {
        CHECK_FALSE(r.has_value());
        if (!r.has_value()) {
            errors.push_back(r.error());
        }
    };

    // Credentials.
    collect(babelbird::client_credentials::make("", client_secret));
    collect(babelbird::client_credentials::make("id\r\n", client_secret));
    collect(babelbird::client_credentials::make("id", std::string(client_secret) + "\n"));
    collect(babelbird::client_credentials::make("id", std::string(client_secret) + '\0'));
    collect(babelbird::client_credentials::make("id:x", client_secret));
    collect(babelbird::client_credentials::make("id", std::string(client_secret) + "\xC0\xAF"));
    collect(babelbird::client_credentials::make(std::string(client_secret) + ":", "x"));
    // Endpoints, with secrets in the URL.
    for (const std::string& url : {
             "https://h/x?refresh_token=" + std::string(refresh_token),
             "https://user:" + std::string(client_secret) + "@h/",
             "http://" + std::string(code_like_secret) + ".example.com",
             "https://h/" + std::string(access_token) + "#frag",
             "https://h/\r\n" + std::string(refresh_token),
             std::string(refresh_token),
         }) {
        collect(babelbird::endpoint::make(url));
    }
    babelbird::endpoint_paths paths;
    paths.refresh = std::string(refresh_token); // no leading '/'
    collect(babelbird::endpoint::make("https://h", paths));
    // Refresh and code-exchange requests with bad secrets.
    const auto server = ts::server();
    for (const std::string& bad :
         {std::string(refresh_token) + "\x7F", std::string(refresh_token) + "\r\nX-Evil: 1",
          std::string(refresh_token) + '\0', std::string(),
          std::string(refresh_token) + "\xC3\xA9"}) {
        collect(
            babelbird::build_refresh_request(credentials(), server, babelbird::secret_view(bad)));
        collect(babelbird::build_code_exchange_request(
            credentials(), server, babelbird::secret_view(bad), "https://app.example.com/cb"));
    }
    collect(babelbird::build_code_exchange_request(
        credentials(), server, babelbird::secret_view(auth_code),
        "https://app.example.com/cb?" + std::string(refresh_token) + "#x"));

    // The authorization callback, with the code and the expected data secret.
    const std::string code = babelbird::percent_encode(auth_code);
    const std::string other = babelbird::percent_encode(refresh_token);
    for (const std::string& query : {
             "code=" + code + "&code=" + code,
             "code=" + code + "%0D%0A",
             "code=" + code + "&data=" + other,
             "code=" + code,
             "error=access_denied&error_description=" + other + "&code=" + code,
             "error=" + other,
             "error=" + code + "&data=" + babelbird::percent_encode(new_refresh),
             "code=" + code + "%ZZ",
             "code=" + code + "%C0%AF",
             "data=" + babelbird::percent_encode(new_refresh),
             "code=" + code + "+x",
             "code=" + code + "\t",
         }) {
        collect(babelbird::parse_callback_query(query, new_refresh));
        collect(babelbird::parse_callback_url("https://app.example.com/cb?" + query, new_refresh));
    }

    // The parser: every status class over echoing bodies, then the hostile corpus.
    const auto bodies = echoing_bodies();
    for (int status : {101, 200, 204, 302, 400, 401, 403, 429, 500, 503}) {
        for (const auto& body : bodies) {
            const auto r = babelbird::parse_token_response(status, body);
            if (r.has_value()) {
                continue; // the last echo shapes are not all errors
            }
            // The parser alone keeps an unknown code that looks like one: only
            // the client functions know which secrets were sent.
            if (r.error().oauth_code() == babelbird::oauth_error::other &&
                (body.find(code_like_token) != std::string::npos ||
                 body.find(code_like_secret) != std::string::npos)) {
                continue;
            }
            errors.push_back(r.error());
        }
    }
    std::vector<std::string> problems;
    for (const auto& e : hostile::load(problems)) {
        babelbird::response_options options;
        options.envelope = e.envelope;
        const auto r = babelbird::parse_token_response(e.status, e.body, options);
        if (!r) {
            errors.push_back(r.error());
        }
    }
    CHECK(problems.empty());

    // refresh() and exchange_code() with every kind of failure, echoing what was sent.
    for (std::string_view sent_secret : {client_secret, code_like_secret}) {
        for (std::string_view sent_token : {refresh_token, code_like_token}) {
            const auto creds = credentials(sent_secret);
            ts::recording_transport transport;
            for (errc failure : {errc::timeout, errc::connection_refused, errc::connection_reset,
                                 errc::partial_body, errc::transport_failure}) {
                transport.failure = babelbird::error::transport(failure);
                collect(babelbird::refresh(transport, creds, server,
                                           babelbird::secret_view(sent_token)));
                collect(babelbird::exchange_code(transport, creds, server,
                                                 babelbird::secret_view(sent_token),
                                                 "https://app.example.com/cb"));
            }
            transport.failure.reset();
            for (int status : {200, 302, 400, 401, 429, 500, 503}) {
                for (std::string_view echoed : {sent_secret, sent_token}) {
                    for (const std::string& body :
                         {R"({"error":")" + std::string(echoed) + R"("})",
                          R"({"access_token":")" + std::string(echoed) + R"( "})",
                          "<p>" + std::string(echoed) + "</p>"}) {
                        transport.answer = babelbird::http_response(status, body);
                        collect(babelbird::refresh(transport, creds, server,
                                                   babelbird::secret_view(sent_token)));
                        collect(babelbird::exchange_code(transport, creds, server,
                                                         babelbird::secret_view(sent_token),
                                                         "https://app.example.com/cb"));
                    }
                }
            }
        }
    }

    CHECK(errors.size() > 400);
    int checked = 0;
    for (const auto& e : errors) {
        const std::string m = e.message();
        const std::string_view kept = e.oauth_error_text();
        CHECK_FALSE(m.empty());
        for (std::string_view s : all_secrets) {
            CHECK(m.find(s) == std::string::npos);
            CHECK(kept.find(s) == std::string_view::npos);
        }
        CHECK(m.find("hygiene") == std::string::npos);
        CHECK(m.find("HOSTILE") == std::string::npos);
        ++checked;
    }
    MESSAGE(checked << " errors checked");
    for (const auto& m : ts::observed_messages()) {
        for (std::string_view s : all_secrets) {
            CHECK(m.find(s) == std::string::npos);
        }
    }
}

// --- 2. Freed heap blocks hold no secret ---------------------------------------------------------
TEST_CASE("secret hygiene: the watch on freed blocks sees an unscrubbed string") {
    // The control experiment: a plain std::string is not scrubbed.
    watch_frees w({access_token});
    {
        std::string plain(access_token);
        plain += " and more bytes to be sure it is on the heap";
    }
    CHECK(w.dirty() >= 1);
    w.stop();
}

TEST_CASE("secret hygiene: requests, answers and grants are zeroed before they are freed") {
    // Everything the test itself builds from the secrets is built before the
    // watch starts and freed after it stops.
    const auto creds = credentials();
    const std::string basic = creds.basic_authorization_string();
    const std::string encoded_token = babelbird::percent_encode(refresh_token);
    const std::string encoded_code = babelbird::percent_encode(auth_code);
    const auto server = ts::server();
    const std::string ok_body = token_body();
    const std::string failed_body =
        R"({"error":"invalid_grant","x":")" + std::string(refresh_token) + "\"}";
    const std::string escaped = R"({"access_token":"AT.hygiene\u002daccess-token-0003-xyz"})";
    const std::string large =
        R"({"pad":")" + std::string(100000, 'p') + R"(",)" + token_body().substr(1);
    const std::string long_token(200, 'L');
    const babelbird::http_response long_answer(200, std::string(500, 'x'));
    ts::recording_transport transport;
    transport.answer = babelbird::http_response(200, ok_body);

    watch_frees w({client_secret, refresh_token, encoded_token, access_token, new_refresh,
                   auth_code, encoded_code, std::string_view(basic).substr(6)});
    {
        // The builders, their temporaries and the request's own storage.
        auto r =
            babelbird::build_refresh_request(creds, server, babelbird::secret_view(refresh_token));
        REQUIRE(r);
        CHECK(r->url.find(encoded_token) != std::string::npos);
        auto copy = *r; // copies are scrubbed too
        auto moved = std::move(copy);
        moved.set_header("Authorization", basic); // the replaced value is scrubbed
        auto c = babelbird::build_code_exchange_request(
            creds, server, babelbird::secret_view(auth_code), "https://app.example.com/cb");
        REQUIRE(c);
        CHECK(creds.basic_authorization().expose_secret() == basic);
        // Assigning over a request or an answer zeros what it held, even when
        // the new value needs a larger buffer and the old one is freed.
        auto longer =
            babelbird::build_refresh_request(creds, server, babelbird::secret_view(long_token));
        REQUIRE(longer);
        auto assigned =
            babelbird::build_refresh_request(creds, server, babelbird::secret_view(refresh_token));
        REQUIRE(assigned);
        *assigned = *longer;
        *assigned =
            babelbird::build_refresh_request(creds, server, babelbird::secret_view(refresh_token))
                .value();
        *assigned = std::move(*longer);
        babelbird::http_response answer(200, ok_body);
        answer = long_answer;
        answer = babelbird::http_response(200, ok_body);
        answer = babelbird::http_response(200, long_answer.body);
    }
    {
        // The whole exchange: request, transport copies, the answer, the parse, the grant.
        auto grant =
            babelbird::refresh(transport, creds, server, babelbird::secret_view(refresh_token));
        REQUIRE(grant);
        CHECK(grant->access_token.expose_secret() == access_token);
        auto code_grant =
            babelbird::exchange_code(transport, creds, server, babelbird::secret_view(auth_code),
                                     "https://app.example.com/cb");
        REQUIRE(code_grant);
        // A failure, and an answer replaced by assignment.
        transport.answer = babelbird::http_response(400, failed_body);
        CHECK_FALSE(
            babelbird::refresh(transport, creds, server, babelbird::secret_view(refresh_token)));
        transport.requests.clear();
        transport.requests.shrink_to_fit();
    }
    {
        // A parse on its own, with escapes (unescaped copies) and a large body
        // (the scratch grows and is given back).
        CHECK(babelbird::parse_token_response(200, escaped));
        CHECK(babelbird::parse_token_response(200, large));
    }
    CHECK(w.watched_bytes() > 100000);
    CHECK(w.dirty() == 0);
    w.stop();
}

// --- 3. The parser's scratch memory --------------------------------------------------------------
namespace {
constexpr char marker = '\x5A';

void mark_scratch() {
    auto m = babelbird::detail::json_scratch::for_this_thread().memory_for_testing();
    std::memset(m.body_copy.data(), marker, m.body_copy.size());
    std::memset(m.strings.data(), marker, m.strings.size());
}

/// After a parse: no secret anywhere in the scratch memory, and the unescape
/// arena holds only bytes the parse did not touch (the marker) or zeros
/// (none when the body had no escapes).
void check_scratch(const std::vector<std::string_view>& secrets, bool escapes) {
    auto m = babelbird::detail::json_scratch::for_this_thread().memory_for_testing();
    const std::string_view copy(m.body_copy.data(), m.body_copy.size());
    const std::string_view strings(m.strings.data(), m.strings.size());
    CHECK(strings.size() > 0);
    for (std::string_view s : secrets) {
        CHECK(copy.find(s) == std::string_view::npos);
        CHECK(strings.find(s) == std::string_view::npos);
    }
    std::size_t touched = 0;
    for (char ch : strings) {
        CHECK((ch == marker || ch == '\0'));
        touched += ch == '\0' ? 1 : 0;
    }
    CHECK((touched == 0 || escapes));
}
} // namespace

TEST_CASE("secret hygiene: the parser's scratch memory holds no token after a parse") {
    // Size the scratch, then parse each shape over marked memory.
    CHECK(babelbird::parse_token_response(200, std::string(4096, ' ') + token_body()));
    const std::vector<std::string_view> secrets = {access_token, new_refresh,
                                                   access_token.substr(0, 8)};
    const std::string a(access_token);
    const std::string r(new_refresh);
    const std::string shapes[] = {
        // The token right after the last key simdjson unescapes: its block copy
        // of the key used to carry the token into the string buffer.
        R"({"access_token":")" + a + R"("})",
        R"({"x":1,"access_token":")" + a + R"("})",
        token_body(),
        // Escaped tokens are unescaped into the arena.
        R"({"access_token":")" + a.substr(0, 4) + R"(\u002d)" + a.substr(5) + R"("})",
        // Failures after a token was read, and inside an envelope.
        R"({"access_token":")" + a + R"(","access_token":")" + r + R"("})",
        R"({"data":{"access_token":")" + a + R"(\/","access_token":"b"}})",
        R"({"access_token":")" + a + R"(\u12"})",
        R"({"error":"invalid_grant","error_description":"token )" + r + R"( expired"})",
    };
    for (const auto& body : shapes) {
        CAPTURE(body);
        for (std::string_view envelope : {std::string_view(), std::string_view("/data")}) {
            mark_scratch();
            babelbird::response_options options;
            options.envelope = envelope;
            (void)babelbird::parse_token_response(200, body, options);
            check_scratch(secrets, body.find('\\') != std::string::npos);
        }
    }
}

// --- 4. No reliance on simdjson's internals
// -------------------------------------------------------- The parser never asks simdjson to
// unescape (answers/detail/json_scratch.hpp), so simdjson's string buffer never holds a token and
// nothing needs to locate or zero it. The proof watches the blocks simdjson frees: if a simdjson
// version (or a change here) wrote unescaped tokens into its own buffers, this test would see them
// when the parser's buffers are freed.
TEST_CASE("secret hygiene: simdjson's own buffers never receive a token") {
    // Tokens used nowhere else in this binary, so that stale heap contents
    // of other tests (their own unscrubbed strings) cannot look like a leak.
    const auto bodies_for = [](std::string_view a, std::string_view r) {
        const std::string at(a);
        const std::string rt(r);
        const std::size_t dash = at.find('-');
        const std::string escaped = at.substr(0, dash) + "\\u002d" + at.substr(dash + 1);
        return std::vector<std::string>{
            R"({"access_token":")" + escaped + R"(","refresh_token":")" + rt + R"("})",
            R"({"acc\u0065ss_token":")" + at + R"(","x":")" + rt + R"(\n"})",
            R"({"x":{"k\u0065y":")" + at + R"(\/"},"refresh_token":")" + rt + R"(\u0020"})",
            R"({"access_token":")" + escaped + R"(","expires_in":"x","refresh_token":")" + rt +
                R"(\t"})",
            R"({"data":{"access_token":")" + escaped + R"("}})",
        };
    };

    SUBCASE("control: the watch sees a token simdjson itself unescaped") {
        constexpr std::string_view probe = "AT.simdjson-control-0009-abcdefgh";
        const auto bodies = bodies_for(probe, "RT.simdjson-control-0010-abcdefgh");
        watch_frees w({probe});
        {
            simdjson::ondemand::parser parser;
            simdjson::padded_string padded(bodies[0]);
            simdjson::ondemand::document doc;
            REQUIRE(parser.iterate(padded).get(doc) == simdjson::SUCCESS);
            std::string_view t;
            REQUIRE(doc["access_token"].get_string().get(t) == simdjson::SUCCESS);
            CHECK(t == probe);
        }
        CHECK(w.dirty() >= 1);
        w.stop();
    }
    SUBCASE("the library's parses leave nothing in simdjson's buffers") {
        constexpr std::string_view a = "AT.simdjson-library-0011-abcdefgh";
        constexpr std::string_view r = "RT.simdjson-library-0012-abcdefgh";
        const auto bodies = bodies_for(a, r);
        const std::string large = R"({"pad":")" + std::string(300000, 'p') + R"(",)" +
                                  R"("access_token":"L","refresh_token":"L2"})";
        watch_frees w({a, r});
        for (const auto& body : bodies) {
            CAPTURE(body);
            for (std::string_view envelope : {std::string_view(), std::string_view("/data")}) {
                babelbird::response_options options;
                options.envelope = envelope;
                (void)babelbird::parse_token_response(200, body, options);
            }
        }
        // A large body makes the parser reallocate, and release() then drops
        // it: every buffer simdjson had is freed under the watch.
        CHECK(babelbird::parse_token_response(200, large));
        CHECK(w.dirty() == 0);
        w.stop();
    }
}

} // namespace test_secret_hygiene
