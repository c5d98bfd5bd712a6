/// @file drivers/memory_token_store.hpp
/// @brief `memory_token_store`: the reference `token_store` in memory, both
/// forms, for one process and for tests (docs/design.md, "Shared store").
///
/// What the Redis adapter does across processes, this does across threads of
/// one process, with the same semantics (tests/store_conformance.hpp holds
/// both to them): a record fenced by `gen`, a lease with a time to live, a
/// bounded orphan list, newest first. Nothing survives the process.
///
/// @code
/// babelbird::memory_token_store store; // leases on std::chrono::steady_clock
/// if (store.try_acquire("worker-1", std::chrono::seconds(10)).value()) {
///     auto current = store.load().value();
///     babelbird::store_record next;
///     next.grant = babelbird::token_grant{}; // the new grant
///     auto outcome = store.commit(current.gen, next).value();
///     // outcome.applied: next is stored with gen current.gen + 1
///     (void)store.release("worker-1");
/// }
/// @endcode
///
/// The lease clock is a parameter: anything with `now()` returning a
/// `std::chrono::steady_clock::time_point` (a test's manual clock expires leases
/// without sleeping). It is read under the store's lock.
///
/// Thread-safety: every operation may be called from any thread at once (one
/// mutex; no callable of the caller runs under it). The async form completes
/// inline: each `async_*` runs the blocking operation and then calls the
/// completion inside the call, on the calling thread, after the lock is
/// released. A caller that needs the completion elsewhere wraps the store in
/// `store_on_executor` (drivers/token_store.hpp).
#pragma once

#include "babelbird/config/compiler_check.hpp"

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "babelbird/drivers/token_store.hpp"
#include "babelbird/encoding/grant_codec.hpp"
#include "babelbird/machines/store_record.hpp"
#include "babelbird/values/error.hpp"
#include "babelbird/values/token.hpp"

namespace babelbird::inline v1 {

/// The default lease clock: `std::chrono::steady_clock`.
struct steady_lease_clock {
    std::chrono::steady_clock::time_point now() const noexcept {
        return std::chrono::steady_clock::now();
    }
};

/// Options of a `memory_token_store`.
struct memory_store_options {
    /// How many orphans are kept (the oldest beyond it are dropped); at least 1.
    std::size_t orphan_limit = 8;
};

/// The in-memory store over lease clock `Clock` (see the file comment).
template <class Clock = steady_lease_clock>
class basic_memory_token_store {
public:
    explicit basic_memory_token_store(memory_store_options options = {}, Clock clock = Clock())
        : options_(options), clock_(std::move(clock)) {
        if (options_.orphan_limit == 0) {
            options_.orphan_limit = 1;
        }
    }
    basic_memory_token_store(const basic_memory_token_store&) = delete;
    basic_memory_token_store& operator=(const basic_memory_token_store&) = delete;

    /// @name The blocking form (`token_store`; drivers/token_store.hpp has the contract).
    /// @{
    result<store_record> load() {
        std::lock_guard lock(mutex_);
        if (failure_) {
            return *failure_;
        }
        return record_;
    }

    result<bool> try_acquire(std::string_view owner, std::chrono::milliseconds ttl) {
        if (auto bad = check_lease_arguments(owner, ttl)) {
            return *bad;
        }
        std::lock_guard lock(mutex_);
        if (failure_) {
            return *failure_;
        }
        const auto now = clock_.now();
        if (lease_live(now)) {
            return false;
        }
        lease_owner_ = std::string(owner);
        lease_until_ = now + ttl;
        return true;
    }

    result<bool> renew(std::string_view owner, std::chrono::milliseconds ttl) {
        if (auto bad = check_lease_arguments(owner, ttl)) {
            return *bad;
        }
        std::lock_guard lock(mutex_);
        if (failure_) {
            return *failure_;
        }
        const auto now = clock_.now();
        if (!lease_live(now) || *lease_owner_ != owner) {
            return false;
        }
        lease_until_ = now + ttl;
        return true;
    }

    result<bool> release(std::string_view owner) {
        if (auto bad = check_lease_arguments(owner, std::chrono::milliseconds(1))) {
            return *bad;
        }
        std::lock_guard lock(mutex_);
        if (failure_) {
            return *failure_;
        }
        if (!lease_live(clock_.now()) || *lease_owner_ != owner) {
            return false;
        }
        lease_owner_.reset();
        return true;
    }

