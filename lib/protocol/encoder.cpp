// Request encoding for the text protocol (protocol.md 1.6-1.12) and the meta protocol
// (protocol.md 3).
#include <memcoro/protocol/encoder.hpp>

#include <memcoro/error.hpp>

#include <charconv>
#include <cstdint>
#include <cstring>
#include <limits>
#include <utility>

namespace memcoro::protocol {
namespace {

using error_code = boost::system::error_code;

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
bool fits_int32(std::int64_t v) noexcept {
    return v >= std::numeric_limits<std::int32_t>::min() &&
           v <= std::numeric_limits<std::int32_t>::max();
}

bool printable(char ch) noexcept {
    const auto b = static_cast<unsigned char>(ch);
    return b >= 0x21 && b <= 0x7E;
}

bool printable(std::string_view s) noexcept {
    for (const char ch : s) {
        if (!printable(ch)) {
            return false;
        }
    }
    return true;
}

std::size_t decimal_width(std::uint64_t n) noexcept {
    std::size_t width = 1;
    while (n >= 10) {
        n /= 10;
        ++width;
    }
    return width;
}

std::size_t signed_decimal_width(std::int64_t n) noexcept {
    if (n >= 0) {
        return decimal_width(static_cast<std::uint64_t>(n));
    }
    return 1 + decimal_width(std::uint64_t{0} - static_cast<std::uint64_t>(n));
}

std::size_t base64_length(std::size_t raw) noexcept { return (raw + 2) / 3 * 4; }

// Returns the next space-separated token at or after `pos` and moves `pos` past it; an
// empty view when none is left. Runs of spaces separate like one (protocol.md 1.1).
std::string_view next_token(std::string_view s, std::size_t& pos) noexcept {
    while (pos < s.size() && s[pos] == ' ') {
        ++pos;
    }
    const std::size_t begin = pos;
    while (pos < s.size() && s[pos] != ' ') {
        ++pos;
    }
    return s.substr(begin, pos - begin);
}

std::string_view name_of(store_command cmd) noexcept {
    switch (cmd) {
        case store_command::set: return "set";
        case store_command::add: return "add";
        case store_command::replace: return "replace";
        case store_command::append: return "append";
        case store_command::prepend: return "prepend";
        case store_command::cas: return "cas";
    }
    return "set";
}

std::string_view name_of(retrieve_command cmd) noexcept {
    switch (cmd) {
        case retrieve_command::get: return "get";
        case retrieve_command::gets: return "gets";
        case retrieve_command::gat: return "gat";
        case retrieve_command::gats: return "gats";
    }
    return "get";
}

std::string_view name_of(meta_command cmd) noexcept {
    switch (cmd) {
        case meta_command::get: return "mg";
        case meta_command::set: return "ms";
        case meta_command::remove: return "md";
        case meta_command::arithmetic: return "ma";
        case meta_command::noop: return "mn";
        case meta_command::debug: return "me";
    }
    return "mn";
}

// Bit of a flag letter in a 52-bit set, or -1 for anything that is not a letter.
int letter_bit(char c) noexcept {
    if (c >= 'A' && c <= 'Z') {
        return c - 'A';
    }
    if (c >= 'a' && c <= 'z') {
        return 26 + (c - 'a');
    }
    return -1;
}

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

reply_shape shape_of(store_command) noexcept { return reply_shape::stored; }

reply_shape shape_of(meta_command cmd) noexcept {
    // An ms reply is told apart because its request carried a data block, which the
    // server may or may not have swallowed after an error (protocol.md 1.13).
    return cmd == meta_command::set ? reply_shape::meta_set : reply_shape::meta;
}

reply_shape stats_shape(std::string_view args) noexcept {
    // The server picks the reply by the first token (and the second for "detail") and
    // ignores any further ones (protocol.md 1.11).
    std::size_t pos = 0;
    const std::string_view first = next_token(args, pos);
    if (first == "reset") {
        return reply_shape::reset;
    }
    if (first == "sizes_enable" || first == "sizes_disable") {
        return reply_shape::stat_line;
    }
    if (first == "detail") {
        const std::string_view second = next_token(args, pos);
        if (second == "on" || second == "off") {
            return reply_shape::ok;
        }
    }
    return reply_shape::stats;
}

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
    void add_number(std::uint64_t n) {
        char digits[20];
        const auto end = std::to_chars(digits, digits + sizeof(digits), n).ptr;
        add({digits, static_cast<std::size_t>(end - digits)});
    }
    void add_signed(std::int64_t n) {
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

request_encoder::request_encoder(encoder_options options) : options_(std::move(options)) {}

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

void request_encoder::rollback(const checkpoint& to) noexcept {
    // Only shrinks, so nothing here allocates.
    head_.resize(to.head);
    segments_.erase(segments_.begin() + static_cast<std::ptrdiff_t>(to.segments),
                    segments_.end());
    if (!segments_.empty()) {
        segments_.back().size = to.last_size;
    }
    total_ = to.total;
}

request_encoder::error_code request_encoder::check_key(std::string_view key) const noexcept {
    return validate_key(options_.key_prefix, key, options_.keys);
}

request_encoder::error_code request_encoder::check_value(std::string_view value) const noexcept {
    // <bytes> is parsed as a signed 32-bit number (protocol.md 1.4), whatever max_value says.
    if (value.size() > options_.max_value ||
        value.size() > static_cast<std::size_t>(std::numeric_limits<std::int32_t>::max())) {
        return error::value_too_large;
    }
    return {};
}

void request_encoder::put(std::string_view s) {
    if (s.empty()) {
        return;
    }
    const std::size_t at = head_.size();
    head_.append(s);
    if (!segments_.empty()) {
        segment& last = segments_.back();
        if (last.external == nullptr && last.offset + last.size == at) {
            last.size += s.size();
            total_ += s.size();
            return;
        }
    }
    segments_.push_back({nullptr, at, s.size()});
    total_ += s.size();
}

void request_encoder::put_key_base64(line_builder& line, std::string_view key) {
    // Standard alphabet with padding: what the server's base64_decode takes (protocol.md 3.1).
    static constexpr char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const std::string_view prefix = options_.key_prefix;
    const std::size_t n = prefix.size() + key.size();
    const auto byte_at = [&](std::size_t i) -> std::uint32_t {
        return static_cast<unsigned char>(i < prefix.size() ? prefix[i] : key[i - prefix.size()]);
    };
    // The caller checked that the text fits max_key_length.
    char text[max_key_length];
    std::size_t out = 0;
    for (std::size_t i = 0; i < n; i += 3) {
        const std::size_t left = n - i;
        std::uint32_t v = byte_at(i) << 16;
        if (left > 1) {
            v |= byte_at(i + 1) << 8;
        }
        if (left > 2) {
            v |= byte_at(i + 2);
        }
        text[out++] = alphabet[(v >> 18) & 63];
        text[out++] = alphabet[(v >> 12) & 63];
        text[out++] = left > 1 ? alphabet[(v >> 6) & 63] : '=';
        text[out++] = left > 2 ? alphabet[v & 63] : '=';
    }
    line.add({text, out});
}

void request_encoder::put_value(std::string_view value) {
    if (value.size() < options_.copy_below || value.empty()) {
        put(value);
    } else {
        segments_.push_back({value.data(), 0, value.size()});
        total_ += value.size();
    }
    put(crlf);
}

request_encoder::error_code request_encoder::store(store_command cmd, std::string_view key,
                                                   std::string_view value, std::uint32_t flags,
                                                   std::int64_t exptime, bool noreply,
                                                   std::uint64_t cas_unique) {
    if (auto ec = check_key(key)) {
        return ec;
    }
    if (auto ec = check_value(value)) {
        return ec;
    }
    if (!fits_int32(exptime)) {
        return error::invalid_argument;
    }
    return commit([&] {
        line_builder line(*this);
        line.add(name_of(cmd));
        line.add(" ");
        line.add(options_.key_prefix);
        line.add(key);
        line.add(" ");
        line.add_number(flags);
        line.add(" ");
        line.add_signed(exptime);
        line.add(" ");
        line.add_number(value.size());
        if (cmd == store_command::cas) {
            line.add(" ");
            line.add_number(cas_unique);
        }
        if (noreply) {
            line.add(" noreply");
        }
        line.add(crlf);
        line.flush();
        put_value(value);
    });
}

request_encoder::error_code request_encoder::retrieve(retrieve_command cmd,
                                                      std::span<const std::string_view> keys,
                                                      std::int64_t exptime) {
    // "get" with no key is a plain ERROR (protocol.md 1.1).
    if (keys.empty()) {
        return error::invalid_argument;
    }
    for (const std::string_view key : keys) {
        if (auto ec = check_key(key)) {
            return ec;
        }
    }
    // get and gets take no exptime; any value passed for them is not sent.
    const bool touches = cmd == retrieve_command::gat || cmd == retrieve_command::gats;
    if (touches) {
        if (!fits_int32(exptime)) {
            return error::invalid_argument;
        }
        // Only get and gets lines may be longer than max_line (protocol.md 1.1).
        std::size_t line = name_of(cmd).size() + 1 + signed_decimal_width(exptime) + crlf.size();
        for (const std::string_view key : keys) {
            line += 1 + options_.key_prefix.size() + key.size();
        }
        if (line > max_line) {
            return error::invalid_argument;
        }
    }
    return commit([&] {
        line_builder line(*this);
        line.add(name_of(cmd));
        if (touches) {
            line.add(" ");
            line.add_signed(exptime);
        }
        for (const std::string_view key : keys) {
            line.add(" ");
            line.add(options_.key_prefix);
            line.add(key);
        }
        line.add(crlf);
        line.flush();
    });
}

request_encoder::error_code request_encoder::remove(std::string_view key, bool noreply) {
    if (auto ec = check_key(key)) {
        return ec;
    }
    return commit([&] {
        line_builder line(*this);
        line.add("delete ");
        line.add(options_.key_prefix);
        line.add(key);
        if (noreply) {
            line.add(" noreply");
        }
        line.add(crlf);
        line.flush();
    });
}

request_encoder::error_code request_encoder::arithmetic(arithmetic_command cmd,
                                                        std::string_view key,
                                                        std::uint64_t delta, bool noreply) {
    if (auto ec = check_key(key)) {
        return ec;
    }
    return commit([&] {
        line_builder line(*this);
        line.add(cmd == arithmetic_command::incr ? "incr " : "decr ");
        line.add(options_.key_prefix);
        line.add(key);
        line.add(" ");
        line.add_number(delta);
        if (noreply) {
            line.add(" noreply");
        }
        line.add(crlf);
        line.flush();
    });
}

request_encoder::error_code request_encoder::touch(std::string_view key, std::int64_t exptime,
                                                   bool noreply) {
    if (auto ec = check_key(key)) {
        return ec;
    }
    if (!fits_int32(exptime)) {
        return error::invalid_argument;
    }
    return commit([&] {
        line_builder line(*this);
        line.add("touch ");
        line.add(options_.key_prefix);
        line.add(key);
        line.add(" ");
        line.add_signed(exptime);
        if (noreply) {
            line.add(" noreply");
        }
        line.add(crlf);
        line.flush();
    });
}

request_encoder::error_code request_encoder::stats(std::string_view args) {
    // Only spaces separate tokens (protocol.md 1.1); a TAB, CR, LF or other control byte
    // would become part of a token or end the line early.
    std::size_t line = std::string_view("stats").size() + crlf.size();
    for (const char ch : args) {
        if (ch != ' ' && !printable(ch)) {
            return error::invalid_argument;
        }
    }
    std::size_t pos = 0;
    for (auto tok = next_token(args, pos); !tok.empty(); tok = next_token(args, pos)) {
        line += 1 + tok.size();
    }
    if (line > max_line) {
        return error::invalid_argument;
    }
    return commit([&] {
        line_builder line(*this);
        line.add("stats");
        std::size_t at = 0;
        for (auto tok = next_token(args, at); !tok.empty(); tok = next_token(args, at)) {
            line.add(" ");
            line.add(tok);
        }
        line.add(crlf);
        line.flush();
    });
}

request_encoder::error_code request_encoder::flush_all(std::optional<std::int64_t> delay,
                                                       bool noreply) {
    if (delay && !fits_int32(*delay)) {
        return error::invalid_argument;
    }
    return commit([&] {
        line_builder line(*this);
        line.add("flush_all");
        if (delay) {
            line.add(" ");
            line.add_signed(*delay);
        }
        if (noreply) {
            line.add(" noreply");
        }
        line.add(crlf);
        line.flush();
    });
}

request_encoder::error_code request_encoder::version() {
    return commit([&] { put("version\r\n"); });
}

request_encoder::error_code request_encoder::verbosity(std::uint32_t level, bool noreply) {
    return commit([&] {
        line_builder line(*this);
        line.add("verbosity ");
        line.add_number(level);
        if (noreply) {
            line.add(" noreply");
        }
        line.add(crlf);
        line.flush();
    });
}

request_encoder::error_code request_encoder::cache_memlimit(std::uint64_t megabytes,
                                                            bool noreply) {
    // The server reads the number into 32 bits and silently keeps only the low bits of a
    // larger one (the same quirk as client flags, protocol.md 1.4): 2^32 + 8 would set 8 MB.
    if (megabytes > std::numeric_limits<std::uint32_t>::max()) {
        return error::invalid_argument;
    }
    return commit([&] {
        line_builder line(*this);
        line.add("cache_memlimit ");
        line.add_number(megabytes);
        if (noreply) {
            line.add(" noreply");
        }
        line.add(crlf);
        line.flush();
    });
}

request_encoder::error_code request_encoder::quit() {
    return commit([&] { put("quit\r\n"); });
}

request_encoder::error_code request_encoder::shutdown(bool graceful) {
    return commit([&] { put(graceful ? "shutdown graceful\r\n" : "shutdown\r\n"); });
}

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
    const std::size_t line_size =
        2 + 1 + key_bytes + datalen_bytes + fc.line_bytes + crlf.size();
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

std::span<const chunk> request_encoder::chunks() {
    // Resolved only now: head_ may have moved while it grew.
    chunks_.clear();
    for (const segment& s : segments_) {
        chunks_.push_back({s.external != nullptr ? s.external : head_.data() + s.offset, s.size});
    }
    return chunks_;
}

void request_encoder::clear() noexcept {
    head_.clear();
    segments_.clear();
    chunks_.clear();
    total_ = 0;
}

}  // namespace memcoro::protocol
