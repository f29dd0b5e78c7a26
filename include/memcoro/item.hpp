// What retrieval and storage commands return.
#pragma once

#include <memcoro/detail/value_buffer.hpp>

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace memcoro {

// A value read from the server, with its client flags and CAS unique. It owns its
// bytes. The key is filled in by multi-key reads (get_many, gets_many) only.
class item {
public:
    item() = default;

    [[nodiscard]] std::string_view value() const noexcept { return value_.view(); }
    [[nodiscard]] std::span<const std::byte> bytes() const noexcept {
        return std::as_bytes(std::span(value_.data(), value_.size()));
    }
    [[nodiscard]] std::uint32_t flags() const noexcept { return flags_; }
    // 0 unless the command returned one (gets, gats, gets_many).
    [[nodiscard]] std::uint64_t cas() const noexcept { return cas_; }
    [[nodiscard]] std::string_view key() const noexcept { return key_; }

    // For the library: storage for a value of `size` bytes, filled in by the reader.
    [[nodiscard]] char* prepare(std::size_t size) { return value_.prepare(size); }
    void set_meta(std::uint32_t flags, std::uint64_t cas) noexcept {
        flags_ = flags;
        cas_ = cas;
    }
    void set_key(std::string_view key) { key_.assign(key); }

private:
    detail::value_buffer value_;
    std::string key_;
    std::uint32_t flags_ = 0;
    std::uint64_t cas_ = 0;
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
