// MD5 (RFC 1321), for ketama's continuum and key hash (protocol.md 6.1).
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string_view>

namespace memcoro::detail {

using md5_digest = std::array<std::uint8_t, 16>;

[[nodiscard]] md5_digest md5(std::string_view data) noexcept;

// The first four bytes of MD5(data) as a little-endian u32: ketama's key hash, and
// libmemcached's memcached_generate_hash_value(..., MEMCACHED_HASH_MD5).
[[nodiscard]] std::uint32_t md5_u32(std::string_view data) noexcept;

// md5_u32 of each of `keys` into the same position of `out` (as long as `keys`), several
// keys at once in SIMD lanes: for multi-key calls (md5.cpp says what it saves).
// It uses the widest of these instruction sets that the CPU has.
void md5_u32_many(std::span<const std::string_view> keys, std::span<std::uint32_t> out) noexcept;

// The instruction sets md5_u32_many is compiled for (x86-64: all three; elsewhere only
// the baseline), and md5_u32_many with one of them, for the tests to check each: false,
// with nothing written, when it is not compiled in or this CPU lacks it.
enum class md5_lanes_isa { baseline, avx2, avx512 };
[[nodiscard]] bool md5_u32_many_using(md5_lanes_isa isa, std::span<const std::string_view> keys,
                                      std::span<std::uint32_t> out) noexcept;

}  // namespace memcoro::detail
