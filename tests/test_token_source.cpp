// token_source: caching, refresh ahead, single flight, invalidation, the rotation
// hook and seeding, with an injected clock (and a few real threads where the
// property is about threads).
#include "token_support.hpp"

#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

// A namespace per file: the unit tests are compiled as unity chunks.
namespace test_token_source {

using namespace std::chrono_literals;
using babelbird::token_state;
namespace ts = test_support;

namespace {

using script_ref = ts::transport_ref<ts::scripted_transport>;
using source_t = babelbird::token_source<script_ref, ts::clock_ref>;

const babelbird::time_point t0 = babelbird::time_point(std::chrono::seconds(1'700'000'000));

babelbird::token_seed refresh_seed(std::string_view token) {
    return babelbird::token_seed::from_refresh_token(babelbird::secret_view(token)).value();
}
babelbird::token_seed grant_seed(std::string_view access, std::string_view refresh,
                                 std::chrono::seconds lifetime = 3600s) {
    return babelbird::token_seed::from_grant(ts::stored_grant(access, refresh, t0, lifetime))
        .value();
}

std::string access_of(const babelbird::result<babelbird::token_handle>& r) {
    REQUIRE(r);
    return std::string(r->access_token().expose_secret());
}

/// A transport that blocks inside the call until the test opens the gate.
struct gated_transport {
    std::mutex mutex;
    std::condition_variable cv;
    bool open = false;
    int entered = 0;
    int calls = 0;
    babelbird::transport_result answer = ts::token_answer("A2", "R2");

    babelbird::transport_result operator()(const babelbird::http_request&) {
        std::unique_lock lock(mutex);
        ++calls;
        ++entered;
        cv.notify_all();
        cv.wait(lock, [this] { return open; });
        return answer;
    }
    void wait_entered() {
        std::unique_lock lock(mutex);
        cv.wait(lock, [this] { return entered > 0; });
    }
    void release() {
        std::lock_guard lock(mutex);
        open = true;
        cv.notify_all();
    }
};

/// A clock safe to read from many threads.
struct atomic_clock {
    std::atomic<babelbird::time_point::rep> ticks{t0.time_since_epoch().count()};
    babelbird::time_point now() const {
        return babelbird::time_point(babelbird::time_point::duration(ticks.load()));
    }
    void set(babelbird::time_point t) { ticks.store(t.time_since_epoch().count()); }
};
struct atomic_clock_ref {
    atomic_clock* c;
    babelbird::time_point now() const { return c->now(); }
};

} // namespace

static_assert(babelbird::token_provider<source_t>, "token_source is a send_authorized provider");
static_assert(std::is_copy_constructible_v<babelbird::token_handle>);
static_assert(std::is_nothrow_copy_constructible_v<babelbird::token_handle>);

TEST_CASE("token_source: a refresh-token seed refreshes on the first get(), then caches") {
    ts::scripted_transport transport;
    transport.then_answer(ts::token_answer("A1", "R1"));
    ts::fixed_clock clock;
    clock.at = t0;
    source_t source(script_ref{&transport}, ts::credentials(), ts::server(), refresh_seed("R0"), {},
                    ts::clock_ref{&clock});
    CHECK(source.state_at(t0) == token_state::expired);
    CHECK(source.current().access_token().empty());
    CHECK(source.current().grant().refresh_token.expose_secret() == "R0");

    CHECK(access_of(source.get()) == "A1");
    CHECK(transport.calls() == 1);
    CHECK(transport.sent[0] == "R0");
    for (int i = 0; i < 5; ++i) {
        clock.at += 60s;
        CHECK(access_of(source.get()) == "A1");
    }
    CHECK(transport.calls() == 1);
    const auto handle = source.get();
    REQUIRE(handle);
    CHECK(handle->grant().refresh_token.expose_secret() == "R1");
    CHECK(handle->grant().issued_at == t0);
    CHECK(source.state_at(clock.at) == token_state::fresh);
    CHECK_FALSE(source.last_error());
}

TEST_CASE("token_source: a stored grant is used without a refresh while fresh") {
    ts::scripted_transport transport;
    ts::fixed_clock clock;
    clock.at = t0 + 3000s;
    source_t source(script_ref{&transport}, ts::credentials(), ts::server(), grant_seed("A1", "R1"),
                    {}, ts::clock_ref{&clock});
    CHECK(access_of(source.get()) == "A1");
    CHECK(transport.calls() == 0);
}

TEST_CASE("token_source: a stored grant that has expired is refreshed with its refresh token") {
    ts::scripted_transport transport;
    transport.then_answer(ts::token_answer("A2", ""));
    ts::fixed_clock clock;
    clock.at = t0 + 10h;
    source_t source(script_ref{&transport}, ts::credentials(), ts::server(), grant_seed("A1", "R1"),
                    {}, ts::clock_ref{&clock});
    CHECK(access_of(source.get()) == "A2");
    REQUIRE(transport.calls() == 1);
    CHECK(transport.sent[0] == "R1");
    CHECK(source.current().grant().refresh_token.expose_secret() == "R1"); // kept
}

TEST_CASE("token_source: every state transition with the injected clock") {
    ts::scripted_transport transport;
    ts::fixed_clock clock;
    clock.at = t0;
    source_t source(script_ref{&transport}, ts::credentials(), ts::server(), grant_seed("A1", "R1"),
                    {}, ts::clock_ref{&clock});
    // fresh until 3240 s: no refresh.
    clock.at = t0 + 3240s - 1ns;
    CHECK(access_of(source.get()) == "A1");
    CHECK(transport.calls() == 0);
    // refresh_soon: the caller refreshes ahead and gets the new token.
    transport.then_answer(ts::token_answer("A2", "R2"));
    clock.at = t0 + 3240s;
    CHECK(source.state_at(clock.at) == token_state::refresh_soon);
    CHECK(access_of(source.get()) == "A2");
    CHECK(transport.calls() == 1);
    CHECK(source.state_at(clock.at) == token_state::fresh);
    // expired: the caller waits for the refresh.
    transport.then_answer(ts::token_answer("A3", "R3"));
    clock.at += 3540s;
    CHECK(source.state_at(clock.at) == token_state::expired);
    CHECK(access_of(source.get()) == "A3");
    CHECK(transport.calls() == 2);
    CHECK(transport.sent[1] == "R2");
}

TEST_CASE("token_source: refresh ahead fails: the old token keeps being served") {
    ts::scripted_transport transport;
    ts::fixed_clock clock;
    babelbird::token_source_options options;
    options.retry_backoff = 10s;
    source_t source(script_ref{&transport}, ts::credentials(), ts::server(), grant_seed("A1", "R1"),
                    options, ts::clock_ref{&clock});
    transport.then_fail(babelbird::errc::timeout);
    clock.at = t0 + 3300s;
    CHECK(access_of(source.get()) == "A1");
    CHECK(transport.calls() == 1);
    REQUIRE(source.last_error());
    CHECK(source.last_error()->code() == babelbird::errc::timeout);
    // Within the backoff: no new attempt, still the old token.
    clock.at += 9s;
    CHECK(access_of(source.get()) == "A1");
    CHECK(transport.calls() == 1);
    // After it: one more attempt, which succeeds.
    transport.then_answer(ts::token_answer("A2", "R2"));
    clock.at += 1s;
    CHECK(access_of(source.get()) == "A2");
    CHECK(transport.calls() == 2);
    CHECK_FALSE(source.last_error());
}

TEST_CASE("token_source: expired and the refresh fails: the error, then backoff") {
    ts::scripted_transport transport;
    ts::fixed_clock clock;
    babelbird::token_source_options options;
    options.retry_backoff = 10s;
    source_t source(script_ref{&transport}, ts::credentials(), ts::server(), refresh_seed("R0"),
                    options, ts::clock_ref{&clock});
    clock.at = t0;
    transport.then_answer(babelbird::http_response(503, "busy"));
    const auto first = source.get();
    REQUIRE_FALSE(first);
    CHECK(first.error().is_retryable());
    CHECK(first.error().http_status() == 503);
    // The same error without calling the server again during the backoff.
    clock.at += 5s;
    const auto second = source.get();
    REQUIRE_FALSE(second);
    CHECK(second.error() == first.error());
    CHECK(transport.calls() == 1);
    clock.at += 5s;
    transport.then_answer(ts::token_answer("A1", "R1"));
    CHECK(access_of(source.get()) == "A1");
    CHECK(transport.calls() == 2);
}

TEST_CASE("token_source: reauthorize errors are remembered, not retried, until reset()") {
    ts::scripted_transport transport;
    ts::fixed_clock clock;
    clock.at = t0;
    source_t source(script_ref{&transport}, ts::credentials(), ts::server(), refresh_seed("R0"), {},
                    ts::clock_ref{&clock});
    transport.then_answer(babelbird::http_response(400, R"({"error":"invalid_grant"})"));
    const auto first = source.get();
    REQUIRE_FALSE(first);
    CHECK(first.error().needs_reauthorization());
    for (int i = 0; i < 10; ++i) {
        clock.at += 24h;
        const auto again = source.get();
        REQUIRE_FALSE(again);
        CHECK(again.error() == first.error());
    }
    CHECK(transport.calls() == 1);

    source.reset(refresh_seed("R-after-login"));
    CHECK_FALSE(source.last_error());
    transport.then_answer(ts::token_answer("A1", "R1"));
    CHECK(access_of(source.get()) == "A1");
    CHECK(transport.sent.back() == "R-after-login");
}

TEST_CASE("token_source: reauthorize during refresh ahead: the valid token until it expires") {
    ts::scripted_transport transport;
    ts::fixed_clock clock;
    source_t source(script_ref{&transport}, ts::credentials(), ts::server(), grant_seed("A1", "R1"),
                    {}, ts::clock_ref{&clock});
    transport.then_answer(babelbird::http_response(401, ""));
    clock.at = t0 + 3300s;
    CHECK(access_of(source.get()) == "A1");
    CHECK(access_of(source.get()) == "A1");
    CHECK(transport.calls() == 1);
    REQUIRE(source.last_error());
    CHECK(source.last_error()->needs_reauthorization());
    clock.at = t0 + 3540s;
    const auto expired = source.get();
    REQUIRE_FALSE(expired);
    CHECK(expired.error().needs_reauthorization());
    CHECK(transport.calls() == 1);
}

TEST_CASE("token_source: invalidate() forces one refresh, only for the cached token") {
    ts::scripted_transport transport;
    ts::fixed_clock clock;
    clock.at = t0;
    source_t source(script_ref{&transport}, ts::credentials(), ts::server(), grant_seed("A1", "R1"),
                    {}, ts::clock_ref{&clock});
    // A token the source never handed out changes nothing.
    source.invalidate(babelbird::secret_view("A0"));
    source.invalidate(babelbird::secret_view(""));
    CHECK(access_of(source.get()) == "A1");
    CHECK(transport.calls() == 0);

    // Ten requests failed with A1: one refresh.
    for (int i = 0; i < 10; ++i) {
        source.invalidate(babelbird::secret_view("A1"));
    }
    CHECK(source.state_at(clock.at) == token_state::expired);
    transport.then_answer(ts::token_answer("A2", "R2"));
    CHECK(access_of(source.get()) == "A2");
    // Late reports about A1 are ignored.
    source.invalidate(babelbird::secret_view("A1"));
    CHECK(access_of(source.get()) == "A2");
    CHECK(access_of(source.get()) == "A2");
    CHECK(transport.calls() == 1);
}

TEST_CASE("token_source: the rotation hook runs once per refresh, before the token is visible") {
    ts::scripted_transport transport;
    ts::fixed_clock clock;
    clock.at = t0;
    std::vector<std::string> hooked;
    std::vector<std::string> visible_during_hook;
    source_t* self = nullptr;
    babelbird::token_source_options options;
    options.on_rotate = [&](const babelbird::token_grant& g) {
        hooked.emplace_back(g.refresh_token.expose_secret());
        // Whoever asks now still sees the previous grant.
        visible_during_hook.emplace_back(self->current().access_token().expose_secret());
        return true;
    };
    source_t source(script_ref{&transport}, ts::credentials(), ts::server(), refresh_seed("R0"),
                    options, ts::clock_ref{&clock});
    self = &source;
    transport.then_answer(ts::token_answer("A1", "R1"));
    CHECK(access_of(source.get()) == "A1");
    transport.then_answer(ts::token_answer("A2", "")); // not rotated: still hooked
    clock.at += 2h;
    CHECK(access_of(source.get()) == "A2");
    CHECK(access_of(source.get()) == "A2");
    REQUIRE(hooked.size() == 2);
    CHECK(hooked[0] == "R1");
    CHECK(hooked[1] == "R1");
    CHECK(visible_during_hook == std::vector<std::string>{"", "A1"});
    CHECK_FALSE(source.persist_failed());
    // A failed refresh does not call the hook.
    transport.then_fail(babelbird::errc::connection_reset);
    clock.at += 2h;
    CHECK_FALSE(source.get());
    CHECK(hooked.size() == 2);
}

TEST_CASE("token_source: a failing hook: the new tokens are used, the failure is retryable") {
    ts::scripted_transport transport;
    ts::fixed_clock clock;
    clock.at = t0;
    int attempts = 0;
    bool disk_ok = false;
    std::string stored = "R0";
    babelbird::token_source_options options;
    options.on_rotate = [&](const babelbird::token_grant& g) {
        ++attempts;
        if (disk_ok) {
            stored = std::string(g.refresh_token.expose_secret());
        }
        return disk_ok;
    };
    source_t source(script_ref{&transport}, ts::credentials(), ts::server(), refresh_seed("R0"),
                    options, ts::clock_ref{&clock});
    transport.then_answer(ts::token_answer("A1", "R1"));
    CHECK(access_of(source.get()) == "A1"); // served although not stored
    CHECK(source.persist_failed());
    CHECK(source.current().grant().refresh_token.expose_secret() == "R1");
    CHECK_FALSE(source.retry_persist());
    CHECK(attempts == 2);
    disk_ok = true;
    CHECK(source.retry_persist());
    CHECK(stored == "R1");
    CHECK_FALSE(source.persist_failed());
    CHECK(source.retry_persist()); // nothing pending: no hook call
    CHECK(attempts == 3);

    // A later refresh supersedes a pending grant: the hook gets the newest.
    disk_ok = false;
    clock.at += 2h;
    transport.then_answer(ts::token_answer("A2", "R2"));
    CHECK(access_of(source.get()) == "A2");
    CHECK(source.persist_failed());
    disk_ok = true;
    clock.at += 2h;
    transport.then_answer(ts::token_answer("A3", "R3"));
    CHECK(access_of(source.get()) == "A3");
    CHECK(stored == "R3");
    CHECK_FALSE(source.persist_failed());
    CHECK(transport.sent == std::vector<std::string>{"R0", "R1", "R2"});
}

TEST_CASE("token_source: waiters share the one refresh in flight and its outcome") {
    // The third kind: the refresh succeeds but its token arrives expired
    // (expires_in 0): everyone in the flight gets the same retry error.
    for (const int kind : {0, 1, 2}) {
        const bool succeed = kind == 0;
        CAPTURE(kind);
        gated_transport transport;
        if (kind == 1) {
            transport.answer = babelbird::error::transport(babelbird::errc::timeout);
        } else if (kind == 2) {
            transport.answer = ts::token_answer("A2", "R2", 0);
        }
        atomic_clock clock;
        babelbird::token_source<gated_transport&, atomic_clock_ref> source(
            transport, ts::credentials(), ts::server(), refresh_seed("R0"), {},
            atomic_clock_ref{&clock});
        constexpr int n = 8;
        std::vector<babelbird::result<babelbird::token_handle>> results(
            n, babelbird::error::usage(babelbird::errc::invalid_argument));
        std::vector<std::thread> threads;
        for (int i = 0; i < n; ++i) {
            threads.emplace_back([&, i] { results[static_cast<std::size_t>(i)] = source.get(); });
        }
        transport.wait_entered();
        std::this_thread::sleep_for(20ms); // let the others queue up behind it
        transport.release();
        for (auto& t : threads) {
            t.join();
        }
        CHECK(transport.calls == 1);
        for (const auto& r : results) {
            if (succeed) {
                REQUIRE(r);
                CHECK(r->access_token().expose_secret() == "A2");
            } else {
                REQUIRE_FALSE(r);
                CHECK(r.error().code() == (kind == 1 ? babelbird::errc::timeout
                                                     : babelbird::errc::token_lifetime_too_short));
                CHECK(r.error().is_retryable());
            }
        }
    }
}

TEST_CASE("token_source: readers of a valid token never wait on the refresh ahead") {
    gated_transport transport;
    atomic_clock clock;
    babelbird::token_source<gated_transport&, atomic_clock_ref> source(
        transport, ts::credentials(), ts::server(), grant_seed("A1", "R1"), {},
        atomic_clock_ref{&clock});
    clock.set(t0 + 3300s); // refresh-soon
    std::thread refresher([&] { CHECK(access_of(source.get()) == "A2"); });
    transport.wait_entered();
    // The refresh is stuck in the transport; everything else still answers.
    for (int i = 0; i < 100; ++i) {
        CHECK(access_of(source.get()) == "A1");
    }
    CHECK(source.state_at(clock.now()) == token_state::refresh_soon);
    CHECK(source.current().access_token().expose_secret() == "A1");
    CHECK_FALSE(source.persist_failed());
    CHECK_FALSE(source.last_error());
    source.invalidate(babelbird::secret_view("other"));
    CHECK(transport.calls == 1);
    transport.release();
    refresher.join();
    CHECK(access_of(source.get()) == "A2");
    CHECK(transport.calls == 1);
}

TEST_CASE("token_source: handles outlive refreshes and the source") {
    ts::scripted_transport transport;
    ts::fixed_clock clock;
    clock.at = t0;
    babelbird::token_handle kept;
    {
        source_t source(script_ref{&transport}, ts::credentials(), ts::server(),
                        grant_seed("A1", "R1"), {}, ts::clock_ref{&clock});
        kept = source.get().value();
        transport.then_answer(ts::token_answer("A2", "R2"));
        source.invalidate(kept.access_token());
        CHECK(access_of(source.get()) == "A2");
    }
    CHECK(kept.access_token().expose_secret() == "A1");
    CHECK(kept.grant().refresh_token.expose_secret() == "R1");
    const babelbird::token_handle empty;
    CHECK_FALSE(empty);
    CHECK(empty.access_token().empty());
    CHECK(empty.grant().refresh_token.empty());
}

TEST_CASE("token_source: default clock, lambda transport and class template argument deduction") {
    auto transport = [](const babelbird::http_request&) -> babelbird::transport_result {
        return ts::token_answer("A1", "R1", 60);
    };
    babelbird::token_source source(transport, ts::credentials(), ts::server(), refresh_seed("R0"));
    CHECK(access_of(source.get()) == "A1");
    CHECK(source.current().grant().expires_at == source.current().grant().issued_at + 60s);
}

// --- docs/design.md "tiny lifetimes", "retry backoff" ---

TEST_CASE("token_source: tiny lifetimes: no refresh storm, never an expired token") {
    // 100 get() calls, 1.7 s of virtual time apart, against a server whose
    // tokens live `lifetime` seconds. At most one refresh per 30 s
    // (min_refresh_interval, the default), and no get() returns a token that
    // is expired at the clock reading it took.
    for (const long lifetime : {0L, 1L, 20L, 45L, 61L, 119L}) {
        CAPTURE(lifetime);
        ts::scripted_transport transport;
        ts::fixed_clock clock;
        clock.at = t0;
        std::vector<babelbird::time_point> sent_at;
        for (int i = 1; i <= 100; ++i) {
            transport.then([&, i](const babelbird::http_request&) -> babelbird::transport_result {
                sent_at.push_back(clock.at);
                const std::string g = std::to_string(i);
                return ts::token_answer("A" + g, "R" + g, lifetime);
            });
        }
        source_t source(script_ref{&transport}, ts::credentials(), ts::server(), refresh_seed("R0"),
                        {}, ts::clock_ref{&clock});
        int served = 0;
        int refused = 0;
        for (int call = 0; call < 100; ++call) {
            const auto now = clock.at;
            const auto got = source.get();
            if (got) {
                ++served;
                const auto& g = got->grant();
                CHECK(now < babelbird::expiry_window_for(g.issued_at, g.expires_at).usable_until);
            } else {
                ++refused;
                CHECK(got.error().code() == babelbird::errc::token_lifetime_too_short);
                CHECK(got.error().is_retryable());
                CHECK(ts::remember(got.error()).find('A') == std::string::npos);
            }
            clock.at += 1700ms;
        }
        // 168.3 s of calls: refreshes at 0, >= 30, >= 60, ... at most 6.
        CHECK(sent_at.size() >= 2);
        CHECK(sent_at.size() <= 6);
        for (std::size_t i = 1; i < sent_at.size(); ++i) {
            CHECK(sent_at[i] - sent_at[i - 1] >= 30s);
        }
        // Each refresh sent the refresh token of the one before.
        for (std::size_t i = 0; i < transport.sent.size(); ++i) {
            CHECK(transport.sent[i] == "R" + std::to_string(i));
        }
        CHECK(transport.exhausted == 0);
        if (lifetime == 0) {
            CHECK(served == 0);
        }
        if (lifetime >= 61) { // usable for >= 30.5 s: always a token, no error
            CHECK(refused == 0);
        }
        CHECK(served + refused == 100);
    }
}

TEST_CASE("token_source: tiny lifetimes: the interval is an option; invalidate() skips it") {
    ts::scripted_transport transport;
    ts::fixed_clock clock;
    clock.at = t0;
    babelbird::token_source_options options;
    options.min_refresh_interval = 5s;
    source_t source(script_ref{&transport}, ts::credentials(), ts::server(), refresh_seed("R0"),
                    options, ts::clock_ref{&clock});
    transport.then_answer(ts::token_answer("A1", "R1", 0));
    CHECK(source.get().error().code() == babelbird::errc::token_lifetime_too_short);
    clock.at = t0 + 4s;
    CHECK(source.get().error().code() == babelbird::errc::token_lifetime_too_short);
    CHECK(transport.calls() == 1);
    clock.at = t0 + 5s;
    transport.then_answer(ts::token_answer("A2", "R2", 3600));
    CHECK(access_of(source.get()) == "A2");
    // A rejection is the server's word, not the clock's: refresh at once.
    source.invalidate(babelbird::secret_view("A2"));
    transport.then_answer(ts::token_answer("A3", "R3", 3600));
    CHECK(access_of(source.get()) == "A3");
    CHECK(transport.calls() == 3);
    CHECK(transport.sent == std::vector<std::string>{"R0", "R1", "R2"});
}

TEST_CASE("token_source: Retry-After: no refresh before it; backoff grows; success resets") {
    ts::scripted_transport transport;
    ts::fixed_clock clock;
    clock.at = t0;
    babelbird::token_source_options options;
    options.retry_backoff = 2s;
    options.max_retry_backoff = 16s;
    options.jitter_seed = 42;
    source_t source(script_ref{&transport}, ts::credentials(), ts::server(), refresh_seed("R0"),
                    options, ts::clock_ref{&clock});
    transport.then([](const babelbird::http_request&) -> babelbird::transport_result {
        return babelbird::error::transport(babelbird::errc::connection_refused)
            .with_retry_after(90s);
    });
    const auto first = source.get();
    REQUIRE_FALSE(first);
    CHECK(first.error().retry_after() == std::chrono::seconds(90));
    for (auto after : {1s, 30s, 89s}) {
        clock.at = t0 + after;
        CHECK(source.get().error().code() == babelbird::errc::connection_refused);
    }
    CHECK(transport.calls() == 1);

    // Failure n (the Retry-After one was the first) waits a delay in
    // [2 s, min(16 s, 2 s * 2^(n-1))]: no call just before 2 s, a call at the ceiling.
    auto at = t0 + 90s;
    for (int n = 2; n <= 7; ++n) {
        CAPTURE(n);
        const auto ceiling = std::min<std::chrono::nanoseconds>(16s, 2s * (1LL << (n - 1)));
        clock.at = at;
        transport.then_fail(babelbird::errc::timeout);
        CHECK(source.get().error().code() == babelbird::errc::timeout);
        REQUIRE(transport.calls() == static_cast<std::size_t>(n));
        clock.at = at + 2s - 1ns;
        CHECK(source.get().error().code() == babelbird::errc::timeout);
        CHECK(transport.calls() == static_cast<std::size_t>(n)); // still backing off
        at += std::chrono::duration_cast<babelbird::time_point::duration>(
            std::max<std::chrono::nanoseconds>(ceiling, 2s));
    }
    // A success resets the count: after it, a failure waits exactly 2 s.
    clock.at = at;
    transport.then_answer(ts::token_answer("A1", "R1"));
    CHECK(access_of(source.get()) == "A1");
    source.invalidate(babelbird::secret_view("A1"));
    transport.then_fail(babelbird::errc::timeout);
    CHECK_FALSE(source.get());
    clock.at = at + 2s - 1ns;
    CHECK_FALSE(source.get());
    CHECK(transport.calls() == 9);
    clock.at = at + 2s;
    transport.then_answer(ts::token_answer("A2", "R2"));
    CHECK(access_of(source.get()) == "A2");
    CHECK(transport.exhausted == 0);
    CHECK(transport.sent.back() == "R1");
}

// --- docs/design.md "nothing lost": salvaged refresh tokens ---

TEST_CASE("token_source: the server rotates, then the answer is rejected: nothing lost") {
    const char* bodies[] = {
        R"({"access_token":"","refresh_token":"RT-2","expires_in":3600})",
        R"({"access_token":"A1","refresh_token":"RT-2","expires_in":"an hour"})",
        R"({"access_token":"A1","refresh_token":"RT-2","expires_in":-1})",
    };
    for (const char* body : bodies) {
        CAPTURE(body);
        ts::scripted_transport transport; // records the refresh token of each call
        ts::fixed_clock clock;
        clock.at = t0 + 3600s; // the stored grant has expired
        std::vector<babelbird::token_grant> hooked;
        std::vector<std::string> visible_in_hook;
        source_t* self = nullptr;
        babelbird::token_source_options options;
        options.on_rotate = [&](const babelbird::token_grant& g) {
            hooked.push_back(g);
            // Persist before publish: nobody sees the new refresh token yet.
            visible_in_hook.emplace_back(self->current().grant().refresh_token.expose_secret());
            return true;
        };
        source_t source(script_ref{&transport}, ts::credentials(), ts::server(),
                        grant_seed("A0", "RT-1"), options, ts::clock_ref{&clock});
        self = &source;

        transport.then_answer(babelbird::http_response(200, body));
        const auto failed = source.get();
        REQUIRE_FALSE(failed); // the error reaches the caller
        CHECK(failed.error().kind() == babelbird::error_class::protocol);
        CHECK(ts::remember(failed.error()).find("RT-2") == std::string::npos);
        // The hook got the salvaged grant: empty access token, the new refresh token.
        REQUIRE(hooked.size() == 1);
        CHECK(hooked[0].access_token.empty());
        CHECK(hooked[0].refresh_token.expose_secret() == "RT-2");
        CHECK(hooked[0].refresh_token_rotated);
        CHECK(hooked[0].refresh_expires_at == clock.at + std::chrono::hours(24 * 30));
        CHECK(visible_in_hook == std::vector<std::string>{"RT-1"});
        CHECK_FALSE(source.persist_failed());
        CHECK(source.current().grant().refresh_token.expose_secret() == "RT-2");

        // After the backoff (2 s) the next refresh sends RT-2, never RT-1 again.
        clock.at += 2s;
        transport.then_answer(ts::token_answer("A3", "RT-3"));
        CHECK(access_of(source.get()) == "A3");
        source.invalidate(babelbird::secret_view("A3"));
        transport.then_answer(ts::token_answer("A4", ""));
        CHECK(access_of(source.get()) == "A4");
        CHECK(transport.sent == std::vector<std::string>{"RT-1", "RT-2", "RT-3"});
        REQUIRE(hooked.size() == 3);
        CHECK(hooked[1].refresh_token.expose_secret() == "RT-3");
        CHECK(hooked[2].refresh_token.expose_secret() == "RT-3");
        CHECK(transport.exhausted == 0);
    }
}

TEST_CASE("token_source: a salvage during refresh ahead: the valid token is still served") {
    ts::scripted_transport transport;
    ts::fixed_clock clock;
    clock.at = t0 + 3300s; // refresh-soon: A0 valid until 3540 s
    std::vector<std::string> stored;
    babelbird::token_source_options options;
    options.on_rotate = [&](const babelbird::token_grant& g) {
        stored.emplace_back(g.refresh_token.expose_secret());
        return true;
    };
    source_t source(script_ref{&transport}, ts::credentials(), ts::server(),
                    grant_seed("A0", "RT-1"), options, ts::clock_ref{&clock});
    transport.then_answer(
        babelbird::http_response(200, R"({"access_token":" A1","refresh_token":"RT-2"})"));
    const auto got = source.get();
    REQUIRE(got);
    CHECK(got->access_token().expose_secret() == "A0");
    // The handle's grant carries the refresh token to store, not the retired one.
    CHECK(got->grant().refresh_token.expose_secret() == "RT-2");
    CHECK(stored == std::vector<std::string>{"RT-2"});
    REQUIRE(source.last_error());
    CHECK(source.last_error()->kind() == babelbird::error_class::protocol);
    // Served without calling the server until the backoff ends.
    clock.at += 1s;
    CHECK(access_of(source.get()) == "A0");
    CHECK(transport.calls() == 1);
    clock.at += 1s;
    transport.then_answer(ts::token_answer("A1", "RT-3"));
    CHECK(access_of(source.get()) == "A1");
    CHECK(transport.sent == std::vector<std::string>{"RT-1", "RT-2"});
}

TEST_CASE("token_source: a hook that fails to store a salvaged token: retry_persist() stores it") {
    ts::scripted_transport transport;
    ts::fixed_clock clock;
    clock.at = t0;
    bool accept = false;
    std::vector<std::string> stored;
    babelbird::token_source_options options;
    options.on_rotate = [&](const babelbird::token_grant& g) {
        if (!accept) {
            return false;
        }
        CHECK(g.access_token.empty()); // the salvaged grant itself
        stored.emplace_back(g.refresh_token.expose_secret());
        return true;
    };
    source_t source(script_ref{&transport}, ts::credentials(), ts::server(), refresh_seed("RT-1"),
                    options, ts::clock_ref{&clock});
    transport.then_answer(
        babelbird::http_response(200, R"({"access_token":"","refresh_token":"RT-2"})"));
    CHECK_FALSE(source.get());
    CHECK(source.persist_failed());
    // Used anyway: the server has retired RT-1.
    CHECK(source.current().grant().refresh_token.expose_secret() == "RT-2");
    CHECK_FALSE(source.retry_persist());
    accept = true;
    CHECK(source.retry_persist());
    CHECK_FALSE(source.persist_failed());
    CHECK(stored == std::vector<std::string>{"RT-2"});
}

TEST_CASE("token_source: a 429/503 with Retry-After: no refresh before it (end to end)") {
    for (const int status : {429, 503}) {
        CAPTURE(status);
        ts::scripted_transport transport;
        ts::fixed_clock clock;
        clock.at = t0;
        source_t source(script_ref{&transport}, ts::credentials(), ts::server(), refresh_seed("R0"),
                        {}, ts::clock_ref{&clock});
        transport.then_answer(babelbird::http_response(status, "", {{"Retry-After", "120"}}));
        const auto busy = source.get();
        REQUIRE_FALSE(busy);
        CHECK(busy.error().kind() == babelbird::error_class::retry);
        CHECK(busy.error().retry_after() == std::chrono::seconds(120));
        clock.at = t0 + 120s - 1ns;
        CHECK(source.get().error() == busy.error());
        CHECK(transport.calls() == 1);
        clock.at = t0 + 120s;
        transport.then_answer(ts::token_answer("A1", "R1"));
        CHECK(access_of(source.get()) == "A1");
        CHECK(transport.sent == std::vector<std::string>{"R0", "R0"});
    }
}

} // namespace test_token_source
