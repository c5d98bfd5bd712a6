// async_token_source over a shared store (docs/design.md, "Shared store"):
// memory_token_store made asynchronous with store_on_executor over a thread
// pool (or over a queue the test drains), a rotating fake server behind an
// asynchronous transport, and a timer thread as the source's scheduler.
#include "async_support.hpp"

#include <babelbird/drivers/async_token_source.hpp>
#include <babelbird/drivers/memory_token_store.hpp>
#include <babelbird/drivers/token_store.hpp>

#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

// A namespace per file: the unit tests are compiled as unity chunks.
namespace test_async_store {

using namespace std::chrono_literals;
namespace ts = test_support;
namespace bb = babelbird;

/// A server that rotates refresh tokens: `live` (and any token in
/// `reuse_ok`) refreshes, anything else is `invalid_grant`. Thread-safe.
struct rotating_server {
    std::mutex mutex;
    std::string live = "R0";
    std::set<std::string> reuse_ok;
    int issued = 0;
    std::map<std::string, int> seen;

    bb::transport_result answer(const bb::http_request& request) {
        std::lock_guard lock(mutex);
        const std::string sent = ts::sent_refresh_token(request);
        ++seen[sent];
        if ((!live.empty() && sent == live) || reuse_ok.count(sent) != 0) {
            ++issued;
            live = "R" + std::to_string(issued);
            return ts::token_answer("A" + std::to_string(issued), live, 3600);
        }
        return bb::http_response(400, R"({"error":"invalid_grant"})");
    }
    int issued_count() {
        std::lock_guard lock(mutex);
        return issued;
    }
    int requests() {
        std::lock_guard lock(mutex);
        int n = 0;
        for (const auto& [token, count] : seen) {
            n += count;
        }
        return n;
    }
    int max_presented() {
        std::lock_guard lock(mutex);
        int most = 0;
        for (const auto& [token, count] : seen) {
            most = count > most ? count : most;
        }
        return most;
    }
    int presented(const std::string& token) {
        std::lock_guard lock(mutex);
        const auto it = seen.find(token);
        return it == seen.end() ? 0 : it->second;
    }
};

/// Answers each request on the pool.
struct pool_transport {
    rotating_server* server;
    ts::thread_pool* pool;
    void async_send(const bb::http_request& request, bb::transport_completion&& done) {
        pool->post([s = server, r = request, d = std::move(done)]() mutable { d(s->answer(r)); });
    }
};

/// Holds each request until the test releases it. Thread-safe.
struct gate {
    explicit gate(rotating_server* s) : server(s) {}
    rotating_server* server;
    std::mutex mutex;
    std::condition_variable cv;
    std::deque<std::pair<bb::http_request, bb::transport_completion>> held;

