// What `refresh` and `token` share: read the configuration and the secrets from
// the environment, run one token-endpoint exchange over libcurl, print the grant.
#pragma once

#include <babelbird/babelbird.hpp>

#include <string>

#include "args.hpp"
#include "env.hpp"
#include "failure.hpp"
#include "json_out.hpp"
#include "verbose.hpp"

namespace cli {

/// `grant_env` names the variable holding the grant's secret (refresh token or
/// code); `exchange(transport, credentials, server, secret)` sends it.
template <class Exchange>
int run_grant_command(const arguments& args, const char* grant_env, Exchange&& exchange) {
    const auto server = babelbird::endpoint::make(*args.base_url);
    if (!server) {
        return fail(server.error());
    }
    const auto client_id = read_env("BABELBIRD_CLIENT_ID");
    if (!client_id) {
        return fail_usage("BABELBIRD_CLIENT_ID is not set");
    }
    const auto client_secret = take_secret_env("BABELBIRD_CLIENT_SECRET");
    if (!client_secret) {
        return fail_usage("BABELBIRD_CLIENT_SECRET is not set");
    }
    const auto grant_secret = take_secret_env(grant_env);
    if (!grant_secret) {
        return fail_usage(std::string(grant_env) + " is not set");
    }
    const auto credentials =
        babelbird::client_credentials::make(*client_id, client_secret->expose_secret());
    if (!credentials) {
        return fail(credentials.error());
    }
    auto curl = make_transport(server->is_loopback(), args.timeout);
    const auto grant = exchange(logging_transport(curl, args.verbose), *credentials, *server,
                                grant_secret->view());
    if (!grant) {
        return fail(grant.error());
    }
    std::string out = grant_json(*grant);
    write_stdout_and_scrub(out);
    return 0;
}

} // namespace cli
