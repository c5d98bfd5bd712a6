// A program that takes babelbird as a meson subproject and builds a refresh request.
#include <babelbird/babelbird.hpp>

#include <cstdio>

int main() {
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
    std::printf("%s\n%s\n", request->url.c_str(), request->headers[0].value.c_str());
    return 0;
}
