// End to end over loopback, asynchronously, with a shared store: four
// async_token_sources (as four replicas would be), each with its own
// redis_token_store on one real redis-server (tests/redis_server.hpp), made
// asynchronous with store_on_executor on an Asio thread pool, Boost.Beast as
// the transport, one io_context run by two threads, Asio timers as the
// sources' scheduler. Coroutines call the file API through
// async_send_authorized against the BabelBird-compatible server with strict
// rotation (revoke_family_on_reuse: a refresh token presented twice revokes
// the whole family, so a double refresh would fail every later call), across
// 10 server-side expiries (the server's clock jumps; every expiry is found by
// a 401). The figures: exactly one refresh per expiry for all four sources
// together, no refresh token presented twice (the server's redemption log),
// no call fails.
#include "../redis_server.hpp"
#include "async_phases.hpp"

#include <babelbird/adapters/asio.hpp>
#include <babelbird/adapters/beast.hpp>
#include <babelbird/adapters/redis.hpp>
#include <babelbird/babelbird.hpp>
#include <babelbird/drivers/token_store.hpp>
#include <babelbird/testing/fake_server.hpp>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdio>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace test_async_redis_e2e {

using namespace std::chrono_literals;
namespace net = boost::asio;
namespace bb = babelbird;
namespace bt = babelbird::testing;

constexpr int sources_n = 4;
constexpr int callers_per_source = 4;
constexpr int callers = sources_n * callers_per_source;
constexpr int expiries = 10;
constexpr int calls_per_phase = 2; // each caller, between two expiries

using pool_executor = bb::asio::executor_adapter<net::thread_pool::executor_type>;
using io_executor = bb::asio::executor_adapter<net::io_context::executor_type>;
using source_t = bb::async_token_source<bb::beast_transport, io_executor>;

using test_async_phases::run_state;

TEST_CASE("e2e async + Redis: 4 async sources, one redis-server, strict rotation, 10 "
          "server-side expiries: one refresh per expiry, no refresh token presented twice, no "
          "failed call") {
    test_redis::redis_server redis;

    bt::fake_server_options options;
    options.access_token_lifetime = 3600s;
    options.revoke_family_on_reuse = true;
    options.worker_threads = callers;
    bt::fake_server server(options);
    REQUIRE(server.start());
    const std::string initial_refresh = "rt-initial";
    server.add_refresh_token(initial_refresh);

    const auto endpoint = bb::endpoint::make(server.base_url()).value();
    const auto credentials =
        bb::client_credentials::make(options.client_id, options.client_secret).value();
    const auto request = bb::build_file_api_request(endpoint, {.path = options.file_path}).value();

    net::thread_pool blocking(4); // the stores' blocking calls run here
    pool_executor on_pool(blocking.get_executor());
    net::io_context io(2);
    bb::beast_options transport_options;
    transport_options.timeout = 10s;
    bb::beast_transport transport(io.get_executor(), transport_options);

    std::vector<std::unique_ptr<bb::any_token_store>> redis_stores;
    std::vector<std::unique_ptr<source_t>> sources;
    for (int i = 0; i < sources_n; ++i) {
        bb::redis_store_options ro;
        ro.connect_timeout = 2s;
        ro.command_timeout = 2s;
        redis_stores.push_back(std::make_unique<bb::any_token_store>(
            std::in_place_type<bb::redis_token_store>, "127.0.0.1", redis.port(), "e2e-async", ro));
        bb::async_token_source_options o;
        o.async_store = std::make_shared<bb::any_async_token_store>(
            bb::store_on_executor<bb::any_token_store, pool_executor>(*redis_stores.back(),
                                                                      on_pool));
        o.schedule_after = bb::asio::timer_scheduler(io.get_executor());
        o.lease_poll = 10ms;
        o.store_owner = "replica-" + std::to_string(i);
        sources.push_back(std::make_unique<source_t>(
            transport, io_executor(io.get_executor()), credentials, endpoint,
            bb::token_seed::from_refresh_token(bb::secret_view(initial_refresh)).value(),
            std::move(o)));
    }

    // The first token of every source: one refresh among them.
    std::atomic<int> first_ok{0};
    for (auto& s : sources) {
        net::co_spawn(
            io,
            [&first_ok, src = s.get()]() -> net::awaitable<void> {
                auto first = co_await bb::asio::async_get_token(*src, net::use_awaitable);
                if (first) {
                    ++first_ok;
                } else {
                    MESSAGE("first token failed: " << first.error().message());
                }
            },
            net::detached);
    }
    io.run();
    io.restart();
    CHECK(first_ok.load() == sources_n);
    CHECK(server.redemptions().size() == 1);

    run_state st;
    for (int i = 0; i < callers; ++i) {
        net::co_spawn(io,
                      test_async_phases::caller(st, transport,
                                                *sources[static_cast<std::size_t>(i % sources_n)],
                                                request, calls_per_phase),
                      net::detached);
    }
    net::co_spawn(io,
                  test_async_phases::expire_between_phases(st, server, callers, expiries,
                                                           options.access_token_lifetime),
                  net::detached);
    const auto t0 = std::chrono::steady_clock::now();
    std::thread second([&io] { io.run(); });
    io.run();
    second.join();
    const auto elapsed = std::chrono::steady_clock::now() - t0;
    sources.clear(); // nothing is in flight: every caller has finished
    blocking.join();

    const auto log = server.redemptions();
    std::set<std::string> presented;
    bool reused = false;
    std::size_t rotated = 0;
    for (const auto& r : log) {
        reused = reused || !presented.insert(r.presented).second;
        rotated += r.result == bt::redemption::outcome::rotated ? 1U : 0U;
    }
    std::printf("e2e async + redis: %d sources, %d callers, %d expiries, %zu refreshes, %d calls, "
                "%d failed, %.0f ms\n",
                sources_n, callers, expiries, log.size(), st.calls.load(), st.failures.load(),
                std::chrono::duration<double, std::milli>(elapsed).count());
    CHECK(st.phase.load() == expiries);
    CHECK(st.calls.load() == callers * calls_per_phase * (expiries + 1));
    CHECK(st.failures.load() == 0);
    CHECK(log.size() == static_cast<std::size_t>(expiries + 1)); // the first token, then one each
    CHECK(rotated == log.size());
    CHECK_FALSE(reused);
    // The record holds the live refresh token; every lease was released.
    bb::redis_token_store check("127.0.0.1", redis.port(), "e2e-async");
    const auto rec = check.load();
    REQUIRE(rec);
    REQUIRE(rec->grant);
    CHECK(rec->grant->refresh_token.expose_secret() == server.latest_refresh_token());
    CHECK(check.try_acquire("check", 1s).value());
}

} // namespace test_async_redis_e2e
