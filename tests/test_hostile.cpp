// The hostile-input corpus: every body in tests/hostile/ with its status gives
// exactly the outcome its manifest row names (docs/design.md policies), and no
// error message carries a byte of the body.
#include "hostile_corpus.hpp"
#include "support.hpp"

#include <doctest/doctest.h>

#include <map>

// A namespace per file: the unit tests are compiled as unity chunks.
namespace test_hostile {

namespace ts = test_support;

TEST_CASE("hostile corpus: each entry maps to its exact class and code") {
    std::vector<std::string> problems;
    const auto entries = hostile::load(problems);
    CHECK(problems.empty());
    for (const auto& p : problems) {
        MESSAGE(p);
    }
    CHECK(entries.size() >= 60);
    std::map<std::string, int> per_class;
    std::map<std::string, int> per_code;
    for (const auto& e : entries) {
        CAPTURE(e.file);
        CAPTURE(e.status);
        babelbird::response_options options;
        options.envelope = e.envelope;
        const auto r = babelbird::parse_token_response(e.status, e.body, options);
        ++per_class[e.expected_class];
        if (e.expected_class == "ok") {
            CHECK(r.has_value());
            if (r) {
                CHECK(babelbird::detail::is_access_token(r->access_token().expose_secret()));
                CHECK((!r->has_refresh_token() ||
                       babelbird::detail::is_refresh_token(r->refresh_token().expose_secret())));
            }
            continue;
        }
        REQUIRE_FALSE(r.has_value());
        const babelbird::error& err = r.error();
        CHECK(babelbird::to_string(err.kind()) == e.expected_class);
        CHECK(hostile::errc_name(err.code()) == e.expected_code);
        CHECK(err.origin() == babelbird::error_origin::server);
        CHECK(err.http_status() == e.status);
        // Only fixed text, the status and an OAuth code: never the body.
        std::string expected(babelbird::describe(err.code()));
        expected += " (HTTP " + std::to_string(e.status);
        if (!err.oauth_error_text().empty()) {
            expected += ", " + std::string(err.oauth_error_text());
        }
        expected += ")";
        CHECK(ts::remember(err) == expected);
        ++per_code[e.expected_code];
    }
    for (const auto& [klass, count] : per_class) {
        MESSAGE(klass << ": " << count);
    }
    for (const auto& [code, count] : per_code) {
        MESSAGE(code << ": " << count);
    }
}

} // namespace test_hostile
