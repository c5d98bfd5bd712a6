#include "verbose.hpp"

#include <babelbird/detail/ascii.hpp>

#include <cstdio>
#include <string>

namespace cli {

namespace {

constexpr std::string_view redacted = "[redacted]";

void say(std::string_view prefix, std::string_view text) {
    std::string line(prefix);
    line += text;
    line += '\n';
    std::fputs(line.c_str(), stderr);
}

bool contains_ci(std::string_view haystack, std::string_view needle) {
    if (needle.size() > haystack.size()) {
        return false;
    }
    for (std::size_t i = 0; i + needle.size() <= haystack.size(); ++i) {
        if (babelbird::detail::iequals(haystack.substr(i, needle.size()), needle)) {
            return true;
        }
    }
    return false;
}

} // namespace

std::string redact_url(std::string_view url) {
    const std::size_t q = url.find('?');
    std::string out(url.substr(0, q));
    if (q == std::string_view::npos) {
        return out;
    }
    std::string_view query = url.substr(q + 1);
    const std::size_t hash = query.find('#');
    const bool fragment = hash != std::string_view::npos;
    query = query.substr(0, hash);
    char sep = '?';
    while (true) {
        const std::size_t amp = query.find('&');
        const std::string_view part = query.substr(0, amp);
        const std::size_t eq = part.find('=');
        const std::string_view name = part.substr(0, eq);
        out += sep;
        sep = '&';
        out += name;
        if (eq != std::string_view::npos) {
            out += '=';
            out += name == "grant_type" || name == "response_type" ? part.substr(eq + 1) : redacted;
        }
        if (amp == std::string_view::npos) {
            break;
        }
        query = query.substr(amp + 1);
    }
    if (fragment) {
        out += "#";
        out += redacted;
    }
    return out;
}

std::string redact_header(std::string_view name, std::string_view value) {
    using babelbird::detail::iequals;
    const bool credential =
        iequals(name, "Authorization") || iequals(name, "Proxy-Authorization") ||
        iequals(name, "Cookie") || iequals(name, "Set-Cookie") || iequals(name, "Location") ||
        contains_ci(name, "token") || contains_ci(name, "secret") || contains_ci(name, "key");
    if (!credential) {
        return std::string(value);
    }
    if (iequals(name, "Location")) {
        return redact_url(value); // a callback carries the code in its query
    }
    const std::size_t space = value.find(' ');
    if (space == std::string_view::npos) {
        return std::string(redacted);
    }
    return std::string(value.substr(0, space + 1)) + std::string(redacted);
}

babelbird::transport_result logging_transport::operator()(const babelbird::http_request& request) {
    if (!on_) {
        return inner_(request);
    }
    say("> ", request.method + " " + redact_url(request.url));
    for (const auto& h : request.headers) {
        say("> ", h.name + ": " + redact_header(h.name, h.value));
    }
    if (!request.body.empty()) {
        say("> ", "[body: " + std::to_string(request.body.size()) + " bytes, not shown]");
    }
    auto response = inner_(request);
    if (!response) {
        say("* ", "no response: " + response.error().message());
    } else {
        say("< ", "HTTP " + std::to_string(response->status));
        for (const auto& h : response->headers) {
            say("< ", h.name + ": " + redact_header(h.name, h.value));
        }
        say("< ", "[body: " + std::to_string(response->body.size()) +
                      " bytes, not shown: it may carry tokens]");
    }
    std::fflush(stderr);
    return response;
}

babelbird::curl_transport make_transport(bool loopback, std::chrono::milliseconds timeout) {
    babelbird::curl_options options;
    options.timeout = timeout;
    if (loopback) {
        options.proxy = std::string(); // never send a loopback exchange to a proxy
    }
    return babelbird::curl_transport(std::move(options));
}

} // namespace cli
