// babelbird-bench-token-source: the read path of a token cache, get() on a
// valid token from 1 and 2 threads, token_source against the caches a user
// would otherwise write, in one run (issue 11, bench/README.md).
//
// Every cache does the same work per call: read the clock, check the cached
// token's expiry, and hand out a reference-counted handle to the grant
// (`token_handle`). They differ in how they reach the current grant:
// - mutex_cache: a std::mutex around the check and the shared_ptr copy;
// - shared_mutex_cache: the same under std::shared_lock;
// - snapshot_cell_cache: token_source's fast path built on
//   detail::snapshot_cell (no lock, a thread-private count) and the clock's
//   upper-bound reading (detail::read_upper_bound), i.e. the read path before
//   the lead plugs it into token_source;
// - token_source: babelbird::token_source::get() as it is in this tree.
// `mutex_cache_bound_clock` is the mutex cache with the cheap clock reading, to
// separate what the clock saves from what the lock-free read saves.
// Nothing ever refreshes here (the token is valid for an hour).
//
// Each threads:1 run also reports `allocs` (heap allocations per get(), from
// alloc_counter.cpp, counted after a warm-up) and every run `items_per_second`
// (all threads together), from which bench/report.py computes the 2-thread /
// 1-thread throughput ratio.
#include <babelbird/babelbird.hpp>

#include <benchmark/benchmark.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <thread>
#include <time.h>

#include "alloc_counter.hpp"

namespace {

babelbird::transport_result never_called(const babelbird::http_request&) {
    return babelbird::error::transport(babelbird::errc::transport_failure);
}
using transport_fn = babelbird::transport_result (*)(const babelbird::http_request&);

babelbird::token_grant valid_grant() {
    babelbird::token_grant g;
    g.access_token = babelbird::secret("at.ACCESS-0123456789abcdef0123456789");
    g.refresh_token = babelbird::secret("rt.REFRESH-0123456789abcdef");
    g.issued_at = std::chrono::system_clock::now();
    g.expires_at = g.issued_at + std::chrono::hours(1);
    return g;
}

babelbird::result<babelbird::token_handle> would_refresh() {
    return babelbird::error::transport(babelbird::errc::transport_failure);
}

babelbird::token_source<transport_fn>& shared_source() {
    static babelbird::token_source<transport_fn> source(
        &never_called, babelbird::client_credentials::make("bench", "secret").value(),
        babelbird::endpoint::make("https://disk.example.com").value(),
        babelbird::token_seed::from_grant(valid_grant()).value());
    return source;
}

/// The precise reading alone (`system_clock_source` also has the cheap bound).
struct precise_clock {
    babelbird::time_point now() const noexcept { return std::chrono::system_clock::now(); }
};

/// The baseline: what a straightforward implementation does.
template <class Mutex, class Lock, class Clock = precise_clock>
class locked_cache {
public:
    explicit locked_cache(babelbird::token_grant g)
        : grant_(std::make_shared<const babelbird::token_grant>(std::move(g))),
          window_(babelbird::expiry_window_for(grant_->issued_at, grant_->expires_at)) {}

    babelbird::result<babelbird::token_handle> get() {
        const babelbird::time_point now = read_clock();
        Lock lock(mutex_);
        if (now < window_.refresh_from && !rejected_) {
            return babelbird::token_handle(grant_);
        }
        return would_refresh();
    }

private:
    babelbird::time_point read_clock() {
        if constexpr (babelbird::upper_bound_clock_source<Clock>) {
            // The bound decides when the token is fresh; otherwise the
            // precise reading (as snapshot_cell_cache does).
            const babelbird::time_point bound = clock_.now_upper_bound();
            return bound < window_.refresh_from ? bound : clock_.now();
        } else {
            return clock_.now();
        }
    }

    Clock clock_;
    Mutex mutex_;
    std::shared_ptr<const babelbird::token_grant> grant_; // guarded by mutex_
    babelbird::expiry_window window_;                     // guarded by mutex_
    bool rejected_ = false;                               // guarded by mutex_
};

using mutex_cache = locked_cache<std::mutex, std::lock_guard<std::mutex>>;
using shared_mutex_cache = locked_cache<std::shared_mutex, std::shared_lock<std::shared_mutex>>;

/// The mutex cache reading the clock as the snapshot_cell cache does.
using mutex_cache_bound_clock =
    locked_cache<std::mutex, std::lock_guard<std::mutex>, babelbird::system_clock_source>;

/// token_source's read path on detail::snapshot_cell: its snapshot (grant,
/// precomputed window, the `rejected` flag) and its get() fast path with the
/// clock's upper bound, precise reading as the fallback.
class snapshot_cell_cache {
public:
    explicit snapshot_cell_cache(babelbird::token_grant g) {
        auto snap = std::make_shared<snapshot>();
        snap->grant = std::make_shared<const babelbird::token_grant>(std::move(g));
        snap->window =
            babelbird::expiry_window_for(snap->grant->issued_at, snap->grant->expires_at);
        cell_.store(std::move(snap));
    }

