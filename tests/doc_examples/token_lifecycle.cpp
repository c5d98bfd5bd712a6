// Compiles and runs the example in the file comment of
// machines/token_lifecycle.hpp (extracted by tools/extract_snippet.py into
// doc_example_token_lifecycle.hpp), with what it leaves to the reader: the
// machine, a clock, an asynchronous store and HTTP stack whose completions run
// later, and the callers' resumption.
#include <babelbird/babelbird.hpp>

#include <doctest/doctest.h>

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <utility>
#include <vector>

namespace doc_example_token_lifecycle {

using outcome_type = babelbird::result<std::shared_ptr<const babelbird::token_grant>>;

babelbird::token_lifecycle
    m(babelbird::client_credentials::make("my-client-id", "my-client-secret").value(),
      babelbird::endpoint::make("https://disk.example.com/babel").value(),
      babelbird::token_seed::from_refresh_token(babelbird::secret_view("RT-1")).value());

struct fixed_clock {
    babelbird::time_point now() const {
        return babelbird::time_point(std::chrono::seconds(1'700'000'000));
    }
} clock;

/// A completion queue: operations finish when run() is called.
struct loop {
    std::vector<std::function<void()>> queue;
    void run() {
        while (!queue.empty()) {
            auto pending = std::move(queue);
            queue.clear();
            for (auto& f : pending) {
                f();
            }
        }
    }
} events;

struct async_store {
    std::vector<std::string> saved;
    void async_save(const babelbird::token_grant& grant, std::function<void(bool)> done) {
        saved.emplace_back(grant.refresh_token.expose_secret());
        events.queue.push_back([done = std::move(done)] { done(true); });
    }
} store;

struct async_http {
    int sends = 0;
    void async_send(const babelbird::http_request&,
                    std::function<void(babelbird::transport_result)> done) {
        ++sends;
        events.queue.push_back([done = std::move(done)] {
            done(babelbird::http_response(
                200, R"({"access_token":"AT-2","refresh_token":"RT-2","expires_in":3600})"));
        });
    }
} http;

int snapshots = 0;
void publish_snapshot() {
    ++snapshots;
}

std::map<babelbird::waiter_id, outcome_type> resumed;
void resume(babelbird::waiter_id w, const outcome_type& outcome) {
    resumed.emplace(w, outcome);
}

#include "doc_example_token_lifecycle.hpp"

TEST_CASE("doc example (machines/token_lifecycle.hpp): two callers, one refresh, persisted first") {
    get_token(1);
    get_token(2); // joins the flight
    CHECK(http.sends == 1);
    CHECK(resumed.empty());
    events.run(); // the answer, then the persist
    CHECK(store.saved == std::vector<std::string>{"RT-2"});
    CHECK(snapshots == 1);
    REQUIRE(resumed.size() == 2);
    for (const auto& [w, outcome] : resumed) {
        REQUIRE(outcome);
        CHECK((*outcome)->access_token.expose_secret() == "AT-2");
    }
    get_token(3); // served at once
    CHECK(resumed.size() == 3);
    CHECK(http.sends == 1);
}

} // namespace doc_example_token_lifecycle
