/// @file drivers/token_store.hpp
/// @brief The shared token store as two concepts: `token_store` (blocking) and
/// `async_token_store` (move-only completions), one readable check each, and
/// `store_error()`, the error a store that cannot be reached gives
/// (docs/design.md, "Shared store: several processes, one grant").
///
/// A store keeps, per grant name, one `store_record` (machines/store_record.hpp),
/// one lease (an owner string with a time to live, on the store's own clock)
/// and a bounded list of orphan grants, newest first. The operations, blocking
/// form (the async form is the same with an `async_` prefix and a completion
/// `unique_function<void(result<T>)>` as the last argument, called once):
///
/// - `load()` -> `result<store_record>`: the record; `gen == 0` when none was
///   committed.
/// - `try_acquire(owner, ttl)` -> `result<bool>`: true, `owner` now holds the
///   lease for `ttl`; false, the lease is held (by anyone, `owner` included)
///   and nothing changed.
/// - `renew(owner, ttl)` -> `result<bool>`: true, `owner` held the lease and
///   holds it for `ttl` from now; false, it does not hold it (expired or
///   taken) and nothing changed.
/// - `release(owner)` -> `result<bool>`: true, `owner` held the lease and it
///   is gone; false, it did not hold it and nothing changed.
/// - `commit(expected_gen, record)` -> `result<commit_outcome>`: when the
///   store is at `expected_gen`, writes `record` with `gen = expected_gen + 1`
///   (`record.gen` is ignored) and says `applied`; else a conflict carrying
///   the current record, nothing changed.
/// - `stash_orphan(grant)` -> `result<void>`: keeps `grant` first in the
///   orphan list, dropping the oldest beyond the store's limit.
/// - `orphans()` -> `result<std::vector<token_grant>>`: the orphans, newest first.
/// - `remove_orphan(grant)` -> `result<bool>`: removes the orphans equal to
///   `grant` (every field); whether one was there.
///
/// `owner` is an identifier (not a secret): unique per process and lease
/// attempt, at most 256 bytes. `ttl` is in milliseconds, at least 1.
/// Every write is atomic; `commit` is the fence: with `gen` compare-and-set,
/// a holder whose lease expired cannot overwrite a newer record.
///
/// Errors: a store that cannot be reached, times out or fails gives
/// `store_error(errc)` (class `retry`, origin `transport`; `errc` one of
/// `connection_refused`, `connection_reset`, `timeout`, `transport_failure`);
/// a stored value this version cannot read gives `malformed_stored_grant()`
/// (class `protocol`); bad arguments give a `usage` error. No error holds a
/// secret or a byte of the stored grant. After a `retry` error, the outcome of
/// a write is unknown: re-`load()` before deciding.
///
/// A minimal blocking store:
/// @code
/// struct my_store {
///     babelbird::result<babelbird::store_record> load();
///     babelbird::result<bool> try_acquire(std::string_view owner, std::chrono::milliseconds ttl);
///     babelbird::result<bool> renew(std::string_view owner, std::chrono::milliseconds ttl);
///     babelbird::result<bool> release(std::string_view owner);
///     babelbird::result<babelbird::commit_outcome> commit(std::uint64_t expected_gen,
///                                                         const babelbird::store_record& record);
///     babelbird::result<void> stash_orphan(const babelbird::token_grant& grant);
///     babelbird::result<std::vector<babelbird::token_grant>> orphans();
///     babelbird::result<bool> remove_orphan(const babelbird::token_grant& grant);
/// };
/// static_assert(babelbird::token_store<my_store>);
/// @endcode
#pragma once

#include "babelbird/config/compiler_check.hpp"

#include <chrono>
#include <concepts>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "babelbird/drivers/async_transport.hpp"
#include "babelbird/drivers/unique_function.hpp"
#include "babelbird/machines/store_record.hpp"
#include "babelbird/values/error.hpp"
#include "babelbird/values/token.hpp"

