// babelbird-cli token --base-url URL --redirect-uri URI [--timeout SECONDS] [--verbose]
#include <babelbird/babelbird.hpp>

#include "commands.hpp"
#include "env.hpp"
#include "failure.hpp"
#include "json_out.hpp"
#include "verbose.hpp"

namespace cli {

int run_token(const arguments& args) {
    if (!args.base_url) {
        return fail_usage("token needs --base-url URL");
    }
    if (!args.redirect_uri) {
        return fail_usage("token needs --redirect-uri URI");
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
    const auto code = take_secret_env("BABELBIRD_AUTH_CODE");
    if (!code) {
        return fail_usage("BABELBIRD_AUTH_CODE is not set");
    }
    const auto credentials =
        babelbird::client_credentials::make(*client_id, client_secret->expose_secret());
    if (!credentials) {
        return fail(credentials.error());
    }
    auto curl = make_transport(server->is_loopback(), args.timeout);
    const auto grant = babelbird::exchange_code(logging_transport(curl, args.verbose), *credentials,
                                                *server, code->view(), *args.redirect_uri);
    if (!grant) {
        return fail(grant.error());
    }
    std::string out = grant_json(*grant);
    write_stdout_and_scrub(out);
    return 0;
}

} // namespace cli
