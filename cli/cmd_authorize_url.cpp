// babelbird-cli authorize-url --base-url URL --redirect-uri URI [--data DATA]
#include <babelbird/requests/authorize.hpp>
#include <babelbird/requests/endpoint.hpp>

#include <cstdio>

#include "commands.hpp"
#include "env.hpp"
#include "failure.hpp"

namespace cli {

int run_authorize_url(const arguments& args) {
    if (!args.base_url) {
        return fail_usage("authorize-url needs --base-url URL");
    }
    if (!args.redirect_uri) {
        return fail_usage("authorize-url needs --redirect-uri URI");
    }
    const auto server = babelbird::endpoint::make(*args.base_url);
    if (!server) {
        return fail(server.error());
    }
    const auto client_id = read_env("BABELBIRD_CLIENT_ID");
    if (!client_id) {
        return fail_usage("BABELBIRD_CLIENT_ID is not set");
    }
    babelbird::authorize_params params;
    params.client_id = *client_id;
    params.redirect_uri = *args.redirect_uri;
    if (args.data) {
        params.data = *args.data;
    }
    const auto url = babelbird::build_authorize_url(*server, params);
    if (!url) {
        return fail(url.error());
    }
    std::fputs((*url + "\n").c_str(), stdout);
    return finish_stdout("the authorization URL");
}

} // namespace cli
