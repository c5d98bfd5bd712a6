// token_source under injected faults: timeouts, 5xx, resets, truncated bodies,
// slow answers and invalid_grant. For each fault: what callers observe, with and
// without a still-valid token, and that no rotated refresh token is ever lost
// (the next refresh sends the newest one received, and the hook stored it).
#include "token_support.hpp"

#include <doctest/doctest.h>

#include <chrono>
#include <stdexcept>
#include <string>
#include <vector>

// A namespace per file: the unit tests are compiled as unity chunks.
namespace test_token_source_faults {

using namespace std::chrono_literals;
namespace ts = test_support;

namespace {

using script_ref = ts::transport_ref<ts::scripted_transport>;
using source_t = babelbird::token_source<script_ref, ts::clock_ref>;

const babelbird::time_point t0 = babelbird::time_point(std::chrono::seconds(1'700'000'000));
const std::string full_body = R"({"access_token":"A9","refresh_token":"R9","expires_in":3600})";

struct fault {
    const char* name;
    ts::scripted_transport::step step;
    babelbird::error_class kind;
    babelbird::errc code;
};

babelbird::transport_result fail_with(babelbird::errc code) {
    return babelbird::error::transport(code);
}

std::vector<fault> faults(ts::fixed_clock& clock) {
    return {
        {"timeout",
         [](const babelbird::http_request&) { return fail_with(babelbird::errc::timeout); },
         babelbird::error_class::retry, babelbird::errc::timeout},
        {"connection refused",
         [](const babelbird::http_request&) {
             return fail_with(babelbird::errc::connection_refused);
         },
         babelbird::error_class::retry, babelbird::errc::connection_refused},
        {"connection reset",
         [](const babelbird::http_request&) {
             return fail_with(babelbird::errc::connection_reset);
         },
         babelbird::error_class::retry, babelbird::errc::connection_reset},
        {"partial body from the transport",
         [](const babelbird::http_request&) { return fail_with(babelbird::errc::partial_body); },
         babelbird::error_class::retry, babelbird::errc::partial_body},
        {"503 with an HTML page",
         [](const babelbird::http_request&) -> babelbird::transport_result {
             return babelbird::http_response(503, "<html>maintenance</html>");
         },
         babelbird::error_class::retry, babelbird::errc::unexpected_status},
        {"500 with an empty body",
         [](const babelbird::http_request&) -> babelbird::transport_result {
             return babelbird::http_response(500, "");
         },
         babelbird::error_class::retry, babelbird::errc::unexpected_status},
        {"429",
         [](const babelbird::http_request&) -> babelbird::transport_result {
             return babelbird::http_response(429, "");
         },
         babelbird::error_class::retry, babelbird::errc::unexpected_status},
        {"temporarily_unavailable",
         [](const babelbird::http_request&) -> babelbird::transport_result {
             return babelbird::http_response(400, R"({"error":"temporarily_unavailable"})");
         },
         babelbird::error_class::retry, babelbird::errc::oauth_error_response},
        {"truncated 200 body",
         [](const babelbird::http_request&) -> babelbird::transport_result {
             return babelbird::http_response(200, full_body.substr(0, 30));
         },
         babelbird::error_class::protocol, babelbird::errc::invalid_json},
        {"slow timeout (the clock moves 30 s during the call)",
         [&clock](const babelbird::http_request&) {
             clock.at += 30s;
             return fail_with(babelbird::errc::timeout);
         },
         babelbird::error_class::retry, babelbird::errc::timeout},
        {"invalid_grant",
         [](const babelbird::http_request&) -> babelbird::transport_result {
             return babelbird::http_response(400, R"({"error":"invalid_grant"})");
         },
         babelbird::error_class::reauthorize, babelbird::errc::oauth_error_response},
        {"invalid_client",
         [](const babelbird::http_request&) -> babelbird::transport_result {
             return babelbird::http_response(401, R"({"error":"invalid_client"})");
         },
         // docs/design.md "error classes": the server rejected the client itself.
         babelbird::error_class::configuration, babelbird::errc::oauth_error_response},
    };
}

/// A source whose first refresh rotates R0 -> R1 (stored by the hook), so every
/// fault below happens with a rotated refresh token in play.
struct rig {
    ts::scripted_transport transport;
    ts::fixed_clock clock;
    std::vector<std::string> stored{"R0"};
    source_t source;

    explicit rig(std::chrono::milliseconds backoff)
        : source(script_ref{&transport}, ts::credentials(), ts::server(),
                 babelbird::token_seed::from_refresh_token(babelbird::secret_view("R0")).value(),
                 options(backoff), ts::clock_ref{&clock}) {
        clock.at = t0;
        transport.then_answer(ts::token_answer("A1", "R1"));
        REQUIRE(source.get());
    }
    babelbird::token_source_options options(std::chrono::milliseconds backoff) {
        babelbird::token_source_options o;
        o.retry_backoff = backoff;
        o.on_rotate = [this](const babelbird::token_grant& g) {
            stored.emplace_back(g.refresh_token.expose_secret());
            return true;
        };
        return o;
    }
    std::string latest_refresh_token() {
        return std::string(source.current().grant().refresh_token.expose_secret());
    }
};

} // namespace

TEST_CASE("faults: without a valid token the caller gets the classified error") {
    ts::fixed_clock scratch;
    for (const auto& f : faults(scratch)) {
        CAPTURE(f.name);
        rig r(5s);
        auto list = faults(r.clock); // steps bound to this rig's clock
        const auto& step = [&]() -> const fault& {
            for (const auto& g : list) {
                if (std::string(g.name) == f.name) {
                    return g;
                }
            }
            return list.front();
        }();
        r.clock.at = t0 + 3600s; // A1 has expired
        r.transport.then(step.step);
        const auto got = r.source.get();
        REQUIRE_FALSE(got);
        CHECK(got.error().kind() == f.kind);
        CHECK(got.error().code() == f.code);
        CHECK(ts::remember(got.error()).find("R1") == std::string::npos);
        // Nothing is lost: R1 is still the token to send and the one stored.
        CHECK(r.latest_refresh_token() == "R1");
        CHECK(r.stored.back() == "R1");
        CHECK(r.transport.calls() == 2);

        // Asking again at once does not hammer the server.
        const auto again = r.source.get();
        REQUIRE_FALSE(again);
        CHECK(again.error() == got.error());
        CHECK(r.transport.calls() == 2);

        if (f.kind == babelbird::error_class::reauthorize ||
            f.kind == babelbird::error_class::configuration) {
            // Remembered until the caller re-seeds after a new authorization.
            r.clock.at += 24h;
            CHECK_FALSE(r.source.get());
            CHECK(r.transport.calls() == 2);
            r.source.reset(
                babelbird::token_seed::from_refresh_token(babelbird::secret_view("R-new")).value());
            r.transport.then_answer(ts::token_answer("A2", "R2"));
            REQUIRE(r.source.get());
            CHECK(r.transport.sent.back() == "R-new");
        } else {
            // After the backoff the next attempt sends R1 and recovers.
            r.clock.at += 60s;
            r.transport.then_answer(ts::token_answer("A2", "R2"));
            const auto recovered = r.source.get();
            REQUIRE(recovered);
            CHECK(recovered->access_token().expose_secret() == "A2");
            CHECK(r.transport.sent == std::vector<std::string>{"R0", "R1", "R1"});
            CHECK(r.stored == std::vector<std::string>{"R0", "R1", "R2"});
        }
    }
}

TEST_CASE("faults: with a still-valid token the caller keeps getting it") {
    ts::fixed_clock scratch;
    for (const auto& f : faults(scratch)) {
        CAPTURE(f.name);
        rig r(5s);
        auto list = faults(r.clock);
        for (const auto& g : list) {
            if (std::string(g.name) == f.name) {
                r.transport.then(g.step);
            }
        }
        r.clock.at = t0 + 3300s; // refresh-soon: A1 is valid until 3540 s
        const auto got = r.source.get();
        REQUIRE(got);
        CHECK(got->access_token().expose_secret() == "A1");
        CHECK(r.transport.calls() == 2);
        REQUIRE(r.source.last_error());
        CHECK(r.source.last_error()->kind() == f.kind);
        CHECK(r.latest_refresh_token() == "R1");
        // Still served, without calling the server again, until it expires.
        CHECK(r.source.get()->access_token().expose_secret() == "A1");
        CHECK(r.transport.calls() == 2);
        if (f.kind == babelbird::error_class::reauthorize ||
            f.kind == babelbird::error_class::configuration) { // both block
            r.clock.at = t0 + 3540s;
            const auto expired = r.source.get();
            REQUIRE_FALSE(expired);
            CHECK(expired.error().kind() == f.kind);
            CHECK(r.transport.calls() == 2);
        } else {
            r.clock.at = t0 + 3400s; // past the backoff, still valid
            r.transport.then_answer(ts::token_answer("A2", "R2"));
            CHECK(r.source.get()->access_token().expose_secret() == "A2");
            CHECK(r.transport.sent.back() == "R1");
            CHECK(r.stored.back() == "R2");
        }
    }
}

TEST_CASE("faults: every truncation of a valid answer is an error, never a lost token") {
    for (std::size_t n = 0; n < full_body.size(); ++n) {
        CAPTURE(n);
        rig r(0ms);
        r.clock.at = t0 + 3600s;
        r.transport.then_answer(babelbird::http_response(200, full_body.substr(0, n)));
        const auto got = r.source.get();
        REQUIRE_FALSE(got);
        CHECK(got.error().kind() == babelbird::error_class::protocol);
        CHECK(r.latest_refresh_token() == "R1");
        r.transport.then_answer(babelbird::http_response(200, full_body));
        REQUIRE(r.source.get());
        CHECK(r.transport.sent.back() == "R1");
        CHECK(r.stored.back() == "R9");
    }
}

TEST_CASE("faults: a slow answer is stamped from the reading before sending") {
    rig r(5s);
    r.clock.at = t0 + 3600s;
    const auto sent_at = r.clock.at;
    r.transport.then([&](const babelbird::http_request&) -> babelbird::transport_result {
        r.clock.at += 45s; // the answer takes 45 s
        return ts::token_answer("A2", "R2", 60);
    });
    // Pessimistic: the 60 s token counts as expired 30 s after it was requested
    // (skew capped at half the lifetime), which is already past when it
    // arrives: get() does not hand it out (docs/design.md, "tiny lifetimes"),
    // but the grant is adopted, stored and stamped from the reading before sending.
    const auto got = r.source.get();
    REQUIRE_FALSE(got);
    CHECK(got.error().code() == babelbird::errc::token_lifetime_too_short);
    CHECK(got.error().is_retryable());
    CHECK(r.stored.back() == "R2");
    const auto current = r.source.current();
    const auto& grant = current.grant();
    CHECK(grant.access_token.expose_secret() == "A2");
    CHECK(grant.issued_at == sent_at);
    CHECK(grant.expires_at == sent_at + 60s);
    CHECK(r.source.state_at(r.clock.at) == babelbird::token_state::expired);
    // 45 s after the last refresh started: past min_refresh_interval (30 s).
    r.transport.then_answer(ts::token_answer("A3", "R3"));
    CHECK(r.source.get()->access_token().expose_secret() == "A3");
    CHECK(r.transport.sent.back() == "R2");
}

TEST_CASE("faults: a slow refresh ahead that ends after the old token expired") {
    rig r(5s);
    r.clock.at = t0 + 3500s; // refresh-soon, 40 s of validity left
    r.transport.then([&](const babelbird::http_request&) {
        r.clock.at += 60s; // times out after the old token expired
        return fail_with(babelbird::errc::timeout);
    });
    const auto got = r.source.get();
    REQUIRE_FALSE(got); // the old token is not handed out once expired
    CHECK(got.error().code() == babelbird::errc::timeout);
    CHECK(r.latest_refresh_token() == "R1");
}

TEST_CASE("faults: a failing hook, then a transport fault: the unstored token is still used") {
    ts::scripted_transport transport;
    ts::fixed_clock clock;
    clock.at = t0;
    bool disk_ok = false;
    std::vector<std::string> stored;
    babelbird::token_source_options options;
    options.retry_backoff = 0ms;
    options.on_rotate = [&](const babelbird::token_grant& g) {
        if (disk_ok) {
            stored.emplace_back(g.refresh_token.expose_secret());
        }
        return disk_ok;
    };
    source_t source(script_ref{&transport}, ts::credentials(), ts::server(),
                    babelbird::token_seed::from_refresh_token(babelbird::secret_view("R0")).value(),
                    options, ts::clock_ref{&clock});
    transport.then_answer(ts::token_answer("A1", "R1"));
    REQUIRE(source.get());
    CHECK(source.persist_failed());
    clock.at += 2h;
    transport.then_fail(babelbird::errc::connection_reset);
    CHECK_FALSE(source.get());
    CHECK(source.persist_failed()); // still pending: R1
    disk_ok = true;
    CHECK(source.retry_persist());
    CHECK(stored == std::vector<std::string>{"R1"});
    transport.then_answer(ts::token_answer("A2", "R2"));
    REQUIRE(source.get());
    CHECK(transport.sent == std::vector<std::string>{"R0", "R1", "R1"});
    CHECK(stored == std::vector<std::string>{"R1", "R2"});
}

TEST_CASE("faults: an exhausted script (unexpected extra call) is visible, not silent") {
    rig r(5s);
    r.clock.at = t0 + 3600s;
    const auto got = r.source.get();
    REQUIRE_FALSE(got);
    CHECK(got.error().code() == babelbird::errc::transport_failure);
    CHECK(r.transport.exhausted == 1);
}

#if defined(__cpp_exceptions)
TEST_CASE("faults: a hook that throws on a salvaged token: state stays consistent") {
    ts::scripted_transport transport;
    ts::fixed_clock clock;
    clock.at = t0;
    bool explode = true;
    std::vector<std::string> stored;
    babelbird::token_source_options options;
    options.on_rotate = [&](const babelbird::token_grant& g) {
        if (explode) {
            throw std::runtime_error("disk on fire");
        }
        stored.emplace_back(g.refresh_token.expose_secret());
        return true;
    };
    babelbird::token_source<script_ref, ts::clock_ref> source(
        script_ref{&transport}, ts::credentials(), ts::server(),
        babelbird::token_seed::from_refresh_token(babelbird::secret_view("R0")).value(), options,
        ts::clock_ref{&clock});
    transport.then_answer(
        babelbird::http_response(200, R"({"access_token":"","refresh_token":"R1"})"));
    CHECK_THROWS_AS((void)source.get(), std::runtime_error);
    // The flight ended; the salvaged token is adopted and pending persistence.
    CHECK(source.persist_failed());
    CHECK(source.current().grant().refresh_token.expose_secret() == "R1");
    explode = false;
    CHECK(source.retry_persist());
    CHECK(stored == std::vector<std::string>{"R1"});
    clock.at += 2s; // past the backoff of the (protocol) failure
    transport.then_answer(ts::token_answer("A2", "R2"));
    const auto got = source.get();
    REQUIRE(got);
    CHECK(got->access_token().expose_secret() == "A2");
    CHECK(transport.sent == std::vector<std::string>{"R0", "R1"});
}
#endif

} // namespace test_token_source_faults
