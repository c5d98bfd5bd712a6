/// @file adapters/redis.hpp
/// @brief `redis_token_store`: an opt-in `token_store` on Redis over hiredis
/// (not part of the core single header; link with hiredis; meson
/// `babelbird-redis`). docs/design.md, "Shared store: several processes, one grant".
///
/// @code
/// babelbird::redis_store_options options;
/// options.command_timeout = std::chrono::milliseconds(500);
/// babelbird::redis_token_store store("127.0.0.1", 6379, "crm-prod", options);
/// auto record = store.load(); // connects on first use
/// @endcode
///
/// Keys, all under one hash tag per grant name (one Redis Cluster slot):
/// - `bb:{name}:rec`, a hash: `gen`, `state` (`active`|`dead`), `grant` (the
///   grant as encoding/grant_codec.hpp writes it; absent when none), and, while
///   an intent is recorded, `powner`, `pgen`, `psince` (nanoseconds since the
///   epoch);
/// - `bb:{name}:lease`, a string: the owner, with a time to live
///   (`SET key owner NX PX ttl`: Redis's clock);
/// - `bb:{name}:orphans`, a list, newest first, trimmed to `orphan_limit`.
///
/// Renew, release, commit and stash are Lua scripts, so each is atomic: renew
/// and release compare the owner first, commit compares `gen`. Scripts run by
/// `EVALSHA` (loaded with `SCRIPT LOAD` on first use); a `NOSCRIPT` answer (a
/// restarted server, `SCRIPT FLUSH`, a failover) falls back to `EVAL` once,
/// which loads the script again. Arguments go through `redisCommandArgv`, so
/// any byte of a token is carried as it is.
///
/// Connection: opened on the first operation with `connect_timeout`, then
/// `AUTH` when a password is set; every command is bounded by
/// `command_timeout`. A connection that fails is dropped; the next operation
/// opens a new one. `load()` and `orphans()`, which change nothing, are retried
/// once on a new connection when a kept one turned out broken (a restarted
/// server); writes are never resent (their outcome is unknown: re-load).
/// `SIGPIPE` from writing to a closed socket is blocked in the calling thread
/// for the duration of a command and consumed, so a dead server is an error,
/// never a killed process.
///
/// Errors (none holds a secret, a stored byte or a server text):
/// - `store_error(errc::connection_refused)`: nothing listens;
/// - `store_error(errc::timeout)`: connecting or a command took too long;
/// - `store_error(errc::connection_reset)`: the connection broke;
/// - `store_error(errc::transport_failure)`: a Redis error answer (`READONLY`,
///   `OOM`, `BUSY`...), an unexpected answer shape, out of memory;
/// - `errc::transport_failure`, class `configuration`: `AUTH` was refused, or
///   Redis wants a password and none is set (`NOAUTH`);
/// - `malformed_stored_grant()`: the keys hold something this version cannot
///   read (a key of another type included: `WRONGTYPE`; a `gen` that cannot
///   grow any more);
/// - `error::usage(errc::invalid_argument)`: a name that is empty, longer than
///   200 bytes or holds `{`, `}` or a byte outside 0x20-0x7E (every operation
///   then gives it); an owner that is empty or over 256 bytes; a ttl below 1 ms.
///
/// What Redis guarantees, and what it does not: a single Redis server executes
/// each command and script atomically, so the owner checks and the `gen`
/// fence hold between all processes talking to it. Replication is
/// asynchronous: a failover can lose the last acknowledged writes (a commit, a
/// lease, a stashed orphan), and a lease on a promoted replica may be granted
/// twice. The fence still keeps two commits from the same generation apart on
/// whichever server is primary, but a lost commit is lost there: the local
/// rotation hook (called before each commit) and the orphan list are the
/// second copies of a rotated token. Without persistence (`appendonly`), a
/// restart loses everything.
///
/// Secrets: the encoded grant and the password live in `secret`s (zeroed when
/// destroyed), and every reply's strings are zeroed before hiredis frees them.
/// hiredis's own output buffer (the formatted command) is freed without being
/// zeroed: out of reach, like libcurl's internal copies.
///
/// Thread-safety: one connection behind a mutex; every operation may be
/// called from any thread at once (they run one after another). For more
/// concurrency, use one store per thread: they share the grant through Redis.
///
/// The async form: `store_on_executor<redis_token_store, Executor>`
/// (drivers/token_store.hpp) runs these blocking operations on an executor
/// whose threads may block.
#pragma once

