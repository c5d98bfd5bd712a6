// The pure pieces of babelbird-cli: argument parsing, redaction for --verbose,
// JSON output, exit statuses, secrets taken from the environment, the grant
// store (strict reading, atomic writing).
#include <doctest/doctest.h>

#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <variant>
#include <vector>

#include "../../cli/args.hpp"
#include "../../cli/deliver.hpp"
#include "../../cli/env.hpp"
#include "../../cli/failure.hpp"
#include "../../cli/json_out.hpp"
#include "../../cli/store_file.hpp"
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
    CHECK(cli::exit_status(babelbird::error_class::configuration) == 6);
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

TEST_CASE("cli args: call takes METHOD PATH, --store, --data and repeated --header") {
    const auto r =
        parse({"call", "POST", "/api/v1/file/create", "--base-url", "https://d.example", "--store",
               "file:/tmp/g.json", "--data", R"({"a":1})", "--header", "X-One:  1 ",
               "--header=X-Two: two words", "--basic-encoding", "rfc6749"});
    REQUIRE(std::holds_alternative<cli::arguments>(r));
    const auto& a = std::get<cli::arguments>(r);
    CHECK(a.command == "call");
    CHECK(a.method == std::optional<std::string>("POST"));
    CHECK(a.path == std::optional<std::string>("/api/v1/file/create"));
    CHECK(a.store == std::optional<std::string>("file:/tmp/g.json"));
    CHECK(a.data == std::optional<std::string>(R"({"a":1})"));
    REQUIRE(a.headers.size() == 2);
    CHECK(a.headers[0] == std::pair<std::string, std::string>("X-One", "1"));
    CHECK(a.headers[1] == std::pair<std::string, std::string>("X-Two", "two words"));
    CHECK(a.basic_rfc6749);

    const auto f = std::get<cli::arguments>(parse({"refresh", "--store", "file:g.json"}));
    CHECK(f.store == std::optional<std::string>("file:g.json"));
    CHECK_FALSE(f.basic_rfc6749);
}

TEST_CASE("cli args: call's errors") {
    CHECK(error_of({"call", "GET"}) == "call needs METHOD and PATH (try --help)");
    CHECK(error_of({"call", "GET", "/x", "s3cr3t"}).find("s3cr3t") == std::string::npos);
    CHECK(error_of({"refresh", "GET"}).find("unexpected argument") == 0);
    CHECK(error_of({"call", "GET", "/x", "--header", "no colon"}).find("--header") == 0);
    CHECK(error_of({"call", "GET", "/x", "--header", "Bad Name: v"}).find("--header") == 0);
    CHECK(error_of({"call", "GET", "/x", "--header", "X: a\nb"}).find("--header") == 0);
    CHECK(error_of({"call", "GET", "/x", "--header", "authorization: Bearer s3cr3t"}) ==
          "--header cannot set authorization (the CLI sets it)");
    CHECK(error_of({"refresh", "--basic-encoding", "base64"}) ==
          "--basic-encoding must be raw or rfc6749");
    CHECK(error_of({"authorize-url", "--store", "file:x"}) ==
          "authorize-url does not take --store");
}

TEST_CASE("cli args: --lease-ttl and --no-lease-renewal, for refresh and call on redis:// only") {
    const auto r =
        std::get<cli::arguments>(parse({"call", "GET", "/x", "--store", "redis://127.0.0.1:6379/g",
                                        "--lease-ttl", "500", "--no-lease-renewal"}));
    CHECK(r.lease_ttl == std::optional<std::chrono::milliseconds>(500ms));
    CHECK(r.no_lease_renewal);
    const auto d =
        std::get<cli::arguments>(parse({"refresh", "--store=redis://h:1/g", "--lease-ttl=100"}));
    CHECK(d.lease_ttl == std::optional<std::chrono::milliseconds>(100ms));
    CHECK_FALSE(d.no_lease_renewal);
    const auto none = std::get<cli::arguments>(parse({"refresh", "--store", "redis://h:1/g"}));
    CHECK_FALSE(none.lease_ttl);
    CHECK_FALSE(none.no_lease_renewal);

    for (const char* bad : {"0", "1", "99", "-1", "x", "1.5", "86400001", "", "123456789"}) {
        CAPTURE(bad);
        CHECK(error_of({"refresh", "--store", "redis://h:1/g", "--lease-ttl", bad}) ==
              "--lease-ttl must be milliseconds in [100, 86400000]");
    }
    CHECK(error_of({"refresh", "--store", "redis://h:1/g", "--no-lease-renewal=1"}) ==
          "--no-lease-renewal takes no value");
    const std::string need = "--lease-ttl and --no-lease-renewal need --store redis://...";
    CHECK(error_of({"refresh", "--lease-ttl", "500"}) == need);
    CHECK(error_of({"refresh", "--store", "file:g.json", "--no-lease-renewal"}) == need);
    CHECK(error_of({"call", "GET", "/x", "--store", "file:g", "--lease-ttl", "900"}) == need);
    // token writes by compare-and-set without a lease.
    CHECK(error_of({"token", "--store", "redis://h:1/g", "--lease-ttl", "500"}) ==
          "token does not take --lease-ttl");
    CHECK(error_of({"serve-fake", "--no-lease-renewal"}) ==
          "serve-fake does not take --no-lease-renewal");
}

