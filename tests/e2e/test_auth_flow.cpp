// End to end over loopback: the whole authorization-code flow and the file API
// with one retry, through the libcurl transport against the BabelBird-compatible
// server: authorize -> callback -> code exchange -> Bearer call -> server-side
// expiry -> 401 -> one refresh (token_source) -> the retried call succeeds; and a
// second use of the same code is a reauthorize error.
#include <babelbird/adapters/curl.hpp>
#include <babelbird/babelbird.hpp>
#include <babelbird/drivers/token_source.hpp>
#include <babelbird/testing/fake_server.hpp>

#include <doctest/doctest.h>

#include <chrono>
#include <string>
#include <string_view>
#include <vector>

using namespace std::chrono_literals;
namespace bt = babelbird::testing;

namespace {

constexpr std::string_view client_id = "babel-client";
constexpr std::string_view client_secret = "S3cr3t+/=:%!value";
// A redirect URI with its own query, and data with & = + spaces and non-ASCII text.
constexpr std::string_view redirect_uri = "http://127.0.0.1:9/app/callback?tenant=docs&v=1";
constexpr std::string_view state = "csrf-7f3a&next=/home +\xE6\x96\x87\xE6\xA1\xA3";

bt::fake_server_options server_options() {
    bt::fake_server_options o;
    o.client_id = std::string(client_id);
    o.client_secret = std::string(client_secret);
    o.context_path = "/babel";
    return o;
}

babelbird::client_credentials credentials() {
    return babelbird::client_credentials::make(client_id, client_secret).value();
}

babelbird::curl_transport transport() {
    babelbird::curl_options o;
    o.timeout = 5s;
    o.proxy = ""; // loopback: never through a proxy from the environment
    return babelbird::curl_transport(o);
}

/// Follows the authorization URL like a browser that consents at once: GET, expect
/// a 302, return its Location.
std::string authorize(babelbird::curl_transport& t, std::string_view url) {
    const babelbird::http_request request("GET", std::string(url));
    const auto response = t(request);
    REQUIRE(response);
    REQUIRE(response->status == 302);
    const auto location = response->header("Location");
    REQUIRE(location);
    return std::string(*location);
}

void check_no_secret(const babelbird::error& e, std::string_view code) {
    const std::string m = e.message();
    for (std::string_view s : {client_secret, code}) {
        CHECK(m.find(s) == std::string::npos);
    }
}

std::vector<std::string> paths_of(const std::vector<bt::recorded_request>& requests) {
    std::vector<std::string> out;
    for (const auto& r : requests) {
        out.push_back(r.method + " " + r.path);
    }
    return out;
}

} // namespace

TEST_CASE("e2e auth flow: authorize, callback, code exchange, Bearer call, expiry, one "
          "refresh, retried call; a used code is reauthorize") {
    bt::fake_server server(server_options());
    REQUIRE(server.start());
    const auto endpoint = babelbird::endpoint::make(server.base_url()).value();
    auto t = transport();

    // 1. Authorization URL, followed by the "browser".
    const auto url = babelbird::build_authorize_url(
        endpoint, {.client_id = client_id, .redirect_uri = redirect_uri, .data = state});
    REQUIRE(url);
    const std::string location = authorize(t, *url);
    CHECK(location.rfind(std::string(redirect_uri) + "&code=", 0) == 0);
    {
        // The server decoded exactly what we meant to send.
        const auto seen = server.requests();
        REQUIRE(seen.size() == 1);
        CHECK(seen[0].param("redirect_uri") == std::optional<std::string>(redirect_uri));
        CHECK(seen[0].param("data") == std::optional<std::string>(state));
        CHECK(seen[0].param("client_id") == std::optional<std::string>(client_id));
    }

    // 2. The callback: code and data, data checked against what was sent.
    const auto callback = babelbird::parse_callback_url(location, state);
    REQUIRE(callback);
    CHECK(callback->data == std::optional<std::string>(state));
    const std::string code(callback->code.expose_secret());
    // A forged callback with other data is refused.
    CHECK(babelbird::parse_callback_url(location, "csrf-other").error().code() ==
          babelbird::errc::data_mismatch);

    // 3. Code exchange.
    auto grant =
        babelbird::exchange_code(t, credentials(), endpoint, callback->code.view(), redirect_uri);
    REQUIRE(grant);
    CHECK(grant->refresh_token_rotated); // the server issued a refresh token
    CHECK_FALSE(grant->refresh_token.empty());
    const std::string first_access(grant->access_token.expose_secret());
    CHECK(server.access_token_valid(first_access));

    // 4. A token source seeded with that grant; Bearer calls go through send_authorized.
    int rotations = 0;
    babelbird::token_source_options options;
    options.on_rotate = [&](const babelbird::token_grant&) {
        ++rotations;
        return true;
    };
    auto seed = babelbird::token_seed::from_grant(std::move(*grant));
    REQUIRE(seed);
    babelbird::token_source<babelbird::curl_transport> source(transport(), credentials(), endpoint,
                                                              std::move(*seed), options);
    auto files = transport();
    const auto list = babelbird::build_file_api_request(endpoint, {.path = "/api/v1/file/list"});
    REQUIRE(list);

    server.clear_requests();
    const auto ok = babelbird::send_authorized(files, source, *list);
    REQUIRE(ok);
    CHECK(ok->status == 200);
    CHECK(ok->body.find("report.docx") != std::string::npos);
    CHECK(rotations == 0);
    {
        const auto seen = server.requests();
        REQUIRE(seen.size() == 1);
        CHECK(seen[0].header("Authorization") ==
              std::optional<std::string>("Bearer " + first_access));
    }

    // 5. Server-side expiry: the client still believes its token; the server says 401.
    server.advance(3601s);
    server.clear_requests();
    const auto retried = babelbird::send_authorized(files, source, *list);
    REQUIRE(retried);
    CHECK(retried->status == 200);
    CHECK(retried->body.find("report.docx") != std::string::npos);
    CHECK(rotations == 1);
    const auto seen = server.requests();
    CHECK(paths_of(seen) == std::vector<std::string>{"GET /babel/api/v1/file/list",
                                                     "POST /babel/api/refreshToken.do",
                                                     "GET /babel/api/v1/file/list"});
    REQUIRE(seen.size() == 3);
    CHECK(seen[0].header("Authorization") == std::optional<std::string>("Bearer " + first_access));
    const auto second_auth = seen[2].header("Authorization");
    REQUIRE(second_auth);
    CHECK(*second_auth != "Bearer " + first_access);
    CHECK(server.access_token_valid(second_auth->substr(7)));

    // 6. A second use of the same code: reauthorize, never retried.
    server.clear_requests();
    const auto again = babelbird::exchange_code(t, credentials(), endpoint,
                                                babelbird::secret_view(code), redirect_uri);
    REQUIRE_FALSE(again);
    CHECK(again.error().needs_reauthorization());
    CHECK(again.error().oauth_code() == babelbird::oauth_error::invalid_grant);
    CHECK(server.requests().size() == 1);
    check_no_secret(again.error(), code);
}

