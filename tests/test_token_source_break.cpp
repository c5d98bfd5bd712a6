// token_source under attack, with real threads: sources created and destroyed
// (also at one address) while other threads read sources of the same type,
// threads that exit or read from thread_local destructors, reset() and
// invalidate() racing get(), throwing transports and hooks, a hook that blocks,
// clocks that go backwards or whose upper bound is exactly now(), and tiny
// lifetimes. Also in the token_source_threads executable, which CI runs under
// ThreadSanitizer.
#include "token_support.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <barrier>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <future>
#include <memory>
#include <mutex>
#include <new>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

// A namespace per file: the unit tests are compiled as unity chunks.
namespace test_token_source_break {

using namespace std::chrono_literals;
namespace ts = test_support;
using babelbird::time_point;
using tick_rep = time_point::rep;

namespace {

const time_point t0 = time_point(std::chrono::seconds(1'700'000'000));

/// The last clock reading the calling thread took (through `shared_clock`).
time_point& last_reading() {
    static thread_local time_point reading = time_point::min();
    return reading;
}

/// A clock that any thread may read and move, forward or back; each reading is
/// remembered per thread (`last_reading()`), so a test can check a token
/// against the reading its own get() took.
struct shared_clock {
    std::atomic<tick_rep> ticks{t0.time_since_epoch().count()};
    time_point now() {
        const time_point t(time_point::duration(ticks.load()));
        last_reading() = t;
        return t;
    }
    void set(time_point t) { ticks.store(t.time_since_epoch().count()); }
    void advance(time_point::duration d) { ticks.fetch_add(d.count()); }
};
struct clock_ref {
    shared_clock* c;
    time_point now() const { return c->now(); }
};
/// The same clock with a `now_upper_bound()` that is exactly `now()`.
struct exact_bound_clock_ref {
    shared_clock* c;
    time_point now() const { return c->now(); }
    time_point now_upper_bound() const { return c->now(); }
};
/// The same clock with a `now_upper_bound()` one second ahead of `now()`.
struct loose_bound_clock_ref {
    shared_clock* c;
    time_point now() const { return c->now(); }
    time_point now_upper_bound() const { return c->now() + 1s; }
};
static_assert(babelbird::upper_bound_clock_source<exact_bound_clock_ref>);

/// A clock that stands still (safe from many threads).
struct still_clock {
    time_point now() const { return t0; }
};

/// Tracks how many threads are inside a callable at once.
struct concurrency_probe {
    std::atomic<int> inside{0};
    std::atomic<int> most{0};
    void enter() {
        const int n = ++inside;
        int seen = most.load();
        while (n > seen && !most.compare_exchange_weak(seen, n)) {
        }
    }
    void leave() { --inside; }
};

/// Answers refresh n with "A<n>" / "R<n>", `expires_in` seconds; thread-safe.
struct numbered_transport {
    std::atomic<int> calls{0};
    std::atomic<long> expires_in{3600};
    concurrency_probe probe;
    babelbird::transport_result operator()(const babelbird::http_request&) {
        probe.enter();
        const std::string n = std::to_string(++calls);
        auto answer = ts::token_answer("A" + n, "R" + n, expires_in.load());
        probe.leave();
        return answer;
    }
};
template <class T>
struct ref {
    T* target;
    babelbird::transport_result operator()(const babelbird::http_request& r) const {
        return (*target)(r);
    }
};

/// A transport that must not be called (the tests that use it seed valid grants).
std::atomic<int> refused_calls{0};
struct refusing_transport {
    babelbird::transport_result operator()(const babelbird::http_request&) const {
        ++refused_calls;
        return babelbird::error::transport(babelbird::errc::transport_failure);
    }
};

babelbird::token_seed grant_seed(std::string_view access, std::string_view refresh,
                                 time_point issued_at = t0, std::chrono::seconds lifetime = 3600s) {
    return babelbird::token_seed::from_grant(ts::stored_grant(access, refresh, issued_at, lifetime))
        .value();
}
babelbird::token_seed refresh_seed(std::string_view token) {
    return babelbird::token_seed::from_refresh_token(babelbird::secret_view(token)).value();
}

std::string token_of(const babelbird::result<babelbird::token_handle>& r) {
    return r ? std::string(r->access_token().expose_secret()) : std::string("<error>");
}
/// The number in "A<n>" (-1 for any other token).
int number_of(std::string_view token) {
    if (token.size() < 2 || token[0] != 'A') {
        return -1;
    }
    return std::stoi(std::string(token.substr(1)));
}

/// Whether `h` is usable (under `policy`) at the last reading this thread took.
bool usable_at_last_reading(const babelbird::token_handle& h,
                            const babelbird::expiry_policy& policy = {}) {
    const auto& g = h.grant();
    return !g.access_token.empty() &&
           last_reading() <
               babelbird::expiry_window_for(g.issued_at, g.expires_at, policy).usable_until;
}

template <class Fn>
void run_threads(int n, Fn fn) {
    std::vector<std::thread> threads;
    threads.reserve(static_cast<std::size_t>(n));
    for (int i = 0; i < n; ++i) {
        threads.emplace_back(fn, i);
    }
    for (auto& t : threads) {
        t.join();
    }
}

/// A gate a test opens once.
struct gate {
    std::mutex mutex;
    std::condition_variable cv;
    bool open = false;
    int entered = 0;
    void enter_and_wait() {
        std::unique_lock lock(mutex);
        ++entered;
        cv.notify_all();
        cv.wait(lock, [this] { return open; });
    }
    void wait_entered(int n) {
        std::unique_lock lock(mutex);
        cv.wait(lock, [&] { return entered >= n; });
    }
    void release() {
        std::lock_guard lock(mutex);
        open = true;
        cv.notify_all();
    }
};

using churn_source = babelbird::token_source<refusing_transport, still_clock>;

/// Constructs snapshot cells until the next one takes cache slot 0, so that the
/// next source shares the slot of the previous one (the key-reuse case).
void align_cache_slot() {
    using counter_cell = babelbird::detail::snapshot_cell<int>;
    while (babelbird::detail::snapshot_cell_counter.load() % counter_cell::cache_slots != 0) {
        const counter_cell dummy;
        static_cast<void>(dummy);
    }
}

} // namespace

// --- the per-thread snapshot cache ------------------------------------------

TEST_CASE("break: sources created and destroyed while other threads read other sources") {
    refused_calls = 0;
    // 12 long-lived sources (more than the 8 cache slots, so some share one).
    std::vector<std::unique_ptr<churn_source>> steady;
    for (int i = 0; i < 12; ++i) {
        steady.push_back(std::make_unique<churn_source>(refusing_transport{}, ts::credentials(),
                                                        ts::server(),
                                                        grant_seed("S" + std::to_string(i), "R")));
    }
    std::atomic<int> churners_left{2};
    std::atomic<int> wrong{0};
    std::atomic<long> reads{0};
    run_threads(5, [&](int who) {
        if (who < 2) { // churners: a source on the stack, so often at one address
            for (int i = 0; i < 400; ++i) {
                const std::string mine = "C" + std::to_string(who) + "-" + std::to_string(i);
                churn_source source(refusing_transport{}, ts::credentials(), ts::server(),
                                    grant_seed(mine, "R"));
                for (int k = 0; k < 3; ++k) {
                    if (token_of(source.get()) != mine) {
                        ++wrong;
                    }
                }
                if (i % 7 == 0) {
                    churn_source::release_thread_cache();
                }
            }
            --churners_left;
            return;
        }
        // Readers: every steady source, round and round, until the churn stops.
        int round = 0;
        while (churners_left.load() > 0 || round < 20) {
            for (std::size_t i = 0; i < steady.size(); ++i) {
                if (token_of(steady[i]->get()) != "S" + std::to_string(i)) {
                    ++wrong;
                }
                ++reads;
            }
            if (++round % 13 == 0) {
                churn_source::release_thread_cache();
            }
        }
    });
    CHECK(wrong.load() == 0);
    CHECK(reads.load() > 0);
    CHECK(refused_calls.load() == 0);
}

TEST_CASE("break: a new source at a dead source's address and cache slot, read by the same "
          "threads") {
    refused_calls = 0;
    alignas(churn_source) unsigned char storage[sizeof(churn_source)];
    std::atomic<churn_source*> live{nullptr};
    std::barrier sync(3);
    std::atomic<int> wrong{0};
    constexpr int rounds = 400;
    auto reader = [&](int who) {
        for (int i = 0; i < rounds; ++i) {
            sync.arrive_and_wait(); // constructed
            const std::string expected = "E" + std::to_string(i);
            if ((i + who) % 5 == 0) {
                churn_source::release_thread_cache();
            }
            for (int k = 0; k < 3; ++k) {
                const auto got = live.load()->get();
                if (token_of(got) != expected) {
                    ++wrong;
                }
                live.load()->invalidate(babelbird::secret_view("not-it"));
            }
            sync.arrive_and_wait(); // done reading
        }
    };
    std::thread a(reader, 0);
    std::thread b(reader, 1);
    for (int i = 0; i < rounds; ++i) {
        align_cache_slot();
        live.store(::new (static_cast<void*>(storage))
                       churn_source(refusing_transport{}, ts::credentials(), ts::server(),
                                    grant_seed("E" + std::to_string(i), "R")));
        sync.arrive_and_wait();
        sync.arrive_and_wait();
        live.load()->~churn_source();
    }
    a.join();
    b.join();
    CHECK(wrong.load() == 0);
    CHECK(refused_calls.load() == 0);
}

TEST_CASE("break: threads that read once and exit while the source keeps republishing") {
    numbered_transport transport;
    babelbird::token_source<ref<numbered_transport>, still_clock> source(
        ref<numbered_transport>{&transport}, ts::credentials(), ts::server(),
        grant_seed("A0", "R0"));
    std::atomic<bool> stop{false};
    std::thread republisher([&] {
        while (!stop.load()) {
            const auto got = source.get();
            if (got) {
                source.invalidate(got->access_token());
            }
        }
    });
    std::mutex kept_mutex;
    std::vector<babelbird::token_handle> kept; // handles that outlive their threads
    std::atomic<int> wrong{0};
    for (int wave = 0; wave < 100; ++wave) {
        run_threads(4, [&](int who) {
            const auto got = source.get();
            if (!got || number_of(got->access_token().expose_secret()) < 0) {
                ++wrong;
                return;
            }
            if (who == 0) {
                std::lock_guard lock(kept_mutex);
                kept.push_back(*got);
            }
        });
    }
    stop = true;
    republisher.join();
    CHECK(wrong.load() == 0);
    CHECK(transport.probe.most.load() == 1);
    for (const auto& h : kept) {
        CHECK(number_of(h.access_token().expose_secret()) >= 0);
        CHECK(h.grant().refresh_token.expose_secret().substr(0, 1) == "R");
    }
}

namespace {
using reading_source = babelbird::token_source<ref<numbered_transport>, still_clock>;
/// Reads `source` in its destructor (a thread_local's destructor runs at thread exit).
struct exit_reader {
    reading_source* source = nullptr;
    std::string* seen = nullptr;
    babelbird::token_handle* kept = nullptr;
    ~exit_reader() {
        if (source != nullptr) {
            const auto got = source->get();
            *seen = token_of(got);
            if (got) {
                *kept = *got;
            }
        }
    }
};
} // namespace

TEST_CASE("break: reads from thread_local destructors, before and after the cache is freed") {
    numbered_transport transport;
    reading_source valid(ref<numbered_transport>{&transport}, ts::credentials(), ts::server(),
                         grant_seed("V", "R0"));
    reading_source refreshing(ref<numbered_transport>{&transport}, ts::credentials(), ts::server(),
                              refresh_seed("R0"));

    SUBCASE("the reader's destructor runs after the cache is freed") {
        std::string seen;
        babelbird::token_handle kept;
        std::thread([&] {
            thread_local exit_reader reader; // constructed before the first read
            reader.source = &valid;
            reader.seen = &seen;
            reader.kept = &kept;
            CHECK(token_of(valid.get()) == "V");
        }).join();
        CHECK(seen == "V");
        CHECK(kept.access_token().expose_secret() == "V");
    }
    SUBCASE("the reader's destructor runs before the cache is freed") {
        std::string seen;
        babelbird::token_handle kept;
        std::thread([&] {
            CHECK(token_of(valid.get()) == "V"); // arms the cache's reaper first
            thread_local exit_reader reader;
            reader.source = &valid;
            reader.seen = &seen;
            reader.kept = &kept;
        }).join();
        CHECK(seen == "V");
        CHECK(kept.access_token().expose_secret() == "V");
    }
    SUBCASE("the thread's first read is in a destructor at exit") {
        std::string seen;
        babelbird::token_handle kept;
        std::thread([&] {
            thread_local exit_reader reader;
            reader.source = &valid;
            reader.seen = &seen;
            reader.kept = &kept;
        }).join();
        CHECK(seen == "V");
        CHECK(kept.access_token().expose_secret() == "V");
    }
    SUBCASE("a refresh run from a destructor at exit") {
        std::string seen;
        babelbird::token_handle kept;
        std::thread([&] {
            thread_local exit_reader reader;
            reader.source = &refreshing;
            reader.seen = &seen;
            reader.kept = &kept;
            CHECK(token_of(valid.get()) == "V");
        }).join();
        CHECK(seen == "A1");
        CHECK(kept.access_token().expose_secret() == "A1");
        CHECK(token_of(refreshing.get()) == "A1");
        CHECK(transport.calls.load() == 1);
    }
}

// --- reset(), invalidate() and get() racing ---------------------------------

TEST_CASE("break: invalidate() with stale tokens from 8 threads: one refresh per rejected token") {
    numbered_transport transport;
    babelbird::token_source<ref<numbered_transport>, still_clock> source(
        ref<numbered_transport>{&transport}, ts::credentials(), ts::server(),
        grant_seed("A0", "R0"));
    std::mutex mutex;
    std::set<std::string> invalidated;
    std::atomic<int> wrong{0};
    run_threads(8, [&](int) {
        int last = -1;
        for (int i = 0; i < 300; ++i) {
            const auto got = source.get();
            if (!got) {
                ++wrong;
                continue;
            }
            const std::string token(got->access_token().expose_secret());
            // A thread never sees an older token after a newer one.
            const int n = number_of(token);
            if (n < last) {
                ++wrong;
            }
            last = n;
            {
                std::lock_guard lock(mutex);
                invalidated.insert(token);
            }
            source.invalidate(got->access_token());
            source.invalidate(got->access_token()); // twice: still one refresh
        }
    });
    // The last rejected token is replaced by the next get().
    REQUIRE(source.get());
    CHECK(wrong.load() == 0);
    CHECK(transport.probe.most.load() == 1);
    CHECK(transport.calls.load() > 1);
    // Only a rejection refreshes here (the clock stands still, the tokens live
    // an hour), and every token passed to invalidate() was current until
    // rejected: exactly one refresh per distinct rejected token.
    CHECK(static_cast<std::size_t>(transport.calls.load()) == invalidated.size());
    CHECK(invalidated.count(token_of(source.get())) == 0);
}

TEST_CASE("break: reset() racing get() and invalidate() in many threads") {
    numbered_transport transport;
    shared_clock clock;
    concurrency_probe hook_probe;
    babelbird::token_source_options options;
    options.min_refresh_interval = 0ms;
    options.on_rotate = [&](const babelbird::token_grant&) {
        hook_probe.enter();
        std::this_thread::yield();
        hook_probe.leave();
        return true;
    };
    babelbird::token_source<ref<numbered_transport>, exact_bound_clock_ref> source(
        ref<numbered_transport>{&transport}, ts::credentials(), ts::server(), refresh_seed("R0"),
        options, exact_bound_clock_ref{&clock});
    std::atomic<bool> stop{false};
    std::atomic<int> wrong{0};
    std::atomic<int> served{0};
    std::atomic<int> resets{0};
    std::atomic<int> completed{0}; // get() calls that returned
    run_threads(6, [&](int who) {
        if (who == 0) { // the resetter
            for (int i = 0; i < 150; ++i) {
                // Each reset after some get() returned: the getters run meanwhile.
                while (completed.load() <= i) {
                    std::this_thread::yield();
                }
                const std::string n = std::to_string(i);
                if (i % 2 == 0) {
                    source.reset(grant_seed("G" + n, "RG" + n, clock.now()));
                } else {
                    source.reset(refresh_seed("RS" + n));
                }
                ++resets;
                std::this_thread::yield();
            }
            stop = true;
            return;
        }
        while (!stop.load()) {
            clock.advance(1s);
            last_reading() = time_point::min();
            const auto got = source.get();
            ++completed;
            if (!got) {
                ++wrong;
                continue;
            }
            ++served;
            if (!usable_at_last_reading(*got)) {
                ++wrong;
            }
            if (who % 2 == 0) {
                source.invalidate(got->access_token());
            }
        }
    });
    CHECK(wrong.load() == 0);
    CHECK(resets.load() == 150);
    CHECK(served.load() >= 150);
    CHECK(transport.probe.most.load() == 1);
    CHECK(hook_probe.most.load() == 1);
    CHECK_FALSE(source.persist_failed());
}

// --- throwing and blocking callables -------------------------------------------

#if defined(__cpp_exceptions)
TEST_CASE("break: a transport that throws every third call, 6 threads") {
    std::atomic<int> calls{0};
    concurrency_probe probe;
    auto transport = [&](const babelbird::http_request&) -> babelbird::transport_result {
        probe.enter();
        const int n = ++calls;
        probe.leave();
        if (n % 3 == 1) {
            throw std::runtime_error("connection reset");
        }
        return ts::token_answer("A" + std::to_string(n), "R" + std::to_string(n));
    };
    babelbird::token_source<decltype(transport)&, still_clock> source(
        transport, ts::credentials(), ts::server(), refresh_seed("R0"));
    std::atomic<int> thrown{0};
    std::atomic<int> served{0};
    std::atomic<int> wrong{0};
    run_threads(6, [&](int) {
        for (int i = 0; i < 300; ++i) {
            try {
                const auto got = source.get();
                if (got) {
                    ++served;
                    source.invalidate(got->access_token());
                } else if (got.error().code() != babelbird::errc::transport_failure) {
                    ++wrong; // only the waiters of an abandoned flight get an error
                }
            } catch (const std::runtime_error&) {
                ++thrown;
            }
        }
    });
    CHECK(wrong.load() == 0);
    CHECK(thrown.load() > 0);
    CHECK(served.load() > 0);
    CHECK(probe.most.load() == 1);
    CHECK_FALSE(source.last_error()); // a throw is not the server's failure
    // No backoff, nothing stranded: at most two more calls give a token.
    bool ok = false;
    for (int i = 0; i < 3 && !ok; ++i) {
        try {
            ok = static_cast<bool>(source.get());
        } catch (const std::runtime_error&) {
        }
    }
    CHECK(ok);
}

TEST_CASE("break: a hook that throws every third call, 6 threads, then retry_persist()") {
    numbered_transport transport;
    std::atomic<int> hook_calls{0};
    std::atomic<bool> throwing{true};
    concurrency_probe probe;
    std::mutex stored_mutex;
    std::set<std::string> hooked; // access tokens the hook saw
    babelbird::token_source_options options;
    options.on_rotate = [&](const babelbird::token_grant& g) {
        probe.enter();
        {
            std::lock_guard lock(stored_mutex);
            hooked.insert(std::string(g.access_token.expose_secret()));
        }
        const int n = ++hook_calls;
        probe.leave();
        if (throwing.load() && n % 3 == 1) {
            throw std::runtime_error("disk full");
        }
        return true;
    };
    babelbird::token_source<ref<numbered_transport>, still_clock> source(
        ref<numbered_transport>{&transport}, ts::credentials(), ts::server(), refresh_seed("R0"),
        options);
    std::atomic<int> thrown{0};
    std::atomic<int> wrong{0};
    run_threads(6, [&](int) {
        for (int i = 0; i < 200; ++i) {
            try {
                const auto got = source.get();
                if (!got) {
                    ++wrong;
                    continue;
                }
                {
                    // Stored (or at least handed to the hook) before anyone got it.
                    std::lock_guard lock(stored_mutex);
                    if (hooked.count(std::string(got->access_token().expose_secret())) == 0) {
                        ++wrong;
                    }
                }
                source.invalidate(got->access_token());
            } catch (const std::runtime_error&) {
                ++thrown;
            }
        }
    });
    CHECK(wrong.load() == 0);
    CHECK(thrown.load() > 0);
    CHECK(probe.most.load() == 1);
    throwing = false;
    if (source.persist_failed()) {
        CHECK(source.retry_persist());
    }
    CHECK_FALSE(source.persist_failed());
    CHECK(source.retry_persist()); // nothing pending
}
#endif

TEST_CASE("break: a hook returning false, retry_persist() from another thread while get() "
          "refreshes") {
    numbered_transport transport;
    std::atomic<int> hook_calls{0};
    concurrency_probe probe;
    std::mutex stored_mutex;
    std::set<std::string> hooked;
    std::string last_durable;
    babelbird::token_source_options options;
    options.on_rotate = [&](const babelbird::token_grant& g) {
        probe.enter();
        const int n = ++hook_calls;
        const bool durable = n % 2 == 0;
        {
            std::lock_guard lock(stored_mutex);
            hooked.insert(std::string(g.access_token.expose_secret()));
            if (durable) {
                last_durable = g.refresh_token.expose_secret();
            }
        }
        std::this_thread::yield();
        probe.leave();
        return durable;
    };
    babelbird::token_source<ref<numbered_transport>, still_clock> source(
        ref<numbered_transport>{&transport}, ts::credentials(), ts::server(), refresh_seed("R0"),
        options);
    std::atomic<int> getters_left{4};
    std::atomic<int> wrong{0};
    run_threads(5, [&](int who) {
        if (who == 0) {
            do {
                source.retry_persist();
            } while (getters_left.load() > 0);
            return;
        }
        for (int i = 0; i < 150; ++i) {
            const auto got = source.get();
            if (!got) {
                ++wrong;
                continue;
            }
            {
                std::lock_guard lock(stored_mutex);
                if (hooked.count(std::string(got->access_token().expose_secret())) == 0) {
                    ++wrong;
                }
            }
            if (i % 3 == 0) {
                source.invalidate(got->access_token());
            }
        }
        --getters_left;
    });
    CHECK(wrong.load() == 0);
    CHECK(probe.most.load() == 1);
    // Whatever is pending gets stored (every other hook call succeeds).
    while (!source.retry_persist()) {
    }
    CHECK_FALSE(source.persist_failed());
    std::lock_guard lock(stored_mutex);
    CHECK(last_durable == source.current().grant().refresh_token.expose_secret());
}

TEST_CASE("break: readers of a valid token do not wait while the hook is blocked") {
    numbered_transport transport;
    shared_clock clock;
    gate hook_gate;
    std::atomic<int> hook_calls{0};
    babelbird::token_source_options options;
    options.on_rotate = [&](const babelbird::token_grant&) {
        if (++hook_calls == 1) {
            hook_gate.enter_and_wait();
        }
        return true;
    };
    babelbird::token_source<ref<numbered_transport>, clock_ref> source(
        ref<numbered_transport>{&transport}, ts::credentials(), ts::server(),
        grant_seed("OLD", "R0"), options, clock_ref{&clock});
    clock.set(t0 + 3300s); // refresh-soon: the next get() refreshes ahead
    std::thread refresher([&] { CHECK(token_of(source.get()) == "A1"); });
    hook_gate.wait_entered(1);
    // The refresh is done, its hook is blocked: every reader still gets OLD at once.
    auto readers = std::async(std::launch::async, [&] {
        int ok = 0;
        for (int i = 0; i < 200; ++i) {
            ok += token_of(source.get()) == "OLD" ? 1 : 0;
        }
        ok += source.state_at(clock.now()) == babelbird::token_state::refresh_soon ? 1 : 0;
        ok += source.last_error() ? 0 : 1; // takes the driver's mutex: not held by the hook
        ok += source.persist_failed() ? 0 : 1;
        ok += source.current().access_token().expose_secret() == "OLD" ? 1 : 0;
        source.invalidate(babelbird::secret_view("not-the-token"));
        return ok;
    });
    const bool finished = readers.wait_for(10s) == std::future_status::ready;
    CHECK(finished); // while the hook is still blocked
    hook_gate.release();
    refresher.join();
    CHECK(readers.get() == 204);
    CHECK(token_of(source.get()) == "A1");
    CHECK(transport.calls.load() == 1);
    CHECK(hook_calls.load() == 1);
}

// --- clocks --------------------------------------------------------------------

TEST_CASE("break: a clock that goes backwards and forwards under 6 threads") {
    numbered_transport transport;
    shared_clock clock;
    babelbird::token_source_options options;
    options.min_refresh_interval = 0ms;
    babelbird::token_source<ref<numbered_transport>, clock_ref> source(
        ref<numbered_transport>{&transport}, ts::credentials(), ts::server(),
        grant_seed("A0", "R0"), options, clock_ref{&clock});
    std::atomic<int> wrong{0};
    std::atomic<int> refused{0};
    std::atomic<int> arrived_expired{0};
    run_threads(6, [&](int who) {
        std::uint64_t x = 0x9e3779b97f4a7c15u * static_cast<std::uint64_t>(who + 1);
        for (int i = 0; i < 1000; ++i) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            // Anywhere in [t0, t0 + 3 h): before, inside and after the lifetimes.
            clock.set(t0 + std::chrono::milliseconds(x % 10'800'000));
            last_reading() = time_point::min();
            const auto got = source.get();
            if (!got) {
                // Another thread may move the shared clock hours ahead between
                // the reading before sending and the one when the answer
                // arrived: the new token is then expired on arrival, which the
                // machine reports (documented) instead of handing it out.
                if (got.error().code() == babelbird::errc::token_lifetime_too_short &&
                    got.error().kind() == babelbird::error_class::retry) {
                    ++arrived_expired;
                } else {
                    ++refused;
                }
                continue;
            }
            if (last_reading() == time_point::min() || !usable_at_last_reading(*got)) {
                ++wrong;
            }
        }
    });
    CHECK(wrong.load() == 0);
    CHECK(refused.load() == 0);
    CHECK(arrived_expired.load() < 6 * 1000 / 10); // rare: a jump inside one flight
    CHECK(transport.probe.most.load() == 1);
}

TEST_CASE("break: now_upper_bound() exactly now(): a token expiring at the reading is not used") {
    numbered_transport transport;
    shared_clock clock;
    babelbird::token_source_options options;
    options.expiry.refresh_ahead = 0s; // refresh_from == usable_until
    babelbird::token_source<ref<numbered_transport>, exact_bound_clock_ref> source(
        ref<numbered_transport>{&transport}, ts::credentials(), ts::server(),
        grant_seed("OLD", "R0"), options, exact_bound_clock_ref{&clock});
    const time_point usable_until = t0 + 3540s; // 3600 s minus the 60 s skew margin
    clock.set(usable_until - 1ns);
    CHECK(token_of(source.get()) == "OLD");
    CHECK(transport.calls.load() == 0);
    clock.set(usable_until);
    CHECK(token_of(source.get()) == "A1");
    CHECK(transport.calls.load() == 1);

    // A bound that is later than now(): the fast path cannot decide, now() does.
    babelbird::token_source<ref<numbered_transport>, loose_bound_clock_ref> loose(
        ref<numbered_transport>{&transport}, ts::credentials(), ts::server(),
        grant_seed("OLD", "R0"), options, loose_bound_clock_ref{&clock});
    clock.set(usable_until - 1ns);
    CHECK(token_of(loose.get()) == "OLD");
    CHECK(transport.calls.load() == 1);
    clock.set(usable_until);
    CHECK(token_of(loose.get()) == "A2");
}

TEST_CASE("break: 8 threads cross the exact expiry instant with an exact-bound clock") {
    // Every thread moves the clock forward by 1 ms per get(); the server's
    // tokens live 2 s (usable 1 s). Every token handed out must be usable at
    // the reading its get() took, through many expiries.
    numbered_transport transport;
    transport.expires_in = 2;
    shared_clock clock;
    babelbird::token_source_options options;
    options.min_refresh_interval = 0ms;
    babelbird::token_source<ref<numbered_transport>, exact_bound_clock_ref> source(
        ref<numbered_transport>{&transport}, ts::credentials(), ts::server(), refresh_seed("R0"),
        options, exact_bound_clock_ref{&clock});
    std::atomic<int> wrong{0};
    std::atomic<int> refused{0};
    run_threads(8, [&](int) {
        for (int i = 0; i < 1000; ++i) {
            clock.advance(1ms);
            last_reading() = time_point::min();
            const auto got = source.get();
            if (!got) {
                ++refused;
                continue;
            }
            if (!usable_at_last_reading(*got)) {
                ++wrong;
            }
        }
    });
    CHECK(wrong.load() == 0);
    CHECK(refused.load() == 0);
    CHECK(transport.calls.load() > 2);
    CHECK(transport.probe.most.load() == 1);
}

namespace {
/// Whether the calling thread is the one whose first reading stalls.
bool& stalls_here() {
    static thread_local bool flag = false;
    return flag;
}
/// A clock whose next reading in the stalling thread, once armed, waits after
/// it is taken until the test lets it go: a thread descheduled between reading
/// the clock and using the reading.
struct stalling_clock {
    std::atomic<tick_rep> ticks{t0.time_since_epoch().count()};
    std::atomic<bool> armed{false};
    gate stalled;
    time_point read() {
        const time_point t(time_point::duration(ticks.load()));
        if (stalls_here() && armed.exchange(false)) {
            stalled.enter_and_wait();
        }
        return t;
    }
    void set(time_point t) { ticks.store(t.time_since_epoch().count()); }
};
struct stalling_ref {
    stalling_clock* c;
    time_point now() const { return c->read(); }
};
struct stalling_bound_ref {
    stalling_clock* c;
    time_point now() const { return c->read(); }
    time_point now_upper_bound() const { return c->read(); }
};

/// A reader takes its reading at t0 and stalls; meanwhile a refresh at t0 + 1 s
/// brings a token that arrives already expired (expires_in 0). The reader
/// resumes: it must not get that token, whichever snapshot it loaded.
template <class ClockRef>
void stale_reading_case(babelbird::token_seed seed, bool seeded_with_token) {
    numbered_transport transport;
    transport.expires_in = 0;
    stalling_clock clock;
    babelbird::token_source<ref<numbered_transport>, ClockRef> source(
        ref<numbered_transport>{&transport}, ts::credentials(), ts::server(), std::move(seed), {},
        ClockRef{&clock});
    clock.armed = true;
    babelbird::result<babelbird::token_handle> stalled_got =
        babelbird::error::usage(babelbird::errc::invalid_argument);
    std::thread stalled([&] {
        stalls_here() = true;
        stalled_got = source.get();
    });
    clock.stalled.wait_entered(1);
    clock.set(t0 + 1s);
    if (seeded_with_token) {
        source.invalidate(babelbird::secret_view("OLD"));
    }
    const auto fresh = source.get();
    REQUIRE_FALSE(fresh);
    CHECK(fresh.error().code() == babelbird::errc::token_lifetime_too_short);
    CHECK(transport.calls.load() == 1);
    clock.stalled.release();
    stalled.join();
    // A1 was never usable after it arrived: the stalled reader gets the error,
    // or (when it loaded the snapshot before the refresh) the old token.
    CHECK(token_of(stalled_got) != "A1");
    if (!seeded_with_token) {
        REQUIRE_FALSE(stalled_got);
        CHECK(stalled_got.error().code() == babelbird::errc::token_lifetime_too_short);
    }
    CHECK(transport.calls.load() == 1);
}
} // namespace

TEST_CASE("break: a reading taken before a refresh ended never vouches for its token") {
    SUBCASE("no token yet; clock without a bound") {
        stale_reading_case<stalling_ref>(refresh_seed("R0"), false);
    }
    SUBCASE("no token yet; clock with a bound") {
        stale_reading_case<stalling_bound_ref>(refresh_seed("R0"), false);
    }
    SUBCASE("a valid token replaced meanwhile; clock without a bound") {
        stale_reading_case<stalling_ref>(grant_seed("OLD", "R0"), true);
    }
    SUBCASE("a valid token replaced meanwhile; clock with a bound") {
        stale_reading_case<stalling_bound_ref>(grant_seed("OLD", "R0"), true);
    }
}

TEST_CASE("break: tiny lifetimes under 8 threads: never expired, refreshes min_refresh_interval "
          "apart") {
    for (const long lifetime : {0L, 1L}) {
        CAPTURE(lifetime);
        numbered_transport transport;
        transport.expires_in = lifetime;
        shared_clock clock;
        std::mutex issued_mutex;
        std::vector<time_point> issued; // each successful refresh's issued_at, in order
        babelbird::token_source_options options;
        options.min_refresh_interval = 100ms;
        options.on_rotate = [&](const babelbird::token_grant& g) {
            std::lock_guard lock(issued_mutex);
            issued.push_back(g.issued_at);
            return true;
        };
        babelbird::token_source<ref<numbered_transport>, exact_bound_clock_ref> source(
            ref<numbered_transport>{&transport}, ts::credentials(), ts::server(),
            refresh_seed("R0"), options, exact_bound_clock_ref{&clock});
        std::atomic<int> wrong{0};
        std::atomic<int> served{0};
        std::atomic<int> refused{0};
        run_threads(8, [&](int) {
            for (int i = 0; i < 500; ++i) {
                clock.advance(1ms);
                last_reading() = time_point::min();
                const auto got = source.get();
                if (!got) {
                    ++refused;
                    if (got.error().code() != babelbird::errc::token_lifetime_too_short ||
                        !got.error().is_retryable()) {
                        ++wrong;
                    }
                    continue;
                }
                ++served;
                if (!usable_at_last_reading(*got)) {
                    ++wrong;
                }
            }
        });
        CHECK(wrong.load() == 0);
        CHECK(transport.probe.most.load() == 1);
        CHECK(issued.size() == static_cast<std::size_t>(transport.calls.load()));
        CHECK(issued.size() >= 2);
        for (std::size_t i = 1; i < issued.size(); ++i) {
            CHECK(issued[i] - issued[i - 1] >= 100ms);
        }
        if (lifetime == 0) {
            CHECK(served.load() == 0);
        } else {
            CHECK(served.load() > 0);
        }
    }
}

TEST_CASE("break: tiny lifetimes on the real clock (with its cheap bound), 8 threads") {
    for (const long lifetime : {0L, 1L}) {
        CAPTURE(lifetime);
        numbered_transport transport;
        transport.expires_in = lifetime;
        std::mutex issued_mutex;
        std::vector<time_point> issued;
        babelbird::token_source_options options;
        options.min_refresh_interval = 100ms;
        options.on_rotate = [&](const babelbird::token_grant& g) {
            std::lock_guard lock(issued_mutex);
            issued.push_back(g.issued_at);
            return true;
        };
        babelbird::token_source<ref<numbered_transport>> source(ref<numbered_transport>{&transport},
                                                                ts::credentials(), ts::server(),
                                                                refresh_seed("R0"), options);
        const auto until = std::chrono::steady_clock::now() + 600ms;
        std::atomic<int> wrong{0};
        std::atomic<int> served{0};
        run_threads(8, [&](int) {
            while (std::chrono::steady_clock::now() < until) {
                // get()'s own reading is not earlier than this one.
                const time_point before = std::chrono::system_clock::now();
                const auto got = source.get();
                if (!got) {
                    if (got.error().code() != babelbird::errc::token_lifetime_too_short) {
                        ++wrong;
                    }
                    continue;
                }
                ++served;
                const auto& g = got->grant();
                if (!(before <
                      babelbird::expiry_window_for(g.issued_at, g.expires_at).usable_until)) {
                    ++wrong;
                }
            }
        });
        CHECK(wrong.load() == 0);
        CHECK(transport.probe.most.load() == 1);
        REQUIRE(issued.size() >= 2);
        for (std::size_t i = 1; i < issued.size(); ++i) {
            CHECK(issued[i] - issued[i - 1] >= 100ms);
        }
        if (lifetime == 0) {
            CHECK(served.load() == 0);
        } else {
            CHECK(served.load() > 0);
        }
    }
}

TEST_CASE(
    "break: a server's Retry-After of 999999999 s stalls refreshes for an hour, not decades") {
    ts::fixed_clock clock;
    clock.at = t0;
    numbered_transport transport;
    std::atomic<int> busy_answers{1};
    struct busy_then_numbered {
        numbered_transport* target;
        std::atomic<int>* busy;
        babelbird::transport_result operator()(const babelbird::http_request& r) const {
            if (busy->fetch_sub(1) > 0) {
                return babelbird::http_response(503, "", {{"Retry-After", "999999999"}});
            }
            return (*target)(r);
        }
    };
    babelbird::token_source<busy_then_numbered, ts::clock_ref> source(
        busy_then_numbered{&transport, &busy_answers}, ts::credentials(), ts::server(),
        refresh_seed("R0"), {}, ts::clock_ref{&clock});
    const auto busy = source.get();
    REQUIRE_FALSE(busy);
    CHECK(busy.error().retry_after() == std::chrono::seconds(999'999'999));
    clock.at = t0 + 1h - 1ns;
    CHECK_FALSE(source.get());
    CHECK(transport.calls.load() == 0);
    clock.at = t0 + 1h;
    const auto got = source.get();
    REQUIRE(got);
    CHECK(got->access_token().expose_secret() == "A1");
}

#if defined(__cpp_exceptions)
namespace {
/// A clock whose `throw_at`-th reading throws (a caller's clock may).
struct throwing_clock {
    std::atomic<int>* reads;
    int throw_at;
    time_point now() const {
        if (++*reads == throw_at) {
            throw std::runtime_error("clock");
        }
        return t0;
    }
};
} // namespace

TEST_CASE("break: a clock that throws when the answer arrives: the answer is kept") {
    // Readings: get()'s (1), get_slow's (2), issued_at (3), completed_at (4).
    std::atomic<int> reads{0};
    numbered_transport transport;
    std::vector<std::string> hooked;
    babelbird::token_source_options options;
    options.on_rotate = [&](const babelbird::token_grant& g) {
        hooked.emplace_back(g.refresh_token.expose_secret());
        return true;
    };
    babelbird::token_source<ref<numbered_transport>, throwing_clock> source(
        ref<numbered_transport>{&transport}, ts::credentials(), ts::server(), refresh_seed("R0"),
        options, throwing_clock{&reads, 4});
    babelbird::result<babelbird::token_handle> got{
        babelbird::error::usage(babelbird::errc::empty_value)};
    CHECK_NOTHROW(got = source.get());
    CHECK(reads.load() == 4);
    REQUIRE(got);
    CHECK(got->access_token().expose_secret() == "A1");
    CHECK(hooked == std::vector<std::string>{"R1"}); // the rotated token was stored
    CHECK(source.current().grant().refresh_token.expose_secret() == "R1");
    CHECK(transport.calls.load() == 1);
}
#endif

} // namespace test_token_source_break
