// memory_token_store: the conformance suite (tests/store_conformance.hpp) on
// the in-memory reference store, with a manual lease clock; its async form,
// store_on_executor, the store concepts, and the grant codec the stores share.
#include "async_support.hpp"
#include "store_conformance.hpp"

#include <babelbird/babelbird.hpp>

#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

// A namespace per file: the unit tests are compiled as unity chunks.
namespace test_memory_token_store {

using namespace std::chrono_literals;
namespace sc = store_conformance;

/// A lease clock the test moves by hand; copies share the reading.
struct manual_lease_clock {
    std::shared_ptr<std::atomic<std::int64_t>> offset_ns =
        std::make_shared<std::atomic<std::int64_t>>(0);
    std::chrono::steady_clock::time_point now() const noexcept {
        return std::chrono::steady_clock::time_point(std::chrono::hours(1000)) +
               std::chrono::nanoseconds(offset_ns->load());
    }
    void advance(std::chrono::nanoseconds d) const noexcept { *offset_ns += d.count(); }
};

using manual_store = babelbird::basic_memory_token_store<manual_lease_clock>;

static_assert(babelbird::token_store<babelbird::memory_token_store>);
static_assert(babelbird::async_token_store<babelbird::memory_token_store>);
static_assert(babelbird::token_store<manual_store>);
static_assert(babelbird::detail::check_token_store<manual_store>());
static_assert(babelbird::detail::check_async_token_store<manual_store>());
static_assert(!babelbird::token_store<int>);
static_assert(!babelbird::async_token_store<babelbird::store_on_executor<int, int>*>);
static_assert(babelbird::async_token_store<
              babelbird::store_on_executor<manual_store, test_support::manual_executor>>);
static_assert(!babelbird::token_store<
              babelbird::store_on_executor<manual_store, test_support::manual_executor>>);

/// The factory of the conformance suite: one shared clock, one store per name.
struct memory_factory {
    using store_type = manual_store;
    manual_lease_clock clock;
    std::map<std::string, std::shared_ptr<manual_store>> stores;

    std::shared_ptr<manual_store> open(const std::string& name) {
        auto& s = stores[name];
        if (!s) {
            s = std::make_shared<manual_store>(babelbird::memory_store_options{3}, clock);
        }
        return s;
    }
    std::shared_ptr<manual_store> open_broken(const std::string&) {
        auto s = std::make_shared<manual_store>(babelbird::memory_store_options{3}, clock);
        s->inject_failure(babelbird::store_error(babelbird::errc::connection_refused));
        return s;
    }
    void let_time_pass(std::chrono::milliseconds d) { clock.advance(d); }
    std::size_t orphan_limit() const { return 3; }
};

} // namespace test_memory_token_store

TYPE_TO_STRING(test_memory_token_store::memory_factory);

