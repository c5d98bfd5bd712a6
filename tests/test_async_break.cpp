// Attacks on the core async drivers (async_token_source, async_send_authorized):
// a source destroyed under a pending call, completions that re-enter the
// source, a hook that misbehaves, cancellation racing the answer. Each case
// here failed (or crashed under ASan/TSan) before the fix it names.
#include "async_support.hpp"

#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

// A namespace per file: the unit tests are compiled as unity chunks.
namespace test_async_break {

using namespace std::chrono_literals;
namespace ts = test_support;
using token_result = babelbird::result<babelbird::token_handle>;
using answer_result = babelbird::result<babelbird::http_response>;

namespace {

const babelbird::time_point t0 = babelbird::time_point(std::chrono::seconds(1'700'000'000));

using source_t =
    babelbird::async_token_source<ts::manual_transport_ref, ts::manual_executor, ts::clock_ref>;

babelbird::token_seed refresh_seed(std::string_view token) {
    return babelbird::token_seed::from_refresh_token(babelbird::secret_view(token)).value();
}

babelbird::http_request file_request() {
    return babelbird::http_request("GET", "https://disk.example.com/v1/files/1");
}

} // namespace

// Before the fix, the call's completion was posted through
// `provider.get_executor()` after the provider had been destroyed: a
// use-after-free (here made visible by a second source built in the same
// storage: the old call's completion went to the new source's queue).
TEST_CASE("async_send_authorized: the source destroyed while the call waits for its token") {
    ts::fixed_clock clock; // outlives the completions the transports keep
    clock.at = t0;
    ts::manual_transport token_endpoint;
    ts::manual_transport files;
    ts::manual_queue queue;
    ts::manual_queue other_queue;
    std::optional<source_t> source;
    source.emplace(ts::manual_transport_ref{&token_endpoint}, ts::manual_executor{&queue},
                   ts::credentials(), ts::server(), refresh_seed("R0"),
                   babelbird::async_token_source_options{}, ts::clock_ref{&clock});
    ts::slot<answer_result> got;
    babelbird::async_send_authorized(files, *source, file_request(), {}, got.sink());
    REQUIRE(token_endpoint.pending.size() == 1); // the refresh is in flight
    source.reset();                              // completes the waiter, via post
    // The same storage now holds another source with another queue.
    source.emplace(ts::manual_transport_ref{&token_endpoint}, ts::manual_executor{&other_queue},
                   ts::credentials(), ts::server(), refresh_seed("R9"),
                   babelbird::async_token_source_options{}, ts::clock_ref{&clock});
    queue.drain();
    CHECK(other_queue.posted == 0);
    REQUIRE(got.calls == 1);
    REQUIRE(got.value);
    REQUIRE_FALSE(*got.value);
    CHECK(got.value->error() == babelbird::cancelled_error());
    CHECK(files.sent.empty());
    // The late answer of the first refresh touches nobody.
    token_endpoint.answer(ts::token_answer("A1", "R1"));
    queue.drain();
    CHECK(got.calls == 1);
    CHECK(other_queue.posted == 0);
}

TEST_CASE("async_send_authorized: the source destroyed while the retry after a 401 waits") {
    ts::fixed_clock clock; // outlives the completions the transports keep
    clock.at = t0;
    ts::manual_transport token_endpoint;
    ts::manual_transport files;
    ts::manual_queue queue;
    auto source = std::make_unique<source_t>(
        ts::manual_transport_ref{&token_endpoint}, ts::manual_executor{&queue}, ts::credentials(),
        ts::server(), refresh_seed("R0"), babelbird::async_token_source_options{},
        ts::clock_ref{&clock});
    ts::slot<answer_result> got;
    babelbird::async_send_authorized(files, *source, file_request(), {}, got.sink());
    token_endpoint.answer(ts::token_answer("A1", "R1"));
    queue.drain();
    REQUIRE(files.pending.size() == 1);
    babelbird::http_response rejected(401, "");
    rejected.headers.push_back({"WWW-Authenticate", R"(Bearer error="invalid_token")"});
    files.answer(rejected); // invalidates A1, asks for a new token: a second refresh
    REQUIRE(token_endpoint.pending.size() == 1);
    source.reset();
    queue.drain();
    REQUIRE(got.calls == 1);
    REQUIRE(got.value);
    REQUIRE_FALSE(*got.value);
    CHECK(got.value->error() == babelbird::cancelled_error());
    CHECK(files.sent.size() == 1);
    token_endpoint.answer(ts::token_answer("A2", "R2"));
    CHECK(queue.drain() == 0);
}

} // namespace test_async_break

namespace test_async_break {

TEST_CASE("async_token_source: a completion destroys the source, another asks again") {
    ts::fixed_clock clock;
    clock.at = t0;
    ts::manual_transport token_endpoint;
    ts::manual_queue queue;
    auto source = std::make_unique<source_t>(
        ts::manual_transport_ref{&token_endpoint}, ts::manual_executor{&queue}, ts::credentials(),
        ts::server(), refresh_seed("R0"), babelbird::async_token_source_options{},
        ts::clock_ref{&clock});
    std::vector<std::string> seen;
    (void)source->async_get([&](token_result r) {
        REQUIRE(r);
        seen.push_back(std::string(r->access_token().expose_secret()));
        // Asking again from inside a completion: served from the cache, via post.
        (void)source->async_get([&](token_result again) {
            REQUIRE(again);
            seen.push_back("again:" + std::string(again->access_token().expose_secret()));
            source.reset(); // destroying the source inside its own completion
        });
        CHECK(seen.size() == 1); // never inline
    });
    (void)source->async_get([&](token_result r) {
        REQUIRE(r);
        seen.push_back(std::string(r->access_token().expose_secret()));
    });
    token_endpoint.answer(ts::token_answer("A1", "R1"));
    queue.drain();
    CHECK(seen == std::vector<std::string>{"A1", "A1", "again:A1"});
    CHECK_FALSE(source);
}

#if defined(__cpp_exceptions)
TEST_CASE("async_token_source: a hook that reports twice, or throws after reporting") {
    ts::fixed_clock clock;
    clock.at = t0;
    ts::manual_transport token_endpoint;
    ts::manual_queue queue;
    int hook_calls = 0;
    bool throw_after = false;
    babelbird::async_token_source_options options;
    options.on_rotate = [&](std::shared_ptr<const babelbird::token_grant>,
                            babelbird::persist_completion done) {
        ++hook_calls;
        done(true);
        done(false); // ignored: the first report counts
        if (throw_after) {
            throw std::runtime_error("hook failed");
        }
    };
    auto source = std::make_unique<source_t>(
        ts::manual_transport_ref{&token_endpoint}, ts::manual_executor{&queue}, ts::credentials(),
        ts::server(), refresh_seed("R0"), std::move(options), ts::clock_ref{&clock});
    ts::slot<token_result> got;
    (void)source->async_get(got.sink());
    token_endpoint.answer(ts::token_answer("A1", "R1", 60));
    queue.drain();
    REQUIRE(got.value);
    REQUIRE(*got.value);
    CHECK(hook_calls == 1);
    CHECK_FALSE(source->persist_failed());
    // A hook that throws after reporting: its exception reaches whoever ran
    // the completion (here the transport's answer); before the fix its
    // durable report was overridden with `false`.
    throw_after = true;
    clock.at = t0 + 3600s;
    ts::slot<token_result> second;
    (void)source->async_get(second.sink());
    REQUIRE(token_endpoint.pending.size() == 1);
    CHECK_THROWS_AS(token_endpoint.answer(ts::token_answer("A2", "R2")), std::runtime_error);
    queue.drain();
    CHECK(hook_calls == 2);
    REQUIRE(second.value);
    REQUIRE(*second.value);
    CHECK((*second.value)->access_token().expose_secret() == "A2");
    CHECK(source->current().access_token().expose_secret() == "A2");
    CHECK_FALSE(source->persist_failed());
}

/// Answers inside `async_send`, then throws (a transport whose logging fails
/// after it handed over the answer, say).
struct answer_then_throw {
    std::vector<std::string>* sent;
    void async_send(const babelbird::http_request& request,
                    babelbird::transport_completion&& done) {
        sent->push_back(ts::sent_refresh_token(request));
        done(ts::token_answer("A1", "R1-rotated"));
        throw std::runtime_error("after the answer");
    }
};

// Before the fix the answer already handed over was dropped (the flight
// counted as abandoned): the waiter got transport_failure and the rotated
// refresh token R1-rotated was lost, though the server had spent R0.
TEST_CASE("async_token_source: a transport that answers, then throws: the answer is kept") {
    ts::fixed_clock clock;
    clock.at = t0;
    ts::manual_queue queue;
    std::vector<std::string> sent;
    std::vector<std::string> rotated;
    babelbird::async_token_source_options options;
    options.on_rotate = [&](std::shared_ptr<const babelbird::token_grant> g,
                            babelbird::persist_completion done) {
        rotated.push_back(std::string(g->refresh_token.expose_secret()));
        done(true);
    };
    babelbird::async_token_source<answer_then_throw, ts::manual_executor, ts::clock_ref> source(
        answer_then_throw{&sent}, ts::manual_executor{&queue}, ts::credentials(), ts::server(),
        refresh_seed("R0"), std::move(options), ts::clock_ref{&clock});
    ts::slot<token_result> got;
    CHECK_THROWS_AS((void)source.async_get(got.sink()), std::runtime_error);
    queue.drain();
    CHECK(sent == std::vector<std::string>{"R0"});
    REQUIRE(got.value);
    REQUIRE(*got.value);
    CHECK((*got.value)->access_token().expose_secret() == "A1");
    CHECK(source.current().grant().refresh_token.expose_secret() == "R1-rotated");
    CHECK(rotated.empty()); // not handed to the hook while unwinding...
    CHECK(source.persist_failed());
    source.retry_persist(); // ...but kept for it
    CHECK(rotated == std::vector<std::string>{"R1-rotated"});
    CHECK_FALSE(source.persist_failed());
}
#endif

// Run under TSan: cancel() on one thread while the answer completes the
// waiter on another; exactly one completion, with the token or cancelled.
TEST_CASE("async_token_source: cancel() racing the answer from two threads") {
    using pool_source =
        babelbird::async_token_source<ts::manual_transport_ref, ts::pool_executor, ts::clock_ref>;
    ts::fixed_clock clock;
    clock.at = t0;
    for (int round = 0; round < 200; ++round) {
        ts::manual_transport token_endpoint;
        std::atomic<int> calls{0};
        std::atomic<int> cancelled{0};
        bool was_pending = false;
        {
            ts::thread_pool pool(2);
            pool_source source(ts::manual_transport_ref{&token_endpoint}, ts::pool_executor{&pool},
                               ts::credentials(), ts::server(), refresh_seed("R0"),
                               babelbird::async_token_source_options{}, ts::clock_ref{&clock});
            const babelbird::async_cancellation handle = source.async_get([&](token_result r) {
                calls.fetch_add(1);
                if (!r) {
                    CHECK(r.error() == babelbird::cancelled_error());
                    cancelled.fetch_add(1);
                }
            });
            REQUIRE(token_endpoint.pending.size() == 1);
            babelbird::transport_completion done = std::move(token_endpoint.pending.front().done);
            token_endpoint.pending.clear();
            std::atomic<bool> go{false};
            std::thread canceller([&] {
                while (!go.load()) {
                }
                was_pending = handle.cancel();
            });
            go.store(true);
            done(ts::token_answer("A1", "R1"));
            canceller.join();
        } // the pool runs what is queued, then joins
        CHECK(calls.load() == 1);
        CHECK(cancelled.load() == (was_pending ? 1 : 0));
    }
}

} // namespace test_async_break
