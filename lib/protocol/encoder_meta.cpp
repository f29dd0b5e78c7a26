// Request encoding for the meta protocol (protocol.md 3).
#include "encoding.hpp"

namespace memcoro::protocol {
using namespace encoding;
using error_code = boost::system::error_code;

namespace {

struct meta_flags_check {
    error_code ec;
    bool base64 = false;
    std::size_t line_bytes = 0;  // " <letter><token>" for every flag
};

meta_flags_check check_meta_flags(meta_command cmd, std::span<const meta_flag> flags) noexcept {
    meta_flags_check r;
    const std::size_t limit = cmd == meta_command::set ? max_meta_set_flags : max_meta_flags;
    if (flags.size() > limit) {
        r.ec = error::invalid_argument;
        return r;
    }
    std::uint64_t seen = 0;
    for (const meta_flag& f : flags) {
        const int bit = letter_bit(f.name);
        // Each flag at most once: the server refuses duplicates (protocol.md 3.1).
        if (bit < 0 || (seen & (std::uint64_t{1} << bit)) != 0 || !printable(f.token)) {
            r.ec = error::invalid_argument;
            return r;
        }
        seen |= std::uint64_t{1} << bit;
        if (f.name == 'O' && f.token.size() > max_opaque) {
            r.ec = error::invalid_argument;
            return r;
        }
        if (f.name == 'b') {
            // A bare flag: the key's encoding must not depend on how the server reads a
            // token glued to it.
            if (!f.token.empty()) {
                r.ec = error::invalid_argument;
                return r;
            }
            r.base64 = true;
        } else if (cmd == meta_command::debug) {
            // me takes only 'b' (protocol.md 3.7).
            r.ec = error::invalid_argument;
            return r;
        }
        r.line_bytes += 2 + f.token.size();
    }
    return r;
}

// The key's length on the wire, or nothing when a base64 key is refused: any bytes go
// then, but the server checks its 250-byte limit on the base64 text (protocol.md 3.1; a
// 252-byte text got CLIENT_ERROR bad command line format).
std::optional<std::size_t> wire_key_length(std::size_t prefix, std::string_view key,
                                           bool base64) noexcept {
    if (!base64) {
        return prefix + key.size();
    }
    const std::size_t bytes = base64_length(prefix + key.size());
    if (key.empty() || bytes > max_key_length) {
        return std::nullopt;
    }
    return bytes;
}

}  // namespace

template <class WriteFlags>
request_encoder::error_code request_encoder::write_meta(meta_command cmd, std::string_view key,
                                                        bool base64, std::size_t key_bytes,
                                                        std::size_t flag_bytes,
                                                        WriteFlags write_flags,
                                                        std::string_view value) {
    // A value outside the enumeration (cast from a number) has no name to send.
    if (cmd > meta_command::debug) {
        return error::invalid_argument;
    }
    const bool is_set = cmd == meta_command::set;
    if (is_set && !fits_datalen(value.size())) {
        return error::value_too_large;
    }
    // Room for the longest datalen; its exact width matters only near the limit.
    const std::size_t line =
        2 + 1 + key_bytes + (is_set ? 1 + max_number : 0) + flag_bytes + crlf.size();
    if (line > max_line &&
        (!is_set || line - max_number + decimal_width(std::uint64_t{value.size()}) > max_line)) {
        return error::invalid_argument;
    }
    char* out = open(line + (is_set ? value_room(value) : 0));
    const char* name = name_of(cmd);
    out[0] = name[0];
    out[1] = name[1];
    out[2] = ' ';
    out = put_key(out + 3, key, base64);
    if (is_set) {
        *out++ = ' ';
        out = write_number(out, value.size());
    }
    out = write_crlf(write_flags(out));
    if (is_set) {
        put_value(out, value);
    } else {
        close(out);
    }
    return {};
}

request_encoder::error_code request_encoder::meta(meta_command cmd, std::string_view key,
                                                  std::span<const meta_flag> flags,
                                                  std::string_view value) {
    if (cmd == meta_command::noop) {
        if (!key.empty() || !flags.empty() || !value.empty()) {
            return error::invalid_argument;
        }
        put_line("mn\r\n");
        return {};
    }
    if (cmd != meta_command::set && !value.empty()) {
        return error::invalid_argument;
    }
    const meta_flags_check fc = check_meta_flags(cmd, flags);
    if (fc.ec) {
        return fc.ec;
    }
    const auto key_bytes = wire_key_length(options_.key_prefix.size(), key, fc.base64);
    if (!key_bytes) {
        return error::invalid_key;
    }
    if (!fc.base64) {
        if (auto ec = check_key(key)) {
            return ec;
        }
    }
    if (cmd == meta_command::set) {
        if (auto ec = check_value(value)) {
            return ec;
        }
    }
    return write_meta(cmd, key, fc.base64, *key_bytes, fc.line_bytes,
                      [flags](char* out) {
                          for (const meta_flag& f : flags) {
                              *out++ = ' ';
                              *out++ = f.name;
                              out = write(out, f.token);
                          }
                          return out;
                      },
                      value);
}

request_encoder::error_code request_encoder::meta(prevalidated_t, meta_command cmd,
                                                  std::string_view key,
                                                  const meta_flag_line& flags,
                                                  std::string_view value) {
    // All O(1): the line checked each flag as it was added.
    const bool is_set = cmd == meta_command::set;
    const std::size_t limit = is_set ? max_meta_set_flags : max_meta_flags;
    if (flags.refused() || flags.count() > limit || (!is_set && !value.empty()) ||
        cmd == meta_command::noop ||
        // me takes only 'b' (protocol.md 3.7).
        (cmd == meta_command::debug && flags.count() != (flags.base64() ? 1U : 0U))) {
        return error::invalid_argument;
    }
    const auto key_bytes = wire_key_length(options_.key_prefix.size(), key, flags.base64());
    if (!key_bytes) {
        return error::invalid_key;
    }
    const std::string_view text = flags.text();
    return write_meta(
        cmd, key, flags.base64(), *key_bytes, text.size(),
        [text](char* out) { return write(out, text); }, value);
}

}  // namespace memcoro::protocol