    babelbird::result<babelbird::token_handle> get() {
        const auto bound = babelbird::detail::read_upper_bound(clock_);
        std::shared_ptr<const snapshot> snap = cell_.load();
        if (snap->usable_at(bound.at) && bound.at < snap->window.refresh_from) {
            return handle_of(std::move(snap));
        }
        const babelbird::time_point now = bound.exact ? bound.at : clock_.now();
        if (snap->usable_at(now) && now < snap->window.refresh_from) {
            return handle_of(std::move(snap));
        }
        return would_refresh();
    }

private:
    struct snapshot {
        std::shared_ptr<const babelbird::token_grant> grant;
        babelbird::expiry_window window;
        mutable std::atomic<bool> rejected{false};
        bool usable_at(babelbird::time_point now) const noexcept {
            return !grant->access_token.empty() && now < window.usable_until &&
                   !rejected.load(std::memory_order_acquire);
        }
    };
    static babelbird::token_handle handle_of(std::shared_ptr<const snapshot> snap) noexcept {
        const babelbird::token_grant* grant = snap->grant.get();
        return babelbird::token_handle(
            std::shared_ptr<const babelbird::token_grant>(std::move(snap), grant));
    }

    babelbird::system_clock_source clock_;
    babelbird::detail::snapshot_cell<snapshot> cell_;
};

template <class Cache>
Cache& shared_cache() {
    static Cache cache(valid_grant());
    return cache;
}

/// The timed loop every get() case shares; allocations are counted in the
/// single-thread run (the counter is not meant for concurrent use).
template <class Source>
void run_get(benchmark::State& state, Source& source) {
    if (!source.get()) { // warm-up: lazy initialisation, this thread's cache
        state.SkipWithError("get() failed");
        return;
    }
    const std::uint64_t before = bench::allocations();
    for (auto _ : state) {
        auto token = source.get();
        benchmark::DoNotOptimize(token);
    }
    if (state.threads() == 1) {
        state.counters["allocs"] = static_cast<double>(bench::allocations() - before) /
                                   static_cast<double>(state.iterations());
    }
    state.SetItemsProcessed(state.iterations());
}

void BM_get_token_source(benchmark::State& state) {
    run_get(state, shared_source());
}
void BM_get_mutex_cache(benchmark::State& state) {
    run_get(state, shared_cache<mutex_cache>());
}
void BM_get_shared_mutex_cache(benchmark::State& state) {
    run_get(state, shared_cache<shared_mutex_cache>());
}
void BM_get_snapshot_cell_cache(benchmark::State& state) {
    run_get(state, shared_cache<snapshot_cell_cache>());
}
void BM_get_mutex_cache_bound_clock(benchmark::State& state) {
    run_get(state, shared_cache<mutex_cache_bound_clock>());
}

/// The clock readings the caches pay.
void BM_clock_now(benchmark::State& state) {
    const babelbird::system_clock_source clock;
    for (auto _ : state) {
        benchmark::DoNotOptimize(clock.now());
    }
}
void BM_clock_now_upper_bound(benchmark::State& state) {
    const babelbird::system_clock_source clock;
    for (auto _ : state) {
        benchmark::DoNotOptimize(clock.now_upper_bound());
    }
}
void BM_clock_realtime_coarse(benchmark::State& state) {
    for (auto _ : state) {
        timespec ts{};
        ::clock_gettime(CLOCK_REALTIME_COARSE, &ts);
        benchmark::DoNotOptimize(ts);
    }
}

} // namespace

BENCHMARK(BM_clock_now)->Name("clock/now");
BENCHMARK(BM_clock_realtime_coarse)->Name("clock/realtime_coarse");
BENCHMARK(BM_clock_now_upper_bound)->Name("clock/now_upper_bound");
BENCHMARK(BM_get_mutex_cache)->Name("get/mutex_cache")->Threads(1)->Threads(2)->UseRealTime();
BENCHMARK(BM_get_shared_mutex_cache)
    ->Name("get/shared_mutex_cache")
    ->Threads(1)
    ->Threads(2)
    ->UseRealTime();
BENCHMARK(BM_get_mutex_cache_bound_clock)
    ->Name("get/mutex_cache_bound_clock")
    ->Threads(1)
    ->Threads(2)
    ->UseRealTime();
BENCHMARK(BM_get_snapshot_cell_cache)
    ->Name("get/snapshot_cell_cache")
    ->Threads(1)
    ->Threads(2)
    ->UseRealTime();
BENCHMARK(BM_get_token_source)->Name("get/token_source")->Threads(1)->Threads(2)->UseRealTime();

int main(int argc, char** argv) {
    // A server is multi-threaded: once a second thread has existed, libstdc++'s
    // shared_ptr counts and glibc's locks use atomic instructions (before that
    // they take single-threaded shortcuts). Start one now, so that every case,
    // whatever its order in the run, pays the multi-threaded cost.
    std::thread([] {}).join();
    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv)) {
        return 2;
    }
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    return 0;
}
