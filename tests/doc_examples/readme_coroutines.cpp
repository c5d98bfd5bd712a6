// Runs the README's "With Boost.Asio and Beast: coroutines" example (extracted
// by tools/extract_snippet.py and compiled with -Dmain=readme_coroutines_main)
// against the loopback server: it must exit 0 after one refresh and three
// Bearer calls.
#include <babelbird/testing/fake_server.hpp>

#include <doctest/doctest.h>

#include <string>
#include <vector>

int readme_coroutines_main(int argc, char** argv);

namespace test_readme_coroutines {

TEST_CASE("README: the Beast/coroutine example runs against the loopback server") {
    babelbird::testing::fake_server_options options;
    options.client_id = "my-client-id";
    options.client_secret = "my-client-secret";
    babelbird::testing::fake_server server(options);
    REQUIRE(server.start());
    server.add_refresh_token("RT-1");
    std::string program = "readme_coroutines";
    std::string url = server.base_url();
    std::vector<char*> argv{program.data(), url.data(), nullptr};
    CHECK(readme_coroutines_main(2, argv.data()) == 0);
    int refreshes = 0;
    int calls = 0;
    for (const auto& r : server.requests()) {
        refreshes += r.path == "/api/refreshToken.do" ? 1 : 0;
        calls += r.path == options.file_path ? 1 : 0;
    }
    CHECK(refreshes == 1);
    CHECK(calls == 3);
}

} // namespace test_readme_coroutines
