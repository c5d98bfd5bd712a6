/// @file config/decl.hpp
/// @brief `BABELBIRD_DECL`: how the library's out-of-line functions are
/// declared. Header-only (the default) they are `inline`; with
/// `BABELBIRD_SEPARATE_COMPILATION` defined in every translation unit they are
/// ordinary functions, defined once by the translation unit that includes
/// babelbird/src.hpp (the Boost.Beast/Asio pattern).
#pragma once

#include "babelbird/config/compiler_check.hpp"

#if defined(BABELBIRD_SEPARATE_COMPILATION)
#define BABELBIRD_DECL
#else
#define BABELBIRD_DECL inline
#endif
