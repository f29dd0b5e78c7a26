// MurmurHash3 x86 32-bit, pymemcache's rendezvous score (protocol.md 7).
#pragma once

#include <cstdint>
#include <string_view>

namespace memcoro::detail {

// The hash fed in pieces, so that the part every key shares (a node's "host:port-") is
// hashed once and each lookup resumes from there. Hashing "ab" then "c" equals "abc".
class murmur3_32 {
  public:
    explicit murmur3_32(std::uint32_t seed = 0) noexcept : h_(seed) {}

    void update(std::string_view data) noexcept;
    [[nodiscard]] std::uint32_t finish() const noexcept;

  private:
    std::uint32_t h_;
    std::uint32_t length_ = 0;   // bytes fed so far (the hash mixes in length mod 2^32)
    std::uint32_t pending_ = 0;  // the bytes of an unfinished block, little-endian
    std::uint32_t pending_size_ = 0;
};

[[nodiscard]] std::uint32_t murmur3(std::string_view data, std::uint32_t seed = 0) noexcept;

}  // namespace memcoro::detail
