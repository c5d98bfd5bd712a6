// ODR test, second translation unit: the same single header, other uses of
// the same inline functions, templates and function-local statics.
#include <babelbird/babelbird.hpp>

#include "odr.hpp"

namespace odr {

const void* scratch_b() {
    return &babelbird::detail::json_scratch::for_this_thread();
}
const void* category_b() {
    return &babelbird::error_category();
}

bool works_b() {
    const auto parsed = babelbird::parse_token_response(400, R"({"error":"invalid_grant"})");
    auto transport = [](const babelbird::http_request&) -> babelbird::transport_result {
        return babelbird::http_response(200, R"({"access_token":"b2"})");
    };
    const auto creds = babelbird::client_credentials::make("id", "secret").value();
    const auto server = babelbird::endpoint::make("http://127.0.0.1:8080").value();
    const auto grant = babelbird::refresh(transport, creds, server, babelbird::secret_view("rt"));
    return !parsed && parsed.error().needs_reauthorization() && grant.has_value() &&
           grant->access_token.expose_secret() == "b2" &&
           babelbird::percent_encode("a b") == "a%20b";
}

} // namespace odr
