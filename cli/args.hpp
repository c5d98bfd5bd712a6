// Command-line arguments: `babelbird-cli <command> [--option value | --option=value]...`.
// Secrets never come from here (see env.hpp).
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <variant>
#include <vector>

namespace cli {

/// What the command line asked for.
struct arguments {
    std::string command;
    std::optional<std::string> base_url;
    std::optional<std::string> redirect_uri;
    std::optional<std::string> data;
    std::optional<std::string> context_path;
    /// `--store STORE`, as given (see store_file.hpp for its syntax).
    std::optional<std::string> store;
    /// `--basic-encoding raw|rfc6749`; true for rfc6749.
    bool basic_rfc6749 = false;
    /// `call METHOD PATH`: the two positional arguments.
    std::optional<std::string> method;
    std::optional<std::string> path;
    /// `--header 'Name: value'`, in order, split at the first ':' (the value
    /// without surrounding spaces).
    std::vector<std::pair<std::string, std::string>> headers;
    std::chrono::milliseconds timeout{std::chrono::seconds(30)};
    /// `--lease-ttl MS` (refresh and call on a redis:// store): the store
    /// lease's time to live; absent: `--timeout` + 5 s.
    std::optional<std::chrono::milliseconds> lease_ttl;
    /// `--no-lease-renewal` (refresh and call on a redis:// store): the source
    /// does not renew its lease while the refresh request runs.
    bool no_lease_renewal = false;
    std::uint16_t port = 0;
    /// serve-fake `--access-token-lifetime SECONDS` (whole seconds, >= 1).
    std::optional<std::chrono::seconds> access_token_lifetime;
    /// serve-fake `--revoke-family-on-reuse`.
    bool revoke_family_on_reuse = false;
    /// serve-fake `--reuse-grace-ms MS`.
    std::optional<std::chrono::milliseconds> reuse_grace;
    bool verbose = false;
    bool help = false;
};

/// A parse error: a fixed text that echoes at most an option's name.
struct argument_error {
    std::string message;
};

/// Parses `argv`; each command accepts only its own options.
std::variant<arguments, argument_error> parse_arguments(int argc, const char* const* argv);

/// The usage text.
const char* usage_text() noexcept;

} // namespace cli
