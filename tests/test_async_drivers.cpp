// The async drivers besides async_token_source: unique_function, the
// async_transport and executor concepts, async_refresh / async_exchange_code,
// and async_send_authorized with its one retry; deterministic (a manual
// transport and a queue the test drains).
#include "async_support.hpp"

#include <doctest/doctest.h>

#include <array>
#include <chrono>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>

// A namespace per file: the unit tests are compiled as unity chunks.
namespace test_async_drivers {

using namespace std::chrono_literals;
namespace ts = test_support;

namespace {

const babelbird::time_point t0 = babelbird::time_point(std::chrono::seconds(1'700'000'000));

struct counted {
    int* destroyed;
    explicit counted(int* d) : destroyed(d) {}
    counted(counted&& other) noexcept : destroyed(std::exchange(other.destroyed, nullptr)) {}
    counted& operator=(counted&&) = delete;
    ~counted() {
        if (destroyed != nullptr) {
            ++*destroyed;
        }
    }
};

// The concepts accept the test doubles and reject the blocking shapes.
struct blocking_transport {
    babelbird::transport_result operator()(const babelbird::http_request&) {
        return babelbird::http_response{};
    }
};
struct copy_only_executor {
    void execute(std::function<void()>) {}
};
static_assert(babelbird::async_transport<ts::manual_transport>);
static_assert(babelbird::async_transport<ts::manual_transport_ref>);
static_assert(!babelbird::async_transport<blocking_transport>);
static_assert(babelbird::executor<ts::manual_executor>);
static_assert(babelbird::executor<ts::pool_executor>);
static_assert(!babelbird::executor<copy_only_executor>);
static_assert(babelbird::async_token_provider<
              babelbird::async_token_source<ts::manual_transport_ref, ts::manual_executor>>);
static_assert(!babelbird::async_token_provider<babelbird::token_source<blocking_transport>>);

// unique_function: move-only, no copy; small callables inline.
using void_fn = babelbird::unique_function<void()>;
static_assert(!std::is_copy_constructible_v<void_fn>);
static_assert(std::is_nothrow_move_constructible_v<void_fn>);
static_assert(std::is_nothrow_move_assignable_v<void_fn>);
static_assert(void_fn::stores_inline<void (*)()>());
static_assert(void_fn::stores_inline<std::unique_ptr<int>>());
static_assert(!void_fn::stores_inline<std::array<char, 64>>());
static_assert(sizeof(babelbird::transport_completion) <= 5 * sizeof(void*));

} // namespace

TEST_CASE("unique_function: holds move-only callables, small and large, and destroys them once") {
    int destroyed = 0;
    {
        babelbird::unique_function<int(int)> small = [p = std::make_unique<int>(40)](int x) {
            return *p + x;
        };
        CHECK(small(2) == 42);
        babelbird::unique_function<int(int)> moved = std::move(small);
        CHECK_FALSE(small); // NOLINT(bugprone-use-after-move): moved-from is empty
        CHECK(moved(1) == 41);

        std::array<char, 100> big{};
        big[99] = 7;
        babelbird::unique_function<int()> large = [big, c = counted(&destroyed)] {
            return static_cast<int>(big[99]);
        };
        CHECK(large() == 7);
        babelbird::unique_function<int()> large2 = std::move(large);
        CHECK(large2() == 7);
        CHECK(destroyed == 0);
        large2 = nullptr;
        CHECK(destroyed == 1);
        CHECK_FALSE(large2);

        babelbird::unique_function<void()> inline_counted = [c = counted(&destroyed)] {};
        babelbird::unique_function<void()> other;
        other = std::move(inline_counted);
        CHECK(destroyed == 1);
    }
    CHECK(destroyed == 2);
    babelbird::unique_function<void()> from_null_pointer = static_cast<void (*)()>(nullptr);
    CHECK_FALSE(from_null_pointer);
    CHECK(from_null_pointer == nullptr);
}

TEST_CASE("unique_function: arguments are forwarded (move-only ones too)") {
    babelbird::unique_function<int(std::unique_ptr<int>, int&)> f = [](std::unique_ptr<int> p,
                                                                       int& out) {
        out = *p;
        return *p * 2;
    };
    int out = 0;
    CHECK(f(std::make_unique<int>(21), out) == 42);
    CHECK(out == 21);
}

#if defined(__cpp_exceptions)
TEST_CASE("unique_function: an exception of the callable propagates unchanged") {
    babelbird::unique_function<void()> f = [] { throw std::runtime_error("callable"); };
    CHECK_THROWS_AS(f(), std::runtime_error);
    CHECK(f); // still callable
}
#endif

TEST_CASE("async_refresh: one async_send; the completion runs via post") {
    ts::manual_transport transport;
    ts::manual_queue queue;
    ts::fixed_clock clock;
    ts::slot<babelbird::grant_result> got;
    babelbird::async_refresh(transport, ts::manual_executor{&queue}, ts::credentials(),
                             ts::server(), babelbird::secret_view("R0"), {}, ts::clock_ref{&clock},
                             got.sink());
    REQUIRE(transport.sent.size() == 1);
    CHECK(ts::sent_refresh_token(transport.sent[0]) == "R0");
    transport.answer(ts::token_answer("A1", "R1"));
    CHECK(got.calls == 0);
    CHECK(queue.drain() == 1);
    REQUIRE(got.value);
    REQUIRE(*got.value);
    CHECK((*got.value)->access_token.expose_secret() == "A1");
    CHECK((*got.value)->issued_at == clock.at);

    SUBCASE("inline completion: still via post") {
        ts::manual_transport inline_transport;
        inline_transport.inline_answer = ts::token_answer("A2", "R2");
        ts::slot<babelbird::grant_result> inline_got;
        babelbird::token_grant previous = ts::stored_grant("A1", "R1", t0, 3600s);
        babelbird::async_refresh(inline_transport, ts::manual_executor{&queue}, ts::credentials(),
                                 ts::server(), previous, {}, ts::clock_ref{&clock},
                                 inline_got.sink());
        CHECK(inline_got.calls == 0);
        CHECK(ts::sent_refresh_token(inline_transport.sent.at(0)) == "R1");
        CHECK(queue.drain() == 1);
        REQUIRE(inline_got.value);
        REQUIRE(*inline_got.value);
        CHECK((*inline_got.value)->access_token.expose_secret() == "A2");
    }
    SUBCASE("bad input: nothing sent, the usage error via post") {
        ts::manual_transport unused;
        ts::slot<babelbird::grant_result> bad;
        babelbird::async_refresh(unused, ts::manual_executor{&queue}, ts::credentials(),
                                 ts::server(), babelbird::secret_view(""), {},
                                 ts::clock_ref{&clock}, bad.sink());
        CHECK(unused.sent.empty());
        CHECK(bad.calls == 0);
        CHECK(queue.drain() == 1);
        REQUIRE(bad.value);
        REQUIRE_FALSE(*bad.value);
        CHECK(bad.value->error().kind() == babelbird::error_class::usage);
    }
    SUBCASE("a dropped completion: transport_failure") {
        ts::manual_transport dropping;
        ts::slot<babelbird::grant_result> dropped;
        babelbird::async_refresh(dropping, ts::manual_executor{&queue}, ts::credentials(),
                                 ts::server(), babelbird::secret_view("R0"), {},
                                 ts::clock_ref{&clock}, dropped.sink());
        dropping.drop();
        CHECK(queue.drain() == 1);
        REQUIRE(dropped.value);
        REQUIRE_FALSE(*dropped.value);
        CHECK(dropped.value->error().code() == babelbird::errc::transport_failure);
    }
}

TEST_CASE("async_exchange_code: one exchange, the grant via post") {
    ts::manual_transport transport;
    ts::manual_queue queue;
    ts::fixed_clock clock;
    ts::slot<babelbird::grant_result> got;
    babelbird::async_exchange_code(transport, ts::manual_executor{&queue}, ts::credentials(),
                                   ts::server(), babelbird::secret_view("code-1"),
                                   "https://app.example.com/cb", {}, ts::clock_ref{&clock},
                                   got.sink());
    REQUIRE(transport.sent.size() == 1);
    CHECK(transport.sent[0].url.find("code=code-1") != std::string::npos);
    transport.answer(ts::token_answer("A1", "R1"));
    CHECK(queue.drain() == 1);
    REQUIRE(got.value);
    REQUIRE(*got.value);
    CHECK((*got.value)->refresh_token.expose_secret() == "R1");
}

namespace {
using source_t =
    babelbird::async_token_source<ts::manual_transport_ref, ts::manual_executor, ts::clock_ref>;

std::string bearer_of(const babelbird::http_request& r) {
    for (const auto& h : r.headers) {
        if (h.name == "Authorization") {
            return h.value;
        }
    }
    return {};
}

/// A source over one manual transport (the token endpoint) and a second one
/// for the file API, sharing one queue.
struct call_fixture {
    ts::manual_transport token_endpoint;
    ts::manual_transport files;
    ts::manual_queue queue;
    ts::fixed_clock clock;
    source_t source;
    call_fixture()
        : source(ts::manual_transport_ref{&token_endpoint}, ts::manual_executor{&queue},
                 ts::credentials(), ts::server(),
                 babelbird::token_seed::from_grant(ts::stored_grant("A1", "R1", t0, 3600s)).value(),
                 {}, ts::clock_ref{&clock}) {
        clock.at = t0;
    }
    babelbird::http_request request(std::string method = "GET") {
        return babelbird::http_request(std::move(method), "https://disk.example.com/v1/files/x");
    }
};
} // namespace

TEST_CASE("async_send_authorized: a 401 invalidates that token and retries once") {
    call_fixture f;
    ts::slot<babelbird::result<babelbird::http_response>> got;
    babelbird::async_send_authorized(f.files, f.source, f.request(), {}, got.sink());
    CHECK(f.files.sent.empty()); // the token comes via post
    f.queue.drain();
    REQUIRE(f.files.sent.size() == 1);
    CHECK(bearer_of(f.files.sent[0]) == "Bearer A1");
    f.files.answer(babelbird::http_response(401, ""));
    // The token was invalidated: the source refreshes (one send), then resends.
    REQUIRE(f.token_endpoint.sent.size() == 1);
    f.token_endpoint.answer(ts::token_answer("A2", "R2"));
    f.queue.drain();
    REQUIRE(f.files.sent.size() == 2);
    CHECK(bearer_of(f.files.sent[1]) == "Bearer A2");
    f.files.answer(babelbird::http_response(200, "content"));
    CHECK(got.calls == 0); // via post
    f.queue.drain();
    REQUIRE(got.value);
    REQUIRE(*got.value);
    CHECK((*got.value)->status == 200);
    CHECK((*got.value)->body == "content");
    CHECK(f.files.sent.size() == 2);
}

TEST_CASE("async_send_authorized: inline transports, no retry for POST, a second 401 is final") {
    call_fixture f;
    SUBCASE("POST is not resent, but its token is invalidated") {
        f.files.inline_answer = babelbird::http_response(401, "");
        ts::slot<babelbird::result<babelbird::http_response>> got;
        babelbird::async_send_authorized(f.files, f.source, f.request("POST"), {}, got.sink());
        f.queue.drain();
        REQUIRE(got.value);
        REQUIRE(*got.value);
        CHECK((*got.value)->status == 401);
        CHECK(f.files.sent.size() == 1);
        CHECK(f.source.state_at(f.clock.at) == babelbird::token_state::expired);
    }
    SUBCASE("GET rejected twice: two sends, the second answer") {
        f.files.inline_answer = babelbird::http_response(401, "");
        f.token_endpoint.inline_answer = ts::token_answer("A2", "R2");
        ts::slot<babelbird::result<babelbird::http_response>> got;
        babelbird::async_send_authorized(f.files, f.source, f.request(), {}, got.sink());
        CHECK(got.calls == 0);
        f.queue.drain();
        REQUIRE(got.value);
        REQUIRE(*got.value);
        CHECK((*got.value)->status == 401);
        CHECK(f.files.sent.size() == 2);
        CHECK(f.token_endpoint.sent.size() == 1);
    }
    SUBCASE("the token cannot be had: the source's error, nothing sent") {
        f.source.invalidate(babelbird::secret_view("A1"));
        f.token_endpoint.inline_answer =
            babelbird::http_response(400, R"({"error":"invalid_grant"})");
        ts::slot<babelbird::result<babelbird::http_response>> got;
        babelbird::async_send_authorized(f.files, f.source, f.request(), {}, got.sink());
        f.queue.drain();
        REQUIRE(got.value);
        REQUIRE_FALSE(*got.value);
        CHECK(got.value->error().kind() == babelbird::error_class::reauthorize);
        CHECK(f.files.sent.empty());
    }
    SUBCASE("a dropped file-API completion: transport_failure") {
        ts::slot<babelbird::result<babelbird::http_response>> got;
        babelbird::async_send_authorized(f.files, f.source, f.request(), {}, got.sink());
        f.queue.drain();
        f.files.drop();
        f.queue.drain();
        REQUIRE(got.value);
        REQUIRE_FALSE(*got.value);
        CHECK(got.value->error().code() == babelbird::errc::transport_failure);
    }
}

} // namespace test_async_drivers
