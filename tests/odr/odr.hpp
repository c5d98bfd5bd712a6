// The two translation units of the ODR test, seen from main.
#pragma once

namespace odr {
const void* scratch_a();
const void* scratch_b();
const void* category_a();
const void* category_b();
bool works_a();
bool works_b();
} // namespace odr