TEST_CASE("cli args: serve-fake --reuse-grace-ms") {
    const auto s = std::get<cli::arguments>(parse({"serve-fake", "--reuse-grace-ms", "2000"}));
    CHECK(s.reuse_grace == std::optional<std::chrono::milliseconds>(2000ms));
    const auto z = std::get<cli::arguments>(parse({"serve-fake", "--reuse-grace-ms=0"}));
    CHECK(z.reuse_grace == std::optional<std::chrono::milliseconds>(0ms));
    CHECK(error_of({"serve-fake", "--reuse-grace-ms", "-5"}) ==
          "--reuse-grace-ms must be milliseconds in [0, 86400000]");
    CHECK(error_of({"refresh", "--reuse-grace-ms", "5"}) ==
          "refresh does not take --reuse-grace-ms");
}

TEST_CASE("cli verbose: secrets are redacted by value, in their wire forms too") {
    cli::redactor r;
    r.add("s3cr3t+/=:%!value");
    r.add("rt with space");
    CHECK(r.apply("X-Echo: s3cr3t+/=:%!value and more") == "X-Echo: [redacted] and more");
    CHECK(r.apply("q=s3cr3t%2B%2F%3D%3A%25%21value") == "q=[redacted]");
    CHECK(r.apply("q=s3cr3t%2b%2f%3d%3a%25%21value") == "q=[redacted]");
    CHECK(r.apply("rt+with+space") == "[redacted]");
    CHECK(r.apply(R"({"echo":"s3cr3t+\/=:%!value"})") == R"({"echo":"[redacted]"})");
    CHECK(r.apply("nothing here") == "nothing here");

    // Tokens of an answer are learned before it is shown, even from broken JSON.
    cli::redactor learned;
    learned.learn_from_body(
        R"({"access_token":"at-1\/2","refresh_token": "rt-9","expires_in":3600,)"
        R"("code":"c-7","error_code":"kept","token_type":"bearer")");
    CHECK(learned.apply("at-1/2 rt-9 c-7 kept 3600") ==
          "[redacted] [redacted] [redacted] kept 3600");
    CHECK(learned.apply(R"("at-1\/2")") == R"("[redacted]")");
    CHECK(learned.apply("bearer") == "bearer"); // token_type is not a secret
}

TEST_CASE("cli verbose: keys and values with JSON escapes are learned as the parser reads them") {
    // A server may escape any character of a key ("t\u006fken" is "token"),
    // and the parser accepts it as access_token: its value must be learned.
    cli::redactor learned;
    learned.learn_from_body(R"({"access_t\u006fken":"AT-LEAK-5","refresh_t\u006Fken":"RT-6",)"
                            R"("c\u006fde":"c-7","expires_in":3600})");
    CHECK(learned.apply("AT-LEAK-5 RT-6 c-7 3600") == "[redacted] [redacted] [redacted] 3600");
    // Escaped values: the decoded value is learned too (it is what goes on the wire).
    cli::redactor values;
    values.learn_from_body(R"({"access_token":"AT-\u004cEAK\t9","refresh_token":"R\u00e9"})");
    CHECK(values.apply("AT-LEAK\t9") == "[redacted]");
    CHECK(values.apply("R\xc3\xa9") == "[redacted]");
}

