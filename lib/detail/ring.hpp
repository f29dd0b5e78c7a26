// A FIFO on a power-of-two ring: no allocation once it has grown to the deepest
// pipeline seen, unlike std::deque, which allocates and frees blocks as it moves.
#pragma once

#include <cstddef>
#include <utility>
#include <vector>

namespace memcoro::detail {

template <class T>
class ring {
public:
    [[nodiscard]] bool empty() const noexcept { return size_ == 0; }
    [[nodiscard]] std::size_t size() const noexcept { return size_; }

    T& front() noexcept { return slots_[head_]; }
    T& operator[](std::size_t i) noexcept { return slots_[(head_ + i) & (slots_.size() - 1)]; }

    void push_back(T value) {
        if (size_ == slots_.size()) grow();
        slots_[(head_ + size_) & (slots_.size() - 1)] = std::move(value);
        ++size_;
    }

    void pop_front() noexcept {
        head_ = (head_ + 1) & (slots_.size() - 1);
        --size_;
    }

    void clear() noexcept {
        head_ = 0;
        size_ = 0;
    }

private:
    void grow() {
        std::vector<T> bigger(slots_.empty() ? 64 : slots_.size() * 2);
        for (std::size_t i = 0; i < size_; ++i) bigger[i] = std::move((*this)[i]);
        slots_ = std::move(bigger);
        head_ = 0;
    }

    std::vector<T> slots_;
    std::size_t head_ = 0;
    std::size_t size_ = 0;
};

}  // namespace memcoro::detail
