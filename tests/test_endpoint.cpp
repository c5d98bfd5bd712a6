// Base URL validation: absolute, https or loopback http, no query/fragment/userinfo.
#include "support.hpp"

#include <doctest/doctest.h>

// A namespace per file: the unit tests are compiled as unity chunks.
namespace test_endpoint {

using babelbird::endpoint;
using babelbird::errc;

TEST_CASE("endpoint: accepted base URLs are normalised") {
    const std::pair<std::string_view, std::string_view> ok[] = {
        {"https://disk.example.com", "https://disk.example.com"},
        {"https://disk.example.com/", "https://disk.example.com"},
        {"https://disk.example.com/babel", "https://disk.example.com/babel"},
        {"https://disk.example.com/babel///", "https://disk.example.com/babel"},
        {"HTTPS://Disk.Example.com:8443/a/b", "https://Disk.Example.com:8443/a/b"},
        {"http://127.0.0.1:8080", "http://127.0.0.1:8080"},
        {"http://127.1.2.3/ctx", "http://127.1.2.3/ctx"},
        {"http://localhost:1", "http://localhost:1"},
        {"http://LOCALHOST/x", "http://LOCALHOST/x"},
        {"http://[::1]:9000/", "http://[::1]:9000"},
        {"https://[2001:db8::1]/babel", "https://[2001:db8::1]/babel"},
        {"https://disk.example.com/a%20b", "https://disk.example.com/a%20b"},
    };
    for (const auto& row : ok) {
        // A plain variable: clang 14 cannot capture a structured binding in CAPTURE's lambda.
        const std::string_view in = row.first;
        const std::string_view normalised = row.second;
        CAPTURE(in);
        const auto e = endpoint::make(in);
        REQUIRE(e);
        CHECK(e->base_url() == normalised);
    }
}

TEST_CASE("endpoint: loopback detection") {
    CHECK(endpoint::make("http://127.0.0.1")->is_loopback());
    CHECK(endpoint::make("http://localhost")->is_loopback());
    CHECK(endpoint::make("http://[::1]")->is_loopback());
    CHECK_FALSE(endpoint::make("https://disk.example.com")->is_loopback());
    CHECK(endpoint::make("https://disk.example.com:8443/x")->host() == "disk.example.com");
}

TEST_CASE("endpoint: rejected base URLs") {
    const std::pair<std::string_view, errc> bad[] = {
        {"", errc::invalid_url},
        {"disk.example.com", errc::invalid_url},
        {"/babel", errc::invalid_url},
        {"ftp://disk.example.com", errc::invalid_url},
        {"https://", errc::invalid_url},
        {"https:///path", errc::invalid_url},
        {"https://disk.example.com?x=1", errc::invalid_url},
        {"https://disk.example.com/babel?x=1", errc::invalid_url},
        {"https://disk.example.com/#frag", errc::invalid_url},
        {"https://user:pw@disk.example.com", errc::invalid_url},
        {"https://disk.example.com:0", errc::invalid_url},
        {"https://disk.example.com:65536", errc::invalid_url},
        {"https://disk.example.com:", errc::invalid_url},
        {"https://disk.example.com:80a", errc::invalid_url},
        {"https://disk example.com", errc::invalid_url},
        {"https://disk.example.com/a b", errc::invalid_url},
        {"https://disk.example.com/%zz", errc::invalid_url},
        {"https://[::1", errc::invalid_url},
        {"https://disk.example.com/\r\nX: y", errc::control_character},
        {"http://disk.example.com", errc::insecure_url},
        {"http://10.0.0.1", errc::insecure_url},
        {"http://128.0.0.1", errc::insecure_url},
        {"http://127.0.0.1.evil.com", errc::insecure_url},
        {"http://127.0.0.01", errc::insecure_url},
        {"http://localhost.evil.com", errc::insecure_url},
        {"http://[::2]", errc::insecure_url},
    };
    for (const auto& row : bad) {
        const std::string_view in = row.first;
        const errc code = row.second;
        CAPTURE(in);
        const auto e = endpoint::make(in);
        REQUIRE_FALSE(e);
        CHECK(e.error().code() == code);
        CHECK(e.error().kind() == babelbird::error_class::usage);
    }
}

TEST_CASE("endpoint: paths default to the documented ones and can be changed") {
    const auto d = endpoint::make("https://h");
    REQUIRE(d);
    CHECK(d->paths().refresh == "/api/refreshToken.do");
    CHECK(d->paths().token == "/api/token.do");
    babelbird::endpoint_paths p;
    p.refresh = "/oauth/v2/refresh";
    const auto e = endpoint::make("https://h/ctx", p);
    REQUIRE(e);
    CHECK(e->url_for(e->paths().refresh) == "https://h/ctx/oauth/v2/refresh");
    for (std::string_view bad : {"", "api/x", "/a b", "/a?b", "/a#b", "/a\nb"}) {
        babelbird::endpoint_paths q;
        q.token = std::string(bad);
        const auto r = endpoint::make("https://h", q);
        REQUIRE_FALSE(r);
        CHECK(r.error().code() == errc::invalid_path);
    }
}

} // namespace test_endpoint
