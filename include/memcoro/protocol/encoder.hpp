// Request encoding for the text and meta protocols: requests in, a gather list out.
//
// Command lines are written into one reusable buffer. A value body is referenced in
// place (not copied) unless it is shorter than `copy_below`, where one memcpy is
// cheaper than another iovec entry. chunks() returns the gather list of everything
// encoded since clear(), so one write can carry many requests and their values.
//
// Every encoding function validates all of its input first and appends nothing
// when it returns an error: a bad key or an oversized value never reaches the wire,
// and requests encoded before it stay intact. Command lines other than get/gets are
// limited to 2048 bytes, because the server may close the connection on a longer one
// (protocol.md 1.1); a gat, stats or meta request that would exceed it is refused with
// error::invalid_argument. If an allocation throws, the partial request is removed.
//
// A caller that has already checked its input against these same options (memcoro's
// client does, before it makes an operation) passes `prevalidated` as the first argument,
// and what it promises is not checked a second time: each key passes
// validate_key(options().key_prefix, key, options().keys) (not needed for a base64 meta
// key), a value is at most max_value bytes, and an exptime fits a signed 32-bit number.
// Everything else (a gat line's length, the meta flags, a base64 key's length) is still
// checked. Input that breaks the promise may put a wrong request on the wire, but is
// never written outside the encoder's buffers.
//
// Lifetimes: a referenced value must stay alive and unchanged until the write that
// carries chunks() has completed. The views returned by chunks() are invalidated by
// the next encoding call or clear().
#pragma once

#include <memcoro/protocol/key.hpp>
#include <memcoro/protocol/reply.hpp>

#include <boost/system/error_code.hpp>

#include <charconv>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace memcoro::protocol {

// One entry of a gather list (layout-agnostic: the connection turns it into its
// own buffer type).
struct chunk {
    const char* data;
    std::size_t size;
};

enum class store_command : std::uint8_t { set, add, replace, append, prepend, cas };
enum class retrieve_command : std::uint8_t { get, gets, gat, gats };
enum class arithmetic_command : std::uint8_t { incr, decr };
enum class meta_command : std::uint8_t { get, set, remove, arithmetic, noop, debug };

// A meta request flag: its letter and the token glued to it (`T30`, `Oab`, `MS`).
struct meta_flag {
    char name;
    std::string_view token = {};
};

// The flags of a meta request written as they go on the wire (" v f T30 O7"), for the
// prevalidated meta(). Its checks cost next to nothing per request: the letters (and
// one-letter tokens) are checked when the program is compiled, a numeric token is
// always printable and short, and a repeated letter or a flag beyond max_flags is
// noted with two compares and refused by meta(). Builds without allocating.
class meta_flag_line {
public:
    // A flag letter or a one-letter token: a compile-time constant ASCII letter.
    struct letter {
        consteval letter(char c) : value(c) {
            if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z'))) {
                throw "a meta flag name or one-letter token is an ASCII letter";
            }
        }
        char value;
    };

    // The server takes at most 17 flags (16 with ms, protocol.md 3.1).
    static constexpr std::size_t max_flags = 17;

    // Leaves text_ unwritten: only its first size_ bytes are ever read, and filling it
    // all on every request would cost more than writing the flags.
    meta_flag_line() noexcept {}  // NOLINT(modernize-use-equals-default)

    void add(letter name) noexcept {
        if (name.value == 'b') base64_ = true;
        (void)begin_flag(name, 2);
    }
    // `MS`, `MD`: a one-letter token. 'b' takes none.
    void add(letter name, letter token) noexcept {
        if (name.value == 'b') refused_ = true;
        if (begin_flag(name, 3)) text_[size_ - 1] = token.value;
    }
    // `T30`, `O17`, `C123`: a decimal token.
    template <std::integral Number>
        requires(!std::same_as<Number, bool> && !std::same_as<Number, char>)
    void add_number(letter name, Number n) noexcept {
        if (name.value == 'b') refused_ = true;
        if (!begin_flag(name, 2)) return;
        // Room for the longest number: begin_flag() stops at max_flags.
        char* end = std::to_chars(text_ + size_, text_ + sizeof(text_), n).ptr;
        size_ = static_cast<std::size_t>(end - text_);
    }

    [[nodiscard]] std::string_view text() const noexcept { return {text_, size_}; }
    [[nodiscard]] std::size_t count() const noexcept { return count_; }
    // The flag 'b' (the key goes in base64) is present.
    [[nodiscard]] bool base64() const noexcept { return base64_; }
    // A letter came twice, a flag came beyond max_flags, or 'b' came with a token.
    [[nodiscard]] bool refused() const noexcept { return refused_; }

