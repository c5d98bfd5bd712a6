// The request side: basic/<input>/<impl> (the `Authorization: Basic` value),
// percent/<input>/<impl> (a refresh token percent-encoded into a std::string)
// and refresh_request/<input>/<impl> (the whole refresh http_request).
//
// Every implementation produces the same bytes as babelbird (checked at
// startup). The refresh-request peers also check the refresh token the way
// babelbird does (non-empty, header-safe) and fill the same http_request;
// credentials and the endpoint are validated once, outside the measured loop,
// for every implementation.
#include <babelbird/encoding/codecs.hpp>
#include <babelbird/requests/credentials.hpp>
#include <babelbird/requests/endpoint.hpp>
#include <babelbird/requests/token_requests.hpp>

#include <boost/beast/core/detail/base64.hpp>
#include <boost/url/encode.hpp>
#include <boost/url/rfc/unreserved_chars.hpp>
#include <curl/curl.h>

#include <cstdio>
#include <optional>
#include <string>
#include <string_view>

#include "cases.hpp"
#include "inputs.hpp"
#include "peer_checks.hpp"

namespace bench {
namespace {

// --- fixtures, made once ---------------------------------------------------

struct fixture {
    std::optional<babelbird::client_credentials> credentials;
    std::optional<babelbird::endpoint> server;
};

const fixture& fixture_for(int i) {
    static const auto all = [] {
        std::array<fixture, 3> f;
        for (std::size_t k = 0; k < 3; ++k) {
            const auto& in = inputs::requests[k];
            auto c = babelbird::client_credentials::make(in.client_id, in.client_secret);
            auto e = babelbird::endpoint::make(inputs::base_url);
            if (c && e) {
                f[k].credentials.emplace(std::move(*c));
                f[k].server.emplace(std::move(*e));
            }
        }
        return f;
    }();
    return all[static_cast<std::size_t>(i)];
}

// --- a plain table-driven encoder, as a careful user would write it --------

constexpr char b64_table[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

void table_base64(std::string_view in, char* out) {
    std::size_t i = 0;
    const auto* p = reinterpret_cast<const unsigned char*>(in.data());
    for (; i + 3 <= in.size(); i += 3) {
        *out++ = b64_table[p[i] >> 2];
        *out++ = b64_table[((p[i] & 3) << 4) | (p[i + 1] >> 4)];
        *out++ = b64_table[((p[i + 1] & 15) << 2) | (p[i + 2] >> 6)];
        *out++ = b64_table[p[i + 2] & 63];
    }
    if (in.size() - i == 1) {
        *out++ = b64_table[p[i] >> 2];
        *out++ = b64_table[(p[i] & 3) << 4];
        *out++ = '=';
        *out++ = '=';
    } else if (in.size() - i == 2) {
        *out++ = b64_table[p[i] >> 2];
        *out++ = b64_table[((p[i] & 3) << 4) | (p[i + 1] >> 4)];
        *out++ = b64_table[(p[i + 1] & 15) << 2];
        *out++ = '=';
    }
}

/// "Basic " + Base64(id ":" secret): join, then encode into the exact size.
template <void (*Encode)(std::string_view, char*)>
std::string basic_with(std::string_view id, std::string_view secret) {
    std::string joined;
    joined.reserve(id.size() + 1 + secret.size());
    joined.append(id).append(1, ':').append(secret);
    std::string out(6 + (joined.size() + 2) / 3 * 4, '\0');
    out.replace(0, 6, "Basic ");
    Encode(joined, out.data() + 6);
    return out;
}

void beast_base64(std::string_view in, char* out) {
    boost::beast::detail::base64::encode(out, in.data(), in.size());
}

constexpr auto unreserved_table = [] {
    std::array<bool, 256> t{};
    for (int c = 0; c < 256; ++c) {
        t[static_cast<std::size_t>(c)] = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                                         (c >= '0' && c <= '9') || c == '-' || c == '.' ||
                                         c == '_' || c == '~';
    }
    return t;
}();

/// Appends the percent-encoding of `in` to `out` (one pass, reserved 3x).
void table_percent_append(std::string_view in, std::string& out) {
    constexpr char hex[] = "0123456789ABCDEF";
    for (char ch : in) {
        const auto c = static_cast<unsigned char>(ch);
        if (unreserved_table[c]) {
            out.push_back(ch);
        } else {
            const char esc[3] = {'%', hex[c >> 4], hex[c & 15]};
            out.append(esc, 3);
        }
    }
}

std::string table_percent(std::string_view in) {
    std::string out;
    out.reserve(in.size() * 3);
    table_percent_append(in, out);
    return out;
}

std::string curl_percent(std::string_view in) {
    char* e = curl_easy_escape(nullptr, in.data(), static_cast<int>(in.size()));
    std::string out(e);
    curl_free(e);
    return out;
}

std::string boost_url_percent(std::string_view in) {
    return boost::urls::encode(boost::urls::string_view(in.data(), in.size()),
                               boost::urls::unreserved_chars);
}

std::string babelbird_percent(std::string_view in) {
    return babelbird::percent_encode(in);
}

// --- the refresh request ---------------------------------------------------

/// The request a peer builds: the same checks, fields and headers as babelbird.
template <std::string (*Percent)(std::string_view), void (*Base64)(std::string_view, char*)>
std::optional<babelbird::http_request> refresh_with(int i) {
    const inputs::request_input& in = inputs::requests[i];
    if (in.refresh_token.empty() || !token_ok(in.refresh_token)) {
        return std::nullopt;
    }
    const fixture& f = fixture_for(i);
    babelbird::http_request request;
    request.method = "POST";
    const std::string token = Percent(in.refresh_token);
    constexpr std::string_view query = "?grant_type=refresh_token&refresh_token=";
    std::string url;
    url.reserve(f.server->base_url().size() + inputs::refresh_path.size() + query.size() +
                token.size());
    url.append(f.server->base_url()).append(inputs::refresh_path).append(query).append(token);
    request.url = std::move(url);
    request.headers.reserve(2);
    request.headers.push_back(
        {"Authorization", basic_with<Base64>(in.client_id, in.client_secret)});
    request.headers.push_back({"Accept", "application/json"});
    return request;
}

/// The table peer writes the token straight into the URL (no temporary).
std::optional<babelbird::http_request> refresh_table(int i) {
    const inputs::request_input& in = inputs::requests[i];
    if (in.refresh_token.empty() || !token_ok(in.refresh_token)) {
        return std::nullopt;
    }
    const fixture& f = fixture_for(i);
    babelbird::http_request request;
    request.method = "POST";
    constexpr std::string_view query = "?grant_type=refresh_token&refresh_token=";
    std::string url;
    url.reserve(f.server->base_url().size() + inputs::refresh_path.size() + query.size() +
                3 * in.refresh_token.size());
    url.append(f.server->base_url()).append(inputs::refresh_path).append(query);
    table_percent_append(in.refresh_token, url);
    request.url = std::move(url);
    request.headers.reserve(2);
    request.headers.push_back(
        {"Authorization", basic_with<&table_base64>(in.client_id, in.client_secret)});
    request.headers.push_back({"Accept", "application/json"});
    return request;
}

std::optional<babelbird::http_request> refresh_babelbird(int i) {
    const fixture& f = fixture_for(i);
    auto r = babelbird::build_refresh_request(
        *f.credentials, *f.server, babelbird::secret_view(inputs::requests[i].refresh_token));
    if (!r) {
        return std::nullopt;
    }
    return std::move(*r);
}

// --- ops -------------------------------------------------------------------

template <int I>
void basic_babelbird() {
    auto s = fixture_for(I).credentials->basic_authorization_string();
    benchmark::DoNotOptimize(s);
}
template <int I, void (*Encode)(std::string_view, char*)>
void basic_peer() {
    auto s = basic_with<Encode>(inputs::requests[I].client_id, inputs::requests[I].client_secret);
    benchmark::DoNotOptimize(s);
}
template <int I, std::string (*Fn)(std::string_view)>
void percent_op() {
    auto s = Fn(inputs::requests[I].refresh_token);
    benchmark::DoNotOptimize(s);
}
template <int I, std::optional<babelbird::http_request> (*Fn)(int)>
void refresh_op() {
    auto r = Fn(I);
    benchmark::DoNotOptimize(r);
}

template <int I>
void add_request_input() {
    const std::string in(inputs::names[I]);
    add_case<&basic_babelbird<I>>("basic/" + in + "/babelbird");
    add_case<&basic_peer<I, &table_base64>>("basic/" + in + "/table");
    add_case<&basic_peer<I, &beast_base64>>("basic/" + in + "/beast");
    add_case<&percent_op<I, &babelbird_percent>>("percent/" + in + "/babelbird");
    add_case<&percent_op<I, &table_percent>>("percent/" + in + "/table");
    add_case<&percent_op<I, &curl_percent>>("percent/" + in + "/curl");
    add_case<&percent_op<I, &boost_url_percent>>("percent/" + in + "/boost_url");
    add_case<&refresh_op<I, &refresh_babelbird>>("refresh_request/" + in + "/babelbird");
    add_case<&refresh_op<I, &refresh_table>>("refresh_request/" + in + "/table");
    add_case<&refresh_op<I, &refresh_with<&curl_percent, &beast_base64>>>("refresh_request/" + in +
                                                                          "/curl");
    add_case<&refresh_op<I, &refresh_with<&boost_url_percent, &beast_base64>>>("refresh_request/" +
                                                                               in + "/boost_url");
}

bool same_request(const std::optional<babelbird::http_request>& a,
                  const std::optional<babelbird::http_request>& b) {
    if (!a || !b || a->method != b->method || a->url != b->url ||
        a->headers.size() != b->headers.size()) {
        return false;
    }
    for (std::size_t k = 0; k < a->headers.size(); ++k) {
        if (a->headers[k].name != b->headers[k].name ||
            a->headers[k].value != b->headers[k].value) {
            return false;
        }
    }
    return true;
}

template <int I>
bool check_requests() {
    const inputs::request_input& in = inputs::requests[I];
    const fixture& f = fixture_for(I);
    if (!f.credentials || !f.server) {
        std::fprintf(stderr, "self-test: %s: credentials or endpoint rejected\n",
                     inputs::names[I].data());
        return false;
    }
    bool ok = true;
    const auto fail = [&](const char* what) {
        std::fprintf(stderr, "self-test: %s/%s differs from babelbird\n", what,
                     inputs::names[I].data());
        ok = false;
    };
    const std::string basic = f.credentials->basic_authorization_string();
    if (basic_with<&table_base64>(in.client_id, in.client_secret) != basic) {
        fail("basic/table");
    }
    if (basic_with<&beast_base64>(in.client_id, in.client_secret) != basic) {
        fail("basic/beast");
    }
    const std::string pct = babelbird_percent(in.refresh_token);
    if (table_percent(in.refresh_token) != pct) {
        fail("percent/table");
    }
    if (curl_percent(in.refresh_token) != pct) {
        fail("percent/curl");
    }
    if (boost_url_percent(in.refresh_token) != pct) {
        fail("percent/boost_url");
    }
    const auto request = refresh_babelbird(I);
    if (!request) {
        fail("refresh_request/babelbird");
    }
    if (!same_request(refresh_table(I), request)) {
        fail("refresh_request/table");
    }
    if (!same_request(refresh_with<&curl_percent, &beast_base64>(I), request)) {
        fail("refresh_request/curl");
    }
    if (!same_request(refresh_with<&boost_url_percent, &beast_base64>(I), request)) {
        fail("refresh_request/boost_url");
    }
    return ok;
}

} // namespace

void register_request_cases() {
    add_request_input<0>();
    add_request_input<1>();
    add_request_input<2>();
    self_tests().push_back(&check_requests<0>);
    self_tests().push_back(&check_requests<1>);
    self_tests().push_back(&check_requests<2>);
}

} // namespace bench
