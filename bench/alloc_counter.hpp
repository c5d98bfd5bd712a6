// Heap allocations made by this process, counted by the replacement global
// operator new/delete and malloc family in alloc_counter.cpp.
#pragma once

#include <cstdint>

namespace bench {

/// Allocation calls (operator new of every form, malloc, calloc, realloc,
/// aligned allocations) since the process started. Single-threaded use only.
std::uint64_t allocations() noexcept;

} // namespace bench
