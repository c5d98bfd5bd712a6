// Must not compile: the transport returns a status code instead of a transport_result.
#include <babelbird/babelbird.hpp>

int main() {
    auto wrong = [](const babelbird::http_request&) { return 200; };
    auto credentials = babelbird::client_credentials::make("id", "secret");
    auto server = babelbird::endpoint::make("https://disk.example.com");
    auto grant = babelbird::refresh(wrong, *credentials, *server, babelbird::secret_view("r"));
    return grant ? 0 : 1;
}
