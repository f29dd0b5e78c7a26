// Key validation (protocol.md 1.2).
#include <memcoro/protocol/key.hpp>

#include <memcoro/error.hpp>

namespace memcoro::protocol {
namespace {

// The server checks only the length. Everything at or below 0x20 (space, CR, LF and the
// other controls) breaks framing or is unreadable by other clients, and so is DEL (0x7F).
// Bytes >= 0x80 are stored fine, but only some users want them, so they are opt-in.
// Every key is checked on every call, so the loop is branch-free for the compiler to
// vectorize.
bool bytes_allowed(std::string_view s, bool allow_high) noexcept {
    unsigned bad = 0;
    for (const char ch : s) {
        const auto b = static_cast<unsigned char>(ch);
        const bool printable = static_cast<unsigned char>(b - 0x21) <= 0x7E - 0x21;
        const bool high = b >= 0x80;
        bad |= static_cast<unsigned>(!(printable || (high && allow_high)));
    }
    return bad == 0;
}

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

}  // namespace memcoro::protocol
