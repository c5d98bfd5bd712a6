// babelbird-bench: the benchmark runner.
//
//   babelbird-bench [Google Benchmark flags]    time every case (after a self-test)
//   babelbird-bench --list                      print the case names
//   babelbird-bench --instructions=CASE --iterations=N
//                                               run CASE N times, nothing else (for
//                                               valgrind --tool=callgrind: the
//                                               difference of two runs with
//                                               different N is the cost of N ops)
//   babelbird-bench --self-test                 only check that the peers agree
#include <benchmark/benchmark.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "cases.hpp"

namespace bench {

void register_parse_cases();
void register_request_cases();

std::vector<bench_case>& registry() {
    static std::vector<bench_case> cases;
    return cases;
}

std::vector<self_test>& self_tests() {
    static std::vector<self_test> tests;
    return tests;
}

namespace {

bool run_self_tests() {
    bool ok = true;
    for (self_test t : self_tests()) {
        ok = t() && ok;
    }
    return ok;
}

int run_instructions(std::string_view name, std::size_t iterations) {
    for (const bench_case& c : registry()) {
        if (c.name == name) {
            c.loop(1); // warm-up: reused buffers grow, lazy initialisation runs
            c.loop(iterations);
            return 0;
        }
    }
    std::fprintf(stderr, "babelbird-bench: no case named %.*s\n", static_cast<int>(name.size()),
                 name.data());
    return 2;
}

} // namespace
} // namespace bench

int main(int argc, char** argv) {
    // One simdjson stage-1 kernel for native runs and callgrind runs alike
    // (valgrind hides AVX-512, so a native run would otherwise pick icelake).
    setenv("SIMDJSON_FORCE_IMPLEMENTATION", "haswell", 0);

    bench::register_parse_cases();
    bench::register_request_cases();

    std::string_view instructions;
    std::size_t iterations = 1000;
    std::vector<char*> rest;
    for (int i = 0; i < argc; ++i) {
        const std::string_view arg = argv[i];
        if (arg.substr(0, 15) == "--instructions=") {
            instructions = arg.substr(15);
        } else if (arg.substr(0, 13) == "--iterations=") {
            iterations = std::strtoull(argv[i] + 13, nullptr, 10);
        } else if (arg == "--list") {
            for (const auto& c : bench::registry()) {
                std::printf("%s\n", c.name.c_str());
            }
            return 0;
        } else if (arg == "--self-test") {
            return bench::run_self_tests() ? 0 : 1;
        } else {
            rest.push_back(argv[i]);
        }
    }
    if (!instructions.empty()) {
        return bench::run_instructions(instructions, iterations);
    }
    if (!bench::run_self_tests()) {
        std::fprintf(stderr, "babelbird-bench: the implementations disagree; no timing\n");
        return 1;
    }
    for (const auto& c : bench::registry()) {
        benchmark::RegisterBenchmark(c.name.c_str(), c.timed);
    }
    int rest_argc = static_cast<int>(rest.size());
    benchmark::Initialize(&rest_argc, rest.data());
    if (benchmark::ReportUnrecognizedArguments(rest_argc, rest.data())) {
        return 2;
    }
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    return 0;
}
