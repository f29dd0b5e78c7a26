// detail::operation_pool: a freed block comes back for the next request of its size
// class, and only of its class.
#include <memcoro/detail/operation_pool.hpp>

#include <doctest/doctest.h>

#include <cstddef>
#include <cstring>
#include <utility>
#include <vector>

using memcoro::detail::operation_pool;

TEST_CASE("operation_pool: a freed block is reused for any size of its class") {
    operation_pool pool;
    // Each pair is the smallest and the largest size of one class.
    const std::pair<std::size_t, std::size_t> classes[] = {
        {1, 256}, {257, 512}, {513, 1024}, {1025, 2048}, {2049, 4096}, {4097, 8192}};
    for (const auto& sizes : classes) {
        const std::size_t smallest = sizes.first;
        const std::size_t largest = sizes.second;
        CAPTURE(largest);
        void* block = pool.allocate(smallest);
        std::memset(block, 0xab, largest);  // the block has room for the whole class
        pool.deallocate(block, smallest);
        void* again = pool.allocate(largest);
        CHECK(again == block);
        pool.deallocate(again, largest);
    }
}

TEST_CASE("operation_pool: classes do not share blocks") {
    operation_pool pool;
    void* small = pool.allocate(256);
    pool.deallocate(small, 256);
    // One byte more is the next class: the kept 256-byte block is too small for it.
    void* larger = pool.allocate(257);
    CHECK(larger != small);
    // The 256-byte block is still kept for its own class.
    void* same = pool.allocate(100);
    CHECK(same == small);
    pool.deallocate(larger, 257);
    pool.deallocate(same, 100);
}

TEST_CASE("operation_pool: last in, first out; sizes beyond the classes still work") {
    operation_pool pool;
    std::vector<void*> blocks;
    for (int i = 0; i < 4; ++i) blocks.push_back(pool.allocate(300));
    for (void* b : blocks) pool.deallocate(b, 300);
    for (auto it = blocks.rbegin(); it != blocks.rend(); ++it) CHECK(pool.allocate(300) == *it);
    for (void* b : blocks) pool.deallocate(b, 300);

    // Larger than the largest class: plain new and delete, still usable.
    void* big = pool.allocate(8193);
    std::memset(big, 0, 8193);
    pool.deallocate(big, 8193);
}
