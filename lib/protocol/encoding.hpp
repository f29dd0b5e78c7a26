// What the encoder's source files share: the limits of the wire, small helpers, and the
// encoder's per-request writing steps, inline because every request takes them.
// Private to lib/protocol.
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
constexpr std::size_t max_meta_flags = meta_flag_line::max_flags;
constexpr std::size_t max_meta_set_flags = 16;

// The opaque token, its 'O' included, may be 32 bytes (protocol.md 3.1).
constexpr std::size_t max_opaque = 31;

// exptime, TTLs and the flush_all delay are parsed as signed 32-bit numbers (protocol.md 1.3).
inline bool fits_int32(std::int64_t v) noexcept {
    return v >= std::numeric_limits<std::int32_t>::min() &&
           v <= std::numeric_limits<std::int32_t>::max();
}

// <bytes> and an ms datalen are parsed as signed 32-bit numbers (protocol.md 1.4), whatever
// max_value says. A caller's prevalidation knows max_value only, so this is checked on
// every path: a longer value would be read by the server as commands.
inline bool fits_datalen(std::size_t size) noexcept {
    return size <= static_cast<std::size_t>(std::numeric_limits<std::int32_t>::max());
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

// Every meta command name is two letters, looked up without a branch.
inline const char* name_of(meta_command cmd) noexcept {
    static_assert(static_cast<int>(meta_command::get) == 0 &&
                  static_cast<int>(meta_command::set) == 1 &&
                  static_cast<int>(meta_command::remove) == 2 &&
                  static_cast<int>(meta_command::arithmetic) == 3 &&
                  static_cast<int>(meta_command::noop) == 4 &&
                  static_cast<int>(meta_command::debug) == 5);
    static constexpr char names[] = "mgmsmdmamnme";
    return names + 2 * static_cast<std::size_t>(cmd);
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

// The longest decimal of a 64-bit number, sign included.
constexpr std::size_t max_number = 20;

// Writers for a request being written in place (room was made for all of it). They
// return the end of what they wrote.
inline char* write(char* out, std::string_view s) noexcept {
    if (!s.empty()) std::memcpy(out, s.data(), s.size());  // s may be a null view
    return out + s.size();
}

template <class Integer>
char* write_number(char* out, Integer n) noexcept {
    return std::to_chars(out, out + max_number, n).ptr;
}

inline char* write_crlf(char* out) noexcept {
    out[0] = '\r';
    out[1] = '\n';
    return out + 2;
}

}  // namespace encoding

inline char* request_encoder::open(std::size_t bytes) {
    if (head_.size() - head_used_ < bytes ||
        segments_.capacity() - segments_.size() < max_request_segments) {
        grow(bytes);
    }
    return head_.data() + head_used_;
}

inline void request_encoder::close(const char* end) noexcept {
    const std::size_t at = head_used_;
    const auto n = static_cast<std::size_t>(end - (head_.data() + at));
    head_used_ += n;
    total_ += n;
    if (!segments_.empty()) {
        segment& last = segments_.back();
        if (last.external == nullptr && last.offset + last.size == at) {
            last.size += n;
            return;
        }
    }
    segments_.push_back({nullptr, at, n});  // room was made by open()
}

inline char* request_encoder::put_key(char* out, std::string_view key, bool base64) const noexcept {
    if (base64) {
        return put_key_base64(out, key);
    }
    return encoding::write(encoding::write(out, options_.key_prefix), key);
}

inline bool request_encoder::copies(std::string_view value) const noexcept {
    // An empty value is never referenced: a chunk of no bytes, perhaps at a null pointer.
    return value.size() < options_.copy_below || value.empty();
}

inline std::size_t request_encoder::value_room(std::string_view value) const noexcept {
    return copies(value) ? value.size() + encoding::crlf.size() : encoding::crlf.size();
}

inline void request_encoder::put_value(char* end, std::string_view value) noexcept {
    if (copies(value)) {
        close(encoding::write_crlf(encoding::write(end, value)));
    } else {
        put_referenced(end, value);
    }
}

}  // namespace memcoro::protocol
