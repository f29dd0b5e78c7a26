// The incremental response parser: bytes in, events out, no I/O.
//
// The caller keeps a read buffer. It passes the unconsumed region to parse(), which
// returns one event and how many bytes that event consumed; the caller drops those
// bytes (now or later) and calls again. Bytes of an incomplete line are not
// consumed, but the parser remembers how far it has searched, so a line that arrives
// a byte at a time is scanned once. The caller must therefore pass the same
// unconsumed bytes again, followed by whatever arrived since.
//
// Views in an event point into the input and are valid until the caller overwrites
// or discards those bytes.
//
// A value body that is already whole in the input, CRLF and all, comes with its line:
// the `value` or meta `VA` event carries it in `bytes` and has `last` set, and no
// `data` events follow (small values nearly always arrive that way, and one event per
// reply is cheaper to read than two). Any other body is reported as `data` pieces of
// whatever is in the input. A caller that would rather read a large body straight
// into its final storage asks body_remaining(), reads that many bytes itself and
// reports them with skip_body().
#pragma once

#include <memcoro/protocol/reply.hpp>

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace memcoro::protocol {

struct parser_limits {
    // The longest reply line accepted, CRLF included. Real replies stay far below
    // this (a VALUE line with a 250-byte key is under 300 bytes); a longer line is a
    // broken or hostile server, never a reason to buffer without bound.
    std::size_t max_line = 4096;

    // The largest value body accepted. memcached's default item size is 1 MiB; a
    // server started with a larger -I needs this raised.
    std::size_t max_value = 1024 * 1024;
};

struct parse_result {
    event ev;
    std::size_t consumed = 0;
};

class response_parser {
public:
    explicit response_parser(parser_limits limits = {}) noexcept : limits_(limits) {}

    // Sets the shape of the next reply. Call it before the first reply and after every
    // event with `complete` set; the shape otherwise stays as it was, and with
    // reply_shape::none (nothing pending) any byte that arrives is a protocol error.
    void expect(reply_shape shape) noexcept {
        shape_ = shape;
        in_reply_ = false;
    }

    // Parses the next event out of `input` (the unconsumed bytes).
    [[nodiscard]] parse_result parse(std::string_view input) noexcept;

    // Body bytes still to come in the current value, or 0 outside a body.
    [[nodiscard]] std::size_t body_remaining() const noexcept {
        return state_ == state::body ? body_left_ : 0;
    }

    // Reports that the caller took `n` <= body_remaining() body bytes out of band.
    void skip_body(std::size_t n) noexcept;

    [[nodiscard]] bool failed() const noexcept { return state_ == state::failed; }
    [[nodiscard]] reply_shape expecting() const noexcept { return shape_; }
    [[nodiscard]] const parser_limits& limits() const noexcept { return limits_; }

    // Forgets everything: for a new connection.
    void reset() noexcept;

private:
    enum class state : std::uint8_t { line, body, trailer, failed };

    // The helpers of on_line fill in (or fail) the result on_line returns.
    parse_result on_line(std::string_view input, std::size_t newline) noexcept;
    void on_values_line(std::string_view line, std::string_view after, parse_result& r) noexcept;
    void on_stats_line(std::string_view line, parse_result& r) noexcept;
    void on_meta_line(std::string_view line, std::string_view after, parse_result& r) noexcept;
    bool on_error_line(std::string_view line, parse_result& r) noexcept;
    void begin_body(std::size_t size, std::string_view after, parse_result& r) noexcept;
    parse_result parse_body(std::string_view input) noexcept;
    parse_result fail(int code, std::size_t consumed = 0) noexcept;
    void fail(parse_result& r, int code) noexcept;  // keeps r.consumed
    [[nodiscard]] bool error_keeps_sync(error_line which) const noexcept;

    parser_limits limits_;
    reply_shape shape_ = reply_shape::none;
    state state_ = state::line;
    std::size_t scanned_ = 0;    // bytes of the current line already searched for '\n'
    std::size_t body_left_ = 0;  // body bytes still to come
    std::uint8_t trailer_seen_ = 0;  // bytes of the body's CRLF consumed
    bool in_reply_ = false;  // a multi-line reply has started (a VALUE or STAT line came)
    int failure_ = 0;
};

}  // namespace memcoro::protocol
