// babelbird-cli serve-fake [--port N] [--context-path /PATH] [--access-token-lifetime S]
// [--revoke-family-on-reuse] [--reuse-grace-ms MS]: the loopback
// BabelBird-compatible server, with its /_fake/ control API, until SIGINT/SIGTERM.
#include <babelbird/testing/fake_server.hpp>

#include <csignal>
#include <cstdio>
#include <pthread.h>

#include "commands.hpp"
#include "env.hpp"
#include "failure.hpp"
#include "fake_control.hpp"
#include "json_out.hpp"

namespace cli {

int run_serve_fake(const arguments& args) {
    babelbird::testing::fake_server_options options;
    options.port = args.port;
    options.intercept = fake_control;
    options.revoke_family_on_reuse = args.revoke_family_on_reuse;
    if (args.reuse_grace) {
        options.reuse_grace = *args.reuse_grace;
    }
    if (args.access_token_lifetime) {
        options.access_token_lifetime = *args.access_token_lifetime;
    }
    if (args.context_path) {
        const std::string& p = *args.context_path;
        if (p.empty() || p.front() != '/' || p.back() == '/' ||
            p.find_first_of("?#% \t\r\n") != std::string::npos) {
            return fail_usage("--context-path must look like /babel");
        }
        options.context_path = p;
    }
    // The same variables the client commands read: one environment serves both.
    if (const auto id = read_env("BABELBIRD_CLIENT_ID")) {
        options.client_id = *id;
    }
    if (const auto secret = take_secret_env("BABELBIRD_CLIENT_SECRET")) {
        options.client_secret = std::string(secret->expose_secret());
    }
    const auto seed = take_secret_env("BABELBIRD_REFRESH_TOKEN");

    // Block the stop signals in every thread; this one waits for them.
    sigset_t stop_signals;
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGINT);
    sigaddset(&stop_signals, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

    babelbird::testing::fake_server server(options);
    if (!server.start()) {
        return fail(babelbird::error_class::retry, "cannot listen on 127.0.0.1 at that port");
    }
    if (seed) {
        server.add_refresh_token(std::string(seed->expose_secret()));
    }
    std::string line = "{\"base_url\":" + json_string(server.base_url()) +
                       ",\"port\":" + std::to_string(server.port()) + "}\n";
    std::fputs(line.c_str(), stdout);
    // Nobody could learn the address: do not run on unseen.
    if (const int status = finish_stdout("the server's address", false); status != 0) {
        server.stop();
        return status;
    }

    int received = 0;
    sigwait(&stop_signals, &received);
    server.stop();
    return 0;
}

} // namespace cli
