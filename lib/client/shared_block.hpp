// A shared object and arrays sized at run time in one allocation: the parent of a call
// fanned out over a tier keeps tables per key (fanout.hpp). In one block with the
// object (its tables per child inline), the parent of S9's get_many costs one
// allocation where the object and its vectors cost eleven.
#pragma once

#include <cstddef>
#include <memory>
#include <new>
#include <utility>

namespace memcoro::detail {

// Where the extra bytes of a block are, for the object's constructor: allocate_shared
// allocates the block before it constructs the object in it.
struct block_tail {
    std::byte* const* at;
    [[nodiscard]] std::byte* get() const noexcept { return *at; }
};

// allocate_shared's allocator: `extra` bytes after what it is asked for, aligned as
// std::max_align_t; their address goes to `*tail`.
template <class T>
struct tail_allocator {
    using value_type = T;

    tail_allocator(std::size_t extra_bytes, std::byte** tail_at) noexcept
        : extra(extra_bytes), tail(tail_at) {}
    template <class U>
    tail_allocator(const tail_allocator<U>& o) noexcept : extra(o.extra), tail(o.tail) {}

    T* allocate(std::size_t n) {
        constexpr std::size_t align = alignof(std::max_align_t);
        static_assert(alignof(T) <= align);
        const std::size_t head = (n * sizeof(T) + align - 1) / align * align;
        auto* block = static_cast<std::byte*>(::operator new(head + extra));
        *tail = block + head;
        return reinterpret_cast<T*>(block);
    }
    void deallocate(T* p, std::size_t) noexcept { ::operator delete(static_cast<void*>(p)); }

    template <class U>
    bool operator==(const tail_allocator<U>& o) const noexcept {
        return extra == o.extra && tail == o.tail;
    }

    std::size_t extra;
    std::byte** tail;
};

// A T whose constructor takes a block_tail (the address of `extra` bytes, aligned as
// std::max_align_t, that live and die with it) and then `args`.
template <class T, class... Args>
std::shared_ptr<T> make_shared_with_tail(std::size_t extra, Args&&... args) {
    std::byte* tail = nullptr;
    return std::allocate_shared<T>(tail_allocator<T>(extra, &tail), block_tail{&tail},
                                   std::forward<Args>(args)...);
}

}  // namespace memcoro::detail
