// The shared-store protocol of the lifecycle machine (docs/design.md, "Shared
// store"): two replicas (two machines) over one memory_token_store and a fake
// rotating server, every interleaving of their steps enumerated (a scheduler
// picks which replica's pending step runs next; each schedule is replayed
// from scratch), the invariants checked at the end of each.
#include "token_support.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <variant>
#include <vector>

// A namespace per file: the unit tests are compiled as unity chunks.
namespace test_store_protocol {

using namespace std::chrono_literals;
namespace ts = test_support;
namespace bb = babelbird;

const bb::time_point t0 = bb::time_point(std::chrono::seconds(1'700'000'000));

/// A lease clock that stands still unless the test moves it.
struct still_clock {
    std::shared_ptr<std::int64_t> offset = std::make_shared<std::int64_t>(0);
    std::chrono::steady_clock::time_point now() const noexcept {
        return std::chrono::steady_clock::time_point(std::chrono::hours(1000)) +
               std::chrono::milliseconds(*offset);
    }
};
using store_t = bb::basic_memory_token_store<still_clock>;

/// A server that rotates refresh tokens: only `live` refreshes; any other
/// (a reused, rotated one) is `invalid_grant`.
struct rotating_server {
    std::string live;
    int issued = 0;
    std::map<std::string, int> seen; ///< each refresh token presented, how often
    std::vector<std::string> issued_tokens;

    bb::transport_result answer(const bb::http_request& request) {
        const std::string sent = ts::sent_refresh_token(request);
        ++seen[sent];
        if (!live.empty() && sent == live) {
            ++issued;
            live = "R" + std::to_string(issued);
            issued_tokens.push_back(live);
            return ts::token_answer("A" + std::to_string(issued), live, 3600);
        }
        return bb::http_response(400, R"({"error":"invalid_grant"})");
    }
};

/// One replica: a machine and the one action it waits to have carried out.
struct replica {
    replica(bb::token_lifecycle m, std::string o) : machine(std::move(m)), owner(std::move(o)) {}
    bb::token_lifecycle machine;
    std::string owner;
    bool asked = false; ///< its caller's on_get ran
    std::optional<bb::store_step> store;
    std::optional<bb::flight_id> send_flight;
    std::optional<bb::http_request> send;
    std::shared_ptr<const bb::token_grant> persist;
    std::optional<bb::time_point> wait_until;
    int timers = 0;
    std::vector<std::string> hooked; ///< the refresh tokens its hook saw
    std::optional<bb::result<std::shared_ptr<const bb::token_grant>>> outcome;

    bool has_work() const { return !asked || store || send || persist || wait_until; }
    bool only_timer() const { return asked && !store && !send && !persist && wait_until; }
};

struct world {
    still_clock lease_clock;
    store_t store{bb::memory_store_options{}, lease_clock};
    rotating_server server;
    bb::time_point now = t0 + 2h; // every seed's access token expired
    std::vector<replica> replicas;
    int dead_marks = 0;
    int conflicts = 0;
    int actions_checked = 0;
    std::string failure; // a broken invariant, for the report

    std::int64_t* store_clock_offset() { return lease_clock.offset.get(); }

    void take(replica& r, bb::lifecycle_actions a) {
        const int outputs =
            (a.send ? 1 : 0) + (a.persist ? 1 : 0) + (a.store ? 1 : 0) + (a.wait_until ? 1 : 0);
        ++actions_checked;
        if (outputs > 1) {
            failure = "two outputs in one action set";
        }
        if (!a.complete.empty()) {
            if (r.outcome) {
                failure = "a waiter completed twice";
            }
            r.outcome = *a.outcome;
        }
        r.store = std::move(a.store);
        r.send_flight = a.send_flight;
        r.send = std::move(a.send);
        r.persist = std::move(a.persist);
        r.wait_until = a.wait_until;
    }

    /// Carries out replica `i`'s pending action.
    void step(std::size_t i) {
        replica& r = replicas[i];
        bb::token_lifecycle& m = r.machine;
        if (!r.asked) {
            r.asked = true;
            take(r, m.on_get(1, now));
        } else if (r.persist) {
            r.hooked.push_back(std::string(r.persist->refresh_token.expose_secret()));
            r.persist.reset();
            take(r, m.on_persisted(true));
        } else if (r.send) {
            const auto response = server.answer(*r.send);
            const auto id = *r.send_flight;
            r.send.reset();
            take(r, m.on_response(id, response, now, now));
        } else if (r.store) {
            const bb::store_step s = std::move(*r.store);
            r.store.reset();
            std::visit(
                [&](const auto& op) {
                    using T = std::decay_t<decltype(op)>;
                    if constexpr (std::is_same_v<T, bb::store_load>) {
                        take(r, m.on_store_result(store.load(), now));
                    } else if constexpr (std::is_same_v<T, bb::store_acquire>) {
                        CHECK(op.owner == r.owner);
                        take(r, m.on_store_result(store.try_acquire(op.owner, op.ttl), now));
                    } else if constexpr (std::is_same_v<T, bb::store_release>) {
                        take(r, m.on_store_result(store.release(op.owner), now));
                    } else if constexpr (std::is_same_v<T, bb::store_commit>) {
                        auto out = store.commit(op.expected_gen, op.record);
                        if (out && out->applied && op.record.state == bb::grant_state::dead) {
                            ++dead_marks;
                        }
                        if (out && !out->applied) {
                            ++conflicts;
                        }
                        take(r, m.on_store_result(out, now));
                    } else if constexpr (std::is_same_v<T, bb::store_stash_orphan>) {
                        take(r, m.on_store_result(store.stash_orphan(op.grant), now));
                    } else if constexpr (std::is_same_v<T, bb::store_read_orphans>) {
                        take(r, m.on_store_result(store.orphans(), now));
                    } else {
                        take(r, m.on_store_result(store.remove_orphan(op.grant), now));
                    }
                },
                s);
        } else if (r.wait_until) {
            now = std::max(now, *r.wait_until);
            ++r.timers;
            r.wait_until.reset();
            take(r, m.on_timer(now));
        }
    }

    /// The replicas that may run now: a replica whose only work is its lease
    /// timer runs at most `timer_cap` times while another can progress.
    std::vector<std::size_t> enabled(int timer_cap) const {
        std::vector<std::size_t> out;
        bool other_progress = false;
        for (const auto& r : replicas) {
            other_progress = other_progress || (r.has_work() && !r.only_timer());
        }
        for (std::size_t i = 0; i < replicas.size(); ++i) {
            const replica& r = replicas[i];
            if (!r.has_work()) {
                continue;
            }
            if (r.only_timer() && r.timers >= timer_cap && other_progress) {
                continue;
            }
            out.push_back(i);
        }
        return out;
    }
};

/// How a scenario starts: the store's record and orphans, the server's live
/// token, the replicas' seeds.
struct scenario {
    std::optional<bb::token_grant> record; ///< committed once (gen 1) when set
    std::vector<bb::token_grant> orphans;  ///< stashed oldest first
    std::string live;
    std::vector<bb::token_grant> seeds;
    /// Each replica's caller saw a 401 for this access token before its get.
    std::string rejected;
};

bb::token_grant expired_grant(std::string_view refresh) {
    return ts::stored_grant("old-access", refresh, t0, 3600s); // expired at t0 + 2h
}

std::unique_ptr<world> make_world(const scenario& sc) {
    auto w = std::make_unique<world>();
    if (sc.record) {
        bb::store_record rec;
        rec.grant = *sc.record;
        REQUIRE(w->store.commit(0, rec).value().applied);
    }
    for (const auto& g : sc.orphans) {
        REQUIRE(w->store.stash_orphan(g));
    }
    w->server.live = sc.live;
    std::uint64_t seed = 1;
    for (const auto& g : sc.seeds) {
        bb::token_lifecycle_options o;
        o.shared_store = true;
        o.store_owner = "replica-" + std::to_string(seed);
        o.jitter_seed = seed;
        o.lease_ttl = 15s;
        o.lease_poll = 200ms;
        w->replicas.emplace_back(bb::token_lifecycle(ts::credentials(), ts::server(),
                                                     bb::token_seed::from_grant(g).value(), o),
                                 o.store_owner);
        if (!sc.rejected.empty()) {
            (void)w->replicas.back().machine.on_invalidate(bb::secret_view(sc.rejected));
        }
        ++seed;
    }
    return w;
}

struct figures {
    long runs = 0;
    long steps = 0;
    long max_depth = 0;
};

/// Enumerates every schedule of `sc` (depth-first over the scheduler's
/// choices, replaying each schedule from scratch) and calls `check` at the end
/// of each, when no replica has work left.
/// With `samples` > 0: that many schedules drawn at random (seeded) instead,
/// for a space too large to enumerate.
template <class Check>
figures enumerate(const scenario& sc, int timer_cap, Check check, long samples = 0) {
    figures f;
    std::vector<std::size_t> forced;
    std::uint64_t rng = 0x243f6a8885a308d3u;
    for (;;) {
        auto w = make_world(sc);
        std::vector<std::size_t> taken;
        std::vector<std::size_t> alternatives;
        long depth = 0;
        for (;;) {
            const auto can = w->enabled(timer_cap);
            if (can.empty()) {
                break;
            }
            std::size_t pick = 0;
            if (can.size() > 1) {
                const std::size_t k = taken.size();
                pick = k < forced.size() ? forced[k] : 0;
                if (samples > 0) {
                    rng = rng * 6364136223846793005u + 1442695040888963407u;
                    pick = static_cast<std::size_t>(rng >> 33) % can.size();
                }
                taken.push_back(pick);
                alternatives.push_back(can.size());
            }
            w->step(can[pick]);
            ++depth;
            REQUIRE_MESSAGE(depth < 200, "a schedule that does not end");
            if (!w->failure.empty()) {
                break;
            }
        }
        ++f.runs;
        f.steps += depth;
        f.max_depth = std::max(f.max_depth, depth);
        REQUIRE_MESSAGE(w->failure.empty(), w->failure);
        check(*w);
        if (samples > 0) {
            if (f.runs >= samples) {
                return f;
            }
            continue;
        }
        // The next schedule: the last choice that has an untried alternative.
        while (!taken.empty() && taken.back() + 1 >= alternatives.back()) {
            taken.pop_back();
            alternatives.pop_back();
        }
        if (taken.empty()) {
            return f;
        }
        ++taken.back();
        forced = taken;
    }
}

/// The server never saw one refresh token twice.
bool no_reuse_of(const rotating_server& s) {
    return std::all_of(s.seen.begin(), s.seen.end(), [](const auto& kv) { return kv.second == 1; });
}
bool no_reuse(const world& w) {
    return no_reuse_of(w.server);
}

/// Every refresh token the server issued and did not retire is in the record
/// or in the orphans: the live one is never lost.
bool live_kept(world& w) {
    if (w.server.issued == 0) {
        return true;
    }
    const auto rec = w.store.load().value();
    if (rec.grant && rec.grant->refresh_token.expose_secret() == w.server.live &&
        rec.state == bb::grant_state::active) {
        return true;
    }
    const auto orphans = w.store.orphans().value();
    for (const auto& g : orphans) {
        if (g.refresh_token.expose_secret() == w.server.live) {
            return true;
        }
    }
    return false;
}

bool lease_free(world& w) {
    return w.store.try_acquire("someone-else", 1s).value();
}

void report(const char* name, const figures& f) {
    MESSAGE(std::string(name) << ": " << f.runs << " interleavings, " << f.steps
                              << " steps, longest " << f.max_depth);
}

TEST_CASE("store protocol: an empty store, two replicas with one seed: one refresh, both "
          "get it, every interleaving") {
    scenario sc;
    sc.live = "R0";
    sc.seeds = {expired_grant("R0"), expired_grant("R0")};
    const figures f = enumerate(sc, 2, [](world& w) {
        CHECK(no_reuse(w));
        CHECK(w.server.issued == 1); // N-1 replicas never refresh
        CHECK(live_kept(w));
        CHECK(lease_free(w));
        CHECK(w.dead_marks == 0);
        for (const auto& r : w.replicas) {
            REQUIRE(r.outcome);
            REQUIRE(*r.outcome);
            CHECK((**r.outcome)->access_token.expose_secret() == "A1");
            CHECK(r.machine.store_gen() == 2); // the seed (gen 1), then the refresh
            CHECK_FALSE(r.machine.in_flight());
        }
        // The hook saw the one new grant, before the commit, in the replica that refreshed.
        CHECK(w.replicas[0].hooked.size() + w.replicas[1].hooked.size() == 1);
    });
    report("empty store", f);
    CHECK(f.runs > 100);
}

TEST_CASE("store protocol: a record newer than both seeds is adopted; the stale seeds are "
          "never sent, every interleaving") {
    scenario sc;
    sc.record = expired_grant("R0");
    sc.live = "R0";
    sc.seeds = {expired_grant("stale-a"), expired_grant("stale-b")};
    const figures f = enumerate(sc, 2, [](world& w) {
        CHECK(no_reuse(w));
        CHECK(w.server.seen.count("stale-a") == 0);
        CHECK(w.server.seen.count("stale-b") == 0);
        CHECK(w.server.issued == 1);
        CHECK(live_kept(w));
        CHECK(lease_free(w));
        for (const auto& r : w.replicas) {
            REQUIRE(r.outcome);
            REQUIRE(*r.outcome);
            CHECK((**r.outcome)->access_token.expose_secret() == "A1");
        }
    });
    report("newer record", f);
    CHECK(f.runs > 100);
}

TEST_CASE("store protocol: a record with a fresh but rejected access token (a 401 on the "
          "file API) is refreshed once; a sibling's intent, same token, is no answer") {
    // Both replicas' callers got a 401 for A-old while their clocks still call
    // it fresh (the server expired it early). The intent the first replica
    // commits (step 4) is a newer generation holding A-old: the second one
    // must keep waiting for the lease, never hand out A-old again.
    scenario sc;
    sc.record = ts::stored_grant("A-old", "R0", t0 + 2h - 60s, 3600s);
    sc.live = "R0";
    sc.seeds = {*sc.record, *sc.record};
    sc.rejected = "A-old";
    const figures f = enumerate(sc, 2, [](world& w) {
        CHECK(no_reuse(w));
        CHECK(w.server.issued == 1);
        CHECK(live_kept(w));
        CHECK(lease_free(w));
        for (const auto& r : w.replicas) {
            REQUIRE(r.outcome);
            REQUIRE(*r.outcome);
            CHECK((**r.outcome)->access_token.expose_secret() == "A1");
            CHECK_FALSE(r.machine.rejected());
        }
    });
    report("rejected fresh token", f);
    CHECK(f.runs > 20);
}

TEST_CASE("store protocol: a fresh record is adopted without a lease or a refresh") {
    scenario sc;
    sc.record = ts::stored_grant("A-shared", "R0", t0 + 2h - 60s, 3600s);
    sc.live = "R0";
    sc.seeds = {expired_grant("stale-a"), expired_grant("stale-b")};
    const figures f = enumerate(sc, 2, [](world& w) {
        CHECK(w.server.seen.empty());
        CHECK(lease_free(w));
        for (const auto& r : w.replicas) {
            REQUIRE(r.outcome);
            REQUIRE(*r.outcome);
            CHECK((**r.outcome)->access_token.expose_secret() == "A-shared");
            CHECK(r.machine.store_gen() == 1);
        }
    });
    report("fresh record", f);
}

TEST_CASE("store protocol: a dead grant is marked dead once; the other replica never sends, "
          "every interleaving") {
    scenario sc;
    sc.record = expired_grant("R0");
    sc.live = "R-elsewhere"; // R0 was revoked
    sc.seeds = {expired_grant("R0"), expired_grant("R0")};
    const figures f = enumerate(sc, 2, [](world& w) {
        CHECK(no_reuse(w));
        CHECK(w.server.seen.size() == 1); // R0, once
        CHECK(w.dead_marks == 1);
        CHECK(w.store.load().value().state == bb::grant_state::dead);
        CHECK(lease_free(w));
        for (const auto& r : w.replicas) {
            REQUIRE(r.outcome);
            REQUIRE_FALSE(*r.outcome);
            CHECK(r.outcome->error().kind() == bb::error_class::reauthorize);
            CHECK(r.machine.blocked());
        }
    });
    report("dead grant", f);
}

TEST_CASE("store protocol: orphans are tried newest first after invalid_grant; the live one "
          "rescues the grant, the refused one is removed, every interleaving") {
    scenario sc;
    sc.record = expired_grant("R0");
    sc.orphans = {expired_grant("R-orphan-live"), expired_grant("R-orphan-dead")}; // newest last
    sc.live = "R-orphan-live";
    sc.seeds = {expired_grant("R0"), expired_grant("R0")};
    const figures f = enumerate(
        sc, 2,
        [](world& w) {
            CHECK(no_reuse(w));
            CHECK(w.server.issued == 1);
            CHECK(w.dead_marks == 0);
            CHECK(live_kept(w));
            CHECK(w.store.orphans().value().empty()); // the refused one and the used one
            CHECK(lease_free(w));
            for (const auto& r : w.replicas) {
                REQUIRE(r.outcome);
                REQUIRE(*r.outcome);
                CHECK((**r.outcome)->access_token.expose_secret() == "A1");
            }
        },
        20000);
    report("orphan rescue (seeded sample)", f);
}

TEST_CASE("store protocol: a lease that expires mid-refresh (a slow replica): both may send the "
          "same token, the server's live grant is still never lost") {
    // The lease clock jumps past the TTL at one point of the schedule: the
    // case the design's grace period exists for. Reuse may happen here; loss
    // must not.
    scenario sc;
    sc.record = expired_grant("R0");
    sc.live = "R0";
    sc.seeds = {expired_grant("R0"), expired_grant("R0")};
    long runs = 0;
    long reuses = 0;
    std::uint64_t rng = 0x13198a2e03707344u;
    auto draw = [&rng](std::size_t n) {
        rng = rng * 6364136223846793005u + 1442695040888963407u;
        return static_cast<std::size_t>(rng >> 33) % n;
    };
    for (; runs < 20000; ++runs) {
        auto w = make_world(sc);
        // A third actor: after `jump_at` steps the lease clock passes the TTL.
        const long jump_at = static_cast<long>(draw(16));
        long depth = 0;
        for (;;) {
            if (depth == jump_at) {
                *w->store_clock_offset() += 20000;
            }
            const auto can = w->enabled(1);
            if (can.empty()) {
                break;
            }
            w->step(can[draw(can.size())]);
            REQUIRE(++depth < 200);
            REQUIRE_MESSAGE(w->failure.empty(), w->failure);
        }
        reuses += no_reuse(*w) ? 0 : 1;
        CHECK(live_kept(*w));
        CHECK(w->dead_marks <= 1);
        for (const auto& r : w->replicas) {
            CHECK(r.outcome);
            CHECK_FALSE(r.machine.in_flight());
        }
    }
    MESSAGE("lease expiry (seeded sample): " << runs << " schedules, " << reuses
                                             << " with a reused token");
    CHECK(reuses > 0); // the case exists, and is survived
}

/// The rotating server behind a mutex, for sources on several threads.
struct shared_server {
    std::mutex mutex;
    rotating_server server;
    bb::transport_result operator()(const bb::http_request& request) {
        std::lock_guard lock(mutex);
        return server.answer(request);
    }
};

struct server_ref {
    shared_server* target;
    bb::transport_result operator()(const bb::http_request& request) const {
        return (*target)(request);
    }
};

TEST_CASE("store protocol: token_source replicas on threads share one memory_token_store: one "
          "refresh per expiry, no token reused") {
    shared_server srv;
    srv.server.live = "R0";
    auto mem = std::make_shared<bb::memory_token_store>();
    auto store = std::make_shared<bb::any_token_store>(mem);
    constexpr int replicas = 4;
    std::vector<std::unique_ptr<bb::token_source<server_ref>>> sources;
    for (int i = 0; i < replicas; ++i) {
        bb::token_source_options o;
        o.store = store;
        o.lease_poll = 2ms;
        o.min_refresh_interval = 0ms;
        // Each replica's own seed: an expired copy of the same grant.
        sources.push_back(std::make_unique<bb::token_source<server_ref>>(
            server_ref{&srv}, ts::credentials(), ts::server(),
            bb::token_seed::from_grant(
                ts::stored_grant("old", "R0", bb::time_point(std::chrono::seconds(1000)), 60s))
                .value(),
            o));
    }
    std::vector<std::string> first(replicas);
    {
        std::vector<std::thread> threads;
        for (int i = 0; i < replicas; ++i) {
            threads.emplace_back([&, i] {
                auto t = sources[static_cast<std::size_t>(i)]->get();
                if (t) {
                    first[static_cast<std::size_t>(i)] =
                        std::string(t->access_token().expose_secret());
                }
            });
        }
        for (auto& t : threads) {
            t.join();
        }
    }
    for (const auto& a : first) {
        CHECK(a == "A1");
    }
    CHECK(srv.server.issued == 1);
    // The server rejects the token on one replica: it refreshes once; the
    // others, told the same, adopt its record.
    sources[0]->invalidate(bb::secret_view("A1"));
    REQUIRE(sources[0]->get());
    for (int i = 1; i < replicas; ++i) {
        sources[static_cast<std::size_t>(i)]->invalidate(bb::secret_view("A1"));
        auto t = sources[static_cast<std::size_t>(i)]->get();
        REQUIRE(t);
        CHECK(t->access_token().expose_secret() == "A2");
    }
    CHECK(srv.server.issued == 2);
    CHECK(no_reuse_of(srv.server));
    const auto rec = mem->load().value();
    CHECK(rec.gen == 4); // seed, refresh, intent, refresh
    REQUIRE(rec.grant);
    CHECK(rec.grant->refresh_token.expose_secret() == srv.server.live);
    CHECK(mem->try_acquire("check", 1s).value());
}

/// A memory store that counts renewals (and can answer them `false`, a lost lease).
struct counting_store {
    std::shared_ptr<bb::memory_token_store> mem;
    std::shared_ptr<std::atomic<int>> renewals = std::make_shared<std::atomic<int>>(0);
    bool lose_lease_on_renew = false;

    bb::result<bb::store_record> load() { return mem->load(); }
    bb::result<bool> try_acquire(std::string_view o, std::chrono::milliseconds t) {
        return mem->try_acquire(o, t);
    }
    bb::result<bool> renew(std::string_view o, std::chrono::milliseconds t) {
        renewals->fetch_add(1);
        if (lose_lease_on_renew) {
            return false;
        }
        return mem->renew(o, t);
    }
    bb::result<bool> release(std::string_view o) { return mem->release(o); }
    bb::result<bb::commit_outcome> commit(std::uint64_t g, const bb::store_record& r) {
        return mem->commit(g, r);
    }
    bb::result<void> stash_orphan(const bb::token_grant& g) { return mem->stash_orphan(g); }
    bb::result<std::vector<bb::token_grant>> orphans() { return mem->orphans(); }
    bb::result<bool> remove_orphan(const bb::token_grant& g) { return mem->remove_orphan(g); }
};

/// A transport that holds each request `delay` (a slow server), then answers
/// from `srv`; `sending` is set while it holds one.
struct slow_server_ref {
    shared_server* target;
    std::chrono::milliseconds delay;
    std::atomic<bool>* sending;
    bb::transport_result operator()(const bb::http_request& request) const {
        sending->store(true);
        std::this_thread::sleep_for(delay);
        sending->store(false);
        return (*target)(request);
    }
};

/// One refresh through a transport slower than the lease (1 s against a
/// 300 ms lease: the margins stand a slow sanitizer run), while an intruder
/// tries to take the lease every 5 ms: whether it ever got it, and how often
/// the source renewed.
struct slow_refresh_outcome {
    bool intruder_got_lease = false;
    int renewals = 0;
    int issued = 0;
    bool got_token = false;
    bool lease_free_after = false;
};

slow_refresh_outcome slow_refresh(bool renew_lease, bool lose_lease_on_renew = false) {
    shared_server srv;
    srv.server.live = "R0";
    auto mem = std::make_shared<bb::memory_token_store>();
    counting_store counting{mem};
    counting.lose_lease_on_renew = lose_lease_on_renew;
    const auto renewals = counting.renewals;
    std::atomic<bool> sending{false};
    std::atomic<bool> done{false};
    bb::token_source_options o;
    o.store = std::make_shared<bb::any_token_store>(std::move(counting));
    o.store_owner = "source";
    o.lease_ttl = 300ms;
    o.lease_poll = 5ms;
    o.min_refresh_interval = 0ms;
    o.renew_lease = renew_lease;
    bb::token_source<slow_server_ref> source(
        slow_server_ref{&srv, 1000ms, &sending}, ts::credentials(), ts::server(),
        bb::token_seed::from_grant(
            ts::stored_grant("old", "R0", bb::time_point(std::chrono::seconds(1000)), 60s))
            .value(),
        o);
    slow_refresh_outcome out;
    std::thread intruder([&] {
        while (!done.load()) {
            if (sending.load() && mem->try_acquire("intruder", 300ms).value_or(false)) {
                out.intruder_got_lease = true;
                return;
            }
            std::this_thread::sleep_for(5ms);
        }
    });
    auto token = source.get();
    done.store(true);
    intruder.join();
    out.got_token = token.has_value() && token->access_token().expose_secret() == "A1";
    out.renewals = renewals->load();
    out.issued = srv.server.issued;
    out.lease_free_after = mem->try_acquire("after", 1s).value_or(false);
    return out;
}

TEST_CASE("store protocol: a lease held past lease_wait fails the refresh with "
          "errc::lease_wait_timeout (class retry), nothing sent; once it is released, get() "
          "refreshes") {
    shared_server srv;
    srv.server.live = "R0";
    auto mem = std::make_shared<bb::memory_token_store>();
    REQUIRE(mem->try_acquire("another-replica", 60s).value());
    bb::token_source_options o;
    o.store = std::make_shared<bb::any_token_store>(mem);
    o.lease_poll = 2ms;
    o.lease_wait = 40ms;
    o.min_refresh_interval = 0ms;
    o.retry_backoff = 5ms;
    o.max_retry_backoff = 5ms;
    bb::token_source<server_ref> source(
        server_ref{&srv}, ts::credentials(), ts::server(),
        bb::token_seed::from_grant(
            ts::stored_grant("old", "R0", bb::time_point(std::chrono::seconds(1000)), 60s))
            .value(),
        o);
    const auto started = std::chrono::steady_clock::now();
    const auto failed = source.get();
    const auto waited = std::chrono::steady_clock::now() - started;
    REQUIRE_FALSE(failed);
    CHECK(failed.error().code() == bb::errc::lease_wait_timeout);
    CHECK(failed.error().kind() == bb::error_class::retry);
    CHECK(failed.error().to_error_code().message().find("lease_wait") != std::string::npos);
    CHECK(waited >= 40ms);
    CHECK(waited < 10s);
    CHECK(srv.server.issued == 0);
    CHECK(srv.server.seen.empty());
    REQUIRE(mem->release("another-replica").value());
    // The failure backs off like any retry-class failure (retry_backoff, 5 ms here).
    std::this_thread::sleep_for(20ms);
    const auto t = source.get();
    REQUIRE(t);
    CHECK(t->access_token().expose_secret() == "A1");
    CHECK(srv.server.issued == 1);
}

TEST_CASE("store protocol: token_source renews its lease while a slow refresh runs; without "
          "renewal another takes the lease mid-request") {
    SUBCASE("renewal on (the default): the lease is never free during the request") {
        const auto out = slow_refresh(true);
        CHECK_FALSE(out.intruder_got_lease);
        CHECK(out.renewals >= 3); // every 100 ms of a 1 s request: about 10
        CHECK(out.got_token);
        CHECK(out.issued == 1);
        CHECK(out.lease_free_after); // released after the commit; the renewer is stopped
    }
    SUBCASE("renew_lease = false: the lease expires mid-request and the intruder takes it") {
        const auto out = slow_refresh(false);
        CHECK(out.intruder_got_lease);
        CHECK(out.renewals == 0);
        CHECK(out.got_token); // the compare-and-set on gen, not the lease, guards the commit
        CHECK(out.issued == 1);
    }
    SUBCASE("a renewal that finds the lease lost stops renewing") {
        const auto out = slow_refresh(true, true);
        CHECK(out.renewals == 1);
        CHECK(out.intruder_got_lease); // nothing renewed it after the first try
        CHECK(out.got_token);
    }
}

} // namespace test_store_protocol