namespace babelbird::inline v1 {

/// The error of a store that failed to answer: class `retry`, origin
/// `transport`, with `code` one of `connection_refused`, `connection_reset`,
/// `timeout`, `transport_failure`.
constexpr error store_error(errc code) noexcept {
    return error(code, error_class::retry, error_origin::transport);
}

/// The completion of an asynchronous store operation: called once with the result.
template <class T>
using store_completion = unique_function<void(result<T>)>;

/// @name The blocking operations, one concept each (see the file comment).
/// @{
template <class S>
concept store_can_load = requires(S& s) {
    { s.load() } -> std::same_as<result<store_record>>;
};
template <class S>
concept store_can_acquire = requires(S& s, std::string_view owner, std::chrono::milliseconds ttl) {
    { s.try_acquire(owner, ttl) } -> std::same_as<result<bool>>;
};
template <class S>
concept store_can_renew = requires(S& s, std::string_view owner, std::chrono::milliseconds ttl) {
    { s.renew(owner, ttl) } -> std::same_as<result<bool>>;
};
template <class S>
concept store_can_release = requires(S& s, std::string_view owner) {
    { s.release(owner) } -> std::same_as<result<bool>>;
};
template <class S>
concept store_can_commit = requires(S& s, std::uint64_t gen, const store_record& record) {
    { s.commit(gen, record) } -> std::same_as<result<commit_outcome>>;
};
template <class S>
concept store_can_stash_orphan = requires(S& s, const token_grant& grant) {
    { s.stash_orphan(grant) } -> std::same_as<result<void>>;
};
template <class S>
concept store_can_read_orphans = requires(S& s) {
    { s.orphans() } -> std::same_as<result<std::vector<token_grant>>>;
};
template <class S>
concept store_can_remove_orphan = requires(S& s, const token_grant& grant) {
    { s.remove_orphan(grant) } -> std::same_as<result<bool>>;
};
/// @}

/// A blocking shared token store (see the file comment).
template <class S>
concept token_store = store_can_load<S> && store_can_acquire<S> && store_can_renew<S> &&
    store_can_release<S> && store_can_commit<S> && store_can_stash_orphan<S> &&
    store_can_read_orphans<S> && store_can_remove_orphan<S>;

/// @name The asynchronous operations, one concept each: the blocking ones with
/// an `async_` prefix and a `store_completion<T>&&` last.
/// @{
template <class S>
concept async_store_can_load = requires(S& s, store_completion<store_record>&& done) {
    s.async_load(std::move(done));
};
template <class S>
concept async_store_can_acquire = requires(S& s, std::string_view owner,
                                           std::chrono::milliseconds ttl,
                                           store_completion<bool>&& done) {
    s.async_try_acquire(owner, ttl, std::move(done));
};
template <class S>
concept async_store_can_renew = requires(S& s, std::string_view owner,
                                         std::chrono::milliseconds ttl,
                                         store_completion<bool>&& done) {
    s.async_renew(owner, ttl, std::move(done));
};
template <class S>
concept async_store_can_release = requires(S& s, std::string_view owner,
                                           store_completion<bool>&& done) {
    s.async_release(owner, std::move(done));
};
template <class S>
concept async_store_can_commit = requires(S& s, std::uint64_t gen, const store_record& record,
                                          store_completion<commit_outcome>&& done) {
    s.async_commit(gen, record, std::move(done));
};
template <class S>
concept async_store_can_stash_orphan = requires(S& s, const token_grant& grant,
                                                store_completion<void>&& done) {
    s.async_stash_orphan(grant, std::move(done));
};
template <class S>
concept async_store_can_read_orphans = requires(S& s,
                                                store_completion<std::vector<token_grant>>&& done) {
    s.async_orphans(std::move(done));
};
template <class S>
concept async_store_can_remove_orphan = requires(S& s, const token_grant& grant,
                                                 store_completion<bool>&& done) {
    s.async_remove_orphan(grant, std::move(done));
};
/// @}

/// An asynchronous shared token store. The contract of every `async_*`
/// operation: the arguments are read (copied if needed) before it returns;
/// the completion is called exactly once, from any thread, possibly inside
/// the call; a completion destroyed uncalled counts as a store failure for
/// the caller. Operations may be started from several threads at once.
template <class S>
concept async_token_store =
    async_store_can_load<S> && async_store_can_acquire<S> && async_store_can_renew<S> &&
    async_store_can_release<S> && async_store_can_commit<S> && async_store_can_stash_orphan<S> &&
    async_store_can_read_orphans<S> && async_store_can_remove_orphan<S>;

namespace detail {
/// Checks a blocking store type with one readable message naming the first
/// missing operation (an `if constexpr` chain, so only one assertion fires).
template <class S>
constexpr bool check_token_store() noexcept {
    if constexpr (!store_can_load<S>) {
        static_assert(store_can_load<S>, "babelbird: the token store must have load() returning "
                                         "babelbird::result<babelbird::store_record>");
    } else if constexpr (!store_can_acquire<S>) {
        static_assert(store_can_acquire<S>,
                      "babelbird: the token store must have try_acquire(std::string_view owner, "
                      "std::chrono::milliseconds ttl) returning babelbird::result<bool>");
    } else if constexpr (!store_can_renew<S>) {
        static_assert(store_can_renew<S>,
                      "babelbird: the token store must have renew(std::string_view owner, "
                      "std::chrono::milliseconds ttl) returning babelbird::result<bool>");
    } else if constexpr (!store_can_release<S>) {
        static_assert(store_can_release<S>,
                      "babelbird: the token store must have release(std::string_view owner) "
                      "returning babelbird::result<bool>");
    } else if constexpr (!store_can_commit<S>) {
        static_assert(store_can_commit<S>,
                      "babelbird: the token store must have commit(std::uint64_t expected_gen, "
                      "const babelbird::store_record&) returning "
                      "babelbird::result<babelbird::commit_outcome>");
    } else if constexpr (!store_can_stash_orphan<S>) {
        static_assert(store_can_stash_orphan<S>,
                      "babelbird: the token store must have stash_orphan(const "
                      "babelbird::token_grant&) returning babelbird::result<void>");
    } else if constexpr (!store_can_read_orphans<S>) {
        static_assert(store_can_read_orphans<S>,
                      "babelbird: the token store must have orphans() returning "
                      "babelbird::result<std::vector<babelbird::token_grant>>");
    } else if constexpr (!store_can_remove_orphan<S>) {
        static_assert(store_can_remove_orphan<S>,
                      "babelbird: the token store must have remove_orphan(const "
                      "babelbird::token_grant&) returning babelbird::result<bool>");
    }
    return token_store<S>;
}

/// Checks an asynchronous store type with one readable message naming the
/// first missing operation.
template <class S>
constexpr bool check_async_token_store() noexcept {
    if constexpr (!async_store_can_load<S>) {
        static_assert(async_store_can_load<S>,
                      "babelbird: the async token store must have "
                      "async_load(babelbird::store_completion<babelbird::store_record>&&)");
    } else if constexpr (!async_store_can_acquire<S>) {
        static_assert(async_store_can_acquire<S>,
                      "babelbird: the async token store must have async_try_acquire("
                      "std::string_view owner, std::chrono::milliseconds ttl, "
                      "babelbird::store_completion<bool>&&)");
    } else if constexpr (!async_store_can_renew<S>) {
        static_assert(async_store_can_renew<S>,
                      "babelbird: the async token store must have async_renew(std::string_view "
                      "owner, std::chrono::milliseconds ttl, babelbird::store_completion<bool>&&)");
    } else if constexpr (!async_store_can_release<S>) {
        static_assert(async_store_can_release<S>,
                      "babelbird: the async token store must have async_release(std::string_view "
                      "owner, babelbird::store_completion<bool>&&)");
    } else if constexpr (!async_store_can_commit<S>) {
        static_assert(async_store_can_commit<S>,
                      "babelbird: the async token store must have async_commit(std::uint64_t "
                      "expected_gen, const babelbird::store_record&, "
                      "babelbird::store_completion<babelbird::commit_outcome>&&)");
    } else if constexpr (!async_store_can_stash_orphan<S>) {
        static_assert(async_store_can_stash_orphan<S>,
                      "babelbird: the async token store must have async_stash_orphan(const "
                      "babelbird::token_grant&, babelbird::store_completion<void>&&)");
    } else if constexpr (!async_store_can_read_orphans<S>) {
        static_assert(async_store_can_read_orphans<S>,
                      "babelbird: the async token store must have async_orphans(babelbird::"
                      "store_completion<std::vector<babelbird::token_grant>>&&)");
    } else if constexpr (!async_store_can_remove_orphan<S>) {
        static_assert(async_store_can_remove_orphan<S>,
                      "babelbird: the async token store must have async_remove_orphan(const "
                      "babelbird::token_grant&, babelbird::store_completion<bool>&&)");
    }
    return async_token_store<S>;
}
} // namespace detail

/// Runs a blocking `token_store` on an `executor`: the async form of any
/// blocking store (the Redis adapter's async form is this over its blocking
/// one). Each `async_*` copies its arguments, posts one job that calls the
/// blocking operation, and calls the completion on the executor's thread with
/// the result: never inside the `async_*` call. While a job runs, it blocks
/// that executor thread for up to the store's own timeouts, so give it an
/// executor whose threads may block (not an event loop's only thread).
///
/// `Store` and `Executor` are held by reference: both must outlive every job
/// posted. Thread-safe when `Store`'s operations are.
template <class Store, class Executor>
class store_on_executor {
public:
    store_on_executor(Store& store, Executor& ex) noexcept : store_(&store), ex_(&ex) {}

