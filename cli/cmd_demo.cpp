// babelbird-cli demo: the whole flow against an embedded BabelBird-compatible
// server on a free loopback port, as a short transcript with secrets masked.
#include <babelbird/adapters/curl.hpp>
#include <babelbird/answers/callback.hpp>
#include <babelbird/babelbird.hpp>
#include <babelbird/requests/authorize.hpp>
#include <babelbird/requests/file_api.hpp>
#include <babelbird/testing/fake_server.hpp>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <random>
#include <string>
#include <string_view>

#include "commands.hpp"
#include "failure.hpp"
#include "verbose.hpp"

namespace cli {

namespace {

/// A secret shown as its length and a short FNV-1a fingerprint: enough to see
/// that a token changed, nothing to reuse.
std::string masked(std::string_view secret) {
    std::uint32_t h = 2166136261u;
    for (char ch : secret) {
        h = (h ^ static_cast<unsigned char>(ch)) * 16777619u;
    }
    char text[64];
    std::snprintf(text, sizeof text, "[masked, %zu bytes, fingerprint %08x]", secret.size(),
                  static_cast<unsigned>(h));
    return text;
}

void step(int n, std::string_view title) {
    std::printf("\n[%d] %.*s\n", n, int(title.size()), title.data());
}

void line(std::string_view text) {
    std::printf("    %.*s\n", int(text.size()), text.data());
}

/// An unexpected outcome ends the demo with the class's exit status.
int broken(std::string_view what, const babelbird::error& e) {
    std::fflush(stdout);
    return fail(e.kind(), std::string(what) + ": " + e.message());
}

int broken(std::string_view what) {
    std::fflush(stdout);
    return fail(babelbird::error_class::protocol, what);
}

std::string random_data() {
    std::random_device rd;
    char text[17];
    std::snprintf(text, sizeof text, "%08x%08x", rd(), rd());
    return text;
}

} // namespace

int run_demo(const arguments&) {
    using namespace std::chrono_literals;
    namespace bt = babelbird::testing;

    bt::fake_server_options options;
    options.client_id = "demo-client";
    options.client_secret = "demo-secret+/=:%!";
    options.context_path = "/babel";
    bt::fake_server server(options);
    if (!server.start()) {
        return fail(babelbird::error_class::retry, "cannot start the embedded server");
    }
    std::printf("babelbird demo: the whole flow against a BabelBird-compatible server\n");
    std::printf("server: %s (loopback, embedded; its clock is controlled by the demo)\n",
                server.base_url().c_str());

    const auto server_endpoint = babelbird::endpoint::make(server.base_url());
    const auto credentials =
        babelbird::client_credentials::make(options.client_id, options.client_secret);
    if (!server_endpoint || !credentials) {
        return broken("set-up", !server_endpoint ? server_endpoint.error() : credentials.error());
    }
    auto curl = make_transport(true, 10s);
    const std::string redirect_uri = "https://app.example.com/babelbird/callback";
    const std::string data = random_data();

    step(1, "authorize URL (send the user's browser here)");
    babelbird::authorize_params params;
    params.client_id = options.client_id;
    params.redirect_uri = redirect_uri;
    params.data = data;
    const auto authorize_url = babelbird::build_authorize_url(*server_endpoint, params);
    if (!authorize_url) {
        return broken("authorize URL", authorize_url.error());
    }
    line(*authorize_url);

    step(2, "the user consents: the server redirects to the callback with a code");
    const auto consent = curl(babelbird::http_request("GET", *authorize_url));
    if (!consent) {
        return broken("authorize", consent.error());
    }
    const auto location = consent->header("Location");
    if (consent->status != 302 || !location) {
        return broken("authorize: expected a 302 with a Location");
    }
    line("HTTP 302 Location: " + redact_url(*location));
    const auto callback = babelbird::parse_callback_url(*location, data);
    if (!callback) {
        return broken("callback", callback.error());
    }
    line("callback: data matches, code " + masked(callback->code.expose_secret()));

    step(3, "exchange the code: POST /api/token.do (Basic client credentials)");
    const auto grant = babelbird::exchange_code(curl, *credentials, *server_endpoint,
                                                callback->code.view(), redirect_uri);
    if (!grant) {
        return broken("code exchange", grant.error());
    }
    line("access_token  " + masked(grant->access_token.expose_secret()));
    line("refresh_token " + masked(grant->refresh_token.expose_secret()));
    line("expires_in    " + std::to_string(grant->expires_in.value_or(0)) + " s");

    // A file-API request built by the library and decorated with the Bearer token.
    const auto list_files = [&](const babelbird::token_grant& g) -> babelbird::transport_result {
        babelbird::file_api_params call;
        call.method = "GET";
        call.path = options.file_path;
        auto request = babelbird::build_file_api_request(*server_endpoint, call);
        if (!request) {
            return request.error();
        }
        if (auto ok = babelbird::add_bearer(*request, g.access_token.view()); !ok) {
            return ok.error();
        }
        return curl(*request);
    };

    step(4, "call the file API with the Bearer token: GET /api/v1/file/list");
    const auto listed = list_files(*grant);
    if (!listed || listed->status != 200) {
        return listed ? broken("file API: expected 200") : broken("file API", listed.error());
    }
    line("HTTP 200 " + listed->body);

    step(5, "time passes: the server's clock moves 1 h 1 s, the access token expires");
    server.advance(3601s);
    const auto expired = list_files(*grant);
    if (!expired || expired->status != 401) {
        return expired ? broken("file API: expected 401") : broken("file API", expired.error());
    }
    line("HTTP 401 WWW-Authenticate: " +
         std::string(expired->header("WWW-Authenticate").value_or("")) + "  " + expired->body);

    step(6, "refresh: POST /api/refreshToken.do, the server rotates the refresh token");
    const auto refreshed = babelbird::refresh(curl, *credentials, *server_endpoint, *grant);
    if (!refreshed) {
        return broken("refresh", refreshed.error());
    }
    line("access_token  " + masked(refreshed->access_token.expose_secret()));
    line("refresh_token " + masked(refreshed->refresh_token.expose_secret()) +
         (refreshed->refresh_token_rotated ? " (rotated)" : " (kept)"));

    step(7, "the old refresh token no longer works");
    const auto stale = babelbird::refresh(curl, *credentials, *server_endpoint, *grant);
    if (stale) {
        return broken("refresh with the old token: expected a rejection");
    }
    line("rejected as expected: " + std::string(babelbird::to_string(stale.error().kind())) + ": " +
         stale.error().message());

    step(8, "call the file API again with the new access token");
    const auto again = list_files(*refreshed);
    if (!again || again->status != 200) {
        return again ? broken("file API: expected 200") : broken("file API", again.error());
    }
    line("HTTP 200 " + again->body);

    server.stop();
    std::printf("\ndemo finished: %zu requests, every step as expected; server stopped\n",
                server.requests().size());
    return finish_stdout("the demo's report");
}

} // namespace cli
