// Compiles and runs the example in the file comment of
// machines/authorized_call.hpp (extracted by tools/extract_snippet.py into
// doc_example_authorized_call.hpp), with what it leaves to the reader: a token
// provider and an HTTP stack.
#include <babelbird/babelbird.hpp>

#include <doctest/doctest.h>

#include <string>
#include <vector>

namespace doc_example_authorized_call {

/// Hands out T1 until it is invalidated, then T2.
struct provider {
    struct handle {
        std::string token;
        babelbird::secret_view access_token() const { return babelbird::secret_view(token); }
    };
    std::string token = "T1";
    std::vector<std::string> invalidated;
    babelbird::result<handle> get() const { return handle{token}; }
    void invalidate(babelbird::secret_view seen) {
        invalidated.emplace_back(seen.expose_secret());
        token = "T2";
    }
} source;

/// The server: T1 is rejected (401), T2 accepted.
std::vector<std::string> authorizations;
babelbird::transport_result send(const babelbird::http_request& request) {
    authorizations.emplace_back(request.header("Authorization").value_or(""));
    if (request.header("Authorization") == std::optional<std::string_view>("Bearer T2")) {
        return babelbird::http_response(200, "[]");
    }
    return babelbird::http_response(401, "");
}

#include "doc_example_authorized_call.hpp"

TEST_CASE("doc example (machines/authorized_call.hpp): a rejected token, one retry") {
    auto request =
        babelbird::http_request("GET", "https://disk.example.com/babel/api/v1/file/list");
    const auto answer = call_file_api(std::move(request));
    REQUIRE(answer);
    CHECK(answer->status == 200);
    CHECK(source.invalidated == std::vector<std::string>{"T1"});
    CHECK(authorizations == std::vector<std::string>{"Bearer T1", "Bearer T2"});
}

} // namespace doc_example_authorized_call
