// --verbose: the exchange on stderr with every secret redacted.
#pragma once

#include <babelbird/adapters/curl.hpp>
#include <babelbird/http.hpp>
#include <babelbird/transport.hpp>

#include <string>
#include <string_view>

namespace cli {

/// The URL with every query value replaced by `[redacted]`, except the
/// protocol words `grant_type` and `response_type` (a refresh token or a code
/// rides in the query).
std::string redact_url(std::string_view url);

/// A header value as it may be shown: credentials (`Authorization`, cookies,
/// anything with "token", "secret" or "key" in its name) keep only their scheme.
std::string redact_header(std::string_view name, std::string_view value);

/// The curl transport, printing each exchange (redacted) on stderr when `on`.
class logging_transport {
public:
    logging_transport(babelbird::curl_transport& inner, bool on) noexcept
        : inner_(inner), on_(on) {}
    babelbird::transport_result operator()(const babelbird::http_request& request);

private:
    babelbird::curl_transport& inner_;
    bool on_;
};

/// A curl transport for `base` with the whole-exchange `timeout`: loopback
/// hosts never go through a proxy from the environment.
babelbird::curl_transport make_transport(bool loopback, std::chrono::milliseconds timeout);

} // namespace cli