#include "babelbird/config/compiler_check.hpp"

#include <hiredis/hiredis.h>

#include <pthread.h>
#include <signal.h>
#include <sys/time.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <ctime>
#include <initializer_list>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "babelbird/drivers/token_store.hpp"
#include "babelbird/encoding/grant_codec.hpp"
#include "babelbird/machines/store_record.hpp"
#include "babelbird/values/error.hpp"
#include "babelbird/values/secret.hpp"
#include "babelbird/values/secure_zero.hpp"
#include "babelbird/values/token.hpp"

namespace babelbird::inline v1 {

/// Options of a `redis_token_store`.
struct redis_store_options {
    /// Bounds opening a connection (TCP connect).
    std::chrono::milliseconds connect_timeout{2000};
    /// Bounds each command (send and answer).
    std::chrono::milliseconds command_timeout{2000};
    /// How many orphans `stash_orphan` keeps (the oldest beyond it are dropped); at least 1.
    std::size_t orphan_limit = 8;
    /// Sent with `AUTH` after connecting, when set.
    std::optional<secret> password;
};

namespace detail {

/// Frees a hiredis reply after zeroing its strings (a reply may hold a grant).
struct redis_reply_deleter {
    static void scrub(redisReply* r) noexcept {
        if (r == nullptr) {
            return;
        }
        if (r->str != nullptr && r->len > 0) {
            secure_zero(r->str, r->len);
        }
        for (std::size_t i = 0; r->element != nullptr && i < r->elements; ++i) {
            scrub(r->element[i]);
        }
    }
    void operator()(redisReply* r) const noexcept {
        scrub(r);
        freeReplyObject(r);
    }
};

/// An owned reply.
class redis_reply {
public:
    redis_reply() noexcept = default;
    explicit redis_reply(void* r) noexcept : r_(static_cast<redisReply*>(r)) {}
    redis_reply(redis_reply&& o) noexcept : r_(std::exchange(o.r_, nullptr)) {}
    redis_reply& operator=(redis_reply&& o) noexcept {
        if (this != &o) {
            redis_reply_deleter()(r_);
            r_ = std::exchange(o.r_, nullptr);
        }
        return *this;
    }
    redis_reply(const redis_reply&) = delete;
    redis_reply& operator=(const redis_reply&) = delete;
    ~redis_reply() { redis_reply_deleter()(r_); }
    const redisReply* get() const noexcept { return r_; }
    const redisReply* operator->() const noexcept { return r_; }

private:
    redisReply* r_ = nullptr;
};

inline std::string_view redis_text(const redisReply* r) noexcept {
    return r == nullptr || r->str == nullptr ? std::string_view()
                                             : std::string_view(r->str, r->len);
}

inline bool redis_is_error(const redisReply* r, std::string_view prefix = {}) noexcept {
    return r != nullptr && r->type == REDIS_REPLY_ERROR &&
           redis_text(r).substr(0, prefix.size()) == prefix;
}

/// Blocks SIGPIPE in this thread while alive; a SIGPIPE raised meanwhile (a
/// write to a closed socket) is consumed before the old mask comes back.
class sigpipe_guard {
public:
    sigpipe_guard() noexcept {
        sigset_t pending;
        sigemptyset(&pending);
        sigpending(&pending);
        already_pending_ = sigismember(&pending, SIGPIPE) == 1;
        sigset_t block;
        sigemptyset(&block);
        sigaddset(&block, SIGPIPE);
        blocked_ = pthread_sigmask(SIG_BLOCK, &block, &old_) == 0;
    }
    sigpipe_guard(const sigpipe_guard&) = delete;
    sigpipe_guard& operator=(const sigpipe_guard&) = delete;
    ~sigpipe_guard() {
        if (!blocked_) {
            return;
        }
        if (!already_pending_) {
            sigset_t pending;
            sigemptyset(&pending);
            if (sigpending(&pending) == 0 && sigismember(&pending, SIGPIPE) == 1) {
                sigset_t only;
                sigemptyset(&only);
                sigaddset(&only, SIGPIPE);
                const timespec zero{0, 0};
                while (sigtimedwait(&only, nullptr, &zero) == -1 && errno == EINTR) {
                }
            }
        }
        pthread_sigmask(SIG_SETMASK, &old_, nullptr);
    }

private:
    sigset_t old_{};
    bool blocked_ = false;
    bool already_pending_ = false;
};

inline timeval redis_timeval(std::chrono::milliseconds ms) noexcept {
    const auto count = ms.count() < 1 ? 1 : ms.count();
    timeval tv{};
    tv.tv_sec = static_cast<decltype(tv.tv_sec)>(count / 1000);
    tv.tv_usec = static_cast<decltype(tv.tv_usec)>((count % 1000) * 1000);
    return tv;
}

/// The error of a failed hiredis context; `saved_errno` read right after the call.
inline error redis_context_error(const redisContext* c, int saved_errno) noexcept {
    if (c == nullptr) {
        return store_error(errc::transport_failure);
    }
    switch (c->err) {
    case REDIS_ERR_IO:
        if (saved_errno == ECONNREFUSED) {
            return store_error(errc::connection_refused);
        }
        if (saved_errno == EAGAIN || saved_errno == ETIMEDOUT || saved_errno == EINPROGRESS ||
            saved_errno == EWOULDBLOCK) {
            return store_error(errc::timeout);
        }
        return store_error(errc::connection_reset);
    case REDIS_ERR_EOF:
        return store_error(errc::connection_reset);
    default:
        return store_error(errc::transport_failure);
    }
}

/// The decimal text of `v`.
inline std::string redis_decimal(std::uint64_t v) {
    return std::to_string(v);
}

// clang-format off
inline constexpr std::string_view redis_renew_script =
    "if redis.call('GET', KEYS[1]) == ARGV[1] then "
    "redis.call('PEXPIRE', KEYS[1], ARGV[2]) return 1 end return 0";
inline constexpr std::string_view redis_release_script =
    "if redis.call('GET', KEYS[1]) == ARGV[1] then "
    "redis.call('DEL', KEYS[1]) return 1 end return 0";
// ARGV: expected gen, new gen, state, has grant, grant, has pending, owner, pgen, psince.
inline constexpr std::string_view redis_commit_script =
    "local cur = redis.call('HGET', KEYS[1], 'gen') "
    "if (cur or '0') ~= ARGV[1] then "
    "return {0, redis.call('HMGET', KEYS[1], 'gen', 'state', 'grant', 'powner', 'pgen', 'psince')} "
    "end "
    "redis.call('DEL', KEYS[1]) "
    "local f = {'gen', ARGV[2], 'state', ARGV[3]} "
    "if ARGV[4] == '1' then f[#f+1] = 'grant' f[#f+1] = ARGV[5] end "
    "if ARGV[6] == '1' then f[#f+1] = 'powner' f[#f+1] = ARGV[7] f[#f+1] = 'pgen' "
    "f[#f+1] = ARGV[8] f[#f+1] = 'psince' f[#f+1] = ARGV[9] end "
    "redis.call('HSET', KEYS[1], unpack(f)) "
    "return {1, ARGV[2]}";
inline constexpr std::string_view redis_stash_script =
    "redis.call('LPUSH', KEYS[1], ARGV[1]) "
    "redis.call('LTRIM', KEYS[1], 0, tonumber(ARGV[2]) - 1) return 1";
// clang-format on

} // namespace detail

/// The Redis store of one grant name (see the file comment).
class redis_token_store {
public:
    /// Stores nothing and connects to nothing yet: the first operation connects.
    /// @param host an IPv4/IPv6 address or a host name
    /// @param name the grant's name, the hash tag of its keys (see the file comment)
    redis_token_store(std::string host, int port, std::string name,
                      redis_store_options options = {})
        : host_(std::move(host)), port_(port), options_(std::move(options)),
          name_ok_(valid_name(name)), rec_key_("bb:{" + name + "}:rec"),
          lease_key_("bb:{" + name + "}:lease"), orphans_key_("bb:{" + name + "}:orphans") {
        if (options_.orphan_limit == 0) {
            options_.orphan_limit = 1;
        }
    }
    redis_token_store(const redis_token_store&) = delete;
    redis_token_store& operator=(const redis_token_store&) = delete;
    ~redis_token_store() { disconnect(); }

