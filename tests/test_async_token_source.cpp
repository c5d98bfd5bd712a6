// async_token_source: the token_source guarantees without blocking, checked
// deterministically with a transport that completes only when the test says so
// and an executor whose queue the test drains (so "never inline" is visible:
// nothing is completed before the drain); plus one threaded run.
#include "async_support.hpp"

#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

// A namespace per file: the unit tests are compiled as unity chunks.
namespace test_async_token_source {

using namespace std::chrono_literals;
namespace ts = test_support;
using token_result = babelbird::result<babelbird::token_handle>;

namespace {

const babelbird::time_point t0 = babelbird::time_point(std::chrono::seconds(1'700'000'000));

using source_t =
    babelbird::async_token_source<ts::manual_transport_ref, ts::manual_executor, ts::clock_ref>;

babelbird::token_seed refresh_seed(std::string_view token) {
    return babelbird::token_seed::from_refresh_token(babelbird::secret_view(token)).value();
}
babelbird::token_seed grant_seed(std::string_view access, std::string_view refresh,
                                 std::chrono::seconds lifetime = 3600s) {
    return babelbird::token_seed::from_grant(ts::stored_grant(access, refresh, t0, lifetime))
        .value();
}

std::string access_of(const std::optional<token_result>& r) {
    REQUIRE(r);
    REQUIRE(*r);
    return std::string((*r)->access_token().expose_secret());
}

/// A source, its transport, its queue and its clock.
struct fixture {
    ts::manual_transport transport;
    ts::manual_queue queue;
    ts::fixed_clock clock;
    std::unique_ptr<source_t> source;

    explicit fixture(babelbird::token_seed seed,
                     babelbird::async_token_source_options options = {}) {
        clock.at = t0;
        source = std::make_unique<source_t>(
            ts::manual_transport_ref{&transport}, ts::manual_executor{&queue}, ts::credentials(),
            ts::server(), std::move(seed), std::move(options), ts::clock_ref{&clock});
    }
};

/// A hook that keeps each grant and its completion until the test reports.
struct manual_hook {
    struct call {
        std::shared_ptr<const babelbird::token_grant> grant;
        babelbird::persist_completion done;
    };
    std::deque<call> calls;
    int total = 0;
    std::optional<bool> inline_durable; ///< set: report inside the hook call

    babelbird::async_rotation_hook hook() {
        return [this](std::shared_ptr<const babelbird::token_grant> g,
                      babelbird::persist_completion done) {
            ++total;
            if (inline_durable) {
                done(*inline_durable);
                return;
            }
            calls.push_back({std::move(g), std::move(done)});
        };
    }
    void report(bool durable) {
        REQUIRE(!calls.empty());
        call c = std::move(calls.front());
        calls.pop_front();
        c.done(durable);
    }
};

} // namespace

// One options aggregate for both sources: the shared fields are declared once.
static_assert(std::is_same_v<babelbird::token_source_options,
                             babelbird::basic_token_source_options<babelbird::rotation_hook>>);
static_assert(
    std::is_same_v<babelbird::async_token_source_options,
                   babelbird::basic_token_source_options<babelbird::async_rotation_hook>>);

TEST_CASE("token source options: both spellings take designated initializers") {
    const babelbird::token_source_options blocking{
        .retry_backoff = 1s,
        .min_refresh_interval = 0s,
        .jitter_seed = 7,
        .on_rotate = [](const babelbird::token_grant&) { return true; },
    };
    CHECK(blocking.retry_backoff == 1s);
    CHECK(blocking.max_retry_backoff == std::chrono::minutes(5)); // the default
    CHECK(blocking.min_refresh_interval == 0s);
    CHECK(blocking.jitter_seed == std::optional<std::uint64_t>(7));
    CHECK(static_cast<bool>(blocking.on_rotate));
    babelbird::async_token_source_options async{
        .max_retry_backoff = 10s,
        .on_rotate = [](std::shared_ptr<const babelbird::token_grant>,
                        babelbird::persist_completion done) { done(true); },
    };
    CHECK(async.retry_backoff == 2s); // the default
    CHECK(async.max_retry_backoff == 10s);
    CHECK(static_cast<bool>(async.on_rotate));
    // The source takes them as before.
    fixture f(refresh_seed("R0"), std::move(async));
    ts::slot<token_result> got;
    (void)f.source->async_get(got.sink());
    f.transport.answer(ts::token_answer("A1", "R1"));
    CHECK(f.queue.drain() == 1);
    CHECK(access_of(got.value) == "A1");
}

TEST_CASE("async_token_source: a usable token is served via post, without a send") {
    fixture f(grant_seed("A1", "R1"));
    ts::slot<token_result> got;
    const babelbird::async_cancellation handle = f.source->async_get(got.sink());
    CHECK(got.calls == 0); // never inline
    CHECK(f.queue.drain() == 1);
    CHECK(access_of(got.value) == "A1");
    CHECK(f.transport.sent.empty());
    CHECK_FALSE(handle.cancel()); // nothing to cancel: it was served at once
    CHECK(got.calls == 1);
}

TEST_CASE("async_token_source: N waiters, exactly one async_send, one shared outcome") {
    fixture f(refresh_seed("R0"));
    std::vector<ts::slot<token_result>> got(5);
    for (auto& g : got) {
        (void)f.source->async_get(g.sink());
    }
    CHECK(f.transport.sent.size() == 1);
    CHECK(ts::sent_refresh_token(f.transport.sent[0]) == "R0");
    CHECK(f.queue.drain() == 0); // nothing to complete yet
    f.transport.answer(ts::token_answer("A1", "R1"));
    for (auto& g : got) {
        CHECK(g.calls == 0); // not inside the transport's completion either
    }
    CHECK(f.queue.drain() == 5);
    for (auto& g : got) {
        CHECK(g.calls == 1);
        CHECK(access_of(g.value) == "A1");
    }
    CHECK(f.source->current().access_token().expose_secret() == "A1");
    CHECK(f.transport.sent.size() == 1);
}

TEST_CASE("async_token_source: a transport that completes inside async_send") {
    fixture f(refresh_seed("R0"));
    f.transport.inline_answer = ts::token_answer("A1", "R1");
    ts::slot<token_result> first;
    (void)f.source->async_get(first.sink()); // would deadlock if the lock were held
    CHECK(f.transport.sent.size() == 1);
    CHECK(first.calls == 0);
    CHECK(f.queue.drain() == 1);
    CHECK(access_of(first.value) == "A1");

    SUBCASE("and a hook that reports inside its call") {
        manual_hook hook;
        hook.inline_durable = true;
        babelbird::async_token_source_options options;
        options.on_rotate = hook.hook();
        fixture g(refresh_seed("R0"), std::move(options));
        g.transport.inline_answer = ts::token_answer("A2", "R2");
        ts::slot<token_result> got;
        (void)g.source->async_get(got.sink());
        CHECK(hook.total == 1);
        CHECK(got.calls == 0);
        CHECK(g.queue.drain() == 1);
        CHECK(access_of(got.value) == "A2");
        CHECK_FALSE(g.source->persist_failed());
    }
    SUBCASE("an error inline: every later caller in the backoff gets it, no second send") {
        fixture g(refresh_seed("R0"));
        g.transport.inline_answer = babelbird::error::transport(babelbird::errc::timeout);
        ts::slot<token_result> a;
        ts::slot<token_result> b;
        (void)g.source->async_get(a.sink());
        (void)g.source->async_get(b.sink());
        CHECK(g.transport.sent.size() == 1);
        CHECK(g.queue.drain() == 2);
        REQUIRE(a.value);
        REQUIRE_FALSE(*a.value);
        CHECK(a.value->error().code() == babelbird::errc::timeout);
        REQUIRE(b.value);
        REQUIRE_FALSE(*b.value);
        CHECK(b.value->error().code() == babelbird::errc::timeout);
    }
}

TEST_CASE("async_token_source: destroying the source mid-flight cancels every waiter") {
    manual_hook hook;
    babelbird::async_token_source_options options;
    options.on_rotate = hook.hook();
    fixture f(refresh_seed("R0"), std::move(options));
    std::vector<ts::slot<token_result>> got(3);
    for (auto& g : got) {
        (void)f.source->async_get(g.sink());
    }
    REQUIRE(f.transport.pending.size() == 1);
    f.source.reset();
    for (auto& g : got) {
        CHECK(g.calls == 0); // via post, not from the destructor
    }
    CHECK(f.queue.drain() == 3);
    for (auto& g : got) {
        REQUIRE(g.value);
        REQUIRE_FALSE(*g.value);
        CHECK(babelbird::is_cancelled(g.value->error()));
        CHECK(g.value->error().kind() == babelbird::error_class::retry);
    }
    // The late answer reaches the state its completion kept alive: its grant
    // (a rotated refresh token) still goes to the hook; nothing is posted.
    f.transport.answer(ts::token_answer("A1", "R1"));
    REQUIRE(hook.calls.size() == 1);
    CHECK(hook.calls[0].grant->access_token.expose_secret() == "A1");
    CHECK(hook.calls[0].grant->refresh_token.expose_secret() == "R1");
    hook.report(true); // its completion runs after the source is gone
    CHECK(f.queue.drain() == 0);
    CHECK(hook.total == 1);
    CHECK(f.transport.sent.size() == 1);
}

TEST_CASE("async_token_source: destroyed mid-flight, a late rejected answer: the salvaged "
          "refresh token still reaches the hook") {
    manual_hook hook;
    babelbird::async_token_source_options options;
    options.on_rotate = hook.hook();
    fixture f(refresh_seed("R0"), std::move(options));
    ts::slot<token_result> got;
    (void)f.source->async_get(got.sink());
    f.source.reset();
    CHECK(f.queue.drain() == 1);
    REQUIRE(got.value);
    CHECK(babelbird::is_cancelled(got.value->error()));
    f.transport.answer(babelbird::http_response(
        200, R"({"access_token":"A1","refresh_token":"R1","expires_in":"an hour"})"));
    REQUIRE(hook.calls.size() == 1);
    CHECK(hook.calls[0].grant->access_token.empty()); // the salvaged grant
    CHECK(hook.calls[0].grant->refresh_token.expose_secret() == "R1");
    SUBCASE("reported durable") {
        hook.report(true);
    }
    SUBCASE("reported not durable") {
        hook.report(false);
    }
    SUBCASE("its completion destroyed uncalled") {
        hook.calls.clear();
    }
    CHECK(f.queue.drain() == 0);
    CHECK(hook.total == 1);
    CHECK(got.calls == 1);
    CHECK(f.transport.sent.size() == 1);
}

TEST_CASE("async_token_source: destroyed mid-flight, late answers without a new grant, or "
          "without a hook: nothing is called, nothing posted") {
    SUBCASE("a failure, with a hook") {
        manual_hook hook;
        babelbird::async_token_source_options options;
        options.on_rotate = hook.hook();
        fixture f(refresh_seed("R0"), std::move(options));
        ts::slot<token_result> got;
        (void)f.source->async_get(got.sink());
        f.source.reset();
        f.transport.answer(babelbird::http_response(503, ""));
        CHECK(f.queue.drain() == 1); // the cancellation only
        CHECK(hook.total == 0);
        CHECK(f.transport.sent.size() == 1);
    }
    SUBCASE("a new grant, without a hook") {
        fixture f(refresh_seed("R0"));
        ts::slot<token_result> got;
        (void)f.source->async_get(got.sink());
        f.source.reset();
        f.transport.answer(ts::token_answer("A1", "R1"));
        CHECK(f.queue.drain() == 1);
        REQUIRE(got.value);
        CHECK(babelbird::is_cancelled(got.value->error()));
        CHECK(f.transport.sent.size() == 1);
    }
}

TEST_CASE("async_token_source: destroyed while retry_persist() persists: the queued answer's "
          "grant still reaches the hook") {
    manual_hook hook;
    babelbird::async_token_source_options options;
    options.on_rotate = hook.hook();
    fixture f(refresh_seed("R0"), std::move(options));
    ts::slot<token_result> first;
    (void)f.source->async_get(first.sink());
    f.transport.answer(ts::token_answer("A1", "R1"));
    hook.report(false); // R1 pending
    CHECK(f.queue.drain() == 1);
    f.source->retry_persist(); // hook call 2, kept outstanding
    REQUIRE(hook.calls.size() == 1);
    f.source->invalidate(babelbird::secret_view("A1"));
    ts::slot<token_result> second;
    (void)f.source->async_get(second.sink());
    REQUIRE(f.transport.pending.size() == 1);
    f.transport.answer(ts::token_answer("A2", "R2")); // waits for hook call 2
    CHECK(hook.calls.size() == 1);
    f.source.reset();
    CHECK(f.queue.drain() == 1);
    REQUIRE(second.value);
    CHECK(babelbird::is_cancelled(second.value->error()));
    hook.report(true); // call 2 ends: the flight's persist follows
    REQUIRE(hook.calls.size() == 1);
    CHECK(hook.calls[0].grant->refresh_token.expose_secret() == "R2");
    hook.report(true);
    CHECK(hook.total == 3);
    CHECK(f.queue.drain() == 0);
}

TEST_CASE("async_token_source: destroyed while the hook persists: the late report is harmless") {
    manual_hook hook;
    babelbird::async_token_source_options options;
    options.on_rotate = hook.hook();
    fixture f(refresh_seed("R0"), std::move(options));
    ts::slot<token_result> got;
    (void)f.source->async_get(got.sink());
    f.transport.answer(ts::token_answer("A1", "R1"));
    REQUIRE(hook.calls.size() == 1);
    f.source.reset();
    CHECK(f.queue.drain() == 1);
    REQUIRE(got.value);
    CHECK(babelbird::is_cancelled(got.value->error()));
    hook.report(true);
    CHECK(f.queue.drain() == 0);
}

TEST_CASE("async_token_source: cancelling one waiter leaves the refresh and the others alone") {
    fixture f(refresh_seed("R0"));
    ts::slot<token_result> a;
    ts::slot<token_result> b;
    ts::slot<token_result> c;
    (void)f.source->async_get(a.sink());
    const babelbird::async_cancellation cancel_b = f.source->async_get(b.sink());
    (void)f.source->async_get(c.sink());
    CHECK(cancel_b.cancel());
    CHECK(b.calls == 0); // via post
    CHECK(f.queue.drain() == 1);
    REQUIRE(b.value);
    REQUIRE_FALSE(*b.value);
    CHECK(babelbird::is_cancelled(b.value->error()));
    CHECK_FALSE(cancel_b.cancel()); // once
    REQUIRE(f.transport.pending.size() == 1);
    f.transport.answer(ts::token_answer("A1", "R1"));
    CHECK(f.queue.drain() == 2);
    CHECK(access_of(a.value) == "A1");
    CHECK(access_of(c.value) == "A1");
    CHECK(b.calls == 1);
    CHECK(f.transport.sent.size() == 1);
}

TEST_CASE("async_token_source: cancel() is true only for a waiter still pending") {
    manual_hook hook;
    babelbird::async_token_source_options options;
    options.on_rotate = hook.hook();
    fixture f(refresh_seed("R0"), std::move(options));
    ts::slot<token_result> a;
    ts::slot<token_result> b;
    ts::slot<token_result> c;
    const babelbird::async_cancellation cancel_a = f.source->async_get(a.sink());
    const babelbird::async_cancellation cancel_b = f.source->async_get(b.sink());
    const babelbird::async_cancellation cancel_c = f.source->async_get(c.sink());
    f.transport.answer(ts::token_answer("A1", "R1"));
    REQUIRE(hook.calls.size() == 1);
    // Pending while the answer persists: true, and the cancellation is all it sees.
    CHECK(cancel_a.cancel());
    CHECK(f.queue.drain() == 1);
    REQUIRE(a.value);
    CHECK(babelbird::is_cancelled(a.value->error()));
    hook.report(true);
    // Completed (posted, not yet run): false, and it keeps its token.
    CHECK_FALSE(cancel_b.cancel());
    CHECK(b.calls == 0);
    CHECK(f.queue.drain() == 2);
    CHECK(access_of(b.value) == "A1");
    // Completed and run: false.
    CHECK_FALSE(cancel_c.cancel());
    CHECK(access_of(c.value) == "A1");
    // Cancelled already: false, and no second completion.
    CHECK_FALSE(cancel_a.cancel());
    CHECK(f.queue.drain() == 0);
    CHECK(a.calls == 1);
    CHECK(b.calls == 1);
    CHECK(c.calls == 1);
}

TEST_CASE("async_token_source: a cancellation handle outlives its source") {
    fixture f(refresh_seed("R0"));
    ts::slot<token_result> a;
    const babelbird::async_cancellation handle = f.source->async_get(a.sink());
    f.source.reset();
    CHECK_FALSE(handle.cancel()); // already cancelled by the destructor
    f.transport.pending.clear();  // the state dies with the last completion
    CHECK_FALSE(handle.cancel());
    CHECK(f.queue.drain() == 1);
    CHECK(a.calls == 1);
}

TEST_CASE("async_token_source: an error reaches every waiter of the flight") {
    fixture f(refresh_seed("R0"));
    std::vector<ts::slot<token_result>> got(4);
    for (auto& g : got) {
        (void)f.source->async_get(g.sink());
    }
    f.transport.answer(babelbird::http_response(400, R"({"error":"invalid_grant"})"));
    CHECK(f.queue.drain() == 4);
    for (auto& g : got) {
        REQUIRE(g.value);
        REQUIRE_FALSE(*g.value);
        CHECK(g.value->error().kind() == babelbird::error_class::reauthorize);
    }
    // Remembered: the next caller gets it without a send.
    ts::slot<token_result> later;
    (void)f.source->async_get(later.sink());
    CHECK(f.queue.drain() == 1);
    REQUIRE(later.value);
    CHECK(later.value->error().kind() == babelbird::error_class::reauthorize);
    CHECK(f.transport.sent.size() == 1);
    REQUIRE(f.source->last_error());
    CHECK(f.source->last_error()->kind() == babelbird::error_class::reauthorize);
}

TEST_CASE("async_token_source: a failed refresh ahead keeps serving the old token") {
    babelbird::async_token_source_options options;
    options.retry_backoff = 10s;
    fixture f(grant_seed("A1", "R1"), std::move(options));
    f.clock.at = t0 + 3300s; // refresh-soon
    ts::slot<token_result> joined;
    (void)f.source->async_get(joined.sink());
    REQUIRE(f.transport.sent.size() == 1);
    // While it is in flight, everybody else gets the old token at once.
    ts::slot<token_result> other;
    (void)f.source->async_get(other.sink());
    CHECK(f.queue.drain() == 1);
    CHECK(access_of(other.value) == "A1");
    CHECK(joined.calls == 0);
    f.transport.answer(babelbird::error::transport(babelbird::errc::timeout));
    CHECK(f.queue.drain() == 1);
    CHECK(access_of(joined.value) == "A1");
    REQUIRE(f.source->last_error());
    CHECK(f.source->last_error()->code() == babelbird::errc::timeout);
    // Within the backoff: the old token, no new attempt.
    f.clock.at += 9s;
    ts::slot<token_result> again;
    (void)f.source->async_get(again.sink());
    CHECK(f.queue.drain() == 1);
    CHECK(access_of(again.value) == "A1");
    CHECK(f.transport.sent.size() == 1);
    // After it: one more attempt.
    f.clock.at += 1s;
    ts::slot<token_result> retried;
    (void)f.source->async_get(retried.sink());
    CHECK(f.transport.sent.size() == 2);
    f.transport.answer(ts::token_answer("A2", "R2"));
    CHECK(f.queue.drain() == 1);
    CHECK(access_of(retried.value) == "A2");
}

TEST_CASE("async_token_source: Retry-After is capped at max_retry_after") {
    babelbird::async_token_source_options options;
    options.max_retry_after = 10min;
    fixture f(refresh_seed("R0"), std::move(options));
    ts::slot<token_result> first;
    (void)f.source->async_get(first.sink());
    f.transport.answer(babelbird::http_response(429, "", {{"Retry-After", "999999999"}}));
    CHECK(f.queue.drain() == 1);
    REQUIRE(first.value);
    REQUIRE_FALSE(*first.value);
    f.clock.at = t0 + 10min - 1ns;
    ts::slot<token_result> early;
    (void)f.source->async_get(early.sink());
    CHECK(f.queue.drain() == 1);
    REQUIRE(early.value);
    CHECK_FALSE(*early.value);
    CHECK(f.transport.sent.size() == 1);
    f.clock.at = t0 + 10min;
    ts::slot<token_result> later;
    (void)f.source->async_get(later.sink());
    CHECK(f.transport.sent.size() == 2);
    f.transport.answer(ts::token_answer("A1", "R1"));
    CHECK(f.queue.drain() == 1);
    CHECK(access_of(later.value) == "A1");
}

TEST_CASE("async_token_source: persist before publish with an asynchronous hook") {
    manual_hook hook;
    babelbird::async_token_source_options options;
    options.on_rotate = hook.hook();
    fixture f(refresh_seed("R0"), std::move(options));
    ts::slot<token_result> first;
    (void)f.source->async_get(first.sink());
    f.transport.answer(ts::token_answer("A1", "R1"));
    REQUIRE(hook.calls.size() == 1);
    CHECK(hook.calls[0].grant->access_token.expose_secret() == "A1");
    CHECK(hook.calls[0].grant->refresh_token.expose_secret() == "R1");
    // Not published, not handed out before the hook reports.
    CHECK(f.queue.drain() == 0);
    CHECK(f.source->current().access_token().expose_secret().empty());
    ts::slot<token_result> second;
    (void)f.source->async_get(second.sink()); // joins the flight that persists
    CHECK(f.queue.drain() == 0);
    CHECK(f.transport.sent.size() == 1);
    hook.report(true);
    CHECK(first.calls == 0); // via post, not inside the hook's completion
    CHECK(f.source->current().access_token().expose_secret() == "A1");
    CHECK(f.queue.drain() == 2);
    CHECK(access_of(first.value) == "A1");
    CHECK(access_of(second.value) == "A1");
    CHECK_FALSE(f.source->persist_failed());
}

TEST_CASE("async_token_source: a persist that fails, then retry_persist()") {
    manual_hook hook;
    babelbird::async_token_source_options options;
    options.on_rotate = hook.hook();
    fixture f(refresh_seed("R0"), std::move(options));
    ts::slot<token_result> got;
    (void)f.source->async_get(got.sink());
    f.transport.answer(ts::token_answer("A1", "R1"));
    hook.report(false);
    CHECK(f.queue.drain() == 1);
    CHECK(access_of(got.value) == "A1"); // used anyway
    CHECK(f.source->persist_failed());
    f.source->retry_persist();
    REQUIRE(hook.calls.size() == 1);
    CHECK(hook.calls[0].grant->refresh_token.expose_secret() == "R1");
    hook.report(true);
    CHECK_FALSE(f.source->persist_failed());
    CHECK(hook.total == 2);
}

TEST_CASE("async_token_source: a hook completion destroyed uncalled counts as not durable") {
    manual_hook hook;
    babelbird::async_token_source_options options;
    options.on_rotate = hook.hook();
    fixture f(refresh_seed("R0"), std::move(options));
    ts::slot<token_result> got;
    (void)f.source->async_get(got.sink());
    f.transport.answer(ts::token_answer("A1", "R1"));
    REQUIRE(hook.calls.size() == 1);
    hook.calls.clear();
    CHECK(f.queue.drain() == 1);
    CHECK(access_of(got.value) == "A1");
    CHECK(f.source->persist_failed());
}

TEST_CASE("async_token_source: a completion the transport drops ends the flight") {
    fixture f(refresh_seed("R0"));
    ts::slot<token_result> got;
    (void)f.source->async_get(got.sink());
    f.transport.drop();
    CHECK(got.calls == 0);
    CHECK(f.queue.drain() == 1);
    REQUIRE(got.value);
    REQUIRE_FALSE(*got.value);
    CHECK(got.value->error().code() == babelbird::errc::transport_failure);
    CHECK_FALSE(babelbird::is_cancelled(got.value->error()));
    // Nothing recorded: the next caller sends again at once.
    ts::slot<token_result> next;
    (void)f.source->async_get(next.sink());
    CHECK(f.transport.sent.size() == 2);
}

TEST_CASE("async_token_source: invalidate() forces one refresh, only for the cached token") {
    fixture f(grant_seed("A1", "R1"));
    f.source->invalidate(babelbird::secret_view("other"));
    ts::slot<token_result> a;
    (void)f.source->async_get(a.sink());
    CHECK(f.queue.drain() == 1);
    CHECK(access_of(a.value) == "A1");
    f.source->invalidate(babelbird::secret_view("A1"));
    f.source->invalidate(babelbird::secret_view("A1"));
    CHECK(f.source->state_at(f.clock.at) == babelbird::token_state::expired);
    ts::slot<token_result> b;
    ts::slot<token_result> c;
    (void)f.source->async_get(b.sink());
    (void)f.source->async_get(c.sink());
    CHECK(f.transport.sent.size() == 1);
    f.transport.answer(ts::token_answer("A2", "R2"));
    CHECK(f.queue.drain() == 2);
    CHECK(access_of(b.value) == "A2");
    CHECK(access_of(c.value) == "A2");
}

TEST_CASE("async_token_source: reset() during a flight serves its waiters under the new seed") {
    fixture f(refresh_seed("R0"));
    ts::slot<token_result> got;
    (void)f.source->async_get(got.sink());
    REQUIRE(f.transport.pending.size() == 1);
    f.source->reset(grant_seed("B1", "RB"));
    CHECK(f.queue.drain() == 1);
    CHECK(access_of(got.value) == "B1");
    f.transport.answer(ts::token_answer("A1", "R1")); // the dropped flight's answer
    CHECK(f.queue.drain() == 0);
    CHECK(f.source->current().access_token().expose_secret() == "B1");
}

// One source, 8 caller threads, a pool of 3 executor threads and a server
// thread; the clock jumps past the token's expiry 20 times. Run under
// ThreadSanitizer by the token_source_threads test.
TEST_CASE("async_token_source: 8 threads across 20 forced expiries: exactly 20 sends") {
    constexpr int callers = 8;
    constexpr int rounds = 20;
    constexpr int gets_per_round = 4;

    struct atomic_clock {
        std::atomic<std::int64_t>* seconds;
        babelbird::time_point now() const {
            return babelbird::time_point(std::chrono::seconds(seconds->load()));
        }
    };
    // Answers on its own thread, or (every third send) inside async_send.
    struct server {
        std::mutex mutex;
        std::condition_variable cv;
        std::deque<babelbird::transport_completion> queue;
        std::atomic<int> sends{0};
        bool stop = false;
        std::thread thread;
        void start() {
            thread = std::thread([this] {
                for (;;) {
                    babelbird::transport_completion done;
                    {
                        std::unique_lock lock(mutex);
                        cv.wait(lock, [this] { return stop || !queue.empty(); });
                        if (queue.empty()) {
                            return;
                        }
                        done = std::move(queue.front());
                        queue.pop_front();
                    }
                    done(answer());
                }
            });
        }
        babelbird::transport_result answer() {
            return ts::token_answer("A" + std::to_string(sends.load()), "R");
        }
        void async_send(const babelbird::http_request&, babelbird::transport_completion&& done) {
            const int n = ++sends;
            if (n % 3 == 0) {
                done(answer());
                return;
            }
            {
                std::lock_guard lock(mutex);
                queue.push_back(std::move(done));
            }
            cv.notify_one();
        }
        void finish() {
            {
                std::lock_guard lock(mutex);
                stop = true;
            }
            cv.notify_all();
            thread.join();
        }
    };
    struct server_ref {
        server* s;
        void async_send(const babelbird::http_request& r, babelbird::transport_completion&& d) {
            s->async_send(r, std::move(d));
        }
    };

    std::atomic<std::int64_t> seconds{1'700'000'000};
    server srv;
    srv.start();
    std::atomic<int> wrong{0};
    std::atomic<int> not_on_pool{0};
    {
        ts::thread_pool pool(3);
        babelbird::async_token_source_options options;
        options.min_refresh_interval = 0s;
        babelbird::async_token_source<server_ref, ts::pool_executor, atomic_clock> source(
            server_ref{&srv}, ts::pool_executor{&pool}, ts::credentials(), ts::server(),
            refresh_seed("R0"), std::move(options), atomic_clock{&seconds});

        std::mutex mutex;
        std::condition_variable cv;
        int round = 0;    // the round the callers may run
        int finished = 0; // callers done with the current round
        std::vector<std::thread> threads;
        for (int t = 0; t < callers; ++t) {
            threads.emplace_back([&] {
                for (int r = 1; r <= rounds; ++r) {
                    {
                        std::unique_lock lock(mutex);
                        cv.wait(lock, [&] { return round >= r; });
                    }
                    const std::string want = "A" + std::to_string(r);
                    std::mutex done_mutex;
                    std::condition_variable done_cv;
                    int done = 0;
                    for (int i = 0; i < gets_per_round; ++i) {
                        (void)source.async_get([&](token_result got) {
                            if (!pool.is_pool_thread()) {
                                ++not_on_pool;
                            }
                            if (!got || got->access_token().expose_secret() != want) {
                                ++wrong;
                            }
                            std::lock_guard lock(done_mutex);
                            ++done;
                            done_cv.notify_all();
                        });
                    }
                    {
                        std::unique_lock lock(done_mutex);
                        done_cv.wait(lock, [&] { return done == gets_per_round; });
                    }
                    std::lock_guard lock(mutex);
                    ++finished;
                    cv.notify_all();
                }
            });
        }
        for (int r = 1; r <= rounds; ++r) {
            std::unique_lock lock(mutex);
            seconds += 7200; // past the previous token's expiry
            round = r;
            finished = 0;
            cv.notify_all();
            cv.wait(lock, [&] { return finished == callers; });
        }
        for (auto& t : threads) {
            t.join();
        }
    }
    srv.finish();
    CHECK(srv.sends.load() == rounds);
    CHECK(wrong.load() == 0);
    CHECK(not_on_pool.load() == 0);
}

#if defined(__cpp_exceptions)
TEST_CASE("async_token_source: a clock that throws when the answer arrives: the answer is kept") {
    // Readings: async_get's (1), issued_at (2), completed_at (3).
    struct throwing_clock {
        std::atomic<int>* reads;
        babelbird::time_point now() const {
            if (++*reads == 3) {
                throw std::runtime_error("clock");
            }
            return t0;
        }
    };
    std::atomic<int> reads{0};
    manual_hook hook;
    babelbird::async_token_source_options options;
    options.on_rotate = hook.hook();
    ts::manual_transport transport;
    ts::manual_queue queue;
    babelbird::async_token_source<ts::manual_transport_ref, ts::manual_executor, throwing_clock>
        source(ts::manual_transport_ref{&transport}, ts::manual_executor{&queue}, ts::credentials(),
               ts::server(), refresh_seed("R0"), std::move(options), throwing_clock{&reads});
    ts::slot<token_result> got;
    (void)source.async_get(got.sink());
    REQUIRE(transport.pending.size() == 1);
    CHECK_NOTHROW(transport.answer(ts::token_answer("A1", "R1")));
    CHECK(reads.load() == 3);
    REQUIRE(hook.calls.size() == 1); // the rotated token goes to the hook
    CHECK(hook.calls[0].grant->refresh_token.expose_secret() == "R1");
    hook.report(true);
    CHECK(queue.drain() == 1);
    CHECK(access_of(got.value) == "A1");
    CHECK(source.current().grant().refresh_token.expose_secret() == "R1");
}
#endif

} // namespace test_async_token_source
