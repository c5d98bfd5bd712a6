// The authorization callback: code and data extraction, '+' handling, every
// error path, and proof that the data comparison has no early exit.
#include "support.hpp"

#include <doctest/doctest.h>

#include <cstddef>
#include <string>
#include <type_traits>
#include <utility>

// A namespace per file: the unit tests are compiled as unity chunks.
namespace test_callback {

using babelbird::errc;
using babelbird::error_class;
namespace ts = test_support;

namespace {
constexpr std::string_view state = "a&b=c+d e/\xE4\xB8\xAD\xE6\x96\x87";
constexpr std::string_view state_encoded = "a%26b%3Dc%2Bd%20e%2F%E4%B8%AD%E6%96%87";

babelbird::result<babelbird::authorization_callback>
query(std::string_view q, std::optional<std::string_view> expected = std::nullopt,
      babelbird::callback_options options = {}) {
    return babelbird::parse_callback_query(q, expected, options);
}

/// Checks a failed parse: origin server, no status, the class, no secret in
/// the message; returns the code.
errc failure(const babelbird::result<babelbird::authorization_callback>& r,
             error_class kind = error_class::protocol) {
    REQUIRE_FALSE(r);
    CHECK(r.error().origin() == babelbird::error_origin::server);
    CHECK(r.error().http_status() == 0);
    CHECK(r.error().kind() == kind);
    const std::string message = ts::remember(r.error());
    for (std::string_view s : {"SECRETCODE", "SECRETDESC", "SECRETDATA", "s3cr3t"}) {
        CHECK(message.find(s) == std::string::npos);
    }
    return r.error().code();
}
} // namespace

TEST_CASE("callback: code and data from the redirect URL, the URI's own query ignored") {
    const std::string url = "https://app.example.com/cb?next=%2Fhome&lang=zh&code=AbC-123.x_~"
                            "&data=" +
                            std::string(state_encoded);
    const auto cb = babelbird::parse_callback_url(url, state);
    REQUIRE(cb);
    CHECK(cb->code.expose_secret() == "AbC-123.x_~");
    REQUIRE(cb->data);
    CHECK(*cb->data == state);
}

TEST_CASE("callback: a request target, a fragment, a bare query with or without '?'") {
    const auto target = babelbird::parse_callback_url("/cb?code=c1&data=s#code=evil", "s");
    REQUIRE(target);
    CHECK(target->code.expose_secret() == "c1");

    for (std::string_view q : {"code=c2&data=s", "?code=c2&data=s", "&&data=s&&code=c2&"}) {
        CAPTURE(q);
        const auto cb = query(q, "s");
        REQUIRE(cb);
        CHECK(cb->code.expose_secret() == "c2");
    }
}

TEST_CASE("callback: '+' is a space by default, kept with plus_is_space = false") {
    const auto form = query("code=c&data=a+b%2Bc");
    REQUIRE(form);
    CHECK(*form->data == "a b+c");

    babelbird::callback_options raw;
    raw.plus_is_space = false;
    const auto rfc = query("code=c&data=a+b%2Bc", std::nullopt, raw);
    REQUIRE(rfc);
    CHECK(*rfc->data == "a+b+c");

    // The expected value is compared after decoding.
    CHECK(query("code=c&data=a+b", "a b"));
    CHECK_FALSE(query("code=c&data=a+b", "a+b"));
    CHECK(query("code=c&data=a+b", "a+b", raw));
}

TEST_CASE("callback: without an expected value, data is returned unchecked") {
    const auto with = query("code=c&data=x%20y");
    REQUIRE(with);
    CHECK(with->data == std::optional<std::string>("x y"));
    const auto without = query("code=c");
    REQUIRE(without);
    CHECK_FALSE(without->data);
    const auto empty = query("code=c&data=", "");
    REQUIRE(empty);
    CHECK(empty->data == std::optional<std::string>(""));
    const auto bare = query("code=c&data", "");
    REQUIRE(bare);
    CHECK(bare->data == std::optional<std::string>(""));
}

TEST_CASE("callback: an OAuth error becomes a typed error without its description") {
    const auto denied = query("error=access_denied&error_description=User+denied+SECRETDESC"
                              "&error_uri=https%3A%2F%2Fx%2FSECRETDESC&data=s",
                              "s");
    CHECK(failure(denied, error_class::reauthorize) == errc::authorization_error);
    CHECK(denied.error().oauth_code() == babelbird::oauth_error::access_denied);
    CHECK(denied.error().message() ==
          "the authorization callback carried an OAuth error (access_denied)");

    CHECK(failure(query("error=temporarily_unavailable"), error_class::retry) ==
          errc::authorization_error);
    CHECK(failure(query("error=server_error"), error_class::retry) == errc::authorization_error);
    for (std::string_view code :
         {"invalid_request", "unauthorized_client", "unsupported_response_type", "invalid_scope"}) {
        const auto r = query("error=" + std::string(code));
        CHECK(failure(r, error_class::reauthorize) == errc::authorization_error);
        CHECK(r.error().oauth_error_text() == code);
    }
}

TEST_CASE("callback: an error wins over a code; its data need not match") {
    const auto both = query("code=SECRETCODE&error=access_denied&data=other", "s3cr3t");
    CHECK(failure(both, error_class::reauthorize) == errc::authorization_error);
}

TEST_CASE("callback: unknown error codes are kept only when they look like one") {
    const auto custom = query("error=user_locked_42");
    CHECK(failure(custom, error_class::reauthorize) == errc::authorization_error);
    CHECK(custom.error().oauth_code() == babelbird::oauth_error::other);
    CHECK(custom.error().oauth_error_text() == "user_locked_42");

    const auto prose = query("error=Bad+SECRETDESC+thing");
    CHECK(failure(prose, error_class::reauthorize) == errc::authorization_error);
    CHECK(prose.error().oauth_error_text().empty());

    // An error text that echoes the expected data is dropped.
    const auto echo = query("error=s3cr3t_state", "s3cr3t_state");
    CHECK(failure(echo, error_class::reauthorize) == errc::authorization_error);
    CHECK(echo.error().oauth_error_text().empty());
}

TEST_CASE("callback: data mismatch wherever the strings differ, or data missing") {
    for (std::string_view returned :
         {"Xbcdefgh", "abcXefgh", "abcdefgX", "abcdefg", "abcdefghi", ""}) {
        CAPTURE(returned);
        const auto r = query("code=SECRETCODE&data=" + std::string(returned), "abcdefgh");
        CHECK(failure(r, error_class::reauthorize) == errc::data_mismatch);
    }
    CHECK(failure(query("code=SECRETCODE", "abcdefgh"), error_class::reauthorize) ==
          errc::data_mismatch);
    CHECK(query("code=SECRETCODE&data=abcdefgh", "abcdefgh"));
}

TEST_CASE("callback: missing or unusable code") {
    CHECK(failure(query("data=s", "s")) == errc::missing_code);
    CHECK(failure(query("")) == errc::missing_code);
    CHECK(failure(query("code=")) == errc::missing_code);
    CHECK(failure(query("code")) == errc::missing_code);
    CHECK(failure(query("Code=SECRETCODE")) == errc::missing_code); // names are case-sensitive
    CHECK(failure(babelbird::parse_callback_url("https://app.example.com/cb", std::nullopt)) ==
          errc::missing_code);
    CHECK(failure(babelbird::parse_callback_url("https://app/cb#code=SECRETCODE", std::nullopt)) ==
          errc::missing_code);
    CHECK(failure(query("code=SECRET+CODE")) == errc::invalid_token);
    CHECK(failure(query("code=SECRETCODE%0A")) == errc::invalid_token);
    CHECK(failure(query("code=%E4%B8%ADSECRETCODE")) == errc::invalid_token);
}

TEST_CASE("callback: duplicate parameters") {
    for (std::string_view q :
         {"code=SECRETCODE&code=SECRETCODE", "code=SECRETCODE&data=a&data=a",
          "error=access_denied&error=access_denied", "code=SECRETCODE&c%6Fde=other",
          "code=c&error_description=SECRETDESC&error_description=x", "code=c&error_uri&error_uri",
          "code&code=SECRETCODE"}) {
        CAPTURE(q);
        CHECK(failure(query(q)) == errc::duplicate_parameter);
    }
    // Parameters this parser does not read may repeat (the redirect URI's own query).
    CHECK(query("x=1&x=2&code=c"));
}

TEST_CASE("callback: invalid percent-escapes anywhere in the query") {
    for (std::string_view q : {"code=SECRETCODE%", "code=SECRETCODE%4", "code=%G1",
                               "data=%zz&code=c", "code=c&other=%", "c%o=1&code=c", "%=x&code=c"}) {
        CAPTURE(q);
        CHECK(failure(query(q)) == errc::invalid_percent_encoding);
    }
}

TEST_CASE("callback: invalid UTF-8 anywhere in the query") {
    for (std::string_view q :
         {"code=c&data=%FF", "code=c&data=%C0%AF", "code=c&data=%ED%A0%80", "code=c&data=%E4%B8",
          "code=c&other=%80", "%F5=1&code=c", "code=c&data=\xFF"}) {
        CAPTURE(q);
        CHECK(failure(query(q)) == errc::invalid_utf8);
    }
}

TEST_CASE("callback: raw control bytes") {
    CHECK(failure(query("code=SECRET\nCODE")) == errc::control_character);
    CHECK(failure(query(std::string_view("code=c&x=\0", 10))) == errc::control_character);
    CHECK(failure(babelbird::parse_callback_url("https://app/cb?code=c\r\n", std::nullopt)) ==
          errc::control_character);
    // Encoded control bytes in unread parameters are fine; in the code they are not.
    CHECK(query("code=c&note=a%0Ab"));
}

// The data comparison takes the same path wherever the strings differ.
//
// Proof by the constant evaluator: in a constant expression, reading an
// uninitialized byte is an error. We build two N-byte strings that are
// equal up to position `Diff`, differ there, and leave every byte after `Diff`
// uninitialized. A comparison that stopped at the first difference would
// never touch those bytes and would be a constant expression; one that reads
// every byte is not. `data_matches` (what `parse_callback_query` calls) must
// fail to evaluate for every Diff < N-1, and evaluate to false for Diff = N-1
// (nothing uninitialized is left). An early-exit comparison is shown to pass
// the same probe, so the probe can tell the two apart.
namespace {
constexpr bool early_exit_equals(std::string_view a, std::string_view b) noexcept {
    if (a.size() != b.size()) {
        return false;
    }
    for (std::size_t i = 0; i < a.size(); ++i) {
        if (a[i] != b[i]) {
            return false;
        }
    }
    return true;
}

template <bool (*Equals)(std::string_view, std::string_view) noexcept, std::size_t N,
          std::size_t Diff>
constexpr bool compare_with_uninitialized_tail() {
    char a[N];
    char b[N];
    for (std::size_t i = 0; i <= Diff; ++i) {
        a[i] = 'x';
        b[i] = i == Diff ? 'y' : 'x';
    }
    return Equals(std::string_view(a, N), std::string_view(b, N));
}

template <auto F>
concept constant_evaluable = requires {
    typename std::integral_constant<bool, F()>;
};

template <bool (*Equals)(std::string_view, std::string_view) noexcept, std::size_t N,
          std::size_t... Diff>
constexpr bool reads_past_every_difference(std::index_sequence<Diff...>) {
    return (!constant_evaluable<compare_with_uninitialized_tail<Equals, N, Diff>> && ...);
}
template <bool (*Equals)(std::string_view, std::string_view) noexcept, std::size_t N,
          std::size_t... Diff>
constexpr bool stops_at_some_difference(std::index_sequence<Diff...>) {
    return (constant_evaluable<compare_with_uninitialized_tail<Equals, N, Diff>> || ...);
}

constexpr std::size_t probe_size = 16;
} // namespace

static_assert(reads_past_every_difference<babelbird::detail::data_matches, probe_size>(
                  std::make_index_sequence<probe_size - 1>{}),
              "data_matches must read every byte even after the first difference");
static_assert(
    !compare_with_uninitialized_tail<babelbird::detail::data_matches, probe_size, probe_size - 1>(),
    "a difference in the last byte is still found");
static_assert(stops_at_some_difference<early_exit_equals, probe_size>(
                  std::make_index_sequence<probe_size - 1>{}),
              "the probe detects an early exit");
static_assert(babelbird::detail::data_matches("same", "same"));
static_assert(!babelbird::detail::data_matches("same", "Same"));
static_assert(!babelbird::detail::data_matches("same", "sam"));

TEST_CASE("callback: the data comparison has no early exit (see the static_asserts above)") {
    // The same proof, reported at run time too.
    CHECK(reads_past_every_difference<babelbird::detail::data_matches, probe_size>(
        std::make_index_sequence<probe_size - 1>{}));
    CHECK(stops_at_some_difference<early_exit_equals, probe_size>(
        std::make_index_sequence<probe_size - 1>{}));
    // And the errors for a difference at the start and at the end are identical.
    const auto first = query("code=c&data=Xbcdefgh", "abcdefgh");
    const auto last = query("code=c&data=abcdefgX", "abcdefgh");
    REQUIRE_FALSE(first);
    REQUIRE_FALSE(last);
    CHECK(first.error() == last.error());
}

} // namespace test_callback
