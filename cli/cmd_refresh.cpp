// babelbird-cli refresh --base-url URL [--timeout SECONDS] [--verbose]
#include <babelbird/babelbird.hpp>

#include "commands.hpp"
#include "env.hpp"
#include "failure.hpp"
#include "json_out.hpp"
#include "verbose.hpp"

namespace cli {

int run_refresh(const arguments& args) {
    if (!args.base_url) {
        return fail_usage("refresh needs --base-url URL");
    }
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
    const auto refresh_token = take_secret_env("BABELBIRD_REFRESH_TOKEN");
    if (!refresh_token) {
        return fail_usage("BABELBIRD_REFRESH_TOKEN is not set");
    }
    const auto credentials =
        babelbird::client_credentials::make(*client_id, client_secret->expose_secret());
    if (!credentials) {
        return fail(credentials.error());
    }
    auto curl = make_transport(server->is_loopback(), args.timeout);
    const auto grant = babelbird::refresh(logging_transport(curl, args.verbose), *credentials,
                                          *server, refresh_token->view());
    if (!grant) {
        return fail(grant.error());
    }
    std::string out = grant_json(*grant);
    write_stdout_and_scrub(out);
    return 0;
}

} // namespace cli