private:
    static constexpr std::uint64_t bit(letter name) noexcept {
        const char c = name.value;
        return std::uint64_t{1} << (c <= 'Z' ? c - 'A' : 26 + (c - 'a'));
    }
    // Writes " <name>" and returns true, or notes why the flag is refused.
    bool begin_flag(letter name, std::size_t bytes) noexcept {
        const std::uint64_t b = bit(name);
        if ((seen_ & b) != 0 || count_ == max_flags) {
            refused_ = true;
            return false;
        }
        seen_ |= b;
        ++count_;
        text_[size_] = ' ';
        text_[size_ + 1] = name.value;
        size_ += bytes;
        return true;
    }

    std::uint64_t seen_ = 0;
    std::size_t size_ = 0;
    std::size_t count_ = 0;
    bool base64_ = false;
    bool refused_ = false;
    // " <letter>" and at most 20 characters of a 64-bit number per flag.
    char text_[max_flags * 22];
};

// Tags the entry points that trust the caller's checks (see the top of this file).
struct prevalidated_t {
    explicit prevalidated_t() = default;
};
inline constexpr prevalidated_t prevalidated{};

struct encoder_options {
    // Prepended to every key on the wire (pymemcache's key_prefix). The 250-byte key
    // limit applies to prefix and key together.
    std::string key_prefix;
    key_rules keys;
    // Values longer than this are refused with error::value_too_large. The default is
    // memcached's default item size; the server's real limit is slightly lower
    // because the item header shares it (protocol.md 1.4), and the server's
    // SERVER_ERROR covers the difference.
    std::size_t max_value = 1024 * 1024;
    // Values shorter than this are copied next to their command line.
    std::size_t copy_below = 512;
};

// The reply shape of each command, for the parser.
[[nodiscard]] reply_shape shape_of(store_command) noexcept;
[[nodiscard]] reply_shape shape_of(meta_command) noexcept;
// `stats` arguments decide the shape: "reset", "detail on|off", "sizes_enable|disable".
[[nodiscard]] reply_shape stats_shape(std::string_view args) noexcept;

class request_encoder {
public:
    using error_code = boost::system::error_code;

    explicit request_encoder(encoder_options options = {});

    // <cmd> <key> <flags> <exptime> <bytes> [<cas>] [noreply]\r\n<value>\r\n
    // `cas_unique` is used by store_command::cas only. exptime must fit a signed
    // 32-bit number (protocol.md 1.3).
    error_code store(store_command cmd, std::string_view key, std::string_view value,
                     std::uint32_t flags, std::int64_t exptime, bool noreply,
                     std::uint64_t cas_unique = 0);
    // The same, for a key, value and exptime checked by the caller.
    error_code store(prevalidated_t, store_command cmd, std::string_view key,
                     std::string_view value, std::uint32_t flags, std::int64_t exptime,
                     bool noreply, std::uint64_t cas_unique = 0);

    // get|gets <key>+\r\n, gat|gats <exptime> <key>+\r\n. At least one key.
    error_code retrieve(retrieve_command cmd, std::span<const std::string_view> keys,
                        std::int64_t exptime = 0);
    error_code retrieve(retrieve_command cmd, std::string_view key, std::int64_t exptime = 0) {
        return retrieve(cmd, std::span<const std::string_view>(&key, 1), exptime);
    }
    // The same, for keys and exptime checked by the caller (the count of keys and the
    // length of a gat line are still checked).
    error_code retrieve(prevalidated_t, retrieve_command cmd,
                        std::span<const std::string_view> keys, std::int64_t exptime = 0);
    error_code retrieve(prevalidated_t tag, retrieve_command cmd, std::string_view key,
                        std::int64_t exptime = 0) {
        return retrieve(tag, cmd, std::span<const std::string_view>(&key, 1), exptime);
    }

    error_code remove(std::string_view key, bool noreply);  // delete <key> [noreply]
    error_code arithmetic(arithmetic_command cmd, std::string_view key, std::uint64_t delta,
                          bool noreply);
    error_code touch(std::string_view key, std::int64_t exptime, bool noreply);
    // The same three, for a key (and exptime) checked by the caller.
    error_code remove(prevalidated_t, std::string_view key, bool noreply);
    error_code arithmetic(prevalidated_t, arithmetic_command cmd, std::string_view key,
                          std::uint64_t delta, bool noreply);
    error_code touch(prevalidated_t, std::string_view key, std::int64_t exptime, bool noreply);

    // stats [args]: args are space-separated tokens of printable bytes.
    error_code stats(std::string_view args = {});
    error_code flush_all(std::optional<std::int64_t> delay, bool noreply);
    error_code version();
    error_code verbosity(std::uint32_t level, bool noreply);
    error_code cache_memlimit(std::uint64_t megabytes, bool noreply);
    error_code quit();
    error_code shutdown(bool graceful);

