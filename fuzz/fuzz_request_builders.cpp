// libFuzzer target: the request builders and the refresh exchange.
//
// From fuzzed strings (client id, client secret, base URL, refresh path,
// refresh token), each builder either refuses with a typed `usage` error whose
// message is fixed text, or builds a request whose header values and URL hold
// no control byte (so no CR, LF or NUL) and whose URL is exactly the base URL,
// the path and a query that percent-decodes back to the inputs; the Basic value
// decodes back to the credentials. When a request is built, `refresh()` runs
// against a fake transport answering with a fuzzed status and body: the
// transport sees exactly the built request, and no error carries a secret.
#include "fuzz_support.hpp"

#include <fuzzer/FuzzedDataProvider.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace {

using babelbird::errc;

void check_usage_error(const babelbird::error& e) {
    FUZZ_CHECK(e.kind() == babelbird::error_class::usage);
    FUZZ_CHECK(e.origin() == babelbird::error_origin::caller);
    FUZZ_CHECK(e.http_status() == 0);
    FUZZ_CHECK(e.oauth_code() == babelbird::oauth_error::none);
    FUZZ_CHECK(e.message() == babelbird::describe(e.code()));
    FUZZ_CHECK(e.code() >= errc::empty_client_id && e.code() <= errc::invalid_argument);
}

bool has_cr_lf_nul(std::string_view s) {
    return s.find_first_of(std::string_view("\r\n\0", 3)) != std::string_view::npos;
}

std::string decode(std::string_view s) {
    auto r = babelbird::percent_decode(s);
    FUZZ_CHECK(r.has_value());
    return *r;
}

void check_credentials(const babelbird::client_credentials& c, std::string_view id,
                       std::string_view secret, babelbird::basic_encoding encoding) {
    const std::string header = c.basic_authorization_string();
    FUZZ_CHECK(c.basic_authorization().expose_secret() == header);
    FUZZ_CHECK(header.rfind("Basic ", 0) == 0);
    FUZZ_CHECK(!babelbird::detail::has_control(header));
    const auto decoded = babelbird::base64_decode(std::string_view(header).substr(6));
    FUZZ_CHECK(decoded.has_value());
    if (encoding == babelbird::basic_encoding::raw) {
        FUZZ_CHECK(*decoded == std::string(id) + ":" + std::string(secret));
    } else {
        FUZZ_CHECK(*decoded == babelbird::form_encode(id) + ":" + babelbird::form_encode(secret));
    }
    FUZZ_CHECK(c.client_id() == id);
    FUZZ_CHECK(c.client_secret().expose_secret() == secret);
}

