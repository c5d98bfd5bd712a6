#include "store_redis.hpp"

#include <unistd.h>

#include <algorithm>
#include <random>

#include "env.hpp"

#ifdef BABELBIRD_CLI_REDIS
#include <babelbird/adapters/redis.hpp>
#endif

namespace cli {

bool redis_supported() noexcept {
#ifdef BABELBIRD_CLI_REDIS
    return true;
#else
    return false;
#endif
}

std::variant<std::shared_ptr<babelbird::any_token_store>, store_error>
open_redis_store(const store_location& where, std::chrono::milliseconds timeout) {
    if (!where.redis) {
        return store_error{"not a redis:// store"};
    }
#ifdef BABELBIRD_CLI_REDIS
    babelbird::redis_store_options options;
    const auto bound = std::min(timeout, std::chrono::milliseconds(5000));
    options.connect_timeout = bound;
    options.command_timeout = bound;
    // Taken out of the environment once (take_secret_env zeroes it there);
    // a run may open the store more than once.
    static const std::optional<babelbird::secret> password =
        take_secret_env("BABELBIRD_REDIS_PASSWORD");
    if (password) {
        options.password = *password;
    }
    const redis_location& r = *where.redis;
    return std::make_shared<babelbird::any_token_store>(
        std::in_place_type<babelbird::redis_token_store>, r.host, static_cast<int>(r.port), r.name,
        std::move(options));
#else
    (void)timeout;
    return store_error{"--store redis:// is not supported by this build (it was built without "
                       "hiredis); use file:PATH"};
#endif
}

std::string store_owner() {
    char host[65] = {};
    if (::gethostname(host, sizeof host - 1) != 0) {
        host[0] = '\0';
    }
    std::string h(host);
    std::replace_if(
        h.begin(), h.end(), [](char ch) { return ch < 0x21 || ch > 0x7E; }, '_');
    std::random_device rd;
    static constexpr char hex[] = "0123456789abcdef";
    std::string tag(8, '0');
    const unsigned bits = rd();
    for (std::size_t i = 0; i < tag.size(); ++i) {
        tag[i] = hex[(bits >> (4 * i)) & 15U];
    }
    return "babelbird-cli:" + h + ":" + std::to_string(::getpid()) + ":" + tag;
}

std::optional<babelbird::error> put_grant(babelbird::any_token_store& store,
                                          const babelbird::token_grant& grant) {
    for (int attempt = 0; attempt < 5; ++attempt) {
        auto current = store.load();
        if (!current) {
            return current.error();
        }
        babelbird::store_record next;
        next.gen = current->gen + 1;
        next.grant = grant;
        next.state = babelbird::grant_state::active;
        auto done = store.commit(current->gen, next);
        if (!done) {
            return done.error();
        }
        if (done->applied) {
            return std::nullopt;
        }
    }
    return babelbird::store_error(babelbird::errc::timeout);
}

std::optional<store_error> write_any_store(const store_location& where,
                                           const babelbird::token_grant& grant,
                                           std::chrono::milliseconds timeout) {
    if (!where.redis) {
        return write_store(where, grant);
    }
    auto opened = open_redis_store(where, timeout);
    if (auto* e = std::get_if<store_error>(&opened)) {
        return std::move(*e);
    }
    if (const auto failed = put_grant(*std::get<0>(opened), grant)) {
        return store_error{"cannot write the store " + where.path + ": " + failed->message()};
    }
    return std::nullopt;
}

} // namespace cli
