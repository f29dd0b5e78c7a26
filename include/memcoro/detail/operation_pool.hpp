// Recycled memory for operations and the keys of multi-key ones: one is allocated per
// call, and at high concurrency the allocator's thread-local caches (two blocks deep)
// are of no help, so a connection keeps the blocks of finished operations for the next.
#pragma once

#include <bit>
#include <cstddef>
#include <mutex>
#include <new>
#include <utility>

namespace memcoro::detail {

class operation_pool {
public:
    operation_pool() = default;
    operation_pool(const operation_pool&) = delete;
    operation_pool& operator=(const operation_pool&) = delete;
    ~operation_pool() {
        for (auto* head : free_) {
            while (head != nullptr) ::operator delete(std::exchange(head, head->next));
        }
    }

    // Operations start on the caller's thread and may end on another.
    void* allocate(std::size_t size) {
        const std::size_t c = class_of(size);
        if (c == no_class) return ::operator new(size);
        {
            std::lock_guard lock(mutex_);
            if (free_block* block = free_[c]) {
                free_[c] = block->next;
                --kept_[c];
                return block;
            }
        }
        return ::operator new(class_size(c));
    }

    void deallocate(void* p, std::size_t size) noexcept {
        const std::size_t c = class_of(size);
        if (c != no_class) {
            std::lock_guard lock(mutex_);
            if (kept_[c] < max_kept) {
                // The block is kept as a list node of its own: keeping it costs nothing.
                free_[c] = ::new (p) free_block{free_[c]};
                ++kept_[c];
                return;
            }
        }
        ::operator delete(p);
    }

private:
    struct free_block {
        free_block* next;
    };

    // 256 bytes to 8 KiB: operations, and the keys of multi-key ones (a hundred keys
    // of a typical length, and their views, take about 3 KiB).
    static constexpr std::size_t class_count = 6;
    static constexpr std::size_t no_class = class_count;
    // Enough for the deepest pipelines the benchmarks drive, bounded all the same.
    static constexpr std::size_t max_kept = 4096;

    static std::size_t class_size(std::size_t c) noexcept { return std::size_t{256} << c; }
    // The smallest class that holds `size` bytes: 257..512 -> 1, 513..1024 -> 2, ...
    static std::size_t class_of(std::size_t size) noexcept {
        if (size <= class_size(0)) return 0;
        const auto c = static_cast<std::size_t>(std::bit_width(size - 1)) - 8;
        return c < class_count ? c : no_class;
    }

    std::mutex mutex_;
    free_block* free_[class_count] = {};
    std::size_t kept_[class_count] = {};
};

}  // namespace memcoro::detail