    void async_load(store_completion<store_record>&& done) {
        post([s = store_, d = std::move(done)]() mutable { d(s->load()); });
    }
    void async_try_acquire(std::string_view owner, std::chrono::milliseconds ttl,
                           store_completion<bool>&& done) {
        post([s = store_, o = std::string(owner), ttl, d = std::move(done)]() mutable {
            d(s->try_acquire(o, ttl));
        });
    }
    void async_renew(std::string_view owner, std::chrono::milliseconds ttl,
                     store_completion<bool>&& done) {
        post([s = store_, o = std::string(owner), ttl, d = std::move(done)]() mutable {
            d(s->renew(o, ttl));
        });
    }
    void async_release(std::string_view owner, store_completion<bool>&& done) {
        post([s = store_, o = std::string(owner), d = std::move(done)]() mutable {
            d(s->release(o));
        });
    }
    void async_commit(std::uint64_t expected_gen, const store_record& record,
                      store_completion<commit_outcome>&& done) {
        post([s = store_, expected_gen, r = record, d = std::move(done)]() mutable {
            d(s->commit(expected_gen, r));
        });
    }
    void async_stash_orphan(const token_grant& grant, store_completion<void>&& done) {
        post([s = store_, g = grant, d = std::move(done)]() mutable { d(s->stash_orphan(g)); });
    }
    void async_orphans(store_completion<std::vector<token_grant>>&& done) {
        post([s = store_, d = std::move(done)]() mutable { d(s->orphans()); });
    }
    void async_remove_orphan(const token_grant& grant, store_completion<bool>&& done) {
        post([s = store_, g = grant, d = std::move(done)]() mutable { d(s->remove_orphan(g)); });
    }

private:
    static_assert(detail::check_token_store<Store>());
    static_assert(detail::check_executor<Executor>());

