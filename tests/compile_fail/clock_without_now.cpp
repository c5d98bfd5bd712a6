// Must not compile: the clock given to refresh() has no now().
#include <babelbird/babelbird.hpp>

struct no_now_clock {
    babelbird::time_point when() { return {}; }
};

int main() {
    auto transport = [](const babelbird::http_request&) -> babelbird::transport_result {
        return babelbird::http_response{};
    };
    auto credentials = babelbird::client_credentials::make("id", "secret");
    auto server = babelbird::endpoint::make("https://disk.example.com");
    no_now_clock clock;
    auto grant = babelbird::refresh(transport, *credentials, *server, babelbird::secret_view("r"),
                                    {}, clock);
    return grant ? 0 : 1;
}
