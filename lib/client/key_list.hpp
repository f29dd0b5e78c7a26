// Keys of a multi-key operation, copied out of the caller's span into one buffer: the
// caller's may be gone before the replies come (after a cancellation), and the replies
// are still checked against them.
#pragma once

#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace memcoro::detail {

class key_list {
  public:
    explicit key_list(std::span<const std::string_view> keys) {
        std::size_t total = 0;
        for (const auto k : keys) total += k.size();
        bytes_.reserve(total);  // the views below point into it: it must not move
        views_.reserve(keys.size());
        for (const auto k : keys) {
            views_.emplace_back(bytes_.data() + bytes_.size(), k.size());
            bytes_.append(k);
        }
    }
    key_list(const key_list&) = delete;
    key_list& operator=(const key_list&) = delete;

    [[nodiscard]] std::span<const std::string_view> views() const noexcept { return views_; }
    [[nodiscard]] std::size_t size() const noexcept { return views_.size(); }
    [[nodiscard]] std::string_view operator[](std::size_t i) const noexcept { return views_[i]; }

  private:
    std::string bytes_;
    std::vector<std::string_view> views_;
};

}  // namespace memcoro::detail