    void hold(const bb::http_request& request, bb::transport_completion&& done) {
        {
            std::lock_guard lock(mutex);
            held.emplace_back(request, std::move(done));
        }
        cv.notify_all();
    }
    bool wait_for_held(std::size_t n) {
        std::unique_lock lock(mutex);
        return cv.wait_for(lock, 10s, [&] { return held.size() >= n; });
    }
    /// Answers the held request at `index` (from the server) on this thread.
    void release(std::size_t index = 0) {
        std::pair<bb::http_request, bb::transport_completion> e;
        {
            std::lock_guard lock(mutex);
            REQUIRE(index < held.size());
            e = std::move(held[index]);
            held.erase(held.begin() + static_cast<std::ptrdiff_t>(index));
        }
        e.second(server->answer(e.first));
    }
};

struct gate_transport {
    gate* g;
    void async_send(const bb::http_request& request, bb::transport_completion&& done) {
        g->hold(request, std::move(done));
    }
};

/// A scheduler on its own thread; functions still pending at destruction are
/// destroyed uncalled.
class timer_thread {
public:
    timer_thread() : thread_([this] { run(); }) {}
    timer_thread(const timer_thread&) = delete;
    timer_thread& operator=(const timer_thread&) = delete;
    ~timer_thread() {
        {
            std::lock_guard lock(mutex_);
            stop_ = true;
        }
        cv_.notify_all();
        thread_.join();
    }
    bb::delay_scheduler scheduler() {
        return [this](std::chrono::milliseconds delay, bb::unique_function<void()> fn) {
            {
                std::lock_guard lock(mutex_);
                items_.emplace(std::chrono::steady_clock::now() + delay, std::move(fn));
                ++scheduled_;
            }
            cv_.notify_all();
        };
    }
    int scheduled() {
        std::lock_guard lock(mutex_);
        return scheduled_;
    }

private:
    void run() {
        std::unique_lock lock(mutex_);
        while (!stop_) {
            if (items_.empty()) {
                cv_.wait(lock);
                continue;
            }
            const auto at = items_.begin()->first;
            if (std::chrono::steady_clock::now() < at) {
                cv_.wait_until(lock, at);
                continue;
            }
            bb::unique_function<void()> fn = std::move(items_.begin()->second);
            items_.erase(items_.begin());
            lock.unlock();
            fn();
            fn = nullptr;
            lock.lock();
        }
    }
    std::mutex mutex_;
    std::condition_variable cv_;
    std::multimap<std::chrono::steady_clock::time_point, bb::unique_function<void()>> items_;
    int scheduled_ = 0;
    bool stop_ = false;
    std::thread thread_;
};

/// A blocking store over a memory store that counts the commits that mark
/// the record dead.
struct counting_store {
    bb::memory_token_store* inner;
    std::atomic<int>* dead_marks;
    bb::result<bb::store_record> load() { return inner->load(); }
    bb::result<bool> try_acquire(std::string_view o, std::chrono::milliseconds t) {
        return inner->try_acquire(o, t);
    }
    bb::result<bool> renew(std::string_view o, std::chrono::milliseconds t) {
        return inner->renew(o, t);
    }
    bb::result<bool> release(std::string_view o) { return inner->release(o); }
    bb::result<bb::commit_outcome> commit(std::uint64_t gen, const bb::store_record& r) {
        auto out = inner->commit(gen, r);
        if (out && out->applied && r.state == bb::grant_state::dead) {
            ++*dead_marks;
        }
        return out;
    }
    bb::result<void> stash_orphan(const bb::token_grant& g) { return inner->stash_orphan(g); }
    bb::result<std::vector<bb::token_grant>> orphans() { return inner->orphans(); }
    bb::result<bool> remove_orphan(const bb::token_grant& g) { return inner->remove_orphan(g); }
};

/// Every source's seed: an expired copy of one grant (refresh token R0).
bb::token_seed old_seed() {
    return bb::token_seed::from_grant(
               ts::stored_grant("old", "R0", bb::time_point(std::chrono::seconds(1000)), 60s))
        .value();
}

/// A pending `async_get`'s outcome.
using pending_get = std::shared_ptr<std::promise<bb::result<bb::token_handle>>>;

template <class Source>
pending_get start_get(Source& source) {
    auto p = std::make_shared<std::promise<bb::result<bb::token_handle>>>();
    source.async_get([p](bb::result<bb::token_handle> r) { p->set_value(std::move(r)); });
    return p;
}

bb::result<bb::token_handle> wait(const pending_get& p) {
    auto f = p->get_future();
    REQUIRE(f.wait_for(10s) == std::future_status::ready);
    return f.get();
}

std::string access_of(const bb::result<bb::token_handle>& r) {
    return r ? std::string(r->access_token().expose_secret()) : std::string("<error>");
}

using pool_store = bb::store_on_executor<bb::memory_token_store, ts::pool_executor>;

TEST_CASE("async store: four sources share one store: one refresh per expiry, the others adopt "
          "the record, no refresh token presented twice") {
    bb::memory_token_store mem;
    rotating_server server;
    ts::thread_pool pool(4);
    ts::pool_executor ex{&pool};
    timer_thread timers;
    auto store = std::make_shared<bb::any_async_token_store>(pool_store(mem, ex));
    using source_t = bb::async_token_source<pool_transport, ts::pool_executor>;
    std::vector<std::unique_ptr<source_t>> sources;
    for (int i = 0; i < 4; ++i) {
        bb::async_token_source_options o;
        o.async_store = store;
        o.schedule_after = timers.scheduler();
        o.lease_poll = 4ms;
        o.min_refresh_interval = 0ms;
        sources.push_back(std::make_unique<source_t>(pool_transport{&server, &pool}, ex,
                                                     ts::credentials(), ts::server(), old_seed(),
                                                     std::move(o)));
    }
    for (int round = 1; round <= 3; ++round) {
        const std::string expected = "A" + std::to_string(round);
        std::vector<pending_get> gets;
        for (auto& s : sources) {
            if (round > 1) {
                s->invalidate(bb::secret_view("A" + std::to_string(round - 1)));
            }
            gets.push_back(start_get(*s));
            gets.push_back(start_get(*s));
        }
        for (const auto& g : gets) {
            CHECK(access_of(wait(g)) == expected);
        }
        CHECK(server.issued_count() == round);
    }
    CHECK(server.max_presented() == 1);
    pool.wait_idle();
    const auto rec = mem.load().value();
    REQUIRE(rec.grant);
    CHECK(rec.grant->refresh_token.expose_secret() == "R3");
    CHECK(mem.try_acquire("check", 1s).value()); // every lease released
    sources.clear();
    pool.wait_idle();
}

TEST_CASE("async store: a source that meets another's lease waits on the scheduler, then adopts "
          "its grant without a refresh") {
    bb::memory_token_store mem;
    rotating_server server;
    gate g(&server);
    ts::thread_pool pool(2);
    ts::pool_executor ex{&pool};
    timer_thread timers;
    auto store = std::make_shared<bb::any_async_token_store>(pool_store(mem, ex));
    const auto options = [&] {
        bb::async_token_source_options o;
        o.async_store = store;
        o.schedule_after = timers.scheduler();
        o.lease_poll = 4ms;
        return o;
    };
    bb::async_token_source a(gate_transport{&g}, ex, ts::credentials(), ts::server(), old_seed(),
                             options());
    bb::async_token_source b(gate_transport{&g}, ex, ts::credentials(), ts::server(), old_seed(),
                             options());
    auto got_a = start_get(a);
    REQUIRE(g.wait_for_held(1));
    const int before = timers.scheduled();
    auto got_b = start_get(b);
    // b polls: several waits pass while a's request is held.
    for (int i = 0; i < 1000 && timers.scheduled() < before + 3; ++i) {
        std::this_thread::sleep_for(1ms);
    }
    CHECK(timers.scheduled() >= before + 3);
    {
        std::lock_guard lock(g.mutex);
        CHECK(g.held.size() == 1); // b never sent
    }
    g.release();
    CHECK(access_of(wait(got_a)) == "A1");
    CHECK(access_of(wait(got_b)) == "A1");
    CHECK(server.issued_count() == 1);
    CHECK(server.presented("R0") == 1);
    pool.wait_idle();
}

TEST_CASE("async store: a refresh that loses the commit keeps its grant as an orphan and adopts "
          "the winner's") {
    bb::memory_token_store mem;
    rotating_server server;
    server.reuse_ok.insert("R0"); // a lenient server: R0 refreshes twice
    gate g(&server);
    ts::thread_pool pool(2);
    ts::pool_executor ex{&pool};
    timer_thread timers;
    auto store = std::make_shared<bb::any_async_token_store>(pool_store(mem, ex));
    const auto options = [&] {
        bb::async_token_source_options o;
        o.async_store = store;
        o.schedule_after = timers.scheduler();
        o.lease_poll = 4ms;
        o.lease_ttl = 40ms;
        o.renew_lease = false; // a's lease expires while its request is held
        return o;
    };
    bb::async_token_source a(gate_transport{&g}, ex, ts::credentials(), ts::server(), old_seed(),
                             options());
    bb::async_token_source b(gate_transport{&g}, ex, ts::credentials(), ts::server(), old_seed(),
                             options());
    auto got_a = start_get(a);
    REQUIRE(g.wait_for_held(1));
    std::this_thread::sleep_for(120ms);
    auto got_b = start_get(b);
    REQUIRE(g.wait_for_held(2));
    g.release(1); // b's answer first: b commits
    CHECK(access_of(wait(got_b)) == "A1");
    g.release(0); // a's answer (A2, R2) meets b's commit
    const auto ra = wait(got_a);
    CHECK(access_of(ra) == "A1"); // the winner's record, adopted
    pool.wait_idle();
    const auto orphans = mem.orphans().value();
    REQUIRE(orphans.size() == 1);
    CHECK(orphans[0].refresh_token.expose_secret() == "R2");
    CHECK(mem.load().value().grant->refresh_token.expose_secret() == "R1");
}

TEST_CASE("async store: invalid_grant: the record's token, then each orphan once, then one dead "
          "mark; every waiter of every source gets reauthorize") {
    bb::memory_token_store mem;
    std::atomic<int> dead_marks{0};
    counting_store counting{&mem, &dead_marks};
    {
        bb::store_record r;
        r.grant = ts::stored_grant("Ad", "Rd", bb::time_point(std::chrono::seconds(2000)), 60s);
        REQUIRE(mem.commit(0, r).value().applied);
        REQUIRE(mem.stash_orphan(ts::stored_grant("Ao1", "Ro1", {}, 60s)));
        REQUIRE(mem.stash_orphan(ts::stored_grant("Ao2", "Ro2", {}, 60s)));
    }
    rotating_server server;
    server.live.clear(); // nothing refreshes
    ts::thread_pool pool(4);
    ts::pool_executor ex{&pool};
    timer_thread timers;
    auto store = std::make_shared<bb::any_async_token_store>(
        bb::store_on_executor<counting_store, ts::pool_executor>(counting, ex));
    using source_t = bb::async_token_source<pool_transport, ts::pool_executor>;
    std::vector<std::unique_ptr<source_t>> sources;
    for (int i = 0; i < 3; ++i) {
        bb::async_token_source_options o;
        o.async_store = store;
        o.schedule_after = timers.scheduler();
        o.lease_poll = 4ms;
        sources.push_back(std::make_unique<source_t>(pool_transport{&server, &pool}, ex,
                                                     ts::credentials(), ts::server(), old_seed(),
                                                     std::move(o)));
    }
    std::vector<pending_get> gets;
    for (auto& s : sources) {
        gets.push_back(start_get(*s));
        gets.push_back(start_get(*s));
    }
    for (const auto& gt : gets) {
        const auto r = wait(gt);
        REQUIRE_FALSE(r);
        CHECK(r.error().kind() == bb::error_class::reauthorize);
    }
    pool.wait_idle();
    CHECK(server.presented("Rd") == 1);
    CHECK(server.presented("Ro2") == 1);
    CHECK(server.presented("Ro1") == 1);
    CHECK(server.presented("R0") == 0); // the seeds are older than the record
    CHECK(server.requests() == 3);
    CHECK(dead_marks.load() == 1);
    CHECK(mem.load().value().state == bb::grant_state::dead);
    CHECK(mem.orphans().value().empty());
    sources.clear();
    pool.wait_idle();
}

/// One source whose store, transport and executor all wait for the test.
struct manual_rig {
    bb::memory_token_store mem;
    ts::manual_queue store_queue;
    ts::manual_executor store_ex{&store_queue};
    ts::manual_queue source_queue;
    ts::manual_transport transport;
    rotating_server server;
    std::unique_ptr<bb::async_token_source<ts::manual_transport_ref, ts::manual_executor>> source;
    std::deque<bb::unique_function<void()>> timers;

