// Compiles and runs the example in the file comment of machines/exchange.hpp
// (extracted by tools/extract_snippet.py into doc_example_exchange.hpp), with
// what it leaves to the reader: the settings, a clock, an asynchronous HTTP
// stack whose completions run after the caller returned, and a store.
#include <babelbird/babelbird.hpp>

#include <doctest/doctest.h>

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace doc_example_exchange {

const babelbird::client_credentials credentials =
    babelbird::client_credentials::make("my-client-id", "my-client-secret").value();
const babelbird::endpoint server =
    babelbird::endpoint::make("https://disk.example.com/babel").value();

struct fixed_clock {
    babelbird::time_point now() const {
        return babelbird::time_point(std::chrono::seconds(1'700'000'000));
    }
} clock;

/// send() returns at once; run() calls the completions later.
struct async_stack {
    std::vector<std::function<void()>> queue;
    std::vector<std::string> sent_urls;
    babelbird::transport_result answer = babelbird::http_response(
        200, R"({"access_token":"AT-2","refresh_token":"RT-2","expires_in":3600})");
    void send(const babelbird::http_request& request,
              std::function<void(babelbird::transport_result)> done) {
        sent_urls.push_back(request.url);
        queue.push_back([this, done = std::move(done)] { done(answer); });
    }
    void run() {
        auto pending = std::move(queue);
        queue.clear();
        for (auto& f : pending) {
            f();
        }
    }
} my_stack;

std::vector<babelbird::token_grant> stored;
void store(const babelbird::token_grant& grant) {
    stored.push_back(grant);
}

#include "doc_example_exchange.hpp"

TEST_CASE("doc example (machines/exchange.hpp): an asynchronous refresh") {
    babelbird::token_grant grant;
    grant.refresh_token = babelbird::secret("RT-1");
    start_refresh(grant); // returns before the answer: the completion owns the exchange
    REQUIRE(my_stack.sent_urls.size() == 1);
    CHECK(my_stack.sent_urls[0].ends_with("refresh_token=RT-1"));
    CHECK(stored.empty());
    my_stack.run();
    REQUIRE(stored.size() == 1);
    CHECK(stored[0].access_token.expose_secret() == "AT-2");
    CHECK(stored[0].refresh_token.expose_secret() == "RT-2");

    // A rejected answer that rotated the token: the salvaged grant is stored.
    my_stack.answer =
        babelbird::http_response(200, R"({"access_token":" bad","refresh_token":"RT-3"})");
    start_refresh(stored.back());
    my_stack.run();
    REQUIRE(stored.size() == 2);
    CHECK(stored[1].access_token.empty());
    CHECK(stored[1].refresh_token.expose_secret() == "RT-3");

    // A usage error: nothing is sent.
    start_refresh(babelbird::token_grant{});
    CHECK(my_stack.sent_urls.size() == 2);
}

} // namespace doc_example_exchange