namespace test_memory_token_store {

TEST_CASE_TEMPLATE_INVOKE(sc::store_conformance, memory_factory);

TEST_CASE("memory_token_store: a lease expires exactly at its ttl on the injected clock") {
    manual_lease_clock clock;
    manual_store store({}, clock);
    REQUIRE(store.try_acquire("a", 1000ms).value());
    clock.advance(999ms);
    CHECK(!store.try_acquire("b", 1000ms).value());
    CHECK(store.renew("a", 1000ms).value()); // now until 1999 ms
    clock.advance(999ms);
    CHECK(!store.try_acquire("b", 1000ms).value());
    clock.advance(1ms);
    CHECK(store.try_acquire("b", 1000ms).value());
}

TEST_CASE("memory_token_store: inject_failure fails every operation until lifted") {
    babelbird::memory_token_store store;
    REQUIRE(store.commit(0, sc::record_of(sc::grant_of("at", "rt"))).value().applied);
    store.inject_failure(babelbird::store_error(babelbird::errc::timeout));
    const auto failed = store.commit(1, sc::record_of(sc::grant_of("at2", "rt2")));
    REQUIRE(!failed.has_value());
    CHECK(failed.error() == babelbird::store_error(babelbird::errc::timeout));
    CHECK(failed.error().origin() == babelbird::error_origin::transport);
    store.inject_failure(std::nullopt);
    const auto loaded = store.load().value();
    CHECK(loaded.gen == 1);
    CHECK(loaded.grant.value().refresh_token.expose_secret() == "rt");
}

TEST_CASE("memory_token_store: the async form completes inline with the blocking results") {
    babelbird::memory_token_store store({2});
    int calls = 0;
    store.async_load([&](babelbird::result<babelbird::store_record> r) {
        ++calls;
        CHECK(r.value().gen == 0);
    });
    CHECK(calls == 1); // inline
    store.async_commit(0, sc::record_of(sc::grant_of("at", "rt")),
                       [&](babelbird::result<babelbird::commit_outcome> r) {
                           ++calls;
                           CHECK(r.value().applied);
                           CHECK(r.value().current.gen == 1);
                       });
    store.async_try_acquire("a", 10s, [&](babelbird::result<bool> r) {
        ++calls;
        CHECK(r.value());
    });
    store.async_renew("b", 10s, [&](babelbird::result<bool> r) {
        ++calls;
        CHECK(!r.value());
    });
    store.async_release("a", [&](babelbird::result<bool> r) {
        ++calls;
        CHECK(r.value());
    });
    store.async_stash_orphan(sc::grant_of("o", "ro"), [&](babelbird::result<void> r) {
        ++calls;
        CHECK(r.has_value());
    });
    store.async_orphans([&](babelbird::result<std::vector<babelbird::token_grant>> r) {
        ++calls;
        REQUIRE(r.value().size() == 1);
        CHECK(r.value()[0].refresh_token.expose_secret() == "ro");
    });
    store.async_remove_orphan(sc::grant_of("o", "ro"), [&](babelbird::result<bool> r) {
        ++calls;
        CHECK(r.value());
    });
    CHECK(calls == 8);
}

TEST_CASE("store_on_executor: every completion runs on the executor, never inside the call") {
    manual_lease_clock clock;
    manual_store store({}, clock);
    test_support::manual_queue queue;
    test_support::manual_executor ex{&queue};
    babelbird::store_on_executor<manual_store, test_support::manual_executor> async(store, ex);
    std::vector<std::string> seen;
    std::string owner = "owner-a";
    async.async_try_acquire(owner, 10s, [&](babelbird::result<bool> r) {
        seen.push_back(r.value() ? "acquired" : "busy");
    });
    owner = "changed"; // the operation copied it
    babelbird::store_record record = sc::record_of(sc::grant_of("at", "rt"));
    async.async_commit(0, record, [&](babelbird::result<babelbird::commit_outcome> r) {
        seen.push_back(r.value().applied ? "applied" : "conflict");
    });
    record.grant.reset(); // copied too
    async.async_load([&](babelbird::result<babelbird::store_record> r) {
        seen.push_back("gen " + std::to_string(r.value().gen) + " " +
                       std::string(r.value().grant.value().refresh_token.expose_secret()));
    });
    async.async_renew("owner-a", 10s, [&](babelbird::result<bool> r) {
        seen.push_back(r.value() ? "renewed" : "not owner");
    });
    async.async_stash_orphan(sc::grant_of("o", "ro"), [&](babelbird::result<void> r) {
        seen.push_back(r ? "stashed" : "x");
    });
    async.async_orphans([&](babelbird::result<std::vector<babelbird::token_grant>> r) {
        seen.push_back("orphans " + std::to_string(r.value().size()));
    });
    async.async_remove_orphan(sc::grant_of("o", "ro"), [&](babelbird::result<bool> r) {
        seen.push_back(r.value() ? "removed" : "absent");
    });
    async.async_release("owner-a", [&](babelbird::result<bool> r) {
        seen.push_back(r.value() ? "released" : "not owner");
    });
    CHECK(seen.empty());
    CHECK(queue.drain() == 8);
    CHECK(seen == std::vector<std::string>{"acquired", "applied", "gen 1 rt", "renewed", "stashed",
                                           "orphans 1", "removed", "released"});
}

TEST_CASE("grant codec: round trip of every field, deterministic") {
    auto g = sc::grant_of(sc::odd_secret(), sc::long_secret(), 7);
    g.warnings = static_cast<babelbird::response_warnings>(0xFF);
    g.issued_at = babelbird::time_point(babelbird::time_point::duration::min());
    g.expires_at = babelbird::time_point(babelbird::time_point::duration::max());
    g.expires_in = UINT64_MAX;
    const auto a = babelbird::encode_grant(g);
    const auto b = babelbird::encode_grant(g);
    CHECK(a.expose_secret() == b.expose_secret());
    const auto back = babelbird::decode_grant(a.expose_secret());
    REQUIRE(back.has_value());
    sc::check_same_grant(*back, g);

    babelbird::token_grant empty;
    const auto e = babelbird::encode_grant(empty);
    CHECK(e.expose_secret() == "bbgrant1;0:,0:,1:0,0:,1:0,1:0,0:,0:,0:,1:0,");
    const auto empty_back = babelbird::decode_grant(e.expose_secret());
    REQUIRE(empty_back.has_value());
    sc::check_same_grant(*empty_back, empty);
}

TEST_CASE("grant codec: every prefix, an extra byte and malformed fields are rejected") {
    const auto g = sc::grant_of("access token", "refresh \"token\"", 3);
    const std::string good(babelbird::encode_grant(g).expose_secret());
    for (std::size_t n = 0; n < good.size(); ++n) {
        CAPTURE(n);
        const auto r = babelbird::decode_grant(std::string_view(good).substr(0, n));
        REQUIRE(!r.has_value());
        CHECK(r.error() == babelbird::malformed_stored_grant());
    }
    CHECK(!babelbird::decode_grant(good + ",").has_value());
    CHECK(!babelbird::decode_grant(good + "0:,").has_value());
    const std::string base = "bbgrant1;0:,0:,";
    for (const std::string& bad :
         {base + "1:2,0:,1:0,1:0,0:,0:,0:,1:0,",                       // rotated not 0/1
          base + "1:0,2:01,1:0,1:0,0:,0:,0:,1:0,",                     // leading zero
          base + "1:0,0:,2:-0,1:0,0:,0:,0:,1:0,",                      // negative zero
          base + "1:0,0:,1:0,1:0,0:,0:,0:,3:256,",                     // warnings out of range
          base + "1:0,21:184467440737095516160,1:0,1:0,0:,0:,0:,1:0,", // overflow
          base + "1:0,0:,20:-9223372036854775809,1:0,0:,0:,0:,1:0,",   // below INT64_MIN
          std::string("bbgrant2;0:,0:,1:0,0:,1:0,1:0,0:,0:,0:,1:0,"),
          std::string("bbgrant1;00:,0:,1:0,0:,1:0,1:0,0:,0:,0:,1:0,"),
          std::string("bbgrant1;99999999999:,")}) {
        CAPTURE(bad);
        CHECK(!babelbird::decode_grant(bad).has_value());
    }
    CHECK(babelbird::decode_grant(base + "1:0,0:,20:-9223372036854775808,1:0,0:,0:,0:,1:0,")
              .has_value());
}

} // namespace test_memory_token_store
