// The secret types: redacted when printed, zeroed when destroyed, explicit reads.
#include "support.hpp"

#include <doctest/doctest.h>

#include <cstring>
#include <sstream>
#include <vector>

// A namespace per file: the unit tests are compiled as unity chunks.
namespace test_secret {

namespace {
/// An allocator that, on deallocation, records the bytes it is handed back.
/// The storage is inspected *before* it is freed, so there is no use-after-free.
struct released_bytes {
    std::vector<std::string> blocks;
};
template <class T>
struct inspecting_allocator {
    using value_type = T;
    released_bytes* log = nullptr;
    explicit inspecting_allocator(released_bytes* l) noexcept : log(l) {}
    template <class U>
    inspecting_allocator(const inspecting_allocator<U>& o) noexcept : log(o.log) {}
    T* allocate(std::size_t n) { return std::allocator<T>().allocate(n); }
    void deallocate(T* p, std::size_t n) noexcept {
        log->blocks.emplace_back(reinterpret_cast<const char*>(p), n * sizeof(T));
        std::allocator<T>().deallocate(p, n);
    }
    friend bool operator==(const inspecting_allocator& a, const inspecting_allocator& b) {
        return a.log == b.log;
    }
};
} // namespace

TEST_CASE("secret: prints as [redacted], reads only through expose_secret") {
    const babelbird::secret s("hunter2");
    std::ostringstream out;
    out << s << ' ' << s.view();
    CHECK(out.str() == "[redacted] [redacted]");
    CHECK(s.expose_secret() == "hunter2");
    CHECK(std::strcmp(s.expose_secret_c_str(), "hunter2") == 0);
    CHECK(s.size() == 7);
}

TEST_CASE("secret: storage is zeroed before it is freed") {
    released_bytes log;
    {
        babelbird::basic_secret<inspecting_allocator<char>> s("top-secret-value",
                                                              inspecting_allocator<char>(&log));
        CHECK(s.expose_secret() == "top-secret-value");
    }
    REQUIRE(log.blocks.size() == 1);
    CHECK(log.blocks[0] == std::string(17, '\0'));
}

TEST_CASE("secret: assignment and clear zero the old bytes") {
    released_bytes log;
    using sec = babelbird::basic_secret<inspecting_allocator<char>>;
    sec a("first-secret", inspecting_allocator<char>(&log));
    const sec b("second", inspecting_allocator<char>(&log));
    a = b;
    REQUIRE(log.blocks.size() == 1);
    CHECK(log.blocks[0] == std::string(13, '\0'));
    a.clear();
    REQUIRE(log.blocks.size() == 2);
    CHECK(log.blocks[1] == std::string(7, '\0'));
    CHECK(a.empty());
}

TEST_CASE("secret: move leaves the source empty and owns one copy") {
    babelbird::secret a("moved");
    babelbird::secret b(std::move(a));
    CHECK(b.expose_secret() == "moved");
    CHECK(a.empty()); // NOLINT(bugprone-use-after-move): the moved-from state is specified
    CHECK(a.expose_secret().empty());
}

TEST_CASE("constant_time_equals compares bytes, not prefixes") {
    CHECK(babelbird::constant_time_equals("abc", "abc"));
    CHECK_FALSE(babelbird::constant_time_equals("abc", "abd"));
    CHECK_FALSE(babelbird::constant_time_equals("abc", "ab"));
    CHECK(babelbird::secret("x") == babelbird::secret("x"));
}
static_assert(babelbird::constant_time_equals("same", "same"));
static_assert(!babelbird::constant_time_equals("same", "samf"));

} // namespace test_secret
