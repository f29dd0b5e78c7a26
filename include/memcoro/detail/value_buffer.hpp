// Owned bytes of a value, kept inline when small so that a typical cached value
// (tens to a hundred bytes) costs no allocation of its own.
//
// boost::container::small_vector<char, 128> does the same, and was measured in its
// place (bench/README.md, "Library containers"): 175 more instructions per get at S2
// (3,101 against 2,926, +6%) and 620 more per 100 KB get at S6, from its moves of
// inline bytes (an item moves several times on its way to the caller) and from
// resize. Hence this class: one memcpy per move, and `prepare` keeps no old bytes.
#pragma once

#include <cstddef>
#include <cstring>
#include <memory>
#include <string_view>

namespace memcoro::detail {

class value_buffer {
public:
    static constexpr std::size_t inline_capacity = 128;

    value_buffer() noexcept = default;
    value_buffer(const value_buffer& other) { std::memcpy(prepare(other.size_), other.data(), other.size_); }
    value_buffer& operator=(const value_buffer& other) {
        if (this != &other) std::memcpy(prepare(other.size_), other.data(), other.size_);
        return *this;
    }
    value_buffer(value_buffer&& other) noexcept { take(other); }
    value_buffer& operator=(value_buffer&& other) noexcept {
        if (this != &other) take(other);
        return *this;
    }
    ~value_buffer() = default;

    // Makes room for exactly `size` bytes (contents unspecified) and returns it.
    char* prepare(std::size_t size) {
        if (size > inline_capacity && size > heap_capacity_) {
            heap_ = std::make_unique_for_overwrite<char[]>(size);
            heap_capacity_ = size;
        }
        size_ = size;
        return data_mutable();
    }

    [[nodiscard]] const char* data() const noexcept {
        return size_ > inline_capacity ? heap_.get() : inline_;
    }
    [[nodiscard]] std::size_t size() const noexcept { return size_; }
    [[nodiscard]] std::string_view view() const noexcept { return {data(), size_}; }

private:
    char* data_mutable() noexcept { return size_ > inline_capacity ? heap_.get() : inline_; }

    void take(value_buffer& other) noexcept {
        size_ = other.size_;
        if (size_ > inline_capacity) {
            heap_ = std::move(other.heap_);
            heap_capacity_ = other.heap_capacity_;
            other.heap_capacity_ = 0;
        } else {
            std::memcpy(inline_, other.inline_, size_);
        }
        other.size_ = 0;
    }

    std::unique_ptr<char[]> heap_;
    std::size_t heap_capacity_ = 0;
    std::size_t size_ = 0;
    char inline_[inline_capacity];
};

}  // namespace memcoro::detail
