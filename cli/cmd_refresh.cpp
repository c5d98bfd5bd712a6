// babelbird-cli refresh --base-url URL [--timeout SECONDS] [--verbose]
#include <babelbird/babelbird.hpp>

#include "commands.hpp"
#include "grant_command.hpp"

namespace cli {

int run_refresh(const arguments& args) {
    if (!args.base_url) {
        return fail_usage("refresh needs --base-url URL");
    }
    return run_grant_command(args, "BABELBIRD_REFRESH_TOKEN",
                             [](auto&& transport, const auto& credentials, const auto& server,
                                babelbird::secret_view refresh_token) {
                                 return babelbird::refresh(transport, credentials, server,
                                                           refresh_token);
                             });
}

} // namespace cli
