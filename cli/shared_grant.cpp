#include "shared_grant.hpp"

#include <algorithm>
#include <cstring>

#include <babelbird/encoding/grant_codec.hpp>

#include "deliver.hpp"
#include "env.hpp"
#include "failure.hpp"
#include "json_out.hpp"
#include "store_redis.hpp"

namespace cli {

std::unique_ptr<shared_grant> open_shared_grant(const arguments& args, const store_location& where,
                                                redactor& secrets, int& status) {
    auto opened = open_redis_store(where, args.timeout);
    if (const auto* e = std::get_if<store_error>(&opened)) {
        status = fail_usage(e->message);
        return nullptr;
    }
    auto store = std::get<std::shared_ptr<babelbird::any_token_store>>(std::move(opened));
    auto record = store->load();
    if (!record) {
        std::string why = record.error().message();
        if (record.error() == babelbird::malformed_stored_grant()) {
            why = "its keys hold something this version cannot read";
        } else if (record.error().kind() == babelbird::error_class::configuration) {
            why =
                "Redis refused the connection's password, or wants one (BABELBIRD_REDIS_PASSWORD)";
        }
        status = fail(record.error().kind(), "cannot read the store " + where.path + ": " + why);
        return nullptr;
    }
    if (record->grant) {
        secrets.add(record->grant->access_token.expose_secret());
        secrets.add(record->grant->refresh_token.expose_secret());
    }
    if (record->state == babelbird::grant_state::dead) {
        status = fail(babelbird::error_class::reauthorize,
                      "the grant in the store " + where.path +
                          " is marked dead (the server refused it): sign in again "
                          "(babelbird-cli token --store ...)");
        return nullptr;
    }
    std::optional<babelbird::token_seed> seed;
    if (record->grant) {
        auto s = babelbird::token_seed::from_grant(std::move(*record->grant));
        if (!s) {
            status = fail(babelbird::error_class::protocol,
                          "the store " + where.path + " holds a grant that cannot be used");
            return nullptr;
        }
        seed = std::move(*s);
    } else {
        const auto refresh_token = take_secret_env("BABELBIRD_REFRESH_TOKEN");
        if (!refresh_token) {
            status = fail_usage("the store " + where.path +
                                " holds no grant yet and BABELBIRD_REFRESH_TOKEN is not set");
            return nullptr;
        }
        secrets.add(refresh_token->expose_secret());
        auto s = babelbird::token_seed::from_refresh_token(refresh_token->view());
        if (!s) {
            status = fail(s.error());
            return nullptr;
        }
        seed = std::move(*s);
    }
    return std::unique_ptr<shared_grant>(
        new shared_grant{std::move(store), std::move(*seed), record->gen, std::nullopt});
}

babelbird::token_source_options shared_options(const arguments& args, shared_grant& shared,
                                               redactor& secrets) {
    babelbird::token_source_options options;
    options.store = shared.store;
    options.store_owner = store_owner();
    options.lease_ttl = args.lease_ttl ? *args.lease_ttl : args.timeout + std::chrono::seconds(5);
    options.renew_lease = !args.no_lease_renewal;
    // A renewing holder keeps the lease for its whole request (at most
    // --timeout): waiters wait that long plus a lease, at least two leases.
    options.lease_wait = std::max(2 * options.lease_ttl, args.timeout + options.lease_ttl);
    options.on_rotate = [&shared, &secrets](const babelbird::token_grant& g) {
        secrets.add(g.access_token.expose_secret());
        secrets.add(g.refresh_token.expose_secret());
        shared.rotated = g;
        return true; // the store's commit follows; see rescue_uncommitted
    };
    return options;
}

int rescue_uncommitted(shared_grant& shared, const store_location& where, std::string_view what) {
    if (!shared.rotated) {
        return 0;
    }
    const auto record = shared.store->load();
    if (record && record->grant && record->state == babelbird::grant_state::active &&
        record->grant->refresh_token.expose_secret() ==
            shared.rotated->refresh_token.expose_secret()) {
        return 0;
    }
    std::string rescue = grant_json(*shared.rotated);
    const int e = write_stdout_and_scrub(rescue);
    return fail_undelivered(
        std::string(what) + "; a new grant was received but the store " + where.path +
        (record ? " does not hold it" : " cannot be read") +
        (e == 0 ? ": it is printed on stdout as a rescue copy"
                : std::string(": writing it to stdout failed too (") + std::strerror(e) + ")"));
}

} // namespace cli
