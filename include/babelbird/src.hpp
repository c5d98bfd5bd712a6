/// @file src.hpp
/// @brief The library's out-of-line bodies, for `BABELBIRD_SEPARATE_COMPILATION`.
///
/// Header-only is the default: every translation unit that includes
/// babelbird.hpp also parses `<simdjson.h>` (about 31,000 lines). To pay that
/// once, define `BABELBIRD_SEPARATE_COMPILATION` for every translation unit of
/// the program (e.g. `-DBABELBIRD_SEPARATE_COMPILATION`) and include this file
/// in exactly one of them:
///
/// @code
/// // babelbird_src.cpp, compiled once and linked into the program
/// #include <babelbird/src.hpp>
/// @endcode
///
/// The other translation units then see declarations only and never include
/// `<simdjson.h>`. Including this file twice in one program is an ODR
/// violation (duplicate definitions at link time). The single header is always
/// header-only. See docs/design.md, "Packaging".
#pragma once

#include "babelbird/config/compiler_check.hpp"

#if !defined(BABELBIRD_SEPARATE_COMPILATION)
#error                                                                                             \
    "babelbird/src.hpp is for BABELBIRD_SEPARATE_COMPILATION builds; define it for every translation unit, or drop this include (header-only is the default)"
#endif

#include "babelbird/answers/detail/parse_token_response.hpp"
#include "babelbird/babelbird.hpp"
