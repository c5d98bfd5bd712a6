// The single header with BABELBIRD_SEPARATE_COMPILATION: one clear #error (it is always
// header-only).
#include <babelbird/babelbird.hpp>
