// The number an `ma ... v` returns: a VA body of decimal digits, which may arrive in
// pieces. Shared by incr/decr in their meta form and by meta_arithmetic.
#pragma once

#include <charconv>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string_view>

namespace memcoro::detail {

class va_number {
  public:
    void clear() noexcept {
        size_ = 0;
        overflow_ = false;
    }
    // Appends a piece of the body; more than a u64's 20 digits mark it as no number.
    void append(std::string_view bytes) noexcept {
        if (bytes.size() > sizeof(digits_) - size_) {
            overflow_ = true;
        } else if (!bytes.empty()) {
            std::memcpy(digits_ + size_, bytes.data(), bytes.size());
            size_ += bytes.size();
        }
    }
    // The whole body as a u64, or nullopt when it is not one.
    [[nodiscard]] std::optional<std::uint64_t> value() const noexcept {
        std::uint64_t v = 0;
        const auto [end, ec] = std::from_chars(digits_, digits_ + size_, v);
        if (overflow_ || ec != std::errc{} || end != digits_ + size_) return std::nullopt;
        return v;
    }

  private:
    char digits_[20];  // the longest u64
    std::size_t size_ = 0;
    bool overflow_ = false;
};

}  // namespace memcoro::detail
