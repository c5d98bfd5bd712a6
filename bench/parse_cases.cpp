// parse/<input>/<implementation>: babelbird's parse_token_response against the
// same extraction written on simdjson on-demand, nlohmann::json, RapidJSON and
// Boost.JSON (plain and tuned), and a floor that only copies bytes.
//
// Every implementation: requires a JSON object; reads access_token (a
// non-empty, header-safe string), refresh_token (the same, or null),
// expires_in and refresh_expires_in (a non-negative integer or a digit string,
// or null), token_type and scope (a string or null), error (null, else the
// answer fails); refuses a duplicate known key where the library can see one
// (nlohmann keeps the last value of a duplicate key, so it cannot); requires
// access_token; and returns the strings as std::strings. The DOM parsers
// validate the whole document (UTF-8 included); the simdjson_ondemand peer
// skips unknown values the way on-demand code does, and checks that nothing
// trails the object.
#include <babelbird/answers/token_response.hpp>

#include <boost/json.hpp>
#include <nlohmann/json.hpp>
#define RAPIDJSON_SSE42
#include <rapidjson/document.h>
#include <simdjson.h>

#include <cstddef>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>

#include "cases.hpp"
#include "inputs.hpp"
#include "peer_checks.hpp"

namespace bench {
namespace {

// --- babelbird -------------------------------------------------------------

babelbird::result<babelbird::token_response> parse_babelbird(std::string_view body) {
    return babelbird::parse_token_response(200, body);
}

extracted_token to_extracted(const babelbird::result<babelbird::token_response>& r) {
    extracted_token t;
    if (!r) {
        return t;
    }
    t.access = std::string(r->access_token().expose_secret());
    t.refresh = std::string(r->refresh_token().expose_secret());
    t.has_refresh = r->has_refresh_token();
    t.type = std::string(r->token_type());
    t.scope = std::string(r->scope());
    t.expires_in = r->expires_in();
    t.refresh_expires_in = r->refresh_expires_in();
    t.ok = true;
    return t;
}

// --- simdjson on-demand, written directly ----------------------------------

namespace sj = simdjson::ondemand;

bool sj_seconds(sj::value& v, std::optional<std::uint64_t>& out) {
    sj::json_type t;
    if (v.type().get(t) != simdjson::SUCCESS) {
        return false;
    }
    std::uint64_t n = 0;
    if (t == sj::json_type::null) {
        bool is_null = false;
        out.reset();
        return v.is_null().get(is_null) == simdjson::SUCCESS && is_null;
    }
    if (t == sj::json_type::number) {
        if (v.get_uint64().get(n) != simdjson::SUCCESS) {
            return false;
        }
    } else if (t == sj::json_type::string) {
        std::string_view s;
        if (v.get_string().get(s) != simdjson::SUCCESS || !digits_ok(s, n)) {
            return false;
        }
    } else {
        return false;
    }
    out = n;
    return true;
}

/// A string or null; `token` also requires a header-safe token.
bool sj_text(sj::value& v, std::string& out, bool token, bool* present = nullptr) {
    sj::json_type t;
    if (v.type().get(t) != simdjson::SUCCESS) {
        return false;
    }
    if (t == sj::json_type::null) {
        bool is_null = false;
        return !token || present != nullptr
                   ? v.is_null().get(is_null) == simdjson::SUCCESS && is_null
                   : false;
    }
    std::string_view s;
    if (t != sj::json_type::string || v.get_string().get(s) != simdjson::SUCCESS) {
        return false;
    }
    if (token && !token_ok(s)) {
        return false;
    }
    out.assign(s);
    if (present != nullptr) {
        *present = true;
    }
    return true;
}

struct simdjson_state {
    sj::parser parser;
    std::unique_ptr<char[]> buffer;
    std::size_t capacity = 0;
};

extracted_token parse_simdjson(std::string_view body) {
    static simdjson_state st;
    extracted_token t;
    const std::size_t need = body.size() + simdjson::SIMDJSON_PADDING;
    if (need > st.capacity) {
        st.buffer = std::make_unique<char[]>(need);
        st.capacity = need;
    }
    std::memcpy(st.buffer.get(), body.data(), body.size());
    std::memset(st.buffer.get() + body.size(), ' ', simdjson::SIMDJSON_PADDING);
    sj::document doc;
    if (st.parser.iterate(st.buffer.get(), body.size(), st.capacity).get(doc) !=
        simdjson::SUCCESS) {
        return t;
    }
    sj::object obj;
    if (doc.get_object().get(obj) != simdjson::SUCCESS) {
        return t;
    }
    unsigned seen = 0;
    for (auto item : obj) {
        sj::field field;
        std::string_view key;
        if (std::move(item).get(field) != simdjson::SUCCESS ||
            field.unescaped_key().get(key) != simdjson::SUCCESS) {
            return t;
        }
        const key_id id = identify_key(key);
        if (id == key_id::unknown) {
            continue;
        }
        if (!first_time(seen, id)) {
            return t;
        }
        sj::value& v = field.value();
        bool ok = false;
        switch (id) {
        case key_id::access:
            ok = sj_text(v, t.access, true);
            break;
        case key_id::refresh:
            ok = sj_text(v, t.refresh, true, &t.has_refresh);
            break;
        case key_id::expires:
            ok = sj_seconds(v, t.expires_in);
            break;
        case key_id::refresh_expires:
            ok = sj_seconds(v, t.refresh_expires_in);
            break;
        case key_id::type:
            ok = sj_text(v, t.type, false);
            break;
        case key_id::scope:
            ok = sj_text(v, t.scope, false);
            break;
        case key_id::error: {
            bool is_null = false;
            ok = v.is_null().get(is_null) == simdjson::SUCCESS && is_null;
            break;
        }
        case key_id::unknown:
            break;
        }
        if (!ok) {
            return t;
        }
    }
    const char* location = nullptr;
    if (doc.current_location().get(location) != simdjson::OUT_OF_BOUNDS || (seen & 1u) == 0) {
        return t;
    }
    t.ok = true;
    return t;
}

// --- nlohmann::json --------------------------------------------------------

using njson = nlohmann::json;

bool nl_seconds(const njson& v, std::optional<std::uint64_t>& out) {
    std::uint64_t n = 0;
    if (v.is_null()) {
        out.reset();
        return true;
    }
    if (v.is_number_unsigned()) {
        n = v.get<std::uint64_t>();
    } else if (v.is_string()) {
        if (!digits_ok(v.get_ref<const std::string&>(), n)) {
            return false;
        }
    } else {
        return false;
    }
    out = n;
    return true;
}

bool nl_text(const njson& v, std::string& out, bool token, bool* present = nullptr) {
    if (v.is_null()) {
        return !token || present != nullptr;
    }
    if (!v.is_string()) {
        return false;
    }
    const std::string& s = v.get_ref<const std::string&>();
    if (token && !token_ok(s)) {
        return false;
    }
    out = s;
    if (present != nullptr) {
        *present = true;
    }
    return true;
}

extracted_token parse_nlohmann(std::string_view body) {
    extracted_token t;
    const njson j = njson::parse(body.begin(), body.end(), nullptr, false);
    if (j.is_discarded() || !j.is_object()) {
        return t;
    }
    unsigned seen = 0;
    for (auto it = j.begin(); it != j.end(); ++it) {
        const key_id id = identify_key(it.key());
        if (id == key_id::unknown) {
            continue;
        }
        if (!first_time(seen, id)) {
            return t;
        }
        const njson& v = it.value();
        bool ok = false;
        switch (id) {
        case key_id::access:
            ok = nl_text(v, t.access, true);
            break;
        case key_id::refresh:
            ok = nl_text(v, t.refresh, true, &t.has_refresh);
            break;
        case key_id::expires:
            ok = nl_seconds(v, t.expires_in);
            break;
        case key_id::refresh_expires:
            ok = nl_seconds(v, t.refresh_expires_in);
            break;
        case key_id::type:
            ok = nl_text(v, t.type, false);
            break;
        case key_id::scope:
            ok = nl_text(v, t.scope, false);
            break;
        case key_id::error:
            ok = v.is_null();
            break;
        case key_id::unknown:
            break;
        }
        if (!ok) {
            return t;
        }
    }
    if ((seen & 1u) == 0) {
        return t;
    }
    t.ok = true;
    return t;
}

// --- RapidJSON -------------------------------------------------------------

bool rj_seconds(const rapidjson::Value& v, std::optional<std::uint64_t>& out) {
    std::uint64_t n = 0;
    if (v.IsNull()) {
        out.reset();
        return true;
    }
    if (v.IsUint64()) {
        n = v.GetUint64();
    } else if (v.IsString()) {
        if (!digits_ok(std::string_view(v.GetString(), v.GetStringLength()), n)) {
            return false;
        }
    } else {
        return false;
    }
    out = n;
    return true;
}

bool rj_text(const rapidjson::Value& v, std::string& out, bool token, bool* present = nullptr) {
    if (v.IsNull()) {
        return !token || present != nullptr;
    }
    if (!v.IsString()) {
        return false;
    }
    const std::string_view s(v.GetString(), v.GetStringLength());
    if (token && !token_ok(s)) {
        return false;
    }
    out.assign(s);
    if (present != nullptr) {
        *present = true;
    }
    return true;
}

extracted_token parse_rapidjson(std::string_view body) {
    extracted_token t;
    rapidjson::Document d;
    d.Parse<rapidjson::kParseValidateEncodingFlag>(body.data(), body.size());
    if (d.HasParseError() || !d.IsObject()) {
        return t;
    }
    unsigned seen = 0;
    // Indexed, not `it != end`: RapidJSON's iterator comparison is ambiguous in C++20.
    const auto members = d.MemberBegin();
    const auto count = static_cast<std::ptrdiff_t>(d.MemberCount());
    for (std::ptrdiff_t i = 0; i < count; ++i) {
        const auto* m = &members[i];
        const key_id id =
            identify_key(std::string_view(m->name.GetString(), m->name.GetStringLength()));
        if (id == key_id::unknown) {
            continue;
        }
        if (!first_time(seen, id)) {
            return t;
        }
        const rapidjson::Value& v = m->value;
        bool ok = false;
        switch (id) {
        case key_id::access:
            ok = rj_text(v, t.access, true);
            break;
        case key_id::refresh:
            ok = rj_text(v, t.refresh, true, &t.has_refresh);
            break;
        case key_id::expires:
            ok = rj_seconds(v, t.expires_in);
            break;
        case key_id::refresh_expires:
            ok = rj_seconds(v, t.refresh_expires_in);
            break;
        case key_id::type:
            ok = rj_text(v, t.type, false);
            break;
        case key_id::scope:
            ok = rj_text(v, t.scope, false);
            break;
        case key_id::error:
            ok = v.IsNull();
            break;
        case key_id::unknown:
            break;
        }
        if (!ok) {
            return t;
        }
    }
    if ((seen & 1u) == 0) {
        return t;
    }
    t.ok = true;
    return t;
}

// --- Boost.JSON ------------------------------------------------------------

namespace bj = boost::json;

bool bj_seconds(const bj::value& v, std::optional<std::uint64_t>& out) {
    std::uint64_t n = 0;
    if (v.is_null()) {
        out.reset();
        return true;
    }
    if (v.is_int64()) {
        if (v.get_int64() < 0) {
            return false;
        }
        n = static_cast<std::uint64_t>(v.get_int64());
    } else if (v.is_uint64()) {
        n = v.get_uint64();
    } else if (v.is_string()) {
        const bj::string& s = v.get_string();
        if (!digits_ok(std::string_view(s.data(), s.size()), n)) {
            return false;
        }
    } else {
        return false;
    }
    out = n;
    return true;
}

bool bj_text(const bj::value& v, std::string& out, bool token, bool* present = nullptr) {
    if (v.is_null()) {
        return !token || present != nullptr;
    }
    if (!v.is_string()) {
        return false;
    }
    const bj::string& bs = v.get_string();
    const std::string_view s(bs.data(), bs.size());
    if (token && !token_ok(s)) {
        return false;
    }
    out.assign(s);
    if (present != nullptr) {
        *present = true;
    }
    return true;
}

extracted_token extract_boost(const bj::value& jv) {
    extracted_token t;
    if (!jv.is_object()) {
        return t;
    }
    unsigned seen = 0;
    for (const bj::key_value_pair& kv : jv.get_object()) {
        const bj::string_view k = kv.key();
        const key_id id = identify_key(std::string_view(k.data(), k.size()));
        if (id == key_id::unknown) {
            continue;
        }
        if (!first_time(seen, id)) {
            return t;
        }
        const bj::value& v = kv.value();
        bool ok = false;
        switch (id) {
        case key_id::access:
            ok = bj_text(v, t.access, true);
            break;
        case key_id::refresh:
            ok = bj_text(v, t.refresh, true, &t.has_refresh);
            break;
        case key_id::expires:
            ok = bj_seconds(v, t.expires_in);
            break;
        case key_id::refresh_expires:
            ok = bj_seconds(v, t.refresh_expires_in);
            break;
        case key_id::type:
            ok = bj_text(v, t.type, false);
            break;
        case key_id::scope:
            ok = bj_text(v, t.scope, false);
            break;
        case key_id::error:
            ok = v.is_null();
            break;
        case key_id::unknown:
            break;
        }
        if (!ok) {
            return t;
        }
    }
    if ((seen & 1u) == 0) {
        return t;
    }
    t.ok = true;
    return t;
}

extracted_token parse_boost_json(std::string_view body) {
    bj::error_code ec;
    const bj::value jv = bj::parse(bj::string_view(body.data(), body.size()), ec);
    if (ec) {
        return {};
    }
    return extract_boost(jv);
}

/// Boost.JSON as its documentation tunes it: a reused parser, and a
/// monotonic_resource over a stack buffer, so the DOM allocates nothing.
extracted_token parse_boost_json_reused(std::string_view body) {
    static bj::parser parser;
    alignas(std::max_align_t) unsigned char storage[16384];
    bj::monotonic_resource mr(storage, sizeof storage);
    parser.reset(&mr);
    bj::error_code ec;
    parser.write(bj::string_view(body.data(), body.size()), ec);
    if (ec) {
        return {};
    }
    const bj::value jv = parser.release();
    return extract_boost(jv);
}

// --- the floor: copy the body, construct the strings -----------------------

struct floor_input {
    std::size_t offsets[4];
    std::size_t sizes[4];
};

floor_input floor_for(const inputs::expected_token& e) {
    floor_input f{};
    const std::string_view parts[4] = {e.access, e.refresh, e.type, e.scope};
    for (std::size_t i = 0; i < 4; ++i) {
        f.offsets[i] = e.body.find(parts[i]);
        f.sizes[i] = parts[i].size();
    }
    return f;
}

template <int I>
extracted_token parse_floor(std::string_view body) {
    static const floor_input f = floor_for(inputs::expected[I]);
    const std::string copy(body);
    extracted_token t;
    t.access.assign(copy, f.offsets[0], f.sizes[0]);
    t.refresh.assign(copy, f.offsets[1], f.sizes[1]);
    t.type.assign(copy, f.offsets[2], f.sizes[2]);
    t.scope.assign(copy, f.offsets[3], f.sizes[3]);
    t.has_refresh = true;
    t.expires_in = inputs::expected[I].expires_in;
    t.refresh_expires_in = inputs::expected[I].refresh_expires_in;
    t.ok = true;
    return t;
}

// --- registration and equivalence ------------------------------------------

template <auto Fn, int I>
void parse_op() {
    auto r = Fn(inputs::expected[I].body);
    benchmark::DoNotOptimize(r);
}

template <int I>
extracted_token parse_babelbird_extracted(std::string_view body) {
    return to_extracted(parse_babelbird(body));
}

template <template <int> class Impl>
void add_parse(std::string_view impl) {
    add_case<&parse_op<Impl<0>::fn, 0>>("parse/typical/" + std::string(impl));
    add_case<&parse_op<Impl<1>::fn, 1>>("parse/extra/" + std::string(impl));
    add_case<&parse_op<Impl<2>::fn, 2>>("parse/jwt/" + std::string(impl));
}

// Adapters giving every implementation the shape Impl<I>::fn.
template <int>
struct babelbird_impl {
    static constexpr auto fn = &parse_babelbird;
};
template <int>
struct simdjson_impl {
    static constexpr auto fn = &parse_simdjson;
};
template <int>
struct nlohmann_impl {
    static constexpr auto fn = &parse_nlohmann;
};
template <int>
struct rapidjson_impl {
    static constexpr auto fn = &parse_rapidjson;
};
template <int>
struct boost_json_impl {
    static constexpr auto fn = &parse_boost_json;
};
template <int>
struct boost_json_reused_impl {
    static constexpr auto fn = &parse_boost_json_reused;
};
template <int I>
struct floor_impl {
    static constexpr auto fn = &parse_floor<I>;
};

bool same(const extracted_token& t, const inputs::expected_token& e) {
    return t.ok && t.access == e.access && t.refresh == e.refresh && t.has_refresh &&
           t.type == e.type && t.scope == e.scope && t.expires_in == e.expires_in &&
           t.refresh_expires_in == e.refresh_expires_in;
}

template <int I>
bool check_input() {
    const inputs::expected_token& e = inputs::expected[I];
    const struct {
        const char* name;
        extracted_token t;
    } results[] = {
        {"babelbird", to_extracted(parse_babelbird(e.body))},
        {"simdjson_ondemand", parse_simdjson(e.body)},
        {"nlohmann", parse_nlohmann(e.body)},
        {"rapidjson", parse_rapidjson(e.body)},
        {"boost_json", parse_boost_json(e.body)},
        {"boost_json_reused", parse_boost_json_reused(e.body)},
        {"floor", parse_floor<I>(e.body)},
    };
    bool ok = true;
    for (const auto& r : results) {
        if (!same(r.t, e)) {
            std::fprintf(stderr, "self-test: parse/%s/%s extracts something else\n",
                         inputs::names[I].data(), r.name);
            ok = false;
        }
    }
    return ok;
}

/// Every implementation must also refuse the same bad answers.
bool check_rejections() {
    static constexpr std::string_view bad[] = {
        R"({"access_token":"a b"})",                       // not header-safe
        R"({"access_token":""})",                          // empty
        R"({"access_token":42})",                          // wrong type
        R"({"access_token":"x","expires_in":-1})",         // negative
        R"({"access_token":"x","expires_in":1.5})",        // fractional
        R"({"access_token":"x","expires_in":"12a"})",      // not digits
        R"({"access_token":"x","scope":7})",               // wrong type
        R"({"access_token":"x","error":"invalid_grant"})", // an error answer
        R"({"refresh_token":"x"})",                        // no access token
        R"({"access_token":"x"} x)",                       // trailing content
        R"({"access_token":"x")",                          // truncated
        R"(["access_token"])",                             // not an object
    };
    bool ok = true;
    for (std::string_view b : bad) {
        const bool rejected[] = {
            !parse_babelbird(b).has_value(), !parse_simdjson(b).ok,
            !parse_nlohmann(b).ok,           !parse_rapidjson(b).ok,
            !parse_boost_json(b).ok,         !parse_boost_json_reused(b).ok,
        };
        for (bool r : rejected) {
            if (!r) {
                std::fprintf(stderr, "self-test: an implementation accepts %.*s\n",
                             static_cast<int>(b.size()), b.data());
                ok = false;
                break;
            }
        }
    }
    return ok;
}

// --- error paths of babelbird (allocation goal) ----------------------------

constexpr std::string_view truncated_body = inputs::typical.substr(0, 235);
constexpr std::string_view invalid_grant_body =
    R"({"error":"invalid_grant","error_description":"The refresh token has expired"})";
constexpr std::string_view bad_token_body =
    R"({"access_token":"ya29\r\na0AfB","token_type":"bearer","expires_in":3600})";

template <int Status, const std::string_view* Body>
void error_op() {
    auto r = babelbird::parse_token_response(Status, *Body);
    benchmark::DoNotOptimize(r);
}

bool check_errors() {
    using babelbird::errc;
    const bool ok =
        babelbird::parse_token_response(200, truncated_body).error().code() == errc::invalid_json &&
        babelbird::parse_token_response(400, invalid_grant_body).error().code() ==
            errc::oauth_error_response &&
        babelbird::parse_token_response(200, bad_token_body).error().code() == errc::invalid_token;
    if (!ok) {
        std::fprintf(stderr, "self-test: an error case does not fail as expected\n");
    }
    return ok;
}

} // namespace

void register_parse_cases() {
    add_parse<babelbird_impl>("babelbird");
    add_parse<simdjson_impl>("simdjson_ondemand");
    add_parse<nlohmann_impl>("nlohmann");
    add_parse<rapidjson_impl>("rapidjson");
    add_parse<boost_json_impl>("boost_json");
    add_parse<boost_json_reused_impl>("boost_json_reused");
    add_parse<floor_impl>("floor");
    add_case<&error_op<200, &truncated_body>>("parse_error/truncated/babelbird");
    add_case<&error_op<400, &invalid_grant_body>>("parse_error/invalid_grant/babelbird");
    add_case<&error_op<200, &bad_token_body>>("parse_error/bad_token/babelbird");
    self_tests().push_back(&check_input<0>);
    self_tests().push_back(&check_input<1>);
    self_tests().push_back(&check_input<2>);
    self_tests().push_back(&check_rejections);
    self_tests().push_back(&check_errors);
}

} // namespace bench