    template <class F>
    void post(F&& job) {
        ex_->post(unique_function<void()>(std::forward<F>(job)));
    }

    Store* store_;
    Executor* ex_;
};

namespace detail {
template <class S>
S& store_ref(S& s) noexcept {
    return s;
}
template <class S>
S& store_ref(std::shared_ptr<S>& s) noexcept {
    return *s;
}
} // namespace detail

/// A blocking `token_store` of any type, by value (type erasure): what the
/// token sources hold (`basic_token_source_options::store`), so a source's
/// type does not depend on its store's. Itself a `token_store`; each
/// operation forwards to the wrapped store's. Thread-safe when the wrapped
/// store is. Move-only.
/// A store that cannot move (`memory_token_store`, `redis_token_store`) is
/// built in place, or shared:
/// @code
/// babelbird::any_token_store a(std::in_place_type<babelbird::redis_token_store>, host, port,
/// name); auto shared = std::make_shared<babelbird::memory_token_store>();
/// babelbird::any_token_store b(shared); // b and the caller use *shared
/// @endcode
class any_token_store {
public:
    /// Wraps `store` (moved in).
    template <class S>
    requires(!std::same_as<std::remove_cvref_t<S>, any_token_store> &&
             token_store<std::remove_cvref_t<S>>)
        any_token_store(S&& store) // NOLINT(google-explicit-constructor): a store is a store
        : self_(std::make_unique<model<std::remove_cvref_t<S>>>(std::forward<S>(store))) {}

