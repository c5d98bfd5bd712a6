// The token lifecycle machine, scripted: each scenario is a sequence of events
// (at times relative to t0) and the exact actions each event must produce.
// docs/design.md, "Token lifecycle machine".
#include "token_support.hpp"

#include <doctest/doctest.h>

#include <chrono>
#include <optional>
#include <string>
#include <vector>

// A namespace per file: the unit tests are compiled as unity chunks.
namespace test_token_lifecycle_script {

using namespace std::chrono_literals;
namespace ts = test_support;
using babelbird::errc;
using babelbird::flight_id;
using babelbird::waiter_id;

namespace {

const babelbird::time_point t0 = babelbird::time_point(std::chrono::seconds(1'700'000'000));

/// One event, at seconds after t0.
struct event {
    enum kind_t { get, respond, persisted, invalidate, cancel, abandon, reset, retry_persist };
    kind_t kind;
    std::uint64_t id = 0; ///< the waiter (get, cancel) or the flight (respond, abandon)
    std::chrono::seconds at{};
    std::chrono::seconds done_at{}; ///< respond: completed_at
    babelbird::transport_result answer = babelbird::error::transport(errc::transport_failure);
    std::string token{};  ///< invalidate: the token seen; reset: "R" or "A/R" (a grant at `at`)
    bool durable = false; ///< persisted
};

event get(waiter_id w, std::chrono::seconds at) {
    return {event::get, w, at};
}
event respond(flight_id f, babelbird::transport_result r, std::chrono::seconds at,
              std::optional<std::chrono::seconds> done_at = std::nullopt) {
    return {event::respond, f, at, done_at.value_or(at), std::move(r)};
}
event persisted(bool durable) {
    event e{event::persisted};
    e.durable = durable;
    return e;
}
event invalidate(std::string token) {
    event e{event::invalidate};
    e.token = std::move(token);
    return e;
}
event cancel(waiter_id w) {
    return {event::cancel, w};
}
event abandon(flight_id f) {
    return {event::abandon, f};
}
event reset_to(std::string seed, std::chrono::seconds at) {
    event e{event::reset, 0, at};
    e.token = std::move(seed);
    return e;
}
event retry() {
    return {event::retry_persist};
}

/// The exact actions an event must produce; every field unnamed is "none".
struct actions {
    flight_id send = 0;       ///< the flight id of `send`, 0: no send
    const char* sends = "";   ///< with `send`: the refresh token the request carries
    const char* persist = ""; ///< "A/R": the persisted grant's tokens ("/R": salvaged)
    bool publish = false;
    std::vector<waiter_id> complete{};
    const char* token = "";                   ///< the outcome's access token, or
    std::optional<errc> error = std::nullopt; ///< the outcome's error
};

struct step {
    event what;
    actions then;
};

struct scenario {
    const char* name;
    const char* seed; ///< "R" (a refresh token) or "A/R" (a grant issued at t0, 3600 s)
    std::vector<step> steps;
    bool hook = true;                   ///< persist_before_publish
    std::chrono::seconds backoff = 10s; ///< retry_backoff (no jitter below 2x)
};

babelbird::token_seed seed_of(const std::string& text, babelbird::time_point at) {
    const auto slash = text.find('/');
    if (slash == std::string::npos) {
        return babelbird::token_seed::from_refresh_token(babelbird::secret_view(text)).value();
    }
    return babelbird::token_seed::from_grant(
               ts::stored_grant(text.substr(0, slash), text.substr(slash + 1), at, 3600s))
        .value();
}

std::string tokens_of(const babelbird::token_grant& g) {
    return std::string(g.access_token.expose_secret()) + "/" +
           std::string(g.refresh_token.expose_secret());
}

babelbird::lifecycle_actions fire(babelbird::token_lifecycle& m, const event& e) {
    switch (e.kind) {
    case event::get:
        return m.on_get(e.id, t0 + e.at);
    case event::respond:
        return m.on_response(e.id, e.answer, t0 + e.at, t0 + e.done_at);
    case event::persisted:
        return m.on_persisted(e.durable);
    case event::invalidate:
        return m.on_invalidate(babelbird::secret_view(e.token));
    case event::cancel:
        return m.on_cancel(e.id);
    case event::abandon:
        return m.on_abandon(e.id);
    case event::reset:
        return m.on_reset(seed_of(e.token, t0 + e.at), t0 + e.at);
    case event::retry_persist:
        return m.retry_persist();
    }
    return {};
}

void check(const babelbird::lifecycle_actions& got, const actions& want) {
    CHECK(got.send_flight.value_or(0) == want.send);
    CHECK(got.send.has_value() == (want.send != 0));
    if (got.send) {
        CHECK(ts::sent_refresh_token(*got.send) == want.sends);
    }
    CHECK((got.persist ? tokens_of(*got.persist) : std::string()) == want.persist);
    CHECK(got.publish == want.publish);
    CHECK(got.complete == want.complete);
    const bool completes = !want.complete.empty();
    CHECK(got.outcome.has_value() == completes);
    if (got.outcome && completes) {
        if (want.error) {
            REQUIRE_FALSE(*got.outcome);
            CHECK(got.outcome->error().code() == *want.error);
        } else {
            REQUIRE(*got.outcome);
            CHECK((**got.outcome)->access_token.expose_secret() == want.token);
        }
    }
}

void play(const scenario& s) {
    babelbird::token_lifecycle_options options;
    options.persist_before_publish = s.hook;
    options.retry_backoff = s.backoff;
    options.max_retry_backoff = s.backoff; // no jitter: exact instants
    babelbird::token_lifecycle m(ts::credentials(), ts::server(), seed_of(s.seed, t0), options);
    int n = 0;
    for (const auto& st : s.steps) {
        CAPTURE(std::string(s.name));
        CAPTURE(n);
        check(fire(m, st.what), st.then);
        ++n;
    }
}

babelbird::transport_result ok(std::string_view access, std::string_view refresh,
                               long expires_in = 3600) {
    return ts::token_answer(access, refresh, expires_in);
}
babelbird::transport_result fails(errc code) {
    return babelbird::error::transport(code);
}
babelbird::transport_result body(int status, std::string text) {
    return babelbird::http_response(status, std::move(text));
}

// The seed "A0/R0" is fresh until 3240 s, refresh-soon until 3540 s, then expired.
const std::vector<scenario> scenarios = {
    {"cold start: the first get sends; persisted, then published and served",
     "R0",
     {
         {get(1, 0s), {.send = 1, .sends = "R0"}},
         {respond(1, ok("A1", "R1"), 0s), {.persist = "A1/R1"}},
         {persisted(true), {.publish = true, .complete = {1}, .token = "A1"}},
         {get(2, 60s), {.complete = {2}, .token = "A1"}},
     }},
    {"cold start without a hook: published and served at the answer",
     "R0",
     {
         {get(1, 0s), {.send = 1, .sends = "R0"}},
         {respond(1, ok("A1", "R1"), 0s), {.publish = true, .complete = {1}, .token = "A1"}},
         {persisted(true), {}},
     },
     false},
    {"5 concurrent gets: one send, all 5 completed by the one answer",
     "R0",
     {
         {get(1, 0s), {.send = 1, .sends = "R0"}},
         {get(2, 0s), {}},
         {get(3, 0s), {}},
         {get(4, 1s), {}},
         {get(5, 1s), {}},
         {respond(1, ok("A1", "R1"), 0s, 2s), {.persist = "A1/R1"}},
         {get(6, 2s), {}}, // still persisting: joins
         {persisted(true), {.publish = true, .complete = {1, 2, 3, 4, 5, 6}, .token = "A1"}},
     }},
    {"refresh ahead: the caller joins the flight, everyone else gets the old token",
     "A0/R0",
     {
         {get(1, 3239s), {.complete = {1}, .token = "A0"}},
         {get(2, 3300s), {.send = 1, .sends = "R0"}},
         {get(3, 3301s), {.complete = {3}, .token = "A0"}},
         {respond(1, ok("A1", "R1"), 3300s, 3302s), {.persist = "A1/R1"}},
         {get(4, 3302s), {.complete = {4}, .token = "A0"}}, // not before it is durable
         {persisted(true), {.publish = true, .complete = {2}, .token = "A1"}},
         {get(5, 3303s), {.complete = {5}, .token = "A1"}},
     }},
    {"refresh ahead fails: the caller and everyone get the old token until it expires",
     "A0/R0",
     {
         {get(1, 3300s), {.send = 1, .sends = "R0"}},
         {respond(1, fails(errc::timeout), 3300s),
          {.publish = true, .complete = {1}, .token = "A0"}},
         {get(2, 3309s), {.complete = {2}, .token = "A0"}}, // backing off: no send
         {get(3, 3310s), {.send = 2, .sends = "R0"}},
         {get(4, 3540s), {}}, // expired meanwhile: waits
         {respond(2, fails(errc::timeout), 3310s, 3540s),
          {.publish = true, .complete = {3, 4}, .error = errc::timeout}},
     }},
    {"failure fan-out: the same error to every waiter, then the backoff",
     "R0",
     {
         {get(1, 0s), {.send = 1, .sends = "R0"}},
         {get(2, 0s), {}},
         {get(3, 1s), {}},
         {respond(1, fails(errc::connection_reset), 0s, 1s),
          {.publish = true, .complete = {1, 2, 3}, .error = errc::connection_reset}},
         {get(4, 10s), {.complete = {4}, .error = errc::connection_reset}},
         {get(5, 11s), {.send = 2, .sends = "R0"}},
         {respond(2, ok("A1", "R1"), 11s), {.persist = "A1/R1"}},
         {persisted(true), {.publish = true, .complete = {5}, .token = "A1"}},
     }},
    {"backoff: Retry-After beyond the backoff; no send before it, a send at it",
     "R0",
     {
         {get(1, 0s), {.send = 1, .sends = "R0"}},
         {respond(1, body(503, ""), 0s),
          {.publish = true, .complete = {1}, .error = errc::unexpected_status}},
         {get(2, 9s), {.complete = {2}, .error = errc::unexpected_status}},
         {get(3, 10s), {.send = 2, .sends = "R0"}},
         {respond(2, babelbird::error::transport(errc::timeout).with_retry_after(60s), 10s),
          {.publish = true, .complete = {3}, .error = errc::timeout}},
         {get(4, 69s), {.complete = {4}, .error = errc::timeout}},
         {get(5, 70s), {.send = 3, .sends = "R0"}},
     }},
    {"invalidate: a stale token is ignored, the current one makes the next get send",
     "A0/R0",
     {
         {invalidate("A-old"), {}},
         {invalidate(""), {}},
         {get(1, 10s), {.complete = {1}, .token = "A0"}},
         {invalidate("A0"), {.publish = true}},
         {invalidate("A0"), {}}, // N reports, one refresh
         {get(2, 11s), {.send = 1, .sends = "R0"}},
         {get(3, 11s), {}},
         {invalidate("A0"), {}},
         {respond(1, ok("A1", "R1"), 11s), {.persist = "A1/R1"}},
         {persisted(true), {.publish = true, .complete = {2, 3}, .token = "A1"}},
         {invalidate("A0"), {}}, // late report about the replaced token
         {get(4, 12s), {.complete = {4}, .token = "A1"}},
     }},
    {"persist failure: used anyway, retry_persist() until durable",
     "R0",
     {
         {get(1, 0s), {.send = 1, .sends = "R0"}},
         {respond(1, ok("A1", "R1"), 0s), {.persist = "A1/R1"}},
         {persisted(false), {.publish = true, .complete = {1}, .token = "A1"}},
         {retry(), {.persist = "A1/R1"}},
         {retry(), {}}, // one at a time
         {persisted(false), {}},
         {retry(), {.persist = "A1/R1"}},
         {persisted(true), {}},
         {retry(), {}}, // nothing pending
     }},
    {"a flight that ends during retry_persist(): its persist waits, then supersedes",
     "R0",
     {
         {get(1, 0s), {.send = 1, .sends = "R0"}},
         {respond(1, ok("A1", "R1"), 0s), {.persist = "A1/R1"}},
         {persisted(false), {.publish = true, .complete = {1}, .token = "A1"}},
         {retry(), {.persist = "A1/R1"}},
         {invalidate("A1"), {.publish = true}},
         {get(2, 1s), {.send = 2, .sends = "R1"}},
         {respond(2, ok("A2", "R2"), 1s), {}}, // queued behind the outstanding persist
         {get(3, 2s), {}},
         {persisted(false), {.persist = "A2/R2"}},
         {persisted(true), {.publish = true, .complete = {2, 3}, .token = "A2"}},
         {retry(), {}}, // the newer grant is durable: nothing pending
     }},
    {"salvage: the new refresh token is persisted, adopted and sent; the old never again",
     "A0/RT1",
     {
         {get(1, 3600s), {.send = 1, .sends = "RT1"}},
         {respond(1, body(200, R"({"access_token":"","refresh_token":"RT2"})"), 3600s),
          {.persist = "/RT2"}},
         {get(2, 3600s), {}},
         {persisted(true), {.publish = true, .complete = {1, 2}, .error = errc::invalid_token}},
         {get(3, 3601s), {.complete = {3}, .error = errc::invalid_token}}, // backing off
         {get(4, 3610s), {.send = 2, .sends = "RT2"}},
         {respond(2, ok("A3", ""), 3610s), {.persist = "A3/RT2"}},
         {persisted(true), {.publish = true, .complete = {4}, .token = "A3"}},
         {invalidate("A3"), {.publish = true}},
         {get(5, 3611s), {.send = 3, .sends = "RT2"}},
     }},
    {"salvage during a refresh ahead: the old access token with the new refresh token",
     "A0/RT1",
     {
         {get(1, 3300s), {.send = 1, .sends = "RT1"}},
         {respond(1, body(200, R"({"access_token":" A1","refresh_token":"RT2"})"), 3300s),
          {.persist = "/RT2"}},
         {persisted(true), {.publish = true, .complete = {1}, .token = "A0"}},
         {get(2, 3310s), {.send = 2, .sends = "RT2"}},
     }},
    {"reset during a flight: the waiters are served under the new seed; the stale answer is "
     "ignored",
     "R0",
     {
         {get(1, 0s), {.send = 1, .sends = "R0"}},
         {get(2, 0s), {}},
         {reset_to("A9/R9", 1s), {.publish = true, .complete = {1, 2}, .token = "A9"}},
         {respond(1, ok("A1", "R1"), 0s, 2s), {}},
         {persisted(true), {}},
         {get(3, 3s), {.complete = {3}, .token = "A9"}},
     }},
    {"reset to a refresh token during a flight: a new flight, the old answer ignored",
     "R0",
     {
         {get(1, 0s), {.send = 1, .sends = "R0"}},
         {reset_to("R9", 1s), {.send = 2, .sends = "R9", .publish = true}},
         {respond(1, ok("A1", "R1"), 0s, 2s), {}},
         {abandon(1), {}},
         {respond(2, ok("A9", "R10"), 1s, 2s), {.persist = "A9/R10"}},
         {persisted(true), {.publish = true, .complete = {1}, .token = "A9"}},
     }},
    {"reset while the flight persists: the late persist report changes nothing",
     "R0",
     {
         {get(1, 0s), {.send = 1, .sends = "R0"}},
         {respond(1, ok("A1", "R1"), 0s), {.persist = "A1/R1"}},
         {reset_to("A9/R9", 1s), {.publish = true, .complete = {1}, .token = "A9"}},
         {persisted(false), {}},
         {retry(), {}}, // nothing pending: the reset forgot it
         {get(2, 2s), {.complete = {2}, .token = "A9"}},
     }},
    {"cancel: one waiter leaves, the flight and the others go on",
     "R0",
     {
         {get(1, 0s), {.send = 1, .sends = "R0"}},
         {get(2, 0s), {}},
         {get(3, 0s), {}},
         {cancel(2), {}},
         {cancel(7), {}}, // unknown: ignored
         {respond(1, ok("A1", "R1"), 0s), {.persist = "A1/R1"}},
         {persisted(true), {.publish = true, .complete = {1, 3}, .token = "A1"}},
     }},
    {"cancel of every waiter: the flight still ends, its grant is still used",
     "R0",
     {
         {get(1, 0s), {.send = 1, .sends = "R0"}},
         {cancel(1), {}},
         {respond(1, ok("A1", "R1"), 0s), {.persist = "A1/R1"}},
         {persisted(true), {.publish = true}},
         {get(2, 1s), {.complete = {2}, .token = "A1"}},
     }},
    {"abandon: the waiters get transport_failure, no backoff, a stale answer is ignored",
     "R0",
     {
         {get(1, 0s), {.send = 1, .sends = "R0"}},
         {get(2, 0s), {}},
         {abandon(2), {}}, // not the flight
         {abandon(1), {.publish = true, .complete = {1, 2}, .error = errc::transport_failure}},
         {abandon(1), {}},
         {respond(1, ok("A1", "R1"), 0s), {}},
         {get(3, 0s), {.send = 2, .sends = "R0"}},
     }},
    {"abandon of a refresh ahead: the old token while usable",
     "A0/R0",
     {
         {get(1, 3300s), {.send = 1, .sends = "R0"}},
         {abandon(1), {.publish = true, .complete = {1}, .token = "A0"}},
         {get(2, 3301s), {.send = 2, .sends = "R0"}},
     }},
    {"a blocked class: no send ever again until reset",
     "A0/R0",
     {
         {get(1, 3300s), {.send = 1, .sends = "R0"}},
         {respond(1, body(400, R"({"error":"invalid_grant"})"), 3300s),
          {.publish = true, .complete = {1}, .token = "A0"}},
         {get(2, 3400s), {.complete = {2}, .token = "A0"}},
         {get(3, 3540s), {.complete = {3}, .error = errc::oauth_error_response}},
         {get(4, 1000000s), {.complete = {4}, .error = errc::oauth_error_response}},
         {invalidate("A0"), {.publish = true}},
         {get(5, 1000001s), {.complete = {5}, .error = errc::oauth_error_response}},
         {reset_to("R-new", 1000002s), {.publish = true}},
         {get(6, 1000002s), {.send = 2, .sends = "R-new"}},
     }},
    {"tiny lifetime: a token that arrives expired goes to nobody; no refresh storm",
     "R0",
     {
         {get(1, 0s), {.send = 1, .sends = "R0"}},
         {respond(1, ok("A1", "R1", 0), 0s), {.persist = "A1/R1"}},
         {persisted(true),
          {.publish = true, .complete = {1}, .error = errc::token_lifetime_too_short}},
         {get(2, 29s), {.complete = {2}, .error = errc::token_lifetime_too_short}},
         {get(3, 30s), {.send = 2, .sends = "R1"}},
     }},
    {"stale events with nothing in progress are ignored",
     "A0/R0",
     {
         {respond(1, ok("A1", "R1"), 0s), {}},
         {persisted(true), {}},
         {abandon(1), {}},
         {cancel(1), {}},
         {retry(), {}},
         {get(1, 0s), {.complete = {1}, .token = "A0"}},
     }},
};

} // namespace

TEST_CASE("token_lifecycle script: every event produces exactly the expected actions") {
    for (const auto& s : scenarios) {
        play(s);
    }
    CHECK(scenarios.size() >= 20);
}

} // namespace test_token_lifecycle_script
