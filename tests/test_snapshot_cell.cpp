// detail::snapshot_cell, the lock-free read path of token_source: single-thread
// semantics, many cells per thread, a destroyed cell, when replaced values are
// freed, and 4 readers against 1 writer (also an executable of its own that CI
// runs under ThreadSanitizer).
#include "support.hpp"

#include <doctest/doctest.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <set>
#include <thread>
#include <vector>

// A namespace per file: the unit tests are compiled as unity chunks.
namespace test_snapshot_cell {

using babelbird::detail::snapshot_cell;

namespace {

/// A value that counts its live instances and checks its own integrity.
struct tracked {
    static inline std::atomic<int> live{0};
    std::uint64_t seq;
    std::uint64_t check;
    explicit tracked(std::uint64_t s) : seq(s), check(~s) { live.fetch_add(1); }
    tracked(const tracked&) = delete;
    tracked& operator=(const tracked&) = delete;
    ~tracked() {
        check = 0;
        live.fetch_sub(1);
    }
    bool intact() const { return check == ~seq; }
};

std::shared_ptr<const tracked> make(std::uint64_t seq) {
    return std::make_shared<const tracked>(seq);
}

/// Starts every test from an empty cache on the calling thread.
struct fresh_cache {
    fresh_cache() { snapshot_cell<tracked>::release_thread_cache(); }
    ~fresh_cache() { snapshot_cell<tracked>::release_thread_cache(); }
};

} // namespace

TEST_CASE("snapshot_cell: load returns what was stored, store bumps the generation") {
    fresh_cache guard;
    snapshot_cell<tracked> empty;
    CHECK(empty.load() == nullptr);
    CHECK(empty.generation() == 0);

    auto v1 = make(1);
    snapshot_cell<tracked> cell(v1);
    CHECK(cell.generation() == 0);
    CHECK(cell.load().get() == v1.get());
    CHECK(cell.load().get() == v1.get()); // from the thread's cache

    auto v2 = make(2);
    cell.store(v2);
    CHECK(cell.generation() == 1);
    CHECK(cell.load().get() == v2.get());
    cell.store(nullptr);
    CHECK(cell.generation() == 2);
    CHECK(cell.load() == nullptr);
    cell.store(v1);
    CHECK(cell.load().get() == v1.get());
}

TEST_CASE("snapshot_cell: loads copy a thread-private count, not the value's") {
    fresh_cache guard;
    auto v = make(7);
    snapshot_cell<tracked> cell(v);
    std::vector<std::shared_ptr<const tracked>> copies;
    copies.push_back(cell.load());
    // The cell and the thread's holder: 3 with our own `v`.
    CHECK(v.use_count() == 3);
    for (int i = 0; i < 10; ++i) {
        copies.push_back(cell.load());
    }
    CHECK(v.use_count() == 3);
    // The copies share the holder's count: 11 copies + the cache's own.
    CHECK(copies.front().use_count() == 12);
    for (const auto& c : copies) {
        CHECK(c.get() == v.get());
    }
}

TEST_CASE("snapshot_cell: more cells than cache slots, loads interleaved") {
    fresh_cache guard;
    constexpr std::size_t n = 3 * snapshot_cell<tracked>::cache_slots + 1;
    std::vector<std::unique_ptr<snapshot_cell<tracked>>> cells;
    for (std::size_t i = 0; i < n; ++i) {
        cells.push_back(std::make_unique<snapshot_cell<tracked>>(make(i)));
    }
    for (int round = 0; round < 3; ++round) {
        for (std::size_t i = 0; i < n; ++i) {
            const auto v = cells[i]->load();
            REQUIRE(v != nullptr);
            CHECK(v->seq == i + 1000 * static_cast<std::uint64_t>(round));
            CHECK(v->intact());
        }
        for (std::size_t i = 0; i < n; ++i) {
            cells[i]->store(make(i + 1000 * static_cast<std::uint64_t>(round + 1)));
        }
    }
}

TEST_CASE("snapshot_cell: a destroyed cell's cache entry never matches a new cell") {
    fresh_cache guard;
    auto first = make(1);
    const std::weak_ptr<const tracked> old_value = first;
    {
        auto cell = std::make_unique<snapshot_cell<tracked>>(std::move(first));
        CHECK(cell->load()->seq == 1);
    }
    // The cell is gone; this thread's cache still holds its last value.
    CHECK_FALSE(old_value.expired());
    // New cells, often at the freed address: each reads its own value, and one
    // that takes the old slot frees the old value.
    for (std::uint64_t i = 0; i < 4 * snapshot_cell<tracked>::cache_slots; ++i) {
        auto cell = std::make_unique<snapshot_cell<tracked>>(make(100 + i));
        const auto v = cell->load();
        REQUIRE(v != nullptr);
        CHECK(v->seq == 100 + i);
    }
    CHECK(old_value.expired());
}

TEST_CASE("snapshot_cell: replaced values are freed once no reader holds them") {
    fresh_cache guard;
    const int live_before = tracked::live.load();
    // Weak pointers to the values themselves: one made from what load()
    // returns would watch the thread's holder instead.
    auto v1 = make(1);
    const std::weak_ptr<const tracked> w1 = v1;
    snapshot_cell<tracked> cell(std::move(v1));
    CHECK(cell.load()->seq == 1);

    SUBCASE("never read: freed by the store") {
        snapshot_cell<tracked> other(make(2));
        std::weak_ptr<const tracked> unread;
        {
            auto v = make(3);
            unread = v;
            other.store(std::move(v));
        }
        CHECK_FALSE(unread.expired());
        other.store(make(4));
        CHECK(unread.expired());
    }
    SUBCASE("read by this thread: freed at its next read of the cell") {
        cell.store(make(2));
        CHECK_FALSE(w1.expired()); // still in this thread's cache
        CHECK(cell.load()->seq == 2);
        CHECK(w1.expired());
    }
    SUBCASE("read by this thread: freed by release_thread_cache()") {
        cell.store(make(2));
        CHECK_FALSE(w1.expired());
        snapshot_cell<tracked>::release_thread_cache();
        CHECK(w1.expired());
    }
    SUBCASE("a handle outlives the cache and the store") {
        auto held = cell.load();
        cell.store(make(2));
        CHECK(cell.load()->seq == 2);
        CHECK_FALSE(w1.expired());
        CHECK(held->intact());
        held.reset();
        CHECK(w1.expired());
    }
    SUBCASE("read by a thread that exited: freed by the store") {
        auto v2 = make(2);
        const std::weak_ptr<const tracked> w2 = v2;
        cell.store(std::move(v2));
        snapshot_cell<tracked>::release_thread_cache(); // this thread's v1
        std::thread([&] { CHECK(cell.load()->seq == 2); }).join();
        CHECK_FALSE(w2.expired()); // held by the cell alone now
        cell.store(make(3));
        CHECK(w2.expired());
    }
    snapshot_cell<tracked>::release_thread_cache();
    cell.store(nullptr);
    CHECK(tracked::live.load() == live_before);
}

namespace {
/// Reads a cell from a thread-local destructor that runs after the thread's
/// cache was freed (it was constructed before the thread's first read).
struct late_reader {
    snapshot_cell<tracked>* cell = nullptr;
    std::atomic<std::uint64_t>* seen = nullptr;
    late_reader() = default;
    late_reader(const late_reader&) = delete;
    late_reader& operator=(const late_reader&) = delete;
    ~late_reader() {
        if (cell != nullptr) {
            const auto v = cell->load();
            seen->store(v != nullptr && v->intact() ? v->seq : 0);
        }
    }
};
} // namespace

TEST_CASE("snapshot_cell: a read during thread exit, after the thread's cache is freed") {
    fresh_cache guard;
    const int live_before = tracked::live.load();
    {
        snapshot_cell<tracked> cell(make(5));
        std::atomic<std::uint64_t> seen{0};
        std::atomic<std::uint64_t> first{0};
        std::thread([&] {
            thread_local late_reader reader;
            reader.cell = &cell;
            reader.seen = &seen;
            first.store(cell.load()->seq); // the thread's first read: after `reader`
        }).join();
        CHECK(first.load() == 5);
        CHECK(seen.load() == 5);
        cell.store(make(6));
        CHECK(cell.load()->seq == 6);
    }
    snapshot_cell<tracked>::release_thread_cache();
    CHECK(tracked::live.load() == live_before);
}

TEST_CASE("snapshot_cell: 4 readers and 1 writer storing 10000 times") {
    fresh_cache guard;
    constexpr std::uint64_t stores = 10000;
    constexpr int readers = 4;
    const int live_before = tracked::live.load();
    {
        snapshot_cell<tracked> cell(make(0));
        std::atomic<bool> done{false};
        std::atomic<int> bad_value{0};
        std::atomic<int> went_back{0};
        std::atomic<std::uint64_t> reads{0};
        // The highest value any reader has seen: the writer waits on it every
        // 1000 stores, so that the readers run while the values change.
        std::atomic<std::uint64_t> seen{0};
        std::vector<std::thread> threads;
        for (int r = 0; r < readers; ++r) {
            threads.emplace_back([&] {
                std::uint64_t last_seq = 0;
                std::uint64_t last_generation = 0;
                std::uint64_t n = 0;
                std::vector<std::shared_ptr<const tracked>> kept;
                do {
                    const std::uint64_t g = cell.generation();
                    auto v = cell.load();
                    ++n;
                    // The value is one that was stored, intact, and never older
                    // than one read before, nor than the generation seen before.
                    if (v == nullptr || !v->intact() || v->seq > stores) {
                        bad_value.fetch_add(1);
                        continue;
                    }
                    if (v->seq < last_seq || g < last_generation || v->seq < g) {
                        went_back.fetch_add(1);
                    }
                    last_seq = v->seq;
                    last_generation = g;
                    std::uint64_t high = seen.load();
                    while (high < last_seq && !seen.compare_exchange_weak(high, last_seq)) {
                    }
                    if (n % 64 == 0) { // keep some values across later stores
                        kept.push_back(std::move(v));
                        if (kept.size() > 8) {
                            kept.erase(kept.begin());
                        }
                    }
                } while (!done.load(std::memory_order_acquire));
                for (const auto& k : kept) {
                    if (!k->intact()) {
                        bad_value.fetch_add(1);
                    }
                }
                reads.fetch_add(n);
            });
        }
        for (std::uint64_t i = 1; i <= stores; ++i) {
            if (i % 1000 == 0) {
                while (seen.load() < i - 1) {
                    std::this_thread::yield();
                }
            }
            cell.store(make(i));
        }
        const auto last = cell.load();
        CHECK(last->seq == stores);
        done.store(true, std::memory_order_release);
        for (auto& t : threads) {
            t.join();
        }
        CHECK(bad_value.load() == 0);
        CHECK(went_back.load() == 0);
        CHECK(reads.load() >= static_cast<std::uint64_t>(readers));
        CHECK(cell.generation() == stores);
    }
    snapshot_cell<tracked>::release_thread_cache();
    // The readers exited (their caches were freed), the cell is gone.
    CHECK(tracked::live.load() == live_before);
}

} // namespace test_snapshot_cell
