// A user translation unit of a BABELBIRD_SEPARATE_COMPILATION build: it sees
// declarations only, never <simdjson.h>, and still refreshes and parses
// through the bodies that tests/separate/src.cpp compiled once.
#include <babelbird/babelbird.hpp>

#if defined(SIMDJSON_VERSION) || defined(SIMDJSON_H)
#error "<simdjson.h> reached a user translation unit of a separate-compilation build"
#endif

#include <cstdio>
#include <string_view>

namespace {

int failures = 0;

void check(bool ok, const char* what) {
    if (!ok) {
        std::printf("FAIL %s\n", what);
        ++failures;
    }
}

} // namespace

int main() {
    auto send = [](const babelbird::http_request& request) -> babelbird::transport_result {
        if (request.url.find("refresh_token=R1") == std::string_view::npos) {
            return babelbird::http_response(400, R"({"error":"invalid_grant"})");
        }
        return babelbird::http_response(
            200, R"({"access_token":"A2","refresh_token":"R2","expires_in":60,"scope":["a","b"]})");
    };
    const auto credentials = babelbird::client_credentials::make("id", "secret");
    const auto server = babelbird::endpoint::make("https://disk.example.com/babel");
    check(credentials && server, "configuration");
    const auto grant =
        babelbird::refresh(send, *credentials, *server, babelbird::secret_view("R1"));
    check(grant && grant->refresh_token.expose_secret() == "R2" && grant->scope == "a b",
          "refresh through the separately compiled parser");
    const auto dead = babelbird::refresh(send, *credentials, *server, babelbird::secret_view("R0"));
    check(!dead && dead.error().kind() == babelbird::error_class::reauthorize, "invalid_grant");
    // Nothing lost works the same way: the rotated refresh token is salvaged.
    const auto salvaged = babelbird::parse_token_response(
        babelbird::http_response(200, R"({"access_token":" bad","refresh_token":"R3"})"));
    check(!salvaged && salvaged.salvaged_refresh_token().expose_secret() == "R3", "salvage");
    std::printf("%d passed, %d failed\n", failures == 0 ? 1 : 0, failures == 0 ? 0 : 1);
    return failures == 0 ? 0 : 1;
}
