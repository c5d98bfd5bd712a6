// End to end: the hiredis token store against a real redis-server
// (tests/redis_server.hpp). The conformance suite (tests/store_conformance.hpp)
// runs on it as on the in-memory store, then the Redis-specific cases: the key
// layout, EVALSHA's NOSCRIPT fallback, a server killed mid-test (typed retry
// errors, no crash, no secret), reconnecting once it is back, AUTH, a command
// timeout, a corrupted record, and the async form on an executor.
#include "../async_support.hpp"
#include "../redis_server.hpp"
#include "../store_conformance.hpp"

#include <babelbird/adapters/redis.hpp>
#include <babelbird/drivers/token_store.hpp>

#include <doctest/doctest.h>

#include <chrono>
#include <future>
#include <memory>
#include <string>
#include <thread>

namespace test_redis_store {

using namespace std::chrono_literals;
namespace sc = store_conformance;

static_assert(babelbird::token_store<babelbird::redis_token_store>);
static_assert(
    babelbird::async_token_store<
        babelbird::store_on_executor<babelbird::redis_token_store, test_support::pool_executor>>);

/// The server the conformance cases share: started on first use, stopped at exit.
test_redis::redis_server& shared_server() {
    static test_redis::redis_server server;
    return server;
}

babelbird::redis_store_options options(std::size_t orphan_limit = 3) {
    babelbird::redis_store_options o;
    o.connect_timeout = 2s;
    o.command_timeout = 2s;
    o.orphan_limit = orphan_limit;
    return o;
}

struct redis_factory {
    using store_type = babelbird::redis_token_store;
    int port = shared_server().port();

    std::shared_ptr<store_type> open(const std::string& name) {
        return std::make_shared<store_type>("127.0.0.1", port, name, options());
    }
    /// Nothing listens at a port that was free a moment ago: connection refused.
    std::shared_ptr<store_type> open_broken(const std::string& name) {
        return std::make_shared<store_type>("127.0.0.1", test_redis::free_loopback_port(), name,
                                            options());
    }
    /// Redis expires keys on its own clock: wait past the ttl.
    void let_time_pass(std::chrono::milliseconds d) { std::this_thread::sleep_for(d + 50ms); }
    std::size_t orphan_limit() const { return 3; }
};

} // namespace test_redis_store

TYPE_TO_STRING(test_redis_store::redis_factory);