    // <mc> <key> [<datalen>] <flags>*\r\n[<value>\r\n]
    // `value` is sent only by meta_command::set. With the flag 'b' the key may hold
    // any bytes: the encoder sends prefix + key in base64. The server applies its
    // 250-byte limit to the base64 text, so prefix + key may then be at most 186 bytes.
    // Flags are validated: letters only, each at most once, tokens of printable bytes,
    // an opaque of at most 31 bytes, and at most as many as the server takes
    // (protocol.md 3.1). meta_command::debug takes only the flag 'b'.
    // meta_command::noop takes no key (pass an empty one) and no flags.
    error_code meta(meta_command cmd, std::string_view key, std::span<const meta_flag> flags,
                    std::string_view value = {});
    // The same with flags built in a meta_flag_line, for a key (unless the flags hold
    // 'b') and a value size checked by the caller. What meta_flag_line noted is refused
    // here, and so are too many flags for ms, flags other than 'b' for me, and a base64
    // key text longer than 250 bytes.
    error_code meta(prevalidated_t, meta_command cmd, std::string_view key,
                    const meta_flag_line& flags, std::string_view value = {});

    // The gather list of everything encoded since clear().
    [[nodiscard]] std::span<const chunk> chunks();
    // Bytes encoded since clear().
    [[nodiscard]] std::size_t size() const noexcept { return total_; }
    [[nodiscard]] bool empty() const noexcept { return total_ == 0; }
    // Forgets the encoded requests and keeps the buffers' capacity.
    void clear() noexcept;

    [[nodiscard]] const encoder_options& options() const noexcept { return options_; }

private:
    struct segment {
        const char* external;  // nullptr: bytes live in head_ at `offset`
        std::size_t offset;
        std::size_t size;
    };

    error_code check_key(std::string_view key) const noexcept;
    error_code check_value(std::string_view value) const noexcept;

    // Every request is written in three steps: open() makes room for all of its bytes
    // in head_ (and for its segments), which is the only step that allocates, so a
    // request that throws leaves nothing behind; the bytes are written in place; and
    // close() records them. A request is thus written with one capacity check, and
    // without a stack buffer copied once more. (Inline in lib/protocol/encoding.hpp.)
    char* open(std::size_t bytes);
    void close(const char* end) noexcept;
    // open()'s rare path: makes room for `bytes` and max_request_segments more segments.
    void grow(std::size_t bytes);
    // A request adds at most three segments: its line (merged into the head segment
    // before it when adjacent), a referenced value, and the CRLF after that value.
    static constexpr std::size_t max_request_segments = 3;
    // A line of fixed text.
    void put_line(std::string_view line);
    // Writes prefix + key (in base64 with `base64`) at `out`; returns the end.
    char* put_key(char* out, std::string_view key, bool base64) const noexcept;
    char* put_key_base64(char* out, std::string_view key) const noexcept;
    // Whether the value is copied next to its line (else it is referenced in place).
    bool copies(std::string_view value) const noexcept;
    // Bytes the value takes in head_: itself and its CRLF when copied, else the CRLF.
    std::size_t value_room(std::string_view value) const noexcept;
    // Writes the value and its CRLF after the line that ends at `end`, and closes
    // both: copied in place, or referenced between two head segments.
    void put_value(char* end, std::string_view value) noexcept;
    void put_referenced(char* end, std::string_view value) noexcept;

    // The shared writing of the checked and the prevalidated entry points.
    error_code write_store(store_command cmd, std::string_view key, std::string_view value,
                           std::uint32_t flags, std::int64_t exptime, bool noreply,
                           std::uint64_t cas_unique);
    error_code write_retrieve(retrieve_command cmd, std::span<const std::string_view> keys,
                              std::int64_t exptime);
    // <word>[ <key>][ <number>][ noreply]: delete, incr, decr, touch, flush_all,
    // verbosity, cache_memlimit.
    template <class Number>
    error_code write_words(std::string_view word, std::optional<std::string_view> key,
                           std::optional<Number> number, bool noreply);
    // `key_bytes`: its length on the wire; `write_flags(char*) -> char*` writes
    // `flag_bytes` of flags, each with its leading space.
    template <class WriteFlags>
    error_code write_meta(meta_command cmd, std::string_view key, bool base64,
                          std::size_t key_bytes, std::size_t flag_bytes, WriteFlags write_flags,
                          std::string_view value);

    encoder_options options_;
    // Command lines and copied values. Its size is its capacity: head_used_ bytes are
    // in use, so that a request is written in place without zero-filling first.
    std::string head_;
    std::size_t head_used_ = 0;
    std::vector<segment> segments_; // in wire order
    std::vector<chunk> chunks_;     // resolved by chunks()
    std::size_t total_ = 0;
};

}  // namespace memcoro::protocol
