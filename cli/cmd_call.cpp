// babelbird-cli call METHOD PATH --base-url URL --store STORE [--data JSON]
//                    [--header 'Name: value']... [--timeout S] [--verbose]
//
// A Bearer call to the file API with the stored grant, through the library's
// token_source (refresh first when the access token is expired or due; the
// rotation hook writes the store before the new token is used) and
// send_authorized (one retry after a rejected token, for idempotent methods).
// With redis:// the source runs the shared-store protocol itself (see
// shared_grant.hpp): of many runs at once, one refreshes and the others adopt.
#include <babelbird/adapters/curl.hpp>
#include <babelbird/babelbird.hpp>
#include <babelbird/drivers/send_authorized.hpp>
#include <babelbird/drivers/token_source.hpp>
#include <babelbird/requests/file_api.hpp>

#include <cstring>
#include <optional>
#include <string>
#include <variant>

#include "client_env.hpp"
#include "commands.hpp"
#include "deliver.hpp"
#include "env.hpp"
#include "failure.hpp"
#include "json_out.hpp"
#include "shared_grant.hpp"
#include "store_file.hpp"
#include "verbose.hpp"

namespace cli {

namespace {

using source_type = babelbird::token_source<logging_transport&>;

/// The token_source as send_authorized's provider, refusing to hand out a
/// token whose grant is not durable in the store yet (the call is then not made).
struct persisted_provider {
    source_type& source;
    bool& not_persisted;
    /// With redis://: a grant whose commit failed is not durable either.
    const shared_grant* shared = nullptr;