namespace test_redis_store {

TEST_CASE_TEMPLATE_INVOKE(sc::store_conformance, redis_factory);

const std::string secret_marker = "SECRET-rt-\"quoted\" value";

bool holds_secret(const babelbird::error& e) {
    for (const std::string& text : {e.message(), e.to_error_code().message()}) {
        if (text.find("SECRET") != std::string::npos ||
            text.find(secret_marker) != std::string::npos) {
            return true;
        }
    }
    return false;
}

TEST_CASE("redis store: the keys share one hash tag; lease, record and orphans have their types") {
    auto& server = shared_server();
    const std::string name = sc::fresh_name();
    babelbird::redis_token_store store("127.0.0.1", server.port(), name, options());
    CHECK(store.record_key() == "bb:{" + name + "}:rec");
    REQUIRE(store.commit(0, sc::record_of(sc::grant_of("at", "rt"))).value().applied);
    REQUIRE(store.try_acquire("owner-a", 5000ms).value());
    REQUIRE(store.stash_orphan(sc::grant_of("o", "ro")).has_value());
    CHECK(server.command({"TYPE", "bb:{" + name + "}:rec"}) == "hash");
    CHECK(server.command({"TYPE", "bb:{" + name + "}:lease"}) == "string");
    CHECK(server.command({"TYPE", "bb:{" + name + "}:orphans"}) == "list");
    CHECK(server.command({"GET", "bb:{" + name + "}:lease"}) == "owner-a");
    const int pttl = std::stoi(server.command({"PTTL", "bb:{" + name + "}:lease"}));
    CHECK(pttl > 0);
    CHECK(pttl <= 5000);
    CHECK(server.command({"HGET", "bb:{" + name + "}:rec", "gen"}) == "1");
    CHECK(server.command({"HGET", "bb:{" + name + "}:rec", "state"}) == "active");
    CHECK(server.command({"HEXISTS", "bb:{" + name + "}:rec", "powner"}) == "0");
}

TEST_CASE("redis store: after SCRIPT FLUSH, EVALSHA's NOSCRIPT falls back to EVAL once") {
    auto& server = shared_server();
    const std::string name = sc::fresh_name();
    babelbird::redis_token_store store("127.0.0.1", server.port(), name, options());
    REQUIRE(store.try_acquire("owner-a", 10s).value());
    REQUIRE(store.renew("owner-a", 10s).value());
    REQUIRE(store.commit(0, sc::record_of(sc::grant_of("at", "rt"))).value().applied);
    CHECK(store.noscript_fallbacks() == 0);

    REQUIRE(server.command({"SCRIPT", "FLUSH"}) == "OK");
    CHECK(store.renew("owner-a", 10s).value());
    CHECK(store.noscript_fallbacks() == 1);
    CHECK(store.renew("owner-a", 10s).value()); // EVAL loaded it again
    CHECK(store.noscript_fallbacks() == 1);
    const auto c = store.commit(1, sc::record_of(sc::grant_of("at2", "rt2")));
    REQUIRE(c.has_value());
    CHECK(c->applied);
    CHECK(store.noscript_fallbacks() == 2);
    // The release script was never loaded: SCRIPT LOAD, then EVALSHA, no fallback.
    CHECK(store.release("owner-a").value());
    CHECK(store.noscript_fallbacks() == 2);
    CHECK(store.load().value().grant.value().refresh_token.expose_secret() == "rt2");
}

TEST_CASE("redis store: a server killed mid-test gives typed retry errors; the store reconnects "
          "once it is back") {
    test_redis::redis_server server;
    babelbird::redis_token_store store("127.0.0.1", server.port(), "killed", options());
    const auto g = sc::grant_of("at-SECRET-access", secret_marker);
    REQUIRE(store.commit(0, sc::record_of(g)).value().applied);
    REQUIRE(store.try_acquire("owner-a", 10s).value());

    server.kill();
    std::vector<babelbird::error> errors;
    const auto keep = [&](const auto& r) {
        REQUIRE(!r.has_value());
        errors.push_back(r.error());
    };
    // The kept connection is broken: writes to it fail (SIGPIPE is absorbed),
    // then new connections are refused.
    keep(store.commit(1, sc::record_of(g)));
    keep(store.stash_orphan(g));
    keep(store.load());
    keep(store.renew("owner-a", 10s));
    keep(store.release("owner-a"));
    keep(store.try_acquire("owner-b", 10s));
    keep(store.orphans());
    keep(store.remove_orphan(g));
    for (const auto& e : errors) {
        CAPTURE(e.message());
        CHECK(e.kind() == babelbird::error_class::retry);
        CHECK(e.origin() == babelbird::error_origin::transport);
        CHECK((e.code() == babelbird::errc::connection_reset ||
               e.code() == babelbird::errc::connection_refused));
        CHECK(!holds_secret(e));
    }
    CHECK(errors.back().code() == babelbird::errc::connection_refused);

    REQUIRE(server.start());
    // Without persistence the restarted server is empty: the record is gone
    // (the local hook and the orphans are the second copies).
    const auto loaded = store.load();
    REQUIRE(loaded.has_value());
    CHECK(loaded->gen == 0);
    CHECK(store.commit(0, sc::record_of(g)).value().applied);
    CHECK(store.try_acquire("owner-b", 10s).value());

    // A restart between two operations: the kept connection is stale; a
    // load is retried once on a new connection, a write is not resent.
    server.kill();
    REQUIRE(server.start());
    const auto reloaded = store.load();
    REQUIRE(reloaded.has_value());
    CHECK(reloaded->gen == 0);
    server.kill();
    REQUIRE(server.start());
    const auto write = store.stash_orphan(g);
    if (!write.has_value()) {
        CHECK(write.error().code() == babelbird::errc::connection_reset);
        CHECK(!holds_secret(write.error()));
    }
    CHECK(store.stash_orphan(g).has_value());
}

TEST_CASE("redis store: AUTH with the password works; a wrong one is a configuration error") {
    const std::string password = "SECRET-pass \"word\"";
    test_redis::redis_server server({"--requirepass", password});
    auto good = options();
    good.password = babelbird::secret(password);
    babelbird::redis_token_store store("127.0.0.1", server.port(), "auth", good);
    CHECK(store.try_acquire("owner-a", 10s).value());

    auto bad = options();
    bad.password = babelbird::secret("SECRET-wrong");
    babelbird::redis_token_store refused("127.0.0.1", server.port(), "auth", bad);
    const auto r = refused.load();
    REQUIRE(!r.has_value());
    CHECK(r.error().kind() == babelbird::error_class::configuration);
    CHECK(!holds_secret(r.error()));

    // No password for a Redis that wants one (NOAUTH): a configuration error
    // too, never a retry that can only fail again.
    babelbird::redis_token_store none("127.0.0.1", server.port(), "auth", options());
    const auto n = none.load();
    REQUIRE(!n.has_value());
    CHECK(n.error().kind() == babelbird::error_class::configuration);
    CHECK(none.try_acquire("owner-b", 10s).error().kind() == babelbird::error_class::configuration);
    CHECK(none.renew("owner-a", 10s).error().kind() == babelbird::error_class::configuration);
}

TEST_CASE("redis store: a server that never answers is a timeout after command_timeout") {
    // A listening socket nobody accepts from: the connection completes in the
    // backlog, the command is never answered.
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    REQUIRE(fd >= 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(addr);
    REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0);
    REQUIRE(::listen(fd, 4) == 0);
    REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0);
    auto o = options();
    o.command_timeout = 200ms;
    babelbird::redis_token_store store("127.0.0.1", ntohs(addr.sin_port), "silent", o);
    const auto start = std::chrono::steady_clock::now();
    const auto r = store.load();
    const auto took = std::chrono::steady_clock::now() - start;
    ::close(fd);
    REQUIRE(!r.has_value());
    CHECK(r.error() == babelbird::store_error(babelbird::errc::timeout));
    CHECK(took >= 150ms);
    CHECK(took < 2s);
}