namespace {

std::string temp_dir() {
    char path[] = "/tmp/babelbird-units-XXXXXX";
    REQUIRE(::mkdtemp(path) != nullptr);
    return path;
}

std::vector<std::string> entries(const std::string& dir) {
    std::vector<std::string> out;
    if (DIR* d = ::opendir(dir.c_str())) {
        while (const dirent* e = ::readdir(d)) {
            const std::string name = e->d_name;
            if (name != "." && name != "..") {
                out.push_back(name);
            }
        }
        ::closedir(d);
    }
    return out;
}

std::string slurp(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}

babelbird::token_grant sample_grant() {
    babelbird::token_grant g;
    g.access_token = babelbird::secret("at-1+/=");
    g.refresh_token = babelbird::secret("rt-2 with space");
    g.expires_in = 3600;
    g.expires_at = babelbird::time_point(std::chrono::seconds(1'700'003'600));
    g.refresh_expires_at = babelbird::time_point(std::chrono::seconds(1'702'592'000));
    g.token_type = "bearer";
    g.scope = "files read";
    return g;
}

} // namespace

TEST_CASE("cli store: a store readable by others is tightened to 0600 when read") {
    // The store holds the grant: a copy made with the umask (0644) or a
    // chmod by hand must not stay readable by other users.
    const std::string dir = temp_dir();
    const cli::store_location where{dir + "/grant.json"};
    CHECK_FALSE(cli::write_store(where, sample_grant()));
    REQUIRE(::chmod(where.path.c_str(), 0644) == 0);
    auto read = cli::read_store(where);
    REQUIRE(std::holds_alternative<std::optional<babelbird::token_grant>>(read));
    CHECK(std::get<std::optional<babelbird::token_grant>>(read));
    struct stat st {};
    REQUIRE(::stat(where.path.c_str(), &st) == 0);
    CHECK((st.st_mode & 0777) == 0600);
}

TEST_CASE("cli store: every token shape the parser accepts is stored and read back") {
    // An access token with an inner space, a refresh token with spaces at its
    // ends: both are what a server may send (RFC 6749 appendix A.12, A.17).
    const std::string dir = temp_dir();
    const cli::store_location where{dir + "/grant.json"};
    auto g = sample_grant();
    g.access_token = babelbird::secret("at inner space");
    g.refresh_token = babelbird::secret(" rt with ends ");
    CHECK_FALSE(cli::write_store(where, g));
    auto read = cli::read_store(where);
    REQUIRE(std::holds_alternative<std::optional<babelbird::token_grant>>(read));
    const auto& back = std::get<std::optional<babelbird::token_grant>>(read);
    REQUIRE(back);
    CHECK(back->access_token.expose_secret() == "at inner space");
    CHECK(back->refresh_token.expose_secret() == " rt with ends ");
}

TEST_CASE("cli store: file:PATH and redis://HOST:PORT/NAME, strictly") {
    const auto ok = cli::parse_store_location("file:/var/lib/app/grant.json");
    REQUIRE(std::holds_alternative<cli::store_location>(ok));
    CHECK(std::get<cli::store_location>(ok).path == "/var/lib/app/grant.json");
    CHECK_FALSE(std::get<cli::store_location>(ok).redis);
    for (const char* bad : {"file:", "file:/tmp/", "/tmp/g.json"}) {
        CAPTURE(bad);
        CHECK(std::holds_alternative<cli::store_error>(cli::parse_store_location(bad)));
    }

    const auto r = cli::parse_store_location("redis://cache-1.internal:6380/crm.prod:grant_1");
    REQUIRE(std::holds_alternative<cli::store_location>(r));
    const auto& where = std::get<cli::store_location>(r);
    REQUIRE(where.redis);
    CHECK(where.redis->host == "cache-1.internal");
    CHECK(where.redis->port == 6380);
    CHECK(where.redis->name == "crm.prod:grant_1");
    CHECK(where.path == "redis://cache-1.internal:6380/crm.prod:grant_1");
    const auto v6 = cli::parse_store_location("redis://[::1]:6379/g");
    REQUIRE(std::holds_alternative<cli::store_location>(v6));
    CHECK(std::get<cli::store_location>(v6).redis->host == "::1");

    for (const char* bad :
         {"redis://",           "redis://h",          "redis://h/k",        "redis://h:/k",
          "redis://:6379/k",    "redis://h:0/k",      "redis://h:65536/k",  "redis://h:06379/k",
          "redis://h:63a/k",    "redis://h:6379",     "redis://h:6379/",    "redis://h:6379/k?db=1",
          "redis://h:6379/k#x", "redis://h:6379/{k}", "redis://h:6379/a b", "redis://h:6379/a%20b",
          "redis://[::1/k",     "redis://[::1]/k",    "redis://h_x:6379/k", "redis://-h:6379/k",
          "rediss://h:6379/k",  "REDIS://h:6379/k",   "redis://h:6379:1/k"}) {
        CAPTURE(bad);
        CHECK(std::holds_alternative<cli::store_error>(cli::parse_store_location(bad)));
    }
    // A password in the URL is refused, and no message repeats what was typed.
    for (const char* bad : {"redis://:hunter2@h:6379/k", "redis://user:hunter2@h:6379/k"}) {
        const auto e = cli::parse_store_location(bad);
        REQUIRE(std::holds_alternative<cli::store_error>(e));
        const std::string& message = std::get<cli::store_error>(e).message;
        CHECK(message.find("hunter2") == std::string::npos);
        CHECK(message.find("BABELBIRD_REDIS_PASSWORD") != std::string::npos);
    }
    std::string long_name(201, 'n');
    CHECK(std::holds_alternative<cli::store_error>(
        cli::parse_store_location("redis://h:6379/" + long_name)));
    long_name.pop_back();
    CHECK(std::holds_alternative<cli::store_location>(
        cli::parse_store_location("redis://h:6379/" + long_name)));
}

TEST_CASE("cli store: written atomically with mode 0600, read back to the same grant") {
    const std::string dir = temp_dir();
    const cli::store_location where{dir + "/grant.json"};
    // A stale temporary of a killed run is removed by the next write.
    std::fclose(std::fopen((dir + "/" + cli::temporary_prefix(where) + "abc123").c_str(), "w"));

    auto absent = cli::read_store(where);
    REQUIRE(std::holds_alternative<std::optional<babelbird::token_grant>>(absent));
    CHECK_FALSE(std::get<std::optional<babelbird::token_grant>>(absent));

    const auto g = sample_grant();
    CHECK_FALSE(cli::write_store(where, g));
    CHECK(entries(dir) == std::vector<std::string>{"grant.json"});
    struct stat st {};
    REQUIRE(::stat(where.path.c_str(), &st) == 0);
    CHECK((st.st_mode & 0777) == 0600);
    const std::string text = slurp(where.path);
    CHECK(text == cli::grant_json(g) + "\n");

    auto read = cli::read_store(where);
    REQUIRE(std::holds_alternative<std::optional<babelbird::token_grant>>(read));
    const auto& back = std::get<std::optional<babelbird::token_grant>>(read);
    REQUIRE(back);
    CHECK(back->access_token.expose_secret() == "at-1+/=");
    CHECK(back->refresh_token.expose_secret() == "rt-2 with space");
    CHECK(back->expires_in == std::optional<std::uint64_t>(3600));
    CHECK(back->expires_at == g.expires_at);
    CHECK(back->issued_at == g.expires_at - std::chrono::seconds(3600));
    CHECK(back->refresh_expires_at == g.refresh_expires_at);
    CHECK(back->token_type == "bearer");
    CHECK(back->scope == "files read");

    // A rescued refresh token: no access token (null), still a valid store.
    babelbird::token_grant rescued;
    rescued.refresh_token = babelbird::secret("rt-new");
    rescued.expires_at = g.expires_at;
    CHECK_FALSE(cli::write_store(where, rescued));
    auto again = cli::read_store(where);
    REQUIRE(std::holds_alternative<std::optional<babelbird::token_grant>>(again));
    CHECK(std::get<std::optional<babelbird::token_grant>>(again)->access_token.empty());

    // Unwritable: an error, and no temporary left behind.
    const cli::store_location nowhere{dir + "/missing/grant.json"};
    const auto failed = cli::write_store(nowhere, g);
    REQUIRE(failed);
    CHECK(failed->message.find("rt-2") == std::string::npos);
    ::unlink(where.path.c_str());
    ::rmdir(dir.c_str());
}

TEST_CASE("cli store: strict reading, and never the content in a message") {
    const auto parse_error = [](std::string_view text) {
        const auto r = cli::parse_store_json(text);
        REQUIRE(std::holds_alternative<cli::store_error>(r));
        const std::string m = std::get<cli::store_error>(r).message;
        CHECK(m.find("SECRET") == std::string::npos);
        return m;
    };
    const std::string tail =
        R"(,"expires_in":3600,"expires_at":"2030-01-01T00:00:00Z","refresh_expires_at":null})";
    CHECK(std::holds_alternative<babelbird::token_grant>(
        cli::parse_store_json(R"({"access_token":"at","refresh_token":"rt-SECRET")" + tail)));
    CHECK(parse_error(R"({"access_token":"at","refresh_token":"rt-SECRET")") ==
          "the store file is not a valid grant: not valid JSON");
    CHECK(parse_error(R"(["rt-SECRET"])") ==
          "the store file is not a valid grant: not a JSON object");
    CHECK(parse_error(R"({"refresh_token":"rt-SECRET","refresh_token":"x")" + tail)
              .find("repeated") != std::string::npos);
    CHECK(
        parse_error(R"({"refresh_token":"rt-SECRET","Refresh_Token":"x")" + tail).find("unknown") !=
        std::string::npos);
    CHECK(parse_error(R"({"refresh_token":"rt-SECRET","access_token":7)" + tail).find("string") !=
          std::string::npos);
    CHECK(parse_error(R"({"refresh_token":"rt-SECRET","access_token":"a b ")" + tail)
              .find("header") != std::string::npos);
    CHECK(parse_error(R"({"refresh_token":"rt-SECRET","expires_at":"2030-01-01 00:00:00"})")
              .find("time") != std::string::npos);
    CHECK(
        parse_error(
            R"({"refresh_token":"rt-SECRET","expires_in":-1,"expires_at":"2030-01-01T00:00:00Z"})")
            .find("expires_in") != std::string::npos);
    CHECK(parse_error(R"({"refresh_token":"rt-SECRET"})").find("expires_at") != std::string::npos);
    CHECK(parse_error(
              R"({"access_token":null,"refresh_token":null,"expires_at":"2030-01-01T00:00:00Z"})")
              .find("no token") != std::string::npos);
    CHECK(parse_error("") == "the store file is not a valid grant: not valid JSON");
}

TEST_CASE("cli store: a rescued refresh token is stored before the failure is reported") {
    const std::string dir = temp_dir();
    const std::optional<cli::store_location> where(cli::store_location{dir + "/grant.json"});
    babelbird::token_grant rescued;
    rescued.refresh_token = babelbird::secret("rt-rotated");
    rescued.refresh_token_rotated = true;
    rescued.expires_at = babelbird::time_point(std::chrono::seconds(1'700'000'000));
    const auto e = babelbird::error::server(babelbird::errc::invalid_token,
                                            babelbird::error_class::protocol, 200);
    CHECK(cli::deliver_salvaged(rescued, where, e) == 5);
    auto read = cli::read_store(*where);
    REQUIRE(std::holds_alternative<std::optional<babelbird::token_grant>>(read));
    const auto& back = std::get<std::optional<babelbird::token_grant>>(read);
    REQUIRE(back);
    CHECK(back->refresh_token.expose_secret() == "rt-rotated");
    CHECK(back->access_token.empty());
    ::unlink(where->path.c_str());
    ::rmdir(dir.c_str());
}

TEST_CASE("cli store: one run at a time holds the store's lock") {
    using namespace std::chrono_literals;
    const std::string dir = temp_dir();
    const cli::store_location where{dir + "/grant.json"};
    {
        auto first = cli::store_lock::acquire(where, 100ms);
        REQUIRE(std::holds_alternative<cli::store_lock>(first));
        // flock locks belong to the open file: a second open waits, then gives up.
        auto second = cli::store_lock::acquire(where, 50ms);
        REQUIRE(std::holds_alternative<cli::store_error>(second));
        CHECK(std::get<cli::store_error>(second).message.find("in use") != std::string::npos);
    }
    auto third = cli::store_lock::acquire(where, 50ms);
    CHECK(std::holds_alternative<cli::store_lock>(third));
    ::unlink((dir + "/.grant.json.lock").c_str());
    ::rmdir(dir.c_str());
}
