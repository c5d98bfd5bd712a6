// token_source as a driver of token_lifecycle: the paths only threads reach
// (a refresh that ends while retry_persist() runs the hook; a transport that
// throws while another caller waits). The behaviour itself is the machine's
// (test_token_lifecycle*.cpp); these check that the driver runs it faithfully.
#include "token_support.hpp"

#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

// A namespace per file: the unit tests are compiled as unity chunks.
namespace test_token_source_driver {

using namespace std::chrono_literals;
namespace ts = test_support;

namespace {

const babelbird::time_point t0 = babelbird::time_point(std::chrono::seconds(1'700'000'000));

/// A clock safe to read from many threads; it stands still.
struct still_clock {
    babelbird::time_point now() const { return t0; }
};

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

babelbird::token_seed refresh_seed(std::string_view token) {
    return babelbird::token_seed::from_refresh_token(babelbird::secret_view(token)).value();
}

} // namespace

TEST_CASE("token_source driver: a refresh that ends during retry_persist(): one hook at a time, "
          "newest last") {
    ts::scripted_transport transport;
    transport.then_answer(ts::token_answer("A1", "R1"));
    transport.then_answer(ts::token_answer("A2", "R2"));
    gate hook_gate;
    std::mutex log_mutex;
    std::vector<std::string> hooked;
    std::atomic<int> inside{0};
    std::atomic<int> most_inside{0};
    std::atomic<int> calls{0};
    babelbird::token_source_options options;
    options.on_rotate = [&](const babelbird::token_grant& g) {
        const int now_inside = ++inside;
        int seen = most_inside.load();
        while (now_inside > seen && !most_inside.compare_exchange_weak(seen, now_inside)) {
        }
        const int call = ++calls;
        {
            std::lock_guard lock(log_mutex);
            hooked.emplace_back(g.refresh_token.expose_secret());
        }
        if (call == 2) {
            hook_gate.enter_and_wait(); // the retry's hook call, held open
        }
        --inside;
        return call != 1; // the first store fails: R1 is pending
    };
    babelbird::token_source<ts::transport_ref<ts::scripted_transport>, still_clock> source(
        ts::transport_ref<ts::scripted_transport>{&transport}, ts::credentials(), ts::server(),
        refresh_seed("R0"), options);
    REQUIRE(source.get());
    CHECK(source.persist_failed());

    bool retried = false;
    std::thread retrier([&] { retried = source.retry_persist(); });
    hook_gate.wait_entered(1);
    // While the retry's hook runs: A1 is rejected, a refresh runs and ends.
    source.invalidate(babelbird::secret_view("A1"));
    babelbird::result<babelbird::token_handle> got =
        babelbird::error::usage(babelbird::errc::invalid_argument);
    std::thread getter([&] { got = source.get(); });
    while (transport.calls() < 2) {
        std::this_thread::sleep_for(1ms);
    }
    std::this_thread::sleep_for(20ms); // let the answer reach the machine
    CHECK(source.current().access_token().expose_secret() == "A1"); // not before it is stored
    hook_gate.release();
    retrier.join();
    getter.join();

    REQUIRE(got);
    CHECK(got->access_token().expose_secret() == "A2");
    CHECK(retried);
    CHECK_FALSE(source.persist_failed());
    CHECK(hooked == std::vector<std::string>{"R1", "R1", "R2"});
    CHECK(most_inside.load() == 1);
    CHECK(transport.sent == std::vector<std::string>{"R0", "R1"});
}

#if defined(__cpp_exceptions)
TEST_CASE("token_source driver: a transport that throws strands nobody") {
    gate transport_gate;
    std::atomic<int> calls{0};
    auto transport = [&](const babelbird::http_request&) -> babelbird::transport_result {
        if (++calls == 1) {
            transport_gate.enter_and_wait();
            throw std::runtime_error("socket on fire");
        }
        return ts::token_answer("A1", "R1");
    };
    babelbird::token_source<decltype(transport)&, still_clock> source(
        transport, ts::credentials(), ts::server(), refresh_seed("R0"));
    std::thread thrower([&] { CHECK_THROWS_AS((void)source.get(), std::runtime_error); });
    transport_gate.wait_entered(1);
    babelbird::result<babelbird::token_handle> waited =
        babelbird::error::usage(babelbird::errc::invalid_argument);
    std::thread waiter([&] { waited = source.get(); });
    std::this_thread::sleep_for(20ms); // let it join the flight
    transport_gate.release();
    thrower.join();
    waiter.join();
    // The waiter either joined the abandoned flight (transport_failure) or came
    // after it and ran its own refresh.
    if (!waited) {
        CHECK(waited.error().code() == babelbird::errc::transport_failure);
    }
    CHECK_FALSE(source.last_error()); // not the server's failure: no backoff
    const auto again = source.get();
    REQUIRE(again);
    CHECK(again->access_token().expose_secret() == "A1");
}
#endif

} // namespace test_token_source_driver
