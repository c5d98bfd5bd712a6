// The exchange machines: refresh_exchange and code_exchange, prepare -> request
// -> finish with no transport at all, and the blocking drivers refresh() and
// exchange_code() shown to give exactly what prepare + finish give.
#include "support.hpp"

#include <doctest/doctest.h>

#include <chrono>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

// A namespace per file: the unit tests are compiled as unity chunks.
namespace test_exchange_machine {

using namespace std::chrono_literals;
using babelbird::errc;
namespace ts = test_support;

namespace {

constexpr std::string_view redirect = "https://app.example.com/cb";
const babelbird::time_point t0 = babelbird::time_point(std::chrono::seconds(1'700'000'000));

bool same_request(const babelbird::http_request& a, const babelbird::http_request& b) {
    if (a.method != b.method || a.url != b.url || a.body != b.body ||
        a.headers.size() != b.headers.size()) {
        return false;
    }
    for (std::size_t i = 0; i < a.headers.size(); ++i) {
        if (a.headers[i].name != b.headers[i].name || a.headers[i].value != b.headers[i].value) {
            return false;
        }
    }
    return true;
}

bool same_grant(const babelbird::token_grant& a, const babelbird::token_grant& b) {
    return a.access_token == b.access_token && a.refresh_token == b.refresh_token &&
           a.refresh_token_rotated == b.refresh_token_rotated && a.expires_in == b.expires_in &&
           a.issued_at == b.issued_at && a.expires_at == b.expires_at &&
           a.refresh_expires_at == b.refresh_expires_at && a.token_type == b.token_type &&
           a.scope == b.scope && a.warnings == b.warnings;
}

/// Equal value or equal error, and equal salvage.
bool same_result(const babelbird::grant_result& a, const babelbird::grant_result& b) {
    if (a.has_value() != b.has_value()) {
        return false;
    }
    if (a.has_value()) {
        return same_grant(*a, *b) && !a.salvaged() && !b.salvaged();
    }
    if (!(a.error() == b.error()) || a.salvaged().has_value() != b.salvaged().has_value()) {
        return false;
    }
    return !a.salvaged() || same_grant(*a.salvaged(), *b.salvaged());
}

babelbird::refresh_exchange refresh_of(std::string_view token,
                                       std::optional<babelbird::time_point> expires = {},
                                       babelbird::client_options options = {}) {
    auto e = babelbird::refresh_exchange::prepare(ts::credentials(), ts::server(),
                                                  babelbird::secret_view(token), expires,
                                                  std::move(options));
    REQUIRE(e);
    return std::move(*e);
}

babelbird::code_exchange code_of(std::string_view code) {
    auto e = babelbird::code_exchange::prepare(ts::credentials(), ts::server(),
                                               babelbird::secret_view(code), redirect);
    REQUIRE(e);
    return std::move(*e);
}

babelbird::transport_result answer(int status, std::string body,
                                   std::vector<babelbird::http_header> headers = {}) {
    return babelbird::http_response(status, std::move(body), std::move(headers));
}

} // namespace

// The machines are values: movable (and copyable), results of prepare.
static_assert(std::is_nothrow_move_constructible_v<babelbird::refresh_exchange>);
static_assert(std::is_nothrow_move_constructible_v<babelbird::code_exchange>);
static_assert(!std::is_default_constructible_v<babelbird::refresh_exchange>);
static_assert(!std::is_default_constructible_v<babelbird::code_exchange>);
static_assert(std::is_same_v<decltype(std::declval<const babelbird::refresh_exchange&>().finish(
                                 std::declval<const babelbird::transport_result&>(), t0)),
                             babelbird::grant_result>);

TEST_CASE("refresh_exchange::prepare: a bad refresh token is the builder's usage error") {
    for (std::string_view bad : {std::string_view(""), std::string_view("tab\there"),
                                 std::string_view("nul\0x", 5), std::string_view("caf\xC3\xA9")}) {
        CAPTURE(bad.size());
        const auto e = babelbird::refresh_exchange::prepare(ts::credentials(), ts::server(),
                                                            babelbird::secret_view(bad));
        REQUIRE_FALSE(e);
        const auto built = babelbird::build_refresh_request(ts::credentials(), ts::server(),
                                                            babelbird::secret_view(bad));
        REQUIRE_FALSE(built);
        CHECK(e.error() == built.error());
        CHECK(e.error().kind() == babelbird::error_class::usage);
        CHECK(e.error().origin() == babelbird::error_origin::caller);
        ts::remember(e.error());
    }
    babelbird::token_grant empty_grant;
    const auto g =
        babelbird::refresh_exchange::prepare(ts::credentials(), ts::server(), empty_grant);
    REQUIRE_FALSE(g);
    CHECK(g.error().code() == errc::empty_value);
}

TEST_CASE("code_exchange::prepare: a bad code or redirect URI is the builder's usage error") {
    const std::pair<std::string_view, std::string_view> cases[] = {
        {"", redirect},
        {"co de", redirect},
        {"code\r\n", redirect},
        {"code", "/relative"},
        {"code", "https://app.example.com/cb#frag"},
        {"code", ""},
    };
    for (const auto& row : cases) {
        const std::string_view code = row.first;
        // Named variables, not a structured binding: clang 14 cannot capture one.
        const std::string_view uri = row.second;
        CAPTURE(uri);

        const auto e = babelbird::code_exchange::prepare(ts::credentials(), ts::server(),
                                                         babelbird::secret_view(code), uri);
        REQUIRE_FALSE(e);
        const auto built = babelbird::build_code_exchange_request(
            ts::credentials(), ts::server(), babelbird::secret_view(code), uri);
        REQUIRE_FALSE(built);
        CHECK(e.error() == built.error());
        CHECK(e.error().kind() == babelbird::error_class::usage);
        ts::remember(e.error());
    }
}

TEST_CASE("request(): byte for byte the builders' requests") {
    const auto built = babelbird::build_refresh_request(ts::credentials(), ts::server(),
                                                        babelbird::secret_view(ts::refresh_token));
    REQUIRE(built);
    const auto by_token = refresh_of(ts::refresh_token);
    CHECK(same_request(by_token.request(), *built));
    CHECK(by_token.request().url ==
          "https://disk.example.com/babel/api/refreshToken.do?grant_type=refresh_token"
          "&refresh_token=rt%2B%2F%3D%25Zq9-REFRESH-0123456789abcdef");

    babelbird::token_grant previous;
    previous.refresh_token = babelbird::secret(ts::refresh_token);
    const auto by_grant =
        babelbird::refresh_exchange::prepare(ts::credentials(), ts::server(), previous);
    REQUIRE(by_grant);
    CHECK(same_request(by_grant->request(), *built));

    const auto built_code = babelbird::build_code_exchange_request(
        ts::credentials(), ts::server(), babelbird::secret_view("co+de"), redirect);
    REQUIRE(built_code);
    const auto code = code_of("co+de");
    CHECK(same_request(code.request(), *built_code));
    CHECK(code.request().url == "https://disk.example.com/babel/api/token.do"
                                "?grant_type=authorization_code&code=co%2Bde"
                                "&redirect_uri=https%3A%2F%2Fapp.example.com%2Fcb");
}

TEST_CASE("refresh_exchange::finish: success, stamped from issued_at, token kept or rotated") {
    const auto exchange = refresh_of("OLD-R", t0 + 100h);
    SUBCASE("rotated") {
        const auto g = exchange.finish(
            answer(200, R"({"access_token":"A","refresh_token":"R2","expires_in":60,)"
                        R"("token_type":"bearer","scope":"files"})"),
            t0);
        REQUIRE(g);
        CHECK_FALSE(g.salvaged());
        CHECK(g->access_token.expose_secret() == "A");
        CHECK(g->refresh_token.expose_secret() == "R2");
        CHECK(g->refresh_token_rotated);
        CHECK(g->issued_at == t0);
        CHECK(g->expires_at == t0 + 60s);
        CHECK(g->refresh_expires_at == t0 + std::chrono::hours(24 * 30));
        CHECK(g->token_type == "bearer");
        CHECK(g->scope == "files");
    }
    SUBCASE("not rotated: the sent token and its known expiry are kept") {
        const auto g = exchange.finish(answer(200, R"({"access_token":"A"})"), t0 + 5s);
        REQUIRE(g);
        CHECK(g->refresh_token.expose_secret() == "OLD-R");
        CHECK_FALSE(g->refresh_token_rotated);
        CHECK(g->refresh_expires_at == t0 + 100h);
        CHECK(g->expires_at == t0 + 5s + 3600s); // the assumed lifetime
    }
}

TEST_CASE("refresh_exchange: owns copies of what finish needs") {
    std::string token = "FIRST-TOKEN";
    babelbird::client_options options;
    options.assumed_lifetime = 120s;
    auto prepared = babelbird::refresh_exchange::prepare(
        ts::credentials(), ts::server(), babelbird::secret_view(token), std::nullopt, options);
    REQUIRE(prepared);
    token.assign("OVERWRITTEN");
    options.assumed_lifetime = 1s;
    const babelbird::refresh_exchange moved = std::move(*prepared);
    const auto g = moved.finish(answer(200, R"({"access_token":"A"})"), t0);
    REQUIRE(g);
    CHECK(g->refresh_token.expose_secret() == "FIRST-TOKEN");
    CHECK(g->expires_at == t0 + 120s);
    CHECK(moved.request().url.ends_with("refresh_token=FIRST-TOKEN"));
}

TEST_CASE("finish: a moved-from exchange reads no answer (it would lose or leak a secret)") {
    const auto credentials = babelbird::client_credentials::make("id", "clientsecret42").value();
    auto refresh = babelbird::refresh_exchange::prepare(credentials, ts::server(),
                                                        babelbird::secret_view("refreshtok7"));
    auto code = babelbird::code_exchange::prepare(credentials, ts::server(),
                                                  babelbird::secret_view("authcode9"), redirect);
    REQUIRE(refresh);
    REQUIRE(code);
    const babelbird::refresh_exchange refresh_to = std::move(*refresh);
    const babelbird::code_exchange code_to = std::move(*code);
    const auto refused = [](const babelbird::grant_result& g) {
        return !g && g.error() == babelbird::error::usage(errc::invalid_argument) && !g.salvaged();
    };
    // Before the fix: a grant without a refresh token (the one sent was no
    // longer known), and an error text echoing the token or the secret kept.
    for (const auto& body :
         {std::string(R"({"access_token":"A"})"), std::string(R"({"error":"refreshtok7"})"),
          std::string(R"({"error":"clientsecret42"})"), std::string(R"({"error":"authcode9"})"),
          std::string(R"({"access_token":"","refresh_token":"R-new"})")}) {
        CAPTURE(body);
        const auto from_refresh = refresh->finish(answer(200, body), t0);
        CHECK(refused(from_refresh));
        CHECK(refused(refresh->finish(answer(400, body), t0)));
        CHECK(refused(code->finish(answer(200, body), t0)));
        CHECK(refused(code->finish(answer(400, body), t0)));
        CHECK(ts::remember(refresh->finish(answer(400, body), t0).error()).find("secret") ==
              std::string::npos);
    }
    CHECK(refused(refresh->finish(babelbird::error::transport(errc::timeout), t0)));
    // The objects they were moved to read every answer.
    const auto kept = refresh_to.finish(answer(200, R"({"access_token":"A"})"), t0);
    REQUIRE(kept);
    CHECK(kept->refresh_token.expose_secret() == "refreshtok7");
    const auto echo = refresh_to.finish(answer(400, R"({"error":"refreshtok7"})"), t0);
    REQUIRE_FALSE(echo);
    CHECK(echo.error().oauth_error_text().empty());
    const auto first =
        code_to.finish(answer(200, R"({"access_token":"A","refresh_token":"R"})"), t0);
    REQUIRE(first);
    CHECK(first->refresh_token.expose_secret() == "R");
    // A copy of an exchange is a whole exchange; a moved-to one moved again too.
    const babelbird::refresh_exchange copy = refresh_to;
    CHECK(copy.finish(answer(200, R"({"access_token":"A"})"), t0));
}

TEST_CASE("finish: OAuth errors are classified; an echo of a sent secret is not kept") {
    const auto credentials = babelbird::client_credentials::make("id", "clientsecret42").value();
    auto refresh = babelbird::refresh_exchange::prepare(credentials, ts::server(),
                                                        babelbird::secret_view("refreshtok7"));
    REQUIRE(refresh);
    auto code = babelbird::code_exchange::prepare(credentials, ts::server(),
                                                  babelbird::secret_view("authcode9"), redirect);
    REQUIRE(code);

    const auto dead = refresh->finish(answer(400, R"({"error":"invalid_grant"})"), t0);
    REQUIRE_FALSE(dead);
    CHECK(dead.error().needs_reauthorization());
    CHECK(dead.error().oauth_code() == babelbird::oauth_error::invalid_grant);
    CHECK_FALSE(dead.salvaged());

    const auto client = code->finish(answer(401, R"({"error":"invalid_client"})"), t0);
    REQUIRE_FALSE(client);
    CHECK(client.error().kind() == babelbird::error_class::configuration);

    // An unknown code is kept as text, unless it overlaps a sent secret.
    const auto kept = refresh->finish(answer(400, R"({"error":"account_locked"})"), t0);
    REQUIRE_FALSE(kept);
    CHECK(kept.error().oauth_error_text() == "account_locked");
    for (const char* body : {R"({"error":"refreshtok7"})", R"({"error":"clientsecret42"})",
                             R"({"error":"xrefreshtok7x"})", R"({"error":"secret4"})"}) {
        CAPTURE(body);
        const auto echo = refresh->finish(answer(400, body), t0);
        REQUIRE_FALSE(echo);
        CHECK(echo.error().oauth_code() == babelbird::oauth_error::other);
        CHECK(echo.error().oauth_error_text().empty());
    }
    for (const char* body : {R"({"error":"authcode9"})", R"({"error":"clientsecret42"})"}) {
        CAPTURE(body);
        const auto echo = code->finish(answer(400, body), t0);
        REQUIRE_FALSE(echo);
        CHECK(echo.error().oauth_error_text().empty());
        CHECK(ts::remember(echo.error()).find("authcode9") == std::string::npos);
    }
}

TEST_CASE("finish: a rotated refresh token in a rejected 2xx answer is salvaged") {
    const auto exchange = refresh_of("R-old");
    const auto g = exchange.finish(
        answer(200, R"({"refresh_token":"R-new","access_token":"","refresh_expires_in":60})"), t0);
    REQUIRE_FALSE(g);
    CHECK(g.error().code() == errc::invalid_token);
    REQUIRE(g.salvaged());
    CHECK(g.salvaged()->access_token.empty());
    CHECK(g.salvaged()->refresh_token.expose_secret() == "R-new");
    CHECK(g.salvaged()->refresh_token_rotated);
    CHECK(g.salvaged()->issued_at == t0);
    CHECK(g.salvaged()->expires_at == t0);
    CHECK(g.salvaged()->refresh_expires_at == t0 + 60s);

    const auto code = code_of("abc");
    const auto c = code.finish(answer(200, R"({"refresh_token":"R-code","access_token":7})"), t0);
    REQUIRE_FALSE(c);
    REQUIRE(c.salvaged());
    CHECK(c.salvaged()->refresh_token.expose_secret() == "R-code");

    // Invalid JSON salvages nothing.
    const auto broken = exchange.finish(answer(200, R"({"refresh_token":"R-new","a":)"), t0);
    REQUIRE_FALSE(broken);
    CHECK_FALSE(broken.salvaged());
}

TEST_CASE("finish: a transport error is returned as it is") {
    const auto exchange = refresh_of("R");
    for (errc code : {errc::timeout, errc::connection_reset, errc::partial_body}) {
        const auto g = exchange.finish(babelbird::error::transport(code), t0);
        REQUIRE_FALSE(g);
        CHECK(g.error() == babelbird::error::transport(code));
        CHECK(g.error().kind() == babelbird::error_class::retry);
        CHECK_FALSE(g.salvaged());
    }
    const auto tls =
        code_of("abc").finish(babelbird::error::transport(errc::tls_verification_failed), t0);
    REQUIRE_FALSE(tls);
    CHECK(tls.error().code() == errc::tls_verification_failed);
}

TEST_CASE("finish: Retry-After, an HTTP-date measured from issued_at unless Date is sent") {
    const auto exchange = refresh_of("R");
    const auto at = babelbird::time_point(std::chrono::seconds(784111777)); // 08:49:37 GMT
    const auto dated =
        exchange.finish(answer(503, "", {{"Retry-After", "Sun, 06 Nov 1994 08:50:07 GMT"}}), at);
    REQUIRE_FALSE(dated);
    CHECK(dated.error().retry_after() == 30s);
    // The same answer read with a later clock reading asks for less.
    const auto later = exchange.finish(
        answer(503, "", {{"Retry-After", "Sun, 06 Nov 1994 08:50:07 GMT"}}), at + 20s);
    REQUIRE_FALSE(later);
    CHECK(later.error().retry_after() == 10s);
    const auto with_date =
        exchange.finish(answer(429, "",
                               {{"Date", "Sun, 06 Nov 1994 08:40:07 GMT"},
                                {"Retry-After", "Sun, 06 Nov 1994 08:50:07 GMT"}}),
                        at);
    REQUIRE_FALSE(with_date);
    CHECK(with_date.error().retry_after() == 600s);
    const auto seconds = code_of("abc").finish(answer(429, "", {{"Retry-After", "7"}}), at);
    REQUIRE_FALSE(seconds);
    CHECK(seconds.error().retry_after() == 7s);
    // Only retry-class answers carry it.
    const auto dead =
        exchange.finish(answer(400, R"({"error":"invalid_grant"})", {{"Retry-After", "7"}}), at);
    REQUIRE_FALSE(dead);
    CHECK_FALSE(dead.error().retry_after());
}

TEST_CASE("finish: pure, so calling it again gives the same result") {
    const auto exchange = refresh_of("R", t0 + 1h);
    const babelbird::transport_result answers[] = {
        answer(200, R"({"access_token":"A","refresh_token":"R2"})"),
        answer(200, R"({"access_token":"A"})"),
        answer(200, R"({"refresh_token":"R2","access_token":""})"),
        answer(400, R"({"error":"invalid_grant"})"),
        babelbird::error::transport(errc::timeout),
    };
    for (const auto& a : answers) {
        const auto first = exchange.finish(a, t0);
        const auto second = exchange.finish(a, t0);
        CHECK(same_result(first, second));
    }
}

TEST_CASE("finish: the answer of another request is read as this exchange's answer") {
    // Documented: finish cannot tell which request an answer belongs to. It
    // keeps its own refresh token and scrubs only its own secrets.
    const auto mine = refresh_of("tokenmine1");
    const auto kept = mine.finish(answer(200, R"({"access_token":"A"})"), t0);
    REQUIRE(kept);
    CHECK(kept->refresh_token.expose_secret() == "tokenmine1");

    const auto other_echo = mine.finish(answer(400, R"({"error":"tokenother2"})"), t0);
    REQUIRE_FALSE(other_echo);
    CHECK(other_echo.error().oauth_error_text() == "tokenother2");
    const auto own_echo = mine.finish(answer(400, R"({"error":"tokenmine1"})"), t0);
    REQUIRE_FALSE(own_echo);
    CHECK(own_echo.error().oauth_error_text().empty());

    // A code exchange reading a refresh answer gives a grant without any
    // refresh token of its own.
    const auto code = code_of("abc");
    const auto g = code.finish(answer(200, R"({"access_token":"A"})"), t0);
    REQUIRE(g);
    CHECK(g->refresh_token.empty());
    CHECK_FALSE(g->refresh_expires_at);
}

TEST_CASE("drivers: refresh() and exchange_code() give exactly prepare + finish") {
    const babelbird::transport_result answers[] = {
        answer(200, R"({"access_token":"A","refresh_token":"R2","expires_in":60,"scope":"x"})"),
        answer(200, R"({"access_token":"A","refresh_expires_in":120,"scope":5})"),
        answer(200, R"({"access_token":"A","expires_in":3600.9})"),
        answer(200, R"({"refresh_token":"R2","access_token":"","refresh_expires_in":60})"),
        answer(200, R"({"refresh_token":"R2","access_token":"A","expires_in":-1})"),
        answer(200, R"({"access_token":"A","a":)"),
        answer(200, "not json"),
        answer(400, R"({"error":"invalid_grant"})"),
        answer(400, R"({"error":"RT"})"),
        answer(400, R"({"error":"CODE"})"),
        answer(401, R"({"error":"invalid_client"})"),
        answer(401, ""),
        answer(302, "", {{"Location", "https://elsewhere.example"}}),
        answer(429, "", {{"Retry-After", "5"}}),
        answer(503, "", {{"Retry-After", "Sun, 06 Nov 1994 08:50:07 GMT"}}),
        babelbird::error::transport(errc::timeout),
        babelbird::error::transport(errc::tls_verification_failed),
    };
    const auto credentials = babelbird::client_credentials::make("id", "secretxyz").value();
    babelbird::client_options options;
    options.assumed_lifetime = 900s;
    babelbird::token_grant previous;
    previous.refresh_token = babelbird::secret(std::string_view("RT"));
    previous.refresh_expires_at = t0 + 50h;
    int row = 0;
    for (const auto& a : answers) {
        CAPTURE(row++);
        ts::recording_transport transport;
        if (a) {
            transport.answer = *a;
        } else {
            transport.failure = a.error();
        }
        ts::fixed_clock clock;
        clock.at = t0;

        const auto by_token = babelbird::refresh(transport, credentials, ts::server(),
                                                 babelbird::secret_view("RT"), options, clock);
        auto machine = babelbird::refresh_exchange::prepare(
            credentials, ts::server(), babelbird::secret_view("RT"), std::nullopt, options);
        REQUIRE(machine);
        CHECK(same_result(by_token, machine->finish(a, t0)));

        const auto by_grant =
            babelbird::refresh(transport, credentials, ts::server(), previous, options, clock);
        auto grant_machine =
            babelbird::refresh_exchange::prepare(credentials, ts::server(), previous, options);
        REQUIRE(grant_machine);
        CHECK(same_result(by_grant, grant_machine->finish(a, t0)));

        const auto by_code =
            babelbird::exchange_code(transport, credentials, ts::server(),
                                     babelbird::secret_view("CODE"), redirect, options, clock);
        auto code_machine = babelbird::code_exchange::prepare(
            credentials, ts::server(), babelbird::secret_view("CODE"), redirect, options);
        REQUIRE(code_machine);
        CHECK(same_result(by_code, code_machine->finish(a, t0)));

        // Each driver read the clock once and sent the machine's request once.
        CHECK(clock.reads == 3);
        REQUIRE(transport.requests.size() == 3);
        CHECK(same_request(transport.requests[0], machine->request()));
        CHECK(same_request(transport.requests[1], grant_machine->request()));
        CHECK(same_request(transport.requests[2], code_machine->request()));
    }
}

TEST_CASE("drivers: a prepare error reaches neither the clock nor the transport") {
    ts::recording_transport transport;
    ts::fixed_clock clock;
    const auto r = babelbird::refresh(transport, ts::credentials(), ts::server(),
                                      babelbird::secret_view(""), {}, clock);
    REQUIRE_FALSE(r);
    CHECK(r.error().code() == errc::empty_value);
    const auto c = babelbird::exchange_code(transport, ts::credentials(), ts::server(),
                                            babelbird::secret_view("abc"), "", {}, clock);
    REQUIRE_FALSE(c);
    CHECK(c.error().code() == errc::empty_value);
    CHECK(clock.reads == 0);
    CHECK(transport.requests.empty());
}

} // namespace test_exchange_machine
