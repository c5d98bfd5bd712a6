// --store file:PATH: the grant as one JSON object (the fields of the stdout
// object of `refresh`/`token`), read strictly and replaced atomically.
//
// Writing: a temporary `.<name>.tmp-XXXXXX` in the same directory (mode 0600),
// write, fsync, rename over PATH, fsync the directory. A temporary left behind by
// a killed run is removed by the next write. One writer per store at a time.
#pragma once

#include <babelbird/values/token.hpp>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

namespace cli {

/// `redis://HOST:PORT/NAME` (see parse_store_location).
struct redis_location {
    std::string host; ///< a name, an IPv4 address, or an IPv6 address without brackets
    std::uint16_t port = 6379;
    std::string name; ///< the grant's name in Redis (keys `bb:{NAME}:...`)
};

/// A store as given on the command line.
struct store_location {
    /// `file:PATH`: the path; `redis://`: the URL as given (no secret in it),
    /// for messages.
    std::string path;
    /// Set for a `redis://` store.
    std::optional<redis_location> redis{};
};

/// A secret-free message (never the content of the store).
struct store_error {
    std::string message;
    /// The store is locked by another run (retry later); any other failure is
    /// a bad store argument (usage).
    bool busy = false;
};

/// `file:PATH`, or `redis://HOST:PORT/NAME`, strictly: HOST a DNS name or an
/// IPv4 address (letters, digits, '.', '-') or `[IPv6]`; PORT 1-65535, required;
/// NAME 1-200 bytes of letters, digits and `._:-`; no user, password, query
/// or fragment (the password comes from BABELBIRD_REDIS_PASSWORD). Messages
/// never echo the text (a password typed into it stays out of them).
std::variant<store_location, store_error> parse_store_location(std::string_view text);

/// The grant of a store's JSON text. Strict: one JSON object with only the
/// known fields, each at most once and of its type; `expires_at` required;
/// at least one of the tokens non-empty; tokens header-safe.
std::variant<babelbird::token_grant, store_error> parse_store_json(std::string_view text);

/// The store's content: `std::nullopt` when the file does not exist.
std::variant<std::optional<babelbird::token_grant>, store_error>
read_store(const store_location& where);

/// Replaces the store's content with `grant`, durably (see the file comment).
/// @returns std::nullopt on success.
std::optional<store_error> write_store(const store_location& where,
                                       const babelbird::token_grant& grant);

/// The temporaries a write of `where` may leave behind when killed (for tests).
std::string temporary_prefix(const store_location& where);

/// An exclusive advisory lock (flock) on `.<name>.lock` next to the store,
/// held from before the store is read until the new grant is written, so that
/// two runs never refresh the same grant at once (with rotating refresh tokens
/// the second would send a retired token). Released on destruction, and by the
/// kernel when the process dies.
class store_lock {
public:
    /// Waits up to `timeout` for the lock.
    /// @returns the lock, or a message (the store is busy, or the lock file
    /// cannot be opened).
    static std::variant<store_lock, store_error> acquire(const store_location& where,
                                                         std::chrono::milliseconds timeout);
    store_lock(store_lock&& other) noexcept : fd_(other.fd_) { other.fd_ = -1; }
    store_lock& operator=(store_lock&&) = delete;
    store_lock(const store_lock&) = delete;
    ~store_lock();

private:
    explicit store_lock(int fd) noexcept : fd_(fd) {}
    int fd_;
};

} // namespace cli
