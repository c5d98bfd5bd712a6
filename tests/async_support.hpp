// Helpers shared by the async driver tests: a transport that completes only
// when the test says so, an executor whose queue the test drains, and a
// thread-pool executor.
#pragma once

#include "token_support.hpp"

#include <doctest/doctest.h>

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

namespace test_support {

/// Records each `async_send` and keeps its completion until the test calls
/// `answer()` (or `drop()`). With `inline_answer` set, it answers inside
/// `async_send` instead. Not thread-safe (the deterministic tests use one thread).
struct manual_transport {
    struct exchange {
        babelbird::http_request request;
        babelbird::transport_completion done;
    };
    std::deque<exchange> pending;
    std::vector<babelbird::http_request> sent;
    std::optional<babelbird::transport_result> inline_answer;

    void async_send(const babelbird::http_request& request,
                    babelbird::transport_completion&& done) {
        sent.push_back(request);
        if (inline_answer) {
            done(*inline_answer);
            return;
        }
        pending.push_back({request, std::move(done)});
    }
    /// Completes the oldest pending exchange with `r`.
    void answer(babelbird::transport_result r) {
        REQUIRE(!pending.empty());
        exchange e = std::move(pending.front());
        pending.pop_front();
        e.done(std::move(r));
    }
    /// Destroys the oldest pending completion without calling it.
    void drop() {
        REQUIRE(!pending.empty());
        pending.pop_front();
    }
};

/// A reference to a `manual_transport`, so the test keeps it.
struct manual_transport_ref {
    manual_transport* target;
    void async_send(const babelbird::http_request& request,
                    babelbird::transport_completion&& done) {
        target->async_send(request, std::move(done));
    }
};

/// A queue of posted work that runs only when the test drains it.
struct manual_queue {
    std::deque<babelbird::posted_work> work;
    std::size_t posted = 0;
    /// Runs everything queued, including what the work posts meanwhile.
    std::size_t drain() {
        std::size_t ran = 0;
        while (!work.empty()) {
            babelbird::posted_work w = std::move(work.front());
            work.pop_front();
            w();
            ++ran;
        }
        return ran;
    }
};

/// The `executor` over a `manual_queue`.
struct manual_executor {
    manual_queue* queue;
    void post(babelbird::posted_work w) {
        ++queue->posted;
        queue->work.push_back(std::move(w));
    }
};

/// A few threads draining one queue; the destructor runs what is queued, then joins.
class thread_pool {
public:
    explicit thread_pool(int threads) {
        for (int i = 0; i < threads; ++i) {
            threads_.emplace_back([this] { run(); });
        }
    }
    thread_pool(const thread_pool&) = delete;
    thread_pool& operator=(const thread_pool&) = delete;
    ~thread_pool() {
        {
            std::lock_guard lock(mutex_);
            stop_ = true;
        }
        cv_.notify_all();
        for (auto& t : threads_) {
            t.join();
        }
    }
    void post(babelbird::posted_work w) {
        {
            std::lock_guard lock(mutex_);
            work_.push_back(std::move(w));
            ++outstanding_;
        }
        cv_.notify_all();
    }
    /// Waits until every posted function (and what it posted) has run.
    void wait_idle() {
        std::unique_lock lock(mutex_);
        cv_.wait(lock, [this] { return outstanding_ == 0; });
    }
    bool is_pool_thread() const {
        for (const auto& t : threads_) {
            if (t.get_id() == std::this_thread::get_id()) {
                return true;
            }
        }
        return false;
    }

private:
    void run() {
        for (;;) {
            babelbird::posted_work w;
            {
                std::unique_lock lock(mutex_);
                cv_.wait(lock, [this] { return stop_ || !work_.empty(); });
                if (work_.empty()) {
                    return;
                }
                w = std::move(work_.front());
                work_.pop_front();
            }
            w();
            w = nullptr; // what it captured is gone before the pool counts it done
            {
                std::lock_guard lock(mutex_);
                --outstanding_;
            }
            cv_.notify_all();
        }
    }
    std::mutex mutex_;
    std::condition_variable cv_;
    std::deque<babelbird::posted_work> work_;
    int outstanding_ = 0;
    bool stop_ = false;
    std::vector<std::thread> threads_;
};

/// The `executor` over a `thread_pool`.
struct pool_executor {
    thread_pool* pool;
    void post(babelbird::posted_work w) const { pool->post(std::move(w)); }
};

/// Where a test keeps what a completion received.
template <class T>
struct slot {
    std::optional<T> value;
    int calls = 0;
    auto sink() {
        return [this](T v) {
            ++calls;
            value.emplace(std::move(v));
        };
    }
};

} // namespace test_support
