// What `refresh` and `token` share: read the configuration and the secrets
// (environment or --store), run one token-endpoint exchange over libcurl, and
// deliver the grant (store first, then stdout; see deliver.hpp).
#pragma once

#include <babelbird/babelbird.hpp>
#include <babelbird/drivers/token_source.hpp>

#include <cstring>
#include <optional>
#include <string>
#include <variant>

#include "args.hpp"
#include "client_env.hpp"
#include "deliver.hpp"
#include "env.hpp"
#include "failure.hpp"
#include "json_out.hpp"
#include "shared_grant.hpp"
#include "store_file.hpp"
#include "store_redis.hpp"
#include "verbose.hpp"

namespace cli {

/// `refresh` on a redis:// store: through token_source and the shared-store
/// protocol, so that it never races the other runs on the same grant. The
/// access token read from the store is invalidated first, so the source
/// refreshes (or adopts a grant that another run committed meanwhile).
inline int run_shared_refresh(const arguments& args, const store_location& where,
                              const client_setup& client, redactor& secrets) {
    int status = 0;
    auto shared = open_shared_grant(args, where, secrets, status);
    if (!shared) {
        return status;
    }
    const babelbird::secret seen = shared->seed.grant().access_token;
    auto curl = make_transport(client.server.is_loopback(), args.timeout);
    logging_transport transport(curl, args.verbose, secrets);
    babelbird::token_source<logging_transport&> source(transport, client.credentials, client.server,
                                                       std::move(shared->seed),
                                                       shared_options(args, *shared, secrets));
    if (!seen.empty()) {
        source.invalidate(seen.view());
    }
    const auto handle = source.get();
    if (!handle) {
        if (const int rescued = rescue_uncommitted(*shared, where, handle.error().message())) {
            return rescued;
        }
        return fail(handle.error());
    }
    if (maybe_uncommitted(*shared, source)) {
        if (const int rescued = rescue_uncommitted(*shared, where,
                                                   "the store could not take the new grant: " +
                                                       source.last_error()->message())) {
            return rescued;
        }
    }
    std::string out = grant_json(handle->grant());
    const int e = write_stdout_and_scrub(out);
    const int closed = e == 0 ? close_stdout() : 0;
    if (e != 0 || closed != 0) {
        return fail_undelivered(
            "a new grant was received and stored in " + where.path +
            ", but could not be delivered on stdout: " + std::strerror(e != 0 ? e : closed));
    }
    return 0;
}

/// `exchange(transport, credentials, server, stored, secret)` sends the
/// request: `stored` is the grant read from the store (when `use_store_grant`
/// and the file exists), else `secret` is the value of `grant_env`.
template <class Exchange>
int run_grant_command(const arguments& args, const char* grant_env, bool use_store_grant,
                      Exchange&& exchange) {
    int status = 0;
    const auto store = store_of(args, status);
    if (status != 0) {
        return status;
    }
    redactor secrets;
    const auto client = read_client(args, secrets, status);
    if (!client) {
        return status;
    }
    if (store && store->redis && use_store_grant) {
        return run_shared_refresh(args, *store, *client, secrets);
    }
    if (store && store->redis) {
        // `token`: Redis must answer before the one-use code is spent.
        auto opened = open_redis_store(*store, args.timeout);
        if (const auto* e = std::get_if<store_error>(&opened)) {
            return fail_usage(e->message);
        }
        if (const auto record = std::get<0>(opened)->load(); !record) {
            return fail(record.error().kind(),
                        "cannot read the store " + store->path + ": " + record.error().message());
        }
    }
    std::optional<store_lock> lock;
    if (store && !store->redis) {
        auto locked = store_lock::acquire(*store, args.timeout);
        if (const auto* e = std::get_if<store_error>(&locked)) {
            return e->busy ? fail(babelbird::error_class::retry, e->message)
                           : fail_usage(e->message);
        }
        lock.emplace(std::move(std::get<store_lock>(locked)));
    }
    std::optional<babelbird::token_grant> stored;
    if (store && use_store_grant) {
        auto read = read_store(*store);
        if (const auto* e = std::get_if<store_error>(&read)) {
            return fail_usage(e->message);
        }
        stored = std::move(std::get<std::optional<babelbird::token_grant>>(read));
    }
    if (stored && stored->refresh_token.empty()) {
        // Only an access token was kept (the server issued no refresh token):
        // nothing to refresh with, the grant is dead.
        return fail(babelbird::error_class::reauthorize,
                    "the store " + store->path +
                        " holds no refresh token: sign in again (babelbird-cli token)");
    }
    std::optional<babelbird::secret> grant_secret;
    if (stored) {
        secrets.add(stored->refresh_token.expose_secret());
        secrets.add(stored->access_token.expose_secret());
    } else {
        grant_secret = take_secret_env(grant_env);
        if (!grant_secret) {
            return fail_usage(
                std::string(grant_env) + " is not set" +
                (store && use_store_grant ? " and the store file does not exist" : ""));
        }
        secrets.add(grant_secret->expose_secret());
    }
    auto curl = make_transport(client->server.is_loopback(), args.timeout);
    const babelbird::grant_result grant = exchange(
        logging_transport(curl, args.verbose, secrets), client->credentials, client->server, stored,
        grant_secret ? grant_secret->view() : babelbird::secret_view());
    if (!grant) {
        if (grant.salvaged()) {
            return deliver_salvaged(*grant.salvaged(), store, grant.error());
        }
        return fail(grant.error());
    }
    return deliver_grant(*grant, store);
}

} // namespace cli
