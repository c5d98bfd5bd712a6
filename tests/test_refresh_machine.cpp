// The refresh state machine: every transition, driven by hand with an injected
// clock and canned transport results; its answers match refresh() exactly.
#include "token_support.hpp"

#include <doctest/doctest.h>

#include <chrono>
#include <string>

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
        R"({"access_token":"A2","refresh_expires_in":50,"expires_in":18446744073709551615})",
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
    CHECK(babelbird::token_seed::from_refresh_token(babelbird::secret_view("a b")).error().code() ==
          babelbird::errc::token_not_header_safe);
    CHECK(
        babelbird::token_seed::from_refresh_token(babelbird::secret_view("a\nb")).error().code() ==
        babelbird::errc::control_character);
    const auto with_expiry =
        babelbird::token_seed::from_refresh_token(babelbird::secret_view("R"), t0 + 1h);
    REQUIRE(with_expiry);
    CHECK(with_expiry->grant().refresh_expires_at == t0 + 1h);
    CHECK(with_expiry->grant().access_token.empty());

    CHECK(babelbird::token_seed::from_grant({}).error().code() == babelbird::errc::empty_value);
    CHECK(babelbird::token_seed::from_grant(ts::stored_grant("A B", "R", t0, 1h)).error().code() ==
          babelbird::errc::token_not_header_safe);
    CHECK(babelbird::token_seed::from_grant(ts::stored_grant("A", "R\r", t0, 1h)).error().code() ==
          babelbird::errc::control_character);
    CHECK(babelbird::token_seed::from_grant(ts::stored_grant("", "R", t0, 1h)));
    CHECK(babelbird::token_seed::from_grant(ts::stored_grant("A", "", t0, 1h)));
}
