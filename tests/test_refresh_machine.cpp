// The refresh state machine: every transition, driven by hand with an injected
// clock and canned transport results; its answers match refresh() exactly.
#include "token_support.hpp"

#include <doctest/doctest.h>

#include <chrono>
#include <string>

// A namespace per file: the unit tests are compiled as unity chunks.
namespace test_refresh_machine {

using namespace std::chrono_literals;
using babelbird::refresh_action;
using babelbird::token_state;
namespace ts = test_support;

namespace {

babelbird::refresh_machine machine_from(std::string_view refresh_token,
                                        babelbird::refresh_machine_options options = {}) {
    return babelbird::refresh_machine(
        ts::credentials(), ts::server(),
        babelbird::token_seed::from_refresh_token(babelbird::secret_view(refresh_token)).value(),
        options);
}

babelbird::refresh_machine machine_from(babelbird::token_grant grant,
                                        babelbird::refresh_machine_options options = {}) {
    return babelbird::refresh_machine(ts::credentials(), ts::server(),
                                      babelbird::token_seed::from_grant(std::move(grant)).value(),
                                      options);
}

const babelbird::time_point t0 = babelbird::time_point(std::chrono::seconds(1'700'000'000));

} // namespace

TEST_CASE("refresh_machine: a refresh-token seed refreshes first, with refresh()'s request") {
    auto m = machine_from(ts::refresh_token);
    CHECK(m.current()->access_token.empty());
    CHECK(m.state_at(t0) == token_state::expired);
    CHECK(m.next(t0) == refresh_action::refresh);

    auto request = m.begin_refresh();
    REQUIRE(request);
    CHECK(m.in_flight());
    CHECK(m.next(t0) == refresh_action::wait);

    // Byte for byte what refresh() sends.
    ts::recording_transport recorder;
    recorder.answer = ts::token_answer("A1", "R1");
    ts::fixed_clock clock;
    const auto reference = babelbird::refresh(recorder, ts::credentials(), ts::server(),
                                              babelbird::secret_view(ts::refresh_token), {}, clock);
    REQUIRE(reference);
    REQUIRE(recorder.requests.size() == 1);
    CHECK(request->method == recorder.requests[0].method);
    CHECK(request->url == recorder.requests[0].url);
    CHECK(request->headers.size() == recorder.requests[0].headers.size());
    CHECK(request->header("Authorization") == recorder.requests[0].header("Authorization"));
    CHECK(request->body.empty());

    auto grant = m.complete(ts::token_answer("A1", "R1"), t0);
    REQUIRE(grant);
    CHECK_FALSE(m.in_flight());
    CHECK(*grant == m.current());
    CHECK((*grant)->access_token.expose_secret() == "A1");
    CHECK((*grant)->refresh_token.expose_secret() == "R1");
    CHECK((*grant)->issued_at == t0);
    CHECK((*grant)->expires_at == t0 + 3600s);
    CHECK((*grant)->refresh_expires_at == t0 + std::chrono::hours(24 * 30));
    CHECK(m.next(t0) == refresh_action::use_current);
    CHECK(m.window() == babelbird::expiry_window_for(t0, t0 + 3600s));
}

TEST_CASE("refresh_machine: complete() gives exactly what refresh(previous grant) gives") {
    const char* bodies[] = {
        R"({"access_token":"A2","refresh_token":"R2","expires_in":"120","token_type":"bearer","scope":"files"})",
        R"({"access_token":"A2"})", // kept refresh token keeps its expiry, assumed lifetime
        // (expires_in at the parser's sanity bound, 1 year; above it is rejected)
        R"({"access_token":"A2","refresh_expires_in":50,"expires_in":31536000})",
    };
    for (const char* body : bodies) {
        CAPTURE(body);
        babelbird::refresh_machine_options options;
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
        REQUIRE(m.begin_refresh());
        const auto grant = m.complete(babelbird::http_response(200, body), t0);
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

TEST_CASE("refresh_machine: fresh -> refresh_ahead -> in flight -> fresh again") {
    auto m = machine_from(ts::stored_grant("A1", "R1", t0, 3600s));
    CHECK(m.next(t0) == refresh_action::use_current);
    CHECK(m.next(t0 + 3240s - 1ns) == refresh_action::use_current);
    CHECK(m.next(t0 + 3240s) == refresh_action::refresh_ahead);
    CHECK(m.next(t0 + 3540s) == refresh_action::refresh);
    CHECK(m.next_attempt() == babelbird::time_point::min());

    const auto at = t0 + 3300s;
    REQUIRE(m.begin_refresh());
    // While in flight the old token is used, and callers without one wait.
    CHECK(m.next(at) == refresh_action::use_current);
    CHECK(m.next(t0 + 3600s) == refresh_action::wait);
    CHECK(m.next_attempt() == babelbird::time_point::max());
    // A second refresh cannot start.
    const auto twice = m.begin_refresh();
    REQUIRE_FALSE(twice);
    CHECK(twice.error().kind() == babelbird::error_class::usage);

    REQUIRE(m.complete(ts::token_answer("A2", "R2", 600), at));
    CHECK(m.current()->access_token.expose_secret() == "A2");
    CHECK(m.next(at) == refresh_action::use_current);
    CHECK(m.window().usable_until == at + 540s);
    CHECK(m.window().refresh_from == at + 270s);
}

TEST_CASE("refresh_machine: complete() without a refresh in flight is refused") {
    auto m = machine_from(ts::refresh_token);
    const auto stray = m.complete(ts::token_answer("A", "R"), t0);
    REQUIRE_FALSE(stray);
    CHECK(stray.error().kind() == babelbird::error_class::usage);
    CHECK(m.current()->access_token.empty());

    REQUIRE(m.begin_refresh());
    m.abandon();
    CHECK_FALSE(m.in_flight());
    CHECK_FALSE(m.complete(ts::token_answer("A", "R"), t0));
    CHECK(m.next(t0) == refresh_action::refresh);
}

TEST_CASE("refresh_machine: retry-class failures back off, then refresh again") {
    babelbird::refresh_machine_options options;
    options.retry_backoff = 5s;
    SUBCASE("without a valid token: fail with the same error until the backoff ends") {
        auto m = machine_from(ts::refresh_token, options);
        REQUIRE(m.begin_refresh());
        const auto failed = m.complete(babelbird::error::transport(babelbird::errc::timeout), t0);
        REQUIRE_FALSE(failed);
        CHECK(failed.error().code() == babelbird::errc::timeout);
        CHECK(failed.error().is_retryable());
        CHECK_FALSE(m.blocked());
        REQUIRE(m.failure());
        CHECK(*m.failure() == failed.error());
        CHECK(m.retry_not_before() == t0 + 5s);
        CHECK(m.next(t0 + 1s) == refresh_action::fail);
        CHECK(m.next(t0 + 5s - 1ns) == refresh_action::fail);
        CHECK(m.next(t0 + 5s) == refresh_action::refresh);
        // An explicit begin_refresh() is allowed during the backoff.
        REQUIRE(m.begin_refresh());
        REQUIRE(m.complete(ts::token_answer("A", "R2"), t0 + 6s));
        CHECK_FALSE(m.failure());
    }
    SUBCASE("with a valid token: keep using it, refresh ahead after the backoff") {
        auto m = machine_from(ts::stored_grant("A1", "R1", t0, 3600s), options);
        const auto at = t0 + 3300s;
        CHECK(m.next(at) == refresh_action::refresh_ahead);
        REQUIRE(m.begin_refresh());
        REQUIRE_FALSE(m.complete(babelbird::http_response(503, "<html>busy</html>"), at));
        CHECK(m.failure()->kind() == babelbird::error_class::retry);
        CHECK(m.failure()->http_status() == 503);
        CHECK(m.next(at + 1s) == refresh_action::use_current);
        CHECK(m.next_attempt() == at + 5s);
        CHECK(m.next(at + 5s) == refresh_action::refresh_ahead);
        CHECK(m.current()->access_token.expose_secret() == "A1");
    }
    SUBCASE("the backoff counts from the end of a slow failed attempt") {
        auto m = machine_from(ts::refresh_token, options);
        REQUIRE(m.begin_refresh());
        REQUIRE_FALSE(
            m.complete(babelbird::error::transport(babelbird::errc::timeout), t0, t0 + 30s));
        CHECK(m.retry_not_before() == t0 + 35s);
        CHECK(m.next(t0 + 34s) == refresh_action::fail);
        CHECK(m.next(t0 + 35s) == refresh_action::refresh);
    }
    SUBCASE("a protocol failure backs off the same way") {
        auto m = machine_from(ts::refresh_token, options);
        REQUIRE(m.begin_refresh());
        REQUIRE_FALSE(m.complete(babelbird::http_response(200, R"({"access_token":)"), t0));
        CHECK(m.failure()->kind() == babelbird::error_class::protocol);
        CHECK_FALSE(m.blocked());
        CHECK(m.next(t0 + 1s) == refresh_action::fail);
        CHECK(m.next(t0 + 5s) == refresh_action::refresh);
    }
    SUBCASE("zero backoff retries at once; huge backoff saturates") {
        options.retry_backoff = 0ms;
        auto m = machine_from(ts::refresh_token, options);
        REQUIRE(m.begin_refresh());
        REQUIRE_FALSE(m.complete(babelbird::error::transport(babelbird::errc::timeout), t0));
        CHECK(m.next(t0) == refresh_action::refresh);
        options.retry_backoff = std::chrono::milliseconds::max();
        auto h = machine_from(ts::refresh_token, options);
        REQUIRE(h.begin_refresh());
        REQUIRE_FALSE(h.complete(babelbird::error::transport(babelbird::errc::timeout), t0));
        CHECK(h.retry_not_before() == babelbird::time_point::max());
        CHECK(h.next(babelbird::time_point::max() - 1ns) == refresh_action::fail);
    }
}

TEST_CASE("refresh_machine: reauthorize failures block until reset()") {
    auto m = machine_from(ts::stored_grant("A1", "R1", t0, 3600s));
    const auto at = t0 + 3300s;
    REQUIRE(m.begin_refresh());
    const auto failed = m.complete(
        babelbird::http_response(400, R"({"error":"invalid_grant","error_description":"R1"})"), at);
    REQUIRE_FALSE(failed);
    CHECK(failed.error().needs_reauthorization());
    CHECK(failed.error().oauth_code() == babelbird::oauth_error::invalid_grant);
    CHECK(m.blocked());
    // The valid token is still used; no refresh is ever asked for again.
    CHECK(m.next(at) == refresh_action::use_current);
    CHECK(m.next_attempt() == babelbird::time_point::max());
    CHECK(m.next(t0 + 3540s) == refresh_action::fail);
    CHECK(m.next(t0 + 1000h) == refresh_action::fail);
    // begin_refresh() refuses with the remembered error: nothing to send.
    const auto again = m.begin_refresh();
    REQUIRE_FALSE(again);
    CHECK(again.error() == failed.error());
    CHECK_FALSE(m.in_flight());

    m.reset(babelbird::token_seed::from_refresh_token(babelbird::secret_view("R-new")).value());
    CHECK_FALSE(m.blocked());
    CHECK_FALSE(m.failure());
    CHECK(m.next(t0 + 1000h) == refresh_action::refresh);
    const auto request = m.begin_refresh();
    REQUIRE(request);
    CHECK(ts::sent_refresh_token(*request) == "R-new");
    CHECK(ts::remember(failed.error()).find("R1") == std::string::npos);
}

TEST_CASE("refresh_machine: a 401 on the token endpoint blocks; a 5xx does not") {
    auto m = machine_from(ts::refresh_token);
    REQUIRE(m.begin_refresh());
    REQUIRE_FALSE(m.complete(babelbird::http_response(401, ""), t0));
    CHECK(m.blocked());
    CHECK(m.failure()->kind() == babelbird::error_class::reauthorize);

    auto n = machine_from(ts::refresh_token);
    REQUIRE(n.begin_refresh());
    REQUIRE_FALSE(n.complete(babelbird::http_response(502, ""), t0));
    CHECK_FALSE(n.blocked());
}

TEST_CASE("refresh_machine: a seed whose refresh token cannot be sent blocks with a usage error") {
    auto grant = ts::stored_grant("A1", "", t0, 3600s);
    auto m = machine_from(std::move(grant));
    CHECK(m.next(t0) == refresh_action::use_current);
    const auto request = m.begin_refresh();
    REQUIRE_FALSE(request);
    CHECK(request.error().code() == babelbird::errc::empty_value);
    CHECK(m.blocked());
    CHECK(m.next(t0 + 3600s) == refresh_action::fail);
}

TEST_CASE("refresh_machine: invalidate() marks only the current token") {
    auto m = machine_from(ts::stored_grant("A1", "R1", t0, 3600s));
    CHECK_FALSE(m.invalidate(babelbird::secret_view("A0")));
    CHECK_FALSE(m.invalidate(babelbird::secret_view("")));
    CHECK(m.next(t0) == refresh_action::use_current);
    CHECK(m.invalidate(babelbird::secret_view("A1")));
    CHECK(m.rejected());
    CHECK(m.state_at(t0) == token_state::expired);
    CHECK(m.next(t0) == refresh_action::refresh);
    REQUIRE(m.begin_refresh());
    CHECK(m.next(t0) == refresh_action::wait);
    REQUIRE(m.complete(ts::token_answer("A2", "R2"), t0));
    CHECK_FALSE(m.rejected());
    // A late report about the replaced token changes nothing.
    CHECK_FALSE(m.invalidate(babelbird::secret_view("A1")));
    CHECK(m.next(t0) == refresh_action::use_current);

    auto seedless = machine_from(ts::refresh_token);
    CHECK_FALSE(seedless.invalidate(babelbird::secret_view("")));
}

TEST_CASE("refresh_machine: the next refresh sends the rotated refresh token") {
    auto m = machine_from("R0");
    REQUIRE(m.begin_refresh());
    REQUIRE(m.complete(ts::token_answer("A1", "R1", 60), t0));
    REQUIRE(m.invalidate(babelbird::secret_view("A1")));
    auto second = m.begin_refresh();
    REQUIRE(second);
    CHECK(ts::sent_refresh_token(*second) == "R1");
    // Not rotated this time: R1 stays, with its expiry.
    REQUIRE(m.complete(ts::token_answer("A2", ""), t0 + 1s));
    CHECK(m.current()->refresh_token.expose_secret() == "R1");
    CHECK_FALSE(m.current()->refresh_token_rotated);
    CHECK(m.current()->refresh_expires_at == t0 + std::chrono::hours(24 * 30));
}

TEST_CASE("refresh_machine: an OAuth error text that echoes a sent secret is dropped") {
    auto m = machine_from("echo_me_token");
    REQUIRE(m.begin_refresh());
    const auto failed =
        m.complete(babelbird::http_response(400, R"({"error":"echo_me_token"})"), t0);
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

babelbird::refresh_machine_options backoff_options(std::uint64_t seed) {
    babelbird::refresh_machine_options options;
    options.retry_backoff = 2s;
    options.max_retry_backoff = 60s;
    options.min_refresh_interval = 0ms;
    options.jitter_seed = seed;
    return options;
}

/// Fails one refresh of `m` at `at` with `e`; returns the delay it imposed.
babelbird::time_point::duration fail_once(babelbird::refresh_machine& m, babelbird::time_point at,
                                          const babelbird::error& e) {
    REQUIRE(m.begin_refresh());
    REQUIRE_FALSE(m.complete(e, at));
    return m.retry_not_before() - at;
}

const babelbird::error timeout = babelbird::error::transport(babelbird::errc::timeout);

} // namespace

TEST_CASE("refresh_machine: backoff grows exponentially with full jitter, capped") {
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

TEST_CASE("refresh_machine: the jitter is deterministic for a seed and differs between seeds") {
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

TEST_CASE("refresh_machine: Retry-After is honoured, beyond the cap too") {
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
        for (int n = 0; n < 5; ++n) {
            (void)fail_once(m, t0, timeout);
        }
        const auto delay = fail_once(m, t0, babelbird::error(timeout).with_retry_after(1s));
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
        CHECK(m.next_attempt() == at + 120s);
        CHECK(m.next(at + 120s) == refresh_action::refresh_ahead);
    }
}

TEST_CASE("refresh_machine: a success resets the backoff") {
    auto m = machine_from(ts::refresh_token, backoff_options(11));
    auto at = t0;
    for (int n = 0; n < 6; ++n) {
        at += fail_once(m, at, timeout);
    }
    CHECK(m.consecutive_failures() == 6);
    REQUIRE(m.begin_refresh());
    REQUIRE(m.complete(ts::token_answer("A1", "R1"), at));
    CHECK(m.consecutive_failures() == 0);
    CHECK_FALSE(m.failure());
    CHECK(m.retry_not_before() == babelbird::time_point::min());
    // The next failure is the first again: exactly retry_backoff.
    CHECK(fail_once(m, at + 1h, timeout) == 2s);
    CHECK(m.consecutive_failures() == 1);
    // reset() also starts over.
    (void)fail_once(m, at + 2h, timeout);
    m.reset(babelbird::token_seed::from_refresh_token(babelbird::secret_view("R9")).value());
    CHECK(m.consecutive_failures() == 0);
    CHECK(fail_once(m, at + 3h, timeout) == 2s);
}

TEST_CASE("refresh_machine: configuration, reauthorize and usage failures block; no backoff") {
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
        REQUIRE(m.begin_refresh());
        REQUIRE_FALSE(m.complete(babelbird::error(e).with_retry_after(5s), t0));
        CHECK(m.blocked());
        CHECK(m.consecutive_failures() == 0);
        CHECK(m.next(t0 + 1000h) == refresh_action::fail);
        CHECK(m.next_attempt() == babelbird::time_point::max());
        CHECK(m.begin_refresh().error().kind() == e.kind());
        m.reset(babelbird::token_seed::from_refresh_token(babelbird::secret_view("R9")).value());
        CHECK(m.next(t0) == refresh_action::refresh);
    }
}

TEST_CASE("refresh_machine: backoff options at the edges") {
    SUBCASE("max below retry_backoff counts as retry_backoff") {
        auto options = backoff_options(1);
        options.retry_backoff = 10s;
        options.max_retry_backoff = 1s;
        auto m = machine_from(ts::refresh_token, options);
        for (int n = 0; n < 5; ++n) {
            CHECK(fail_once(m, t0, timeout) == 10s);
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
        for (int n = 0; n < 80; ++n) {
            REQUIRE(m.begin_refresh());
            REQUIRE_FALSE(m.complete(timeout, t0));
            CHECK(m.retry_not_before() >= t0 + 2s);
        }
    }
}

// --- Tiny lifetimes: no refresh storm, never an expired token ---

TEST_CASE("refresh_machine: expires_in 0 gives a retry error until min_refresh_interval") {
    auto m = machine_from(ts::refresh_token); // default: 30 s
    CHECK(m.options().min_refresh_interval == 30s);
    REQUIRE(m.begin_refresh());
    const auto grant = m.complete(ts::token_answer("A1", "R1", 0), t0, t0);
    // The grant is adopted (its refresh token is new: persist it) ...
    REQUIRE(grant);
    CHECK((*grant)->refresh_token.expose_secret() == "R1");
    CHECK(m.refresh_not_before() == t0 + 30s);
    // ... but its token is never reported usable.
    CHECK_FALSE(m.usable_at(t0));
    REQUIRE(m.failure());
    CHECK(m.failure()->code() == babelbird::errc::token_lifetime_too_short);
    CHECK(m.failure()->kind() == babelbird::error_class::retry);
    CHECK(m.failure()->http_status() == 200);
    CHECK_FALSE(m.blocked());
    CHECK(m.next(t0) == refresh_action::fail);
    CHECK(m.next(t0 + 30s - 1ns) == refresh_action::fail);
    CHECK(m.next(t0 + 30s) == refresh_action::refresh);
    const auto request = m.begin_refresh();
    REQUIRE(request);
    CHECK(ts::sent_refresh_token(*request) == "R1");
    REQUIRE(m.complete(ts::token_answer("A2", "R2", 3600), t0 + 30s));
    CHECK_FALSE(m.failure());
    CHECK(m.next(t0 + 30s) == refresh_action::use_current);
}

TEST_CASE(
    "refresh_machine: a lifetime below the skew margin: refresh ahead waits for the interval") {
    auto m = machine_from(ts::refresh_token);
    REQUIRE(m.begin_refresh());
    // 40 s: usable for 20 s (skew capped at half), refresh-soon from 10 s.
    REQUIRE(m.complete(ts::token_answer("A1", "R1", 40), t0));
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
    REQUIRE(n.begin_refresh());
    REQUIRE(n.complete(ts::token_answer("A1", "R1", 80), t0));
    CHECK_FALSE(n.failure());
    CHECK(n.next(t0 + 20s) == refresh_action::use_current);
    CHECK(n.next(t0 + 30s) == refresh_action::refresh_ahead);
}

TEST_CASE("refresh_machine: invalidate() skips min_refresh_interval; backoff still applies") {
    auto m = machine_from(ts::refresh_token);
    REQUIRE(m.begin_refresh());
    REQUIRE(m.complete(ts::token_answer("A1", "R1"), t0));
    CHECK(m.next_attempt() == t0 + 30s);
    REQUIRE(m.invalidate(babelbird::secret_view("A1")));
    CHECK(m.next(t0 + 1s) == refresh_action::refresh);
    (void)fail_once(m, t0 + 1s, timeout);
    CHECK(m.next(t0 + 2s) == refresh_action::fail);
    CHECK(m.next(t0 + 3s) == refresh_action::refresh);
}

TEST_CASE(
    "refresh_machine: min_refresh_interval 0 lets a token that arrives expired refresh at once") {
    babelbird::refresh_machine_options options;
    options.min_refresh_interval = 0ms;
    auto m = machine_from(ts::refresh_token, options);
    REQUIRE(m.begin_refresh());
    REQUIRE(m.complete(ts::token_answer("A1", "R1", 0), t0));
    CHECK_FALSE(m.usable_at(t0));
    REQUIRE(m.failure()); // it arrived expired: the reason a driver reports
    CHECK(m.failure()->code() == babelbird::errc::token_lifetime_too_short);
    CHECK(m.next(t0) == refresh_action::refresh);
}

// --- Nothing lost: a rotated refresh token in a rejected answer is adopted ---

TEST_CASE("refresh_machine: a rejected answer's new refresh token is adopted, not lost") {
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
        REQUIRE(m.begin_refresh());
        const auto failed = m.complete(babelbird::http_response(200, body), at);
        REQUIRE_FALSE(failed);
        CHECK(failed.error().kind() == babelbird::error_class::protocol);
        CHECK(ts::remember(failed.error()).find("R2") == std::string::npos);
        // The rescued grant, for the hook/store: no access token, the new refresh token.
        REQUIRE(m.salvaged());
        CHECK(m.salvaged()->access_token.empty());
        CHECK(m.salvaged()->refresh_token.expose_secret() == "R2");
        CHECK(m.salvaged()->refresh_token_rotated);
        CHECK(m.salvaged()->refresh_expires_at == at + std::chrono::hours(24 * 30));
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
        const auto request = m.begin_refresh();
        REQUIRE(request);
        CHECK(ts::sent_refresh_token(*request) == "R2");
        CHECK_FALSE(m.salvaged()); // cleared by the next attempt
        REQUIRE(m.complete(ts::token_answer("A3", ""), at + 2s));
        CHECK(m.current()->refresh_token.expose_secret() == "R2"); // kept, not rotated
        CHECK(m.current()->refresh_expires_at == at + std::chrono::hours(24 * 30));
    }
}

TEST_CASE("refresh_machine: without a valid token, a salvaged refresh token is used next") {
    auto m = machine_from("R0", backoff_options(1));
    REQUIRE(m.begin_refresh());
    REQUIRE_FALSE(m.complete(
        babelbird::http_response(200, R"({"access_token":"","refresh_token":"R1"})"), t0));
    REQUIRE(m.salvaged());
    CHECK(m.current()->access_token.empty());
    CHECK(m.current()->refresh_token.expose_secret() == "R1");
    CHECK(m.next(t0 + 1s) == refresh_action::fail);
    CHECK(m.next(t0 + 2s) == refresh_action::refresh);
    const auto request = m.begin_refresh();
    REQUIRE(request);
    CHECK(ts::sent_refresh_token(*request) == "R1");
    // An invalidate() of the (absent) token changes nothing.
    CHECK_FALSE(m.invalidate(babelbird::secret_view("")));
}

TEST_CASE("refresh_machine: nothing is salvaged from what is not a usable answer") {
    const babelbird::transport_result answers[] = {
        babelbird::http_response(200, R"({"access_token":"","refresh_token":"R2")"), // bad JSON
        babelbird::http_response(400, R"({"error":"invalid_grant","refresh_token":"R2"})"),
        babelbird::http_response(200, R"({"access_token":"","refresh_token":""})"),
        babelbird::error::transport(babelbird::errc::timeout),
    };
    for (const auto& answer : answers) {
        auto m = machine_from(ts::stored_grant("A1", "R1", t0, 3600s), backoff_options(1));
        REQUIRE(m.begin_refresh());
        REQUIRE_FALSE(m.complete(answer, t0 + 3300s));
        CHECK_FALSE(m.salvaged());
        CHECK(m.current()->refresh_token.expose_secret() == "R1");
        CHECK_FALSE(m.current()->refresh_token_rotated);
    }
}

TEST_CASE("refresh_machine: a salvage keeps a rejected token rejected; reset() forgets it") {
    auto m = machine_from(ts::stored_grant("A1", "R1", t0, 3600s), backoff_options(1));
    REQUIRE(m.invalidate(babelbird::secret_view("A1")));
    REQUIRE(m.begin_refresh());
    REQUIRE_FALSE(m.complete(
        babelbird::http_response(200, R"({"access_token":"","refresh_token":"R2"})"), t0));
    CHECK(m.rejected());
    CHECK_FALSE(m.usable_at(t0));
    CHECK(m.current()->refresh_token.expose_secret() == "R2");
    m.reset(babelbird::token_seed::from_refresh_token(babelbird::secret_view("R9")).value());
    CHECK_FALSE(m.salvaged());
    CHECK(m.current()->refresh_token.expose_secret() == "R9");
}

} // namespace test_refresh_machine
