// libFuzzer target: the OAuth authorization callback parser (answers/callback.hpp).
//
// Input (FuzzedDataProvider): a flags byte (bit 0: '+' is a space, bit 1: an
// expected `data` is given, bit 2: parse as a whole URL), the expected data,
// then the query. Invariants:
// - a success carries a non-empty, header-safe code that is exactly the one
//   `code` parameter of the query, decoded, and, when an expected `data` was
//   given, a `data` equal to it;
// - a query that a straightforward reference reading finds valid (no control
//   byte, every piece decodes to UTF-8, `code`, `data`, `error`,
//   `error_description`, `error_uri` at most once, no `error`, a header-safe
//   code, the expected data) is accepted;
// - every error has origin `server`, no status, and a message made only of
//   fixed text and an RFC 6749-shaped OAuth code that the query's `error` carried;
// - the URL form and the query form agree.
#include "fuzz_support.hpp"

#include <fuzzer/FuzzedDataProvider.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace {

namespace bd = babelbird::detail;

/// The query as a reference reading sees it.
struct reference {
    bool valid = true; ///< every piece decodes, no control byte, no duplicate
    int codes = 0, datas = 0, errors = 0, descriptions = 0, uris = 0;
    std::string code, data, error;
};

bool decode(std::string_view raw, bool plus, std::string& out) {
    out.assign(raw.size(), '\0');
    const auto r = bd::percent_decode_to(raw, out.data(), plus);
    if (!r.ok) {
        return false;
    }
    out.resize(r.size);
    return bd::is_valid_utf8(out);
}

reference read(std::string_view query, bool plus) {
    reference ref;
    if (!query.empty() && query.front() == '?') {
        query.remove_prefix(1);
    }
    if (bd::has_control(query)) {
        ref.valid = false;
    }
    std::size_t pos = 0;
    while (pos <= query.size()) {
        const std::size_t amp = std::min(query.find('&', pos), query.size());
        const std::string_view piece = query.substr(pos, amp - pos);
        pos = amp + 1;
        if (piece.empty()) {
            continue;
        }
        const std::size_t eq = piece.find('=');
        std::string name, value;
        if (!decode(piece.substr(0, eq), plus, name) ||
            !decode(eq == std::string_view::npos ? std::string_view() : piece.substr(eq + 1), plus,
                    value)) {
            ref.valid = false;
            continue;
        }
        if (name == "code") {
            ++ref.codes;
            ref.code = value;
        } else if (name == "data") {
            ++ref.datas;
            ref.data = value;
        } else if (name == "error") {
            ++ref.errors;
            ref.error = value;
        } else if (name == "error_description") {
            ++ref.descriptions;
        } else if (name == "error_uri") {
            ++ref.uris;
        }
    }
    if (ref.codes > 1 || ref.datas > 1 || ref.errors > 1 || ref.descriptions > 1 || ref.uris > 1) {
        ref.valid = false;
    }
    return ref;
}

bool same(const babelbird::result<babelbird::authorization_callback>& a,
          const babelbird::result<babelbird::authorization_callback>& b) {
    if (a.has_value() != b.has_value()) {
        return false;
    }
    if (!a) {
        return a.error() == b.error();
    }
    return a->code.expose_secret() == b->code.expose_secret() && a->data == b->data;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    FuzzedDataProvider in(data, size);
    const auto flags = in.ConsumeIntegral<std::uint8_t>();
    const std::string expected_text = in.ConsumeRandomLengthString(64);
    const std::string query = in.ConsumeRemainingBytesAsString();

    babelbird::callback_options options;
    options.plus_is_space = (flags & 1) != 0;
    const std::optional<std::string_view> expected =
        (flags & 2) != 0 ? std::optional<std::string_view>(expected_text) : std::nullopt;

    const auto r = babelbird::parse_callback_query(query, expected, options);
    const reference ref = read(query, options.plus_is_space);

    if (r) {
        FUZZ_CHECK(ref.valid);
        FUZZ_CHECK(ref.errors == 0);
        FUZZ_CHECK(ref.codes == 1);
        FUZZ_CHECK(r->code.expose_secret() == ref.code);
        FUZZ_CHECK(bd::is_header_safe_token(r->code.expose_secret()));
        if (expected) {
            FUZZ_CHECK(r->data.has_value() && *r->data == *expected);
        }
        if (ref.datas == 1) {
            FUZZ_CHECK(r->data.has_value() && *r->data == ref.data);
        } else {
            FUZZ_CHECK(!r->data.has_value());
        }
    } else {
        const babelbird::error& e = r.error();
        FUZZ_CHECK(e.origin() == babelbird::error_origin::server);
        FUZZ_CHECK(e.http_status() == 0);
        FUZZ_CHECK(e.kind() != babelbird::error_class::usage);
        FUZZ_CHECK(e.message() == fuzz_support::expected_message(e));
        FUZZ_CHECK(fuzz_support::is_plausible_oauth_text(e.oauth_error_text()));
        if (!e.oauth_error_text().empty()) {
            FUZZ_CHECK(ref.errors >= 1);
        }
        // What a reference reading accepts, the parser must accept.
        const bool acceptable = ref.valid && ref.errors == 0 && ref.codes == 1 &&
                                bd::is_header_safe_token(ref.code) &&
                                (!expected || (ref.datas == 1 && ref.data == *expected));
        FUZZ_CHECK(!acceptable);
    }

    // The URL form reads the same query.
    if (query.find('#') == std::string::npos) {
        const std::string url = "https://app.example.com/cb?" + query + "#fragment";
        const auto via_url = babelbird::parse_callback_url(url, expected, options);
        FUZZ_CHECK(same(r, via_url));
    }
    return 0;
}
