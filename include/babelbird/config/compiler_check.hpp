/// @file config/compiler_check.hpp
/// @brief Fails early, with one clear message, below C++20.
///
/// Every public header includes this first, so a C++17 build stops here with
/// our message before any error about concepts or `std::span`. MSVC keeps
/// `__cplusplus` at 199711L unless `/Zc:__cplusplus` is given; `_MSVC_LANG`
/// carries its real language level.
#pragma once

#if !((defined(__cplusplus) && __cplusplus >= 202002L) ||                                          \
      (defined(_MSVC_LANG) && _MSVC_LANG >= 202002L))
#error "babelbird needs C++20 or newer: compile with -std=c++20 (MSVC: /std:c++20)"
#endif
