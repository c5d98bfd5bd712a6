// Helpers shared by the token source tests: a clock handle, a scripted
// fault-injection transport and grant builders.
#pragma once

#include "support.hpp"

#include <babelbird/babelbird.hpp>

#include <chrono>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

namespace test_support {

/// A copyable handle to a `fixed_clock`, so a source and its test share one clock.
struct clock_ref {
    fixed_clock* clock;
    babelbird::time_point now() const { return clock->now(); }
};

/// A token answer: `{"access_token":A,"refresh_token":R,"expires_in":E}`
/// (R omitted when empty).
inline babelbird::http_response token_answer(std::string_view access, std::string_view refresh,
                                             long expires_in = 3600) {
    std::string body = R"({"access_token":")" + std::string(access) + '"';
    if (!refresh.empty()) {
        body += R"(,"refresh_token":")" + std::string(refresh) + '"';
    }
    body += R"(,"expires_in":)" + std::to_string(expires_in) + "}";
    return babelbird::http_response(200, body);
}

/// The refresh token a refresh request carried (percent-decoding is not needed
/// for the tokens the tests use: letters, digits and '-').
inline std::string sent_refresh_token(const babelbird::http_request& request) {
    const auto at = request.url.find("refresh_token=");
    return at == std::string::npos ? std::string() : request.url.substr(at + 14);
}

/// A transport that plays a script: each call takes the next step (a function
/// of the request), records the refresh token it carried, and fails the test
/// run loudly (a transport error) when the script is exhausted. Thread-safe.
struct scripted_transport {
    using step = std::function<babelbird::transport_result(const babelbird::http_request&)>;
    std::mutex mutex;
    std::deque<step> script;
    std::vector<std::string> sent; ///< the refresh token of each call
    int exhausted = 0;

    void then(step s) {
        std::lock_guard lock(mutex);
        script.push_back(std::move(s));
    }
    void then_answer(babelbird::http_response r) {
        then([r](const babelbird::http_request&) -> babelbird::transport_result { return r; });
    }
    void then_fail(babelbird::errc code) {
        then([code](const babelbird::http_request&) -> babelbird::transport_result {
            return babelbird::error::transport(code);
        });
    }
    std::size_t calls() {
        std::lock_guard lock(mutex);
        return sent.size();
    }
    babelbird::transport_result operator()(const babelbird::http_request& request) {
        step s;
        {
            std::lock_guard lock(mutex);
            sent.push_back(sent_refresh_token(request));
            if (script.empty()) {
                ++exhausted;
                return babelbird::error::transport(babelbird::errc::transport_failure);
            }
            s = std::move(script.front());
            script.pop_front();
        }
        return s(request);
    }
};

/// A reference to a transport, so the test keeps the script and the calls.
template <class T>
struct transport_ref {
    T* target;
    babelbird::transport_result operator()(const babelbird::http_request& request) const {
        return (*target)(request);
    }
};

/// A stored grant issued at `issued_at`, expiring `lifetime` later.
inline babelbird::token_grant stored_grant(std::string_view access, std::string_view refresh,
                                           babelbird::time_point issued_at,
                                           std::chrono::seconds lifetime) {
    babelbird::token_grant g;
    g.access_token = babelbird::secret(access);
    g.refresh_token = babelbird::secret(refresh);
    g.issued_at = issued_at;
    g.expires_in = static_cast<std::uint64_t>(lifetime.count());
    g.expires_at = issued_at + lifetime;
    return g;
}

} // namespace test_support
