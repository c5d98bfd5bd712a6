// babelbird-cli: a command-line client for the BabelBird Docs authentication
// API, built on babelbird and libcurl. See docs/design.md for the contract.
#include <curl/curl.h>

#include <cstdio>
#include <new>
#include <variant>

#include "args.hpp"
#include "commands.hpp"
#include "failure.hpp"

namespace {

int run(int argc, char** argv) {
    const auto parsed = cli::parse_arguments(argc, argv);
    if (const auto* bad = std::get_if<cli::argument_error>(&parsed)) {
        return cli::fail_usage(bad->message);
    }
    const auto& args = std::get<cli::arguments>(parsed);
    if (args.help) {
        std::fputs(cli::usage_text(), stdout);
        return cli::finish_stdout("the usage text");
    }
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        return cli::fail(babelbird::error_class::retry, "libcurl could not be initialised");
    }
    int status = 2;
    if (args.command == "refresh") {
        status = cli::run_refresh(args);
    } else if (args.command == "token") {
        status = cli::run_token(args);
    } else if (args.command == "authorize-url") {
        status = cli::run_authorize_url(args);
    } else if (args.command == "call") {
        status = cli::run_call(args);
    } else if (args.command == "serve-fake") {
        status = cli::run_serve_fake(args);
    } else if (args.command == "demo") {
        status = cli::run_demo(args);
    }
    curl_global_cleanup();
    return status;
}

} // namespace

// No exception escapes: the library throws none, but an allocation (or
// cpp-httplib, in serve-fake) can. Fixed texts, so that nothing allocates here.
int main(int argc, char** argv) {
    try {
        return run(argc, argv);
    } catch (const std::bad_alloc&) {
        std::fputs("babelbird-cli: retry: out of memory\n", stderr);
        return 4;
    } catch (...) {
        std::fputs("babelbird-cli: protocol: internal error (an unexpected exception)\n", stderr);
        return 5;
    }
}