    /// Builds a `S` in place from `args` (for a store that cannot move).
    template <class S, class... Args>
    explicit any_token_store(std::in_place_type_t<S>, Args&&... args)
        : self_(std::make_unique<model<S>>(std::in_place, std::forward<Args>(args)...)) {
        static_assert(detail::check_token_store<S>());
    }

    /// Shares `*store` (not null): for a store that several sources, or the
    /// caller too, use at once.
    template <class S>
    requires token_store<S>
    explicit any_token_store(std::shared_ptr<S> store)
        : self_(std::make_unique<model<std::shared_ptr<S>>>(std::move(store))) {}

    any_token_store(any_token_store&&) noexcept = default;
    any_token_store& operator=(any_token_store&&) noexcept = default;

    result<store_record> load() { return self_->load(); }
    result<bool> try_acquire(std::string_view owner, std::chrono::milliseconds ttl) {
        return self_->try_acquire(owner, ttl);
    }
    result<bool> renew(std::string_view owner, std::chrono::milliseconds ttl) {
        return self_->renew(owner, ttl);
    }
    result<bool> release(std::string_view owner) { return self_->release(owner); }
    result<commit_outcome> commit(std::uint64_t expected_gen, const store_record& record) {
        return self_->commit(expected_gen, record);
    }
    result<void> stash_orphan(const token_grant& grant) { return self_->stash_orphan(grant); }
    result<std::vector<token_grant>> orphans() { return self_->orphans(); }
    result<bool> remove_orphan(const token_grant& grant) { return self_->remove_orphan(grant); }

private:
    struct concept_t {
        virtual ~concept_t() = default;
        virtual result<store_record> load() = 0;
        virtual result<bool> try_acquire(std::string_view, std::chrono::milliseconds) = 0;
        virtual result<bool> renew(std::string_view, std::chrono::milliseconds) = 0;
        virtual result<bool> release(std::string_view) = 0;
        virtual result<commit_outcome> commit(std::uint64_t, const store_record&) = 0;
        virtual result<void> stash_orphan(const token_grant&) = 0;
        virtual result<std::vector<token_grant>> orphans() = 0;
        virtual result<bool> remove_orphan(const token_grant&) = 0;
    };
    /// `H` is the store, or a `std::shared_ptr` to it.
    template <class H>
    struct model final : concept_t {
        template <class... Args>
        explicit model(std::in_place_t, Args&&... args) : held(std::forward<Args>(args)...) {}
        explicit model(H&& h) : held(std::move(h)) {}
        explicit model(const H& h) : held(h) {}
        auto& get() noexcept { return detail::store_ref(held); }
        result<store_record> load() override { return get().load(); }
        result<bool> try_acquire(std::string_view o, std::chrono::milliseconds t) override {
            return get().try_acquire(o, t);
        }
        result<bool> renew(std::string_view o, std::chrono::milliseconds t) override {
            return get().renew(o, t);
        }
        result<bool> release(std::string_view o) override { return get().release(o); }
        result<commit_outcome> commit(std::uint64_t g, const store_record& r) override {
            return get().commit(g, r);
        }
        result<void> stash_orphan(const token_grant& g) override { return get().stash_orphan(g); }
        result<std::vector<token_grant>> orphans() override { return get().orphans(); }
        result<bool> remove_orphan(const token_grant& g) override { return get().remove_orphan(g); }
        H held;
    };
    std::unique_ptr<concept_t> self_;
};

/// An `async_token_store` of any type, by value (type erasure): what
/// `async_token_source` holds (`basic_token_source_options::async_store`).
/// Itself an `async_token_store`; the wrapped store's completion contract
/// holds. Move-only.
class any_async_token_store {
public:
    /// Wraps `store` (moved in).
    template <class S>
    requires(!std::same_as<std::remove_cvref_t<S>, any_async_token_store> &&
             async_token_store<std::remove_cvref_t<S>>)
        any_async_token_store(S&& store) // NOLINT(google-explicit-constructor)
        : self_(std::make_unique<model<std::remove_cvref_t<S>>>(std::forward<S>(store))) {}

    /// Builds a `S` in place from `args` (for a store that cannot move).
    template <class S, class... Args>
    explicit any_async_token_store(std::in_place_type_t<S>, Args&&... args)
        : self_(std::make_unique<model<S>>(std::in_place, std::forward<Args>(args)...)) {
        static_assert(detail::check_async_token_store<S>());
    }

