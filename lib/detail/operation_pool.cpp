// The blocks each thread keeps (operation_pool.hpp).
#include <array>
#include <bit>
#include <cstdint>
#include <memcoro/detail/operation_pool.hpp>
#include <new>
#include <utility>

namespace memcoro::detail {
namespace {

struct free_block {
    free_block* next;
};

// 256 bytes to 8 KiB: operations, and the keys of multi-key ones (a hundred keys of a
// typical length, and their views, take about 3 KiB).
constexpr std::size_t class_count = 6;
constexpr std::size_t no_class = class_count;
// Enough for the deepest pipelines the benchmarks drive, bounded all the same.
constexpr std::uint32_t max_kept = 4096;

constexpr std::size_t class_size(std::size_t c) noexcept {
    return std::size_t{256} << c;
}

// The smallest class that holds `size` bytes: 257..512 -> 1, 513..1024 -> 2, ...
constexpr std::size_t class_of(std::size_t size) noexcept {
    if (size <= class_size(0)) return 0;
    const auto c = static_cast<std::size_t>(std::bit_width(size - 1)) - 8;
    return c < class_count ? c : no_class;
}

// This thread's blocks. Trivially destructible, so that reaching it is a plain access
// (a thread_local with a destructor is reached through a call that checks its
// construction every time); thread_end frees the blocks.
struct thread_blocks {
    std::array<free_block*, class_count> free;
    std::array<std::uint32_t, class_count> kept;
    bool end_registered;
    bool ended;  // the thread is ending: blocks freed from here on are not kept
};
constinit thread_local thread_blocks blocks{};

struct thread_end {
    thread_end() = default;
    thread_end(const thread_end&) = delete;
    thread_end& operator=(const thread_end&) = delete;
    ~thread_end() {
        blocks.ended = true;
        for (auto*& head : blocks.free) {
            while (head != nullptr) ::operator delete(std::exchange(head, head->next));
        }
    }
};

// Called when the thread keeps its first block: its blocks are freed when it ends.
[[gnu::noinline]] void free_blocks_at_thread_end() {
    thread_local thread_end at_end;
    (void)at_end;
    blocks.end_registered = true;
}

}  // namespace

void* operation_pool::allocate(std::size_t size) {
    const std::size_t c = class_of(size);
    if (c == no_class) return ::operator new(size);
    auto& b = blocks;
    if (free_block* block = b.free[c]) {
        b.free[c] = block->next;
        --b.kept[c];
        return block;
    }
    return ::operator new(class_size(c));
}

void operation_pool::deallocate(void* p, std::size_t size) noexcept {
    const std::size_t c = class_of(size);
    auto& b = blocks;
    if (c != no_class && b.kept[c] < max_kept && !b.ended) {
        if (!b.end_registered) [[unlikely]] {
            free_blocks_at_thread_end();
        }
        // The block is kept as a list node of its own: keeping it costs nothing.
        b.free[c] = ::new (p) free_block{b.free[c]};
        ++b.kept[c];
        return;
    }
    ::operator delete(p);
}

}  // namespace memcoro::detail
