// Attacks on the core async drivers (async_token_source, async_send_authorized):
// a source destroyed under a pending call, completions that re-enter the
// source, a hook that misbehaves, cancellation racing the answer. Each case
// here failed (or crashed under ASan/TSan) before the fix it names.
#include "async_support.hpp"

#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

// A namespace per file: the unit tests are compiled as unity chunks.
namespace test_async_break {

using namespace std::chrono_literals;
namespace ts = test_support;
using token_result = babelbird::result<babelbird::token_handle>;
using answer_result = babelbird::result<babelbird::http_response>;

namespace {

const babelbird::time_point t0 = babelbird::time_point(std::chrono::seconds(1'700'000'000));

using source_t =
    babelbird::async_token_source<ts::manual_transport_ref, ts::manual_executor, ts::clock_ref>;

babelbird::token_seed refresh_seed(std::string_view token) {
    return babelbird::token_seed::from_refresh_token(babelbird::secret_view(token)).value();
}

babelbird::http_request file_request() {
    return babelbird::http_request("GET", "https://disk.example.com/v1/files/1");
}

} // namespace

// Before the fix, the call's completion was posted through
// `provider.get_executor()` after the provider had been destroyed: a
// use-after-free (here made visible by a second source built in the same
// storage: the old call's completion went to the new source's queue).
TEST_CASE("async_send_authorized: the source destroyed while the call waits for its token") {
    ts::fixed_clock clock; // outlives the completions the transports keep
    clock.at = t0;
    ts::manual_transport token_endpoint;
    ts::manual_transport files;
    ts::manual_queue queue;
    ts::manual_queue other_queue;
    std::optional<source_t> source;
    source.emplace(ts::manual_transport_ref{&token_endpoint}, ts::manual_executor{&queue},
                   ts::credentials(), ts::server(), refresh_seed("R0"),
                   babelbird::async_token_source_options{}, ts::clock_ref{&clock});
    ts::slot<answer_result> got;
    babelbird::async_send_authorized(files, *source, file_request(), {}, got.sink());
    REQUIRE(token_endpoint.pending.size() == 1); // the refresh is in flight
    source.reset();                              // completes the waiter, via post
    // The same storage now holds another source with another queue.
    source.emplace(ts::manual_transport_ref{&token_endpoint}, ts::manual_executor{&other_queue},
                   ts::credentials(), ts::server(), refresh_seed("R9"),
                   babelbird::async_token_source_options{}, ts::clock_ref{&clock});
    queue.drain();
    CHECK(other_queue.posted == 0);
    REQUIRE(got.calls == 1);
    REQUIRE(got.value);
    REQUIRE_FALSE(*got.value);
    CHECK(got.value->error() == babelbird::cancelled_error());
    CHECK(files.sent.empty());
    // The late answer of the first refresh touches nobody.
    token_endpoint.answer(ts::token_answer("A1", "R1"));
    queue.drain();
    CHECK(got.calls == 1);
    CHECK(other_queue.posted == 0);
}

TEST_CASE("async_send_authorized: the source destroyed while the retry after a 401 waits") {
    ts::fixed_clock clock; // outlives the completions the transports keep
    clock.at = t0;
    ts::manual_transport token_endpoint;
    ts::manual_transport files;
    ts::manual_queue queue;
    auto source = std::make_unique<source_t>(
        ts::manual_transport_ref{&token_endpoint}, ts::manual_executor{&queue}, ts::credentials(),
        ts::server(), refresh_seed("R0"), babelbird::async_token_source_options{},
        ts::clock_ref{&clock});
    ts::slot<answer_result> got;
    babelbird::async_send_authorized(files, *source, file_request(), {}, got.sink());
    token_endpoint.answer(ts::token_answer("A1", "R1"));
    queue.drain();
    REQUIRE(files.pending.size() == 1);
    babelbird::http_response rejected(401, "");
    rejected.headers.push_back({"WWW-Authenticate", R"(Bearer error="invalid_token")"});
    files.answer(rejected); // invalidates A1, asks for a new token: a second refresh
    REQUIRE(token_endpoint.pending.size() == 1);
    source.reset();
    queue.drain();
    REQUIRE(got.calls == 1);
    REQUIRE(got.value);
    REQUIRE_FALSE(*got.value);
    CHECK(got.value->error() == babelbird::cancelled_error());
    CHECK(files.sent.size() == 1);
    token_endpoint.answer(ts::token_answer("A2", "R2"));
    CHECK(queue.drain() == 0);
}

} // namespace test_async_break