    /// Shares `*store` (not null): for a store that several sources, or the
    /// caller too, use at once.
    template <class S>
    requires async_token_store<S>
    explicit any_async_token_store(std::shared_ptr<S> store)
        : self_(std::make_unique<model<std::shared_ptr<S>>>(std::move(store))) {}

    any_async_token_store(any_async_token_store&&) noexcept = default;
    any_async_token_store& operator=(any_async_token_store&&) noexcept = default;

    void async_load(store_completion<store_record>&& done) { self_->async_load(std::move(done)); }
    void async_try_acquire(std::string_view owner, std::chrono::milliseconds ttl,
                           store_completion<bool>&& done) {
        self_->async_try_acquire(owner, ttl, std::move(done));
    }
    void async_renew(std::string_view owner, std::chrono::milliseconds ttl,
                     store_completion<bool>&& done) {
        self_->async_renew(owner, ttl, std::move(done));
    }
    void async_release(std::string_view owner, store_completion<bool>&& done) {
        self_->async_release(owner, std::move(done));
    }
    void async_commit(std::uint64_t expected_gen, const store_record& record,
                      store_completion<commit_outcome>&& done) {
        self_->async_commit(expected_gen, record, std::move(done));
    }
    void async_stash_orphan(const token_grant& grant, store_completion<void>&& done) {
        self_->async_stash_orphan(grant, std::move(done));
    }
    void async_orphans(store_completion<std::vector<token_grant>>&& done) {
        self_->async_orphans(std::move(done));
    }
    void async_remove_orphan(const token_grant& grant, store_completion<bool>&& done) {
        self_->async_remove_orphan(grant, std::move(done));
    }

private:
    struct concept_t {
        virtual ~concept_t() = default;
        virtual void async_load(store_completion<store_record>&&) = 0;
        virtual void async_try_acquire(std::string_view, std::chrono::milliseconds,
                                       store_completion<bool>&&) = 0;
        virtual void async_renew(std::string_view, std::chrono::milliseconds,
                                 store_completion<bool>&&) = 0;
        virtual void async_release(std::string_view, store_completion<bool>&&) = 0;
        virtual void async_commit(std::uint64_t, const store_record&,
                                  store_completion<commit_outcome>&&) = 0;
        virtual void async_stash_orphan(const token_grant&, store_completion<void>&&) = 0;
        virtual void async_orphans(store_completion<std::vector<token_grant>>&&) = 0;
        virtual void async_remove_orphan(const token_grant&, store_completion<bool>&&) = 0;
    };
    /// `H` is the store, or a `std::shared_ptr` to it.
    template <class H>
    struct model final : concept_t {
        template <class... Args>
        explicit model(std::in_place_t, Args&&... args) : held(std::forward<Args>(args)...) {}
        explicit model(H&& h) : held(std::move(h)) {}
        explicit model(const H& h) : held(h) {}
        auto& get() noexcept { return detail::store_ref(held); }
        void async_load(store_completion<store_record>&& d) override {
            get().async_load(std::move(d));
        }
        void async_try_acquire(std::string_view o, std::chrono::milliseconds t,
                               store_completion<bool>&& d) override {
            get().async_try_acquire(o, t, std::move(d));
        }
        void async_renew(std::string_view o, std::chrono::milliseconds t,
                         store_completion<bool>&& d) override {
            get().async_renew(o, t, std::move(d));
        }
        void async_release(std::string_view o, store_completion<bool>&& d) override {
            get().async_release(o, std::move(d));
        }
        void async_commit(std::uint64_t g, const store_record& r,
                          store_completion<commit_outcome>&& d) override {
            get().async_commit(g, r, std::move(d));
        }
        void async_stash_orphan(const token_grant& g, store_completion<void>&& d) override {
            get().async_stash_orphan(g, std::move(d));
        }
        void async_orphans(store_completion<std::vector<token_grant>>&& d) override {
            get().async_orphans(std::move(d));
        }
        void async_remove_orphan(const token_grant& g, store_completion<bool>&& d) override {
            get().async_remove_orphan(g, std::move(d));
        }
        H held;
    };
    std::unique_ptr<concept_t> self_;
};

static_assert(token_store<any_token_store>);
static_assert(async_token_store<any_async_token_store>);

} // namespace babelbird::inline v1
