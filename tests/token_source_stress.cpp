// Stress test of token_source (meson test `token_source_stress`; CI runs it in a
// ThreadSanitizer build). 32 threads call get() without pause while a driver
// forces 120 expiries, a third each of three kinds: the clock jumps past the
// expiry, the clock jumps into the refresh-soon window, or every reader reports
// the current token as rejected (a 401 storm). It checks that:
// - the transport is called exactly once per forced expiry;
// - the rotation hook is called exactly once per refresh, and always before
//   any thread receives the new token;
// - every refresh sends the newest rotated refresh token;
// - no thread ever receives a token that was expired when it called get();
// - nothing deadlocks: a watchdog fails the run after 120 s.
// Usage: token_source_stress [threads] [expiries]
#include <babelbird/babelbird.hpp>

#include <atomic>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

using namespace std::chrono_literals;

namespace {

const babelbird::time_point t0 = babelbird::time_point(std::chrono::seconds(1'700'000'000));

std::atomic<long> failures{0};

void fail(const char* what, long a = 0, long b = 0) {
    if (failures.fetch_add(1) < 20) {
        std::fprintf(stderr, "token_source_stress: %s (%ld, %ld)\n", what, a, b);
    }
}

/// The number in "A17" or "R17"; -1 when malformed.
long generation(std::string_view token) {
    long n = -1;
    if (token.size() < 2) {
        return -1;
    }
    const auto r = std::from_chars(token.data() + 1, token.data() + token.size(), n);
    return r.ec == std::errc() && r.ptr == token.data() + token.size() ? n : -1;
}

struct shared_clock {
    std::atomic<babelbird::time_point::rep> ticks{t0.time_since_epoch().count()};
    babelbird::time_point now() const {
        return babelbird::time_point(babelbird::time_point::duration(ticks.load()));
    }
    void set(babelbird::time_point t) { ticks.store(t.time_since_epoch().count()); }
};
struct clock_ref {
    shared_clock* c;
    babelbird::time_point now() const { return c->now(); }
};

/// Issues generation n+1 for refresh token "R<n>", slowly.
struct server {
    std::atomic<long> calls{0};
    std::atomic<long> latest{0};
    babelbird::transport_result operator()(const babelbird::http_request& request) {
        const long n = calls.fetch_add(1) + 1;
        const auto at = request.url.find("refresh_token=");
        const long sent = at == std::string::npos ? -1 : generation(request.url.substr(at + 14));
        if (sent != n - 1) {
            fail("a refresh sent a stale refresh token", sent, n - 1);
        }
        std::this_thread::sleep_for(200us); // a round trip
        latest.store(n);
        const std::string g = std::to_string(n);
        return babelbird::http_response(200, R"({"access_token":"A)" + g +
                                                 R"(","refresh_token":"R)" + g +
                                                 R"(","expires_in":3600})");
    }
};
struct server_ref {
    server* s;
    babelbird::transport_result operator()(const babelbird::http_request& r) const {
        return (*s)(r);
    }
};

} // namespace

