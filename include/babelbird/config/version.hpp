/// @file config/version.hpp
/// @brief The library version, as macros and as constants.
#pragma once

#include "babelbird/config/compiler_check.hpp"

#define BABELBIRD_VERSION_MAJOR 0
#define BABELBIRD_VERSION_MINOR 1
#define BABELBIRD_VERSION_PATCH 0
#define BABELBIRD_VERSION_STRING "0.1.0"

// Every public name lives in the inline namespace `babelbird::v1`: users write
// `babelbird::secret`, while the mangled names carry `v1`, so two
// incompatible versions linked into one program fail to link instead of
// silently mixing layouts.
namespace babelbird::inline v1 {
inline constexpr int version_major = BABELBIRD_VERSION_MAJOR;
inline constexpr int version_minor = BABELBIRD_VERSION_MINOR;
inline constexpr int version_patch = BABELBIRD_VERSION_PATCH;
inline constexpr const char* version_string = BABELBIRD_VERSION_STRING;
} // namespace babelbird::inline v1
