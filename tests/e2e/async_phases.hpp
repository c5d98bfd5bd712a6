// The shape both asynchronous end-to-end tests share: callers (coroutines)
// make a fixed number of file-API calls in each phase; between two phases the
// server's clock jumps past the access token's lifetime, so every expiry is
// found by a 401. test_async_e2e.cpp runs it on one source,
// test_async_redis_e2e.cpp on four sources over one Redis.
#pragma once

#include <babelbird/adapters/asio.hpp>
#include <babelbird/adapters/beast.hpp>
#include <babelbird/testing/fake_server.hpp>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <doctest/doctest.h>

#include <atomic>
#include <chrono>

namespace test_async_phases {

/// Atomics: with several io threads the coroutines run on any of them.
struct run_state {
    std::atomic<int> phase{0};
    std::atomic<int> done_in_phase{0}; ///< callers that made their calls in this phase
    std::atomic<int> failures{0};
    std::atomic<int> calls{0};
    std::atomic<bool> finished{false};
};

/// One caller: `calls_per_phase` calls through async_send_authorized in each
/// phase, each counted; one that fails or answers other than 200 is a failure.
boost::asio::awaitable<void> caller(run_state& st, babelbird::beast_transport& transport,
                                    auto& source, const babelbird::http_request& request,
                                    int calls_per_phase) {
    namespace net = boost::asio;
    auto timer = net::steady_timer(co_await net::this_coro::executor);
    int seen_phase = -1;
    while (!st.finished) {
        if (seen_phase == st.phase) {
            timer.expires_after(std::chrono::milliseconds(1));
            co_await timer.async_wait(net::use_awaitable);
            continue;
        }
        const int phase = st.phase;
        for (int i = 0; i < calls_per_phase; ++i) {
            auto answer = co_await babelbird::asio::async_send_authorized(
                transport, source, request, net::use_awaitable);
            ++st.calls;
            if (!answer || answer->status != 200) {
                ++st.failures;
                if (!answer) {
                    MESSAGE("call failed: " << answer.error().message());
                } else {
                    MESSAGE("call answered " << answer->status);
                }
            }
        }
        seen_phase = phase;
        if (phase == st.phase) {
            ++st.done_in_phase;
        }
    }
}

/// Once all `callers` have made their calls in a phase, moves the server's
/// clock past `lifetime` and starts the next phase; after `expiries` phases,
/// sets `finished`.
inline boost::asio::awaitable<void> expire_between_phases(run_state& st,
                                                          babelbird::testing::fake_server& server,
                                                          int callers, int expiries,
                                                          std::chrono::seconds lifetime) {
    namespace net = boost::asio;
    auto timer = net::steady_timer(co_await net::this_coro::executor);
    while (st.phase <= expiries) {
        while (st.done_in_phase < callers) {
            timer.expires_after(std::chrono::milliseconds(1));
            co_await timer.async_wait(net::use_awaitable);
        }
        if (st.phase == expiries) {
            break;
        }
        server.advance(lifetime + std::chrono::seconds(1));
        st.done_in_phase = 0;
        ++st.phase;
    }
    st.finished = true;
}

} // namespace test_async_phases