TEST_CASE("redis store: a corrupted record or orphan is a protocol error, never a crash") {
    auto& server = shared_server();
    const std::string name = sc::fresh_name();
    babelbird::redis_token_store store("127.0.0.1", server.port(), name, options());
    const std::string rec = "bb:{" + name + "}:rec";
    REQUIRE(server.command({"HSET", rec, "gen", "1", "state", "active", "grant",
                            "bbgrant1;5:SECRET,"}) == "3");
    auto r = store.load();
    REQUIRE(!r.has_value());
    CHECK(r.error() == babelbird::malformed_stored_grant());
    CHECK(!holds_secret(r.error()));
    REQUIRE(server.command({"HSET", rec, "grant", "", "state", "zombie"}) == "0");
    CHECK(store.load().error() == babelbird::malformed_stored_grant());
    REQUIRE(server.command({"HSET", rec, "state", "dead", "gen", "x"}) == "0");
    CHECK(store.load().error() == babelbird::malformed_stored_grant());
    // A commit still fences on gen as text, and its answer reads the current one.
    const auto c = store.commit(1, sc::record_of(sc::grant_of("at", "rt")));
    REQUIRE(!c.has_value());
    CHECK(c.error() == babelbird::malformed_stored_grant());
    REQUIRE(server.command({"RPUSH", "bb:{" + name + "}:orphans", "not a grant"}) == "1");
    CHECK(store.orphans().error() == babelbird::malformed_stored_grant());
    // A gen that cannot move any more is not a record this version can use.
    REQUIRE(server.command({"DEL", rec}) == "1");
    REQUIRE(server.command({"HSET", rec, "gen", "18446744073709551615", "state", "active"}) == "2");
    CHECK(store.load().error() == babelbird::malformed_stored_grant());
    // The wrong type under a key (WRONGTYPE) is unreadable too: a protocol
    // error, not a retry that can only fail again.
    REQUIRE(server.command({"DEL", rec}) == "1");
    REQUIRE(server.command({"SET", rec, "a string"}) == "OK");
    CHECK(store.load().error() == babelbird::malformed_stored_grant());
    CHECK(store.commit(0, sc::record_of(sc::grant_of("at", "rt"))).error() ==
          babelbird::malformed_stored_grant());
    const std::string orphans = "bb:{" + name + "}:orphans";
    REQUIRE(server.command({"DEL", orphans}) == "1");
    REQUIRE(server.command({"SET", orphans, "a string"}) == "OK");
    CHECK(store.orphans().error() == babelbird::malformed_stored_grant());
    CHECK(store.stash_orphan(sc::grant_of("at", "rt")).error() ==
          babelbird::malformed_stored_grant());
    CHECK(store.remove_orphan(sc::grant_of("at", "rt")).error() ==
          babelbird::malformed_stored_grant());
    REQUIRE(server.command({"HSET", "bb:{" + name + "}:lease", "a", "b"}) == "1");
    CHECK(store.renew("owner-a", 10s).error() == babelbird::malformed_stored_grant());
    CHECK(store.release("owner-a").error() == babelbird::malformed_stored_grant());
}

