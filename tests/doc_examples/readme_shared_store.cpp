// Runs the README's "Several processes, one grant: a shared store" example
// (extracted by tools/extract_snippet.py, compiled with
// -Dmain=readme_shared_store_main) as 4 replicas at once, twice, against a
// real redis-server and the loopback server with strict rotation (a reused
// refresh token revokes its family): one refresh per expiry, no refresh token
// presented twice, and the store ends with the server's latest one.
#include "../redis_server.hpp"

#include <babelbird/adapters/redis.hpp>
#include <babelbird/testing/fake_server.hpp>

#include <doctest/doctest.h>

#include <cstdlib>
#include <set>
#include <string>
#include <thread>
#include <vector>

int readme_shared_store_main(int argc, char** argv);

namespace test_readme_shared_store {

using namespace std::chrono_literals;
namespace bt = babelbird::testing;

/// Runs the example as `n` replicas on threads; returns their exit statuses.
std::vector<int> run_replicas(int n, const std::string& url, int redis_port) {
    std::vector<int> status(static_cast<std::size_t>(n), -1);
    std::vector<std::thread> threads;
    for (int i = 0; i < n; ++i) {
        threads.emplace_back([&, i] {
            std::string program = "replica";
            std::string base = url;
            std::string host = "127.0.0.1";
            std::string port = std::to_string(redis_port);
            std::vector<char*> argv{program.data(), base.data(), host.data(), port.data(), nullptr};
            status[static_cast<std::size_t>(i)] = readme_shared_store_main(4, argv.data());
        });
    }
    for (auto& t : threads) {
        t.join();
    }
    return status;
}

TEST_CASE("README: the shared-store example, 4 replicas, 2 expiries: one refresh each") {
    test_redis::redis_server redis;
    bt::fake_server_options options;
    options.client_id = "my-client-id";
    options.client_secret = "my-client-secret";
    options.revoke_family_on_reuse = true;
    bt::fake_server server(options);
    REQUIRE(server.start());
    server.add_refresh_token("RT-seed");
    REQUIRE(::setenv("BB_REFRESH_TOKEN", "RT-seed", 1) == 0);

    for (int round = 0; round < 3; ++round) {
        if (round > 0) {
            server.advance(std::chrono::seconds(3601)); // every access token expires
        }
        for (const int s : run_replicas(4, server.base_url(), redis.port())) {
            CHECK(s == 0);
        }
    }
    const auto log = server.redemptions();
    std::set<std::string> presented;
    int rotated = 0;
    for (const auto& r : log) {
        rotated += r.result == bt::redemption::outcome::rotated ? 1 : 0;
        CHECK(presented.insert(r.presented).second); // never presented twice
    }
    CHECK(rotated == 3); // the seed, then one per expiry
    CHECK(log.size() == 3);

    babelbird::redis_token_store store("127.0.0.1", redis.port(), "crm-prod");
    const auto record = store.load();
    REQUIRE(record);
    REQUIRE(record->grant);
    CHECK(record->state == babelbird::grant_state::active);
    CHECK(record->grant->refresh_token.expose_secret() == server.latest_refresh_token());
}

} // namespace test_readme_shared_store
