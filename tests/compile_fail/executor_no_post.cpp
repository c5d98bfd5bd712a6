// Must not compile: the executor has execute() taking a copyable std::function, not post().
#include <babelbird/babelbird.hpp>

#include <functional>

struct transport {
    void async_send(const babelbird::http_request&, babelbird::transport_completion&&) {}
};
struct wrong_executor {
    void execute(std::function<void()>) {}
};

int main() {
    auto credentials = babelbird::client_credentials::make("id", "secret");
    auto server = babelbird::endpoint::make("https://disk.example.com");
    auto seed = babelbird::token_seed::from_refresh_token(babelbird::secret_view("r"));
    babelbird::async_token_source<transport, wrong_executor> source(transport{}, wrong_executor{},
                                                                    *credentials, *server, *seed);
    (void)source.async_get([](babelbird::result<babelbird::token_handle>) {});
    return 0;
}