    babelbird::result<babelbird::token_handle> get() {
        auto handle = source.get();
        if (handle && source.persist_failed() && !source.retry_persist()) {
            not_persisted = true;
            return babelbird::error::usage(babelbird::errc::invalid_argument);
        }
        if (handle && shared != nullptr && maybe_uncommitted(*shared, source)) {
            not_persisted = true;
            return *source.last_error();
        }
        return handle;
    }
    void invalidate(babelbird::secret_view seen) { source.invalidate(seen); }
};

bool is_2xx(int status) {
    return status >= 200 && status <= 299;
}

/// Prints the answer body and gives the exit status of a finished call.
int finish_call(const arguments& args, babelbird::http_response& answer, bool rejected) {
    const int http_status = answer.status;
    const std::string what = "the file API answered HTTP " + std::to_string(http_status);
    const int e = write_stdout_and_scrub(answer.body, false);
    const int closed = e == 0 ? close_stdout() : 0;
    if (e != 0 || closed != 0) {
        return fail(babelbird::error_class::retry,
                    what + ", but the answer could not be written to stdout: " +
                        std::strerror(e != 0 ? e : closed));
    }
    if (rejected) {
        if (!babelbird::is_idempotent_method(*args.method)) {
            return fail(babelbird::error_class::retry,
                        what + ": the access token was rejected; " + *args.method +
                            " is not sent twice, a new token is stored: run the call again");
        }
        return fail(babelbird::error_class::reauthorize,
                    what + ": the access token was rejected again after a refresh");
    }
    if (!is_2xx(http_status)) {
        return fail(babelbird::error_class::protocol, what);
    }
    return 0;
}

/// `call` on a redis:// store.
int run_shared_call(const arguments& args, const store_location& where, const client_setup& client,
                    const babelbird::http_request& request, redactor& secrets) {
    int status = 0;
    auto shared = open_shared_grant(args, where, secrets, status);
    if (!shared) {
        return status;
    }
    auto curl = make_transport(client.server.is_loopback(), args.timeout);
    logging_transport transport(curl, args.verbose, secrets);
    source_type source(transport, client.credentials, client.server, std::move(shared->seed),
                       shared_options(args, *shared, secrets));
    bool not_persisted = false;
    persisted_provider provider{source, not_persisted, shared.get()};
    auto answer = babelbird::send_authorized(transport, provider, request);
    const bool rejected = answer && babelbird::is_invalid_token_response(*answer);
    if (rejected) {
        // As with a file store: leave a fresh grant in the store for the next run.
        (void)provider.get();
        if (not_persisted) {
            if (const int rescued =
                    rescue_uncommitted(*shared, where, "the store could not take the new grant")) {
                return rescued;
            }
        }
    }
    if (!answer) {
        const std::string what =
            not_persisted ? "the store could not take the new grant: " + answer.error().message()
                          : answer.error().message();
        if (const int rescued = rescue_uncommitted(*shared, where, what)) {
            return rescued;
        }
        if (answer.error().kind() == babelbird::error_class::reauthorize) {
            return fail(babelbird::error_class::reauthorize,
                        answer.error().message() + " (the grant in the store " + where.path +
                            " is dead: sign in again)");
        }
        return fail(answer.error());
    }
    return finish_call(args, *answer, rejected);
}

} // namespace

int run_call(const arguments& args) {
    if (!args.method || !args.path) {
        return fail_usage("call needs METHOD and PATH");
    }
    int status = 0;
    const auto store = store_of(args, status);
    if (status != 0) {
        return status;
    }
    if (!store) {
        return fail_usage(
            "call needs --store file:PATH or redis://HOST:PORT/NAME (the grant to use and keep)");
    }
    redactor secrets;
    const auto client = read_client(args, secrets, status);
    if (!client) {
        return status;
    }

    // The request first: a bad METHOD, PATH or --data sends nothing.
    babelbird::file_api_params params;
    params.method = *args.method;
    params.path = *args.path;
    if (args.data) {
        params.json_body = *args.data;
    }
    auto request = babelbird::build_file_api_request(client->server, params);
    if (!request) {
        return fail(request.error());
    }
    for (const auto& [name, value] : args.headers) {
        request->set_header(name, value);
    }

    if (store->redis) {
        return run_shared_call(args, *store, *client, *request, secrets);
    }
    auto locked = store_lock::acquire(*store, args.timeout);
    if (const auto* e = std::get_if<store_error>(&locked)) {
        return e->busy ? fail(babelbird::error_class::retry, e->message) : fail_usage(e->message);
    }
    const store_lock lock = std::move(std::get<store_lock>(locked));
    auto read = read_store(*store);
    if (const auto* e = std::get_if<store_error>(&read)) {
        return fail_usage(e->message);
    }
    auto stored = std::move(std::get<std::optional<babelbird::token_grant>>(read));
    std::optional<babelbird::token_seed> seed;
    const bool no_refresh_token = stored && stored->refresh_token.empty();
    if (stored) {
        secrets.add(stored->access_token.expose_secret());
        secrets.add(stored->refresh_token.expose_secret());
        auto s = babelbird::token_seed::from_grant(std::move(*stored));
        if (!s) {
            return fail_usage("the store file is not a valid grant (" + store->path + ")");
        }
        seed = std::move(*s);
    } else {
        const auto refresh_token = take_secret_env("BABELBIRD_REFRESH_TOKEN");
        if (!refresh_token) {
            return fail_usage(
                "the store file does not exist and BABELBIRD_REFRESH_TOKEN is not set");
        }
        secrets.add(refresh_token->expose_secret());
        auto s = babelbird::token_seed::from_refresh_token(refresh_token->view());
        if (!s) {
            return fail(s.error());
        }
        seed = std::move(*s);
    }

    auto curl = make_transport(client->server.is_loopback(), args.timeout);
    logging_transport transport(curl, args.verbose, secrets);
    std::string persist_error;
    bool salvage_stored = false; // a rotated refresh token of a rejected answer
    babelbird::token_source_options options;
    options.on_rotate = [&](const babelbird::token_grant& g) {
        secrets.add(g.access_token.expose_secret());
        secrets.add(g.refresh_token.expose_secret());
        if (const auto failed = write_store(*store, g)) {
            persist_error = failed->message;
            return false;
        }
        salvage_stored = g.access_token.empty();
        return true;
    };
    source_type source(transport, client->credentials, client->server, std::move(*seed),
                       std::move(options));
    bool not_persisted = false;
    persisted_provider provider{source, not_persisted};
    auto answer = babelbird::send_authorized(transport, provider, *request);

    bool rejected = answer && babelbird::is_invalid_token_response(*answer);
    if (rejected) {
        // The token was invalidated: refresh now, so that the store holds a
        // fresh grant for the next run (a non-idempotent call is not resent).
        (void)provider.get();
    }
    if (not_persisted || source.persist_failed()) {
        std::string rescue = grant_json(source.current().grant());
        const int e = write_stdout_and_scrub(rescue);
        return fail_undelivered(
            "a new grant was received but could not be delivered to the store: " + persist_error +
            (e == 0 ? "; it is printed on stdout as a rescue copy instead of the answer"
                    : std::string("; writing it to stdout failed too (") + std::strerror(e) +
                          "): the stored refresh token may now be stale"));
    }
    if (!answer) {
        if (salvage_stored) {
            return fail(answer.error().kind(),
                        answer.error().message() +
                            "; the server's new refresh token was saved in the store " +
                            store->path);
        }
        if (no_refresh_token && answer.error().kind() == babelbird::error_class::usage) {
            // The request was valid (built above): what was missing is the
            // refresh token the expired or rejected access token needed.
            return fail(babelbird::error_class::reauthorize,
                        "the access token in the store " + store->path +
                            " is expired or was rejected and the store holds no refresh token: "
                            "sign in again (babelbird-cli token)");
        }
        return fail(answer.error());
    }
    return finish_call(args, *answer, rejected);
}

} // namespace cli
