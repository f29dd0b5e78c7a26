// Keys of a multi-key operation, copied out of the caller's span: the caller's may be
// gone before the replies come (after a cancellation), and the replies are still
// checked against them. The views and the bytes they point to share one block from the
// operation pool, so a batch of the same size as the last costs no
// allocation of its own.
#pragma once

#include <memcoro/detail/operation_pool.hpp>

#include <cstddef>
#include <cstring>
#include <new>
#include <span>
#include <string_view>

namespace memcoro::detail {

class key_list {
  public:
    explicit key_list(std::span<const std::string_view> keys) : count_(keys.size()) {
        std::size_t total = 0;
        for (const auto k : keys) total += k.size();
        block_size_ = count_ * sizeof(std::string_view) + total;
        block_ = operation_pool::allocate(block_size_);
        views_ = static_cast<std::string_view*>(block_);
        char* at = reinterpret_cast<char*>(views_ + count_);
        for (std::size_t i = 0; i < count_; ++i) {
            const auto k = keys[i];
            if (!k.empty()) std::memcpy(at, k.data(), k.size());
            ::new (static_cast<void*>(views_ + i)) std::string_view(at, k.size());
            at += k.size();
        }
    }
    ~key_list() { operation_pool::deallocate(block_, block_size_); }
    key_list(const key_list&) = delete;
    key_list& operator=(const key_list&) = delete;

    [[nodiscard]] std::span<const std::string_view> views() const noexcept {
        return {views_, count_};
    }
    [[nodiscard]] std::size_t size() const noexcept { return count_; }
    [[nodiscard]] std::string_view operator[](std::size_t i) const noexcept { return views_[i]; }

  private:
    std::size_t count_;
    std::size_t block_size_ = 0;
    void* block_ = nullptr;
    std::string_view* views_ = nullptr;
};

}  // namespace memcoro::detail
