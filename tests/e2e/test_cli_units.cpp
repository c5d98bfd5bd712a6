// The pure pieces of babelbird-cli: argument parsing, redaction for --verbose,
// JSON output, exit statuses, secrets taken from the environment.
#include <doctest/doctest.h>

#include <chrono>
#include <cstdlib>
#include <string>
#include <variant>
#include <vector>

#include "../../cli/args.hpp"
#include "../../cli/env.hpp"
#include "../../cli/failure.hpp"
#include "../../cli/json_out.hpp"
#include "../../cli/verbose.hpp"

using namespace std::chrono_literals;

namespace {

std::variant<cli::arguments, cli::argument_error> parse(std::vector<const char*> argv) {
    argv.insert(argv.begin(), "babelbird-cli");
    return cli::parse_arguments(static_cast<int>(argv.size()), argv.data());
}

std::string error_of(std::vector<const char*> argv) {
    const auto r = parse(std::move(argv));
    REQUIRE(std::holds_alternative<cli::argument_error>(r));
    return std::get<cli::argument_error>(r).message;
}

} // namespace

TEST_CASE("cli args: each command takes its own options, in both spellings") {
    const auto r =
        parse({"refresh", "--base-url", "https://d.example", "--timeout=2.5", "--verbose"});
    REQUIRE(std::holds_alternative<cli::arguments>(r));
    const auto& a = std::get<cli::arguments>(r);
    CHECK(a.command == "refresh");
    CHECK(a.base_url == std::optional<std::string>("https://d.example"));
    CHECK(a.timeout == 2500ms);
    CHECK(a.verbose);

    const auto d = std::get<cli::arguments>(parse({"token", "--base-url", "https://d.example"}));
    CHECK(d.timeout == 30s); // the default

    const auto s = std::get<cli::arguments>(parse({"serve-fake", "--port", "8080"}));
    CHECK(s.port == 8080);
}

TEST_CASE("cli args: errors never echo a value") {
    CHECK(error_of({}) == "no command given (try --help)");
    CHECK(error_of({"s3cr3t-command"}).find("s3cr3t") == std::string::npos);
    CHECK(error_of({"refresh", "--refresh-token=s3cr3t"}).find("s3cr3t") == std::string::npos);
    CHECK(error_of({"refresh", "s3cr3t"}).find("s3cr3t") == std::string::npos);
    CHECK(error_of({"refresh", "--redirect-uri", "x"}) == "refresh does not take --redirect-uri");
    CHECK(error_of({"refresh", "--base-url"}) == "--base-url needs a value");
    for (const char* bad : {"0", "-1", "x", "1.", ".5", "86401", "1e3"}) {
        CAPTURE(bad);
        CHECK(error_of({"refresh", "--timeout", bad}).find("--timeout") == 0);
    }
    CHECK(error_of({"serve-fake", "--port", "65536"}).find("--port") == 0);
    CHECK(error_of({"demo", "--verbose"}) == "demo does not take --verbose");
}

TEST_CASE("cli verbose: query values and credentials are redacted") {
    CHECK(cli::redact_url("https://d.example/babel/api/refreshToken.do?grant_type=refresh_token"
                          "&refresh_token=rt%2B%2F") ==
          "https://d.example/babel/api/refreshToken.do?grant_type=refresh_token"
          "&refresh_token=[redacted]");
    CHECK(cli::redact_url("https://d.example/x?code=abc&data=1#frag") ==
          "https://d.example/x?code=[redacted]&data=[redacted]#[redacted]");
    CHECK(cli::redact_url("https://d.example/x") == "https://d.example/x");
    CHECK(cli::redact_url("https://d.example/x?flag&a=") ==
          "https://d.example/x?flag&a=[redacted]");
    CHECK(cli::redact_header("Authorization", "Basic YWJjOmRlZg==") == "Basic [redacted]");
    CHECK(cli::redact_header("authorization", "Bearer at-123") == "Bearer [redacted]");
    CHECK(cli::redact_header("Set-Cookie", "JSESSIONID=abc") == "[redacted]");
    CHECK(cli::redact_header("X-Access-Token", "abc") == "[redacted]");
    CHECK(cli::redact_header("Location", "https://a.example/cb?code=c1") ==
          "https://a.example/cb?code=[redacted]");
    CHECK(cli::redact_header("Content-Type", "application/json") == "application/json");
}

TEST_CASE("cli json: RFC 3339 UTC, escaping, null for what is unknown") {
    CHECK(cli::rfc3339_utc(babelbird::time_point(std::chrono::seconds(1'700'000'000))) ==
          "2023-11-14T22:13:20Z");
    // A saturated expiry (a huge expires_in) is the clock's last instant, in 2262.
    CHECK(cli::rfc3339_utc(babelbird::time_point::max()) == "2262-04-11T23:47:16Z");
    CHECK(cli::json_string("a\"b\\c\n") == R"("a\"b\\c\u000a")");

    babelbird::token_grant g;
    g.access_token = babelbird::secret("at-1");
    g.expires_at = babelbird::time_point(std::chrono::seconds(1'700'000'000));
    CHECK(cli::grant_json(g) ==
          R"({"access_token":"at-1","refresh_token":null,"expires_in":null,)"
          R"("expires_at":"2023-11-14T22:13:20Z","refresh_expires_at":null})");
    g.refresh_token = babelbird::secret("rt+/=");
    g.expires_in = 3600;
    g.refresh_expires_at = g.expires_at + 30s;
    g.token_type = "bearer";
    g.scope = "files";
    CHECK(cli::grant_json(g) ==
          R"({"access_token":"at-1","refresh_token":"rt+/=","expires_in":3600,)"
          R"("expires_at":"2023-11-14T22:13:20Z","refresh_expires_at":"2023-11-14T22:13:50Z",)"
          R"("token_type":"bearer","scope":"files"})");
}

TEST_CASE("cli failure: exit statuses by class") {
    CHECK(cli::exit_status(babelbird::error_class::usage) == 2);
    CHECK(cli::exit_status(babelbird::error_class::reauthorize) == 3);
    CHECK(cli::exit_status(babelbird::error_class::retry) == 4);
    CHECK(cli::exit_status(babelbird::error_class::protocol) == 5);
}

TEST_CASE("cli env: a secret is taken once and zeroed in the environment") {
    ::setenv("BABELBIRD_TEST_SECRET", "s3cr3t+/=", 1);
    const auto s = cli::take_secret_env("BABELBIRD_TEST_SECRET");
    REQUIRE(s);
    CHECK(s->expose_secret() == "s3cr3t+/=");
    CHECK_FALSE(cli::take_secret_env("BABELBIRD_TEST_SECRET")); // now empty
    ::setenv("BABELBIRD_TEST_SECRET", "", 1);
    CHECK_FALSE(cli::read_env("BABELBIRD_TEST_SECRET"));
    ::unsetenv("BABELBIRD_TEST_SECRET");
}
