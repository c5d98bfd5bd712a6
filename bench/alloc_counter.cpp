// Replacement global allocation functions that count every allocation.
//
// operator new goes straight to glibc's __libc_malloc so that an allocation
// through new is counted once, not again by the malloc replacement below. The
// malloc family is replaced too, because peers (libcurl, C code in Boost) call
// it directly. The counter is a relaxed atomic without a read-modify-write, so
// it costs the same few instructions in every case; the benchmark is
// single-threaded.
#include "alloc_counter.hpp"

#include <atomic>
#include <cerrno>
#include <cstddef>
#include <cstdlib>
#include <new>

extern "C" {
void* __libc_malloc(std::size_t size);
void* __libc_calloc(std::size_t n, std::size_t size);
void* __libc_realloc(void* p, std::size_t size);
void* __libc_memalign(std::size_t alignment, std::size_t size);
void __libc_free(void* p);
}

namespace {

std::atomic<std::uint64_t> counter{0};

inline void count() noexcept {
    counter.store(counter.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
}

void* allocate(std::size_t size) noexcept {
    count();
    return __libc_malloc(size == 0 ? 1 : size);
}

void* allocate_aligned(std::size_t size, std::align_val_t alignment) noexcept {
    count();
    return __libc_memalign(static_cast<std::size_t>(alignment), size == 0 ? 1 : size);
}

void* allocate_or_abort(std::size_t size) {
    void* p = allocate(size);
    if (p == nullptr) {
        std::abort();
    }
    return p;
}

void* allocate_aligned_or_abort(std::size_t size, std::align_val_t alignment) {
    void* p = allocate_aligned(size, alignment);
    if (p == nullptr) {
        std::abort();
    }
    return p;
}

} // namespace

std::uint64_t bench::allocations() noexcept {
    return counter.load(std::memory_order_relaxed);
}

// operator new / delete, all replaceable forms.
void* operator new(std::size_t size) {
    return allocate_or_abort(size);
}
void* operator new[](std::size_t size) {
    return allocate_or_abort(size);
}
void* operator new(std::size_t size, const std::nothrow_t&) noexcept {
    return allocate(size);
}
void* operator new[](std::size_t size, const std::nothrow_t&) noexcept {
    return allocate(size);
}
void* operator new(std::size_t size, std::align_val_t a) {
    return allocate_aligned_or_abort(size, a);
}
void* operator new[](std::size_t size, std::align_val_t a) {
    return allocate_aligned_or_abort(size, a);
}
void* operator new(std::size_t size, std::align_val_t a, const std::nothrow_t&) noexcept {
    return allocate_aligned(size, a);
}
void* operator new[](std::size_t size, std::align_val_t a, const std::nothrow_t&) noexcept {
    return allocate_aligned(size, a);
}

void operator delete(void* p) noexcept {
    __libc_free(p);
}
void operator delete[](void* p) noexcept {
    __libc_free(p);
}
void operator delete(void* p, std::size_t) noexcept {
    __libc_free(p);
}
void operator delete[](void* p, std::size_t) noexcept {
    __libc_free(p);
}
void operator delete(void* p, const std::nothrow_t&) noexcept {
    __libc_free(p);
}
void operator delete[](void* p, const std::nothrow_t&) noexcept {
    __libc_free(p);
}
void operator delete(void* p, std::align_val_t) noexcept {
    __libc_free(p);
}
void operator delete[](void* p, std::align_val_t) noexcept {
    __libc_free(p);
}
void operator delete(void* p, std::size_t, std::align_val_t) noexcept {
    __libc_free(p);
}
void operator delete[](void* p, std::size_t, std::align_val_t) noexcept {
    __libc_free(p);
}
void operator delete(void* p, std::align_val_t, const std::nothrow_t&) noexcept {
    __libc_free(p);
}
void operator delete[](void* p, std::align_val_t, const std::nothrow_t&) noexcept {
    __libc_free(p);
}

// The malloc family, for C code and libraries that call it directly.
extern "C" {
void* malloc(std::size_t size) noexcept {
    count();
    return __libc_malloc(size);
}
void* calloc(std::size_t n, std::size_t size) noexcept {
    count();
    return __libc_calloc(n, size);
}
void* realloc(void* p, std::size_t size) noexcept {
    count();
    return __libc_realloc(p, size);
}
void free(void* p) noexcept {
    __libc_free(p);
}
void* aligned_alloc(std::size_t alignment, std::size_t size) noexcept {
    count();
    return __libc_memalign(alignment, size);
}
void* memalign(std::size_t alignment, std::size_t size) noexcept {
    count();
    return __libc_memalign(alignment, size);
}
int posix_memalign(void** out, std::size_t alignment, std::size_t size) noexcept {
    if (alignment < sizeof(void*) || (alignment & (alignment - 1)) != 0) {
        return EINVAL;
    }
    count();
    void* p = __libc_memalign(alignment, size);
    if (p == nullptr) {
        return ENOMEM;
    }
    *out = p;
    return 0;
}
}
