// Recycled memory for operations and the keys of multi-key ones: one block is allocated
// per call, and at high concurrency the allocator's thread-local caches (glibc's: seven
// blocks of a size) are of no help, so the blocks of finished operations are kept for
// the next ones.
//
// They are kept per thread, with no lock: threads that share a client take and return
// blocks without waiting on each other or passing a lock's cache line back and forth
// (bench/README.md, S11). A block freed on another thread than the one that took it
// joins the freeing thread's blocks. A thread's blocks are freed when it ends.
#pragma once

#include <cstddef>

namespace memcoro::detail {

struct operation_pool {
    // A block of at least `size` bytes, aligned for any operation.
    static void* allocate(std::size_t size);
    // Gives back a block that allocate(size) returned, from any thread.
    static void deallocate(void* p, std::size_t size) noexcept;
};

}  // namespace memcoro::detail
