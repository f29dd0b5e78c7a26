// MurmurHash3 x86_32 (Austin Appleby's public-domain design): 4-byte little-endian blocks,
// a tail of 0-3 bytes, then the length and a final avalanche.
#include "murmur3.hpp"

#include <bit>
#include <cstring>

namespace memcoro::detail {
namespace {

constexpr std::uint32_t c1 = 0xcc9e2d51;
constexpr std::uint32_t c2 = 0x1b873593;

std::uint32_t scramble(std::uint32_t k) noexcept {
    return std::rotl(k * c1, 15) * c2;
}

std::uint32_t mix_block(std::uint32_t h, std::uint32_t k) noexcept {
    return std::rotl(h ^ scramble(k), 13) * 5 + 0xe6546b64;
}

std::uint32_t load_le(const unsigned char* p) noexcept {
    if constexpr (std::endian::native == std::endian::little) {
        std::uint32_t v;
        std::memcpy(&v, p, 4);
        return v;
    } else {
        return std::uint32_t{p[0]} | std::uint32_t{p[1]} << 8 | std::uint32_t{p[2]} << 16 |
               std::uint32_t{p[3]} << 24;
    }
}

}  // namespace

void murmur3_32::update(std::string_view data) noexcept {
    const auto* p = reinterpret_cast<const unsigned char*>(data.data());
    const unsigned char* end = p + data.size();
    length_ += static_cast<std::uint32_t>(data.size());
    // Finish a block started by the previous piece.
    while (pending_size_ != 0 && p != end) {
        pending_ |= std::uint32_t{*p++} << (8 * pending_size_);
        if (++pending_size_ == 4) {
            h_ = mix_block(h_, pending_);
            pending_ = 0;
            pending_size_ = 0;
        }
    }
    for (; end - p >= 4; p += 4) h_ = mix_block(h_, load_le(p));
    for (; p != end; ++p) pending_ |= std::uint32_t{*p} << (8 * pending_size_++);
}

std::uint32_t murmur3_32::finish() const noexcept {
    std::uint32_t h = h_;
    if (pending_size_ != 0) h ^= scramble(pending_);
    h ^= length_;
    h ^= h >> 16;
    h *= 0x85ebca6b;
    h ^= h >> 13;
    h *= 0xc2b2ae35;
    h ^= h >> 16;
    return h;
}

std::uint32_t murmur3(std::string_view data, std::uint32_t seed) noexcept {
    murmur3_32 m(seed);
    m.update(data);
    return m.finish();
}

}  // namespace memcoro::detail
