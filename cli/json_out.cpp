#include "json_out.hpp"

#include <babelbird/encoding/json_escape.hpp>
#include <babelbird/values/secure_zero.hpp>

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <ctime>

namespace cli {

using babelbird::detail::append_json_string;

std::string json_string(std::string_view text) {
    std::string out;
    out.reserve(text.size() + 2);
    babelbird::detail::append_json_string(out, text);
    return out;
}

std::string rfc3339_utc(babelbird::time_point t) {
    constexpr std::int64_t last_second = 253402300799; // 9999-12-31T23:59:59Z
    const std::int64_t seconds =
        std::chrono::floor<std::chrono::seconds>(t.time_since_epoch()).count();
    const std::time_t clamped =
        static_cast<std::time_t>(seconds > last_second ? last_second : (seconds < 0 ? 0 : seconds));
    std::tm parts{};
    gmtime_r(&clamped, &parts);
    char text[32];
    const std::size_t n = std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &parts);
    return std::string(text, n);
}

std::string grant_json(const babelbird::token_grant& grant) {
    std::string out;
    // Tokens are header-safe: escaping at most doubles them. Reserving once
    // means no reallocation leaves a copy behind.
    out.reserve(2 * (grant.access_token.size() + grant.refresh_token.size()) +
                2 * (grant.token_type.size() + grant.scope.size()) * 3 + 256);
    out += "{\"access_token\":";
    if (grant.access_token.empty()) {
        out += "null"; // a rescued refresh token without a usable access token
    } else {
        append_json_string(out, grant.access_token.expose_secret());
    }
    out += ",\"refresh_token\":";
    if (grant.refresh_token.empty()) {
        out += "null";
    } else {
        append_json_string(out, grant.refresh_token.expose_secret());
    }
    out += ",\"expires_in\":";
    out += grant.expires_in ? std::to_string(*grant.expires_in) : "null";
    out += ",\"expires_at\":";
    out += json_string(rfc3339_utc(grant.expires_at));
    out += ",\"refresh_expires_at\":";
    out += grant.refresh_expires_at ? json_string(rfc3339_utc(*grant.refresh_expires_at)) : "null";
    if (!grant.token_type.empty()) {
        out += ",\"token_type\":";
        out += json_string(grant.token_type);
    }
    if (!grant.scope.empty()) {
        out += ",\"scope\":";
        out += json_string(grant.scope);
    }
    out += '}';
    return out;
}

int write_stdout_and_scrub(std::string& text, bool newline) {
    if (newline && (text.empty() || text.back() != '\n')) {
        text += '\n';
    }
    errno = 0;
    const std::size_t size = text.size();
    const std::size_t written = std::fwrite(text.data(), 1, size, stdout);
    int e = errno;
    babelbird::detail::scrub(text);
    if (written != size || std::fflush(stdout) != 0 || std::ferror(stdout) != 0) {
        e = errno != 0 ? errno : (e != 0 ? e : EIO);
        return e;
    }
    return 0;
}

int close_stdout() {
    errno = 0;
    if (std::fclose(stdout) != 0) {
        return errno != 0 ? errno : EIO;
    }
    return 0;
}

} // namespace cli
