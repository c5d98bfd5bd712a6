// Client credentials: validation and the exact Basic header bytes in both modes.
#include "support.hpp"

#include <doctest/doctest.h>

// A namespace per file: the unit tests are compiled as unity chunks.
namespace test_credentials {

using babelbird::basic_encoding;
using babelbird::client_credentials;
using babelbird::errc;

TEST_CASE("Basic: RFC 7617 example in raw mode") {
    const auto c = client_credentials::make("Aladdin", "open sesame");
    REQUIRE(c);
    CHECK(c->basic_authorization().expose_secret() == "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==");
    CHECK(c->basic_authorization_string() == "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==");
}

TEST_CASE("Basic: raw mode is Base64(id \":\" secret) for every id/secret length mix") {
    // Lengths 0..5 on each side exercise every split of the group straddling ':'.
    const std::string ids[] = {"a", "ab", "abc", "abcd", "abcde"};
    const std::string secrets[] = {"", "+", "+/", "+/=", "+/=:", "+/=:%", "+/=:%!"};
    for (const auto& id : ids) {
        for (const auto& pw : secrets) {
            const auto c = client_credentials::make(id, pw);
            REQUIRE(c);
            CHECK(c->basic_authorization().expose_secret() ==
                  "Basic " + babelbird::base64_encode(id + ":" + pw));
        }
    }
}

TEST_CASE("Basic: secrets with + / = : % ! are encoded byte for byte") {
    const auto c = client_credentials::make("babel-client", "S3cr3t+/=:%!value");
    REQUIRE(c);
    // printf 'babel-client:S3cr3t+/=:%%!value' | base64
    CHECK(c->basic_authorization().expose_secret() ==
          "Basic YmFiZWwtY2xpZW50OlMzY3IzdCsvPTolIXZhbHVl");
}

TEST_CASE("Basic: rfc6749 mode form-encodes both parts first") {
    const auto c = client_credentials::make("id:with colon", "p&ss w+rd", basic_encoding::rfc6749);
    REQUIRE(c);
    CHECK(c->basic_authorization().expose_secret() ==
          "Basic " + babelbird::base64_encode("id%3Awith+colon:p%26ss+w%2Brd"));
}

TEST_CASE("credentials: invalid input is a usage error before anything is built") {
    struct bad_case {
        std::string_view id;
        std::string_view secret;
        basic_encoding mode;
        errc expected;
    };
    const bad_case cases[] = {
        {"", "s", basic_encoding::raw, errc::empty_client_id},
        {"", "s", basic_encoding::rfc6749, errc::empty_client_id},
        {"a:b", "s", basic_encoding::raw, errc::colon_in_client_id},
        {"id\r", "s", basic_encoding::raw, errc::control_character},
        {"id", "s\n", basic_encoding::raw, errc::control_character},
        {"id", std::string_view("s\0x", 3), basic_encoding::raw, errc::control_character},
        {"id", "s\x7F", basic_encoding::rfc6749, errc::control_character},
        {"id\t", "s", basic_encoding::rfc6749, errc::control_character},
        {"id", "\xC3", basic_encoding::raw, errc::invalid_utf8},
        {"\xFF", "s", basic_encoding::raw, errc::invalid_utf8},
    };
    for (const auto& bc : cases) {
        const auto c = client_credentials::make(bc.id, bc.secret, bc.mode);
        REQUIRE_FALSE(c);
        CHECK(c.error().code() == bc.expected);
        CHECK(c.error().kind() == babelbird::error_class::usage);
        CHECK(c.error().origin() == babelbird::error_origin::caller);
        test_support::remember(c.error());
    }
}

TEST_CASE("credentials: a colon in the id is fine in rfc6749 mode") {
    CHECK(client_credentials::make("a:b", "s", basic_encoding::rfc6749));
}

} // namespace test_credentials