int main(int argc, char** argv) {
    const int threads = argc > 1 ? std::atoi(argv[1]) : 32;
    const long expiries = argc > 2 ? std::atol(argv[2]) : 120;
    const auto started = std::chrono::steady_clock::now();

    std::atomic<bool> finished{false};
    std::thread watchdog([&] {
        while (!finished.load()) {
            if (std::chrono::steady_clock::now() - started > 120s) {
                std::fprintf(stderr, "token_source_stress: no progress for 120 s (deadlock?)\n");
                std::_Exit(2);
            }
            std::this_thread::sleep_for(10ms);
        }
    });

    shared_clock clock;
    server srv;
    std::atomic<long> hook_calls{0};
    std::atomic<long> hooked{0}; // the newest generation the hook has seen
    babelbird::token_source_options options;
    options.on_rotate = [&](const babelbird::token_grant& g) {
        const long n = generation(g.refresh_token.expose_secret());
        if (n != hook_calls.fetch_add(1) + 1) {
            fail("the hook saw a generation out of order", n, hook_calls.load());
        }
        std::this_thread::sleep_for(50us); // a write to disk
        hooked.store(n);
        return true;
    };
    babelbird::token_grant seed;
    seed.access_token = babelbird::secret("A0");
    seed.refresh_token = babelbird::secret("R0");
    seed.issued_at = t0;
    seed.expires_at = t0 + 3600s;
    babelbird::token_source source(
        server_ref{&srv}, babelbird::client_credentials::make("stress", "secret").value(),
        babelbird::endpoint::make("https://disk.example.com").value(),
        babelbird::token_seed::from_grant(std::move(seed)).value(), options, clock_ref{&clock});

    std::atomic<bool> stop{false};
    std::atomic<long> reject{-1}; // readers report this generation as rejected
    std::atomic<long> gets{0};
    std::atomic<long> newest_seen{0};
    std::vector<std::thread> readers;
    for (int i = 0; i < threads; ++i) {
        readers.emplace_back([&] {
            long local = 0;
            while (!stop.load(std::memory_order_relaxed)) {
                const babelbird::time_point before = clock.now();
                const auto h = source.get();
                ++local;
                if (!h) {
                    fail("get() failed", static_cast<long>(h.error().code()));
                    continue;
                }
                const long n = generation(h->access_token().expose_secret());
                if (n < 0 || generation(h->grant().refresh_token.expose_secret()) != n) {
                    fail("a malformed grant", n);
                    continue;
                }
                if (hooked.load() < n && n != 0) {
                    fail("a token was handed out before the hook stored it", n, hooked.load());
                }
                const auto w =
                    babelbird::expiry_window_for(h->grant().issued_at, h->grant().expires_at);
                if (!(before < w.usable_until)) {
                    fail("an expired token was handed out", n);
                }
                long seen = newest_seen.load();
                while (n > seen && !newest_seen.compare_exchange_weak(seen, n)) {
                }
                if (reject.load() == n) {
                    source.invalidate(h->access_token()); // "the server said 401"
                }
                if (local % 64 == 0) {
                    std::this_thread::sleep_for(
                        20us); // leave the 2 cores to the driver now and then
                }
            }
            gets.fetch_add(local);
        });
    }

    babelbird::time_point issued = t0; // issue time of the current generation
    for (long k = 1; k <= expiries && failures.load() == 0; ++k) {
        switch (k % 3) {
        case 0: // past the expiry
            issued += 3600s;
            clock.set(issued);
            break;
        case 1: // into the refresh-soon window: readers keep the old token
            issued += 3300s;
            clock.set(issued);
            break;
        default: // a 401 storm on the current token
            reject.store(k - 1);
            break;
        }
        // Wait until a reader received generation k, then let the readers
        // hammer the new token a little to catch any extra refresh.
        while (newest_seen.load() < k) {
            std::this_thread::sleep_for(50us);
        }
        reject.store(-1);
        std::this_thread::sleep_for(2ms);
        if (srv.calls.load() != k) {
            fail("transport calls after an expiry", srv.calls.load(), k);
        }
    }
    stop.store(true);
    for (auto& t : readers) {
        t.join();
    }
    finished.store(true);
    watchdog.join();

    if (srv.calls.load() != expiries) {
        fail("transport calls", srv.calls.load(), expiries);
    }
    if (hook_calls.load() != expiries) {
        fail("hook calls", hook_calls.load(), expiries);
    }
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                        std::chrono::steady_clock::now() - started)
                        .count();
    std::printf("token_source_stress: %d threads, %ld forced expiries, %ld transport calls, "
                "%ld hook calls, %ld get() calls, %lld ms, %ld failures\n",
                threads, expiries, srv.calls.load(), hook_calls.load(), gets.load(),
                static_cast<long long>(ms), failures.load());
    return failures.load() == 0 ? 0 : 1;
}