    /// @name The `token_store` operations (drivers/token_store.hpp has the contract).
    /// @{
    result<store_record> load() {
        std::lock_guard lock(mutex_);
        auto reply =
            command({"HMGET", rec_key_, "gen", "state", "grant", "powner", "pgen", "psince"}, true);
        if (!reply) {
            return reply.error();
        }
        return parse_record(reply->get());
    }

    result<bool> try_acquire(std::string_view owner, std::chrono::milliseconds ttl) {
        if (!valid_owner(owner) || ttl.count() < 1) {
            return error::usage(errc::invalid_argument);
        }
        std::lock_guard lock(mutex_);
        const std::string ms = detail::redis_decimal(static_cast<std::uint64_t>(ttl.count()));
        auto reply = command({"SET", lease_key_, owner, "NX", "PX", ms}, false);
        if (!reply) {
            return reply.error();
        }
        const redisReply* r = reply->get();
        if (r->type == REDIS_REPLY_NIL) {
            return false;
        }
        if (r->type == REDIS_REPLY_STATUS && detail::redis_text(r) == "OK") {
            return true;
        }
        return store_error(errc::transport_failure);
    }

    result<bool> renew(std::string_view owner, std::chrono::milliseconds ttl) {
        if (!valid_owner(owner) || ttl.count() < 1) {
            return error::usage(errc::invalid_argument);
        }
        std::lock_guard lock(mutex_);
        const std::string ms = detail::redis_decimal(static_cast<std::uint64_t>(ttl.count()));
        return integer_answer(eval(renew_, {lease_key_}, {owner, ms}));
    }

