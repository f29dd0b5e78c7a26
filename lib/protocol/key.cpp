// Key validation (protocol.md 1.2).
#include <memcoro/protocol/key.hpp>

#include <memcoro/error.hpp>

#include <cstdint>
#include <cstring>

namespace memcoro::protocol {
namespace {

// The server checks only the length. Everything at or below 0x20 (space, CR, LF and the
// other controls) breaks framing or is unreadable by other clients, and so is DEL (0x7F).
// Bytes >= 0x80 are stored fine, but only some users want them, so they are opt-in.
//
// Every key is checked on every call, and most keys are 10 to 40 bytes, too short for
// the compiler's vectorized loop to start: the byte loop cost about 120 instructions
// for a 13-byte key, an eighth of what a multi-get spends per key. So eight bytes are
// checked at a time, in a 64-bit word (about 90 instructions with the call).
constexpr std::uint64_t ones = 0x0101010101010101;
constexpr std::uint64_t high_bits = ones * 0x80;

// The high bit of each byte of `w` that is allowed. The low seven bits of a byte, plus
// 0x5F, reach 0x80 from 0x21 up; plus 0x01, from 0x7F up. Neither sum carries into the
// next byte. A byte with its own high bit set passes only with `allow_high`.
constexpr std::uint64_t allowed_bytes(std::uint64_t w, bool allow_high) noexcept {
    const std::uint64_t high = w & high_bits;
    const std::uint64_t low7 = w & ~high_bits;
    const std::uint64_t from_0x21 = (low7 + ones * 0x5F) & high_bits;
    const std::uint64_t from_0x7f = (low7 + ones * 0x01) & high_bits;
    const std::uint64_t printable = from_0x21 & ~from_0x7f & ~high;
    return allow_high ? printable | high : printable;
}

std::uint64_t load8(const char* p) noexcept {
    std::uint64_t w;
    std::memcpy(&w, p, sizeof w);
    return w;
}

std::uint64_t load4(const char* p) noexcept {
    std::uint32_t w;
    std::memcpy(&w, p, sizeof w);
    return w;
}

// `s` packed into 64-bit words; every byte of `s` is in one of them, some in two.
[[gnu::always_inline]] inline bool bytes_allowed(std::string_view s, bool allow_high) noexcept {
    const char* p = s.data();
    const std::size_t n = s.size();
    if (n >= 8) {
        std::uint64_t all = high_bits;
        for (std::size_t i = 0; i + 8 < n; i += 8) all &= allowed_bytes(load8(p + i), allow_high);
        // The last eight bytes, overlapping the word before when n is not a multiple of 8.
        return (all & allowed_bytes(load8(p + n - 8), allow_high)) == high_bits;
    }
    std::uint64_t w;
    if (n >= 4) {
        // The first four and the last four bytes, overlapping when n < 8.
        w = load4(p) | load4(p + n - 4) << 32;
    } else if (n > 0) {
        // Bytes 0, n/2 and n-1 are every byte of a 1- to 3-byte string; the other five
        // bytes of the word are 'a', which passes.
        const auto at = [p](std::size_t i) -> std::uint64_t {
            return static_cast<unsigned char>(p[i]);
        };
        w = (ones * 'a') << 24 | at(0) | at(n / 2) << 8 | at(n - 1) << 16;
    } else {
        return true;
    }
    return allowed_bytes(w, allow_high) == high_bits;
}

static_assert(allowed_bytes(ones * 0x21, false) == high_bits);
static_assert(allowed_bytes(ones * 0x7E, false) == high_bits);
static_assert(allowed_bytes(ones * 0x20, true) == 0);
static_assert(allowed_bytes(ones * 0x7F, true) == 0);
static_assert(allowed_bytes(ones * 0x80, false) == 0);
static_assert(allowed_bytes(ones * 0xFF, true) == high_bits);

}  // namespace

boost::system::error_code validate_key(std::string_view prefix, std::string_view key,
                                       key_rules rules) noexcept {
    // An empty key with a prefix would address the bare prefix: never what the caller meant.
    if (key.empty() || prefix.size() + key.size() > max_key_length) {
        return error::invalid_key;
    }
    if (!bytes_allowed(prefix, rules.allow_high_bytes) ||
        !bytes_allowed(key, rules.allow_high_bytes)) {
        return error::invalid_key;
    }
    return {};
}

boost::system::error_code validate_binary_key(std::string_view prefix,
                                              std::string_view key) noexcept {
    if (key.empty() || prefix.size() + key.size() > max_binary_key_length) {
        return error::invalid_key;
    }
    return {};
}

}  // namespace memcoro::protocol
