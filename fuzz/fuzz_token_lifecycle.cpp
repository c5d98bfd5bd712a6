// libFuzzer target: the token lifecycle machine (machines/token_lifecycle.hpp)
// under an event script read from the input.
//
// Input: every byte is one choice of tests/lifecycle_model.hpp's world (the
// machine's options first, then per event the clock step, the event and its
// details: which answer the server gives, which token is invalidated, which
// waiter cancels, ...); the script ends with the input, then every send and
// persist is answered. The invariants are the randomized test's
// (tests/test_token_lifecycle_random.cpp), checked after every event: at most
// one send outstanding, never `send` with `persist`, a `persist` set holds
// nothing else, each waiter completed once (never a cancelled one) and all of
// them by the end, no token handed out that is expired at the waiter's reading
// or at the completion reading, or before its persist was reported, or after
// it was rejected; a refresh token the server retired is never sent again and
// the newest one is never lost; no send after a blocking failure before a
// reset, none before the backoff or inside `min_refresh_interval`; `publish`
// whenever the snapshot changes; no secret in an error message.
#include "fuzz_support.hpp"

#include "../tests/lifecycle_model.hpp"

#include <cstddef>
#include <cstdint>
#include <cstdio>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    namespace lm = lifecycle_model;
    lm::byte_source src{data, size};
    const lm::setup s = lm::choose_setup(src);
    lm::world w(s);
    w.play(src, 100000); // the input ends the script first
    if (w.violation) {
        // Replay with the trace, so the report shows how it came to this.
        lm::byte_source again{data, size};
        (void)lm::choose_setup(again);
        lm::world traced(s, true);
        traced.play(again, 100000);
        std::fprintf(stderr, "%s\n", lm::describe(s).c_str());
        for (const auto& line : traced.trace) {
            std::fprintf(stderr, "  %s\n", line.c_str());
        }
        std::fprintf(stderr, "%s\n", w.violation->c_str());
        FUZZ_CHECK(!w.violation);
    }
    return 0;
}
