// MD5 as RFC 1321 defines it, written here rather than taken from OpenSSL: TLS (and so
// OpenSSL) is optional at build time, and ketama must work without it. It also pays per
// key: every ketama lookup hashes the key, and a key under 56 bytes is one block, which
// this code hashes straight from a stack buffer with no incremental-context bookkeeping
// (bench/README.md, "Placement", has the measured cost next to libmemcached's).
#include "md5.hpp"

#include <cstddef>
#include <cstring>

namespace memcoro::detail {
namespace {

// The four state words, one key's (std::uint32_t) or one per SIMD lane (lanes, below).
template <class Word>
struct md5_state {
    // Word{} + constant: a vector plus a scalar sets every lane (GCC/Clang vector
    // extensions), so the one expression serves both.
    Word a = Word{} + 0x67452301;
    Word b = Word{} + 0xefcdab89;
    Word c = Word{} + 0x98badcfe;
    Word d = Word{} + 0x10325476;
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

// One 64-byte block, its sixteen words already loaded. The loop over 64 steps with the
// round chosen by i / 16 is unrolled by the compiler (the round and word index are
// constants per step once unrolled).
//
// Always inlined: the lanes' copy then takes the instruction set of the function it is
// inlined into (md5_u32_many's, below).
template <class Word>
[[gnu::always_inline]] inline void compress(md5_state<Word>& s, const Word* x) noexcept {
    Word a = s.a, b = s.b, c = s.c, d = s.d;
#pragma GCC unroll 64
    for (int i = 0; i < 64; ++i) {
        Word f;
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
        // The rotation written out rather than std::rotl, which takes no vector (nor can a
        // helper return one: g++ warns that a 32-byte vector's ABI differs without AVX).
        // For a scalar g++ and clang make it one rotate instruction.
        const Word sum = a + f + sines[i] + x[g];
        const int r = shifts[i / 16][i % 4];
        a = d;
        d = c;
        c = b;
        b += (sum << r) | (sum >> (32 - r));
    }
    s.a += a;
    s.b += b;
    s.c += c;
    s.d += d;
}

void transform(md5_state<std::uint32_t>& s, const unsigned char* block) noexcept {
    std::uint32_t x[16];
    for (int i = 0; i < 16; ++i) x[i] = load_le(block + 4 * i);
    compress(s, x);
}

md5_state<std::uint32_t> hash(std::string_view data) noexcept {
    md5_state<std::uint32_t> s;
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

// md5_u32_many: several keys hashed at once, one per SIMD lane. Why: MD5 is most of a
// ketama lookup (about 580 of its 840 instructions per key), and ketama was 37% of the
// client's CPU in S9's get_many over a tier, where each call places about 100 keys. One
// MD5 is a chain of 64 dependent steps, so hashed one at a time it leaves the core
// mostly idle. Measured (callgrind; ns on the 2-vCPU VM; keys of 10 to 40 bytes): one at
// a time 676 instructions and 110 ns per key; 4 lanes 307 and 58 ns; 8 lanes 337 (some
// spills: SSE2 has 16 registers, and each 8-lane value takes two) but 46 ns, as two
// independent 4-lane chains run side by side. 8 it is for the baseline. bench/README.md,
// "Placement", has the lookups.
//
// In GCC/Clang vector extensions rather than intrinsics: the compiler splits 8 lanes into
// two SSE2 operations on x86-64's baseline, into NEON on AArch64, and into plain scalar
// code elsewhere. On x86-64 the same code is also compiled for AVX2 (16 lanes, two
// registers of 8) and for AVX-512VL (8 lanes, with a rotate and three-input logic in one
// instruction each), and the best one the CPU has is chosen once (md5_u32_many).
typedef std::uint32_t lanes8 __attribute__((vector_size(32)));
typedef std::uint32_t lanes16 __attribute__((vector_size(64)));

// Up to lane_count keys that pad into `Blocks` blocks each, each key's padded message in
// its lane of the words. One group per block count, so that a short key never waits out
// a long one's second block; and two-block keys (56 to 119 bytes) get lanes too: with
// placement_bench's keys of 1 to 64 bytes, the 14% of two blocks took 180 of the 461
// instructions per key on the scalar path, and 388 in all once they had their own group.
// Longer keys, rare, stay scalar.
template <class Lanes, std::size_t Blocks>
class lane_group {
  public:
    static constexpr std::size_t lane_count = sizeof(Lanes) / sizeof(std::uint32_t);

    // The longest key that pads into `Blocks` blocks (RFC 1321 3.1: the key, 0x80, and
    // the 8-byte length).
    static constexpr std::size_t max_size = 64 * Blocks - 9;

    // `out` receives the key's md5_u32 once the group is full, or at finish().
    [[gnu::always_inline]] void add(std::string_view key, std::uint32_t* out) noexcept {
        const auto* p = reinterpret_cast<const unsigned char*>(key.data());
        const std::size_t n = key.size();
        const std::size_t lane = used_++;
        std::size_t w = 0;
        for (; 4 * w + 4 <= n; ++w) x_[w][lane] = load_le(p + 4 * w);
        // The key's last 0 to 3 bytes, then the padding's 0x80.
        std::uint32_t last = 0x80U << (8 * (n % 4));
        for (std::size_t i = 4 * w; i < n; ++i) last |= std::uint32_t{p[i]} << (8 * (i % 4));
        x_[w][lane] = last;
        // The length in bits: under 2^32, so the last word stays 0.
        x_[16 * Blocks - 2][lane] = static_cast<std::uint32_t>(n * 8);
        out_[lane] = out;
        if (used_ == lane_count) finish();
    }

    // Hashes the keys added (the unused lanes hash zeros, thrown away), and empties the
    // group.
    [[gnu::always_inline]] void finish() noexcept {
        if (used_ == 0) return;
        md5_state<Lanes> s;
        for (std::size_t block = 0; block < Blocks; ++block) compress(s, x_ + 16 * block);
        for (std::size_t lane = 0; lane < used_; ++lane) *out_[lane] = s.a[lane];
        used_ = 0;
        for (auto& word : x_) word = Lanes{};
    }

  private:
    Lanes x_[16 * Blocks] = {};  // the words no key byte reaches stay 0: the padding's zeros
    std::uint32_t* out_[lane_count] = {};
    std::size_t used_ = 0;
};

// The keys in groups of lanes by the number of blocks they pad into; compiled once per
// instruction set (below), all of it inlined into each.
template <class Lanes>
[[gnu::always_inline]] inline void hash_in_lanes(std::span<const std::string_view> keys,
                                                 std::span<std::uint32_t> out) noexcept {
    lane_group<Lanes, 1> one;
    lane_group<Lanes, 2> two;
    for (std::size_t i = 0; i < keys.size(); ++i) {
        const std::size_t n = keys[i].size();
        if (n <= one.max_size) {
            one.add(keys[i], &out[i]);
        } else if (n <= two.max_size) {
            two.add(keys[i], &out[i]);
        } else {
            out[i] = hash(keys[i]).a;
        }
    }
    one.finish();
    two.finish();
}

using hash_many_fn = void (*)(std::span<const std::string_view>, std::span<std::uint32_t>) noexcept;

void hash_in_lanes_baseline(std::span<const std::string_view> keys,
                            std::span<std::uint32_t> out) noexcept {
    hash_in_lanes<lanes8>(keys, out);
}

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
// Measured on this machine (keys of 10 to 40 bytes, 100 per call; bench/README.md,
// "Placement", "MD5 in AVX2 and AVX-512 lanes"): the baseline's two SSE2 chains of 4
// lanes took 39-40 ns per key. AVX2 with 8 lanes in one register, a single chain, took
// about as long (37-44); with 16 lanes, two chains side by side, 32-34.
[[gnu::target("avx2")]] void hash_in_lanes_avx2(std::span<const std::string_view> keys,
                                                std::span<std::uint32_t> out) noexcept {
    hash_in_lanes<lanes16>(keys, out);
}

[[gnu::target("avx2,avx512f,avx512vl")]] void hash_in_lanes_avx512(
    std::span<const std::string_view> keys, std::span<std::uint32_t> out) noexcept {
    // AVX-512VL's rotate and three-input logic shorten each step's chain: 8 lanes took
    // 30-35 ns per key. 16 lanes, in 512-bit registers, took 27-29, but code that uses
    // those lowers some cores' clock for everything else running on them.
    hash_in_lanes<lanes8>(keys, out);
}

// The variant for `isa`, or nullptr when this CPU lacks it.
hash_many_fn hash_many_for(md5_lanes_isa isa) noexcept {
    __builtin_cpu_init();
    switch (isa) {
        case md5_lanes_isa::baseline:
            return hash_in_lanes_baseline;
        case md5_lanes_isa::avx2:
            return __builtin_cpu_supports("avx2") ? hash_in_lanes_avx2 : nullptr;
        case md5_lanes_isa::avx512:
            return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl")
                       ? hash_in_lanes_avx512
                       : nullptr;
    }
    return nullptr;
}
#else
hash_many_fn hash_many_for(md5_lanes_isa isa) noexcept {
    return isa == md5_lanes_isa::baseline ? hash_in_lanes_baseline : nullptr;
}
#endif

hash_many_fn best_hash_many() noexcept {
    for (const auto isa : {md5_lanes_isa::avx512, md5_lanes_isa::avx2}) {
        if (const auto fn = hash_many_for(isa)) return fn;
    }
    return hash_in_lanes_baseline;
}

}  // namespace

md5_digest md5(std::string_view data) noexcept {
    const auto s = hash(data);
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

void md5_u32_many(std::span<const std::string_view> keys, std::span<std::uint32_t> out) noexcept {
    static const hash_many_fn best = best_hash_many();
    best(keys, out);
}

bool md5_u32_many_using(md5_lanes_isa isa, std::span<const std::string_view> keys,
                        std::span<std::uint32_t> out) noexcept {
    const auto fn = hash_many_for(isa);
    if (fn == nullptr) return false;
    fn(keys, out);
    return true;
}

}  // namespace memcoro::detail