    result<bool> release(std::string_view owner) {
        if (!valid_owner(owner)) {
            return error::usage(errc::invalid_argument);
        }
        std::lock_guard lock(mutex_);
        return integer_answer(eval(release_, {lease_key_}, {owner}));
    }

    result<commit_outcome> commit(std::uint64_t expected_gen, const store_record& record) {
        if (expected_gen == UINT64_MAX) {
            return error::usage(errc::invalid_argument);
        }
        const secret blob = record.grant ? encode_grant(*record.grant) : secret();
        const std::string expected = detail::redis_decimal(expected_gen);
        const std::string next = detail::redis_decimal(expected_gen + 1);
        const bool pending = record.pending.has_value();
        const std::string pgen = pending ? detail::redis_decimal(record.pending->gen) : "";
        const std::string psince =
            pending ? std::to_string(record.pending->since.time_since_epoch().count()) : "";
        const std::string_view owner = pending ? std::string_view(record.pending->owner) : "";
        if (pending && !valid_owner(owner)) {
            return error::usage(errc::invalid_argument);
        }
        std::lock_guard lock(mutex_);
        auto reply = eval(commit_, {rec_key_},
                          {expected, next, record.state == grant_state::dead ? "dead" : "active",
                           record.grant ? "1" : "0", blob.expose_secret(), pending ? "1" : "0",
                           owner, pgen, psince});
        if (!reply) {
            return reply.error();
        }
        const redisReply* r = reply->get();
        if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
            r->element[0]->type != REDIS_REPLY_INTEGER) {
            return store_error(errc::transport_failure);
        }
        commit_outcome outcome;
        if (r->element[0]->integer == 1) {
            outcome.applied = true;
            outcome.current = record;
            outcome.current.gen = expected_gen + 1;
            return outcome;
        }
        auto current = parse_record(r->element[1]);
        if (!current) {
            return current.error();
        }
        outcome.current = std::move(*current);
        return outcome;
    }

    result<void> stash_orphan(const token_grant& grant) {
        const secret blob = encode_grant(grant);
        const std::string limit = detail::redis_decimal(options_.orphan_limit);
        std::lock_guard lock(mutex_);
        auto reply = eval(stash_, {orphans_key_}, {blob.expose_secret(), limit});
        if (!reply) {
            return reply.error();
        }
        return {};
    }

    result<std::vector<token_grant>> orphans() {
        std::lock_guard lock(mutex_);
        auto reply = command({"LRANGE", orphans_key_, "0", "-1"}, true);
        if (!reply) {
            return reply.error();
        }
        const redisReply* r = reply->get();
        if (r->type != REDIS_REPLY_ARRAY) {
            return store_error(errc::transport_failure);
        }
        std::vector<token_grant> out;
        out.reserve(r->elements);
        for (std::size_t i = 0; i < r->elements; ++i) {
            if (r->element[i]->type != REDIS_REPLY_STRING) {
                return malformed_stored_grant();
            }
            auto grant = decode_grant(detail::redis_text(r->element[i]));
            if (!grant) {
                return grant.error();
            }
            out.push_back(std::move(*grant));
        }
        return out;
    }

    result<bool> remove_orphan(const token_grant& grant) {
        const secret blob = encode_grant(grant);
        std::lock_guard lock(mutex_);
        auto reply = command({"LREM", orphans_key_, "0", blob.expose_secret()}, false);
        if (!reply) {
            return reply.error();
        }
        if ((*reply)->type != REDIS_REPLY_INTEGER) {
            return store_error(errc::transport_failure);
        }
        return (*reply)->integer > 0;
    }
    /// @}

