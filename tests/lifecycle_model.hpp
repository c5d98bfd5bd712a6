// A model of the world around a token_lifecycle machine (a server that rotates
// refresh tokens, a transport, a store, waiters and a monotonic clock) that
// feeds the machine random, mostly legal event scripts and checks the
// documented invariants after every event (docs/design.md, "Token lifecycle
// machine"). Shared by tests/test_token_lifecycle_random.cpp (seeded) and
// fuzz/fuzz_token_lifecycle.cpp (the script read from the fuzz input), so it
// depends on nothing but the library.
//
// The choices come from a `Source` with `std::uint64_t below(std::uint64_t n)`
// (a value in [0, n)) and `bool exhausted()`. The first broken invariant stops
// the run; `violation` then names it, with the event number, and `trace` (when
// enabled) lists every event up to it.
#pragma once

#include <babelbird/babelbird.hpp>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace lifecycle_model {

using babelbird::flight_id;
using babelbird::time_point;
using babelbird::waiter_id;
using namespace std::chrono_literals;

inline const time_point t0 = time_point(std::chrono::seconds(1'700'000'000));

/// splitmix64: the seeded source of the randomized test (the same on every
/// platform, unlike the standard distributions).
struct seeded_source {
    std::uint64_t state;
    explicit seeded_source(std::uint64_t seed) : state(seed) {}
    std::uint64_t next() {
        std::uint64_t z = (state += 0x9e3779b97f4a7c15u);
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
        return z ^ (z >> 31);
    }
    std::uint64_t below(std::uint64_t n) { return n == 0 ? 0 : next() % n; }
    bool exhausted() const { return false; }
};

/// The fuzz input as the source: each choice takes one byte (two above 256
/// choices); an exhausted input gives 0s and ends the script.
struct byte_source {
    const std::uint8_t* data;
    std::size_t size;
    std::size_t at = 0;
    std::uint64_t below(std::uint64_t n) {
        if (n <= 1) {
            return 0;
        }
        std::uint64_t v = at < size ? data[at++] : 0;
        if (n > 256) {
            v = (v << 8) | (at < size ? data[at++] : 0);
        }
        return v % n;
    }
    bool exhausted() const { return at >= size; }
};

/// How one run configures the machine.
struct setup {
    bool persist = true;
    std::chrono::milliseconds retry_backoff{10000};
    std::chrono::milliseconds max_retry_backoff{60000};
    std::chrono::milliseconds min_refresh_interval{30000};
    babelbird::expiry_policy expiry{};
    std::uint64_t jitter_seed = 0;
    /// Small clock steps and mostly successful answers: long-lived tokens,
    /// refresh-ahead and crowded flights rather than a machine that is blocked
    /// or backing off most of the time.
    bool calm = false;
};

template <class Source>
setup choose_setup(Source& src) {
    setup s;
    s.persist = src.below(4) != 0;
    constexpr std::chrono::milliseconds backoffs[] = {0ms, 1000ms, 10000ms, -5ms};
    s.retry_backoff = backoffs[src.below(4)];
    constexpr std::chrono::milliseconds caps[] = {0ms, 4000ms, 60000ms, 300000ms};
    s.max_retry_backoff = caps[src.below(4)];
    constexpr std::chrono::milliseconds intervals[] = {0ms, 5000ms, 30000ms, -1ms};
    s.min_refresh_interval = intervals[src.below(4)];
    switch (src.below(3)) {
    case 0:
        break; // 60 s skew, 300 s ahead
    case 1:
        s.expiry = {0s, 0s};
        break;
    default:
        s.expiry = {5s, 20s};
        break;
    }
    s.jitter_seed = src.below(1000);
    s.calm = src.below(2) == 0;
    return s;
}

inline std::string describe(const setup& s) {
    return "persist=" + std::to_string(s.persist) +
           " backoff=" + std::to_string(s.retry_backoff.count()) +
           "ms cap=" + std::to_string(s.max_retry_backoff.count()) +
           "ms interval=" + std::to_string(s.min_refresh_interval.count()) +
           "ms skew=" + std::to_string(s.expiry.skew_margin.count()) +
           "s ahead=" + std::to_string(s.expiry.refresh_ahead.count()) + "s" +
           (s.calm ? " calm" : "");
}

inline std::string seconds_after_t0(time_point t) {
    return std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(t - t0).count()) +
           "ms";
}

/// One run: the world, the machine and the checks.
class world {
public:
    explicit world(setup s, bool tracing = false)
        : setup_(s), tracing_(tracing), machine_(make_machine(s)) {}

    std::optional<std::string> violation;
    std::vector<std::string> trace;
    std::size_t events = 0;
    /// What the run exercised (for the test's coverage check).
    struct counters {
        std::size_t sends = 0, successes = 0, salvages = 0, blocking = 0, transient = 0,
                    persists = 0, queued = 0, failed_persists = 0, tokens = 0, errors = 0,
                    joined = 0, resets = 0, abandons = 0, invalidations = 0, cancels = 0, ahead = 0;
    } count;

    /// Plays up to `steps` random events, then drains (answers every send and
    /// persist) and checks that nobody is left waiting.
    template <class Source>
    void play(Source& src, std::size_t steps) {
        for (std::size_t i = 0; i < steps && !violation && !src.exhausted(); ++i) {
            step(src);
        }
        drain();
    }

    /// For the test of the model itself: the server says `rt` was retired.
    void retire_for_test(std::string rt) { retired_.insert(std::move(rt)); }

private:
    struct flight_rec {
        flight_id id = 0;
        time_point issued_at{};
        std::string sent;
    };
    enum class mphase { idle, sending, persisting };
    enum class pkind { none, flight, retry, stale };
    /// A flight's answer that the machine holds until its persist is reported.
    struct staged_rec {
        std::string refresh; ///< the refresh token it carries (rotated or kept)
        std::string access;  ///< empty for a salvaged grant
        time_point completed_at{};
    };
    /// What the model expects of the machine's backoff after a transient failure.
    struct backoff_rec {
        time_point lo{}; ///< no send before this
        time_point hi{}; ///< retry_not_before() at most this
    };
    /// How an answer is classified (what the model expects the machine to do).
    enum class verdict { success, salvage, blocking, transient };

    static babelbird::token_lifecycle make_machine(const setup& s) {
        babelbird::token_lifecycle_options o;
        o.persist_before_publish = s.persist;
        o.retry_backoff = s.retry_backoff;
        o.max_retry_backoff = s.max_retry_backoff;
        o.min_refresh_interval = s.min_refresh_interval;
        o.expiry = s.expiry;
        o.jitter_seed = s.jitter_seed;
        return babelbird::token_lifecycle(
            babelbird::client_credentials::make("model-client", "cs_model_secret").value(),
            babelbird::endpoint::make("https://disk.example.com/babel").value(),
            babelbird::token_seed::from_refresh_token(babelbird::secret_view("rt_0_secret"))
                .value(),
            o);
    }

    // --- the world ------------------------------------------------------------

    setup setup_;
    bool tracing_;
    babelbird::token_lifecycle machine_;
    time_point now_ = t0;
    std::uint64_t serial_ = 0;

    // The server: the newest refresh token it issued, and those it retired.
    std::string server_rt_ = "rt_0_secret";
    std::set<std::string> retired_;
    std::vector<std::string> old_access_; ///< every access token issued

    // The machine as the model sees it.
    mphase phase_ = mphase::idle;
    std::optional<flight_rec> live_;
    std::vector<flight_rec> dropped_; ///< flights whose answers will be ignored
    flight_id last_flight_ = 0;
    pkind persist_ = pkind::none;
    std::shared_ptr<const babelbird::token_grant> persist_grant_;
    std::shared_ptr<const babelbird::token_grant> pending_; ///< pending_persist()
    bool queued_ = false; ///< a flight's persist waits behind another one
    std::optional<staged_rec> staged_;
    std::map<waiter_id, time_point> waiting_; ///< joined a flight: waiter -> its reading
    std::set<waiter_id> cancelled_;
    waiter_id next_waiter_ = 1;
    time_point flight_latest_ = time_point::min();
    std::set<std::string> rejected_;    ///< access tokens invalidated while current
    std::set<std::string> unpersisted_; ///< access or rotated refresh tokens not yet reported
    bool blocked_ = false;
    std::optional<backoff_rec> backoff_;
    std::uint32_t failures_ = 0;
    std::optional<time_point> last_success_issued_;

    // --- checks ---------------------------------------------------------------

    void fail(const std::string& what) {
        if (!violation) {
            violation = "event " + std::to_string(events) + ": " + what;
        }
    }
#define LM_CHECK(cond, what)                                                                       \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fail(std::string(what) + " [" #cond "]");                                              \
            return;                                                                                \
        }                                                                                          \
    } while (0)

    void note(const std::string& text) {
        if (tracing_) {
            trace.push_back(std::to_string(events) + " @" + seconds_after_t0(now_) + " " + text);
        }
    }

    std::string next_serial() {
        return std::to_string(++serial_);
    }

    static std::string rt_of(const babelbird::token_grant& g) {
        return std::string(g.refresh_token.expose_secret());
    }
    static std::string at_of(const babelbird::token_grant& g) {
        return std::string(g.access_token.expose_secret());
    }
    static std::string sent_rt(const babelbird::http_request& r) {
        const auto at = r.url.find("refresh_token=");
        return at == std::string::npos ? std::string() : r.url.substr(at + 14);
    }

    bool usable(const babelbird::token_grant& g, time_point at) const {
        return !g.access_token.empty() &&
               babelbird::token_state_at(g, at, setup_.expiry) != babelbird::token_state::expired;
    }

    /// No error message may carry a token, a code or the client secret.
    void check_message(const babelbird::error& e) {
        const std::string m = e.message();
        LM_CHECK(m.find("_secret") == std::string::npos, "a secret in an error message: " + m);
    }

    struct snapshot {
        std::shared_ptr<const babelbird::token_grant> current;
        babelbird::expiry_window window;
        bool rejected;
        time_point next_attempt;
    };
    snapshot snap() const {
        return {machine_.current(), machine_.window(), machine_.rejected(),
                machine_.next_attempt()};
    }

    /// The checks that hold after every event, whatever it was.
    void check_state() {
        const auto& cur = *machine_.current();
        LM_CHECK(machine_.current() != nullptr, "current() is null");
        // The newest refresh token the server issued is held somewhere.
        std::set<std::string> holders{rt_of(cur)};
        if (machine_.pending_persist()) {
            holders.insert(rt_of(*machine_.pending_persist()));
        }
        if (persist_grant_) {
            holders.insert(rt_of(*persist_grant_));
        }
        if (staged_) {
            holders.insert(staged_->refresh);
        }
        LM_CHECK(holders.count(server_rt_) != 0, "the newest refresh token is lost");
        // Nothing becomes current before its persist was reported.
        LM_CHECK(unpersisted_.count(at_of(cur)) == 0 && unpersisted_.count(rt_of(cur)) == 0,
                 "current() holds a grant whose persist was not reported");
        if (!cur.access_token.empty()) {
            LM_CHECK(machine_.window() ==
                         babelbird::expiry_window_for(cur.issued_at, cur.expires_at, setup_.expiry),
                     "window() is not the policy's window of current()");
        }
        LM_CHECK(machine_.rejected() == (rejected_.count(at_of(cur)) != 0),
                 "rejected() differs from the invalidations of current()");
        // The flight, the waiters and the persist, as the model sees them.
        LM_CHECK(machine_.in_flight() == (phase_ != mphase::idle), "in_flight() differs");
        if (live_) {
            LM_CHECK(machine_.flight() == live_->id, "flight() is not the flight sent");
        }
        LM_CHECK(machine_.persisting() == (persist_ != pkind::none), "persisting() differs");
        LM_CHECK(machine_.pending_persist() == pending_, "pending_persist() differs");
        LM_CHECK(machine_.persist_failed() == (pending_ != nullptr), "persist_failed() differs");
        std::vector<waiter_id> mine;
        for (const auto& [w, at] : waiting_) {
            mine.push_back(w);
        }
        std::vector<waiter_id> theirs = machine_.waiters();
        std::sort(theirs.begin(), theirs.end());
        LM_CHECK(mine == theirs, "waiters() differs from the waiters that joined");
        LM_CHECK(phase_ != mphase::idle || waiting_.empty(), "waiters without a flight");
        if (blocked_) {
            LM_CHECK(machine_.blocked(), "a blocking failure did not block");
        }
        if (phase_ == mphase::idle) {
            LM_CHECK(machine_.consecutive_failures() == failures_,
                     "consecutive_failures() differs");
            if (backoff_ && !blocked_) {
                LM_CHECK(machine_.retry_not_before() >= backoff_->lo &&
                             machine_.retry_not_before() <= backoff_->hi,
                         "retry_not_before() outside [max(backoff, Retry-After), cap]");
            }
        }
        if (!setup_.persist) {
            LM_CHECK(!machine_.persisting() && !machine_.pending_persist(),
                     "a persist without persist_before_publish");
        }
    }

    /// The checks on one event's actions. `readings`: the reading of each
    /// waiter that may be completed; `done_at`: the completion reading (the
    /// answer's `completed_at`, the reset's `now`, or none).
    void check_actions(const babelbird::lifecycle_actions& a, const snapshot& before,
                       std::optional<time_point> done_at) {
        LM_CHECK(a.send.has_value() == a.send_flight.has_value(), "send without its flight id");
        LM_CHECK(!(a.send && a.persist), "send and persist together");
        if (a.persist) {
            LM_CHECK(!a.publish && a.complete.empty() && !a.outcome,
                     "a set with persist holds something else");
            LM_CHECK(setup_.persist, "persist without persist_before_publish");
            LM_CHECK(persist_ == pkind::none, "a second persist while one is outstanding");
        }
        LM_CHECK(a.outcome.has_value() == !a.complete.empty(), "outcome without completions");
        if (tracing_) {
            std::string text = "  ->";
            if (a.publish) {
                text += " publish";
            }
            if (a.persist) {
                text += " persist " + at_of(*a.persist) + "/" + rt_of(*a.persist);
            }
            for (const waiter_id w : a.complete) {
                text += " complete " + std::to_string(w);
            }
            if (a.outcome) {
                text += *a.outcome ? " with " + at_of(***a.outcome)
                                   : " with error " + a.outcome->error().message();
            }
            if (text.size() > 4) {
                note(text);
            }
        }
        // publish whenever the snapshot changed; next_attempt() alone may change
        // when a flight starts (it is max while in flight).
        const snapshot after = snap();
        if (after.current != before.current || !(after.window == before.window) ||
            after.rejected != before.rejected) {
            LM_CHECK(a.publish, "the snapshot changed without publish");
        }
        if (after.next_attempt != before.next_attempt && !a.publish) {
            LM_CHECK(a.send.has_value(), "next_attempt() changed without publish or send");
        }
        // Completions: each waiter once, never a cancelled or unknown one.
        time_point latest = done_at.value_or(time_point::min());
        for (const waiter_id w : a.complete) {
            LM_CHECK(cancelled_.count(w) == 0, "a cancelled waiter was completed");
            const auto it = waiting_.find(w);
            LM_CHECK(it != waiting_.end(), "a waiter completed twice, or unknown");
            latest = std::max(latest, it->second);
        }
        if (a.outcome) {
            if (*a.outcome) {
                const auto& g = ***a.outcome;
                LM_CHECK(**a.outcome == machine_.current(), "the outcome is not current()");
                LM_CHECK(unpersisted_.count(at_of(g)) == 0,
                         "a token handed out before its persist was reported");
                LM_CHECK(rejected_.count(at_of(g)) == 0, "a rejected token handed out");
                for (const waiter_id w : a.complete) {
                    LM_CHECK(usable(g, waiting_.at(w)),
                             "a token expired at the waiter's own reading");
                }
                if (done_at) {
                    LM_CHECK(usable(g, *done_at), "a token expired at the completion reading");
                }
            } else {
                check_message(a.outcome->error());
                if (violation) {
                    return;
                }
                // Never a needless failure: the token is not usable at the
                // flight's latest reading.
                LM_CHECK(!machine_.usable_at(std::max(latest, flight_latest_)),
                         "waiters failed although current() is usable");
            }
        }
        for (const waiter_id w : a.complete) {
            waiting_.erase(w);
            ++(a.outcome && *a.outcome ? count.tokens : count.errors);
        }
        if (a.persist) {
            ++count.persists;
        }
        if (a.publish && !a.complete.empty() && waiting_.empty()) {
            flight_latest_ = time_point::min();
        }
    }

    /// The checks on a `send`, then the model records the flight.
    void on_send(const babelbird::lifecycle_actions& a, const snapshot& before,
                 time_point reading) {
        if (!a.send) {
            return;
        }
        const std::string rt = sent_rt(*a.send);
        LM_CHECK(!live_, "a second send while one is outstanding");
        LM_CHECK(*a.send_flight > last_flight_, "flight ids do not increase");
        LM_CHECK(!rt.empty(), "a send without a refresh token");
        LM_CHECK(retired_.count(rt) == 0, "a retired refresh token was sent again");
        LM_CHECK(rt == rt_of(*machine_.current()), "the send does not carry current()'s token");
        LM_CHECK(!blocked_, "a send after a blocking failure, before a reset");
        LM_CHECK(persist_ == pkind::none || persist_ == pkind::retry || persist_ == pkind::stale,
                 "a send while the flight's own persist is outstanding");
        if (backoff_) {
            LM_CHECK(reading >= backoff_->lo, "a send before the backoff ended");
        }
        const bool rejected = rejected_.count(at_of(*before.current)) != 0;
        if (last_success_issued_ && !rejected) {
            LM_CHECK(reading >= babelbird::detail::add_ticks_saturating(
                                    *last_success_issued_, babelbird::detail::saturating_ticks(
                                                               setup_.min_refresh_interval)),
                     "a clock-started send inside min_refresh_interval");
        }
        ++count.sends;
        if (usable(*before.current, reading) && !rejected) {
            ++count.ahead; // a refresh ahead: the old token was still served
        }
        last_flight_ = *a.send_flight;
        live_ = flight_rec{*a.send_flight, now_, rt};
        phase_ = mphase::sending;
        note("  -> send flight " + std::to_string(*a.send_flight) + " with " + rt);
    }

    /// A sufficient condition for `on_get` to send: checks the machine is not
    /// stuck (expired token, nothing in the way).
    bool must_send_at(time_point at) const {
        const auto& cur = *machine_.current();
        if (phase_ != mphase::idle || blocked_ || cur.refresh_token.empty()) {
            return false;
        }
        if (usable(cur, at) && rejected_.count(at_of(cur)) == 0) {
            return false;
        }
        if (backoff_ && at < backoff_->hi) {
            return false;
        }
        if (last_success_issued_ &&
            at < babelbird::detail::add_ticks_saturating(
                     *last_success_issued_,
                     babelbird::detail::saturating_ticks(setup_.min_refresh_interval))) {
            return false;
        }
        return true;
    }

    // --- events ---------------------------------------------------------------

    template <class Source>
    void step(Source& src) {
        ++events;
        advance(src);
        if (setup_.calm && blocked_ && src.below(3) == 0) {
            reset(src); // calm: the user signs in again soon
            if (!violation) {
                check_state();
            }
            return;
        }
        switch (src.below(20)) {
        case 0:
        case 1:
        case 2:
        case 3:
        case 4:
            get(src);
            break;
        case 5:
        case 6:
        case 7:
        case 8:
            respond(src);
            break;
        case 9:
        case 10:
            persisted(src);
            break;
        case 11:
        case 12:
            invalidate(src);
            break;
        case 13:
            cancel(src);
            break;
        case 14:
            abandon(src);
            break;
        case 15:
            if (!setup_.calm || src.below(4) == 0) {
                reset(src);
            } else {
                get(src);
            }
            break;
        case 16:
            retry_persist();
            break;
        case 17:
            stale_response(src);
            break;
        default:
            get(src);
            break;
        }
        if (!violation) {
            check_state();
        }
    }

    template <class Source>
    void advance(Source& src) {
        // Calm: an answer comes within a minute of its request.
        switch (src.below(!setup_.calm ? 8 : live_ ? 5 : 7)) {
        case 0:
        case 1:
            break;
        case 2:
            now_ += std::chrono::milliseconds(1 + src.below(999));
            break;
        case 3:
        case 4:
            now_ += std::chrono::seconds(1 + src.below(59));
            break;
        case 5:
            now_ += std::chrono::seconds(60 + src.below(540));
            break;
        case 6:
            now_ += std::chrono::seconds(3000 + src.below(1000));
            break;
        default:
            now_ += std::chrono::seconds(src.below(8) == 0 ? 86400 * 40 : 5);
            break;
        }
    }

    template <class Source>
    void get(Source& src) {
        waiter_id w = next_waiter_++;
        // Now and then a completed id again (legal: unique among pending only).
        if (src.below(8) == 0 && w > 2) {
            const waiter_id old = 1 + src.below(w - 1);
            if (waiting_.count(old) == 0 && cancelled_.count(old) == 0) {
                w = old;
            }
        }
        note("on_get(" + std::to_string(w) + ")");
        const snapshot before = snap();
        // A driver's threads read the clock before they reach the machine: now
        // and then a reading older than the last one the machine saw.
        time_point at = now_;
        if (src.below(8) == 0) {
            at = std::max(t0, now_ - std::chrono::milliseconds(src.below(5000)));
        }
        const babelbird::refresh_action expected = machine_.next(at);
        const bool must_send = must_send_at(at);
        waiting_[w] = at;
        const auto a = machine_.on_get(w, at);
        const bool completed =
            std::find(a.complete.begin(), a.complete.end(), w) != a.complete.end();
        if (!completed) {
            flight_latest_ = std::max(flight_latest_, at);
            ++count.joined;
        }
        check_actions(a, before, at);
        if (violation) {
            return;
        }
        LM_CHECK(a.complete.empty() || (a.complete.size() == 1 && completed),
                 "on_get completed another waiter");
        LM_CHECK(!a.persist, "on_get persisted");
        switch (expected) {
        case babelbird::refresh_action::use_current:
            LM_CHECK(completed && *a.outcome && !a.send, "use_current did not complete at once");
            break;
        case babelbird::refresh_action::fail:
            LM_CHECK(completed && !*a.outcome && !a.send, "fail did not fail at once");
            LM_CHECK(a.outcome->error().code() == machine_.failure()->code(),
                     "fail did not complete with failure()");
            break;
        case babelbird::refresh_action::wait:
            LM_CHECK(!completed && !a.send, "wait did not join");
            break;
        case babelbird::refresh_action::refresh:
        case babelbird::refresh_action::refresh_ahead:
            LM_CHECK(a.send || (completed && machine_.blocked()), "refresh did not send");
            break;
        }
        if (must_send) {
            LM_CHECK(a.send.has_value(), "an expired token, nothing in the way, and no send");
        }
        on_send(a, before, at);
        if (!a.outcome) {
            note("  -> joined");
        } else {
            note(std::string("  -> completed with ") +
                 (*a.outcome ? at_of(***a.outcome) : a.outcome->error().message()));
        }
    }

    /// An answer to the live flight (or, with nothing live, to a stale one).
    template <class Source>
    void respond(Source& src) {
        if (!live_) {
            if (setup_.calm) {
                get(src);
            } else {
                stale_response(src);
            }
            return;
        }
        const flight_rec f = *live_;
        verdict v{};
        std::string new_rt;
        std::string new_at;
        std::optional<std::chrono::seconds> retry_after;
        babelbird::transport_result answer =
            make_answer(src, f.sent, v, new_rt, new_at, retry_after);
        // The completion reading, now and then older than a waiter's reading.
        time_point done = now_;
        if (src.below(8) == 0) {
            done = std::max(f.issued_at, now_ - std::chrono::milliseconds(src.below(3000)));
        }
        note("on_response(" + std::to_string(f.id) + ") " + describe(answer));
        const snapshot before = snap();
        flight_latest_ = std::max(flight_latest_, done);
        const auto a = machine_.on_response(f.id, answer, f.issued_at, done);
        live_.reset();
        // The server's side: a delivered rotation retires the token sent.
        if (!new_rt.empty()) {
            retired_.insert(f.sent);
            server_rt_ = new_rt;
        }
        const bool carries_grant = v == verdict::success || v == verdict::salvage;
        if (carries_grant && setup_.persist) {
            if (!new_at.empty()) {
                unpersisted_.insert(new_at);
            }
            if (!new_rt.empty()) {
                unpersisted_.insert(new_rt);
            }
            staged_ = staged_rec{new_rt.empty() ? f.sent : new_rt, new_at, done};
            phase_ = mphase::persisting;
            if (persist_ == pkind::none) {
                LM_CHECK(a.persist != nullptr, "a new grant was not persisted");
                LM_CHECK(rt_of(*a.persist) == staged_->refresh &&
                             at_of(*a.persist) == staged_->access,
                         "the persisted grant is not the answer's");
            } else {
                LM_CHECK(a.empty(), "a flight's persist did not wait for the outstanding one");
                queued_ = true;
                ++count.queued;
            }
            check_actions(a, before, std::nullopt);
            if (a.persist) {
                persist_ = pkind::flight;
                persist_grant_ = a.persist;
            }
            record_verdict(v, f, retry_after, done);
            return;
        }
        LM_CHECK(!a.persist, "a persist for an answer without a grant, or without the option");
        LM_CHECK(a.publish, "a flight ended without publish");
        phase_ = mphase::idle;
        record_verdict(v, f, retry_after, done);
        if (carries_grant && !new_at.empty()) {
            LM_CHECK(at_of(*machine_.current()) == new_at, "the new grant is not current()");
        }
        if (!new_rt.empty()) {
            LM_CHECK(rt_of(*machine_.current()) == new_rt, "the rotated token is not current()");
        }
        check_actions(a, before, done);
        if (!violation) {
            LM_CHECK(waiting_.empty(), "a flight ended with waiters left");
        }
    }

    void record_verdict(verdict v, const flight_rec& f,
                        std::optional<std::chrono::seconds> retry_after, time_point done) {
        ++(v == verdict::success    ? count.successes
           : v == verdict::salvage  ? count.salvages
           : v == verdict::blocking ? count.blocking
                                    : count.transient);
        switch (v) {
        case verdict::success:
            blocked_ = false;
            backoff_.reset();
            failures_ = 0;
            last_success_issued_ = f.issued_at;
            return;
        case verdict::blocking:
            blocked_ = true;
            return;
        case verdict::salvage:
        case verdict::transient:
            break;
        }
        ++failures_;
        using babelbird::detail::tick_rep;
        const tick_rep base = babelbird::detail::saturating_ticks(setup_.retry_backoff);
        tick_rep cap = babelbird::detail::saturating_ticks(setup_.max_retry_backoff);
        cap = std::max(cap, base);
        tick_rep ceiling = base;
        for (std::uint32_t i = 1; i < failures_ && ceiling < cap; ++i) {
            ceiling = ceiling > cap / 2 ? cap : ceiling * 2;
        }
        ceiling = std::min(ceiling, cap);
        const tick_rep asked =
            retry_after ? babelbird::detail::saturating_ticks(*retry_after) : tick_rep{0};
        backoff_ =
            backoff_rec{babelbird::detail::add_ticks_saturating(done, std::max(base, asked)),
                        babelbird::detail::add_ticks_saturating(done, std::max(ceiling, asked))};
    }

    template <class Source>
    babelbird::transport_result make_answer(Source& src, const std::string& sent, verdict& v,
                                            std::string& new_rt, std::string& new_at,
                                            std::optional<std::chrono::seconds>& retry_after) {
        if (sent != server_rt_) { // a token the server does not know (any more)
            v = verdict::blocking;
            return babelbird::http_response(400, R"({"error":"invalid_grant"})");
        }
        constexpr long lifetimes[] = {-1, 3600, 3600, 600, 120, 30, 2, 1, 0};
        const auto body_of = [](const std::string& at, const std::string& rt, long life) {
            std::string b = R"({"access_token":")" + at + '"';
            if (!rt.empty()) {
                b += R"(,"refresh_token":")" + rt + '"';
            }
            if (life >= 0) {
                b += R"(,"expires_in":)" + std::to_string(life);
            }
            return b + "}";
        };
        std::uint64_t kind = src.below(16);
        if (setup_.calm && kind >= 6 && src.below(4) != 0) {
            kind = kind % 6; // mostly a success
        }
        switch (kind) {
        case 0:
        case 1:
        case 2:
        case 3: // success, rotated
        case 4:
        case 5: // success, not rotated
        {
            v = verdict::success;
            new_at = "at_" + next_serial() + "_secret";
            old_access_.push_back(new_at);
            if (kind < 4) {
                new_rt = "rt_" + next_serial() + "_secret";
            }
            const long life = lifetimes[src.below(setup_.calm ? 4 : 9)];
            return babelbird::http_response(200, body_of(new_at, new_rt, life));
        }
        case 6: // salvage: a rotated refresh token next to a broken access token
        {
            v = verdict::salvage;
            new_rt = "rt_" + next_serial() + "_secret";
            const std::string bad = "at_" + next_serial() + "_secret";
            switch (src.below(4)) {
            case 0:
                return babelbird::http_response(200, body_of(" " + bad, new_rt, 3600));
            case 1:
                return babelbird::http_response(200, R"({"access_token":")" + bad +
                                                         R"(","refresh_token":")" + new_rt +
                                                         R"(","expires_in":-1})");
            case 2:
                return babelbird::http_response(200, R"({"access_token":")" + bad +
                                                         R"(","refresh_token":")" + new_rt +
                                                         R"(","expires_in":99999999999})");
            default:
                return babelbird::http_response(200, R"({"refresh_token":")" + new_rt + "\"}");
            }
        }
        case 7:
            v = verdict::blocking;
            return babelbird::http_response(
                400,
                R"({"error":"invalid_grant","error_description":"token )" + sent + R"( is dead"})");
        case 8:
            v = verdict::blocking;
            return babelbird::http_response(401, R"({"error":"invalid_client"})");
        case 9: {
            v = verdict::transient;
            constexpr int seconds[] = {0, 1, 5, 30, 120, 3600};
            const int s = seconds[src.below(6)];
            retry_after = std::chrono::seconds(s);
            return babelbird::http_response(503, "", {{"Retry-After", std::to_string(s)}});
        }
        case 10:
            v = verdict::transient;
            return babelbird::http_response(429, R"({"error":"temporarily_unavailable"})");
        case 11: { // a transport error, now and then with a Retry-After
            v = verdict::transient;
            auto e = babelbird::error::transport(babelbird::errc::timeout);
            if (src.below(2) == 0) {
                retry_after = std::chrono::seconds(src.below(100));
                e = std::move(e).with_retry_after(*retry_after);
            }
            return e;
        }
        case 12: // a hostile 5xx echoing the token as its error code
            v = verdict::transient;
            return babelbird::http_response(500, R"({"error":")" + sent + R"("})");
        case 13:
            v = verdict::transient;
            return babelbird::http_response(200, "not json at all");
        case 14:
            v = verdict::transient;
            return babelbird::http_response(302, "", {{"Location", "https://elsewhere/"}});
        default:
            v = verdict::transient;
            return babelbird::error::transport(babelbird::errc::connection_reset);
        }
    }

    static std::string describe(const babelbird::transport_result& r) {
        if (!r) {
            return "transport error " + r.error().message();
        }
        return "HTTP " + std::to_string(r->status) + " " + r->body;
    }

    /// An answer with a flight id the machine does not wait for.
    template <class Source>
    void stale_response(Source& src) {
        flight_id id = last_flight_ + 1 + src.below(3);
        time_point issued = now_;
        std::string sent = "rt_unknown_secret";
        if (!dropped_.empty() && src.below(2) == 0) {
            const auto& d = dropped_[src.below(dropped_.size())];
            id = d.id;
            issued = d.issued_at;
            sent = d.sent;
        } else if (live_ && src.below(2) == 0) {
            id = live_->id == 0 ? 0 : live_->id - 1;
        } else if (!live_ && last_flight_ > 0 && src.below(2) == 0) {
            id = last_flight_; // an answer to a flight already answered or abandoned
        }
        const std::string rt = "rt_" + next_serial() + "_secret";
        const std::string at = "at_" + next_serial() + "_secret";
        babelbird::transport_result answer = babelbird::http_response(
            200, R"({"access_token":")" + at + R"(","refresh_token":")" + rt + R"("})");
        note("stale on_response(" + std::to_string(id) + ")");
        const snapshot before = snap();
        const auto a = machine_.on_response(id, answer, issued, now_);
        LM_CHECK(a.empty(), "a stale answer produced actions");
        check_actions(a, before, std::nullopt);
        // Such a grant must never become current nor be handed out.
        unpersisted_.insert(at);
        unpersisted_.insert(rt);
    }

    template <class Source>
    void persisted(Source& src) {
        const bool durable = src.below(3) != 0;
        note(std::string("on_persisted(") + (durable ? "true" : "false") + ")");
        const snapshot before = snap();
        const pkind was = persist_;
        const std::shared_ptr<const babelbird::token_grant> grant = std::move(persist_grant_);
        const auto a = machine_.on_persisted(durable);
        persist_ = pkind::none;
        persist_grant_.reset();
        switch (was) {
        case pkind::none:
            LM_CHECK(a.empty(), "on_persisted with nothing outstanding produced actions");
            check_actions(a, before, std::nullopt);
            return;
        case pkind::stale:
            break;
        case pkind::retry:
            if (durable) {
                pending_.reset();
            }
            break;
        case pkind::flight: {
            const staged_rec s = *staged_;
            staged_.reset();
            unpersisted_.erase(s.access);
            unpersisted_.erase(s.refresh);
            pending_ = durable ? nullptr : grant;
            count.failed_persists += durable ? 0 : 1;
            phase_ = mphase::idle;
            LM_CHECK(a.publish, "the flight's persist report did not publish");
            LM_CHECK(!a.persist && !a.send, "the flight's persist report sent or persisted");
            if (!s.access.empty()) {
                LM_CHECK(at_of(*machine_.current()) == s.access, "the new grant is not current()");
            }
            LM_CHECK(rt_of(*machine_.current()) == s.refresh,
                     "the persisted refresh token is not current()");
            check_actions(a, before, s.completed_at);
            if (!violation) {
                LM_CHECK(waiting_.empty(), "a flight ended with waiters left");
            }
            return;
        }
        }
        if (queued_) {
            queued_ = false;
            LM_CHECK(a.persist != nullptr && staged_ && rt_of(*a.persist) == staged_->refresh &&
                         at_of(*a.persist) == staged_->access,
                     "the queued flight persist did not follow");
            check_actions(a, before, std::nullopt);
            persist_ = pkind::flight;
            persist_grant_ = a.persist;
            return;
        }
        LM_CHECK(a.empty(), "a non-flight persist report produced actions");
        check_actions(a, before, std::nullopt);
    }

    template <class Source>
    void invalidate(Source& src) {
        std::string seen;
        switch (src.below(5)) {
        case 0:
        case 1:
            seen = at_of(*machine_.current());
            break;
        case 2:
            if (!old_access_.empty()) {
                seen = old_access_[src.below(old_access_.size())];
            }
            break;
        case 3:
            seen = "at_random_secret";
            break;
        default:
            seen = at_of(*machine_.current());
            if (!seen.empty()) {
                seen[0] = 'A'; // another case: not the same token
            }
            break;
        }
        note("on_invalidate(" + seen + ")");
        const snapshot before = snap();
        const std::string cur = at_of(*machine_.current());
        const bool hits = !cur.empty() && seen == cur && rejected_.count(cur) == 0;
        const auto a = machine_.on_invalidate(babelbird::secret_view(seen));
        if (hits) {
            rejected_.insert(cur);
            ++count.invalidations;
        }
        LM_CHECK(a.publish == hits, "on_invalidate published wrongly");
        LM_CHECK(!a.send && !a.persist && a.complete.empty(), "on_invalidate did more");
        check_actions(a, before, std::nullopt);
    }

    template <class Source>
    void cancel(Source& src) {
        waiter_id w = next_waiter_ + 100;
        if (!waiting_.empty() && src.below(3) != 0) {
            auto it = waiting_.begin();
            std::advance(it, static_cast<long>(src.below(waiting_.size())));
            w = it->first;
        } else if (next_waiter_ > 1 && src.below(2) == 0) {
            w = 1 + src.below(next_waiter_ - 1);
        }
        note("on_cancel(" + std::to_string(w) + ")");
        const snapshot before = snap();
        const auto a = machine_.on_cancel(w);
        if (waiting_.erase(w) != 0) {
            cancelled_.insert(w);
            ++count.cancels;
        }
        LM_CHECK(a.empty(), "on_cancel produced actions");
        check_actions(a, before, std::nullopt);
    }

    template <class Source>
    void abandon(Source& src) {
        const bool live = live_ && src.below(3) != 0;
        // Stale: the last flight (when it is not the one sent), an older one, a future one.
        const std::uint64_t pick = src.below(3);
        flight_id id = live                  ? live_->id
                       : pick == 0 && !live_ ? last_flight_
                       : pick == 1           ? last_flight_ - (last_flight_ > 0 ? 1 : 0)
                                             : last_flight_ + 7;
        if (!live && live_ && id == live_->id) {
            id = last_flight_ + 7;
        }
        note("on_abandon(" + std::to_string(id) + ")");
        const snapshot before = snap();
        const auto a = machine_.on_abandon(id);
        if (!live) {
            LM_CHECK(a.empty(), "a stale abandon produced actions");
            check_actions(a, before, std::nullopt);
            return;
        }
        dropped_.push_back(*live_);
        live_.reset();
        phase_ = mphase::idle;
        ++count.abandons;
        LM_CHECK(a.publish, "abandon did not publish");
        LM_CHECK(!a.send && !a.persist, "abandon sent or persisted");
        if (a.outcome && !*a.outcome) {
            LM_CHECK(a.outcome->error().code() == babelbird::errc::transport_failure,
                     "abandon failed with another error than transport_failure");
        }
        check_actions(a, before, std::nullopt);
        if (!violation) {
            LM_CHECK(waiting_.empty(), "an abandoned flight left waiters");
        }
    }

    template <class Source>
    void reset(Source& src) {
        // The user authorized again: the server issues a new family and retires
        // every earlier refresh token.
        retired_.insert(server_rt_);
        if (live_) {
            retired_.insert(live_->sent);
        }
        const std::string rt = "rt_" + next_serial() + "_secret";
        server_rt_ = rt;
        babelbird::token_grant g;
        g.refresh_token = babelbird::secret(rt);
        std::string kind = "refresh token";
        switch (src.below(5)) {
        case 0:
        case 1:
            break;
        case 2: // a whole grant, fresh
        case 3: // a whole grant with a tiny lifetime, or one issued long ago
        {
            const std::string at = "at_" + next_serial() + "_secret";
            old_access_.push_back(at);
            g.access_token = babelbird::secret(at);
            const std::uint64_t pick = src.below(3);
            const auto life = pick == 0 ? 3600s : pick == 1 ? 2s : 60s;
            g.issued_at = pick == 2 ? now_ - 3600s : now_;
            g.expires_at = g.issued_at + life;
            g.expires_in = static_cast<std::uint64_t>(life.count());
            kind = "grant " + at + " life " + std::to_string(life.count()) + "s";
            break;
        }
        default: // a grant without a refresh token: the refresh fails (usage)
        {
            const std::string at = "at_" + next_serial() + "_secret";
            old_access_.push_back(at);
            g.access_token = babelbird::secret(at);
            g.refresh_token = babelbird::secret();
            g.issued_at = now_;
            g.expires_at = now_ + 600s;
            kind = "grant " + at + " without a refresh token";
            // The server's newest stays this family's token: nothing is lost
            // by a seed without one, the model only tracks what it was given.
            server_rt_.clear();
            break;
        }
        }
        auto seed = babelbird::token_seed::from_grant(std::move(g));
        LM_CHECK(seed.has_value(), "a valid seed was refused");
        note("on_reset(" + kind + ")");
        ++count.resets;
        const snapshot before = snap();
        const bool had_waiters = !waiting_.empty();
        if (live_) {
            dropped_.push_back(*live_);
            live_.reset();
        }
        phase_ = mphase::idle;
        if (persist_ != pkind::none) {
            persist_ = pkind::stale;
        }
        queued_ = false;
        staged_.reset();
        pending_.reset();
        blocked_ = false;
        backoff_.reset();
        failures_ = 0;
        last_success_issued_.reset();
        if (had_waiters) {
            flight_latest_ = std::max(flight_latest_, now_);
        }
        const auto a = machine_.on_reset(std::move(*seed), now_);
        LM_CHECK(a.publish, "reset did not publish");
        LM_CHECK(!a.persist, "reset persisted");
        if (!had_waiters) {
            LM_CHECK(!a.send && a.complete.empty(), "reset without waiters sent or completed");
        } else {
            LM_CHECK(a.send || !a.complete.empty(), "the dropped flight's waiters were left");
        }
        check_actions(a, before, had_waiters ? std::optional<time_point>(now_) : std::nullopt);
        on_send(a, before, now_);
        if (server_rt_.empty()) {
            server_rt_ = rt_of(*machine_.current());
        }
    }

    void retry_persist() {
        note("retry_persist()");
        const snapshot before = snap();
        const auto a = machine_.retry_persist();
        check_actions(a, before, std::nullopt);
        if (persist_ == pkind::none && pending_) {
            LM_CHECK(a.persist == pending_, "retry_persist() did not persist the pending grant");
            persist_ = pkind::retry;
            persist_grant_ = a.persist;
        } else {
            LM_CHECK(a.empty(), "retry_persist() with nothing to do produced actions");
        }
    }

    /// Answers every send and persist (durable) until nothing is outstanding.
    void drain() {
        for (int i = 0; i < 8 && !violation; ++i) {
            ++events;
            now_ += 1s;
            if (persist_ != pkind::none) {
                drain_persist();
            } else if (live_) {
                drain_answer();
            } else {
                break;
            }
            if (!violation) {
                check_state();
            }
        }
        if (violation) {
            return;
        }
        LM_CHECK(!live_ && persist_ == pkind::none && phase_ == mphase::idle,
                 "still busy after draining");
        LM_CHECK(waiting_.empty() && machine_.waiters().empty(), "a waiter was never completed");
        if (!server_rt_.empty()) {
            const bool held =
                rt_of(*machine_.current()) == server_rt_ ||
                (machine_.pending_persist() && rt_of(*machine_.pending_persist()) == server_rt_);
            LM_CHECK(held, "the newest refresh token is lost after draining");
        }
    }

    void drain_persist() {
        static constexpr std::uint8_t durable[] = {1}; // below(3) == 1: durable
        byte_source src{durable, sizeof durable};
        persisted(src);
    }

    void drain_answer() {
        static constexpr std::uint8_t rotated[] = {0, 1}; // a success, rotated, 3600 s
        byte_source src{rotated, sizeof rotated};
        respond(src);
    }
#undef LM_CHECK
};

} // namespace lifecycle_model