TEST_CASE("e2e auth flow: login-free JWT authorization with an email selector") {
    bt::fake_server server(server_options());
    REQUIRE(server.start());
    const auto endpoint = babelbird::endpoint::make(server.base_url()).value();
    auto t = transport();
    const babelbird::query_parameter extra[] = {{"redirect_uri", redirect_uri},
                                                {"data", "jwt-state"}};
    const auto url = babelbird::build_authorize_jwt_url(
        endpoint, {.client_id = client_id,
                   .jwt_token = babelbird::secret_view("eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.s1g"),
                   .email = "zhang.san+docs@example.com",
                   .extra = extra});
    REQUIRE(url);
    const std::string location = authorize(t, url->expose_secret());
    const auto seen = server.requests();
    REQUIRE(seen.size() == 1);
    CHECK(seen[0].path == "/babel/api/authorizeByJWT.do");
    CHECK(seen[0].param("email") == std::optional<std::string>("zhang.san+docs@example.com"));

    const auto callback = babelbird::parse_callback_url(location, "jwt-state");
    REQUIRE(callback);
    const auto grant =
        babelbird::exchange_code(t, credentials(), endpoint, callback->code.view(), redirect_uri);
    REQUIRE(grant);
    CHECK(server.access_token_valid(std::string(grant->access_token.expose_secret())));
}

TEST_CASE("e2e auth flow: a rejected POST is not resent, but its token is invalidated") {
    bt::fake_server server(server_options());
    REQUIRE(server.start());
    const auto endpoint = babelbird::endpoint::make(server.base_url()).value();
    auto t = transport();
    const std::string code = server.issue_code(redirect_uri);
    auto grant = babelbird::exchange_code(t, credentials(), endpoint, babelbird::secret_view(code),
                                          redirect_uri);
    REQUIRE(grant);
    auto seed = babelbird::token_seed::from_grant(std::move(*grant));
    REQUIRE(seed);
    babelbird::token_source<babelbird::curl_transport> source(transport(), credentials(), endpoint,
                                                              std::move(*seed));
    const auto post = babelbird::build_file_api_request(
        endpoint, {.method = "POST", .path = "/api/v1/file/list", .json_body = R"({"page":1})"});
    REQUIRE(post);

    server.advance(3601s);
    server.clear_requests();
    const auto rejected = babelbird::send_authorized(t, source, *post);
    REQUIRE(rejected);
    CHECK(rejected->status == 401);
    CHECK(paths_of(server.requests()) == std::vector<std::string>{"POST /babel/api/v1/file/list"});

    // The next call refreshes first (the token was invalidated), then succeeds.
    server.clear_requests();
    const auto next = babelbird::send_authorized(t, source, *post);
    REQUIRE(next);
    CHECK(next->status == 200);
    CHECK(paths_of(server.requests()) == std::vector<std::string>{"POST /babel/api/refreshToken.do",
                                                                  "POST /babel/api/v1/file/list"});
}
