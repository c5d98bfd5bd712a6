// Stress test of the Asio front end (meson test `asio_stress`, suite 'stress';
// CI runs it in a ThreadSanitizer build). One io_context run by 4 threads; an
// async_token_source over executor_adapter; a transport that answers from the
// io_context after a short timer, played by an in-process server that issues
// tokens, rotates refresh tokens, counts refreshes and rejects a stale access
// token with 401 invalid_token. Many concurrent callers of
// async_send_authorized (coroutines when exceptions are on, callbacks started
// from the main thread, callbacks bound to a strand) across K forced expiries,
// alternately a revocation at the server (a 401 storm) and a clock jump past
// the expiry. It checks that:
// - the server sees exactly K refreshes;
// - no call fails (every caller gets the 200 of the current token);
// - no rotated refresh token is presented twice, and none is stale;
// - the rotation hook (asynchronous, completed from the io_context) stored
//   each grant before any file-API request carried its access token;
// - nothing leaks work or deadlocks: io_context::run() returns on all threads
//   once the last operation is over (a watchdog fails the run after 120 s).
// Usage: asio_stress [callers per round] [expiries]
#include <babelbird/adapters/asio.hpp>
#include <babelbird/babelbird.hpp>

#include <boost/asio/bind_executor.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#if defined(__cpp_exceptions)
#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/use_awaitable.hpp>
#endif

#include <atomic>
#include <charconv>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#if defined(BOOST_NO_EXCEPTIONS)
// Boost's rule under -fno-exceptions: the program defines these.
namespace boost {
[[noreturn]] void throw_exception(const std::exception&) {
    std::abort();
}
[[noreturn]] void throw_exception(const std::exception&, const boost::source_location&) {
    std::abort();
}
} // namespace boost
#endif

using namespace std::chrono_literals;
namespace net = boost::asio;

