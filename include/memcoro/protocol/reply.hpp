// What the response parser reports: the shape a request's reply takes, and the
// events the parser produces while reading it. All views point into the caller's
// read buffer and stay valid until the caller discards the consumed bytes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace memcoro::protocol {

// The reply a request expects. The parser must be told the shape of each reply before
// it reads it, because several replies share words (NOT_FOUND, OK) and because some
// (`stats sizes_enable`) have no terminator a generic reader could wait for.
enum class reply_shape : std::uint8_t {
    none,        // nothing is expected; any byte is a protocol error
    stored,      // set add replace append prepend cas: STORED NOT_STORED EXISTS NOT_FOUND
    values,      // get gets gat gats: (VALUE <key> <flags> <bytes>[ <cas>] + data)* END
    deleted,     // delete: DELETED NOT_FOUND
    touched,     // touch: TOUCHED NOT_FOUND
    arithmetic,  // incr decr: <u64> NOT_FOUND
    stats,       // stats [args]: (STAT|ITEM|PREFIX lines)* END
    stat_line,   // stats sizes_enable / sizes_disable: exactly one STAT line, no END
    ok,          // flush_all verbosity "stats detail on|off": OK
    reset,       // stats reset: RESET
    version,     // version: VERSION <text>
    memlimit,    // cache_memlimit: OK, or MEMLIMIT_TOO_SMALL / MEMLIMIT_ADJUST_FAILED <text>
    closes,      // shutdown: the server closes the stream; only an error line may come
    meta,        // mg md ma mn me: a meta reply (HD VA EN NF NS EX MN ME)
    meta_set,    // ms: a meta reply; the request carried a data block (see error sync)
};

// One-word replies.
enum class status : std::uint8_t {
    stored,
    not_stored,
    exists,
    not_found,
    deleted,
    touched,
    ok,
    reset,
};

// Meta return codes (protocol.md 3.2).
enum class meta_code : std::uint8_t { hd, va, en, nf, ns, ex, mn, me };

// The three error lines (protocol.md 1.5). `memlimit` stands for the two refusals of
// cache_memlimit, which are not prefixed like the others.
enum class error_line : std::uint8_t { error, client_error, server_error, memlimit };

enum class event_kind : std::uint8_t {
    need_more,  // consumed what it could; feed more bytes
    value,      // a VALUE line: key, flags, size, cas (gets/gats); a body of `size` bytes
                // follows, or came with it (`last`)
    data,       // a piece of a value body (text VALUE or meta VA); `last` when it is whole
    end,        // END of a values or stats reply
    stat,       // a STAT/ITEM/PREFIX line: name and value
    status,     // a one-word reply
    number,     // the u64 an incr/decr returned
    version,    // VERSION <text>
    meta,       // a meta reply header: code, size (VA), O f c, all return flags in `text`
    error,      // an error line: which, its text, and whether the stream is still in sync
    failed,     // the stream broke the protocol; see `failure`. The parser stays failed.
};

struct event {
    event_kind kind = event_kind::need_more;

    // True when this event finishes the reply to the current request: the caller
    // then tells the parser the next shape with `expect`.
    bool complete = false;

    // data: the body and its trailing CRLF are fully consumed.
    // value, meta VA: the whole body came with the line, in `bytes` (its CRLF
    // consumed too); no data events follow.
    bool last = false;

    // error: false when the stream can no longer be trusted to stay in step with the
    // requests (protocol.md 1.13); the connection must then be closed.
    bool in_sync = true;

    status word = status::ok;             // status
    meta_code code = meta_code::hd;       // meta
    error_line which = error_line::error; // error

    // value: the client flags and, for gets / gats, the cas.
    // meta (all codes but ME): the return flags `f` and `c`, and the opaque `O`, read
    // out of `text` in one pass by the parser. A field is set when its flag came with a
    // token that is a whole unsigned decimal of the field's type. A flag given more than
    // once counts once, the first time (as find_meta_flag reads it). A malformed token
    // (empty, signed, not decimal, out of range) leaves the field as if the flag were
    // absent: `flags` 0 and `cas` empty, which is what a reply without them means, and
    // no `opaque`, which the caller must take for a reply to some other request.
    std::uint32_t flags = 0;
    std::optional<std::uint32_t> opaque;  // meta only
    std::optional<std::uint64_t> cas;

    std::size_t size = 0;             // value, meta VA: body length
    std::uint64_t number = 0;         // number

    std::string_view key;   // value: the key; me: the key; stat: the name
    // meta: all the return flags (the other ones, t s k b W X Z ..., are read from
    // here with find_meta_flag); error/version: the text; stat: the value; me: the rest
    std::string_view text;
    std::string_view bytes; // data: the piece of the body in the input; value, meta VA: see last

    int failure = 0;  // failed: a memcoro::error value
};

// Finds return flag `f` in a meta reply's flag text (e.g. "c64 t30 kfoo" and 'c' -> "64"):
// for the flags the parser does not read into the event itself.
// Returns nullopt when the flag is absent; a flag with no token gives an empty view.
[[nodiscard]] std::optional<std::string_view> find_meta_flag(std::string_view flags,
                                                             char f) noexcept;

// A server version as one comparable number, major * 10000 + minor * 100 + patch: the
// text of a VERSION reply ("1.6.18" -> 10618). Anything after the patch number is
// ignored ("1.6.21-dirty"). 0 when the text does not start with three dot-separated
// numbers in range (minor and patch below 100), or when it names no version at all.
[[nodiscard]] std::uint32_t parse_server_version(std::string_view text) noexcept;

}  // namespace memcoro::protocol
