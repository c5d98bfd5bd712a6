// babelbird/src.hpp in a header-only build: one clear #error, not duplicate definitions at link
// time.
#include <babelbird/src.hpp>
