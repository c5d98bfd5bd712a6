/// @file values/error.hpp
/// @brief The error model in one include: error codes and classes
/// (errc.hpp), OAuth error codes (oauth_error.hpp), the `error` value
/// (error_value.hpp) and `result<T>` (result.hpp).
///
/// The library never throws, prints or aborts: every fallible call returns a
/// `result<T>` that holds either a value or an `error`. An error says *what*
/// went wrong (`errc`), *what to do next* (`error_class`), *where* it came from
/// (`error_origin`) and, for server answers, the HTTP status and the OAuth error
/// code (RFC 6749 section 5.2). Errors never hold a secret, a token or a raw body.
#pragma once

#include "babelbird/config/compiler_check.hpp"

#include "babelbird/values/errc.hpp"
#include "babelbird/values/error_value.hpp"
#include "babelbird/values/oauth_error.hpp"
#include "babelbird/values/result.hpp"