void check_request(const babelbird::http_request& r, const babelbird::endpoint& server,
                   std::string_view token, std::string_view basic) {
    FUZZ_CHECK(r.method == "POST");
    FUZZ_CHECK(r.body.empty());
    FUZZ_CHECK(!babelbird::detail::has_control(r.url));
    for (const auto& h : r.headers) {
        FUZZ_CHECK(!has_cr_lf_nul(h.name) && !has_cr_lf_nul(h.value));
        FUZZ_CHECK(!babelbird::detail::has_control(h.value));
    }
    FUZZ_CHECK(r.header("authorization") == std::optional<std::string_view>(basic));
    // base + path + "?" + query, and the query decodes back to the inputs.
    const std::string prefix = std::string(server.base_url()) + server.paths().refresh + "?";
    FUZZ_CHECK(r.url.compare(0, prefix.size(), prefix) == 0);
    const std::string_view query = std::string_view(r.url).substr(prefix.size());
    const std::size_t amp = query.find('&');
    FUZZ_CHECK(amp != std::string_view::npos);
    FUZZ_CHECK(query.substr(0, amp) == "grant_type=refresh_token");
    const std::string_view second = query.substr(amp + 1);
    FUZZ_CHECK(second.substr(0, 14) == "refresh_token=");
    FUZZ_CHECK(second.find_first_of("&#?") == std::string_view::npos);
    FUZZ_CHECK(decode(second.substr(14)) == token);
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    FuzzedDataProvider in(data, size);
    const auto encoding =
        in.ConsumeBool() ? babelbird::basic_encoding::raw : babelbird::basic_encoding::rfc6749;
    const std::string id = in.ConsumeRandomLengthString(64);
    const std::string secret = in.ConsumeRandomLengthString(64);
    const std::string base = in.ConsumeRandomLengthString(96);
    const std::string path = in.ConsumeRandomLengthString(48);
    const std::string token = in.ConsumeRandomLengthString(96);
    const int status = in.ConsumeIntegralInRange<int>(0, 999);
    const std::string body = in.ConsumeRemainingBytesAsString();

    const auto credentials = babelbird::client_credentials::make(id, secret, encoding);
    if (!credentials) {
        check_usage_error(credentials.error());
    } else {
        check_credentials(*credentials, id, secret, encoding);
    }

    babelbird::endpoint_paths paths;
    if (!path.empty()) {
        paths.refresh = path;
    }
    const auto server = babelbird::endpoint::make(base, paths);
    if (!server) {
        check_usage_error(server.error());
    } else {
        FUZZ_CHECK(!babelbird::detail::has_control(server->base_url()));
        FUZZ_CHECK(server->base_url().rfind("http://", 0) == 0 ||
                   server->base_url().rfind("https://", 0) == 0);
        // No query or fragment; no user info ('@' is allowed in the path only).
        const std::string_view url = server->base_url();
        FUZZ_CHECK(url.find_first_of("?#") == std::string_view::npos);
        const std::string_view rest = url.substr(url.find("://") + 3);
        FUZZ_CHECK(rest.substr(0, rest.find('/')).find('@') == std::string_view::npos);
        FUZZ_CHECK(rest.substr(0, rest.find('/')) == server->host() ||
                   rest.substr(0, rest.find('/')).rfind(server->host(), 0) == 0);
        FUZZ_CHECK(server->base_url().back() != '/');
        FUZZ_CHECK(server->is_loopback() || server->base_url().rfind("https://", 0) == 0);
    }
    if (!credentials || !server) {
        return 0;
    }

    const auto request =
        babelbird::build_refresh_request(*credentials, *server, babelbird::secret_view(token));
    if (!request) {
        check_usage_error(request.error());
        const errc c = request.error().code();
        FUZZ_CHECK(c == errc::empty_value || c == errc::control_character ||
                   c == errc::token_not_header_safe);
        return 0;
    }
    FUZZ_CHECK(babelbird::detail::is_refresh_token(token));
    const std::string basic = credentials->basic_authorization_string();
    check_request(*request, *server, token, basic);

    // The whole exchange against a fake transport that checks what it is sent.
    bool called = false;
    auto transport = [&](const babelbird::http_request& sent) -> babelbird::transport_result {
        called = true;
        FUZZ_CHECK(sent.url == request->url);
        FUZZ_CHECK(sent.header("Authorization") == std::optional<std::string_view>(basic));
        if (status == 0) {
            return babelbird::error::transport(errc::timeout);
        }
        return babelbird::http_response(status, body);
    };
    const auto grant =
        babelbird::refresh(transport, *credentials, *server, babelbird::secret_view(token));
    FUZZ_CHECK(called);
    if (grant) {
        FUZZ_CHECK(babelbird::detail::is_access_token(grant->access_token.expose_secret()));
        FUZZ_CHECK(babelbird::detail::is_refresh_token(grant->refresh_token.expose_secret()));
        if (!grant->refresh_token_rotated) {
            FUZZ_CHECK(grant->refresh_token.expose_secret() == token);
        }
        FUZZ_CHECK(grant->expires_at >= grant->issued_at);
    } else {
        const babelbird::error& e = grant.error();
        FUZZ_CHECK(e.message() == fuzz_support::expected_message(e));
        FUZZ_CHECK(fuzz_support::is_plausible_oauth_text(e.oauth_error_text()));
        const std::string_view text = e.oauth_error_text();
        if (e.oauth_code() == babelbird::oauth_error::other && !text.empty()) {
            // An unknown code that overlaps a secret that was sent is not kept.
            FUZZ_CHECK(text.find(token) == std::string_view::npos &&
                       token.find(text) == std::string::npos);
            if (!secret.empty()) {
                FUZZ_CHECK(text.find(secret) == std::string_view::npos &&
                           secret.find(text) == std::string::npos);
            }
        }
        if (status == 0) {
            FUZZ_CHECK(e.origin() == babelbird::error_origin::transport);
        } else {
            FUZZ_CHECK(e.origin() == babelbird::error_origin::server);
        }
    }
    return 0;
}
