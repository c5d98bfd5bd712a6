#include "client_env.hpp"

#include <babelbird/values/ascii.hpp>

#include <algorithm>
#include <string>
#include <string_view>

#include "env.hpp"
#include "failure.hpp"

namespace cli {

std::optional<client_setup> read_client(const arguments& args, redactor& secrets, int& status) {
    if (!args.base_url) {
        status = fail_usage(args.command + " needs --base-url URL");
        return std::nullopt;
    }
    auto server = babelbird::endpoint::make(*args.base_url);
    if (!server) {
        status = fail(server.error());
        return std::nullopt;
    }
    const auto client_id = read_env("BABELBIRD_CLIENT_ID");
    if (!client_id) {
        status = fail_usage("BABELBIRD_CLIENT_ID is not set");
        return std::nullopt;
    }
    const auto client_secret = take_secret_env("BABELBIRD_CLIENT_SECRET");
    if (!client_secret) {
        status = fail_usage("BABELBIRD_CLIENT_SECRET is not set");
        return std::nullopt;
    }
    secrets.add(client_secret->expose_secret());
    auto credentials = babelbird::client_credentials::make(
        *client_id, client_secret->expose_secret(),
        args.basic_rfc6749 ? babelbird::basic_encoding::rfc6749 : babelbird::basic_encoding::raw);
    if (!credentials) {
        if (credentials.error().code() == babelbird::errc::colon_in_client_id) {
            status =
                fail_usage("BABELBIRD_CLIENT_ID contains ':', which the vendor's Basic encoding "
                           "(Base64 of id:secret) cannot carry; if the server decodes RFC 6749 "
                           "form-encoded credentials, add --basic-encoding rfc6749, else ask the "
                           "server's administrator for a client id without ':'");
        } else {
            // Name the variable to fix (the library's message says only "a value").
            using babelbird::detail::has_control;
            const char* which = has_control(*client_id) ? "BABELBIRD_CLIENT_ID"
                                : has_control(client_secret->expose_secret())
                                    ? "BABELBIRD_CLIENT_SECRET"
                                    : "BABELBIRD_CLIENT_ID or BABELBIRD_CLIENT_SECRET";
            status = fail(credentials.error().kind(),
                          std::string(which) + ": " + credentials.error().message());
        }
        return std::nullopt;
    }
    {
        const babelbird::secret basic = credentials->basic_authorization();
        const std::string_view value = basic.expose_secret();
        const std::size_t space = value.find(' ');
        secrets.add(space == std::string_view::npos ? value : value.substr(space + 1));
    }
    return client_setup{std::move(*server), std::move(*credentials)};
}

std::optional<store_location> store_of(const arguments& args, int& status) {
    if (!args.store) {
        return std::nullopt;
    }
    auto parsed = parse_store_location(*args.store);
    if (const auto* e = std::get_if<store_error>(&parsed)) {
        status = fail_usage(e->message);
        return std::nullopt;
    }
    return std::get<store_location>(std::move(parsed));
}

} // namespace cli
