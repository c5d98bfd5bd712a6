// Must not compile: async_send_authorized is given a blocking token_source.
#include <babelbird/babelbird.hpp>

struct blocking {
    babelbird::transport_result operator()(const babelbird::http_request&) {
        return babelbird::http_response{};
    }
};
struct transport {
    void async_send(const babelbird::http_request&, babelbird::transport_completion&&) {}
};

int main() {
    auto credentials = babelbird::client_credentials::make("id", "secret");
    auto server = babelbird::endpoint::make("https://disk.example.com");
    auto seed = babelbird::token_seed::from_refresh_token(babelbird::secret_view("r"));
    babelbird::token_source<blocking> source(blocking{}, *credentials, *server, *seed);
    transport files;
    babelbird::async_send_authorized(files, source, babelbird::http_request("GET", "https://x"), {},
                                     [](babelbird::result<babelbird::http_response>) {});
    return 0;
}
