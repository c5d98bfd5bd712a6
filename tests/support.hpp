// Helpers shared by the unit tests: a recording fake transport and a fixed clock.
#pragma once

#include <babelbird/babelbird.hpp>

#include <chrono>
#include <string>
#include <string_view>
#include <vector>

namespace test_support {

/// A transport that records each request and answers with a canned response
/// (or a canned transport error).
struct recording_transport {
    std::vector<babelbird::http_request> requests;
    babelbird::http_response answer{200, "{}"};
    std::optional<babelbird::error> failure;

    babelbird::transport_result operator()(const babelbird::http_request& request) {
        requests.push_back(request);
        if (failure) {
            return *failure;
        }
        return answer;
    }
};

/// A clock that reads whatever the test sets.
struct fixed_clock {
    babelbird::time_point at = babelbird::time_point(std::chrono::seconds(1'700'000'000));
    int reads = 0;
    babelbird::time_point now() {
        ++reads;
        return at;
    }
};

/// Secret values used across the tests; no error message may contain them.
inline constexpr std::string_view client_id = "babel-client";
inline constexpr std::string_view client_secret = "S3cr3t+/=:%!value";
inline constexpr std::string_view refresh_token = "rt+/=%Zq9-REFRESH-0123456789abcdef";
inline constexpr std::string_view access_token = "at.ACCESS-0123456789abcdef0123456789";

inline babelbird::client_credentials credentials() {
    return babelbird::client_credentials::make(client_id, client_secret).value();
}
inline babelbird::endpoint server(std::string_view base = "https://disk.example.com/babel") {
    return babelbird::endpoint::make(base).value();
}

/// Every error message the tests produce is collected here and checked at the end.
inline std::vector<std::string>& observed_messages() {
    static std::vector<std::string> messages;
    return messages;
}
inline std::string remember(const babelbird::error& e) {
    observed_messages().push_back(e.message());
    return observed_messages().back();
}

} // namespace test_support
