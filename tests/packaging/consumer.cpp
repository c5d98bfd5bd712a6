// A downstream program: includes the umbrella header, builds a refresh request
// and prints what tests/packaging/run.py expects. With BABELBIRD_WITH_CURL it
// also includes the libcurl adapter and makes (never uses) a curl_transport, so
// babelbird::curl is shown to compile and link.
#include <babelbird/babelbird.hpp>

#ifdef BABELBIRD_WITH_CURL
#include <babelbird/adapters/curl.hpp>
static_assert(babelbird::transport<babelbird::curl_transport>);
#endif

#include <cstdio>

int main() {
#ifdef BABELBIRD_WITH_CURL
    babelbird::curl_transport curl;
    std::printf("curl adapter ok\n");
#endif
    auto credentials = babelbird::client_credentials::make("Aladdin", "open sesame");
    auto server = babelbird::endpoint::make("https://disk.example.com/babel");
    if (!credentials || !server) {
        return 1;
    }
    auto request =
        babelbird::build_refresh_request(*credentials, *server, babelbird::secret_view("rt+/="));
    if (!request) {
        return 1;
    }
    std::printf("babelbird %s\n%s\n%s\n", babelbird::version_string, request->url.c_str(),
                request->headers[0].value.c_str());
    return 0;
}
