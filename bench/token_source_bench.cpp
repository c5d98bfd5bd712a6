// babelbird-bench-token-source: token_source::get() on a valid token from 1 and
// 2 threads, against a plain std::mutex-guarded cache measured in the same run.
//
// Both sides do the same work per call: read the system clock, check the
// cached token's expiry, and hand out a reference-counted handle to the grant
// (a shared_ptr copy). The mutex cache takes its lock for that; token_source
// reads an atomically published snapshot. Neither ever refreshes here (the token
// is valid for an hour), so this measures the read path only.
#include <babelbird/babelbird.hpp>

#include <benchmark/benchmark.h>

#include <chrono>
#include <memory>
#include <mutex>

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

babelbird::token_source<transport_fn>& shared_source() {
    static babelbird::token_source<transport_fn> source(
        &never_called, babelbird::client_credentials::make("bench", "secret").value(),
        babelbird::endpoint::make("https://disk.example.com").value(),
        babelbird::token_seed::from_grant(valid_grant()).value());
    return source;
}

/// The baseline: what a straightforward implementation does.
class mutex_cache {
public:
    explicit mutex_cache(babelbird::token_grant g)
        : grant_(std::make_shared<const babelbird::token_grant>(std::move(g))),
          usable_until_(
              babelbird::expiry_window_for(grant_->issued_at, grant_->expires_at).usable_until) {}

    babelbird::result<babelbird::token_handle> get() {
        const babelbird::time_point now = clock_.now();
        std::lock_guard lock(mutex_);
        if (now < usable_until_) {
            return babelbird::token_handle(grant_);
        }
        return babelbird::error::transport(babelbird::errc::transport_failure); // would refresh
    }

private:
    babelbird::system_clock_source clock_;
    std::mutex mutex_;
    std::shared_ptr<const babelbird::token_grant> grant_;
    babelbird::time_point usable_until_;
};

mutex_cache& shared_cache() {
    static mutex_cache cache(valid_grant());
    return cache;
}

void BM_token_source_get(benchmark::State& state) {
    auto& source = shared_source();
    for (auto _ : state) {
        auto token = source.get();
        benchmark::DoNotOptimize(token);
    }
}

void BM_mutex_cache_get(benchmark::State& state) {
    auto& cache = shared_cache();
    for (auto _ : state) {
        auto token = cache.get();
        benchmark::DoNotOptimize(token);
    }
}

/// The clock read both sides pay, for reference.
void BM_clock_now(benchmark::State& state) {
    babelbird::system_clock_source clock;
    for (auto _ : state) {
        benchmark::DoNotOptimize(clock.now());
    }
}

} // namespace

BENCHMARK(BM_clock_now);
BENCHMARK(BM_mutex_cache_get)->Threads(1)->Threads(2)->UseRealTime();
BENCHMARK(BM_token_source_get)->Threads(1)->Threads(2)->UseRealTime();

BENCHMARK_MAIN();
