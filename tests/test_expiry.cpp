// The expiry policy: token states at every boundary, the skew cap, default
// lifetimes, refresh-token expiry and huge values, all without a real clock.
#include "support.hpp"

#include <doctest/doctest.h>

#include <chrono>
#include <cstdint>
#include <limits>
#include <optional>

// A namespace per file: the unit tests are compiled as unity chunks.
namespace test_expiry {

using namespace std::chrono_literals;
using babelbird::time_point;
using babelbird::token_state;
namespace ts = test_support;

namespace {
constexpr time_point t0 = time_point(std::chrono::seconds(1'700'000'000));
constexpr babelbird::expiry_policy policy{60s, 300s};
} // namespace

// The window is constexpr: a 3600 s token expires 60 s early and is refreshed
// from 360 s before its expiry.
static_assert(babelbird::expiry_window_for(t0, t0 + 3600s, policy).usable_until == t0 + 3540s);
static_assert(babelbird::expiry_window_for(t0, t0 + 3600s, policy).refresh_from == t0 + 3240s);
static_assert(babelbird::token_state_at(t0, t0 + 3600s, t0, policy) == token_state::fresh);
static_assert(babelbird::to_string(token_state::refresh_soon) == "refresh_soon");

TEST_CASE("expiry: fresh, refresh_soon and expired at their exact boundaries") {
    const auto w = babelbird::expiry_window_for(t0, t0 + 3600s, policy);
    CHECK(w.state_at(t0) == token_state::fresh);
    CHECK(w.state_at(t0 + 3240s - 1ns) == token_state::fresh);
    CHECK(w.state_at(t0 + 3240s) == token_state::refresh_soon);
    CHECK(w.state_at(t0 + 3540s - 1ns) == token_state::refresh_soon);
    CHECK(w.state_at(t0 + 3540s) == token_state::expired);
    CHECK(w.state_at(t0 + 3600s) == token_state::expired);
    CHECK(w.state_at(time_point::max()) == token_state::expired);
    // A clock that went backwards before the issue time still sees a fresh token.
    CHECK(w.state_at(t0 - 10s) == token_state::fresh);
}

TEST_CASE("expiry: the skew margin is capped at half of the lifetime") {
    SUBCASE("60 s margin on a 59 s token: usable for 29.5 s, not 'always expired'") {
        const auto w = babelbird::expiry_window_for(t0, t0 + 59s, policy);
        CHECK(w.usable_until == t0 + 29500ms);
        CHECK(w.refresh_from == t0 + 14750ms);
        CHECK(w.state_at(t0) == token_state::fresh);
        CHECK(w.state_at(t0 + 14749ms) == token_state::fresh);
        CHECK(w.state_at(t0 + 20s) == token_state::refresh_soon);
        CHECK(w.state_at(t0 + 29500ms) == token_state::expired);
    }
    SUBCASE("margin exactly half: the cap does not change it") {
        const auto w = babelbird::expiry_window_for(t0, t0 + 120s, {60s, 0s});
        CHECK(w.usable_until == t0 + 60s);
        CHECK(w.refresh_from == t0 + 60s);
        CHECK(w.state_at(t0 + 60s - 1ns) == token_state::fresh);
        CHECK(w.state_at(t0 + 60s) == token_state::expired);
    }
    SUBCASE("refresh-ahead is capped at half of the usable span") {
        const auto w = babelbird::expiry_window_for(t0, t0 + 600s, {60s, 3600s});
        CHECK(w.usable_until == t0 + 540s);
        CHECK(w.refresh_from == t0 + 270s);
    }
    SUBCASE("a 1 ns lifetime and a 1 s token") {
        const auto tiny = babelbird::expiry_window_for(t0, t0 + 1ns, policy);
        CHECK(tiny.usable_until == t0 + 1ns); // half of 1 ns rounds to 0
        CHECK(tiny.state_at(t0) == token_state::fresh);
        CHECK(tiny.state_at(t0 + 1ns) == token_state::expired);
        const auto one = babelbird::expiry_window_for(t0, t0 + 1s, policy);
        CHECK(one.usable_until == t0 + 500ms);
        CHECK(one.refresh_from == t0 + 250ms);
    }
    SUBCASE("zero margins: refreshed and expired exactly at expires_at") {
        const auto w = babelbird::expiry_window_for(t0, t0 + 3600s, {0s, 0s});
        CHECK(w.refresh_from == t0 + 3600s);
        CHECK(w.usable_until == t0 + 3600s);
    }
    SUBCASE("negative margins count as zero") {
        const auto w = babelbird::expiry_window_for(t0, t0 + 3600s, {-5s, -7s});
        CHECK(w.usable_until == t0 + 3600s);
        CHECK(w.refresh_from == t0 + 3600s);
    }
}

TEST_CASE("expiry: zero and negative lifetimes are expired from expires_at") {
    const auto zero = babelbird::expiry_window_for(t0, t0, policy);
    CHECK(zero.usable_until == t0);
    CHECK(zero.refresh_from == t0);
    CHECK(zero.state_at(t0) == token_state::expired);
    // Corrupt stored grant: expires before it was issued.
    const auto negative = babelbird::expiry_window_for(t0, t0 - 100s, policy);
    CHECK(negative.usable_until == t0 - 100s);
    CHECK(negative.state_at(t0) == token_state::expired);
    CHECK(negative.state_at(t0 - 101s) == token_state::fresh);
}

TEST_CASE("expiry: huge values neither overflow nor wrap") {
    SUBCASE("an expiry at time_point::max()") {
        const auto w = babelbird::expiry_window_for(t0, time_point::max(), policy);
        CHECK(w.usable_until == time_point::max() - 60s);
        CHECK(w.refresh_from == time_point::max() - 360s);
        CHECK(w.state_at(t0) == token_state::fresh);
        CHECK(w.state_at(time_point::max()) == token_state::expired);
    }
    SUBCASE("the widest possible lifetime, min to max") {
        const auto w = babelbird::expiry_window_for(time_point::min(), time_point::max(), policy);
        CHECK(w.usable_until == time_point::max() - 60s);
        CHECK(w.state_at(t0) == token_state::fresh);
    }
    SUBCASE("margins of the largest second counts saturate to the lifetime cap") {
        constexpr auto huge = std::chrono::seconds(std::numeric_limits<std::int64_t>::max());
        const auto w = babelbird::expiry_window_for(t0, t0 + 100s, {huge, huge});
        CHECK(w.usable_until == t0 + 50s);
        CHECK(w.refresh_from == t0 + 25s);
        const auto all =
            babelbird::expiry_window_for(time_point::min(), time_point::max(), {huge, huge});
        CHECK(all.usable_until > time_point::min());
        CHECK(all.refresh_from <= all.usable_until);
        CHECK(all.refresh_from >= time_point::min());
    }
    SUBCASE("expires_in of 2^64-1 saturates") {
        const auto at = babelbird::access_expires_at(t0, std::numeric_limits<std::uint64_t>::max(),
                                                     std::chrono::seconds(3600));
        CHECK(at == time_point::max());
        CHECK(babelbird::token_state_at(t0, at, t0, policy) == token_state::fresh);
    }
    SUBCASE("issue times near the ends of the range") {
        CHECK(babelbird::access_expires_at(time_point::max(), 1, 3600s) == time_point::max());
        CHECK(babelbird::access_expires_at(time_point::min(), 0, 3600s) == time_point::min());
        const auto w = babelbird::expiry_window_for(time_point::max(), time_point::max(), policy);
        CHECK(w.state_at(time_point::max()) == token_state::expired);
    }
}

TEST_CASE("expiry: access_expires_at uses expires_in, else the assumed lifetime") {
    CHECK(babelbird::access_expires_at(t0, 3600, 900s) == t0 + 3600s);
    CHECK(babelbird::access_expires_at(t0, 0, 900s) == t0);
    CHECK(babelbird::access_expires_at(t0, std::nullopt, 900s) == t0 + 900s);
    CHECK(babelbird::access_expires_at(t0, std::nullopt, -5s) == t0);
    // The default of client_options: one hour.
    CHECK(babelbird::access_expires_at(t0, std::nullopt,
                                       babelbird::client_options{}.assumed_lifetime) == t0 + 3600s);
}

TEST_CASE("expiry: refresh-token expiry") {
    constexpr auto thirty_days = std::chrono::hours(24 * 30);
    SUBCASE("the server's refresh_expires_in wins") {
        CHECK(babelbird::refresh_expires_at(t0, 120, true, std::nullopt, thirty_days) == t0 + 120s);
        CHECK(babelbird::refresh_expires_at(t0, 120, false, t0 + 1h, thirty_days) == t0 + 120s);
    }
    SUBCASE("a rotated token lives 30 days by default") {
        CHECK(babelbird::client_options{}.refresh_token_lifetime == thirty_days);
        CHECK(babelbird::refresh_expires_at(t0, std::nullopt, true, std::nullopt, thirty_days) ==
              t0 + thirty_days);
    }
    SUBCASE("a kept token keeps its previous expiry, known or not") {
        CHECK(babelbird::refresh_expires_at(t0, std::nullopt, false, t0 + 5h, thirty_days) ==
              t0 + 5h);
        CHECK_FALSE(
            babelbird::refresh_expires_at(t0, std::nullopt, false, std::nullopt, thirty_days));
    }
    SUBCASE("huge refresh_expires_in saturates") {
        CHECK(babelbird::refresh_expires_at(t0, std::numeric_limits<std::uint64_t>::max(), true,
                                            std::nullopt, thirty_days) == time_point::max());
    }
    SUBCASE("refresh_token_expired") {
        babelbird::token_grant grant;
        grant.refresh_token = babelbird::secret("R");
        CHECK_FALSE(babelbird::refresh_token_expired(grant, time_point::max())); // unknown
        grant.refresh_expires_at = t0 + thirty_days;
        CHECK_FALSE(babelbird::refresh_token_expired(grant, t0 + thirty_days - 1ns));
        CHECK(babelbird::refresh_token_expired(grant, t0 + thirty_days));
    }
}

TEST_CASE("expiry: the state of a grant") {
    babelbird::token_grant grant;
    grant.issued_at = t0;
    grant.expires_at = t0 + 3600s;
    // Seeded from a refresh token only: no access token is expired.
    CHECK(babelbird::token_state_at(grant, t0, policy) == token_state::expired);
    grant.access_token = babelbird::secret("A");
    CHECK(babelbird::token_state_at(grant, t0, policy) == token_state::fresh);
    CHECK(babelbird::token_state_at(grant, t0 + 3300s, policy) == token_state::refresh_soon);
    CHECK(babelbird::token_state_at(grant, t0 + 3599s, policy) == token_state::expired);
    // The default policy is 60 s of skew and 5 minutes of early refresh.
    CHECK(babelbird::token_state_at(grant, t0 + 3240s) == token_state::refresh_soon);
}

TEST_CASE("expiry: refresh() stamps times through the same policy functions") {
    ts::recording_transport transport;
    transport.answer =
        babelbird::http_response(200, R"({"access_token":"A","refresh_token":"R2"})");
    ts::fixed_clock clock;
    babelbird::client_options options;
    options.assumed_lifetime = 59s;
    options.refresh_token_lifetime = 7h;
    const auto grant = babelbird::refresh(transport, ts::credentials(), ts::server(),
                                          babelbird::secret_view("R"), options, clock);
    REQUIRE(grant);
    CHECK(grant->expires_at == clock.at + 59s);
    CHECK(grant->refresh_expires_at == clock.at + 7h);
    const auto w = babelbird::expiry_window_for(grant->issued_at, grant->expires_at, policy);
    CHECK(w.state_at(clock.at + 29s) == token_state::refresh_soon);
}

} // namespace test_expiry
