/// @file drivers/snapshot_cell.hpp
/// @brief `detail::snapshot_cell<T>`: one published `std::shared_ptr<const T>`
/// that many threads read without a lock and without touching a reference
/// count that other readers touch (the read path of `token_source`, issue 11).
///
/// Writers are rare (a refresh an hour); readers are every API call. A reader
/// keeps, per thread, its own copy of the current pointer wrapped in a holder
/// with its own control block, and hands out pointers aliasing that holder. So
/// copying and dropping what `load()` returns changes only that thread's count:
/// no cache line is written by two reading threads. Whether the copy is still
/// current is one acquire load of the cell's generation, which writers bump.
///
/// Not `std::atomic<std::shared_ptr<T>>`: libstdc++ 12 implements it with a
/// spin lock in the pointer's low bit, whose `load()` ends with a relaxed
/// unlock, a race that ThreadSanitizer reports; and every load still writes the
/// shared lock word and the shared count.
///
/// @code
/// babelbird::detail::snapshot_cell<config> cell(std::make_shared<const config>());
/// cell.store(std::make_shared<const config>(next)); // writer: rare, takes a mutex
/// std::shared_ptr<const config> now = cell.load();  // reader: usually no lock
/// @endcode
///
/// Lifetime: besides the cell and the pointers handed out, each thread that
/// read a value keeps it alive in its cache until that thread reads a newer
/// value of the same cell, reads another cell of the same `T` that shares the
/// cache slot (one of `snapshot_cell<T>::cache_slots`), calls
/// `release_thread_cache()`, or exits. A replaced value is therefore destroyed
/// by whichever of those comes last, possibly in a reading thread. The cache
/// never touches the cell itself, so a cell may be destroyed while threads
/// still cache its values (they are freed by the events above).
#pragma once

#include "babelbird/config/compiler_check.hpp"

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <utility>

namespace babelbird::inline v1 {
namespace detail {

/// Hands out the cells' cache slots round-robin (only a distribution: a slot
/// shared by two cells costs the slow path, never a wrong value).
inline std::atomic<std::size_t> snapshot_cell_counter{0};

/// A published `std::shared_ptr<const T>` (see the file comment).
///
/// Thread-safety: `store()` and `load()` may be called from any threads at
/// once. The cell is neither copyable nor movable; destroying it while another
/// thread calls one of its members is a use after free, as for any object.
///
/// Memory ordering (why `load()` returns a value that was current):
/// 1. `store()` replaces `value_` and increments `generation_` in one critical
///    section of `mutex_`; the generation only grows (64 bits do not wrap).
///    So `value_` read under `mutex_` together with `generation_ == g` is the
///    value the store that wrote `g` published (or the initial value, g = 0).
/// 2. A thread's cache entry (`slot`) is written only by that thread, in
///    `load_slow()`, from such a pair read under `mutex_`; the lock acquisition
///    synchronizes with the unlock of the `store()` that published the value,
///    so the `T` it points to is fully visible to this thread.
/// 3. The fast path returns the entry of generation `g` only when its load of
///    `generation_` reads `g`. The store that replaces the value writes `g + 1`
///    later in `generation_`'s modification order, so the value returned was
///    the current one at that load: stores take effect at their increment.
/// 4. Per thread, generations never go backwards: successive reads of one
///    atomic by one thread (the fast path's load, or the relaxed load under
///    `mutex_`) follow its modification order (read-read coherence), and that
///    order is increasing. A thread that learnt of a `store()` through any
///    happens-before edge reads its generation or a later one (write-read
///    coherence), so it never gets the replaced value after that.
/// 5. The acquire in the fast path is not needed for `T`'s contents (point 2);
///    it makes a reader that observes generation `g` also observe whatever the
///    writer did before `store()` of `g` (free on x86 and a plain `ldar` on
///    ARMv8).
/// 6. No data race: slots and their entries are touched only by their own
///    thread; `value_` only under `mutex_`; `generation_` is atomic; the
///    holder's reference count is a `std::shared_ptr` count (atomic), touched
///    by other threads only if the caller hands them a returned pointer.
template <class T>
class snapshot_cell {
public:
    /// The number of cache slots per thread for cells of this `T`.
    static constexpr std::size_t cache_slots = 8;

    /// A cell holding `initial` (may be null) at generation 0.
    explicit snapshot_cell(std::shared_ptr<const T> initial = nullptr)
        : identity_(std::make_shared<const identity>()), key_(identity_.get()),
          slot_(snapshot_cell_counter.fetch_add(1, std::memory_order_relaxed) % cache_slots),
          value_(std::move(initial)) {}

