// libFuzzer target: the token response parser, any status, any body, with and
// without an envelope pointer.
//
// Input: byte 0 picks the status, byte 1 the options, the rest is the body.
// Invariants:
// - a success has a 2xx status, a non-empty header-safe access token, and a
//   header-safe refresh token exactly when it says it was rotated;
// - every error has origin `server`, the status it was given (0 when out of
//   range), a class consistent with the status, and a message made only of its
//   fixed description, the status and an RFC 6749-shaped OAuth code;
// - parsing the same input twice gives the same outcome (the per-thread
//   scratch state does not leak from one parse into the next);
// - a root-level success also succeeds, with the same fields, when wrapped in
//   an envelope and parsed with that envelope's pointer;
// - after every parse the scratch memory is zero (no token bytes left behind).
#include "fuzz_support.hpp"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace {

using babelbird::errc;
using babelbird::error_class;

constexpr int statuses[16] = {200, 201, 204, 299, 400, 401, 403, 404,
                              408, 429, 500, 503, 302, 101, 99,  600};
constexpr std::string_view envelopes[4] = {"", "/data", "/data/0", "/a~1b/c~0d"};

int pick_status(std::uint8_t b0, std::uint8_t b1) {
    if (b0 < 0x80) {
        return statuses[b0 & 15];
    }
    // Any value in -24..999, to reach the range checks.
    return static_cast<int>(((static_cast<unsigned>(b0) & 0x7Fu) << 3) | (b1 >> 5)) - 24;
}

void zero_scratch() {
    auto memory = babelbird::detail::json_scratch::for_this_thread().memory_for_testing();
    std::fill(memory.body_copy.begin(), memory.body_copy.end(), '\0');
    std::fill(memory.strings.begin(), memory.strings.end(), '\0');
}

bool all_bytes(std::span<const char> bytes, char value) {
    static std::vector<char> reference;
    if (reference.size() < bytes.size()) {
        reference.assign(bytes.size(), '\0');
    }
    if (reference.empty() || reference.front() != value) {
        std::fill(reference.begin(), reference.end(), value);
    }
    return bytes.empty() || std::memcmp(bytes.data(), reference.data(), bytes.size()) == 0;
}

/// Nothing but zeros and the copy's space padding is left in the scratch
/// memory: the body copy is zero up to the body's size, then padded with
/// spaces, then untouched (zero); the string buffer is all zero.
void check_scratch_clean(std::size_t copied) {
    const auto memory = babelbird::detail::json_scratch::for_this_thread().memory_for_testing();
    const std::span<const char> copy(memory.body_copy.data(), memory.body_copy.size());
    FUZZ_CHECK(copy.size() >= copied + simdjson::SIMDJSON_PADDING);
    FUZZ_CHECK(all_bytes(copy.first(copied), '\0'));
    FUZZ_CHECK(all_bytes(copy.subspan(copied, simdjson::SIMDJSON_PADDING), ' '));
    FUZZ_CHECK(all_bytes(copy.subspan(copied + simdjson::SIMDJSON_PADDING), '\0'));
    FUZZ_CHECK(all_bytes(memory.strings, '\0'));
}

babelbird::result<babelbird::token_response> parse(int status, std::string_view body,
                                                   const babelbird::response_options& options) {
    zero_scratch();
    auto r = babelbird::parse_token_response(status, body, options);
    // A salvaged refresh token only comes with a 2xx whose access token or
    // expires_in was rejected, and is a usable refresh token.
    if (r.has_salvaged_refresh_token()) {
        FUZZ_CHECK(!r && status >= 200 && status < 300);
        FUZZ_CHECK(r.error().code() == errc::missing_access_token ||
                   r.error().code() == errc::invalid_token ||
                   r.error().code() == errc::invalid_expires_in);
        FUZZ_CHECK(babelbird::detail::is_refresh_token(r.salvaged_refresh_token().expose_secret()));
    }
    // Only bodies within the cap and a status in range are copied for parsing.
    if (status >= 100 && status <= 599 && !(status >= 300 && status < 400) &&
        body.size() <= options.max_body_size) {
        const bool bom = body.substr(0, 3) == "\xEF\xBB\xBF";
        check_scratch_clean(body.size() - (bom ? 3 : 0));
    }
    return r;
}

