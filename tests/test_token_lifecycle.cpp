// The token lifecycle machine: every transition, driven by hand with an
// injected clock and canned transport results; its answers match refresh()
// exactly. (The scripted event tables are in test_token_lifecycle_script.cpp.)
#include "token_support.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <chrono>
#include <string>
#include <vector>

// A namespace per file: the unit tests are compiled as unity chunks.
namespace test_token_lifecycle {

using namespace std::chrono_literals;
using babelbird::refresh_action;
using babelbird::token_state;
namespace ts = test_support;

namespace {

using outcome_t = babelbird::result<std::shared_ptr<const babelbird::token_grant>>;

babelbird::token_lifecycle machine_from(std::string_view refresh_token,
                                        babelbird::token_lifecycle_options options = {}) {
    return babelbird::token_lifecycle(
        ts::credentials(), ts::server(),
        babelbird::token_seed::from_refresh_token(babelbird::secret_view(refresh_token)).value(),
        options);
}

babelbird::token_lifecycle machine_from(babelbird::token_grant grant,
                                        babelbird::token_lifecycle_options options = {}) {
    return babelbird::token_lifecycle(ts::credentials(), ts::server(),
                                      babelbird::token_seed::from_grant(std::move(grant)).value(),
                                      options);
}

babelbird::token_seed refresh_seed(std::string_view token) {
    return babelbird::token_seed::from_refresh_token(babelbird::secret_view(token)).value();
}

const babelbird::time_point t0 = babelbird::time_point(std::chrono::seconds(1'700'000'000));

/// A get by waiter `w` at `at` that must start a flight: its actions.
babelbird::lifecycle_actions start(babelbird::token_lifecycle& m, babelbird::time_point at,
                                   babelbird::waiter_id w = 1) {
    auto a = m.on_get(w, at);
    REQUIRE(a.send);
    REQUIRE(a.send_flight);
    CHECK(a.complete.empty());
    CHECK_FALSE(a.persist);
    CHECK(m.in_flight());
    return a;
}

/// The answer to the flight of `started`, its persist reported durable: what
/// the flight's waiters got (`complete` must not be empty).
outcome_t answer(babelbird::token_lifecycle& m, const babelbird::lifecycle_actions& started,
                 const babelbird::transport_result& response, babelbird::time_point issued_at,
                 std::optional<babelbird::time_point> completed_at = std::nullopt) {
    auto a =
        m.on_response(*started.send_flight, response, issued_at, completed_at.value_or(issued_at));
    if (a.persist) { // persist before publish: nothing else yet
        CHECK_FALSE(a.publish);
        CHECK(a.complete.empty());
        CHECK_FALSE(a.send);
        a = m.on_persisted(true);
    }
    CHECK(a.publish);
    CHECK_FALSE(m.in_flight());
    REQUIRE_FALSE(a.complete.empty());
    REQUIRE(a.outcome);
    return *a.outcome;
}

/// What `on_get(w, at)` completes `w` with at once (it must neither send nor wait).
outcome_t served(babelbird::token_lifecycle& m, babelbird::time_point at,
                 babelbird::waiter_id w = 99) {
    const auto a = m.on_get(w, at);
    CHECK_FALSE(a.send);
    REQUIRE(a.complete == std::vector<babelbird::waiter_id>{w});
    REQUIRE(a.outcome);
    return *a.outcome;
}

std::string access_of(const outcome_t& r) {
    REQUIRE(r);
    return std::string((*r)->access_token.expose_secret());
}

} // namespace

TEST_CASE("token_lifecycle: a refresh-token seed refreshes first, with refresh()'s request") {
    auto m = machine_from(ts::refresh_token);
    CHECK(m.current()->access_token.empty());
    CHECK(m.state_at(t0) == token_state::expired);
    CHECK(m.next(t0) == refresh_action::refresh);
    CHECK_FALSE(m.flight());

    const auto a = start(m, t0);
    CHECK(*a.send_flight == 1);
    CHECK(m.flight() == 1u);
    CHECK(m.waiters() == std::vector<babelbird::waiter_id>{1});
    CHECK(m.next(t0) == refresh_action::wait);
    const auto& request = *a.send;

    // Byte for byte what refresh() sends.
    ts::recording_transport recorder;
    recorder.answer = ts::token_answer("A1", "R1");
    ts::fixed_clock clock;
    const auto reference = babelbird::refresh(recorder, ts::credentials(), ts::server(),
                                              babelbird::secret_view(ts::refresh_token), {}, clock);
    REQUIRE(reference);
    REQUIRE(recorder.requests.size() == 1);
    CHECK(request.method == recorder.requests[0].method);
    CHECK(request.url == recorder.requests[0].url);
    CHECK(request.headers.size() == recorder.requests[0].headers.size());
    CHECK(request.header("Authorization") == recorder.requests[0].header("Authorization"));
    CHECK(request.body.empty());

    const auto grant = answer(m, a, ts::token_answer("A1", "R1"), t0);
    REQUIRE(grant);
    CHECK(*grant == m.current());
    CHECK((*grant)->access_token.expose_secret() == "A1");
    CHECK((*grant)->refresh_token.expose_secret() == "R1");
    CHECK((*grant)->issued_at == t0);
    CHECK((*grant)->expires_at == t0 + 3600s);
    CHECK((*grant)->refresh_expires_at == t0 + std::chrono::hours(24 * 30));
    CHECK(m.next(t0) == refresh_action::use_current);
    CHECK(m.window() == babelbird::expiry_window_for(t0, t0 + 3600s));
    CHECK(m.waiters().empty());
}

TEST_CASE("token_lifecycle: on_response() gives exactly what refresh(previous grant) gives") {
    const char* bodies[] = {
        R"({"access_token":"A2","refresh_token":"R2","expires_in":"120","token_type":"bearer","scope":"files"})",
        R"({"access_token":"A2"})", // kept refresh token keeps its expiry, assumed lifetime
        // (expires_in at the parser's sanity bound, 1 year; above it is rejected)
        R"({"access_token":"A2","refresh_expires_in":50,"expires_in":31536000})",
    };
    for (const char* body : bodies) {
        CAPTURE(body);
        babelbird::token_lifecycle_options options;
        options.client.assumed_lifetime = 900s;
        auto previous = ts::stored_grant("A1", "R1", t0 - 1h, 1h);
        previous.refresh_expires_at = t0 + 100h;

        ts::recording_transport recorder;
        recorder.answer = babelbird::http_response(200, body);
        ts::fixed_clock clock;
        clock.at = t0;
        const auto reference = babelbird::refresh(recorder, ts::credentials(), ts::server(),
                                                  previous, options.client, clock);
        REQUIRE(reference);

        auto m = machine_from(previous, options);
        CHECK(m.next(t0) == refresh_action::refresh);
        const auto a = start(m, t0);
        const auto grant = answer(m, a, babelbird::http_response(200, body), t0);
        REQUIRE(grant);
        const babelbird::token_grant& g = **grant;
        CHECK(g.access_token == reference->access_token);
        CHECK(g.refresh_token == reference->refresh_token);
        CHECK(g.refresh_token_rotated == reference->refresh_token_rotated);
        CHECK(g.expires_in == reference->expires_in);
        CHECK(g.issued_at == reference->issued_at);
        CHECK(g.expires_at == reference->expires_at);
        CHECK(g.refresh_expires_at == reference->refresh_expires_at);
        CHECK(g.token_type == reference->token_type);
        CHECK(g.scope == reference->scope);
    }
}

TEST_CASE("token_lifecycle: fresh -> refresh_ahead -> in flight -> fresh again") {
    auto m = machine_from(ts::stored_grant("A1", "R1", t0, 3600s));
    CHECK(m.next(t0) == refresh_action::use_current);
    CHECK(m.next(t0 + 3240s - 1ns) == refresh_action::use_current);
    CHECK(m.next(t0 + 3240s) == refresh_action::refresh_ahead);
    CHECK(m.next(t0 + 3540s) == refresh_action::refresh);
    CHECK(m.next_attempt() == babelbird::time_point::min());
    CHECK(access_of(served(m, t0)) == "A1");

    const auto at = t0 + 3300s;
    const auto a = start(m, at); // waiter 1 joins the refresh ahead
    // While in flight the old token is served, and callers without one wait.
    CHECK(m.next(at) == refresh_action::use_current);
    CHECK(access_of(served(m, at, 2)) == "A1");
    CHECK(m.next(t0 + 3600s) == refresh_action::wait);
    CHECK(m.on_get(3, t0 + 3600s).empty());
    CHECK(m.waiters() == std::vector<babelbird::waiter_id>{1, 3});
    CHECK(m.next_attempt() == babelbird::time_point::max());
    // A second refresh cannot start.
    CHECK_FALSE(m.on_get(4, t0 + 3600s).send);

    const auto done = m.on_response(*a.send_flight, ts::token_answer("A2", "R2", 600), at, at);
    REQUIRE(done.persist);
    const auto got = m.on_persisted(true);
    CHECK(got.complete == std::vector<babelbird::waiter_id>{1, 3, 4});
    CHECK(access_of(*got.outcome) == "A2");
    CHECK(m.current()->access_token.expose_secret() == "A2");
    CHECK(m.next(at) == refresh_action::use_current);
    CHECK(m.window().usable_until == at + 540s);
    CHECK(m.window().refresh_from == at + 270s);
}

TEST_CASE("token_lifecycle: has_waiter() says whether on_cancel() takes a waiter out") {
    auto m = machine_from("R0");
    CHECK_FALSE(m.has_waiter(1)); // never seen
    const auto started = start(m, t0, 1);
    CHECK(m.on_get(2, t0).empty());
    CHECK(m.on_get(3, t0).empty());
    CHECK(m.has_waiter(1));
    CHECK(m.has_waiter(2));
    CHECK(m.has_waiter(3));
    CHECK_FALSE(m.has_waiter(4));
    CHECK(m.on_cancel(2).empty());
    CHECK_FALSE(m.has_waiter(2));
    CHECK(m.on_cancel(2).empty()); // again: ignored
    CHECK(m.on_cancel(4).empty()); // unknown: ignored
    CHECK(m.waiters() == std::vector<babelbird::waiter_id>{1, 3});
    auto a = m.on_response(*started.send_flight, ts::token_answer("A1", "R1"), t0, t0);
    REQUIRE(a.persist);
    CHECK(m.has_waiter(1)); // still waiting while the answer persists
    a = m.on_persisted(true);
    CHECK(a.complete == std::vector<babelbird::waiter_id>{1, 3});
    CHECK_FALSE(m.has_waiter(1)); // completed
    CHECK_FALSE(m.has_waiter(3));
    CHECK(m.on_cancel(1).empty());
}

TEST_CASE("token_lifecycle: an answer or abandon for another flight id is ignored") {
    auto m = machine_from(ts::refresh_token);
    CHECK(m.on_response(1, ts::token_answer("A", "R"), t0, t0).empty());
    CHECK(m.on_abandon(1).empty());
    CHECK(m.on_persisted(true).empty());
    CHECK(m.current()->access_token.empty());

    const auto a = start(m, t0);
    CHECK(m.on_response(*a.send_flight + 1, ts::token_answer("A", "R"), t0, t0).empty());
    const auto abandoned = m.on_abandon(*a.send_flight);
    CHECK_FALSE(m.in_flight());
    CHECK(abandoned.publish);
    CHECK(abandoned.complete == std::vector<babelbird::waiter_id>{1});
    REQUIRE(abandoned.outcome);
    CHECK(abandoned.outcome->error().code() == babelbird::errc::transport_failure);
    CHECK_FALSE(m.failure()); // not a failure of the server: no backoff
    CHECK(m.on_response(*a.send_flight, ts::token_answer("A", "R"), t0, t0).empty());
    CHECK(m.on_abandon(*a.send_flight).empty());
    CHECK(m.next(t0) == refresh_action::refresh);
    CHECK(*start(m, t0).send_flight == 2);
}

TEST_CASE("token_lifecycle: retry-class failures back off, then refresh again") {
    babelbird::token_lifecycle_options options;
    options.retry_backoff = 5s;
    SUBCASE("without a valid token: fail with the same error until the backoff ends") {
        auto m = machine_from(ts::refresh_token, options);
        const auto failed =
            answer(m, start(m, t0), babelbird::error::transport(babelbird::errc::timeout), t0);
        REQUIRE_FALSE(failed);
        CHECK(failed.error().code() == babelbird::errc::timeout);
        CHECK(failed.error().is_retryable());
        CHECK_FALSE(m.blocked());
        REQUIRE(m.failure());
        CHECK(*m.failure() == failed.error());
        CHECK(m.retry_not_before() == t0 + 5s);
        CHECK(m.next(t0 + 1s) == refresh_action::fail);
        CHECK(served(m, t0 + 1s).error() == failed.error()); // no send during the backoff
        CHECK(m.next(t0 + 5s - 1ns) == refresh_action::fail);
        CHECK(m.next(t0 + 5s) == refresh_action::refresh);
        REQUIRE(answer(m, start(m, t0 + 5s), ts::token_answer("A", "R2"), t0 + 6s));
        CHECK_FALSE(m.failure());
    }
    SUBCASE("with a valid token: keep using it, refresh ahead after the backoff") {
        auto m = machine_from(ts::stored_grant("A1", "R1", t0, 3600s), options);
        const auto at = t0 + 3300s;
        CHECK(m.next(at) == refresh_action::refresh_ahead);
        // The caller that started the refresh ahead gets the old token.
        const auto got =
            answer(m, start(m, at), babelbird::http_response(503, "<html>busy</html>"), at);
        CHECK(access_of(got) == "A1");
        CHECK(m.failure()->kind() == babelbird::error_class::retry);
        CHECK(m.failure()->http_status() == 503);
        CHECK(m.next(at + 1s) == refresh_action::use_current);
        CHECK(m.next_attempt() == at + 5s);
        CHECK(m.next(at + 5s) == refresh_action::refresh_ahead);
        CHECK(m.current()->access_token.expose_secret() == "A1");
    }
    SUBCASE("the backoff counts from the end of a slow failed attempt") {
        auto m = machine_from(ts::refresh_token, options);
        REQUIRE_FALSE(answer(m, start(m, t0), babelbird::error::transport(babelbird::errc::timeout),
                             t0, t0 + 30s));
        CHECK(m.retry_not_before() == t0 + 35s);
        CHECK(m.next(t0 + 34s) == refresh_action::fail);
        CHECK(m.next(t0 + 35s) == refresh_action::refresh);
    }
    SUBCASE("a protocol failure backs off the same way") {
        auto m = machine_from(ts::refresh_token, options);
        REQUIRE_FALSE(
            answer(m, start(m, t0), babelbird::http_response(200, R"({"access_token":)"), t0));
        CHECK(m.failure()->kind() == babelbird::error_class::protocol);
        CHECK_FALSE(m.blocked());
        CHECK(m.next(t0 + 1s) == refresh_action::fail);
        CHECK(m.next(t0 + 5s) == refresh_action::refresh);
    }
    SUBCASE("zero backoff retries at once; huge backoff saturates") {
        options.retry_backoff = 0ms;
        auto m = machine_from(ts::refresh_token, options);
        REQUIRE_FALSE(
            answer(m, start(m, t0), babelbird::error::transport(babelbird::errc::timeout), t0));
        CHECK(m.next(t0) == refresh_action::refresh);
        options.retry_backoff = std::chrono::milliseconds::max();
        auto h = machine_from(ts::refresh_token, options);
        REQUIRE_FALSE(
            answer(h, start(h, t0), babelbird::error::transport(babelbird::errc::timeout), t0));
        CHECK(h.retry_not_before() == babelbird::time_point::max());
        CHECK(h.next(babelbird::time_point::max() - 1ns) == refresh_action::fail);
    }
}

TEST_CASE("token_lifecycle: reauthorize failures block until on_reset()") {
    auto m = machine_from(ts::stored_grant("A1", "R1", t0, 3600s));
    const auto at = t0 + 3300s;
    const auto got = answer(
        m, start(m, at),
        babelbird::http_response(400, R"({"error":"invalid_grant","error_description":"R1"})"), at);
    CHECK(access_of(got) == "A1"); // still valid: served
    REQUIRE(m.failure());
    const babelbird::error failed = *m.failure();
    CHECK(failed.needs_reauthorization());
    CHECK(failed.oauth_code() == babelbird::oauth_error::invalid_grant);
    CHECK(m.blocked());
    // The valid token is still used; no refresh is ever asked for again.
    CHECK(m.next(at) == refresh_action::use_current);
    CHECK(m.next_attempt() == babelbird::time_point::max());
    CHECK(m.next(t0 + 3540s) == refresh_action::fail);
    CHECK(m.next(t0 + 1000h) == refresh_action::fail);
    // A get refuses with the remembered error: nothing to send.
    CHECK(served(m, t0 + 1000h).error() == failed);
    CHECK_FALSE(m.in_flight());

    const auto reset = m.on_reset(refresh_seed("R-new"), t0 + 1000h);
    CHECK(reset.publish);
    CHECK(reset.complete.empty());
    CHECK_FALSE(reset.send);
    CHECK_FALSE(m.blocked());
    CHECK_FALSE(m.failure());
    CHECK(m.next(t0 + 1000h) == refresh_action::refresh);
    const auto again = start(m, t0 + 1000h);
    CHECK(ts::sent_refresh_token(*again.send) == "R-new");
    CHECK(ts::remember(failed).find("R1") == std::string::npos);
}

TEST_CASE("token_lifecycle: a 401 on the token endpoint blocks; a 5xx does not") {
    auto m = machine_from(ts::refresh_token);
    REQUIRE_FALSE(answer(m, start(m, t0), babelbird::http_response(401, ""), t0));
    CHECK(m.blocked());
    CHECK(m.failure()->kind() == babelbird::error_class::reauthorize);

    auto n = machine_from(ts::refresh_token);
    REQUIRE_FALSE(answer(n, start(n, t0), babelbird::http_response(502, ""), t0));
    CHECK_FALSE(n.blocked());
}

TEST_CASE("token_lifecycle: a seed whose refresh token cannot be sent blocks with a usage error") {
    auto m = machine_from(ts::stored_grant("A1", "", t0, 3600s));
    CHECK(m.next(t0) == refresh_action::use_current);
    // Due for a refresh ahead, which cannot be built: the old token, and blocked.
    const auto a = m.on_get(1, t0 + 3300s);
    CHECK_FALSE(a.send);
    CHECK(a.publish);
    REQUIRE(a.complete == std::vector<babelbird::waiter_id>{1});
    CHECK(access_of(*a.outcome) == "A1");
    REQUIRE(m.failure());
    CHECK(m.failure()->code() == babelbird::errc::empty_value);
    CHECK(m.failure()->kind() == babelbird::error_class::usage);
    CHECK(m.blocked());
    CHECK(m.next(t0 + 3600s) == refresh_action::fail);
    CHECK(served(m, t0 + 3600s).error().code() == babelbird::errc::empty_value);
}

TEST_CASE("token_lifecycle: on_invalidate() marks only the current token") {
    auto m = machine_from(ts::stored_grant("A1", "R1", t0, 3600s));
    CHECK(m.on_invalidate(babelbird::secret_view("A0")).empty());
    CHECK(m.on_invalidate(babelbird::secret_view("")).empty());
    CHECK(m.next(t0) == refresh_action::use_current);
    CHECK(m.on_invalidate(babelbird::secret_view("A1")).publish);
    CHECK(m.on_invalidate(babelbird::secret_view("A1")).empty()); // already marked
    CHECK(m.rejected());
    CHECK(m.state_at(t0) == token_state::expired);
    CHECK(m.next(t0) == refresh_action::refresh);
    const auto a = start(m, t0);
    CHECK(m.next(t0) == refresh_action::wait);
    REQUIRE(answer(m, a, ts::token_answer("A2", "R2"), t0));
    CHECK_FALSE(m.rejected());
    // A late report about the replaced token changes nothing.
    CHECK(m.on_invalidate(babelbird::secret_view("A1")).empty());
    CHECK(m.next(t0) == refresh_action::use_current);

    auto seedless = machine_from(ts::refresh_token);
    CHECK(seedless.on_invalidate(babelbird::secret_view("")).empty());
}

TEST_CASE("token_lifecycle: the next refresh sends the rotated refresh token") {
    auto m = machine_from("R0");
    REQUIRE(answer(m, start(m, t0), ts::token_answer("A1", "R1", 60), t0));
    REQUIRE(m.on_invalidate(babelbird::secret_view("A1")).publish);
    const auto second = start(m, t0);
    CHECK(ts::sent_refresh_token(*second.send) == "R1");
    // Not rotated this time: R1 stays, with its expiry.
    REQUIRE(answer(m, second, ts::token_answer("A2", ""), t0 + 1s));
    CHECK(m.current()->refresh_token.expose_secret() == "R1");
    CHECK_FALSE(m.current()->refresh_token_rotated);
    CHECK(m.current()->refresh_expires_at == t0 + std::chrono::hours(24 * 30));
}

TEST_CASE("token_lifecycle: an OAuth error text that echoes a sent secret is dropped") {
    auto m = machine_from("echo_me_token");
    const auto failed =
        answer(m, start(m, t0), babelbird::http_response(400, R"({"error":"echo_me_token"})"), t0);
    REQUIRE_FALSE(failed);
    CHECK(failed.error().oauth_error_text().empty());
    CHECK(ts::remember(failed.error()).find("echo_me") == std::string::npos);
}

TEST_CASE("token_seed: validation") {
    CHECK(babelbird::token_seed::from_refresh_token(babelbird::secret_view("")).error().code() ==
          babelbird::errc::empty_value);
    // RFC 6749 A.17: a refresh token is 1*VSCHAR, inner and outer spaces included.
    CHECK(babelbird::token_seed::from_refresh_token(babelbird::secret_view(" a b ")));
    CHECK(babelbird::token_seed::from_refresh_token(babelbird::secret_view("a\xC3\xA9"))
              .error()
              .code() == babelbird::errc::token_not_header_safe);
    CHECK(
        babelbird::token_seed::from_refresh_token(babelbird::secret_view("a\nb")).error().code() ==
        babelbird::errc::control_character);
    const auto with_expiry =
        babelbird::token_seed::from_refresh_token(babelbird::secret_view("R"), t0 + 1h);
    REQUIRE(with_expiry);
    CHECK(with_expiry->grant().refresh_expires_at == t0 + 1h);
    CHECK(with_expiry->grant().access_token.empty());

    CHECK(babelbird::token_seed::from_grant({}).error().code() == babelbird::errc::empty_value);
    // An access token goes into a header: inner spaces only (RFC 6749 A.12).
    CHECK(babelbird::token_seed::from_grant(ts::stored_grant("A B", "R S", t0, 1h)));
    CHECK(babelbird::token_seed::from_grant(ts::stored_grant("A ", "R", t0, 1h)).error().code() ==
          babelbird::errc::token_not_header_safe);
    CHECK(babelbird::token_seed::from_grant(ts::stored_grant("A", "R\r", t0, 1h)).error().code() ==
          babelbird::errc::control_character);
    CHECK(babelbird::token_seed::from_grant(ts::stored_grant("", "R", t0, 1h)));
    CHECK(babelbird::token_seed::from_grant(ts::stored_grant("A", "", t0, 1h)));
}

// --- Backoff: exponential with full jitter, Retry-After, reset on success ---

namespace {

babelbird::token_lifecycle_options backoff_options(std::uint64_t seed) {
    babelbird::token_lifecycle_options options;
    options.retry_backoff = 2s;
    options.max_retry_backoff = 60s;
    options.min_refresh_interval = 0ms;
    options.jitter_seed = seed;
    return options;
}

/// Fails one refresh of `m` started at `at` (which must send) with `e`; returns
/// the delay it imposed.
babelbird::time_point::duration fail_once(babelbird::token_lifecycle& m, babelbird::time_point at,
                                          const babelbird::error& e) {
    (void)answer(m, start(m, at), e, at);
    return m.retry_not_before() - at;
}

const babelbird::error timeout = babelbird::error::transport(babelbird::errc::timeout);

} // namespace

TEST_CASE("token_lifecycle: backoff grows exponentially with full jitter, capped") {
    // The n-th consecutive failure waits uniformly in [2 s, min(60 s, 2 s * 2^(n-1))].
    constexpr int failures = 12;
    std::chrono::nanoseconds lowest[failures + 1];
    std::chrono::nanoseconds highest[failures + 1];
    for (auto& d : lowest) {
        d = std::chrono::nanoseconds::max();
    }
    for (auto& d : highest) {
        d = std::chrono::nanoseconds::zero();
    }
    for (std::uint64_t seed = 1; seed <= 200; ++seed) {
        auto m = machine_from(ts::refresh_token, backoff_options(seed));
        auto at = t0;
        for (int n = 1; n <= failures; ++n) {
            const auto delay = fail_once(m, at, timeout);
            CHECK(m.consecutive_failures() == static_cast<std::uint32_t>(n));
            const auto ceiling = std::min<std::chrono::nanoseconds>(60s, 2s * (1LL << (n - 1)));
            CHECK(delay >= 2s);
            CHECK(delay <= ceiling);
            // next() agrees with retry_not_before().
            CHECK(m.next(at + delay - 1ns) == refresh_action::fail);
            CHECK(m.next(at + delay) == refresh_action::refresh);
            lowest[n] = std::min<std::chrono::nanoseconds>(lowest[n], delay);
            highest[n] = std::max<std::chrono::nanoseconds>(highest[n], delay);
            at += delay + 1s;
        }
    }
    // The first failure waits exactly retry_backoff; later ones spread over
    // their whole range (200 seeds: near the floor and near the ceiling).
    CHECK(lowest[1] == 2s);
    CHECK(highest[1] == 2s);
    for (int n = 2; n <= failures; ++n) {
        CAPTURE(n);
        const auto ceiling = std::min<std::chrono::nanoseconds>(60s, 2s * (1LL << (n - 1)));
        CHECK(lowest[n] < 2s + (ceiling - 2s) / 10);
        CHECK(highest[n] > ceiling - (ceiling - 2s) / 10);
    }
    // Capped: from the 6th failure on (2 s * 32 = 64 s) the ceiling is 60 s.
    CHECK(highest[failures] <= 60s);
    CHECK(highest[failures] > 54s);
}

TEST_CASE("token_lifecycle: the jitter is deterministic for a seed and differs between seeds") {
    std::vector<babelbird::time_point::duration> a, b, c;
    for (auto [seed, out] : {std::pair{7u, &a}, std::pair{7u, &b}, std::pair{8u, &c}}) {
        auto m = machine_from(ts::refresh_token, backoff_options(seed));
        auto at = t0;
        for (int n = 0; n < 8; ++n) {
            out->push_back(fail_once(m, at, timeout));
            at = m.retry_not_before();
        }
    }
    CHECK(a == b);
    CHECK(a != c);
}

TEST_CASE("token_lifecycle: Retry-After is honoured, beyond the cap too") {
    auto options = backoff_options(3);
    SUBCASE("longer than the backoff: the next attempt not before it") {
        auto m = machine_from(ts::refresh_token, options);
        const auto delay = fail_once(m, t0, babelbird::error(timeout).with_retry_after(45s));
        CHECK(delay == 45s);
        CHECK(m.next(t0 + 45s - 1ns) == refresh_action::fail);
        CHECK(m.next(t0 + 45s) == refresh_action::refresh);
        CHECK(m.failure()->retry_after() == std::chrono::seconds(45));
    }
    SUBCASE("beyond max_retry_backoff: still honoured") {
        auto m = machine_from(ts::refresh_token, options);
        CHECK(fail_once(m, t0, babelbird::error(timeout).with_retry_after(600s)) == 600s);
    }
    SUBCASE("shorter than the backoff: the backoff wins") {
        auto m = machine_from(ts::refresh_token, options);
        auto at = t0;
        for (int n = 0; n < 5; ++n) {
            at = std::max(at, m.retry_not_before());
            (void)fail_once(m, at, timeout);
        }
        at = m.retry_not_before();
        const auto delay = fail_once(m, at, babelbird::error(timeout).with_retry_after(1s));
        CHECK(delay >= 2s);
        CHECK(delay <= 60s);
        CHECK(m.consecutive_failures() == 6);
    }
    SUBCASE("Retry-After: 0 changes nothing") {
        auto m = machine_from(ts::refresh_token, options);
        CHECK(fail_once(m, t0, babelbird::error(timeout).with_retry_after(0s)) == 2s);
    }
    SUBCASE("with a valid token: refresh ahead not before Retry-After") {
        auto m = machine_from(ts::stored_grant("A1", "R1", t0, 3600s), options);
        const auto at = t0 + 3240s;
        CHECK(m.next(at) == refresh_action::refresh_ahead);
        (void)fail_once(m, at, babelbird::error(timeout).with_retry_after(120s));
        CHECK(m.next(at + 119s) == refresh_action::use_current);
        CHECK(access_of(served(m, at + 119s)) == "A1");
        CHECK(m.next_attempt() == at + 120s);
        CHECK(m.next(at + 120s) == refresh_action::refresh_ahead);
    }
}

TEST_CASE("token_lifecycle: Retry-After is capped at max_retry_after") {
    auto options = backoff_options(3);
    SUBCASE("the default cap: one hour") {
        CHECK(babelbird::token_lifecycle_options{}.max_retry_after == std::chrono::hours(1));
        auto m = machine_from(ts::refresh_token, options);
        const auto delay =
            fail_once(m, t0, babelbird::error(timeout).with_retry_after(999'999'999s));
        CHECK(delay == 1h);
        CHECK(m.next(t0 + 1h - 1ns) == refresh_action::fail);
        CHECK(m.next(t0 + 1h) == refresh_action::refresh);
        // The error still says what the server asked.
        CHECK(m.failure()->retry_after() == std::chrono::seconds(999'999'999));
    }
    SUBCASE("exactly the cap: honoured") {
        auto m = machine_from(ts::refresh_token, options);
        CHECK(fail_once(m, t0, babelbird::error(timeout).with_retry_after(3600s)) == 1h);
    }
    SUBCASE("a cap of its own") {
        options.max_retry_after = 10min;
        auto m = machine_from(ts::refresh_token, options);
        CHECK(fail_once(m, t0, babelbird::error(timeout).with_retry_after(601s)) == 10min);
    }
    SUBCASE("a cap below the backoff: the backoff wins") {
        options.max_retry_after = 1s;
        auto m = machine_from(ts::refresh_token, options);
        CHECK(fail_once(m, t0, babelbird::error(timeout).with_retry_after(600s)) == 2s);
    }
    SUBCASE("a negative cap counts as zero") {
        options.max_retry_after = -5s;
        auto m = machine_from(ts::refresh_token, options);
        CHECK(fail_once(m, t0, babelbird::error(timeout).with_retry_after(600s)) == 2s);
    }
}

TEST_CASE("token_lifecycle: a success resets the backoff") {
    auto m = machine_from(ts::refresh_token, backoff_options(11));
    auto at = t0;
    for (int n = 0; n < 6; ++n) {
        at += fail_once(m, at, timeout);
    }
    CHECK(m.consecutive_failures() == 6);
    REQUIRE(answer(m, start(m, at), ts::token_answer("A1", "R1"), at));
    CHECK(m.consecutive_failures() == 0);
    CHECK_FALSE(m.failure());
    CHECK(m.retry_not_before() == babelbird::time_point::min());
    // The next failure is the first again: exactly retry_backoff.
    CHECK(fail_once(m, at + 1h, timeout) == 2s);
    CHECK(m.consecutive_failures() == 1);
    // on_reset() also starts over.
    (void)fail_once(m, at + 2h, timeout);
    (void)m.on_reset(refresh_seed("R9"), at + 2h);
    CHECK(m.consecutive_failures() == 0);
    CHECK(fail_once(m, at + 3h, timeout) == 2s);
}

TEST_CASE("token_lifecycle: configuration, reauthorize and usage failures block; no backoff") {
    const babelbird::error blocking[] = {
        babelbird::error(babelbird::errc::oauth_error_response,
                         babelbird::error_class::configuration, babelbird::error_origin::server),
        babelbird::error::server(babelbird::errc::oauth_error_response,
                                 babelbird::error_class::reauthorize, 400,
                                 babelbird::oauth_error::invalid_grant),
        babelbird::error::usage(babelbird::errc::invalid_argument),
    };
    for (const auto& e : blocking) {
        CAPTURE(babelbird::to_string(e.kind()));
        auto m = machine_from(ts::refresh_token, backoff_options(5));
        REQUIRE_FALSE(answer(m, start(m, t0), babelbird::error(e).with_retry_after(5s), t0));
        CHECK(m.blocked());
        CHECK(m.consecutive_failures() == 0);
        CHECK(m.next(t0 + 1000h) == refresh_action::fail);
        CHECK(m.next_attempt() == babelbird::time_point::max());
        CHECK(served(m, t0 + 1000h).error().kind() == e.kind());
        (void)m.on_reset(refresh_seed("R9"), t0);
        CHECK(m.next(t0) == refresh_action::refresh);
    }
}

TEST_CASE("token_lifecycle: backoff options at the edges") {
    SUBCASE("max below retry_backoff counts as retry_backoff") {
        auto options = backoff_options(1);
        options.retry_backoff = 10s;
        options.max_retry_backoff = 1s;
        auto m = machine_from(ts::refresh_token, options);
        auto at = t0;
        for (int n = 0; n < 5; ++n) {
            CHECK(fail_once(m, at, timeout) == 10s);
            at = m.retry_not_before();
        }
    }
    SUBCASE("zero backoff never waits, however many failures") {
        auto options = backoff_options(1);
        options.retry_backoff = 0ms;
        auto m = machine_from(ts::refresh_token, options);
        for (int n = 0; n < 100; ++n) {
            CHECK(fail_once(m, t0, timeout) == 0s);
        }
    }
    SUBCASE("a huge cap saturates instead of overflowing") {
        auto options = backoff_options(1);
        options.max_retry_backoff = std::chrono::milliseconds::max();
        auto m = machine_from(ts::refresh_token, options);
        auto at = t0;
        for (int n = 0; n < 80; ++n) {
            (void)fail_once(m, at, timeout);
            CHECK(m.retry_not_before() >= t0 + 2s);
            CHECK(m.retry_not_before() >= at);
            at = m.retry_not_before();
        }
    }
}

// --- Tiny lifetimes: no refresh storm, never an expired token ---

TEST_CASE("token_lifecycle: expires_in 0 gives a retry error until min_refresh_interval") {
    auto m = machine_from(ts::refresh_token); // default: 30 s
    CHECK(m.options().min_refresh_interval == 30s);
    const auto a = start(m, t0);
    const auto done = m.on_response(*a.send_flight, ts::token_answer("A1", "R1", 0), t0, t0);
    // The grant is persisted (its refresh token is new) ...
    REQUIRE(done.persist);
    CHECK(done.persist->refresh_token.expose_secret() == "R1");
    const auto got = m.on_persisted(true);
    CHECK(m.current()->refresh_token.expose_secret() == "R1");
    CHECK(m.refresh_not_before() == t0 + 30s);
    // ... but its token is never handed out nor reported usable.
    REQUIRE(got.outcome);
    REQUIRE_FALSE(*got.outcome);
    CHECK(got.outcome->error().code() == babelbird::errc::token_lifetime_too_short);
    CHECK_FALSE(m.usable_at(t0));
    REQUIRE(m.failure());
    CHECK(m.failure()->code() == babelbird::errc::token_lifetime_too_short);
    CHECK(m.failure()->kind() == babelbird::error_class::retry);
    CHECK(m.failure()->http_status() == 200);
    CHECK_FALSE(m.blocked());
    CHECK(m.next(t0) == refresh_action::fail);
    CHECK(m.next(t0 + 30s - 1ns) == refresh_action::fail);
    CHECK(m.next(t0 + 30s) == refresh_action::refresh);
    const auto again = start(m, t0 + 30s);
    CHECK(ts::sent_refresh_token(*again.send) == "R1");
    REQUIRE(answer(m, again, ts::token_answer("A2", "R2", 3600), t0 + 30s));
    CHECK_FALSE(m.failure());
    CHECK(m.next(t0 + 30s) == refresh_action::use_current);
}

TEST_CASE(
    "token_lifecycle: a lifetime below the skew margin: refresh ahead waits for the interval") {
    auto m = machine_from(ts::refresh_token);
    // 40 s: usable for 20 s (skew capped at half), refresh-soon from 10 s.
    CHECK(access_of(answer(m, start(m, t0), ts::token_answer("A1", "R1", 40), t0)) == "A1");
    CHECK(m.usable_at(t0));
    REQUIRE(m.failure()); // it stops being usable before the next refresh may start
    CHECK(m.failure()->code() == babelbird::errc::token_lifetime_too_short);
    CHECK(m.state_at(t0 + 10s) == token_state::refresh_soon);
    CHECK(m.next(t0 + 10s) == refresh_action::use_current); // not yet: 30 s apart
    CHECK(m.next(t0 + 20s - 1ns) == refresh_action::use_current);
    CHECK(m.next(t0 + 20s) == refresh_action::fail);
    CHECK(m.next(t0 + 30s) == refresh_action::refresh);

    // 80 s: usable for 40 s, refresh-soon from 20 s; the interval (30 s) ends
    // while the token is still usable: no gap, no error.
    auto n = machine_from(ts::refresh_token);
    REQUIRE(answer(n, start(n, t0), ts::token_answer("A1", "R1", 80), t0));
    CHECK_FALSE(n.failure());
    CHECK(n.next(t0 + 20s) == refresh_action::use_current);
    CHECK(n.next(t0 + 30s) == refresh_action::refresh_ahead);
}

TEST_CASE("token_lifecycle: on_invalidate() skips min_refresh_interval; backoff still applies") {
    auto m = machine_from(ts::refresh_token);
    REQUIRE(answer(m, start(m, t0), ts::token_answer("A1", "R1"), t0));
    CHECK(m.next_attempt() == t0 + 30s);
    REQUIRE(m.on_invalidate(babelbird::secret_view("A1")).publish);
    CHECK(m.next(t0 + 1s) == refresh_action::refresh);
    (void)fail_once(m, t0 + 1s, timeout);
    CHECK(m.next(t0 + 2s) == refresh_action::fail);
    CHECK(m.next(t0 + 3s) == refresh_action::refresh);
}

TEST_CASE(
    "token_lifecycle: min_refresh_interval 0 lets a token that arrives expired refresh at once") {
    babelbird::token_lifecycle_options options;
    options.min_refresh_interval = 0ms;
    auto m = machine_from(ts::refresh_token, options);
    REQUIRE_FALSE(answer(m, start(m, t0), ts::token_answer("A1", "R1", 0), t0));
    CHECK_FALSE(m.usable_at(t0));
    REQUIRE(m.failure()); // it arrived expired: the reason the waiters got
    CHECK(m.failure()->code() == babelbird::errc::token_lifetime_too_short);
    CHECK(m.next(t0) == refresh_action::refresh);
}

TEST_CASE("token_lifecycle: a waiter whose reading is later than the answer checks at it") {
    // A 60 s token, usable until 30 s after issue: the answer arrives at 29 s,
    // but a waiter joined with a reading of 31 s: nobody gets it.
    auto m = machine_from(ts::refresh_token);
    const auto a = start(m, t0);
    CHECK(m.on_get(2, t0 + 31s).empty());
    const auto done = m.on_response(*a.send_flight, ts::token_answer("A1", "R1", 60), t0, t0 + 29s);
    REQUIRE(done.persist);
    const auto got = m.on_persisted(true);
    CHECK(got.complete == std::vector<babelbird::waiter_id>{1, 2});
    REQUIRE_FALSE(*got.outcome);
    CHECK(got.outcome->error().code() == babelbird::errc::token_lifetime_too_short);
}

// --- Nothing lost: a rotated refresh token in a rejected answer is adopted ---

TEST_CASE("token_lifecycle: a rejected answer's new refresh token is persisted, then adopted") {
    const char* bodies[] = {
        R"({"access_token":"","refresh_token":"R2","expires_in":3600})",
        R"({"refresh_token":"R2","expires_in":3600})",
        R"({"access_token":"A2","refresh_token":"R2","expires_in":-5})",
        R"({"access_token":"A2","refresh_token":"R2","expires_in":"soon"})",
    };
    for (const char* body : bodies) {
        CAPTURE(body);
        auto options = backoff_options(1);
        auto m = machine_from(ts::stored_grant("A1", "R1", t0, 3600s), options);
        const auto at = t0 + 3300s; // refresh-soon: A1 valid until 3540 s
        REQUIRE(m.next(at) == refresh_action::refresh_ahead);
        const auto a = start(m, at);
        const auto done =
            m.on_response(*a.send_flight, babelbird::http_response(200, body), at, at);
        // The rescued grant, for the hook/store: no access token, the new refresh token.
        REQUIRE(done.persist);
        CHECK_FALSE(done.publish);
        CHECK(done.complete.empty());
        const auto& salvaged = *done.persist;
        CHECK(salvaged.access_token.empty());
        CHECK(salvaged.refresh_token.expose_secret() == "R2");
        CHECK(salvaged.refresh_token_rotated);
        CHECK(salvaged.refresh_expires_at == at + std::chrono::hours(24 * 30));
        // Persist before publish: nothing changed yet.
        CHECK(m.current()->refresh_token.expose_secret() == "R1");
        CHECK_FALSE(m.failure());
        CHECK(m.in_flight());
        CHECK(access_of(served(m, at)) == "A1");

        const auto got = m.on_persisted(true);
        CHECK(got.publish);
        CHECK(got.complete == std::vector<babelbird::waiter_id>{1});
        // The caller gets the still-valid token, which carries the new refresh token.
        CHECK(access_of(*got.outcome) == "A1");
        CHECK((**got.outcome)->refresh_token.expose_secret() == "R2");
        REQUIRE(m.failure());
        CHECK(m.failure()->kind() == babelbird::error_class::protocol);
        CHECK(ts::remember(*m.failure()).find("R2") == std::string::npos);
        // current(): the access token it had (still valid), the new refresh token.
        CHECK(m.current()->access_token.expose_secret() == "A1");
        CHECK(m.current()->expires_at == t0 + 3600s);
        CHECK(m.current()->refresh_token.expose_secret() == "R2");
        CHECK(m.current()->refresh_expires_at == at + std::chrono::hours(24 * 30));
        CHECK(m.usable_at(at));
        // A failure like any other: backoff, then the next refresh sends R2.
        CHECK(m.consecutive_failures() == 1);
        CHECK(m.next(at + 1s) == refresh_action::use_current);
        CHECK(m.next(at + 2s) == refresh_action::refresh_ahead);
        const auto again = start(m, at + 2s);
        CHECK(ts::sent_refresh_token(*again.send) == "R2");
        REQUIRE(answer(m, again, ts::token_answer("A3", ""), at + 2s));
        CHECK(m.current()->refresh_token.expose_secret() == "R2"); // kept, not rotated
        CHECK(m.current()->refresh_expires_at == at + std::chrono::hours(24 * 30));
    }
}

TEST_CASE("token_lifecycle: without a valid token, a salvaged refresh token is used next") {
    auto m = machine_from("R0", backoff_options(1));
    const auto failed =
        answer(m, start(m, t0),
               babelbird::http_response(200, R"({"access_token":"","refresh_token":"R1"})"), t0);
    REQUIRE_FALSE(failed);
    CHECK(failed.error().kind() == babelbird::error_class::protocol);
    CHECK(m.current()->access_token.empty());
    CHECK(m.current()->refresh_token.expose_secret() == "R1");
    CHECK(m.next(t0 + 1s) == refresh_action::fail);
    CHECK(m.next(t0 + 2s) == refresh_action::refresh);
    CHECK(ts::sent_refresh_token(*start(m, t0 + 2s).send) == "R1");
    // An invalidate of the (absent) token changes nothing.
    CHECK(m.on_invalidate(babelbird::secret_view("")).empty());
}

TEST_CASE("token_lifecycle: without persist_before_publish a salvage is applied at once") {
    auto options = backoff_options(1);
    options.persist_before_publish = false;
    auto m = machine_from("R0", options);
    const auto a = start(m, t0);
    const auto done = m.on_response(
        *a.send_flight,
        babelbird::http_response(200, R"({"access_token":"","refresh_token":"R1"})"), t0, t0);
    CHECK_FALSE(done.persist);
    CHECK(done.publish);
    CHECK(done.complete == std::vector<babelbird::waiter_id>{1});
    CHECK(m.current()->refresh_token.expose_secret() == "R1");
    CHECK_FALSE(m.persist_failed());
    CHECK_FALSE(m.pending_persist());
}

TEST_CASE("token_lifecycle: nothing is salvaged from what is not a usable answer") {
    const babelbird::transport_result answers[] = {
        babelbird::http_response(200, R"({"access_token":"","refresh_token":"R2")"), // bad JSON
        babelbird::http_response(400, R"({"error":"invalid_grant","refresh_token":"R2"})"),
        babelbird::http_response(200, R"({"access_token":"","refresh_token":""})"),
        babelbird::error::transport(babelbird::errc::timeout),
    };
    for (const auto& response : answers) {
        auto m = machine_from(ts::stored_grant("A1", "R1", t0, 3600s), backoff_options(1));
        const auto a = start(m, t0 + 3300s);
        const auto done = m.on_response(*a.send_flight, response, t0 + 3300s, t0 + 3300s);
        CHECK_FALSE(done.persist); // nothing to store
        CHECK(done.publish);
        CHECK(done.complete == std::vector<babelbird::waiter_id>{1});
        CHECK(m.failure());
        CHECK(m.current()->refresh_token.expose_secret() == "R1");
        CHECK_FALSE(m.current()->refresh_token_rotated);
    }
}

TEST_CASE("token_lifecycle: a salvage keeps a rejected token rejected; on_reset() forgets it") {
    auto m = machine_from(ts::stored_grant("A1", "R1", t0, 3600s), backoff_options(1));
    REQUIRE(m.on_invalidate(babelbird::secret_view("A1")).publish);
    REQUIRE_FALSE(
        answer(m, start(m, t0),
               babelbird::http_response(200, R"({"access_token":"","refresh_token":"R2"})"), t0));
    CHECK(m.rejected());
    CHECK_FALSE(m.usable_at(t0));
    CHECK(m.current()->refresh_token.expose_secret() == "R2");
    (void)m.on_reset(refresh_seed("R9"), t0);
    CHECK_FALSE(m.rejected());
    CHECK(m.current()->refresh_token.expose_secret() == "R9");
}

// --- Persistence: failure, retry, supersession ---

TEST_CASE("token_lifecycle: a failed persist: used anyway, pending until retried or superseded") {
    auto m = machine_from("R0", backoff_options(1));
    auto a = start(m, t0);
    auto done = m.on_response(*a.send_flight, ts::token_answer("A1", "R1"), t0, t0);
    REQUIRE(done.persist);
    const auto first = done.persist;
    const auto got = m.on_persisted(false);
    CHECK(access_of(*got.outcome) == "A1"); // the server may have retired R0
    CHECK(m.persist_failed());
    CHECK(m.pending_persist() == first);
    CHECK_FALSE(m.persisting());
    // retry_persist(): the same grant, once at a time.
    auto retry = m.retry_persist();
    CHECK(retry.persist == first);
    CHECK(m.persisting());
    CHECK(m.retry_persist().empty());
    CHECK(m.on_persisted(false).empty());
    CHECK(m.pending_persist() == first);
    // A later grant supersedes it.
    REQUIRE(m.on_invalidate(babelbird::secret_view("A1")).publish);
    a = start(m, t0 + 1s);
    CHECK(ts::sent_refresh_token(*a.send) == "R1");
    done = m.on_response(*a.send_flight, ts::token_answer("A2", "R2"), t0 + 1s, t0 + 1s);
    REQUIRE(done.persist);
    CHECK(done.persist->refresh_token.expose_secret() == "R2");
    (void)m.on_persisted(true);
    CHECK_FALSE(m.persist_failed());
    CHECK_FALSE(m.pending_persist());
    CHECK(m.retry_persist().empty());
    // on_reset() forgets a pending grant.
    REQUIRE(m.on_invalidate(babelbird::secret_view("A2")).publish);
    a = start(m, t0 + 2s);
    (void)m.on_response(*a.send_flight, ts::token_answer("A3", "R3"), t0 + 2s, t0 + 2s);
    (void)m.on_persisted(false);
    CHECK(m.pending_persist());
    (void)m.on_reset(refresh_seed("R9"), t0 + 3s);
    CHECK_FALSE(m.persist_failed());
    CHECK_FALSE(m.pending_persist());
}

} // namespace test_token_lifecycle
