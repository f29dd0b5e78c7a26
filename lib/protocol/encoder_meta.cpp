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

}  // namespace

request_encoder::error_code request_encoder::meta(meta_command cmd, std::string_view key,
                                                  std::span<const meta_flag> flags,
                                                  std::string_view value) {
    if (cmd == meta_command::noop) {
        if (!key.empty() || !flags.empty() || !value.empty()) {
            return error::invalid_argument;
        }
        return commit([&] { put("mn\r\n"); });
    }
    const bool is_set = cmd == meta_command::set;
    if (!is_set && !value.empty()) {
        return error::invalid_argument;
    }
    const meta_flags_check fc = check_meta_flags(cmd, flags);
    if (fc.ec) {
        return fc.ec;
    }
    std::size_t key_bytes = 0;
    if (fc.base64) {
        // Any bytes go, but the server checks its 250-byte limit on the base64 text
        // (protocol.md 3.1; a 252-byte text got CLIENT_ERROR bad command line format).
        key_bytes = base64_length(options_.key_prefix.size() + key.size());
        if (key.empty() || key_bytes > max_key_length) {
            return error::invalid_key;
        }
    } else {
        if (auto ec = check_key(key)) {
            return ec;
        }
        key_bytes = options_.key_prefix.size() + key.size();
    }
    if (is_set) {
        if (auto ec = check_value(value)) {
            return ec;
        }
    }
    const std::size_t datalen_bytes = is_set ? 1 + decimal_width(std::uint64_t{value.size()}) : 0;
    const std::size_t line_size = 2 + 1 + key_bytes + datalen_bytes + fc.line_bytes + crlf.size();
    if (line_size > max_line) {
        return error::invalid_argument;
    }
    return commit([&] {
        line_builder line(*this);
        line.add(name_of(cmd));
        line.add(" ");
        if (fc.base64) {
            put_key_base64(line, key);
        } else {
            line.add(options_.key_prefix);
            line.add(key);
        }
        if (is_set) {
            line.add(" ");
            line.add_number(value.size());
        }
        for (const meta_flag& f : flags) {
            line.add(" ");
            line.add({&f.name, 1});
            line.add(f.token);
        }
        line.add(crlf);
        if (is_set) {
            line.flush();
            put_value(value);
        }
        line.flush();
    });
}

}  // namespace memcoro::protocol
