// MD5 as RFC 1321 defines it, written here rather than taken from OpenSSL: TLS (and so
// OpenSSL) is optional at build time, and ketama must work without it. It also pays per
// key: every ketama lookup hashes the key, and a key under 56 bytes is one block, which
// this code hashes straight from a stack buffer with no incremental-context bookkeeping
// (bench/README.md, "Placement", has the measured cost next to libmemcached's).
#include "md5.hpp"

#include <bit>
#include <cstring>

namespace memcoro::detail {
namespace {

struct md5_state {
    std::uint32_t a = 0x67452301;
    std::uint32_t b = 0xefcdab89;
    std::uint32_t c = 0x98badcfe;
    std::uint32_t d = 0x10325476;
};

// T[i] = floor(abs(sin(i + 1)) * 2^32) (RFC 1321 3.4).
constexpr std::uint32_t sines[64] = {
    0xd76aa478, 0xe8c7b756, 0x242070db, 0xc1bdceee, 0xf57c0faf, 0x4787c62a, 0xa8304613, 0xfd469501,
    0x698098d8, 0x8b44f7af, 0xffff5bb1, 0x895cd7be, 0x6b901122, 0xfd987193, 0xa679438e, 0x49b40821,
    0xf61e2562, 0xc040b340, 0x265e5a51, 0xe9b6c7aa, 0xd62f105d, 0x02441453, 0xd8a1e681, 0xe7d3fbc8,
    0x21e1cde6, 0xc33707d6, 0xf4d50d87, 0x455a14ed, 0xa9e3e905, 0xfcefa3f8, 0x676f02d9, 0x8d2a4c8a,
    0xfffa3942, 0x8771f681, 0x6d9d6122, 0xfde5380c, 0xa4beea44, 0x4bdecfa9, 0xf6bb4b60, 0xbebfbc70,
    0x289b7ec6, 0xeaa127fa, 0xd4ef3085, 0x04881d05, 0xd9d4d039, 0xe6db99e5, 0x1fa27cf8, 0xc4ac5665,
    0xf4292244, 0x432aff97, 0xab9423a7, 0xfc93a039, 0x655b59c3, 0x8f0ccc92, 0xffeff47d, 0x85845dd1,
    0x6fa87e4f, 0xfe2ce6e0, 0xa3014314, 0x4e0811a1, 0xf7537e82, 0xbd3af235, 0x2ad7d2bb, 0xeb86d391,
};

// Per-round rotation amounts, four per round.
constexpr int shifts[4][4] = {{7, 12, 17, 22}, {5, 9, 14, 20}, {4, 11, 16, 23}, {6, 10, 15, 21}};

std::uint32_t load_le(const unsigned char* p) noexcept {
    return std::uint32_t{p[0]} | std::uint32_t{p[1]} << 8 | std::uint32_t{p[2]} << 16 |
           std::uint32_t{p[3]} << 24;
}

void store_le(std::uint32_t v, std::uint8_t* p) noexcept {
    p[0] = static_cast<std::uint8_t>(v);
    p[1] = static_cast<std::uint8_t>(v >> 8);
    p[2] = static_cast<std::uint8_t>(v >> 16);
    p[3] = static_cast<std::uint8_t>(v >> 24);
}

// One 64-byte block. The loop over 64 steps with the round chosen by i / 16 is unrolled
// by the compiler (the round and word index are constants per step once unrolled).
void transform(md5_state& s, const unsigned char* block) noexcept {
    std::uint32_t x[16];
    for (int i = 0; i < 16; ++i) x[i] = load_le(block + 4 * i);

    std::uint32_t a = s.a, b = s.b, c = s.c, d = s.d;
#pragma GCC unroll 64
    for (int i = 0; i < 64; ++i) {
        std::uint32_t f;
        int g;
        if (i < 16) {
            f = d ^ (b & (c ^ d));  // F = (b & c) | (~b & d)
            g = i;
        } else if (i < 32) {
            f = c ^ (d & (b ^ c));  // G = (b & d) | (c & ~d)
            g = (5 * i + 1) & 15;
        } else if (i < 48) {
            f = b ^ c ^ d;  // H
            g = (3 * i + 5) & 15;
        } else {
            f = c ^ (b | ~d);  // I
            g = (7 * i) & 15;
        }
        const std::uint32_t rotated = std::rotl(a + f + sines[i] + x[g], shifts[i / 16][i % 4]);
        a = d;
        d = c;
        c = b;
        b += rotated;
    }
    s.a += a;
    s.b += b;
    s.c += c;
    s.d += d;
}

md5_state hash(std::string_view data) noexcept {
    md5_state s;
    const auto* p = reinterpret_cast<const unsigned char*>(data.data());
    std::size_t left = data.size();
    for (; left >= 64; left -= 64, p += 64) transform(s, p);

    // Padding: 0x80, zeros, then the bit length as a little-endian u64, filling one block
    // when at most 55 bytes are left, two otherwise (RFC 1321 3.1, 3.2). Only the blocks
    // used are cleared: most keys take the one-block path.
    const std::uint64_t bits = static_cast<std::uint64_t>(data.size()) * 8;
    unsigned char tail[128];
    const std::size_t tail_size = left < 56 ? 64 : 128;
    std::memset(tail, 0, tail_size);
    std::memcpy(tail, p, left);
    tail[left] = 0x80;
    for (int i = 0; i < 8; ++i) {
        tail[tail_size - 8 + i] = static_cast<unsigned char>(bits >> (8 * i));
    }
    transform(s, tail);
    if (tail_size == 128) transform(s, tail + 64);
    return s;
}

}  // namespace

md5_digest md5(std::string_view data) noexcept {
    const md5_state s = hash(data);
    md5_digest out;
    store_le(s.a, out.data());
    store_le(s.b, out.data() + 4);
    store_le(s.c, out.data() + 8);
    store_le(s.d, out.data() + 12);
    return out;
}

std::uint32_t md5_u32(std::string_view data) noexcept {
    return hash(data).a;
}

}  // namespace memcoro::detail
