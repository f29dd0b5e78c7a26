// Key rules (protocol.md 1.2): the server enforces only the length, so the client
// must refuse keys that would break framing or that other clients cannot read.
#pragma once

#include <boost/system/error_code.hpp>

#include <cstddef>
#include <string_view>

namespace memcoro::protocol {

inline constexpr std::size_t max_key_length = 250;  // KEY_MAX_LENGTH, prefix included

struct key_rules {
    // Bytes >= 0x80 (UTF-8 and other binary keys) are accepted only when this is set.
    // The server stores them, but a space, CR, LF or control byte never passes.
    bool allow_high_bytes = false;
};

// Checks `prefix + key` against the rules without concatenating them.
// Returns error::invalid_key when the key is empty, the whole is longer than
// max_key_length, or a byte is outside 0x21..0x7E (plus 0x80..0xFF with
// allow_high_bytes; DEL, 0x7F, is a control byte and never passes).
[[nodiscard]] boost::system::error_code validate_key(std::string_view prefix, std::string_view key,
                                                     key_rules rules = {}) noexcept;

// A key sent in base64 (the meta flag b) may hold any bytes; the server applies its
// 250-byte limit to the base64 text of prefix + key, which 186 bytes fill (248
// characters; 187 bytes take 252, and memcached 1.6.18 answers CLIENT_ERROR).
inline constexpr std::size_t max_binary_key_length = 186;

// Checks `prefix + key` for sending in base64: error::invalid_key when the key is empty
// or the whole is longer than max_binary_key_length.
[[nodiscard]] boost::system::error_code validate_binary_key(std::string_view prefix,
                                                            std::string_view key) noexcept;

[[nodiscard]] inline boost::system::error_code validate_key(std::string_view key,
                                                            key_rules rules = {}) noexcept {
    return validate_key({}, key, rules);
}

}  // namespace memcoro::protocol
