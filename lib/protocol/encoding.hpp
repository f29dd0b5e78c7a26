// What the encoder's source files share: the limits of the wire, small helpers, and
// the line builder. Private to lib/protocol.
#pragma once

#include <charconv>
#include <cstdint>
#include <cstring>
#include <limits>
#include <memcoro/error.hpp>
#include <memcoro/protocol/encoder.hpp>
#include <string_view>
#include <utility>

namespace memcoro::protocol {
namespace encoding {

constexpr std::string_view crlf = "\r\n";

// When more than 2048 bytes of a line have arrived without its '\n', memcached closes the
// connection unless the line starts with "get " or "gets " (protocol.md 1.1; on 1.6.18 a
// gat line whose first 2049 bytes came in one read was dropped). A line of at most 2048
// bytes, CRLF included, can never reach that point, however TCP splits it.
constexpr std::size_t max_line = 2048;

// Command, key (and datalen for ms) and flags must fit in 19 tokens (protocol.md 3.1).
constexpr std::size_t max_meta_flags = 17;
constexpr std::size_t max_meta_set_flags = 16;

// The opaque token, its 'O' included, may be 32 bytes (protocol.md 3.1).
constexpr std::size_t max_opaque = 31;

// exptime, TTLs and the flush_all delay are parsed as signed 32-bit numbers (protocol.md 1.3).
inline bool fits_int32(std::int64_t v) noexcept {
    return v >= std::numeric_limits<std::int32_t>::min() &&
           v <= std::numeric_limits<std::int32_t>::max();
}

inline bool printable(char ch) noexcept {
    const auto b = static_cast<unsigned char>(ch);
    return b >= 0x21 && b <= 0x7E;
}

inline bool printable(std::string_view s) noexcept {
    for (const char ch : s) {
        if (!printable(ch)) {
            return false;
        }
    }
    return true;
}

inline std::size_t decimal_width(std::uint64_t n) noexcept {
    std::size_t width = 1;
    while (n >= 10) {
        n /= 10;
        ++width;
    }
    return width;
}

inline std::size_t signed_decimal_width(std::int64_t n) noexcept {
    if (n >= 0) {
        return decimal_width(static_cast<std::uint64_t>(n));
    }
    return 1 + decimal_width(std::uint64_t{0} - static_cast<std::uint64_t>(n));
}

inline std::size_t base64_length(std::size_t raw) noexcept {
    return (raw + 2) / 3 * 4;
}

// Returns the next space-separated token at or after `pos` and moves `pos` past it; an
// empty view when none is left. Runs of spaces separate like one (protocol.md 1.1).
inline std::string_view next_token(std::string_view s, std::size_t& pos) noexcept {
    while (pos < s.size() && s[pos] == ' ') {
        ++pos;
    }
    const std::size_t begin = pos;
    while (pos < s.size() && s[pos] != ' ') {
        ++pos;
    }
    return s.substr(begin, pos - begin);
}

inline std::string_view name_of(store_command cmd) noexcept {
    switch (cmd) {
        case store_command::set:
            return "set";
        case store_command::add:
            return "add";
        case store_command::replace:
            return "replace";
        case store_command::append:
            return "append";
        case store_command::prepend:
            return "prepend";
        case store_command::cas:
            return "cas";
    }
    return "set";
}

inline std::string_view name_of(retrieve_command cmd) noexcept {
    switch (cmd) {
        case retrieve_command::get:
            return "get";
        case retrieve_command::gets:
            return "gets";
        case retrieve_command::gat:
            return "gat";
        case retrieve_command::gats:
            return "gats";
    }
    return "get";
}

inline std::string_view name_of(meta_command cmd) noexcept {
    switch (cmd) {
        case meta_command::get:
            return "mg";
        case meta_command::set:
            return "ms";
        case meta_command::remove:
            return "md";
        case meta_command::arithmetic:
            return "ma";
        case meta_command::noop:
            return "mn";
        case meta_command::debug:
            return "me";
    }
    return "mn";
}

// Bit of a flag letter in a 52-bit set, or -1 for anything that is not a letter.
inline int letter_bit(char c) noexcept {
    if (c >= 'A' && c <= 'Z') {
        return c - 'A';
    }
    if (c >= 'a' && c <= 'z') {
        return 26 + (c - 'a');
    }
    return -1;
}

}  // namespace encoding

// A command line is assembled here, then appended to head_ in one piece: one capacity
// check and one segment update per request instead of one per token. A line longer
// than the buffer (a get of many keys) goes out in several pieces.
class request_encoder::line_builder {
  public:
    explicit line_builder(request_encoder& encoder) noexcept : encoder_(encoder) {}

    void add(std::string_view s) {
        if (s.empty()) return;  // may be a null view, which memcpy must not see
        if (s.size() > sizeof(buf_) - size_) {
            flush();
            if (s.size() > sizeof(buf_)) {
                encoder_.put(s);
                return;
            }
        }
        std::memcpy(buf_ + size_, s.data(), s.size());
        size_ += s.size();
    }
    // Integers in decimal (exptime and delays may be negative).
    template <class Integer>
    void add_number(Integer n) {
        char digits[20];
        const auto end = std::to_chars(digits, digits + sizeof(digits), n).ptr;
        add({digits, static_cast<std::size_t>(end - digits)});
    }
    void flush() {
        encoder_.put({buf_, size_});
        size_ = 0;
    }

  private:
    request_encoder& encoder_;
    std::size_t size_ = 0;
    char buf_[512];
};

template <class Write>
request_encoder::error_code request_encoder::commit(Write&& write) {
    const checkpoint at{head_.size(), segments_.size(),
                        segments_.empty() ? 0 : segments_.back().size, total_};
    try {
        std::forward<Write>(write)();
    } catch (...) {
        rollback(at);
        throw;
    }
    return {};
}

}  // namespace memcoro::protocol
