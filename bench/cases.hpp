// The benchmark cases: a registry shared by the Google Benchmark runner, the
// callgrind instruction-count mode and the startup equivalence self-test.
#pragma once

#include <benchmark/benchmark.h>

#include "alloc_counter.hpp"

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace bench {

/// One case, named `<operation>/<input>/<implementation>`.
struct bench_case {
    std::string name;
    /// Runs the operation `n` times (the loop is instantiated per case, so the
    /// operation inlines into it exactly as in the timed loop).
    void (*loop)(std::size_t n);
    /// Runs the operation under Google Benchmark.
    void (*timed)(benchmark::State&);
};

std::vector<bench_case>& registry();

/// Counts the allocations of one call of `Op` (after one warm-up call that may
/// grow reused buffers) and then times it.
template <auto Op>
void timed_case(benchmark::State& state) {
    Op();
    const std::uint64_t before = allocations();
    constexpr int probes = 16;
    for (int i = 0; i < probes; ++i) {
        Op();
    }
    const std::uint64_t after = allocations();
    for (auto _ : state) {
        Op();
    }
    state.counters["allocs"] = static_cast<double>(after - before) / probes;
}

template <auto Op>
void loop_case(std::size_t n) {
    for (std::size_t i = 0; i < n; ++i) {
        Op();
    }
}

/// Registers `Op` under `name` (used from static initialisers).
template <auto Op>
bool add_case(std::string name) {
    registry().push_back({std::move(name), &loop_case<Op>, &timed_case<Op>});
    return true;
}

/// The fields every parse implementation extracts, as owned std::strings.
struct extracted_token {
    std::string access, refresh, type, scope;
    std::optional<std::uint64_t> expires_in, refresh_expires_in;
    bool has_refresh = false;
    bool ok = false;
};

/// Equivalence checks run once at startup; each returns false after printing
/// what differs.
using self_test = bool (*)();
std::vector<self_test>& self_tests();

} // namespace bench
