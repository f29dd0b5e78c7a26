// Small helpers to build meta request flags without allocating.
#pragma once

#include <memcoro/protocol/encoder.hpp>

#include <charconv>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

namespace memcoro::detail {

// Up to eight flags, with room for the numeric tokens they carry.
class meta_flags {
public:
    void add(char name) noexcept { flags_[count_++] = {name, {}}; }

    template <class Number>
    void add(char name, Number value) noexcept {
        char* begin = numbers_ + used_;
        char* end = std::to_chars(begin, numbers_ + sizeof(numbers_), value).ptr;
        used_ += static_cast<std::size_t>(end - begin);
        flags_[count_++] = {name, std::string_view(begin, static_cast<std::size_t>(end - begin))};
    }

    void add(char name, std::string_view token) noexcept { flags_[count_++] = {name, token}; }

    [[nodiscard]] std::span<const protocol::meta_flag> view() const noexcept {
        return {flags_, count_};
    }

private:
    protocol::meta_flag flags_[8];
    std::size_t count_ = 0;
    char numbers_[8 * 21];  // u64 and i64 need at most 20 characters
    std::size_t used_ = 0;
};

}  // namespace memcoro::detail
