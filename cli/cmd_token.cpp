// babelbird-cli token --base-url URL --redirect-uri URI [--store file:PATH]
//                     [--timeout SECONDS] [--verbose]
// The code always comes from BABELBIRD_AUTH_CODE; --store receives the grant.
#include <babelbird/babelbird.hpp>

#include "commands.hpp"
#include "grant_command.hpp"

namespace cli {

int run_token(const arguments& args) {
    if (!args.base_url) {
        return fail_usage("token needs --base-url URL");
    }
    if (!args.redirect_uri) {
        return fail_usage("token needs --redirect-uri URI");
    }
    const std::string& redirect_uri = *args.redirect_uri;
    return run_grant_command(args, "BABELBIRD_AUTH_CODE", false,
                             [&](auto&& transport, const auto& credentials, const auto& server,
                                 const std::optional<babelbird::token_grant>&,
                                 babelbird::secret_view code) -> babelbird::grant_result {
                                 return babelbird::exchange_code(transport, credentials, server,
                                                                 code, redirect_uri);
                             });
}

} // namespace cli
