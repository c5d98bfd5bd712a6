// Must not compile: the token provider has get() but no invalidate(secret_view).
#include <babelbird/babelbird.hpp>

struct handle {
    babelbird::secret_view access_token() const { return babelbird::secret_view("t"); }
};
struct provider_without_invalidate {
    babelbird::result<handle> get() { return handle{}; }
};

int main() {
    auto transport = [](const babelbird::http_request&) -> babelbird::transport_result {
        return babelbird::http_response{};
    };
    provider_without_invalidate provider;
    const babelbird::http_request request("GET", "https://disk.example.com/api/v1/file/list");
    auto response = babelbird::send_authorized(transport, provider, request);
    return response ? 0 : 1;
}