    result<commit_outcome> commit(std::uint64_t expected_gen, const store_record& record) {
        if (expected_gen == UINT64_MAX) {
            return error::usage(errc::invalid_argument);
        }
        // Copied outside the lock: the only allocation-heavy step.
        commit_outcome outcome;
        outcome.current = record;
        outcome.current.gen = expected_gen + 1;
        std::lock_guard lock(mutex_);
        if (failure_) {
            return *failure_;
        }
        if (record_.gen != expected_gen) {
            outcome.current = record_;
            return outcome;
        }
        record_ = outcome.current;
        outcome.applied = true;
        return outcome;
    }

    result<void> stash_orphan(const token_grant& grant) {
        secret encoded = encode_grant(grant);
        std::lock_guard lock(mutex_);
        if (failure_) {
            return *failure_;
        }
        orphans_.push_front(std::move(encoded));
        while (orphans_.size() > options_.orphan_limit) {
            orphans_.pop_back();
        }
        return {};
    }

    result<std::vector<token_grant>> orphans() {
        std::vector<secret> copies;
        {
            std::lock_guard lock(mutex_);
            if (failure_) {
                return *failure_;
            }
            copies.assign(orphans_.begin(), orphans_.end());
        }
        std::vector<token_grant> out;
        out.reserve(copies.size());
        for (const auto& c : copies) {
            auto grant = decode_grant(c.expose_secret());
            if (!grant) {
                return grant.error();
            }
            out.push_back(std::move(*grant));
        }
        return out;
    }

    result<bool> remove_orphan(const token_grant& grant) {
        const secret encoded = encode_grant(grant);
        std::lock_guard lock(mutex_);
        if (failure_) {
            return *failure_;
        }
        bool found = false;
        for (auto it = orphans_.begin(); it != orphans_.end();) {
            if (*it == encoded) {
                it = orphans_.erase(it);
                found = true;
            } else {
                ++it;
            }
        }
        return found;
    }
    /// @}

    /// @name The async form (`async_token_store`): completes inline, see the file comment.
    /// @{
    void async_load(store_completion<store_record>&& done) { done(load()); }
    void async_try_acquire(std::string_view owner, std::chrono::milliseconds ttl,
                           store_completion<bool>&& done) {
        done(try_acquire(owner, ttl));
    }
    void async_renew(std::string_view owner, std::chrono::milliseconds ttl,
                     store_completion<bool>&& done) {
        done(renew(owner, ttl));
    }
    void async_release(std::string_view owner, store_completion<bool>&& done) {
        done(release(owner));
    }
    void async_commit(std::uint64_t expected_gen, const store_record& record,
                      store_completion<commit_outcome>&& done) {
        done(commit(expected_gen, record));
    }
    void async_stash_orphan(const token_grant& grant, store_completion<void>&& done) {
        done(stash_orphan(grant));
    }
    void async_orphans(store_completion<std::vector<token_grant>>&& done) { done(orphans()); }
    void async_remove_orphan(const token_grant& grant, store_completion<bool>&& done) {
        done(remove_orphan(grant));
    }
    /// @}

    /// For tests of what runs over a store: while set, every operation fails
    /// with `e` and changes nothing (an outage); `std::nullopt` ends it.
    /// Example: `store.inject_failure(babelbird::store_error(babelbird::errc::timeout))`.
    void inject_failure(std::optional<error> e) {
        std::lock_guard lock(mutex_);
        failure_ = e;
    }

    /// The lease clock (for a test's manual clock).
    Clock& clock() noexcept { return clock_; }

private:
    static std::optional<error> check_lease_arguments(std::string_view owner,
                                                      std::chrono::milliseconds ttl) noexcept {
        if (owner.empty() || owner.size() > 256 || ttl.count() < 1) {
            return error::usage(errc::invalid_argument);
        }
        return std::nullopt;
    }

    bool lease_live(std::chrono::steady_clock::time_point now) const noexcept {
        return lease_owner_.has_value() && now < lease_until_;
    }

    memory_store_options options_;
    Clock clock_;
    std::mutex mutex_;
    store_record record_;
    std::optional<std::string> lease_owner_;
    std::chrono::steady_clock::time_point lease_until_{};
    std::deque<secret> orphans_;
    std::optional<error> failure_;
};

/// The in-memory store on `std::chrono::steady_clock`.
using memory_token_store = basic_memory_token_store<>;

} // namespace babelbird::inline v1
