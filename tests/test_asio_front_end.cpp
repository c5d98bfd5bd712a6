// The Asio front end (adapters/asio.hpp). One behaviour suite of
// async_token_source, written once and run through three front ends: plain
// callbacks on a thread pool (the core's async_get), Asio callbacks
// (async_get_token on an io_context through executor_adapter) and, when
// exceptions are on (Asio's coroutines need them), use_awaitable coroutines.
// Then what only Asio has: deferred, use_future, as_tuple, the associated
// executor, work tracking, the cancellation slot, async_send_authorized.
#include "async_support.hpp"

#include <babelbird/adapters/asio.hpp>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/bind_executor.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/deferred.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_future.hpp>
#if defined(__cpp_exceptions)
#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/use_awaitable.hpp>
#endif

#include <doctest/doctest.h>

#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <deque>
#include <future>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <tuple>
#include <utility>
#include <vector>

#if defined(BOOST_NO_EXCEPTIONS)
// Boost's rule under -fno-exceptions: the program defines these (the library does not).
namespace boost {
[[noreturn]] void throw_exception(const std::exception&) {
    std::abort();
}
[[noreturn]] void throw_exception(const std::exception&, const boost::source_location&) {
    std::abort();
}
} // namespace boost
#endif

namespace test_asio_front_end {

using namespace std::chrono_literals;
namespace ts = test_support;
namespace net = boost::asio;
using token_result = babelbird::result<babelbird::token_handle>;
using answer_result = babelbird::result<babelbird::http_response>;

namespace {

const babelbird::time_point t0 = babelbird::time_point(std::chrono::seconds(1'700'000'000));

babelbird::token_seed refresh_seed(std::string_view token) {
    return babelbird::token_seed::from_refresh_token(babelbird::secret_view(token)).value();
}
babelbird::token_seed grant_seed(std::string_view access, std::string_view refresh) {
    return babelbird::token_seed::from_grant(ts::stored_grant(access, refresh, t0, 3600s)).value();
}

std::string access_of(const std::optional<token_result>& r) {
    REQUIRE(r);
    REQUIRE(*r);
    return std::string((*r)->access_token().expose_secret());
}

// ---------------------------------------------------------------- front ends

/// Set by a front end while it is inside the call that starts a request: a
/// completion that sees it set ran inline.
thread_local bool starting = false;

/// One request for a token and what became of it.
struct waiter {
    std::optional<token_result> value;
    int calls = 0;
    bool ran_inline = false;
    bool on_expected_executor = false;
    babelbird::async_cancellation handle; // the callback front end
    net::cancellation_signal signal;      // the Asio front ends
};

/// The core's callback API: async_get with a lambda, completions on a pool.
struct callback_front_end {
    static constexpr const char* name = "callbacks on a thread pool";
    ts::thread_pool pool{2};
    ts::pool_executor executor() { return {&pool}; }

    template <class Source>
    void start(Source& source, waiter& w) {
        starting = true;
        w.handle = source.async_get([this, &w](token_result r) {
            w.ran_inline = starting;
            w.on_expected_executor = pool.is_pool_thread();
            ++w.calls;
            w.value.emplace(std::move(r));
        });
        starting = false;
    }
    static void cancel(waiter& w) { (void)w.handle.cancel(); }
    void settle() { pool.wait_idle(); }
};

/// async_get_token with a plain lambda bound to a cancellation slot.
struct asio_callback_front_end {
    static constexpr const char* name = "Asio callbacks";
    net::io_context io;
    babelbird::asio::executor_adapter<net::io_context::executor_type> executor() {
        return babelbird::asio::executor_adapter(io.get_executor());
    }

    template <class Source>
    void start(Source& source, waiter& w) {
        starting = true;
        babelbird::asio::async_get_token(
            source, net::bind_cancellation_slot(w.signal.slot(), [this, &w](token_result r) {
                w.ran_inline = starting;
                w.on_expected_executor = io.get_executor().running_in_this_thread();
                ++w.calls;
                w.value.emplace(std::move(r));
            }));
        starting = false;
    }
    static void cancel(waiter& w) { w.signal.emit(net::cancellation_type::terminal); }
    void settle() {
        io.restart();
        io.poll();
    }
};

#if defined(__cpp_exceptions)
/// async_get_token with use_awaitable in a coroutine, cancelled through
/// co_spawn's slot (the coroutine passes terminal cancellation on).
struct coroutine_front_end {
    static constexpr const char* name = "use_awaitable coroutines";
    net::io_context io;
    babelbird::asio::executor_adapter<net::io_context::executor_type> executor() {
        return babelbird::asio::executor_adapter(io.get_executor());
    }

    template <class Source>
    void start(Source& source, waiter& w) {
        net::co_spawn(
            io,
            [this, &source, &w]() -> net::awaitable<void> {
                token_result r =
                    co_await babelbird::asio::async_get_token(source, net::use_awaitable);
                w.on_expected_executor = io.get_executor().running_in_this_thread();
                ++w.calls;
                w.value.emplace(std::move(r));
            },
            net::bind_cancellation_slot(w.signal.slot(), net::detached));
        // co_spawn only queues the coroutine: let it reach its co_await.
        settle();
    }
    static void cancel(waiter& w) { w.signal.emit(net::cancellation_type::terminal); }
    void settle() {
        io.restart();
        io.poll();
    }
};
#define FRONT_ENDS callback_front_end, asio_callback_front_end, coroutine_front_end
#else
#define FRONT_ENDS callback_front_end, asio_callback_front_end
#endif

/// A hook that keeps each grant and its completion until the test reports.
struct manual_hook {
    struct call {
        std::shared_ptr<const babelbird::token_grant> grant;
        babelbird::persist_completion done;
    };
    std::deque<call> calls;
    babelbird::async_rotation_hook hook() {
        return [this](std::shared_ptr<const babelbird::token_grant> g,
                      babelbird::persist_completion done) {
            calls.push_back({std::move(g), std::move(done)});
        };
    }
    void report(bool durable) {
        REQUIRE(!calls.empty());
        call c = std::move(calls.front());
        calls.pop_front();
        c.done(durable);
    }
};

template <class FrontEnd>
using source_for =
    babelbird::async_token_source<ts::manual_transport_ref,
                                  decltype(std::declval<FrontEnd&>().executor()), ts::clock_ref>;

/// A source over a manual transport (the token endpoint) and a fixed clock,
/// its completions through `FrontEnd`. Destroyed source first, transport last.
template <class FrontEnd>
struct fixture {
    ts::manual_transport transport;
    manual_hook hook;
    ts::fixed_clock clock;
    FrontEnd fe;
    std::unique_ptr<source_for<FrontEnd>> source;

    explicit fixture(babelbird::token_seed seed,
                     babelbird::async_token_source_options options = {}) {
        clock.at = t0;
        source = std::make_unique<source_for<FrontEnd>>(
            ts::manual_transport_ref{&transport}, fe.executor(), ts::credentials(), ts::server(),
            std::move(seed), std::move(options), ts::clock_ref{&clock});
    }
    void start(waiter& w) { fe.start(*source, w); }
    void settle() { fe.settle(); }
};

void check_delivered(const waiter& w) {
    CHECK(w.calls == 1);
    CHECK_FALSE(w.ran_inline);
    CHECK(w.on_expected_executor);
}

} // namespace

// ------------------------------------------------- the suite, per front end

TEST_CASE_TEMPLATE("asio front ends: N waiters, exactly one async_send", FE, FRONT_ENDS) {
    INFO(FE::name);
    fixture<FE> f(refresh_seed("R0"));
    std::vector<waiter> got(5);
    for (auto& w : got) {
        f.start(w);
    }
    f.settle();
    REQUIRE(f.transport.sent.size() == 1);
    CHECK(ts::sent_refresh_token(f.transport.sent[0]) == "R0");
    for (auto& w : got) {
        CHECK(w.calls == 0); // the refresh has not been answered
    }
    f.transport.answer(ts::token_answer("A1", "R1"));
    f.settle();
    for (auto& w : got) {
        check_delivered(w);
        CHECK(access_of(w.value) == "A1");
    }
    CHECK(f.transport.sent.size() == 1);
}

TEST_CASE_TEMPLATE("asio front ends: a transport that completes inside async_send", FE,
                   FRONT_ENDS) {
    INFO(FE::name);
    fixture<FE> f(refresh_seed("R0"));
    f.transport.inline_answer = ts::token_answer("A1", "R1");
    waiter first;
    f.start(first);
    f.settle();
    check_delivered(first);
    CHECK(access_of(first.value) == "A1");
    waiter second; // served from the cache now
    f.start(second);
    f.settle();
    check_delivered(second);
    CHECK(access_of(second.value) == "A1");
    CHECK(f.transport.sent.size() == 1);
}

TEST_CASE_TEMPLATE("asio front ends: destroying the source mid-flight cancels every waiter", FE,
                   FRONT_ENDS) {
    INFO(FE::name);
    fixture<FE> f(refresh_seed("R0"));
    std::vector<waiter> got(3);
    for (auto& w : got) {
        f.start(w);
    }
    f.settle();
    REQUIRE(f.transport.pending.size() == 1);
    f.source.reset();
    f.settle();
    for (auto& w : got) {
        check_delivered(w);
        REQUIRE(w.value);
        REQUIRE_FALSE(*w.value);
        CHECK(babelbird::is_cancelled(w.value->error()));
    }
    // The late answer reaches the state its completion kept alive and is dropped.
    f.transport.answer(ts::token_answer("A1", "R1"));
    f.settle();
    for (auto& w : got) {
        CHECK(w.calls == 1);
    }
}

TEST_CASE_TEMPLATE("asio front ends: cancelling one waiter leaves the refresh and the others", FE,
                   FRONT_ENDS) {
    INFO(FE::name);
    fixture<FE> f(refresh_seed("R0"));
    waiter a;
    waiter b;
    waiter c;
    f.start(a);
    f.start(b);
    f.start(c);
    f.settle();
    FE::cancel(b);
    f.settle();
    check_delivered(b);
    REQUIRE(b.value);
    REQUIRE_FALSE(*b.value);
    CHECK(babelbird::is_cancelled(b.value->error()));
    CHECK(a.calls == 0);
    CHECK(c.calls == 0);
    REQUIRE(f.transport.pending.size() == 1);
    f.transport.answer(ts::token_answer("A1", "R1"));
    f.settle();
    check_delivered(a);
    check_delivered(c);
    CHECK(access_of(a.value) == "A1");
    CHECK(access_of(c.value) == "A1");
    CHECK(b.calls == 1);
    FE::cancel(b); // after its completion: nothing happens
    f.settle();
    CHECK(b.calls == 1);
    CHECK(f.transport.sent.size() == 1);
}

TEST_CASE_TEMPLATE("asio front ends: an error reaches every waiter of the flight", FE, FRONT_ENDS) {
    INFO(FE::name);
    fixture<FE> f(refresh_seed("R0"));
    std::vector<waiter> got(4);
    for (auto& w : got) {
        f.start(w);
    }
    f.settle();
    f.transport.answer(babelbird::http_response(400, R"({"error":"invalid_grant"})"));
    f.settle();
    for (auto& w : got) {
        check_delivered(w);
        REQUIRE(w.value);
        REQUIRE_FALSE(*w.value);
        CHECK(w.value->error().kind() == babelbird::error_class::reauthorize);
        CHECK(w.value->error().code() == got[0].value->error().code());
    }
    CHECK(f.transport.sent.size() == 1);
}

TEST_CASE_TEMPLATE("asio front ends: a failed refresh ahead keeps serving the old token", FE,
                   FRONT_ENDS) {
    INFO(FE::name);
    babelbird::async_token_source_options options;
    options.retry_backoff = 10s;
    fixture<FE> f(grant_seed("A1", "R1"), std::move(options));
    f.clock.at = t0 + 3300s; // refresh-soon
    waiter joined;
    f.start(joined);
    f.settle();
    REQUIRE(f.transport.sent.size() == 1);
    waiter other; // everybody else gets the old token at once
    f.start(other);
    f.settle();
    check_delivered(other);
    CHECK(access_of(other.value) == "A1");
    CHECK(joined.calls == 0);
    f.transport.answer(babelbird::error::transport(babelbird::errc::timeout));
    f.settle();
    check_delivered(joined);
    CHECK(access_of(joined.value) == "A1");
    waiter again;
    f.start(again);
    f.settle();
    CHECK(access_of(again.value) == "A1");
    CHECK(f.transport.sent.size() == 1);
}

TEST_CASE_TEMPLATE("asio front ends: persist before publish with an asynchronous hook", FE,
                   FRONT_ENDS) {
    INFO(FE::name);
    manual_hook hook;
    babelbird::async_token_source_options options;
    options.on_rotate = hook.hook();
    fixture<FE> f(refresh_seed("R0"), std::move(options));
    waiter first;
    f.start(first);
    f.settle();
    f.transport.answer(ts::token_answer("A1", "R1"));
    f.settle();
    REQUIRE(hook.calls.size() == 1);
    CHECK(hook.calls[0].grant->refresh_token.expose_secret() == "R1");
    CHECK(first.calls == 0); // not before the hook reports
    CHECK(f.source->current().access_token().expose_secret().empty());
    waiter second; // joins the flight that persists
    f.start(second);
    f.settle();
    CHECK(second.calls == 0);
    hook.report(true);
    f.settle();
    check_delivered(first);
    check_delivered(second);
    CHECK(access_of(first.value) == "A1");
    CHECK(access_of(second.value) == "A1");
    CHECK(f.transport.sent.size() == 1);
    CHECK_FALSE(f.source->persist_failed());
}

// ------------------------------------------------------- Asio-only behaviour

namespace {
using io_source = source_for<asio_callback_front_end>;
using io_fixture = fixture<asio_callback_front_end>;

static_assert(
    babelbird::executor<babelbird::asio::executor_adapter<net::io_context::executor_type>>);
static_assert(babelbird::executor<babelbird::asio::executor_adapter<net::any_io_executor>>);
static_assert(std::is_copy_constructible_v<
              babelbird::asio::executor_adapter<net::strand<net::io_context::executor_type>>>);
} // namespace

TEST_CASE("asio: executor_adapter posts, never runs inline, and keeps the context's work") {
    net::io_context io;
    const babelbird::asio::executor_adapter ex(io.get_executor());
    CHECK(ex.get_inner_executor() == io.get_executor());
    int ran = 0;
    ex.post([&ran] { ++ran; });
    CHECK(ran == 0);
    CHECK(io.run() == 1);
    CHECK(ran == 1);
}

TEST_CASE("asio: deferred starts nothing until launched") {
    io_fixture f(refresh_seed("R0"));
    auto op = babelbird::asio::async_get_token(*f.source, net::deferred);
    CHECK(f.transport.sent.empty());
    std::optional<token_result> got;
    std::move(op)([&got](token_result r) { got.emplace(std::move(r)); });
    REQUIRE(f.transport.sent.size() == 1);
    f.transport.answer(ts::token_answer("A1", "R1"));
    f.settle();
    CHECK(access_of(got) == "A1");
}

TEST_CASE("asio: use_future gives a std::future of the result") {
    io_fixture f(refresh_seed("R0"));
    std::future<token_result> future = babelbird::asio::async_get_token(*f.source, net::use_future);
    REQUIRE(f.transport.sent.size() == 1);
    f.transport.answer(ts::token_answer("A1", "R1"));
    CHECK(future.wait_for(0s) == std::future_status::timeout); // via the io_context
    f.settle();
    REQUIRE(future.wait_for(0s) == std::future_status::ready);
    const std::optional<token_result> got(future.get());
    CHECK(access_of(got) == "A1");
}

TEST_CASE("asio: as_tuple gives a one-element tuple") {
    io_fixture f(grant_seed("A1", "R1"));
    std::optional<token_result> got;
    babelbird::asio::async_get_token(*f.source, net::as_tuple([&got](std::tuple<token_result> t) {
        got.emplace(std::move(std::get<0>(t)));
    }));
    f.settle();
    CHECK(access_of(got) == "A1");
}

TEST_CASE("asio: the completion runs on the handler's associated executor") {
    io_fixture f(refresh_seed("R0"));
    SUBCASE("another io_context, whose work is kept while the operation waits") {
        net::io_context other;
        std::optional<token_result> got;
        bool on_other = false;
        babelbird::asio::async_get_token(*f.source, net::bind_executor(other, [&](token_result r) {
            on_other = other.get_executor().running_in_this_thread();
            got.emplace(std::move(r));
        }));
        CHECK(other.poll() == 0);
        CHECK_FALSE(other.stopped()); // outstanding work: run() would wait
        f.settle();
        CHECK_FALSE(f.fe.io.stopped()); // the source's io_context too
        f.transport.answer(ts::token_answer("A1", "R1"));
        f.settle(); // the source posts to its io_context, which hands over
        CHECK_FALSE(got);
        CHECK(other.poll() == 1);
        CHECK(on_other);
        CHECK(access_of(got) == "A1");
        CHECK(other.stopped()); // and the work is released
        f.settle();
        CHECK(f.fe.io.stopped());
    }
    SUBCASE("a strand of the source's io_context") {
        auto strand = net::make_strand(f.fe.io);
        std::optional<token_result> got;
        bool in_strand = false;
        babelbird::asio::async_get_token(*f.source, net::bind_executor(strand, [&](token_result r) {
            in_strand = strand.running_in_this_thread();
            got.emplace(std::move(r));
        }));
        f.transport.answer(ts::token_answer("A1", "R1"));
        f.settle();
        CHECK(in_strand);
        CHECK(access_of(got) == "A1");
    }
}

TEST_CASE("asio: the cancellation slot on a pool's source and on a deferred operation") {
    SUBCASE("a source whose executor is not Asio's: the handler runs on the pool") {
        fixture<callback_front_end> f(refresh_seed("R0"));
        net::cancellation_signal signal;
        std::optional<token_result> got;
        bool on_pool = false;
        std::mutex m;
        babelbird::asio::async_get_token(*f.source,
                                         net::bind_cancellation_slot(signal.slot(), [&](auto r) {
                                             std::lock_guard lock(m);
                                             on_pool = f.fe.pool.is_pool_thread();
                                             got.emplace(std::move(r));
                                         }));
        signal.emit(net::cancellation_type::partial);
        f.settle();
        std::lock_guard lock(m);
        CHECK(on_pool);
        REQUIRE(got);
        REQUIRE_FALSE(*got);
        CHECK(babelbird::is_cancelled(got->error()));
    }
    SUBCASE("a deferred operation cancelled the moment it is launched") {
        io_fixture f(refresh_seed("R0"));
        net::cancellation_signal signal;
        std::optional<token_result> got;
        auto op = babelbird::asio::async_get_token(*f.source, net::deferred);
        std::move(op)(net::bind_cancellation_slot(
            signal.slot(), [&got](token_result r) { got.emplace(std::move(r)); }));
        signal.emit(net::cancellation_type::total);
        f.settle();
        REQUIRE(got);
        CHECK(babelbird::is_cancelled(got->error()));
        REQUIRE(f.transport.pending.size() == 1); // the refresh goes on
        f.transport.answer(ts::token_answer("A1", "R1"));
        f.settle();
        CHECK(f.source->current().access_token().expose_secret() == "A1");
    }
}

// ------------------------------------------------- async_send_authorized

namespace {
/// The token endpoint and the file API, each a manual transport.
struct call_fixture {
    ts::manual_transport token_endpoint;
    ts::manual_transport files;
    ts::fixed_clock clock;
    net::io_context io;
    io_source source;
    call_fixture()
        : source(ts::manual_transport_ref{&token_endpoint},
                 babelbird::asio::executor_adapter(io.get_executor()), ts::credentials(),
                 ts::server(), grant_seed("A1", "R1"), {}, ts::clock_ref{&clock}) {
        clock.at = t0;
    }
    static babelbird::http_request request(std::string method = "GET") {
        return babelbird::http_request(std::move(method), "https://disk.example.com/v1/files/x");
    }
    void settle() {
        io.restart();
        io.poll();
    }
};

std::string bearer_of(const babelbird::http_request& r) {
    for (const auto& h : r.headers) {
        if (h.name == "Authorization") {
            return h.value;
        }
    }
    return {};
}

babelbird::http_response invalid_token_answer() {
    return babelbird::http_response(
        401, "", {{"WWW-Authenticate", R"(Bearer realm="files", error="invalid_token")"}});
}

/// Plays one 401-then-retry exchange: the first Bearer A1 is rejected, the
/// source refreshes to A2, the request is sent once more.
void play_one_retry(call_fixture& f) {
    f.settle();
    REQUIRE(f.files.sent.size() == 1);
    CHECK(bearer_of(f.files.sent[0]) == "Bearer A1");
    f.files.answer(invalid_token_answer());
    f.settle();
    REQUIRE(f.token_endpoint.sent.size() == 1);
    CHECK(ts::sent_refresh_token(f.token_endpoint.sent[0]) == "R1");
    f.token_endpoint.answer(ts::token_answer("A2", "R2"));
    f.settle();
    REQUIRE(f.files.sent.size() == 2);
    CHECK(bearer_of(f.files.sent[1]) == "Bearer A2");
    f.files.answer(babelbird::http_response(200, "content"));
}
} // namespace

TEST_CASE("asio: async_send_authorized with a callback: one retry after a 401 invalid_token") {
    call_fixture f;
    std::optional<answer_result> got;
    bool on_io = false;
    babelbird::asio::async_send_authorized(f.files, f.source, call_fixture::request(),
                                           [&](answer_result r) {
                                               on_io = f.io.get_executor().running_in_this_thread();
                                               got.emplace(std::move(r));
                                           });
    CHECK(f.files.sent.empty()); // the token comes via the io_context
    play_one_retry(f);
    CHECK_FALSE(got);
    f.settle();
    CHECK(on_io);
    REQUIRE(got);
    REQUIRE(*got);
    CHECK((*got)->status == 200);
    CHECK((*got)->body == "content");
    CHECK(f.files.sent.size() == 2);
    CHECK(f.io.stopped()); // no work left behind
}

TEST_CASE("asio: async_send_authorized: POST with send_options, and a deferred call") {
    call_fixture f;
    std::optional<answer_result> got;
    auto op = babelbird::asio::async_send_authorized(
        f.files, f.source, call_fixture::request("POST"),
        babelbird::send_options{.safe_to_retry = true}, net::deferred);
    f.settle();
    CHECK(f.files.sent.empty());
    std::move(op)([&got](answer_result r) { got.emplace(std::move(r)); });
    play_one_retry(f);
    f.settle();
    REQUIRE(got);
    REQUIRE(*got);
    CHECK((*got)->status == 200);
}

TEST_CASE("asio: cancelling async_send_authorized") {
    call_fixture f;
    net::cancellation_signal signal;
    std::optional<answer_result> got;
    int calls = 0;
    auto handler = net::bind_cancellation_slot(signal.slot(), [&](answer_result r) {
        ++calls;
        got.emplace(std::move(r));
    });

    SUBCASE("while the request is in flight: at once; the late 401 is dropped, nothing resent") {
        babelbird::asio::async_send_authorized(f.files, f.source, call_fixture::request(),
                                               std::move(handler));
        f.settle();
        REQUIRE(f.files.pending.size() == 1);
        signal.emit(net::cancellation_type::total); // not honoured: a request was sent
        f.settle();
        CHECK(calls == 0);
        signal.emit(net::cancellation_type::terminal);
        CHECK(calls == 0); // never inside emit
        f.settle();
        CHECK(calls == 1);
        REQUIRE(got);
        REQUIRE_FALSE(*got);
        CHECK(babelbird::is_cancelled(got->error()));
        f.files.answer(invalid_token_answer());
        f.settle();
        CHECK(calls == 1);
        CHECK(f.token_endpoint.sent.empty()); // no new token asked for
        CHECK(f.files.sent.size() == 1);
        // The rejection itself was passed on: the next caller refreshes.
        CHECK(f.source.state_at(f.clock.at) == babelbird::token_state::expired);
    }
    SUBCASE("while it waits for a token: the refresh goes on for the others") {
        f.source.invalidate(babelbird::secret_view("A1"));
        babelbird::asio::async_send_authorized(f.files, f.source, call_fixture::request(),
                                               std::move(handler));
        std::optional<token_result> other;
        babelbird::asio::async_get_token(f.source,
                                         [&other](token_result r) { other.emplace(std::move(r)); });
        f.settle();
        REQUIRE(f.token_endpoint.pending.size() == 1);
        signal.emit(net::cancellation_type::partial);
        f.settle();
        REQUIRE(got);
        CHECK(babelbird::is_cancelled(got->error()));
        f.token_endpoint.answer(ts::token_answer("A2", "R2"));
        f.settle();
        CHECK(access_of(other) == "A2");
        CHECK(f.files.sent.empty());
        CHECK(calls == 1);
        CHECK(f.io.stopped());
    }
}

#if defined(__cpp_exceptions)
TEST_CASE("asio: async_send_authorized in a coroutine: one retry after a 401 invalid_token") {
    call_fixture f;
    std::optional<answer_result> got;
    net::co_spawn(
        f.io,
        [&]() -> net::awaitable<void> {
            got.emplace(co_await babelbird::asio::async_send_authorized(
                f.files, f.source, call_fixture::request(), net::use_awaitable));
        },
        net::detached);
    play_one_retry(f);
    f.settle();
    REQUIRE(got);
    REQUIRE(*got);
    CHECK((*got)->status == 200);
    CHECK(f.token_endpoint.sent.size() == 1);
}
#endif

} // namespace test_asio_front_end
