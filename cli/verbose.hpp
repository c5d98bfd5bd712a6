// --verbose: the exchange on stderr with every secret redacted.
#pragma once

#include <babelbird/adapters/curl.hpp>
#include <babelbird/drivers/transport.hpp>
#include <babelbird/values/http.hpp>

#include <babelbird/values/secret.hpp>

#include <string>
#include <string_view>
#include <vector>

namespace cli {

/// The URL with every query value replaced by `[redacted]`, except the
/// protocol words `grant_type` and `response_type` (a refresh token or a code
/// rides in the query).
std::string redact_url(std::string_view url);

/// A header value as it may be shown: credentials (`Authorization`, cookies,
/// anything with "token", "secret" or "key" in its name) keep only their scheme.
std::string redact_header(std::string_view name, std::string_view value);

/// Every secret value the CLI knows, for redaction by value: whatever the
/// header's name, wherever in a URL or a body (a server may echo them).
class redactor {
public:
    /// Adds `value` and the forms it takes on the wire: percent-encoded (upper-
    /// and lower-case hex), form-encoded, JSON-escaped.
    void add(std::string_view value);
    /// Learns the values of token-like fields in a JSON-looking text (keys
    /// containing "token" but `token_type`, "secret", "password", and `code`), e.g. the tokens of a
    /// token answer, even when the text is not valid JSON.
    void learn_from_body(std::string_view body);
    /// `text` with every known value replaced by `[redacted]`, longest first.
    std::string apply(std::string_view text) const;
    std::size_t size() const noexcept { return values_.size(); }

private:
    void add_one(std::string value);
    std::vector<babelbird::secret> values_;
};

/// The curl transport, printing each exchange (redacted by header name, query
/// parameter and known value) on stderr when `on`. Token-like values in answer
/// bodies are learned before they are shown.
class logging_transport {
public:
    logging_transport(babelbird::curl_transport& inner, bool on, redactor& secrets) noexcept
        : inner_(inner), on_(on), secrets_(&secrets) {}
    babelbird::transport_result operator()(const babelbird::http_request& request);

private:
    babelbird::curl_transport& inner_;
    bool on_;
    redactor* secrets_;
};

/// A curl transport for `base` with the whole-exchange `timeout`: loopback
/// hosts never go through a proxy from the environment.
babelbird::curl_transport make_transport(bool loopback, std::chrono::milliseconds timeout);

} // namespace cli