TEST_CASE("redis store: a name that would break the hash tag is a usage error, nothing sent") {
    const int port = test_redis::free_loopback_port(); // nothing listens
    for (const std::string& name : {std::string(), std::string("a{b"), std::string("a}b"),
                                    std::string("tab\there"), std::string(201, 'n')}) {
        babelbird::redis_token_store store("127.0.0.1", port, name, options());
        const auto r = store.load();
        REQUIRE(!r.has_value());
        CHECK(r.error().kind() == babelbird::error_class::usage);
        CHECK(store.try_acquire("a", 1s).error().kind() == babelbird::error_class::usage);
        CHECK(store.renew("a", 1s).error().kind() == babelbird::error_class::usage);
    }
    babelbird::redis_token_store fine("127.0.0.1", port, "ok name-1.2", options());
    CHECK(fine.load().error() == babelbird::store_error(babelbird::errc::connection_refused));
}

TEST_CASE("redis store: the async form runs on an executor's threads") {
    auto& server = shared_server();
    const std::string name = sc::fresh_name();
    babelbird::redis_token_store store("127.0.0.1", server.port(), name, options());
    test_support::thread_pool pool(2);
    test_support::pool_executor ex{&pool};
    babelbird::store_on_executor<babelbird::redis_token_store, test_support::pool_executor> async(
        store, ex);

    std::promise<std::pair<bool, bool>> acquired;
    async.async_try_acquire("owner-a", 10s, [&](babelbird::result<bool> r) {
        acquired.set_value({r.value(), pool.is_pool_thread()});
    });
    const auto [got, on_pool] = acquired.get_future().get();
    CHECK(got);
    CHECK(on_pool);

    std::promise<babelbird::result<babelbird::commit_outcome>> committed;
    async.async_commit(
        0, sc::record_of(sc::grant_of("at", "rt")),
        [&](babelbird::result<babelbird::commit_outcome> r) { committed.set_value(std::move(r)); });
    CHECK(committed.get_future().get().value().applied);

    std::promise<babelbird::result<babelbird::store_record>> loaded;
    async.async_load(
        [&](babelbird::result<babelbird::store_record> r) { loaded.set_value(std::move(r)); });
    CHECK(loaded.get_future().get().value().grant.value().refresh_token.expose_secret() == "rt");
}

} // namespace test_redis_store
