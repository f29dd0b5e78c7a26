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
// Lifetimes: a referenced value must stay alive and unchanged until the write that
// carries chunks() has completed. The views returned by chunks() are invalidated by
// the next encoding call or clear().
#pragma once

#include <memcoro/protocol/key.hpp>
#include <memcoro/protocol/reply.hpp>

#include <boost/system/error_code.hpp>

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

    // get|gets <key>+\r\n, gat|gats <exptime> <key>+\r\n. At least one key.
    error_code retrieve(retrieve_command cmd, std::span<const std::string_view> keys,
                        std::int64_t exptime = 0);
    error_code retrieve(retrieve_command cmd, std::string_view key, std::int64_t exptime = 0) {
        return retrieve(cmd, std::span<const std::string_view>(&key, 1), exptime);
    }

    error_code remove(std::string_view key, bool noreply);  // delete <key> [noreply]
    error_code arithmetic(arithmetic_command cmd, std::string_view key, std::uint64_t delta,
                          bool noreply);
    error_code touch(std::string_view key, std::int64_t exptime, bool noreply);

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

    // The end of the encoded bytes before a request, to drop a half-written request
    // when an allocation throws.
    struct checkpoint {
        std::size_t head;
        std::size_t segments;
        std::size_t last_size;
        std::size_t total;
    };

    error_code check_key(std::string_view key) const noexcept;
    error_code check_value(std::string_view value) const noexcept;
    // Runs `write` (which only appends) and undoes it if it throws.
    template <class Write>
    error_code commit(Write&& write);
    void rollback(const checkpoint& to) noexcept;
    class line_builder;

    void put(std::string_view s);
    void put_key_base64(line_builder& line, std::string_view key);
    void put_value(std::string_view value);

    encoder_options options_;
    std::string head_;              // command lines and copied values
    std::vector<segment> segments_; // in wire order
    std::vector<chunk> chunks_;     // resolved by chunks()
    std::size_t total_ = 0;
};

}  // namespace memcoro::protocol
