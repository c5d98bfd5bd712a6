// Compiled with -std=c++17: the first error must be babelbird's own message
// (config/compiler_check.hpp), not one about concepts or std::span.
#include <babelbird/babelbird.hpp>

int main() {
    return 0;
}