void check_error(const babelbird::error& e, int status, std::size_t body_size,
                 const babelbird::response_options& options) {
    FUZZ_CHECK(e.origin() == babelbird::error_origin::server);
    FUZZ_CHECK(e.message() == fuzz_support::expected_message(e));
    FUZZ_CHECK(fuzz_support::is_plausible_oauth_text(e.oauth_error_text()));
    if (e.oauth_code() != babelbird::oauth_error::other &&
        e.oauth_code() != babelbird::oauth_error::none) {
        FUZZ_CHECK(e.oauth_error_text() == babelbird::to_string(e.oauth_code()));
    }
    if (status < 100 || status > 599) {
        FUZZ_CHECK(e.code() == errc::unexpected_status);
        FUZZ_CHECK(e.kind() == error_class::protocol);
        FUZZ_CHECK(e.http_status() == (status < 0 || status > 999 ? 0 : status));
        return;
    }
    FUZZ_CHECK(e.http_status() == status);
    const bool success_status = status >= 200 && status < 300;
    switch (e.code()) {
    case errc::redirect:
        FUZZ_CHECK(status >= 300 && status < 400);
        FUZZ_CHECK(e.kind() == error_class::protocol);
        break;
    case errc::oauth_error_response:
        FUZZ_CHECK(!(status >= 300 && status < 400));
        FUZZ_CHECK(e.kind() == babelbird::classify_failure(status, e.oauth_code()));
        FUZZ_CHECK(e.oauth_code() != babelbird::oauth_error::none);
        break;
    case errc::unexpected_status:
        FUZZ_CHECK(!success_status);
        FUZZ_CHECK(e.kind() == babelbird::classify_failure(status, babelbird::oauth_error::none));
        break;
    case errc::body_too_large:
        FUZZ_CHECK(success_status);
        FUZZ_CHECK(body_size > options.max_body_size);
        FUZZ_CHECK(e.kind() == error_class::protocol);
        break;
    default:
        // Only a 2xx gets its body judged; every such verdict is a protocol error.
        FUZZ_CHECK(success_status);
        FUZZ_CHECK(e.kind() == error_class::protocol);
        FUZZ_CHECK(e.code() >= errc::invalid_json && e.code() <= errc::nesting_too_deep);
        FUZZ_CHECK(e.oauth_code() == babelbird::oauth_error::none);
        break;
    }
}

void check_success(const babelbird::token_response& t, int status) {
    FUZZ_CHECK(status >= 200 && status < 300);
    FUZZ_CHECK(babelbird::detail::is_access_token(t.access_token().expose_secret()));
    if (t.has_refresh_token()) {
        FUZZ_CHECK(babelbird::detail::is_refresh_token(t.refresh_token().expose_secret()));
    } else {
        FUZZ_CHECK(t.refresh_token().empty());
    }
}

bool same(const babelbird::result<babelbird::token_response>& a,
          const babelbird::result<babelbird::token_response>& b) {
    if (a.has_value() != b.has_value()) {
        return false;
    }
    if (!a) {
        return a.error() == b.error();
    }
    return a->access_token().expose_secret() == b->access_token().expose_secret() &&
           a->has_refresh_token() == b->has_refresh_token() &&
           a->refresh_token().expose_secret() == b->refresh_token().expose_secret() &&
           a->expires_in() == b->expires_in() &&
           a->refresh_expires_in() == b->refresh_expires_in() &&
           a->token_type() == b->token_type() && a->scope() == b->scope();
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size < 2) {
        return 0;
    }
    const int status = pick_status(data[0], data[1]);
    const std::uint8_t flags = data[1];
    const std::string_view body(reinterpret_cast<const char*>(data + 2), size - 2);

    babelbird::response_options options;
    options.envelope = envelopes[flags & 3];
    if ((flags & 4) != 0) {
        options.max_body_size = 48;
    }
    if ((flags & 8) != 0) {
        options.fields.access_token = "accessToken";
        options.fields.refresh_token = "refreshToken";
        options.fields.expires_in = "expiresIn";
    }

    const auto first = parse(status, body, options);
    if (first) {
        check_success(*first, status);
    } else {
        check_error(first.error(), status, body.size(), options);
    }
    FUZZ_CHECK(same(first, parse(status, body, options)));

    // The same token object one level down, found through an envelope.
    if (first && options.envelope.empty() && (flags & 4) == 0 &&
        body.substr(0, 3) != "\xEF\xBB\xBF") {
        std::string wrapped = "{\"data\":";
        wrapped += body;
        wrapped += '}';
        babelbird::response_options enveloped = options;
        enveloped.envelope = "/data";
        const auto second = parse(status, wrapped, enveloped);
        if (second) {
            FUZZ_CHECK(same(first, second));
        } else {
            // The envelope adds one level of nesting.
            FUZZ_CHECK(second.error().code() == errc::nesting_too_deep);
        }
    }
    return 0;
}
