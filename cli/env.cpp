#include "env.hpp"

#include <babelbird/values/secure_zero.hpp>

#include <cstdlib>
#include <cstring>

namespace cli {

std::optional<std::string> read_env(const char* name) {
    const char* value = std::getenv(name);
    if (value == nullptr || *value == '\0') {
        return std::nullopt;
    }
    return std::string(value);
}

std::optional<babelbird::secret> take_secret_env(const char* name) {
    char* value = std::getenv(name);
    if (value == nullptr || *value == '\0') {
        return std::nullopt;
    }
    babelbird::secret out(std::string_view(value, std::strlen(value)));
    // getenv points into the environment block itself, which is writable.
    babelbird::detail::secure_zero(value, std::strlen(value));
    return out;
}

} // namespace cli