    /// Closes the connection, if one is open; the next operation opens a new one.
    void disconnect() noexcept {
        std::lock_guard lock(mutex_);
        drop();
    }

    /// How many times a script answered `NOSCRIPT` and was sent again with `EVAL`.
    std::uint64_t noscript_fallbacks() const noexcept {
        return fallbacks_.load(std::memory_order_relaxed);
    }

    /// The key of the record (`bb:{name}:rec`); the lease and orphan keys differ in the suffix.
    const std::string& record_key() const noexcept { return rec_key_; }

private:
    struct script {
        std::string_view text;
        std::string sha; // empty until SCRIPT LOAD answered
    };

    static bool valid_name(std::string_view name) noexcept {
        if (name.empty() || name.size() > 200) {
            return false;
        }
        for (char ch : name) {
            if (ch < 0x20 || ch > 0x7E || ch == '{' || ch == '}') {
                return false;
            }
        }
        return true;
    }
    static bool valid_owner(std::string_view owner) noexcept {
        return !owner.empty() && owner.size() <= 256;
    }

    void drop() noexcept {
        if (ctx_ != nullptr) {
            redisFree(ctx_);
            ctx_ = nullptr;
        }
        // A new server may not know the scripts: NOSCRIPT handles that; the
        // SHA of a script's text stays valid on every server.
    }

    std::optional<error> connect() {
        const timeval connect_tv = detail::redis_timeval(options_.connect_timeout);
        errno = 0;
        redisContext* c = redisConnectWithTimeout(host_.c_str(), port_, connect_tv);
        const int saved = errno;
        if (c == nullptr || c->err != 0) {
            const error e = detail::redis_context_error(c, saved);
            if (c != nullptr) {
                redisFree(c);
            }
            return e;
        }
        if (redisSetTimeout(c, detail::redis_timeval(options_.command_timeout)) != REDIS_OK) {
            redisFree(c);
            return store_error(errc::transport_failure);
        }
        ctx_ = c;
        if (options_.password) {
            const std::string_view auth[] = {"AUTH", options_.password->expose_secret()};
            auto reply = send(auth);
            if (!reply) {
                return reply.error();
            }
            if ((*reply)->type == REDIS_REPLY_ERROR) {
                drop();
                return error(errc::transport_failure, error_class::configuration,
                             error_origin::transport);
            }
        }
        return std::nullopt;
    }

    /// Sends one command on the open connection; drops it on failure.
    result<detail::redis_reply> send(std::span<const std::string_view> args) {
        std::vector<const char*> argv;
        std::vector<std::size_t> lens;
        argv.reserve(args.size());
        lens.reserve(args.size());
        for (const auto& a : args) {
            argv.push_back(a.data() == nullptr ? "" : a.data());
            lens.push_back(a.size());
        }
        void* raw = nullptr;
        int saved = 0;
        {
            const detail::sigpipe_guard guard;
            errno = 0;
            raw = redisCommandArgv(ctx_, static_cast<int>(argv.size()), argv.data(), lens.data());
            saved = errno;
        }
        if (raw == nullptr) {
            const error e = detail::redis_context_error(ctx_, saved);
            drop();
            return e;
        }
        return detail::redis_reply(raw);
    }

    /// Runs one command, connecting first if needed. `may_repeat`: the command
    /// changes nothing, so a kept connection that turned out broken is
    /// replaced and the command sent once more. A `NOAUTH` answer is a
    /// configuration error and `WRONGTYPE` (also from a script) a malformed
    /// store: retrying cannot help either.
    result<detail::redis_reply> command(std::initializer_list<std::string_view> args,
                                        bool may_repeat) {
        return command(std::span<const std::string_view>(args.begin(), args.size()), may_repeat);
    }
    result<detail::redis_reply> command(std::span<const std::string_view> args, bool may_repeat) {
        if (!name_ok_) {
            return error::usage(errc::invalid_argument);
        }
        const bool kept = ctx_ != nullptr;
        if (!kept) {
            if (auto e = connect()) {
                return *e;
            }
        }
        auto reply = send(args);
        if (!reply && kept && may_repeat && reply.error().code() == errc::connection_reset) {
            if (auto e = connect()) {
                return *e;
            }
            reply = send(args);
        }
        if (reply && (*reply)->type == REDIS_REPLY_ERROR) {
            const std::string_view text = detail::redis_text(reply->get());
            if (text.substr(0, 6) == "NOAUTH") {
                return error(errc::transport_failure, error_class::configuration,
                             error_origin::transport);
            }
            if (text.find("WRONGTYPE") != std::string_view::npos) {
                return malformed_stored_grant();
            }
        }
        return reply;
    }

