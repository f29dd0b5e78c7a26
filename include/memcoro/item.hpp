// What retrieval and storage commands return.
#pragma once

#include <memcoro/detail/value_buffer.hpp>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <string_view>
#include <utility>

namespace memcoro {

// A value read from the server, with its client flags and CAS unique. It owns its
// bytes. The key is filled in by multi-key reads (get_many, gets_many) only.
class item {
public:
    item() = default;
    item(const item&) = default;
    item& operator=(const item&) = default;
    // A moved-from item is empty: no value, no key.
    item(item&& other) noexcept
        : value_(std::move(other.value_)),
          key_size_(std::exchange(other.key_size_, 0)),
          flags_(other.flags_),
          cas_(other.cas_) {}
    item& operator=(item&& other) noexcept {
        if (this != &other) {
            value_ = std::move(other.value_);
            key_size_ = std::exchange(other.key_size_, 0);
            flags_ = other.flags_;
            cas_ = other.cas_;
        }
        return *this;
    }
    ~item() = default;

    [[nodiscard]] std::string_view value() const noexcept {
        return {value_.data(), value_.size() - key_size_};
    }
    [[nodiscard]] std::span<const std::byte> bytes() const noexcept {
        return std::as_bytes(std::span(value_.data(), value_.size() - key_size_));
    }
    [[nodiscard]] std::uint32_t flags() const noexcept { return flags_; }
    // 0 unless the command returned one (gets, gats, gets_many).
    [[nodiscard]] std::uint64_t cas() const noexcept { return cas_; }
    [[nodiscard]] std::string_view key() const noexcept {
        return {value_.data() + (value_.size() - key_size_), key_size_};
    }

    // For the library: storage for a value of `size` bytes, filled in by the reader, and
    // the key to report with it. The key is kept after the value in the same buffer, so
    // that an item moves (four times on its way to a co_await) as one buffer.
    [[nodiscard]] char* prepare(std::size_t size, std::string_view key = {}) {
        char* bytes = value_.prepare(size + key.size());
        if (!key.empty()) std::memcpy(bytes + size, key.data(), key.size());
        key_size_ = key.size();
        return bytes;
    }
    void set_meta(std::uint32_t flags, std::uint64_t cas) noexcept {
        flags_ = flags;
        cas_ = cas;
    }

private:
    detail::value_buffer value_;  // the value, then the key
    std::size_t key_size_ = 0;
    std::uint32_t flags_ = 0;
    std::uint64_t cas_ = 0;
};

// What get_into reports about the value it appended to the caller's buffer.
struct value_info {
    std::uint32_t flags = 0;
    std::uint64_t cas = 0;  // 0: not asked for
    std::size_t size = 0;   // bytes appended
};

// A key and the value to store under it, for set_many.
struct key_value {
    std::string_view key;
    std::string_view value;
};

// The outcome of a compare-and-swap.
enum class cas_result : std::uint8_t {
    stored,     // the item was replaced
    exists,     // someone else changed it since the CAS unique was read
    not_found,  // the item is gone
};

}  // namespace memcoro
