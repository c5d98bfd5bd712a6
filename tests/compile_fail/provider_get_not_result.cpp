// Must not compile: the token provider's get() returns the handle itself, not a
// babelbird::result of it.
#include <babelbird/babelbird.hpp>

struct handle {
    babelbird::secret_view access_token() const { return babelbird::secret_view("t"); }
};
struct provider_plain_get {
    handle get() { return handle{}; }
    void invalidate(babelbird::secret_view) {}
};

int main() {
    auto transport = [](const babelbird::http_request&) -> babelbird::transport_result {
        return babelbird::http_response{};
    };
    provider_plain_get provider;
    const babelbird::http_request request("GET", "https://disk.example.com/api/v1/file/list");
    auto response = babelbird::send_authorized(transport, provider, request);
    return response ? 0 : 1;
}
