// Helpers shared by the libFuzzer targets: an invariant check that aborts with
// a message (libFuzzer then saves the input), and an error-message oracle.
#pragma once

#include <babelbird/babelbird.hpp>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

namespace fuzz_support {

[[noreturn]] inline void invariant_broken(const char* what, const char* file, int line) {
    std::fprintf(stderr, "%s:%d: invariant broken: %s\n", file, line, what);
    std::abort();
}

/// The message an error must have: its fixed description, the status and the
/// OAuth code, nothing else. Any other byte would have come from an input.
inline std::string expected_message(const babelbird::error& e) {
    std::string out(babelbird::describe(e.code()));
    const std::string_view oauth = e.oauth_error_text();
    if (e.http_status() != 0 || !oauth.empty()) {
        out += " (";
        if (e.http_status() != 0) {
            out += "HTTP " + std::to_string(e.http_status());
        }
        if (!oauth.empty()) {
            out += e.http_status() != 0 ? ", " : "";
            out += oauth;
        }
        out += ')';
    }
    return out;
}

/// An unknown OAuth code kept as text: 1-40 bytes of [a-z0-9_], starting with a letter.
inline bool is_plausible_oauth_text(std::string_view text) {
    if (text.empty()) {
        return true;
    }
    if (text.size() > babelbird::error::max_oauth_text || text[0] < 'a' || text[0] > 'z') {
        return false;
    }
    for (char ch : text) {
        if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '_')) {
            return false;
        }
    }
    return true;
}

} // namespace fuzz_support

#define FUZZ_CHECK(cond)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            ::fuzz_support::invariant_broken(#cond, __FILE__, __LINE__);                           \
        }                                                                                          \
    } while (0)
