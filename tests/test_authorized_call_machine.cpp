// The authorized-call machine driven step by step: every status/header
// combination of the classification x method x safe_to_retry x what the
// provider hands back after invalidate, each with its exact action sequence;
// events in a wrong state; and send_authorized giving the same outcome.
#include "support.hpp"

#include <doctest/doctest.h>

#include <array>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

// A namespace per file: the unit tests are compiled as unity chunks.
namespace test_authorized_call_machine {

using babelbird::authorized_action;
using babelbird::errc;
namespace ts = test_support;

namespace {

constexpr authorized_action get_token = authorized_action::get_token;
constexpr authorized_action send = authorized_action::send;
constexpr authorized_action invalidate = authorized_action::invalidate;
constexpr authorized_action done = authorized_action::done;
using actions = std::vector<authorized_action>;

babelbird::http_request request(std::string_view method) {
    auto r = babelbird::build_file_api_request(
        ts::server(), {.method = method, .path = "/api/v1/file/list", .json_body = "{}"});
    REQUIRE(r);
    return *r;
}

/// The WWW-Authenticate variants of the table, in its column order.
constexpr std::array<std::optional<std::string_view>, 5> challenges = {
    std::nullopt,                                             // absent
    std::string_view(R"(Bearer error="invalid_token")"),      // the token was rejected
    std::string_view(R"(Bearer error="insufficient_scope")"), // the token is fine
    std::string_view(R"(Basic realm="disk")"),                // another scheme
    std::string_view(R"(Bearer error="invalid_token)"),       // malformed: unterminated
};

/// Whether the answer rejects the token (RFC 6750 section 3.1; docs/design.md):
/// one row per status, one column per challenge above.
struct classification_row {
    int status;
    std::array<bool, 5> rejected;
};
constexpr classification_row classification[] = {
    //      absent invalid_token insufficient_scope Basic  malformed
    {200, {false, false, false, false, false}}, {204, {false, false, false, false, false}},
    {400, {false, true, false, false, false}},  {401, {true, true, true, true, true}},
    {403, {false, true, false, false, false}},  {404, {false, false, false, false, false}},
    {500, {false, false, false, false, false}},
};

enum class second_token { same, fresh, error };

/// What a provider returns when the refresh token is dead.
babelbird::error dead_grant() {
    return babelbird::error::server(errc::oauth_error_response, babelbird::error_class::reauthorize,
                                    400, babelbird::oauth_error::invalid_grant);
}

babelbird::http_response first_answer(int status, std::optional<std::string_view> challenge) {
    std::vector<babelbird::http_header> headers;
    if (challenge) {
        headers.push_back({"WWW-Authenticate", std::string(*challenge)});
    }
    return babelbird::http_response(status, "first", std::move(headers));
}

/// One run of the machine, recorded.
struct run {
    actions seen;
    std::vector<std::string> bearers;     // Authorization of each send
    std::vector<std::string> invalidated; // token_to_invalidate() of each invalidate
    babelbird::result<babelbird::http_response> outcome =
        babelbird::error::usage(errc::empty_value);
};

/// Checks that every event that does not fit `call.next()` is refused with a
/// usage error and changes nothing.
void check_wrong_events(babelbird::authorized_call& call) {
    const authorized_action before = call.next();
    const std::string url = call.request_to_send().url;
    const auto bearer = call.request_to_send().header("Authorization");
    const std::string bearer_text(bearer.value_or("(none)"));
    const std::string to_invalidate(call.token_to_invalidate().expose_secret());
    const auto refused = [](const babelbird::result<void>& r) {
        return !r && r.error() == babelbird::error::usage(errc::invalid_argument);
    };
    if (before != get_token) {
        CHECK(refused(call.on_token(babelbird::secret_view("WRONG-STATE-TOKEN"))));
        CHECK(refused(call.on_token(babelbird::error::transport(errc::timeout))));
    }
    if (before != send) {
        CHECK(refused(call.on_response(babelbird::http_response(200, "wrong state"))));
        CHECK(refused(call.on_response(babelbird::error::transport(errc::timeout))));
    }
    if (before != invalidate) {
        CHECK(refused(call.on_invalidated()));
        CHECK(call.token_to_invalidate().empty());
    }
    if (before != done) {
        const auto early = call.take_result();
        REQUIRE_FALSE(early);
        CHECK(early.error() == babelbird::error::usage(errc::invalid_argument));
    }
    CHECK(call.next() == before);
    CHECK(call.request_to_send().url == url);
    CHECK(call.request_to_send().header("Authorization").value_or("(none)") == bearer_text);
    CHECK(call.token_to_invalidate().expose_secret() == to_invalidate);
}

/// Drives the machine: tokens "TOKEN-1" then, per `second`, the same, "TOKEN-2"
/// or a reauthorize error; the first send gets `first`, the second 200 "second".
run drive(babelbird::authorized_call& call, const babelbird::transport_result& first,
          second_token second) {
    run r;
    int tokens = 0;
    int sends = 0;
    for (int step = 0; step < 10; ++step) {
        const authorized_action a = call.next();
        r.seen.push_back(a);
        check_wrong_events(call);
        switch (a) {
        case authorized_action::get_token: {
            ++tokens;
            babelbird::result<babelbird::secret_view> token = babelbird::secret_view("TOKEN-1");
            if (tokens > 1 && second == second_token::fresh) {
                token = babelbird::secret_view("TOKEN-2");
            } else if (tokens > 1 && second == second_token::error) {
                token = dead_grant();
            }
            REQUIRE(call.on_token(token));
            break;
        }
        case authorized_action::send: {
            r.bearers.emplace_back(call.request_to_send().header("Authorization").value_or(""));
            ++sends;
            REQUIRE(call.on_response(
                sends == 1 ? first
                           : babelbird::transport_result(babelbird::http_response(200, "second"))));
            break;
        }
        case authorized_action::invalidate:
            r.invalidated.emplace_back(call.token_to_invalidate().expose_secret());
            REQUIRE(call.on_invalidated());
            break;
        case authorized_action::done:
            r.outcome = call.take_result();
            // Taken once: a second take is refused, and the call stays done.
            CHECK_FALSE(call.take_result());
            CHECK(call.next() == done);
            return r;
        }
    }
    FAIL("the machine did not end within 10 steps");
    return r;
}

/// A provider and a transport for send_authorized, scripted like `drive`.
struct scripted_provider {
    second_token second;
    int gets = 0;
    std::vector<std::string> invalidated;
    struct handle {
        std::string token;
        babelbird::secret_view access_token() const { return babelbird::secret_view(token); }
    };
    babelbird::result<handle> get() {
        ++gets;
        if (gets > 1 && second == second_token::fresh) {
            return handle{"TOKEN-2"};
        }
        if (gets > 1 && second == second_token::error) {
            return dead_grant();
        }
        return handle{"TOKEN-1"};
    }
    void invalidate(babelbird::secret_view seen) { invalidated.emplace_back(seen.expose_secret()); }
};

bool same_outcome(const babelbird::result<babelbird::http_response>& a,
                  const babelbird::result<babelbird::http_response>& b) {
    if (a.has_value() != b.has_value()) {
        return false;
    }
    if (!a) {
        return a.error() == b.error();
    }
    return a->status == b->status && a->body == b->body;
}

} // namespace

TEST_CASE("authorized_call: the classification table drives the exact action sequences") {
    const std::string_view methods[] = {"GET", "POST", "PUT"};
    int rows = 0;
    int resent = 0;
    for (const auto& row : classification) {
        for (std::size_t c = 0; c < challenges.size(); ++c) {
            const auto answer = first_answer(row.status, challenges[c]);
            // The classification itself, as the table says.
            CHECK(babelbird::is_invalid_token_response(answer) == row.rejected[c]);
            for (std::string_view method : methods) {
                for (bool safe : {false, true}) {
                    for (second_token second :
                         {second_token::same, second_token::fresh, second_token::error}) {
                        CAPTURE(row.status);
                        CAPTURE(c);
                        CAPTURE(method);
                        CAPTURE(safe);
                        CAPTURE(static_cast<int>(second));
                        ++rows;
                        const bool retry = method != "POST" || safe;
                        // The expected run, spelled out per outcome.
                        actions expected;
                        std::vector<std::string> bearers;
                        std::vector<std::string> invalidated;
                        std::optional<std::string_view> body; // empty: an error
                        if (!row.rejected[c]) {
                            expected = {get_token, send, done};
                            bearers = {"Bearer TOKEN-1"};
                            body = "first";
                        } else if (!retry) {
                            expected = {get_token, send, invalidate, done};
                            bearers = {"Bearer TOKEN-1"};
                            invalidated = {"TOKEN-1"};
                            body = "first";
                        } else if (second == second_token::same) {
                            expected = {get_token, send, invalidate, get_token, done};
                            bearers = {"Bearer TOKEN-1"};
                            invalidated = {"TOKEN-1"};
                            body = "first";
                        } else if (second == second_token::fresh) {
                            expected = {get_token, send, invalidate, get_token, send, done};
                            bearers = {"Bearer TOKEN-1", "Bearer TOKEN-2"};
                            invalidated = {"TOKEN-1"};
                            body = "second";
                        } else {
                            expected = {get_token, send, invalidate, get_token, done};
                            bearers = {"Bearer TOKEN-1"};
                            invalidated = {"TOKEN-1"};
                        }

                        babelbird::send_options options;
                        options.safe_to_retry = safe;
                        babelbird::authorized_call call(request(method), options);
                        const run r = drive(call, answer, second);
                        CHECK(r.seen == expected);
                        CHECK(r.bearers == bearers);
                        CHECK(r.invalidated == invalidated);
                        if (body) {
                            REQUIRE(r.outcome);
                            CHECK(r.outcome->body == *body);
                            CHECK(r.outcome->status == (*body == "first" ? row.status : 200));
                        } else {
                            REQUIRE_FALSE(r.outcome);
                            CHECK(r.outcome.error().needs_reauthorization());
                        }
                        resent += bearers.size() == 2 ? 1 : 0;

                        // The blocking driver ends the same way, with the same calls.
                        ts::recording_transport transport;
                        transport.answer = answer;
                        scripted_provider provider{second, 0, {}};
                        const auto direct = babelbird::send_authorized(
                            [&](const babelbird::http_request& sent) {
                                auto out = transport(sent);
                                transport.answer = babelbird::http_response(200, "second");
                                return out;
                            },
                            provider, request(method), options);
                        CHECK(same_outcome(direct, r.outcome));
                        CHECK(provider.invalidated == invalidated);
                        REQUIRE(transport.requests.size() == bearers.size());
                        for (std::size_t i = 0; i < bearers.size(); ++i) {
                            CHECK(transport.requests[i].header("Authorization") ==
                                  std::optional<std::string_view>(bearers[i]));
                        }
                    }
                }
            }
        }
    }
    CHECK(rows == 7 * 5 * 3 * 2 * 3);
    // 7 rejecting cells x 5 (method, safe) pairs that may retry (GET and PUT
    // twice, POST when safe) x the fresh second token.
    CHECK(resent == 7 * 5);
}

TEST_CASE("authorized_call: transport failures end the call, never retried") {
    for (std::string_view method : {"GET", "POST"}) {
        for (int failing_send : {1, 2}) {
            CAPTURE(method);
            CAPTURE(failing_send);
            babelbird::send_options options;
            options.safe_to_retry = true;
            babelbird::authorized_call call(request(method), options);
            REQUIRE(call.next() == get_token);
            REQUIRE(call.on_token(babelbird::secret_view("T1")));
            REQUIRE(call.next() == send);
            if (failing_send == 1) {
                REQUIRE(call.on_response(babelbird::error::transport(errc::connection_reset)));
            } else {
                REQUIRE(call.on_response(babelbird::http_response(401, "")));
                REQUIRE(call.next() == invalidate);
                CHECK(call.token_to_invalidate().expose_secret() == "T1");
                REQUIRE(call.on_invalidated());
                REQUIRE(call.next() == get_token);
                REQUIRE(call.on_token(babelbird::secret_view("T2")));
                REQUIRE(call.next() == send);
                REQUIRE(call.on_response(babelbird::error::transport(errc::connection_reset)));
            }
            REQUIRE(call.next() == done);
            const auto out = call.take_result();
            REQUIRE_FALSE(out);
            CHECK(out.error() == babelbird::error::transport(errc::connection_reset));
        }
    }
}

TEST_CASE("authorized_call: a second rejection is the answer; no third send") {
    babelbird::authorized_call call(request("GET"));
    REQUIRE(call.on_token(babelbird::secret_view("T1")));
    REQUIRE(call.on_response(babelbird::http_response(401, "one")));
    REQUIRE(call.on_invalidated());
    REQUIRE(call.on_token(babelbird::secret_view("T2")));
    CHECK(call.request_to_send().header("Authorization") ==
          std::optional<std::string_view>("Bearer T2"));
    REQUIRE(call.on_response(babelbird::http_response(401, "two")));
    CHECK(call.next() == done);
    CHECK(call.token_to_invalidate().empty());
    const auto out = call.take_result();
    REQUIRE(out);
    CHECK(out->status == 401);
    CHECK(out->body == "two");
}

TEST_CASE("authorized_call: tokens that are not header-safe end the call with usage") {
    const auto add_bearer_error = [](std::string_view token) {
        auto r = request("GET");
        const auto ok = babelbird::add_bearer(r, babelbird::secret_view(token));
        REQUIRE_FALSE(ok);
        return ok.error();
    };
    for (std::string_view bad : {std::string_view("bad\ntoken"), std::string_view(" lead"),
                                 std::string_view(""), std::string_view("caf\xC3\xA9")}) {
        CAPTURE(bad.size());
        babelbird::authorized_call first(request("GET"));
        REQUIRE(first.on_token(babelbird::secret_view(bad)));
        CHECK(first.next() == done);
        const auto a = first.take_result();
        REQUIRE_FALSE(a);
        CHECK(a.error() == add_bearer_error(bad));
        CHECK(a.error().kind() == babelbird::error_class::usage);

        babelbird::authorized_call second(request("GET"));
        REQUIRE(second.on_token(babelbird::secret_view("T1")));
        REQUIRE(second.on_response(babelbird::http_response(401, "")));
        REQUIRE(second.on_invalidated());
        REQUIRE(second.on_token(babelbird::secret_view(bad)));
        CHECK(second.next() == done);
        const auto b = second.take_result();
        REQUIRE_FALSE(b);
        CHECK(b.error() == add_bearer_error(bad));
    }
}

TEST_CASE("authorized_call: the first token's error ends the call; Authorization is replaced") {
    babelbird::authorized_call failed(request("GET"));
    REQUIRE(failed.on_token(dead_grant()));
    CHECK(failed.next() == done);
    const auto out = failed.take_result();
    REQUIRE_FALSE(out);
    CHECK(out.error().needs_reauthorization());

    auto with_header = request("GET");
    with_header.set_header("Authorization", "Basic old");
    babelbird::authorized_call call(std::move(with_header));
    CHECK(call.request_to_send().header("Authorization") ==
          std::optional<std::string_view>("Basic old"));
    REQUIRE(call.on_token(babelbird::secret_view("T1")));
    std::size_t authorizations = 0;
    for (const auto& h : call.request_to_send().headers) {
        authorizations += h.name == "Authorization" ? 1U : 0U;
    }
    CHECK(authorizations == 1);
    CHECK(call.request_to_send().header("Authorization") ==
          std::optional<std::string_view>("Bearer T1"));
}

TEST_CASE("authorized_call: an Authorization header in any letter case is replaced") {
    auto with_headers = request("GET");
    with_headers.headers.push_back({"authorization", "Basic b2xk"});
    with_headers.headers.push_back({"AUTHORIZATION", "Bearer stale"});
    babelbird::authorized_call call(std::move(with_headers));
    REQUIRE(call.on_token(babelbird::secret_view("T1")));
    std::size_t authorizations = 0;
    for (const auto& h : call.request_to_send().headers) {
        if (babelbird::detail::iequals(h.name, "Authorization")) {
            ++authorizations;
            CHECK(h.value == "Bearer T1");
        }
    }
    CHECK(authorizations == 1);
    // A query in the URL is the caller's and goes out untouched.
    babelbird::authorized_call query(
        babelbird::http_request("GET", "https://disk.example.com/babel/api/v1/f?dir=%2Fa&n=1"));
    REQUIRE(query.on_token(babelbird::secret_view("T1")));
    CHECK(query.request_to_send().url == "https://disk.example.com/babel/api/v1/f?dir=%2Fa&n=1");
}

TEST_CASE("authorized_call: a moved-from call is over; the moved-to call goes on") {
    static_assert(std::is_nothrow_move_constructible_v<babelbird::authorized_call>);
    static_assert(std::is_nothrow_move_assignable_v<babelbird::authorized_call>);
    babelbird::authorized_call call(request("GET"));
    REQUIRE(call.on_token(babelbird::secret_view("T1")));
    REQUIRE(call.on_response(babelbird::http_response(401, "")));
    REQUIRE(call.next() == invalidate);
    babelbird::authorized_call moved(std::move(call));
    // Before the fix the moved-from call still said `invalidate` with an empty
    // token, then asked for a token again and would have resent T1.
    CHECK(call.next() == done);
    CHECK(call.token_to_invalidate().empty());
    CHECK_FALSE(call.on_invalidated());
    CHECK_FALSE(call.on_token(babelbird::secret_view("T1")));
    CHECK(call.take_result().error() == babelbird::error::usage(errc::invalid_argument));
    // The moved-to call remembers T1: the same token handed back is not resent.
    REQUIRE(moved.next() == invalidate);
    CHECK(moved.token_to_invalidate().expose_secret() == "T1");
    REQUIRE(moved.on_invalidated());
    REQUIRE(moved.on_token(babelbird::secret_view("T1")));
    REQUIRE(moved.next() == done);
    // Move-assigned over a call in progress; the source is over.
    babelbird::authorized_call other(request("GET"));
    other = std::move(moved);
    CHECK(moved.next() == done);
    const auto out = other.take_result();
    REQUIRE(out);
    CHECK(out->status == 401);
    CHECK_FALSE(other.take_result());
    CHECK_FALSE(moved.take_result());
    // A fresh call moved before its first token: the moved-to one asks for it.
    babelbird::authorized_call fresh(request("GET"));
    babelbird::authorized_call taken = std::move(fresh);
    CHECK(fresh.next() == done);
    CHECK(taken.next() == get_token);
    // A copy is a whole call of its own.
    babelbird::authorized_call original(request("GET"));
    REQUIRE(original.on_token(babelbird::secret_view("T1")));
    const babelbird::authorized_call copy = original;
    CHECK(copy.next() == send);
    CHECK(original.next() == send);
}

TEST_CASE("authorized_call: hostile answers pass through, classified by status and challenge") {
    const std::string huge(4 * 1024 * 1024, 'x');
    babelbird::authorized_call big(request("GET"));
    REQUIRE(big.on_token(babelbird::secret_view("T1")));
    REQUIRE(big.on_response(babelbird::http_response(200, huge)));
    const auto out = big.take_result();
    REQUIRE(out);
    CHECK(out->body.size() == huge.size());
    // A challenge of a megabyte, unterminated quotes, lone backslashes: no
    // rejection, no crash.
    for (const std::string& challenge :
         {std::string("Bearer ") + std::string(1 << 20, ','), std::string("Bearer error=\"\\"),
          std::string("Bearer error=\"invalid_token\\\""),
          std::string("Bearer ") + std::string(1 << 16, '=') + " error=\"invalid_token\""}) {
        CHECK_FALSE(babelbird::is_invalid_token_response(
            babelbird::http_response(403, "", {{"WWW-Authenticate", challenge}})));
    }
}

TEST_CASE("authorized_call: the token to invalidate is the one sent, owned by the call") {
    std::string provider_token = "T1";
    babelbird::authorized_call call(request("GET"));
    REQUIRE(call.on_token(babelbird::secret_view(provider_token)));
    provider_token.assign("REPLACED"); // the provider moved on meanwhile
    REQUIRE(call.on_response(
        babelbird::http_response(403, "", {{"WWW-Authenticate", "Bearer error=invalid_token"}})));
    REQUIRE(call.next() == invalidate);
    CHECK(call.token_to_invalidate().expose_secret() == "T1");
    CHECK(call.request_to_send().header("Authorization") ==
          std::optional<std::string_view>("Bearer T1"));
}

TEST_CASE("authorized_call: events in a wrong state are refused and change nothing") {
    const auto refused = [](const babelbird::result<void>& r) {
        return !r && r.error().kind() == babelbird::error_class::usage &&
               r.error().code() == errc::invalid_argument;
    };
    babelbird::authorized_call call(request("POST"));
    // Fresh: only a token fits.
    CHECK(refused(call.on_response(babelbird::http_response(200, ""))));
    CHECK(refused(call.on_invalidated()));
    CHECK_FALSE(call.take_result());
    CHECK(call.next() == get_token);
    CHECK_FALSE(call.request_to_send().header("Authorization"));
    REQUIRE(call.on_token(babelbird::secret_view("T1")));
    // Sending: a second token does not replace the first.
    CHECK(refused(call.on_token(babelbird::secret_view("T2"))));
    CHECK(call.request_to_send().header("Authorization") ==
          std::optional<std::string_view>("Bearer T1"));
    REQUIRE(call.on_response(babelbird::http_response(401, "")));
    // Invalidating: an answer or a token does not skip the invalidation.
    CHECK(refused(call.on_response(babelbird::http_response(200, ""))));
    CHECK(refused(call.on_token(babelbird::secret_view("T2"))));
    CHECK(call.next() == invalidate);
    REQUIRE(call.on_invalidated());
    // POST, not marked safe: over, with the rejected answer.
    CHECK(call.next() == done);
    CHECK(refused(call.on_invalidated()));
    CHECK(refused(call.on_token(babelbird::secret_view("T2"))));
    CHECK(refused(call.on_response(babelbird::http_response(200, ""))));
    const auto out = call.take_result();
    REQUIRE(out);
    CHECK(out->status == 401);
    const auto again = call.take_result();
    REQUIRE_FALSE(again);
    CHECK(again.error() == babelbird::error::usage(errc::invalid_argument));
    CHECK(call.next() == done);
}

} // namespace test_authorized_call_machine
