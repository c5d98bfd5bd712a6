/// @file babelbird.hpp
/// @brief The whole core library: include this one header.
///
/// Public API at a glance:
/// - `client_credentials::make(id, secret, basic_encoding)`: validated credentials;
///   `basic_authorization()` gives the `Basic ...` header value.
/// - `endpoint::make(base_url, endpoint_paths)`: validated base URL and paths.
/// - `build_refresh_request(credentials, endpoint, refresh_token)`: the request.
/// - `parse_token_response(response, response_options)`: the typed answer.
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
///   call that, on 401/invalid_token, invalidates the token used and retries once.
/// - `error`, `errc`, `error_class`, `result<T>`: the error model (nothing throws).
/// - `secret`, `secret_view`: redacted when printed, zeroed when destroyed.
#pragma once

#include "babelbird/detail/compiler_check.hpp"

#include "babelbird/authorize.hpp"
#include "babelbird/authorized_call.hpp"
#include "babelbird/callback.hpp"
#include "babelbird/client.hpp"
#include "babelbird/clock.hpp"
#include "babelbird/credentials.hpp"
#include "babelbird/encoding.hpp"
#include "babelbird/endpoint.hpp"
#include "babelbird/error.hpp"
#include "babelbird/expiry.hpp"
#include "babelbird/file_api.hpp"
#include "babelbird/http.hpp"
#include "babelbird/refresh_machine.hpp"
#include "babelbird/requests.hpp"
#include "babelbird/response.hpp"
#include "babelbird/secret.hpp"
#include "babelbird/token.hpp"
#include "babelbird/token_source.hpp"
#include "babelbird/transport.hpp"
#include "babelbird/version.hpp"