    /// Runs a script by EVALSHA (EVAL after NOSCRIPT); a Redis error answer is
    /// a `store_error(transport_failure)`.
    result<detail::redis_reply> eval(script& s, std::initializer_list<std::string_view> keys,
                                     std::initializer_list<std::string_view> args) {
        if (s.sha.empty()) {
            auto loaded = command({"SCRIPT", "LOAD", s.text}, true);
            if (!loaded) {
                return loaded.error();
            }
            if ((*loaded)->type != REDIS_REPLY_STRING) {
                return store_error(errc::transport_failure);
            }
            s.sha = std::string(detail::redis_text(loaded->get()));
        }
        const std::string nkeys = std::to_string(keys.size());
        std::vector<std::string_view> all;
        all.reserve(3 + keys.size() + args.size());
        all.push_back("EVALSHA");
        all.push_back(s.sha);
        all.push_back(nkeys);
        all.insert(all.end(), keys.begin(), keys.end());
        all.insert(all.end(), args.begin(), args.end());
        auto reply = command(all, false);
        if (reply && detail::redis_is_error(reply->get(), "NOSCRIPT")) {
            fallbacks_.fetch_add(1, std::memory_order_relaxed);
            all[0] = "EVAL";
            all[1] = s.text;
            reply = command(all, false);
        }
        if (reply && (*reply)->type == REDIS_REPLY_ERROR) {
            return store_error(errc::transport_failure);
        }
        return reply;
    }

    static result<bool> integer_answer(result<detail::redis_reply> reply) {
        if (!reply) {
            return reply.error();
        }
        if ((*reply)->type != REDIS_REPLY_INTEGER) {
            return store_error(errc::transport_failure);
        }
        return (*reply)->integer == 1;
    }

    /// The record of an HMGET of gen, state, grant, powner, pgen, psince.
    static result<store_record> parse_record(const redisReply* r) {
        using reader = detail::grant_codec_reader;
        if (r == nullptr || r->type != REDIS_REPLY_ARRAY || r->elements != 6) {
            return store_error(errc::transport_failure);
        }
        const auto field = [&](std::size_t i) -> std::optional<std::string_view> {
            const redisReply* e = r->element[i];
            if (e->type == REDIS_REPLY_STRING) {
                return detail::redis_text(e);
            }
            return std::nullopt;
        };
        store_record record;
        const auto gen = field(0);
        if (!gen) {
            return record; // nothing committed yet
        }
        const auto gen_value = reader::as_unsigned(*gen);
        const auto state = field(1);
        // UINT64_MAX: no commit could follow it (commit refuses it as expected_gen).
        if (!gen_value || *gen_value == UINT64_MAX || !state ||
            (*state != "active" && *state != "dead")) {
            return malformed_stored_grant();
        }
        record.gen = *gen_value;
        record.state = *state == "dead" ? grant_state::dead : grant_state::active;
        if (const auto blob = field(2)) {
            auto grant = decode_grant(*blob);
            if (!grant) {
                return grant.error();
            }
            record.grant = std::move(*grant);
        }
        if (const auto owner = field(3)) {
            const auto pgen = field(4);
            const auto psince = field(5);
            const auto pgen_value = pgen ? reader::as_unsigned(*pgen) : std::nullopt;
            const auto since = psince ? reader::as_signed(*psince) : std::nullopt;
            if (!pgen_value || !since) {
                return malformed_stored_grant();
            }
            record.pending =
                pending_refresh{std::string(*owner), *pgen_value, detail::grant_codec_time(*since)};
        }
        return record;
    }

    std::string host_;
    int port_;
    redis_store_options options_;
    bool name_ok_;
    std::string rec_key_;
    std::string lease_key_;
    std::string orphans_key_;
    std::mutex mutex_;
    redisContext* ctx_ = nullptr;
    script renew_{detail::redis_renew_script, {}};
    script release_{detail::redis_release_script, {}};
    script commit_{detail::redis_commit_script, {}};
    script stash_{detail::redis_stash_script, {}};
    std::atomic<std::uint64_t> fallbacks_{0};
};

} // namespace babelbird::inline v1
