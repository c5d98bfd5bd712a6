#include "deliver.hpp"

#include <cstring>
#include <string>

#include "failure.hpp"
#include "json_out.hpp"
#include "store_redis.hpp"

namespace cli {

namespace {

/// The grant on stdout; "" or the reason it failed.
std::string print_grant(const babelbird::token_grant& grant) {
    std::string out = grant_json(grant);
    int e = write_stdout_and_scrub(out);
    if (e == 0) {
        e = close_stdout();
    }
    return e == 0 ? std::string() : std::string(std::strerror(e));
}

} // namespace

int fail_undelivered(std::string_view what) {
    // `retry`: the failure is local and may pass (a full disk), but the server
    // has already issued the grant, which the message says.
    return fail(babelbird::error_class::retry, what);
}

int deliver_grant(const babelbird::token_grant& grant, const std::optional<store_location>& store) {
    if (store) {
        if (const auto failed = write_any_store(*store, grant)) {
            const std::string printed = print_grant(grant);
            if (printed.empty()) {
                return fail_undelivered(
                    "a new grant was received but could not be delivered to the store: " +
                    failed->message +
                    "; it is printed on stdout as a rescue copy (the stored refresh token may "
                    "now be stale)");
            }
            return fail_undelivered("a new grant was received but could not be delivered: " +
                                    failed->message + "; writing it to stdout failed too (" +
                                    printed + "): the stored refresh token may now be stale");
        }
    }
    const std::string printed = print_grant(grant);
    if (printed.empty()) {
        return 0;
    }
    if (store) {
        return fail_undelivered("a new grant was received and stored in " + store->path +
                                ", but could not be delivered on stdout: " + printed);
    }
    return fail_undelivered(
        "a new grant was received but could not be delivered: writing stdout failed (" + printed +
        "); the refresh token used may now be stale");
}

int deliver_salvaged(const babelbird::token_grant& rescued,
                     const std::optional<store_location>& store, const babelbird::error& e) {
    std::string what = e.message();
    std::string stored_error;
    if (store) {
        const auto failed = write_any_store(*store, rescued);
        if (!failed) {
            return fail(e.kind(), what +
                                      "; the server's new refresh token was saved in the store " +
                                      store->path);
        }
        stored_error = failed->message + "; ";
    }
    const std::string printed = print_grant(rescued);
    if (printed.empty()) {
        return fail(e.kind(), what + "; " + stored_error +
                                  "the server's new refresh token is printed on stdout as a "
                                  "rescue copy");
    }
    return fail(e.kind(), what + "; " + stored_error +
                              "the server's new refresh token could not be delivered (stdout: " +
                              printed + ")");
}

} // namespace cli
