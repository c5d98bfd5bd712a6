// babelbird-cli refresh --base-url URL [--store file:PATH] [--timeout SECONDS] [--verbose]
#include <babelbird/babelbird.hpp>

#include "commands.hpp"
#include "grant_command.hpp"

namespace cli {

int run_refresh(const arguments& args) {
    if (!args.base_url) {
        return fail_usage("refresh needs --base-url URL");
    }
    return run_grant_command(
        args, "BABELBIRD_REFRESH_TOKEN", true,
        [](auto&& transport, const auto& credentials, const auto& server,
           const std::optional<babelbird::token_grant>& stored,
           babelbird::secret_view refresh_token) -> babelbird::grant_result {
            if (stored) {
                // The stored grant: its refresh-token expiry is kept when not rotated.
                return babelbird::refresh(transport, credentials, server, *stored);
            }
            return babelbird::refresh(transport, credentials, server, refresh_token);
        });
}

} // namespace cli
