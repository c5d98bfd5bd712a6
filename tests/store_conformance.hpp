// The conformance suite of a shared token store (drivers/token_store.hpp):
// every implementation runs the same cases, so the in-memory reference store
// and the Redis adapter are held to one meaning. docs/design.md, "Shared store".
//
// Use: include this header in ONE translation unit of a test executable, write
// a factory, and instantiate the suite for it:
//
//     struct my_factory {
//         using store_type = my_store;
//         // A store of grant `name`; two calls with one name share one store.
//         std::shared_ptr<my_store> open(const std::string& name);
//         // A store of grant `name` whose every operation fails (an outage).
//         std::shared_ptr<my_store> open_broken(const std::string& name);
//         // Afterwards, a lease taken before with a ttl of at most `d` has expired.
//         void let_time_pass(std::chrono::milliseconds d);
//         // The orphan limit the stores of `open` were given (at least 2).
//         std::size_t orphan_limit() const;
//     };
//     TYPE_TO_STRING(my_factory);
//     TEST_CASE_TEMPLATE_INVOKE(store_conformance::store_conformance, my_factory);
//
// The factory is default-constructed once per test case; each case uses fresh
// grant names (store_conformance::fresh_name()).
#pragma once

#include <babelbird/babelbird.hpp>

#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <unistd.h>

