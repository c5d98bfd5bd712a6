// refresh(): build -> transport -> parse -> stamp, through a recording fake transport.
#include "support.hpp"

#include <doctest/doctest.h>

#include <chrono>

// A namespace per file: the unit tests are compiled as unity chunks.
namespace test_client {

using namespace std::chrono_literals;
namespace ts = test_support;

namespace {
const std::string rotated_body =
    R"({"access_token":"NEW-ACCESS","refresh_token":"NEW-REFRESH","expires_in":3600,)"
    R"("token_type":"bearer","scope":"files"})";
}

TEST_CASE("refresh: sends exactly the refresh request and stamps times from the clock") {
    ts::recording_transport transport;
    transport.answer = babelbird::http_response(200, rotated_body);
    ts::fixed_clock clock;
    const auto grant = babelbird::refresh(transport, ts::credentials(), ts::server(),
                                          babelbird::secret_view(ts::refresh_token), {}, clock);
    REQUIRE(grant);
    REQUIRE(transport.requests.size() == 1);
    const auto& sent = transport.requests[0];
    CHECK(sent.method == "POST");
    CHECK(sent.url == "https://disk.example.com/babel/api/refreshToken.do?grant_type=refresh_token"
                      "&refresh_token=rt%2B%2F%3D%25Zq9-REFRESH-0123456789abcdef");
    CHECK(sent.header("authorization") ==
          std::optional<std::string_view>("Basic YmFiZWwtY2xpZW50OlMzY3IzdCsvPTolIXZhbHVl"));
    CHECK(sent.header("accept") == std::optional<std::string_view>("application/json"));
    CHECK(sent.body.empty());
    CHECK(clock.reads == 1);

    CHECK(grant->access_token.expose_secret() == "NEW-ACCESS");
    CHECK(grant->refresh_token.expose_secret() == "NEW-REFRESH");
    CHECK(grant->refresh_token_rotated);
    CHECK(grant->expires_in == std::optional<std::uint64_t>(3600));
    CHECK(grant->issued_at == clock.at);
    CHECK(grant->expires_at == clock.at + 3600s);
    REQUIRE(grant->refresh_expires_at);
    CHECK(*grant->refresh_expires_at == clock.at + std::chrono::hours(24 * 30));
    CHECK(grant->token_type == "bearer");
    CHECK(grant->scope == "files");
}

TEST_CASE("refresh: the clock is read before the transport is called") {
    ts::fixed_clock clock;
    struct advancing_transport {
        ts::fixed_clock* clock;
        babelbird::transport_result operator()(const babelbird::http_request&) {
            clock->at += 10s; // the exchange takes ten seconds
            return babelbird::http_response(200, R"({"access_token":"A","expires_in":60})");
        }
    };
    const auto start = clock.at;
    const auto grant = babelbird::refresh(advancing_transport{&clock}, ts::credentials(),
                                          ts::server(), babelbird::secret_view("R"), {}, clock);
    REQUIRE(grant);
    CHECK(grant->issued_at == start);
    CHECK(grant->expires_at == start + 60s);
}

TEST_CASE("refresh: without a new refresh token the old one is kept") {
    ts::recording_transport transport;
    transport.answer = babelbird::http_response(200, R"({"access_token":"A2"})");
    ts::fixed_clock clock;
    babelbird::client_options options;
    options.assumed_lifetime = 900s;
    const auto grant = babelbird::refresh(transport, ts::credentials(), ts::server(),
                                          babelbird::secret_view("OLD-R"), options, clock);
    REQUIRE(grant);
    CHECK_FALSE(grant->refresh_token_rotated);
    CHECK(grant->refresh_token.expose_secret() == "OLD-R");
    CHECK_FALSE(grant->expires_in);
    CHECK(grant->expires_at == clock.at + 900s);
    CHECK_FALSE(grant->refresh_expires_at); // unknown: the old token keeps its own expiry

    // Refreshing a previous grant carries its refresh expiry over.
    babelbird::token_grant previous;
    previous.refresh_token = babelbird::secret("OLD-R");
    previous.refresh_expires_at = clock.at + 100h;
    const auto again =
        babelbird::refresh(transport, ts::credentials(), ts::server(), previous, options, clock);
    REQUIRE(again);
    CHECK(again->refresh_expires_at == previous.refresh_expires_at);
    CHECK(transport.requests.back().url.find("refresh_token=OLD-R") != std::string::npos);
}

TEST_CASE("refresh: the server's refresh_expires_in wins over the default") {
    ts::recording_transport transport;
    transport.answer = babelbird::http_response(
        200, R"({"access_token":"A","refresh_token":"R2","refresh_expires_in":120})");
    ts::fixed_clock clock;
    const auto grant = babelbird::refresh(transport, ts::credentials(), ts::server(),
                                          babelbird::secret_view("R"), {}, clock);
    REQUIRE(grant);
    CHECK(grant->refresh_expires_at == clock.at + 120s);
}

TEST_CASE("refresh: huge expires_in saturates instead of overflowing") {
    // Issue 10: the default bound (one year) rejects this; a raised bound lets
    // it through, and the expiry saturates.
    ts::recording_transport transport;
    transport.answer =
        babelbird::http_response(200, R"({"access_token":"A","expires_in":9223372036854775807})");
    ts::fixed_clock clock;
    babelbird::client_options options;
    options.response.max_expires_in = std::chrono::seconds::max();
    const auto grant = babelbird::refresh(transport, ts::credentials(), ts::server(),
                                          babelbird::secret_view("R"), options, clock);
    REQUIRE(grant);
    CHECK(grant->expires_at == babelbird::time_point::max());
    CHECK(grant->expires_at > clock.at);
}

TEST_CASE("refresh: errors keep their class and origin") {
    ts::fixed_clock clock;
    SUBCASE("transport failure is retry, from the transport") {
        ts::recording_transport transport;
        transport.failure = babelbird::error::transport(babelbird::errc::timeout);
        const auto g = babelbird::refresh(transport, ts::credentials(), ts::server(),
                                          babelbird::secret_view("R"), {}, clock);
        REQUIRE_FALSE(g);
        CHECK(g.error().code() == babelbird::errc::timeout);
        CHECK(g.error().kind() == babelbird::error_class::retry);
        CHECK(g.error().origin() == babelbird::error_origin::transport);
    }
    SUBCASE("invalid_grant is reauthorize, from the server") {
        ts::recording_transport transport;
        transport.answer = babelbird::http_response(400, R"({"error":"invalid_grant"})");
        const auto g = babelbird::refresh(transport, ts::credentials(), ts::server(),
                                          babelbird::secret_view("R"), {}, clock);
        REQUIRE_FALSE(g);
        CHECK(g.error().needs_reauthorization());
        CHECK(g.error().origin() == babelbird::error_origin::server);
    }
    SUBCASE("a bad refresh token is refused before the transport is called") {
        ts::recording_transport transport;
        const auto g = babelbird::refresh(transport, ts::credentials(), ts::server(),
                                          babelbird::secret_view("bad\ttoken"), {}, clock);
        REQUIRE_FALSE(g);
        CHECK(g.error().kind() == babelbird::error_class::usage);
        CHECK(transport.requests.empty());
        CHECK(clock.reads == 0);
    }
    SUBCASE("the envelope option reaches the parser") {
        ts::recording_transport transport;
        transport.answer = babelbird::http_response(200, R"({"data":{"access_token":"A"}})");
        babelbird::client_options options;
        options.response.envelope = "/data";
        const auto g = babelbird::refresh(transport, ts::credentials(), ts::server(),
                                          babelbird::secret_view("R"), options, clock);
        REQUIRE(g);
        CHECK(g->access_token.expose_secret() == "A");
    }
}

TEST_CASE("refresh: works with the default system clock and a lambda transport") {
    auto transport = [](const babelbird::http_request& request) -> babelbird::transport_result {
        if (request.method != "POST") {
            return babelbird::error::transport(babelbird::errc::transport_failure);
        }
        return babelbird::http_response(200, R"({"access_token":"A","expires_in":60})");
    };
    const auto before = std::chrono::system_clock::now();
    const auto grant =
        babelbird::refresh(transport, ts::credentials(), ts::server(), babelbird::secret_view("R"));
    REQUIRE(grant);
    CHECK(grant->issued_at >= before);
    CHECK(grant->expires_at == grant->issued_at + 60s);
}

TEST_CASE("refresh: a rotated refresh token in a rejected answer is salvaged") {
    ts::recording_transport transport;
    transport.answer = babelbird::http_response(
        200, R"({"refresh_token":"R-rotated 1","access_token":"","refresh_expires_in":"7200",)"
             R"("scope":5})");
    ts::fixed_clock clock;
    const auto g = babelbird::refresh(transport, ts::credentials(), ts::server(),
                                      babelbird::secret_view("R-old"), {}, clock);
    REQUIRE_FALSE(g);
    CHECK(g.error().code() == babelbird::errc::invalid_token);
    CHECK(g.error().kind() == babelbird::error_class::protocol);
    REQUIRE(g.salvaged());
    const babelbird::token_grant& rescued = *g.salvaged();
    CHECK(rescued.access_token.empty());
    CHECK(rescued.refresh_token.expose_secret() == "R-rotated 1");
    CHECK(rescued.refresh_token_rotated);
    CHECK(rescued.issued_at == clock.at);
    CHECK(rescued.expires_at == clock.at);
    CHECK(rescued.refresh_expires_at == clock.at + 7200s);
    CHECK(rescued.warnings == babelbird::response_warnings::scope_dropped);
    CHECK(babelbird::token_state_at(rescued, clock.at) == babelbird::token_state::expired);
    CHECK(ts::remember(g.error()).find("R-rotated") == std::string::npos);

    // The rescued token is usable for the next refresh (spaces included).
    transport.answer = babelbird::http_response(200, R"({"access_token":"A2"})");
    const auto next =
        babelbird::refresh(transport, ts::credentials(), ts::server(), rescued, {}, clock);
    REQUIRE(next);
    CHECK(next->refresh_token.expose_secret() == "R-rotated 1");
    CHECK(next->refresh_expires_at == clock.at + 7200s);
    CHECK(transport.requests.back().url.ends_with("refresh_token=R-rotated%201"));

    // Without refresh_expires_in the default lifetime is stamped.
    transport.answer = babelbird::http_response(
        200, R"({"refresh_token":"R3","access_token":"A","expires_in":-1})");
    const auto h = babelbird::refresh(transport, ts::credentials(), ts::server(),
                                      babelbird::secret_view("R-old"), {}, clock);
    REQUIRE_FALSE(h);
    CHECK(h.error().code() == babelbird::errc::invalid_expires_in);
    REQUIRE(h.salvaged());
    CHECK(h.salvaged()->refresh_token.expose_secret() == "R3");
    CHECK(h.salvaged()->refresh_expires_at == clock.at + std::chrono::hours(24 * 30));
}

TEST_CASE("refresh: nothing is salvaged from invalid JSON, an error field or a success") {
    ts::fixed_clock clock;
    for (const char* body : {R"({"refresh_token":"R2","access_token":1,"x":tru})",
                             R"({"refresh_token":"R2","error":"invalid_grant"})",
                             R"({"refresh_token":"R2","refresh_token":"R3"})",
                             R"({"refresh_token":"","access_token":1})"}) {
        CAPTURE(body);
        ts::recording_transport transport;
        transport.answer = babelbird::http_response(200, body);
        const auto g = babelbird::refresh(transport, ts::credentials(), ts::server(),
                                          babelbird::secret_view("R"), {}, clock);
        REQUIRE_FALSE(g);
        CHECK_FALSE(g.salvaged());
    }
    ts::recording_transport transport;
    transport.answer = babelbird::http_response(200, rotated_body);
    const auto ok = babelbird::refresh(transport, ts::credentials(), ts::server(),
                                       babelbird::secret_view("R"), {}, clock);
    REQUIRE(ok);
    CHECK_FALSE(ok.salvaged());
    CHECK(ok->warnings == babelbird::response_warnings::none);
}

TEST_CASE("refresh: refresh_expires_in 0 means no fixed expiry, not now") {
    ts::recording_transport transport;
    transport.answer = babelbird::http_response(
        200, R"({"access_token":"A","refresh_token":"R2","refresh_expires_in":0})");
    ts::fixed_clock clock;
    const auto grant = babelbird::refresh(transport, ts::credentials(), ts::server(),
                                          babelbird::secret_view("R"), {}, clock);
    REQUIRE(grant);
    CHECK_FALSE(grant->refresh_expires_at);
    CHECK_FALSE(babelbird::refresh_token_expired(*grant, clock.at + std::chrono::hours(24 * 365)));
}

TEST_CASE("refresh: invalid_client and friends are configuration errors") {
    ts::fixed_clock clock;
    ts::recording_transport transport;
    transport.answer = babelbird::http_response(401, R"({"error":"invalid_client"})");
    const auto g = babelbird::refresh(transport, ts::credentials(), ts::server(),
                                      babelbird::secret_view("R"), {}, clock);
    REQUIRE_FALSE(g);
    CHECK(g.error().kind() == babelbird::error_class::configuration);
    CHECK_FALSE(g.error().needs_reauthorization());
    CHECK_FALSE(g.error().is_retryable());
}

TEST_CASE("refresh: Retry-After on 429/503, an HTTP-date measured from the clock reading") {
    ts::fixed_clock clock;
    clock.at = babelbird::time_point(std::chrono::seconds(784111777)); // 1994-11-06 08:49:37
    ts::recording_transport transport;
    transport.answer =
        babelbird::http_response(503, "", {{"Retry-After", "Sun, 06 Nov 1994 08:50:07 GMT"}});
    const auto a = babelbird::refresh(transport, ts::credentials(), ts::server(),
                                      babelbird::secret_view("R"), {}, clock);
    REQUIRE_FALSE(a);
    CHECK(a.error().retry_after() == 30s);
    // The server's Date wins over the local clock.
    transport.answer = babelbird::http_response(429, R"({"error":"slow_down"})",
                                                {{"Date", "Sun, 06 Nov 1994 08:40:07 GMT"},
                                                 {"Retry-After", "Sun, 06 Nov 1994 08:50:07 GMT"}});
    const auto b = babelbird::refresh(transport, ts::credentials(), ts::server(),
                                      babelbird::secret_view("R"), {}, clock);
    REQUIRE_FALSE(b);
    CHECK(b.error().retry_after() == 600s);
    transport.answer = babelbird::http_response(429, "", {{"Retry-After", "5"}});
    const auto c = babelbird::refresh(transport, ts::credentials(), ts::server(),
                                      babelbird::secret_view("R"), {}, clock);
    REQUIRE_FALSE(c);
    CHECK(c.error().retry_after() == 5s);
}

} // namespace test_client
