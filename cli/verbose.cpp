#include "verbose.hpp"

#include <babelbird/encoding/json_unescape.hpp>
#include <babelbird/values/ascii.hpp>
#include <babelbird/values/secure_zero.hpp>

#include <algorithm>
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

void append_utf8(std::string& out, unsigned long cp) {
    if (cp < 0x80) {
        out += static_cast<char>(cp);
    } else if (cp < 0x800) {
        out += static_cast<char>(0xC0 | (cp >> 6));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
        out += static_cast<char>(0xE0 | (cp >> 12));
        out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
        out += static_cast<char>(0xF0 | (cp >> 18));
        out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
        out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    }
}

/// The text of a JSON string's inside as a parser reads it (every escape,
/// `\uXXXX` and surrogate pairs included); a broken escape is kept as is.
std::string json_unescape(std::string_view raw) {
    std::string out;
    out.reserve(raw.size());
    for (std::size_t k = 0; k < raw.size(); ++k) {
        if (raw[k] != '\\' || k + 1 >= raw.size()) {
            out += raw[k];
            continue;
        }
        const char e = raw[k + 1];
        const std::string_view simple = "\"\\/bfnrt";
        const std::string_view decoded = "\"\\/\b\f\n\r\t";
        if (const std::size_t at = simple.find(e); at != std::string_view::npos) {
            out += decoded[at];
            ++k;
            continue;
        }
        long cp = e == 'u' ? babelbird::detail::hex4(raw, k + 2) : -1;
        if (cp < 0) {
            out += raw[k];
            continue;
        }
        std::size_t used = 6;
        if (cp >= 0xD800 && cp <= 0xDBFF && k + 7 < raw.size() && raw[k + 6] == '\\' &&
            raw[k + 7] == 'u') {
            const long low = babelbird::detail::hex4(raw, k + 8);
            if (low >= 0xDC00 && low <= 0xDFFF) {
                cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
                used = 12;
            }
        }
        append_utf8(out, static_cast<unsigned long>(cp));
        k += used - 1;
    }
    return out;
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

void redactor::add_one(std::string value) {
    if (value.empty()) {
        return;
    }
    for (const auto& v : values_) {
        if (v.expose_secret() == value) {
            babelbird::detail::scrub(value);
            return;
        }
    }
    values_.emplace_back(std::string_view(value));
    babelbird::detail::scrub(value);
}

void redactor::add(std::string_view value) {
    static constexpr char upper[] = "0123456789ABCDEF";
    static constexpr char lower[] = "0123456789abcdef";
    add_one(std::string(value));
    std::string pct_upper;
    std::string pct_lower;
    std::string form;
    std::string json;
    for (char ch : value) {
        const auto c = static_cast<unsigned char>(ch);
        const bool unreserved = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                                (ch >= '0' && ch <= '9') || ch == '-' || ch == '.' || ch == '_' ||
                                ch == '~';
        if (unreserved) {
            pct_upper += ch;
            pct_lower += ch;
            form += ch;
        } else {
            pct_upper += '%';
            pct_upper += upper[c >> 4];
            pct_upper += upper[c & 15];
            pct_lower += '%';
            pct_lower += lower[c >> 4];
            pct_lower += lower[c & 15];
            if (ch == ' ') {
                form += '+';
            } else {
                form += '%';
                form += upper[c >> 4];
                form += upper[c & 15];
            }
        }
        if (ch == '"' || ch == '\\' || ch == '/') {
            json += '\\';
        }
        json += ch;
    }
    add_one(std::move(pct_upper));
    add_one(std::move(pct_lower));
    add_one(std::move(form));
    add_one(std::move(json));
}

void redactor::learn_from_body(std::string_view body) {
    // "key" : "value" pairs, found lexically so that a broken answer is covered too.
    std::size_t i = 0;
    while ((i = body.find('"', i)) != std::string_view::npos) {
        std::size_t key_end = i + 1;
        while (key_end < body.size() && body[key_end] != '"') {
            key_end += body[key_end] == '\\' ? std::size_t{2} : std::size_t{1};
        }
        if (key_end >= body.size()) {
            return;
        }
        // As the parser reads it: "access_t\u006fken" is access_token.
        const std::string key = json_unescape(body.substr(i + 1, key_end - i - 1));
        std::size_t j = key_end + 1;
        while (j < body.size() && babelbird::detail::is_json_space(body[j])) {
            ++j;
        }
        if (j >= body.size() || body[j] != ':') {
            i = key_end + 1;
            continue;
        }
        ++j;
        while (j < body.size() && babelbird::detail::is_json_space(body[j])) {
            ++j;
        }
        const bool secret_key =
            (contains_ci(key, "token") && !babelbird::detail::iequals(key, "token_type")) ||
            contains_ci(key, "secret") || babelbird::detail::iequals(key, "code") ||
            contains_ci(key, "password");
        if (j < body.size() && body[j] == '"') {
            std::size_t end = j + 1;
            while (end < body.size() && body[end] != '"') {
                end += body[end] == '\\' ? std::size_t{2} : std::size_t{1};
            }
            const std::string_view raw = body.substr(j + 1, std::min(end, body.size()) - j - 1);
            if (secret_key) {
                add(raw); // as it appears (JSON-escaped)
                std::string plain = json_unescape(raw);
                add(plain); // the value itself and its wire forms
                babelbird::detail::scrub(plain);
            }
            i = end + 1;
        } else {
            i = j;
        }
    }
}

std::string redactor::apply(std::string_view text) const {
    std::vector<const babelbird::secret*> order;
    for (const auto& v : values_) {
        order.push_back(&v);
    }
    std::sort(order.begin(), order.end(),
              [](const babelbird::secret* a, const babelbird::secret* b) {
                  return a->size() > b->size();
              });
    std::string out(text);
    for (const auto* v : order) {
        const std::string_view needle = v->expose_secret();
        std::size_t at = 0;
        while ((at = out.find(needle, at)) != std::string::npos) {
            out.replace(at, needle.size(), redacted);
            at += redacted.size();
        }
    }
    return out;
}

namespace {

/// A body as it may be shown: redacted, at most 2 KiB, control bytes escaped.
std::string shown_body(const redactor& secrets, std::string_view body) {
    constexpr std::size_t limit = 2048;
    std::string text = secrets.apply(body);
    std::string out;
    for (std::size_t i = 0; i < text.size() && i < limit; ++i) {
        const auto c = static_cast<unsigned char>(text[i]);
        if (c < 0x20 || c > 0x7E) {
            char hex[8];
            std::snprintf(hex, sizeof hex, "\\x%02x", c);
            out += hex;
        } else {
            out += text[i];
        }
    }
    if (text.size() > limit) {
        out += "...";
    }
    babelbird::detail::scrub(text);
    return "[body: " + std::to_string(body.size()) + " bytes] " + out;
}

} // namespace

babelbird::transport_result logging_transport::operator()(const babelbird::http_request& request) {
    if (!on_) {
        return inner_(request);
    }
    const redactor& secrets = *secrets_;
    say("> ", secrets.apply(request.method + " " + redact_url(request.url)));
    for (const auto& h : request.headers) {
        say("> ", secrets.apply(h.name + ": " + redact_header(h.name, h.value)));
    }
    if (!request.body.empty()) {
        secrets_->learn_from_body(request.body);
        say("> ", shown_body(secrets, request.body));
    }
    auto response = inner_(request);
    if (!response) {
        say("* ", "no response: " + response.error().message());
    } else {
        secrets_->learn_from_body(response->body);
        for (const auto& h : response->headers) {
            if (contains_ci(h.name, "token") || contains_ci(h.name, "secret")) {
                secrets_->add(h.value);
            }
        }
        say("< ", "HTTP " + std::to_string(response->status));
        for (const auto& h : response->headers) {
            say("< ", secrets.apply(h.name + ": " + redact_header(h.name, h.value)));
        }
        if (!response->body.empty()) {
            say("< ", shown_body(secrets, response->body));
        }
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
