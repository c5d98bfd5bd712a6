#include "args.hpp"

#include <babelbird/values/ascii.hpp>

#include <algorithm>
#include <array>
#include <cstdlib>
#include <string_view>

namespace cli {

namespace {

struct command_spec {
    std::string_view name;
    std::array<std::string_view, 9> options; // the options it accepts
    int positionals = 0;                     // how many plain arguments it takes
};

constexpr std::array<command_spec, 6> commands = {{
    {"refresh",
     {"--base-url", "--store", "--timeout", "--verbose", "--basic-encoding", "--lease-ttl",
      "--no-lease-renewal"}},
    {"token",
     {"--base-url", "--redirect-uri", "--store", "--timeout", "--verbose", "--basic-encoding"}},
    {"authorize-url", {"--base-url", "--redirect-uri", "--data"}},
    {"call",
     {"--base-url", "--store", "--data", "--header", "--timeout", "--verbose", "--basic-encoding",
      "--lease-ttl", "--no-lease-renewal"},
     2},
    {"serve-fake",
     {"--port", "--context-path", "--access-token-lifetime", "--revoke-family-on-reuse",
      "--reuse-grace-ms"}},
    {"demo", {}},
}};

bool accepts(const command_spec& spec, std::string_view option) {
    return std::find(spec.options.begin(), spec.options.end(), option) != spec.options.end();
}

/// Seconds as digits with an optional fraction, e.g. "30" or "2.5"; [0.001, 86400]
/// (digits past the milliseconds are dropped).
std::optional<std::chrono::milliseconds> parse_seconds(std::string_view text) {
    long long whole = 0;
    long long millis = 0;
    std::size_t i = 0;
    for (; i < text.size() && text[i] >= '0' && text[i] <= '9'; ++i) {
        whole = whole * 10 + (text[i] - '0');
        if (whole > 86400) {
            return std::nullopt;
        }
    }
    if (i == 0) {
        return std::nullopt;
    }
    if (i < text.size()) {
        if (text[i] != '.' || i + 1 == text.size()) {
            return std::nullopt;
        }
        long long scale = 100;
        for (++i; i < text.size(); ++i) {
            if (text[i] < '0' || text[i] > '9') {
                return std::nullopt;
            }
            millis += (text[i] - '0') * scale;
            scale /= 10;
        }
    }
    const long long total = whole * 1000 + millis;
    if (total <= 0 || total > 86400 * 1000LL) {
        return std::nullopt;
    }
    return std::chrono::milliseconds(total);
}

/// Whole milliseconds as digits, in [min, 86400000].
std::optional<std::chrono::milliseconds> parse_millis(std::string_view text, long long min) {
    if (text.empty() || text.size() > 8) {
        return std::nullopt;
    }
    long long value = 0;
    for (char ch : text) {
        if (ch < '0' || ch > '9') {
            return std::nullopt;
        }
        value = value * 10 + (ch - '0');
    }
    if (value < min || value > 86400 * 1000LL) {
        return std::nullopt;
    }
    return std::chrono::milliseconds(value);
}

std::optional<std::uint16_t> parse_port(std::string_view text) {
    if (text.empty() || text.size() > 5) {
        return std::nullopt;
    }
    unsigned value = 0;
    for (char ch : text) {
        if (ch < '0' || ch > '9') {
            return std::nullopt;
        }
        value = value * 10 + static_cast<unsigned>(ch - '0');
    }
    if (value > 65535) {
        return std::nullopt;
    }
    return static_cast<std::uint16_t>(value);
}

bool is_tchar(char ch) {
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
           std::string_view("!#$%&'*+-.^_`|~").find(ch) != std::string_view::npos;
}

/// `Name: value` with an RFC 9110 token name and a value of visible ASCII and
/// spaces; the Authorization header is the CLI's own.
std::optional<argument_error> parse_header(std::string_view text,
                                           std::vector<std::pair<std::string, std::string>>& out) {
    const std::size_t colon = text.find(':');
    if (colon == std::string_view::npos || colon == 0) {
        return argument_error{"--header must look like 'Name: value'"};
    }
    const std::string_view name = text.substr(0, colon);
    if (!std::all_of(name.begin(), name.end(), is_tchar)) {
        return argument_error{"--header: the name must be an HTTP token"};
    }
    const std::string_view value = babelbird::detail::trim_ows(text.substr(colon + 1));
    if (!std::all_of(value.begin(), value.end(),
                     [](char ch) { return ch == '\t' || (ch >= 0x20 && ch <= 0x7E); })) {
        return argument_error{"--header: the value must be printable ASCII"};
    }
    std::string lower(name);
    std::transform(lower.begin(), lower.end(), lower.begin(), [](char ch) {
        return ch >= 'A' && ch <= 'Z' ? static_cast<char>(ch - 'A' + 'a') : ch;
    });
    if (lower == "authorization" || lower == "host" || lower == "content-length") {
        return argument_error{"--header cannot set " + lower + " (the CLI sets it)"};
    }
    out.emplace_back(std::string(name), std::string(value));
    return std::nullopt;
}

} // namespace

std::variant<arguments, argument_error> parse_arguments(int argc, const char* const* argv) {
    arguments out;
    if (argc < 2) {
        return argument_error{"no command given (try --help)"};
    }
    const std::string_view first = argv[1];
    if (first == "--help" || first == "-h" || first == "help") {
        out.help = true;
        return out;
    }
    const auto spec = std::find_if(commands.begin(), commands.end(),
                                   [&](const command_spec& c) { return c.name == first; });
    if (spec == commands.end()) {
        // The text could be anything the user typed: do not echo it.
        return argument_error{"unknown command (try --help)"};
    }
    out.command = std::string(first);
    int positionals = 0;
    for (int i = 2; i < argc; ++i) {
        std::string_view arg = argv[i];
        if (arg == "--help" || arg == "-h") {
            out.help = true;
            continue;
        }
        if (arg.substr(0, 2) != "--") {
            if (positionals >= spec->positionals) {
                return argument_error{"unexpected argument (options start with --)"};
            }
            (positionals++ == 0 ? out.method : out.path) = std::string(arg);
            continue;
        }
        std::optional<std::string_view> value;
        const std::size_t eq = arg.find('=');
        if (eq != std::string_view::npos) {
            value = arg.substr(eq + 1);
            arg = arg.substr(0, eq);
        }
        // Only a known option's name is ever echoed back, never a value.
        if (!accepts(*spec, arg)) {
            const bool known = std::any_of(commands.begin(), commands.end(),
                                           [&](const command_spec& c) { return accepts(c, arg); });
            return argument_error{known ? std::string(out.command) + " does not take " +
                                              std::string(arg)
                                        : "unknown option for " + out.command};
        }
        if (arg == "--verbose" || arg == "--revoke-family-on-reuse" ||
            arg == "--no-lease-renewal") {
            if (value) {
                return argument_error{std::string(arg) + " takes no value"};
            }
            (arg == "--verbose"                  ? out.verbose
             : arg == "--revoke-family-on-reuse" ? out.revoke_family_on_reuse
                                                 : out.no_lease_renewal) = true;
            continue;
        }
        if (!value) {
            if (i + 1 >= argc) {
                return argument_error{std::string(arg) + " needs a value"};
            }
            value = std::string_view(argv[++i]);
        }
        if (arg == "--base-url") {
            out.base_url = std::string(*value);
        } else if (arg == "--redirect-uri") {
            out.redirect_uri = std::string(*value);
        } else if (arg == "--data") {
            out.data = std::string(*value);
        } else if (arg == "--context-path") {
            out.context_path = std::string(*value);
        } else if (arg == "--store") {
            out.store = std::string(*value);
        } else if (arg == "--header") {
            if (auto bad = parse_header(*value, out.headers)) {
                return *bad;
            }
        } else if (arg == "--basic-encoding") {
            if (*value != "raw" && *value != "rfc6749") {
                return argument_error{"--basic-encoding must be raw or rfc6749"};
            }
            out.basic_rfc6749 = *value == "rfc6749";
        } else if (arg == "--timeout") {
            const auto t = parse_seconds(*value);
            if (!t) {
                return argument_error{"--timeout must be a number of seconds in [0.001, 86400] "
                                      "(milliseconds at most)"};
            }
            out.timeout = *t;
        } else if (arg == "--access-token-lifetime") {
            const auto t = parse_seconds(*value);
            if (!t || t->count() % 1000 != 0) {
                return argument_error{
                    "--access-token-lifetime must be whole seconds in [1, 86400]"};
            }
            out.access_token_lifetime = std::chrono::duration_cast<std::chrono::seconds>(*t);
        } else if (arg == "--lease-ttl") {
            // Shorter than a Redis round trip plus a renewal period, a lease
            // protects nothing (5 processes lost the grant with 1 ms).
            const auto t = parse_millis(*value, 100);
            if (!t) {
                return argument_error{"--lease-ttl must be milliseconds in [100, 86400000]"};
            }
            out.lease_ttl = *t;
        } else if (arg == "--reuse-grace-ms") {
            const auto t = parse_millis(*value, 0);
            if (!t) {
                return argument_error{"--reuse-grace-ms must be milliseconds in [0, 86400000]"};
            }
            out.reuse_grace = *t;
        } else if (arg == "--port") {
            const auto p = parse_port(*value);
            if (!p) {
                return argument_error{"--port must be a number in [0, 65535]"};
            }
            out.port = *p;
        }
    }
    if ((out.lease_ttl || out.no_lease_renewal) && !out.help &&
        (!out.store || std::string_view(*out.store).substr(0, 8) != "redis://")) {
        return argument_error{"--lease-ttl and --no-lease-renewal need --store redis://..."};
    }
    if (positionals < spec->positionals && !out.help) {
        return argument_error{out.command + " needs METHOD and PATH (try --help)"};
    }
    return out;
}

const char* usage_text() noexcept {
    return R"(usage:
  babelbird-cli refresh --base-url URL [--store STORE] [--timeout SECONDS] [--verbose]
                        [--lease-ttl MS] [--no-lease-renewal]
      env BABELBIRD_CLIENT_ID, BABELBIRD_CLIENT_SECRET, and BABELBIRD_REFRESH_TOKEN
      unless the store holds a grant
  babelbird-cli token --base-url URL --redirect-uri URI [--store STORE]
                      [--timeout SECONDS] [--verbose]
      env BABELBIRD_CLIENT_ID, BABELBIRD_CLIENT_SECRET, BABELBIRD_AUTH_CODE
  babelbird-cli call METHOD PATH --base-url URL --store STORE [--data JSON]
                     [--header 'Name: value']... [--timeout SECONDS] [--verbose]
                     [--lease-ttl MS] [--no-lease-renewal]
      a Bearer call to the file API (PATH under the base URL, e.g.
      /api/v1/file/list); refreshes first when the token is expired or due and
      once after a rejected token; prints the answer body
      env BABELBIRD_CLIENT_ID, BABELBIRD_CLIENT_SECRET
  babelbird-cli authorize-url --base-url URL --redirect-uri URI [--data DATA]
      env BABELBIRD_CLIENT_ID
  babelbird-cli serve-fake [--port N] [--context-path /PATH]
                           [--access-token-lifetime SECONDS] [--revoke-family-on-reuse]
                           [--reuse-grace-ms MS]
      a loopback BabelBird-compatible server for integration tests; prints
      {"base_url":...,"port":...} on one line, runs until SIGINT/SIGTERM;
      it rotates refresh tokens (a reused one is invalid_grant; with
      --revoke-family-on-reuse it also revokes every token of that grant;
      within --reuse-grace-ms of its rotation a retired token is accepted and
      rotated once more) and logs every refresh by token fingerprint
      (GET /_fake/redemptions)
  babelbird-cli demo
      the whole flow against an embedded loopback server

refresh and token print one JSON object on stdout: access_token, refresh_token,
expires_in, expires_at, refresh_expires_at[, token_type][, scope].
STORE is file:PATH or redis://HOST:PORT/NAME. file:PATH keeps that object
(mode 0600, replaced atomically); redis:// shares the grant between processes
and machines (one refreshes, the others adopt; password from
BABELBIRD_REDIS_PASSWORD, never in the URL). The store is written before exit
0; if it cannot be, the grant is printed as a rescue copy. With redis://, the
process that refreshes holds a lease of --lease-ttl MS (default: --timeout
+ 5 s) and renews it every third of that while the request runs;
--no-lease-renewal turns renewal off (then the lease must outlast --timeout).
--basic-encoding rfc6749 form-encodes the client id and secret (for a ':' in
the id). --verbose redacts every secret it knows, wherever it appears.
Failures print one line on stderr; exit status 2 usage, 3 reauthorize,
4 retry (also: a grant received but not delivered), 5 protocol (call: a
non-2xx answer), 6 configuration. Plain http:// only for loopback hosts;
--timeout bounds each exchange (default 30 s).
)";
}

} // namespace cli