namespace {

const babelbird::time_point t0 = babelbird::time_point(std::chrono::seconds(1'700'000'000));

std::atomic<long> failures{0};

void fail(const char* what, long a = 0, long b = 0) {
    if (failures.fetch_add(1) < 20) {
        std::fprintf(stderr, "asio_stress: %s (%ld, %ld)\n", what, a, b);
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
    void advance(std::chrono::seconds by) {
        ticks.fetch_add(std::chrono::duration_cast<babelbird::time_point::duration>(by).count());
    }
};
struct clock_ref {
    shared_clock* c;
    babelbird::time_point now() const { return c->now(); }
};

/// The in-process server: generation n is "A<n>" / "R<n>".
class server {
public:
    babelbird::transport_result answer(const babelbird::http_request& request) {
        std::lock_guard lock(mutex_);
        const auto at = request.url.find("refresh_token=");
        if (at != std::string::npos) {
            return refresh(request.url.substr(at + 14));
        }
        std::string bearer;
        for (const auto& h : request.headers) {
            if (h.name == "Authorization") {
                bearer = h.value;
            }
        }
        const long n = generation(std::string_view(bearer).substr(bearer.size() > 7 ? 7 : 0));
        if (n > stored_) {
            fail("a file request carried a token the hook had not stored", n, stored_);
        }
        if (n != current_ || revoked_) {
            ++rejected_;
            return babelbird::http_response(
                401, "", {{"WWW-Authenticate", R"(Bearer error="invalid_token")"}});
        }
        return babelbird::http_response(200, "ok");
    }
    /// A forced expiry at the server: the current access token is rejected
    /// until the next refresh.
    void revoke() {
        std::lock_guard lock(mutex_);
        revoked_ = true;
    }
    void stored(long n) {
        std::lock_guard lock(mutex_);
        if (n > stored_) {
            stored_ = n;
        }
    }
    long refreshes() {
        std::lock_guard lock(mutex_);
        return refreshes_;
    }
    long rejected() {
        std::lock_guard lock(mutex_);
        return rejected_;
    }

private:
    /// Requires mutex_.
    babelbird::transport_result refresh(const std::string& presented) {
        if (!presented_.insert(presented).second) {
            fail("a rotated refresh token was presented twice", generation(presented));
        }
        if (generation(presented) != current_) {
            fail("a stale refresh token was presented", generation(presented), current_);
            return babelbird::http_response(400, R"({"error":"invalid_grant"})");
        }
        ++refreshes_;
        ++current_;
        revoked_ = false;
        const std::string g = std::to_string(current_);
        return babelbird::http_response(200, R"({"access_token":"A)" + g +
                                                 R"(","refresh_token":"R)" + g +
                                                 R"(","expires_in":3600})");
    }

    std::mutex mutex_;
    long current_ = 0;
    long stored_ = 0;
    bool revoked_ = false;
    long refreshes_ = 0;
    long rejected_ = 0;
    std::set<std::string> presented_;
};

/// Answers from the io_context after a short timer (50 to 350 microseconds).
struct timer_transport {
    net::io_context* io;
    server* srv;
    std::atomic<unsigned>* sequence;
    void async_send(const babelbird::http_request& request,
                    babelbird::transport_completion&& done) const {
        const unsigned k = sequence->fetch_add(1);
        auto timer = std::make_shared<net::steady_timer>(
            *io, std::chrono::microseconds(50 + (k * 7919U) % 300U));
        timer->async_wait([timer, request, srv = srv, done = std::move(done)](
                              boost::system::error_code) mutable { done(srv->answer(request)); });
    }
};

/// Counts the calls of one round down; the main thread waits for zero.
class latch {
public:
    void add(long n) {
        std::lock_guard lock(mutex_);
        open_ += n;
    }
    void done() {
        std::lock_guard lock(mutex_);
        if (--open_ == 0) {
            cv_.notify_all();
        }
    }
    void wait() {
        std::unique_lock lock(mutex_);
        cv_.wait(lock, [this] { return open_ == 0; });
    }

private:
    std::mutex mutex_;
    std::condition_variable cv_;
    long open_ = 0;
};

void check_answer(const babelbird::result<babelbird::http_response>& r) {
    if (!r) {
        fail("a call failed", static_cast<long>(r.error().code()));
    } else if (r->status != 200) {
        fail("a call got a non-200 answer", r->status);
    }
}

} // namespace

int main(int argc, char** argv) {
    const long callers = argc > 1 ? std::atol(argv[1]) : 48;
    const long expiries = argc > 2 ? std::atol(argv[2]) : 120;
    const auto started = std::chrono::steady_clock::now();

    std::atomic<bool> finished{false};
    std::thread watchdog([&] {
        while (!finished.load()) {
            if (std::chrono::steady_clock::now() - started > 120s) {
                std::fprintf(stderr, "asio_stress: no progress for 120 s (deadlock?)\n");
                std::_Exit(2);
            }
            std::this_thread::sleep_for(10ms);
        }
    });

    net::io_context io(4);
    auto work = net::make_work_guard(io);
    std::vector<std::thread> threads;
    for (int i = 0; i < 4; ++i) {
        threads.emplace_back([&io] { io.run(); });
    }

    shared_clock clock;
    server srv;
    std::atomic<unsigned> sequence{0};
    std::atomic<long> hook_calls{0};
    babelbird::async_token_source_options options;
    options.min_refresh_interval = 0ms; // forced expiries come faster than any real one
    options.on_rotate = [&](std::shared_ptr<const babelbird::token_grant> g,
                            babelbird::persist_completion done) {
        hook_calls.fetch_add(1);
        // A write elsewhere, reported later from the io_context.
        net::post(io, [&srv, g = std::move(g), done = std::move(done)]() mutable {
            srv.stored(generation(g->refresh_token.expose_secret()));
            done(true);
        });
    };
    babelbird::token_grant seed;
    seed.access_token = babelbird::secret("A0");
    seed.refresh_token = babelbird::secret("R0");
    seed.issued_at = t0;
    seed.expires_in = 3600;
    seed.expires_at = t0 + 3600s;
    timer_transport transport{&io, &srv, &sequence};
    auto source = std::make_unique<babelbird::async_token_source<
        timer_transport, babelbird::asio::executor_adapter<net::io_context::executor_type>,
        clock_ref>>(transport, babelbird::asio::executor_adapter(io.get_executor()),
                    babelbird::client_credentials::make("stress", "secret").value(),
                    babelbird::endpoint::make("https://disk.example.com").value(),
                    babelbird::token_seed::from_grant(std::move(seed)).value(), std::move(options),
                    clock_ref{&clock});
    auto strand = net::make_strand(io);
    const babelbird::http_request request("GET", "https://disk.example.com/v1/files/x");

    long calls = 0;
    for (long k = 1; k <= expiries && failures.load() == 0; ++k) {
        if (k % 2 == 0) {
            clock.advance(3700s); // past the expiry
        } else {
            srv.revoke(); // a 401 storm
        }
        latch round;
        round.add(callers);
        calls += callers;
        for (long i = 0; i < callers; ++i) {
            switch (i % 3) {
            case 0:
#if defined(__cpp_exceptions)
                net::co_spawn(
                    io,
                    [&]() -> net::awaitable<void> {
                        check_answer(co_await babelbird::asio::async_send_authorized(
                            transport, *source, request, net::use_awaitable));
                        round.done();
                    },
                    net::detached);
                break;
#else
                [[fallthrough]];
#endif
            case 1:
                babelbird::asio::async_send_authorized(
                    transport, *source, request,
                    [&round](babelbird::result<babelbird::http_response> r) {
                        check_answer(r);
                        round.done();
                    });
                break;
            default:
                babelbird::asio::async_send_authorized(
                    transport, *source, request,
                    net::bind_executor(
                        strand, [&round, &strand](babelbird::result<babelbird::http_response> r) {
                            if (!strand.running_in_this_thread()) {
                                fail("a completion ran outside its strand");
                            }
                            check_answer(r);
                            round.done();
                        }));
                break;
            }
        }
        round.wait();
        if (srv.refreshes() != k) {
            fail("refreshes after a forced expiry", srv.refreshes(), k);
        }
    }
    const long refreshes = srv.refreshes();
    source.reset();
    work.reset();
    for (auto& t : threads) {
        t.join(); // returns only once no operation holds work
    }
    finished.store(true);
    watchdog.join();

    if (refreshes != expiries) {
        fail("refreshes", refreshes, expiries);
    }
    if (hook_calls.load() != expiries) {
        fail("hook calls", hook_calls.load(), expiries);
    }
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                        std::chrono::steady_clock::now() - started)
                        .count();
    std::printf("asio_stress: 4 io threads, %ld forced expiries, %ld refreshes, %ld hook calls, "
                "%ld calls, %ld rejected with 401, %lld ms, %ld failures\n",
                expiries, refreshes, hook_calls.load(), calls, srv.rejected(),
                static_cast<long long>(ms), failures.load());
    return failures.load() == 0 ? 0 : 1;
}
