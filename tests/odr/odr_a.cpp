// ODR test, first translation unit: uses the single header.
#include <babelbird/babelbird.hpp>

#include "odr.hpp"

namespace odr {

const void* scratch_a() {
    return &babelbird::detail::json_scratch::for_this_thread();
}
const void* category_a() {
    return &babelbird::error_category();
}

bool works_a() {
    const auto parsed =
        babelbird::parse_token_response(200, R"({"access_token":"a1","expires_in":"60"})");
    const auto creds = babelbird::client_credentials::make("id", "secret");
    const auto server = babelbird::endpoint::make("https://h/ctx");
    if (!parsed || !creds || !server) {
        return false;
    }
    const auto request =
        babelbird::build_refresh_request(*creds, *server, babelbird::secret_view("rt"));
    return parsed->access_token().expose_secret() == "a1" && request.has_value() &&
           babelbird::base64_encode("f") == "Zg==";
}

} // namespace odr
