/// @file babelbird.hpp
/// @brief The whole core library: include this one header.
///
/// Public API at a glance:
/// - `client_credentials::make(id, secret, basic_encoding)`: validated credentials;
///   `basic_authorization()` gives the `Basic ...` header value.
/// - `endpoint::make(base_url, endpoint_paths)`: validated base URL and paths.
/// - `build_refresh_request(credentials, endpoint, refresh_token)`: the request.
/// - `parse_token_response(response, response_options)`: the typed answer.
/// - `refresh_exchange::prepare(credentials, endpoint, refresh_token | grant, ...)`,
///   `code_exchange::prepare(credentials, endpoint, code, redirect_uri, ...)`: the
///   exchange machines; `request()` to send, `finish(answer, issued_at)` to read the
///   answer into a `grant_result` (for any HTTP stack; no I/O).
/// - `refresh(transport, credentials, endpoint, refresh_token, client_options, clock)`:
///   the whole exchange, returning a `token_grant` with absolute expiry times.
/// - `exchange_code(transport, credentials, endpoint, code, redirect_uri, ...)`: the
///   authorization-code exchange, returning a `token_grant` like `refresh()`.
/// - `build_authorize_url(endpoint, authorize_params)`,
///   `build_authorize_jwt_url(endpoint, authorize_jwt_params)`: authorization URLs.
/// - `parse_callback_url(url, expected_data)`, `parse_callback_query(query, expected_data)`:
///   the code (and `data`, checked in constant time) from the authorization redirect.
/// - `build_file_api_request(endpoint, file_api_params)`, `add_bearer(request, token)`:
///   file-API requests with `Authorization: Bearer ...`.
/// - `send_authorized(transport, token_provider, request, send_options)`: a Bearer
///   call that, on 401/invalid_token, invalidates the token used and retries once;
///   `authorized_call` is the same call as a machine (events in, actions out).
/// - `async_token_source(async_transport, executor, credentials, endpoint, seed, ...)`:
///   `token_source` without blocking: `async_get(completion) -> async_cancellation`,
///   completions via `executor.post`; `async_refresh`, `async_exchange_code`,
///   `async_send_authorized`: the async exchanges and authorized call.
/// - `token_store`, `async_token_store` (concepts), `any_token_store`,
///   `any_async_token_store`, `memory_token_store`, `store_on_executor`: the shared
///   store that `token_source_options::store` / `async_store` run the
///   lease-and-compare-and-set protocol over (several processes, one grant;
///   Redis: adapters/redis.hpp, opt-in); `encode_grant`/`decode_grant`: the
///   stored form of a grant.
/// - `error`, `errc`, `error_class`, `result<T>`: the error model (nothing throws).
/// - `secret`, `secret_view`: redacted when printed, zeroed when destroyed.
#pragma once

#include "babelbird/config/compiler_check.hpp"

#include "babelbird/answers/callback.hpp"
#include "babelbird/answers/token_response.hpp"
#include "babelbird/config/version.hpp"
#include "babelbird/drivers/async_client.hpp"
#include "babelbird/drivers/async_send_authorized.hpp"
#include "babelbird/drivers/async_token_source.hpp"
#include "babelbird/drivers/async_transport.hpp"
#include "babelbird/drivers/client.hpp"
#include "babelbird/drivers/memory_token_store.hpp"
#include "babelbird/drivers/send_authorized.hpp"
#include "babelbird/drivers/token_source.hpp"
#include "babelbird/drivers/token_store.hpp"
#include "babelbird/drivers/transport.hpp"
#include "babelbird/drivers/unique_function.hpp"
#include "babelbird/encoding/codecs.hpp"
#include "babelbird/encoding/grant_codec.hpp"
#include "babelbird/machines/authorized_call.hpp"
#include "babelbird/machines/exchange.hpp"
#include "babelbird/machines/expiry.hpp"
#include "babelbird/machines/token_lifecycle.hpp"
#include "babelbird/requests/authorize.hpp"
#include "babelbird/requests/credentials.hpp"
#include "babelbird/requests/endpoint.hpp"
#include "babelbird/requests/file_api.hpp"
#include "babelbird/requests/token_requests.hpp"
#include "babelbird/values/clock.hpp"
#include "babelbird/values/error.hpp"
#include "babelbird/values/http.hpp"
#include "babelbird/values/secret.hpp"
#include "babelbird/values/token.hpp"
