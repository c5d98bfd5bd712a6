// Must not compile: the async transport has a blocking call operator, not async_send.
#include <babelbird/babelbird.hpp>

struct blocking {
    babelbird::transport_result operator()(const babelbird::http_request&) {
        return babelbird::http_response{};
    }
};
struct queue_executor {
    void post(babelbird::posted_work) {}
};

int main() {
    auto credentials = babelbird::client_credentials::make("id", "secret");
    auto server = babelbird::endpoint::make("https://disk.example.com");
    auto seed = babelbird::token_seed::from_refresh_token(babelbird::secret_view("r"));
    babelbird::async_token_source<blocking, queue_executor> source(blocking{}, queue_executor{},
                                                                   *credentials, *server, *seed);
    (void)source.async_get([](babelbird::result<babelbird::token_handle>) {});
    return 0;
}
