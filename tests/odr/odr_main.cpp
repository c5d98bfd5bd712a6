// ODR test: two translation units include the single header and link into one
// program. Both must work, and the function-local statics behind inline
// functions (the parser's per-thread scratch, the error category) must be one
// object, not one per translation unit.
#include <cstdio>

#include "odr.hpp"

int main() {
    int failed = 0;
    const auto check = [&failed](bool ok, const char* what) {
        std::printf("%s %s\n", ok ? "ok    " : "FAILED", what);
        failed += ok ? 0 : 1;
    };
    check(odr::works_a(), "first translation unit works");
    check(odr::works_b(), "second translation unit works");
    check(odr::scratch_a() == odr::scratch_b(), "one per-thread parser scratch");
    check(odr::category_a() == odr::category_b(), "one error category");
    std::printf("%d passed, %d failed\n", 4 - failed, failed);
    return failed == 0 ? 0 : 1;
}
