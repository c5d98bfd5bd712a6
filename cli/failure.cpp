#include "failure.hpp"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>

namespace cli {

int exit_status(babelbird::error_class kind) noexcept {
    switch (kind) {
    case babelbird::error_class::usage:
        return 2;
    case babelbird::error_class::reauthorize:
        return 3;
    case babelbird::error_class::retry:
        return 4;
    case babelbird::error_class::protocol:
        return 5;
    case babelbird::error_class::configuration:
        return 6;
    }
    return 5;
}

int fail(babelbird::error_class kind, std::string_view message) {
    std::string line = "babelbird-cli: ";
    line += babelbird::to_string(kind);
    line += ": ";
    line += message;
    line += '\n';
    std::fputs(line.c_str(), stderr);
    std::fflush(stderr);
    return exit_status(kind);
}

int fail(const babelbird::error& e) {
    // The library's wording names its option; say it in the CLI's terms.
    std::string message =
        e.code() == babelbird::errc::lease_wait_timeout
            ? "another run held the store's lease longer than a run waits for it (two leases, "
              "or --timeout plus a lease); nothing was sent: try again"
            : e.message();
    if (const auto delay = e.retry_after()) {
        message += "; the server asks to retry after " + std::to_string(delay->count()) + " s";
    }
    return fail(e.kind(), message);
}

int fail_usage(std::string_view message) {
    return fail(babelbird::error_class::usage, message);
}

int finish_stdout(std::string_view what, bool close) {
    int e = 0;
    errno = 0;
    if (std::fflush(stdout) != 0) {
        e = errno != 0 ? errno : EIO;
    }
    if (e == 0 && std::ferror(stdout) != 0) {
        e = EIO; // an earlier write failed; its errno is gone
    }
    errno = 0;
    if (close && std::fclose(stdout) != 0 && e == 0) {
        e = errno != 0 ? errno : EIO;
    }
    if (e == 0) {
        return 0;
    }
    return fail(babelbird::error_class::retry,
                std::string(what) + " could not be written to stdout: " + std::strerror(e));
}

} // namespace cli
