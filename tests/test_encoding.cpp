// Base64 (RFC 4648) and percent-encoding (RFC 3986): golden vectors, constant
// evaluation, strict decoding.
#include "support.hpp"

#include <doctest/doctest.h>

#include <string>

// A namespace per file: the unit tests are compiled as unity chunks.
namespace test_encoding {

namespace bd = babelbird::detail;

namespace {
constexpr bool base64_is(std::string_view in, std::string_view expected) {
    char buf[256]{};
    char* end = bd::base64_encode_to(in, buf);
    return std::string_view(buf, static_cast<std::size_t>(end - buf)) == expected;
}
constexpr bool base64_decodes(std::string_view in, std::string_view expected) {
    char buf[256]{};
    const auto r = bd::base64_decode_to(in, buf);
    return r.ok && std::string_view(buf, r.size) == expected;
}
constexpr bool base64_rejects(std::string_view in) {
    char buf[256]{};
    return !bd::base64_decode_to(in, buf).ok;
}
constexpr bool percent_is(std::string_view in, std::string_view expected) {
    char buf[256]{};
    char* end = bd::percent_encode_to(in, buf);
    return std::string_view(buf, static_cast<std::size_t>(end - buf)) == expected &&
           bd::percent_encoded_size(in) == expected.size();
}
constexpr bool percent_decodes(std::string_view in, std::string_view expected) {
    char buf[256]{};
    const auto r = bd::percent_decode_to(in, buf);
    return r.ok && std::string_view(buf, r.size) == expected;
}
constexpr bool percent_rejects(std::string_view in) {
    char buf[256]{};
    return !bd::percent_decode_to(in, buf).ok;
}
} // namespace

// RFC 4648 section 10 test vectors, evaluated by the compiler.
static_assert(base64_is("", ""));
static_assert(base64_is("f", "Zg=="));
static_assert(base64_is("fo", "Zm8="));
static_assert(base64_is("foo", "Zm9v"));
static_assert(base64_is("foob", "Zm9vYg=="));
static_assert(base64_is("fooba", "Zm9vYmE="));
static_assert(base64_is("foobar", "Zm9vYmFy"));
// RFC 7617 section 2 example.
static_assert(base64_is("Aladdin:open sesame", "QWxhZGRpbjpvcGVuIHNlc2FtZQ=="));
static_assert(base64_decodes("Zm9vYmFy", "foobar"));
static_assert(base64_decodes("Zg==", "f"));
static_assert(base64_rejects("Zg="));      // length not a multiple of 4
static_assert(base64_rejects("Zh=="));     // unused bits set: not canonical
static_assert(base64_rejects("Zm9v!A==")); // not in the alphabet
static_assert(base64_rejects("Z=g="));     // padding in the middle
// RFC 3986: unreserved kept, everything else %XX upper-case.
static_assert(percent_is("AZaz09-._~", "AZaz09-._~"));
static_assert(percent_is("a+b/c=d%e", "a%2Bb%2Fc%3Dd%25e"));
static_assert(percent_is(" &?#", "%20%26%3F%23"));
static_assert(percent_is("\xC3\xA9", "%C3%A9"));
static_assert(percent_decodes("a%2Bb%2fc", "a+b/c"));
static_assert(percent_decodes("a+b", "a+b"));
static_assert(percent_rejects("%"));
static_assert(percent_rejects("%2"));
static_assert(percent_rejects("%zz"));

TEST_CASE("base64: RFC 4648 section 10 vectors at run time") {
    const std::pair<std::string_view, std::string_view> vectors[] = {{"", ""},
                                                                     {"f", "Zg=="},
                                                                     {"fo", "Zm8="},
                                                                     {"foo", "Zm9v"},
                                                                     {"foob", "Zm9vYg=="},
                                                                     {"fooba", "Zm9vYmE="},
                                                                     {"foobar", "Zm9vYmFy"}};
    for (const auto& [plain, encoded] : vectors) {
        CHECK(babelbird::base64_encode(plain) == encoded);
        const auto decoded = babelbird::base64_decode(encoded);
        REQUIRE(decoded);
        CHECK(*decoded == plain);
    }
}

TEST_CASE("base64: every byte value round-trips") {
    std::string all;
    for (int i = 0; i < 256; ++i) {
        all.push_back(static_cast<char>(i));
    }
    for (std::size_t n = 0; n <= all.size(); n += 7) {
        const std::string part = all.substr(0, n);
        const auto decoded = babelbird::base64_decode(babelbird::base64_encode(part));
        REQUIRE(decoded);
        CHECK(*decoded == part);
    }
}

TEST_CASE("base64: malformed input is a usage error") {
    for (std::string_view bad : {"A", "AB", "ABC", "A===", "AB=C", "Zm9v YmFy", "Zh=="}) {
        const auto r = babelbird::base64_decode(bad);
        REQUIRE_FALSE(r);
        CHECK(r.error().code() == babelbird::errc::invalid_argument);
        CHECK(r.error().kind() == babelbird::error_class::usage);
    }
}

TEST_CASE("percent-encoding: tokens with + / = % survive a decode") {
    for (std::string_view token : {"a+b/c=d%e", "++//==%%", "x", "\xE4\xB8\xAD\xE6\x96\x87 ok"}) {
        const std::string encoded = babelbird::percent_encode(token);
        CHECK(encoded.find_first_of("+/= ") == std::string::npos);
        const auto decoded = babelbird::percent_decode(encoded);
        REQUIRE(decoded);
        CHECK(*decoded == token);
    }
}

TEST_CASE("percent-encoding: every byte except the unreserved set is escaped") {
    for (int i = 0; i < 256; ++i) {
        const char ch = static_cast<char>(i);
        const std::string encoded = babelbird::percent_encode(std::string_view(&ch, 1));
        if (bd::is_unreserved(ch)) {
            CHECK(encoded.size() == 1);
        } else {
            REQUIRE(encoded.size() == 3);
            CHECK(encoded[0] == '%');
            CHECK(encoded[1] == "0123456789ABCDEF"[i >> 4]);
            CHECK(encoded[2] == "0123456789ABCDEF"[i & 15]);
        }
    }
}

TEST_CASE("form encoding: RFC 6749 appendix B example") {
    // " %&+\u00a3\u20ac" -> "+%25%26%2B%C2%A3%E2%82%AC"
    CHECK(babelbird::form_encode(" %&+\xC2\xA3\xE2\x82\xAC") == "+%25%26%2B%C2%A3%E2%82%AC");
    CHECK(babelbird::form_encode("a*b-c.d_e~") == "a*b-c.d_e%7E");
}

TEST_CASE("utf-8 validation is strict") {
    CHECK(bd::is_valid_utf8("plain ascii"));
    CHECK(bd::is_valid_utf8("\xC3\xA9\xE4\xB8\xAD\xF0\x9F\x98\x80"));
    CHECK_FALSE(bd::is_valid_utf8("\xC0\xAF"));         // overlong '/'
    CHECK_FALSE(bd::is_valid_utf8("\xE0\x80\xAF"));     // overlong
    CHECK_FALSE(bd::is_valid_utf8("\xED\xA0\x80"));     // surrogate
    CHECK_FALSE(bd::is_valid_utf8("\xF4\x90\x80\x80")); // above U+10FFFF
    CHECK_FALSE(bd::is_valid_utf8("\xC3"));             // truncated
    CHECK_FALSE(bd::is_valid_utf8("\x80"));             // lone continuation
    CHECK_FALSE(bd::is_valid_utf8("\xFF"));
}
static_assert(bd::is_valid_utf8("\xC3\xA9"));
static_assert(!bd::is_valid_utf8("\xC0\x80"));

} // namespace test_encoding
