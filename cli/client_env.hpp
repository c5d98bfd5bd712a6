// The client's configuration for the commands that talk to the token
// endpoints: the server from --base-url, the credentials from the environment.
#pragma once

#include <babelbird/requests/credentials.hpp>
#include <babelbird/requests/endpoint.hpp>
#include <babelbird/values/error.hpp>

#include <optional>

#include "args.hpp"
#include "store_file.hpp"
#include "verbose.hpp"

namespace cli {

struct client_setup {
    babelbird::endpoint server;
    babelbird::client_credentials credentials;
};

/// Reads --base-url, BABELBIRD_CLIENT_ID and BABELBIRD_CLIENT_SECRET (taken out
/// of the environment); the secret and the Basic value go into `secrets`.
/// On failure prints the failure line and sets `status`.
std::optional<client_setup> read_client(const arguments& args, redactor& secrets, int& status);

/// The store of --store, if given; on a bad spelling prints the failure and
/// sets `status`.
std::optional<store_location> store_of(const arguments& args, int& status);

} // namespace cli
