// The one translation unit of a BABELBIRD_SEPARATE_COMPILATION build that
// defines the library's out-of-line bodies (and parses <simdjson.h>).
#include <babelbird/src.hpp>
