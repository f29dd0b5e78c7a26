// detail::operation_pool: a freed block comes back for the next request of its size
// class, and only of its class, on the thread that freed it.
#include <doctest/doctest.h>

#include <cstddef>
#include <cstring>
#include <memcoro/detail/operation_pool.hpp>
#include <thread>
#include <utility>
#include <vector>

using memcoro::detail::operation_pool;

TEST_CASE("operation_pool: a freed block is reused for any size of its class") {
    // Each pair is the smallest and the largest size of one class.
    const std::pair<std::size_t, std::size_t> classes[] = {
        {1, 256}, {257, 512}, {513, 1024}, {1025, 2048}, {2049, 4096}, {4097, 8192}};
    for (const auto& sizes : classes) {
        const std::size_t smallest = sizes.first;
        const std::size_t largest = sizes.second;
        CAPTURE(largest);
        void* block = operation_pool::allocate(smallest);
        std::memset(block, 0xab, largest);  // the block has room for the whole class
        operation_pool::deallocate(block, smallest);
        void* again = operation_pool::allocate(largest);
        CHECK(again == block);
        operation_pool::deallocate(again, largest);
    }
}

TEST_CASE("operation_pool: classes do not share blocks") {
    void* small = operation_pool::allocate(256);
    operation_pool::deallocate(small, 256);
    // One byte more is the next class: the kept 256-byte block is too small for it.
    void* larger = operation_pool::allocate(257);
    CHECK(larger != small);
    // The 256-byte block is still kept for its own class.
    void* same = operation_pool::allocate(100);
    CHECK(same == small);
    operation_pool::deallocate(larger, 257);
    operation_pool::deallocate(same, 100);
}

TEST_CASE("operation_pool: last in, first out; sizes beyond the classes still work") {
    std::vector<void*> blocks;
    for (int i = 0; i < 4; ++i) blocks.push_back(operation_pool::allocate(300));
    for (void* b : blocks) operation_pool::deallocate(b, 300);
    for (auto it = blocks.rbegin(); it != blocks.rend(); ++it)
        CHECK(operation_pool::allocate(300) == *it);
    for (void* b : blocks) operation_pool::deallocate(b, 300);

    // Larger than the largest class: plain new and delete, still usable.
    void* big = operation_pool::allocate(8193);
    std::memset(big, 0, 8193);
    operation_pool::deallocate(big, 8193);
}

TEST_CASE("operation_pool: a block freed on another thread is kept by that thread") {
    void* block = operation_pool::allocate(300);
    void* again = nullptr;
    // The thread's blocks are freed when it ends: LeakSanitizer (the sanitize build)
    // reports them otherwise.
    std::thread other([&] {
        operation_pool::deallocate(block, 300);
        again = operation_pool::allocate(300);
        operation_pool::deallocate(again, 300);
        // Kept beyond the one it took back: still freed at the end.
        operation_pool::deallocate(operation_pool::allocate(5000), 5000);
    });
    other.join();
    CHECK(again == block);
}