    explicit manual_rig(bool with_scheduler = true,
                        std::optional<std::chrono::milliseconds> lease_wait = std::nullopt) {
        bb::async_token_source_options o;
        o.lease_wait = lease_wait;
        o.async_store = std::make_shared<bb::any_async_token_store>(
            bb::store_on_executor<bb::memory_token_store, ts::manual_executor>(mem, store_ex));
        if (with_scheduler) {
            o.schedule_after = [this](std::chrono::milliseconds, bb::unique_function<void()> fn) {
                timers.push_back(std::move(fn));
            };
        }
        source =
            std::make_unique<bb::async_token_source<ts::manual_transport_ref, ts::manual_executor>>(
                ts::manual_transport_ref{&transport}, ts::manual_executor{&source_queue},
                ts::credentials(), ts::server(), old_seed(), std::move(o));
    }
    manual_rig(const manual_rig&) = delete;
    manual_rig& operator=(const manual_rig&) = delete;
    ~manual_rig() {
        source.reset();
        drop_timers();
        settle();
    }
    /// Runs the store's queue and the source's until both are empty.
    void settle() {
        while (store_queue.drain() + source_queue.drain() > 0) {
        }
    }
    /// Destroys the queued store jobs uncalled (moved out first: what their
    /// completions start meanwhile is queued anew).
    void drop_store_jobs() {
        auto dropped = std::move(store_queue.work);
        store_queue.work.clear();
        dropped.clear();
    }
    void drop_timers() {
        auto dropped = std::move(timers);
        timers.clear();
        dropped.clear();
    }
};

TEST_CASE("async store: destroyed while a store operation is in flight") {
    SUBCASE("its completion runs later: the waiter was cancelled, nothing else happens") {
        manual_rig rig;
        ts::slot<bb::result<bb::token_handle>> got;
        rig.source->async_get(got.sink());
        REQUIRE(rig.store_queue.work.size() == 1); // the load
        rig.source.reset();
        rig.source_queue.drain();
        REQUIRE(got.calls == 1);
        CHECK(got.value->error().code() == bb::errc::cancelled);
        rig.settle();                       // the load completes into the destroyed source
        CHECK(rig.store_queue.posted == 1); // no step after it
        CHECK(rig.transport.sent.empty());
        CHECK(got.calls == 1);
    }
    SUBCASE("its completion is destroyed uncalled later") {
        manual_rig rig;
        ts::slot<bb::result<bb::token_handle>> got;
        rig.source->async_get(got.sink());
        rig.settle(); // load, acquire, reload, intent: the request is sent
        REQUIRE(rig.transport.pending.size() == 1);
        rig.transport.answer(rig.server.answer(rig.transport.sent.back()));
        REQUIRE(rig.store_queue.work.size() == 1); // the commit
        rig.source.reset();
        rig.drop_store_jobs(); // the commit's completion dies uncalled
        rig.settle();
        CHECK(got.calls == 1);
    }
    SUBCASE("a late answer after the destructor is still committed, and the lease released") {
        manual_rig rig;
        ts::slot<bb::result<bb::token_handle>> got;
        rig.source->async_get(got.sink());
        rig.settle();
        REQUIRE(rig.transport.pending.size() == 1);
        rig.source.reset();
        rig.source_queue.drain();
        CHECK(got.value->error().code() == bb::errc::cancelled);
        rig.transport.answer(rig.server.answer(rig.transport.sent.back()));
        rig.settle();
        const auto rec = rig.mem.load().value();
        REQUIRE(rec.grant);
        CHECK(rec.grant->refresh_token.expose_secret() == "R1");
        CHECK(rig.mem.try_acquire("other", 1s).value());
    }
    SUBCASE("a wait in progress: its timer fires, or dies, after the destructor") {
        for (const bool fire : {true, false}) {
            manual_rig rig;
            REQUIRE(rig.mem.try_acquire("other", 10s).value());
            ts::slot<bb::result<bb::token_handle>> got;
            rig.source->async_get(got.sink());
            rig.settle();
            REQUIRE(rig.timers.size() == 1);
            rig.source.reset();
            if (fire) {
                rig.timers.front()();
            }
            rig.drop_timers();
            rig.settle();
            CHECK(rig.store_queue.posted == 2); // the load and the acquire, nothing after
            CHECK(got.calls == 1);
        }
    }
}

TEST_CASE("async store: a store completion destroyed uncalled is a store failure (class retry)") {
    manual_rig rig;
    ts::slot<bb::result<bb::token_handle>> got;
    rig.source->async_get(got.sink());
    REQUIRE(rig.store_queue.work.size() == 1);
    rig.drop_store_jobs();
    rig.settle();
    REQUIRE(got.calls == 1);
    REQUIRE_FALSE(*got.value);
    CHECK(got.value->error().kind() == bb::error_class::retry);
    CHECK(got.value->error().code() == bb::errc::transport_failure);
    CHECK(rig.transport.sent.empty());
}

TEST_CASE("async store: a scheduler's function destroyed uncalled ends the wait as a store "
          "failure; a fired one polls again") {
    manual_rig rig;
    REQUIRE(rig.mem.try_acquire("other", 10s).value());
    ts::slot<bb::result<bb::token_handle>> got;
    rig.source->async_get(got.sink());
    rig.settle();
    REQUIRE(rig.timers.size() == 1);
    {
        auto fn = std::move(rig.timers.front());
        rig.timers.pop_front();
        fn(); // re-load, try again: held still, another wait
    }
    rig.settle();
    REQUIRE(rig.timers.size() == 1);
    CHECK(got.calls == 0);
    rig.drop_timers();
    rig.settle();
    REQUIRE(got.calls == 1);
    REQUIRE_FALSE(*got.value);
    CHECK(got.value->error().kind() == bb::error_class::retry);
    CHECK(rig.transport.sent.empty());
}

TEST_CASE("async store: without a scheduler, a refresh that must wait for a lease fails with a "
          "usage error") {
    manual_rig rig(false);
    REQUIRE(rig.mem.try_acquire("other", 10s).value());
    ts::slot<bb::result<bb::token_handle>> got;
    rig.source->async_get(got.sink());
    rig.settle();
    REQUIRE(got.calls == 1);
    REQUIRE_FALSE(*got.value);
    CHECK(got.value->error().kind() == bb::error_class::usage);
    CHECK(got.value->error().code() == bb::errc::no_scheduler);
    CHECK(rig.transport.sent.empty());
    CHECK(rig.store_queue.posted == 2); // load, acquire: no busy loop
}

TEST_CASE("async store: a lease held past lease_wait fails the refresh with "
          "errc::lease_wait_timeout (class retry), nothing sent") {
    manual_rig rig(true, 5ms);
    REQUIRE(rig.mem.try_acquire("another-source", 10s).value());
    ts::slot<bb::result<bb::token_handle>> got;
    rig.source->async_get(got.sink());
    rig.settle();
    int waits = 0;
    while (got.calls == 0 && !rig.timers.empty() && waits < 1000) {
        std::this_thread::sleep_for(1ms);
        auto fire = std::move(rig.timers.front());
        rig.timers.pop_front();
        fire();
        rig.settle();
        ++waits;
    }
    REQUIRE(got.calls == 1);
    REQUIRE_FALSE(*got.value);
    CHECK(got.value->error().code() == bb::errc::lease_wait_timeout);
    CHECK(got.value->error().kind() == bb::error_class::retry);
    CHECK(waits >= 1);
    CHECK(rig.transport.sent.empty());
}

TEST_CASE("async store: a store that completes inside the call (memory_token_store's own async "
          "form) and a transport that answers inside async_send") {
    auto mem = std::make_shared<bb::memory_token_store>();
    rotating_server server;
    ts::manual_queue queue;
    ts::manual_transport transport;
    transport.inline_answer = ts::token_answer("A1", "R1", 3600);
    bb::async_token_source_options o;
    o.async_store = std::make_shared<bb::any_async_token_store>(mem);
    bb::async_token_source source(ts::manual_transport_ref{&transport}, ts::manual_executor{&queue},
                                  ts::credentials(), ts::server(), old_seed(), std::move(o));
    ts::slot<bb::result<bb::token_handle>> got;
    source.async_get(got.sink());
    CHECK(got.calls == 0); // never inside async_get
    queue.drain();
    REQUIRE(got.calls == 1);
    CHECK(access_of(*got.value) == "A1");
    const auto rec = mem->load().value();
    CHECK(rec.gen == 2); // the intent, the refresh
    CHECK(rec.grant->refresh_token.expose_secret() == "R1");
    CHECK(mem->try_acquire("other", 1s).value());
}

TEST_CASE("async store: the lease is renewed while a slow request runs (another acquirer "
          "fails); with renew_lease = false it expires") {
    for (const bool renew : {true, false}) {
        CAPTURE(renew);
        bb::memory_token_store mem;
        rotating_server server;
        gate g(&server);
        ts::thread_pool pool(2);
        ts::pool_executor ex{&pool};
        timer_thread timers;
        bb::async_token_source_options o;
        o.async_store = std::make_shared<bb::any_async_token_store>(pool_store(mem, ex));
        o.schedule_after = timers.scheduler();
        o.lease_ttl = 60ms;
        o.renew_lease = renew;
        bb::async_token_source a(gate_transport{&g}, ex, ts::credentials(), ts::server(),
                                 old_seed(), std::move(o));
        auto got = start_get(a);
        REQUIRE(g.wait_for_held(1));
        std::this_thread::sleep_for(300ms); // five times the lease's time to live
        CHECK(mem.try_acquire("intruder", 1s).value() == !renew);
        g.release();
        CHECK(access_of(wait(got)) == "A1");
        pool.wait_idle();
        CHECK(mem.load().value().grant->refresh_token.expose_secret() == "R1");
    }
}

TEST_CASE("async store: a blocking token_source given only async_store runs without a store") {
    // The async store is async_token_source's; the blocking source must not
    // start store steps it cannot run (it used to wait for ever).
    bb::memory_token_store mem;
    ts::thread_pool pool(1);
    ts::pool_executor ex{&pool};
    bb::token_source_options o;
    o.async_store = std::make_shared<bb::any_async_token_store>(
        bb::store_on_executor<bb::memory_token_store, ts::pool_executor>(mem, ex));
    int sent = 0;
    auto transport = [&sent](const bb::http_request&) -> bb::transport_result {
        ++sent;
        return ts::token_answer("A1", "R1", 3600);
    };
    bb::token_source<decltype(transport)&> source(
        transport, ts::credentials(), ts::server(),
        bb::token_seed::from_refresh_token(bb::secret_view("R0")).value(), o);
    auto token = source.get();
    REQUIRE(token);
    CHECK(token->access_token().expose_secret() == "A1");
    CHECK(sent == 1);
    CHECK(mem.load().value().gen == 0); // the store was never touched
}

} // namespace test_async_store