namespace store_conformance {

using namespace std::chrono_literals;

/// A grant name no other case of this process uses.
inline std::string fresh_name() {
    static std::atomic<unsigned> counter{0};
    return "conformance-" + std::to_string(::getpid()) + "-" + std::to_string(counter++);
}

/// A grant with every field set, the tokens as given.
inline babelbird::token_grant grant_of(std::string_view access, std::string_view refresh,
                                       std::int64_t n = 0) {
    babelbird::token_grant g;
    g.access_token = babelbird::secret(access);
    g.refresh_token = babelbird::secret(refresh);
    g.refresh_token_rotated = n % 2 == 0;
    g.expires_in = static_cast<std::uint64_t>(3600 + n);
    g.issued_at = babelbird::time_point(std::chrono::seconds(1'700'000'000 + n));
    g.expires_at = g.issued_at + std::chrono::seconds(3600 + n);
    g.refresh_expires_at = g.issued_at + std::chrono::hours(24 * 30);
    g.token_type = "bearer";
    g.scope = "files:read files:write";
    g.warnings = babelbird::response_warnings::none;
    return g;
}

/// Every field equal (the tokens byte for byte).
inline void check_same_grant(const babelbird::token_grant& a, const babelbird::token_grant& b) {
    CHECK(a.access_token.expose_secret() == b.access_token.expose_secret());
    CHECK(a.refresh_token.expose_secret() == b.refresh_token.expose_secret());
    CHECK(a.refresh_token_rotated == b.refresh_token_rotated);
    CHECK(a.expires_in == b.expires_in);
    CHECK(a.issued_at == b.issued_at);
    CHECK(a.expires_at == b.expires_at);
    CHECK(a.refresh_expires_at == b.refresh_expires_at);
    CHECK(a.token_type == b.token_type);
    CHECK(a.scope == b.scope);
    CHECK(a.warnings == b.warnings);
}

inline babelbird::store_record record_of(babelbird::token_grant g) {
    babelbird::store_record r;
    r.grant = std::move(g);
    return r;
}

/// Every byte 0x20-0x7E once, quotes, backslashes, netstring look-alikes.
inline std::string odd_secret() {
    std::string s = " \"quoted\" 'single' \\back\\slash 3:abc, 0:, bb:{x}:rec ";
    for (int c = 0x20; c <= 0x7E; ++c) {
        s += static_cast<char>(c);
    }
    return s + " ";
}

/// A long token (64 KiB) with a pattern, so a cut or shifted copy shows.
inline std::string long_secret() {
    std::string s;
    for (std::size_t i = 0; s.size() < 64 * 1024; ++i) {
        s += static_cast<char>(0x21 + static_cast<int>(i % 94));
    }
    return s;
}

TEST_CASE_TEMPLATE_DEFINE("store conformance", Factory, store_conformance) {
    Factory f;
    const std::string name = fresh_name();
    auto store = f.open(name);

    SUBCASE("an empty store loads generation 0: no grant, active, nothing pending") {
        const auto r = store->load();
        REQUIRE(r.has_value());
        CHECK(r->gen == 0);
        CHECK(!r->grant.has_value());
        CHECK(r->state == babelbird::grant_state::active);
        CHECK(!r->pending.has_value());
        const auto o = store->orphans();
        REQUIRE(o.has_value());
        CHECK(o->empty());
    }

    SUBCASE("the first commit expects generation 0 and makes generation 1") {
        auto record = record_of(grant_of("at-1", "rt-1"));
        record.gen = 77; // ignored: the store sets gen
        const auto c = store->commit(0, record);
        REQUIRE(c.has_value());
        CHECK(c->applied);
        CHECK(c->current.gen == 1);
        REQUIRE(c->current.grant.has_value());
        check_same_grant(*c->current.grant, *record.grant);
        const auto loaded = f.open(name)->load();
        REQUIRE(loaded.has_value());
        CHECK(loaded->gen == 1);
        REQUIRE(loaded->grant.has_value());
        check_same_grant(*loaded->grant, *record.grant);
        CHECK(loaded->state == babelbird::grant_state::active);
        CHECK(!loaded->pending.has_value());

        const auto second = store->commit(1, record_of(grant_of("at-2", "rt-2", 1)));
        REQUIRE(second.has_value());
        CHECK(second->applied);
        CHECK(second->current.gen == 2);
    }

    SUBCASE("a stale generation is a conflict carrying the current record, and changes nothing") {
        const auto winner = grant_of("at-winner", "rt-winner", 3);
        REQUIRE(store->commit(0, record_of(winner)).value().applied);
        for (std::uint64_t stale : {std::uint64_t{0}, std::uint64_t{2}, std::uint64_t{1000}}) {
            CAPTURE(stale);
            const auto c = f.open(name)->commit(stale, record_of(grant_of("at-loser", "rt-loser")));
            REQUIRE(c.has_value());
            CHECK(!c->applied);
            CHECK(c->current.gen == 1);
            REQUIRE(c->current.grant.has_value());
            check_same_grant(*c->current.grant, winner);
        }
        const auto loaded = store->load();
        REQUIRE(loaded.has_value());
        CHECK(loaded->gen == 1);
        check_same_grant(loaded->grant.value(), winner);
    }

    SUBCASE("two committers from one generation: exactly one applies") {
        REQUIRE(store->commit(0, record_of(grant_of("at-0", "rt-0"))).value().applied);
        auto a = store->commit(1, record_of(grant_of("at-a", "rt-a")));
        auto b = f.open(name)->commit(1, record_of(grant_of("at-b", "rt-b")));
        REQUIRE(a.has_value());
        REQUIRE(b.has_value());
        CHECK(a->applied);
        CHECK(!b->applied);
        CHECK(b->current.gen == 2);
        CHECK(b->current.grant.value().refresh_token.expose_secret() == "rt-a");
    }

    SUBCASE("N threads commit from one generation: exactly one applies, the others see it") {
        REQUIRE(store->commit(0, record_of(grant_of("at-0", "rt-0"))).value().applied);
        constexpr int n = 6;
        std::vector<std::shared_ptr<typename Factory::store_type>> stores;
        for (int i = 0; i < n; ++i) {
            stores.push_back(f.open(name));
        }
        std::atomic<int> ready{0};
        std::vector<std::optional<babelbird::commit_outcome>> outcomes(n);
        std::vector<std::thread> threads;
        for (int i = 0; i < n; ++i) {
            threads.emplace_back([&, i] {
                const std::string id = std::to_string(i);
                auto record = record_of(grant_of("at-" + id, "rt-" + id));
                ++ready;
                while (ready.load() < n) {
                    std::this_thread::yield();
                }
                auto r = stores[static_cast<std::size_t>(i)]->commit(1, record);
                if (r.has_value()) {
                    outcomes[static_cast<std::size_t>(i)] = std::move(*r);
                }
            });
        }
        for (auto& t : threads) {
            t.join();
        }
        int applied = 0;
        std::string winner;
        for (const auto& o : outcomes) {
            REQUIRE(o.has_value());
            if (o->applied) {
                ++applied;
                winner = std::string(o->current.grant.value().refresh_token.expose_secret());
            }
        }
        REQUIRE(applied == 1);
        for (const auto& o : outcomes) {
            CHECK(o->current.gen == 2);
            CHECK(o->current.grant.value().refresh_token.expose_secret() == winner);
        }
    }

    SUBCASE("only one of N threads acquires the lease") {
        constexpr int n = 8;
        std::vector<std::shared_ptr<typename Factory::store_type>> stores;
        for (int i = 0; i < n; ++i) {
            stores.push_back(f.open(name));
        }
        std::mutex m;
        std::condition_variable cv;
        bool go = false;
        std::atomic<int> winners{0};
        std::atomic<int> failures{0};
        std::vector<std::thread> threads;
        for (int i = 0; i < n; ++i) {
            threads.emplace_back([&, i] {
                {
                    std::unique_lock lock(m);
                    cv.wait(lock, [&] { return go; });
                }
                const auto r = stores[static_cast<std::size_t>(i)]->try_acquire(
                    "owner-" + std::to_string(i), 10s);
                if (!r.has_value()) {
                    ++failures;
                } else if (*r) {
                    ++winners;
                }
            });
        }
        {
            std::lock_guard lock(m);
            go = true;
        }
        cv.notify_all();
        for (auto& t : threads) {
            t.join();
        }
        CHECK(failures.load() == 0);
        CHECK(winners.load() == 1);
    }

    SUBCASE("a lease expires after its ttl: another owner acquires, the old one lost it") {
        const auto ttl = 200ms;
        REQUIRE(store->try_acquire("owner-a", ttl).value());
        CHECK(!f.open(name)->try_acquire("owner-b", ttl).value());
        CHECK(!store->try_acquire("owner-a", ttl).value()); // held, even by its owner
        f.let_time_pass(ttl);
        CHECK(f.open(name)->try_acquire("owner-b", 10s).value());
        CHECK(!store->renew("owner-a", ttl).value());
        CHECK(!store->release("owner-a").value());
        CHECK(!store->try_acquire("owner-c", 10s).value()); // still owner-b's
        CHECK(store->release("owner-b").value());
    }

    SUBCASE("renew by a non-owner fails; by the owner it extends the lease") {
        REQUIRE(store->try_acquire("owner-a", 10s).value());
        CHECK(!store->renew("owner-b", 10s).value());
        CHECK(store->renew("owner-a", 10s).value());
        CHECK(!store->renew("owner-a-suffix", 10s).value());
        CHECK(!store->renew("owner-", 10s).value());
    }

    SUBCASE("a renewed lease outlives its first ttl") {
        const auto ttl = 300ms;
        REQUIRE(store->try_acquire("owner-a", ttl).value());
        REQUIRE(store->renew("owner-a", 60s).value());
        f.let_time_pass(ttl);
        CHECK(!f.open(name)->try_acquire("owner-b", 10s).value());
        CHECK(store->release("owner-a").value());
    }

    SUBCASE("release by a non-owner does nothing and says so") {
        CHECK(!store->release("owner-a").value()); // nobody holds it
        REQUIRE(store->try_acquire("owner-a", 10s).value());
        CHECK(!store->release("owner-b").value());
        CHECK(!f.open(name)->try_acquire("owner-c", 10s).value()); // still held
        CHECK(store->release("owner-a").value());
        CHECK(!store->release("owner-a").value()); // once
        CHECK(f.open(name)->try_acquire("owner-c", 10s).value());
    }

    SUBCASE("a pending intent round-trips, and a commit without one clears it") {
        REQUIRE(store->commit(0, record_of(grant_of("at-1", "rt-1"))).value().applied);
        auto with_intent = store->load().value();
        with_intent.pending = babelbird::pending_refresh{
            "worker-7 pid 4242", 1,
            babelbird::time_point(std::chrono::nanoseconds(1'700'000'123'456'789'012))};
        const auto c = store->commit(1, with_intent);
        REQUIRE(c.has_value());
        REQUIRE(c->applied);
        const auto loaded = f.open(name)->load();
        REQUIRE(loaded.has_value());
        CHECK(loaded->gen == 2);
        REQUIRE(loaded->pending.has_value());
        CHECK(*loaded->pending == *with_intent.pending);
        check_same_grant(loaded->grant.value(), with_intent.grant.value());

        auto done = *loaded;
        done.pending.reset();
        done.grant = grant_of("at-2", "rt-2", 2);
        REQUIRE(store->commit(2, done).value().applied);
        const auto after = store->load().value();
        CHECK(after.gen == 3);
        CHECK(!after.pending.has_value());
        check_same_grant(after.grant.value(), *done.grant);
    }

    SUBCASE("the dead state round-trips, with or without a grant, and a live grant revives it") {
        auto dead = record_of(grant_of("at-1", "rt-1"));
        dead.state = babelbird::grant_state::dead;
        REQUIRE(store->commit(0, dead).value().applied);
        auto loaded = f.open(name)->load().value();
        CHECK(loaded.state == babelbird::grant_state::dead);
        check_same_grant(loaded.grant.value(), *dead.grant);

        babelbird::store_record bare;
        bare.state = babelbird::grant_state::dead;
        REQUIRE(store->commit(1, bare).value().applied);
        loaded = store->load().value();
        CHECK(loaded.gen == 2);
        CHECK(loaded.state == babelbird::grant_state::dead);
        CHECK(!loaded.grant.has_value());

        REQUIRE(store->commit(2, record_of(grant_of("at-new", "rt-new"))).value().applied);
        loaded = store->load().value();
        CHECK(loaded.state == babelbird::grant_state::active);
        CHECK(loaded.grant.value().refresh_token.expose_secret() == "rt-new");
    }

    SUBCASE("orphans: bounded, newest first, removed by value") {
        const std::size_t limit = f.orphan_limit();
        REQUIRE(limit >= 2);
        for (std::size_t i = 0; i < limit + 2; ++i) {
            REQUIRE(
                store
                    ->stash_orphan(grant_of("at-o" + std::to_string(i), "rt-o" + std::to_string(i),
                                            static_cast<std::int64_t>(i)))
                    .has_value());
        }
        const auto o = f.open(name)->orphans();
        REQUIRE(o.has_value());
        REQUIRE(o->size() == limit);
        for (std::size_t i = 0; i < limit; ++i) {
            const std::size_t n = limit + 1 - i;
            check_same_grant((*o)[i],
                             grant_of("at-o" + std::to_string(n), "rt-o" + std::to_string(n),
                                      static_cast<std::int64_t>(n)));
        }
        const auto second = (*o)[1];
        CHECK(store->remove_orphan(second).value());
        CHECK(!store->remove_orphan(second).value());
        const auto after = store->orphans().value();
        REQUIRE(after.size() == limit - 1);
        CHECK(after[0].refresh_token.expose_secret() == (*o)[0].refresh_token.expose_secret());
        CHECK(after[1].refresh_token.expose_secret() == (*o)[2].refresh_token.expose_secret());
        // Another field differs: not the same orphan.
        auto almost = after[0];
        almost.scope = "other";
        CHECK(!store->remove_orphan(almost).value());
        // The record is untouched by orphans.
        CHECK(store->load().value().gen == 0);
    }

    SUBCASE("odd and long secrets round-trip exactly through the record and the orphans") {
        const std::string odd = odd_secret();
        const std::string longer = long_secret();
        for (const auto& [access, refresh] : {std::pair<std::string, std::string>{odd, odd},
                                              {longer, odd},
                                              {"a", longer},
                                              {"x", " leading and trailing spaces "}}) {
            auto g = grant_of(access, refresh, 5);
            g.scope = "a \"quoted\" scope, with: colons";
            g.token_type = "Bearer \t tab";
            g.expires_in = 0;
            g.refresh_expires_at.reset();
            g.issued_at = babelbird::time_point(std::chrono::nanoseconds(-5));
            const auto before = store->load().value();
            REQUIRE(store->commit(before.gen, record_of(g)).value().applied);
            const auto loaded = f.open(name)->load();
            REQUIRE(loaded.has_value());
            check_same_grant(loaded->grant.value(), g);
            REQUIRE(store->stash_orphan(g).has_value());
            const auto o = store->orphans();
            REQUIRE(o.has_value());
            REQUIRE(!o->empty());
            check_same_grant(o->front(), g);
            CHECK(store->remove_orphan(g).value());
        }
    }

    SUBCASE("bad arguments are usage errors, and change nothing") {
        const auto empty_owner = store->try_acquire("", 10s);
        REQUIRE(!empty_owner.has_value());
        CHECK(empty_owner.error().kind() == babelbird::error_class::usage);
        const auto zero_ttl = store->try_acquire("owner-a", 0ms);
        REQUIRE(!zero_ttl.has_value());
        CHECK(zero_ttl.error().kind() == babelbird::error_class::usage);
        CHECK(!store->renew(std::string(300, 'o'), 10s).has_value());
        CHECK(!store->release("").has_value());
        CHECK(store->try_acquire("owner-a", 10s).value());
    }

    SUBCASE("a store that fails gives retry errors, and no secret in any message") {
        const std::string secret_text = "rt-SECRET-" + odd_secret();
        const auto g = grant_of("at-SECRET-value", secret_text);
        REQUIRE(store->commit(0, record_of(g)).value().applied);
        auto broken = f.open_broken(name);
        std::vector<babelbird::error> errors;
        const auto keep = [&](const auto& r) {
            REQUIRE(!r.has_value());
            errors.push_back(r.error());
        };
        keep(broken->load());
        keep(broken->try_acquire("owner-a", 10s));
        keep(broken->renew("owner-a", 10s));
        keep(broken->release("owner-a"));
        keep(broken->commit(1, record_of(g)));
        keep(broken->stash_orphan(g));
        keep(broken->orphans());
        keep(broken->remove_orphan(g));
        for (const auto& e : errors) {
            CHECK(e.kind() == babelbird::error_class::retry);
            CHECK(e.is_retryable());
            for (const std::string& text : {e.message(), e.to_error_code().message()}) {
                CHECK(text.find("SECRET") == std::string::npos);
                CHECK(text.find(secret_text) == std::string::npos);
                CHECK(!text.empty());
            }
        }
        // The outage changed nothing that a working handle sees.
        const auto loaded = f.open(name)->load();
        REQUIRE(loaded.has_value());
        CHECK(loaded->gen == 1);
    }
}

} // namespace store_conformance