    snapshot_cell(const snapshot_cell&) = delete;
    snapshot_cell& operator=(const snapshot_cell&) = delete;

    /// Publishes `value` (may be null). Readers see it from their next
    /// `load()` on. Takes a mutex held only to swap the pointer; the previous
    /// value's reference is dropped after the mutex is released.
    void store(std::shared_ptr<const T> value) {
        {
            std::lock_guard lock(mutex_);
            value_.swap(value);
            generation_.store(generation_.load(std::memory_order_relaxed) + 1,
                              std::memory_order_release);
        }
    }

    /// The current value. Fast path (this thread already read this generation
    /// of this cell, and no other cell took the slot since): no lock, no
    /// allocation, one acquire load and a copy of a thread-private
    /// `shared_ptr`. Otherwise takes the mutex to copy the pointer and
    /// allocates the thread's new holder (one allocation).
    std::shared_ptr<const T> load() const {
        slot& s = cache::local.slots[slot_];
        if (s.key == key_ && s.generation == generation_.load(std::memory_order_acquire)) {
            return s.cached->value;
        }
        return load_slow(s);
    }

    /// The generation of the current value: 0 for the initial value, then one
    /// more per `store()`.
    std::uint64_t generation() const noexcept {
        return generation_.load(std::memory_order_acquire);
    }

    /// Drops the calling thread's cached values of every cell of this `T`
    /// (e.g. before a reader thread goes idle for long, so that replaced
    /// values and the secrets they hold are freed now). The next `load()`
    /// takes the slow path.
    static void release_thread_cache() noexcept { cache::clear(); }

private:
    /// Its address is the cell's key in the thread caches. A cache entry keeps
    /// a `weak_ptr` to it, so the allocation (made by `make_shared`, object
    /// and counts together) is not freed, and the address not reused by
    /// another cell, while an entry may still compare against it.
    struct identity {
        char unused = 0;
    };

    /// A thread's copy of a value; its control block is the thread's own.
    /// Aligned to a cache line so that two threads' holders (and the counts
    /// beside them) never share one.
    struct alignas(64) holder {
        std::shared_ptr<const T> value;
    };

    /// The cached value of one cell in one thread.
    struct entry {
        std::weak_ptr<const identity> owner; ///< keeps `slot::key` unique
        std::shared_ptr<const T> value;      ///< aliases a `holder`
    };

    /// Trivially destructible, so the thread-local table needs no guard on
    /// access and stays readable while other thread-locals are destroyed.
    struct slot {
        const void* key = nullptr;
        std::uint64_t generation = 0;
        entry* cached = nullptr;
    };

    struct cache {
        struct table {
            slot slots[cache_slots];
            /// Set at thread exit once the entries are freed: from then on
            /// `load()` returns plain copies and caches nothing.
            bool retired = false;
        };
        static inline thread_local table local{};

        /// Frees the thread's entries at thread exit.
        struct reaper {
            reaper() = default;
            reaper(const reaper&) = delete;
            reaper& operator=(const reaper&) = delete;
            ~reaper() {
                clear();
                local.retired = true;
            }
        };
        static void arm_reaper() {
            static thread_local reaper r;
            static_cast<void>(r);
        }

        static void clear() noexcept {
            for (slot& s : local.slots) {
                entry* e = s.cached;
                s = slot{};
                // After the slot is empty: a destructor that reads a cell
                // again finds a consistent table.
                delete e;
            }
        }
    };

    std::shared_ptr<const T> load_slow(slot& s) const {
        std::shared_ptr<const T> current;
        std::uint64_t generation = 0;
        {
            std::lock_guard lock(mutex_);
            current = value_;
            generation = generation_.load(std::memory_order_relaxed);
        }
        if (cache::local.retired) {
            return current;
        }
        cache::arm_reaper();
        if (s.cached == nullptr) {
            s.cached = new entry{};
        }
        auto mine = std::make_shared<holder>(holder{std::move(current)});
        const T* raw = mine->value.get();
        // The value this slot held before (another generation or another
        // cell) is released at the end of this function, once the slot is
        // consistent again: its destructor may run here.
        std::shared_ptr<const T> previous =
            std::exchange(s.cached->value, std::shared_ptr<const T>(std::move(mine), raw));
        s.cached->owner = identity_;
        s.key = key_;
        s.generation = generation;
        return s.cached->value;
    }

    std::shared_ptr<const identity> identity_;
    const void* key_;
    std::size_t slot_;
    mutable std::mutex mutex_;
    std::shared_ptr<const T> value_; // guarded by mutex_
    std::atomic<std::uint64_t> generation_{0};
};

} // namespace detail
} // namespace babelbird::inline v1
