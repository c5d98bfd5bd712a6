// Must not compile: the transport takes an int, not an http_request.
#include <babelbird/babelbird.hpp>

int main() {
    auto wrong = [](int) -> babelbird::transport_result { return babelbird::http_response{}; };
    auto credentials = babelbird::client_credentials::make("id", "secret");
    auto server = babelbird::endpoint::make("https://disk.example.com");
    auto grant = babelbird::refresh(wrong, *credentials, *server, babelbird::secret_view("r"));
    return grant ? 0 : 1;
}
