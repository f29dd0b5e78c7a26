// libFuzzer target for the incremental response parser.
//
// Input: the first byte picks the reply shape (modulo the number of shapes), the rest
// is the byte stream the server sent. After every event that completes a reply the
// target expects the same shape again, so one input can hold many replies.
//
// The stream is parsed three ways: fed whole, fed one byte at a time through a buffer
// that is appended to and drained like a connection's, and fed in uneven chunks with
// every value body taken out of band (body_remaining / skip_body). The contract says
// the events do not depend on how the bytes arrived (a body that came with its line is
// written like one that came in data events), so the three transcripts must be equal;
// they include the meta fields O f c. Every call is also checked against the contract:
// consumed within the input, views inside the input, progress, body sizes, the
// configured limits, a sticky failure, and the meta fields against find_meta_flag.
// Any violation traps, which libFuzzer reports as a crash.

#include <memcoro/error.hpp>
#include <memcoro/protocol/parser.hpp>
#include <memcoro/protocol/reply.hpp>

#include "../support/meta_flag_reference.hpp"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

namespace {

using memcoro::protocol::event;
using memcoro::protocol::event_kind;
using memcoro::protocol::meta_code;
using memcoro::protocol::parse_result;
using memcoro::protocol::parser_limits;
using memcoro::protocol::reply_shape;
using memcoro::protocol::response_parser;
using memcoro::test::reference_flag;

constexpr reply_shape shapes[] = {
    reply_shape::none,      reply_shape::stored,  reply_shape::values,  reply_shape::deleted,
    reply_shape::touched,   reply_shape::arithmetic, reply_shape::stats, reply_shape::stat_line,
    reply_shape::ok,        reply_shape::reset,   reply_shape::version, reply_shape::memlimit,
    reply_shape::closes,    reply_shape::meta,    reply_shape::meta_set,
};
constexpr std::size_t shape_count = sizeof shapes / sizeof shapes[0];

// Small limits, so that inputs of a few kilobytes reach the limit checks too.
constexpr parser_limits limits{256, 2048};

void require(bool ok) {
    if (!ok) {
        __builtin_trap();
    }
}

bool inside(std::string_view part, std::string_view whole) {
    if (part.empty()) {
        return true;  // an empty view is never read, wherever it points
    }
    return std::less_equal<>{}(whole.data(), part.data()) &&
           std::less_equal<>{}(part.data() + part.size(), whole.data() + whole.size());
}

template <class T>
std::string show(const std::optional<T>& v) {
    return v ? std::to_string(*v) : "-";
}

// The fields O f c are read from the flag text of meta replies other than ME, and
// only there; a VALUE line has its own flags and cas, and no opaque.
void check_fields(const event& e) {
    const bool flags_event = e.kind == event_kind::meta && e.code != meta_code::me;
    const std::string_view text = flags_event ? e.text : std::string_view{};
    require(e.opaque == reference_flag<std::uint32_t>(text, 'O'));
    if (e.kind != event_kind::value) {
        require(e.flags == reference_flag<std::uint32_t>(text, 'f').value_or(0));
        require(e.cas == reference_flag<std::uint64_t>(text, 'c'));
    }
}

bool is_line_event(event_kind k) {
    return k != event_kind::data && k != event_kind::need_more && k != event_kind::failed;
}

// Writes the events of one run as text. Data pieces are joined per body, so that the
// transcript does not depend on how the stream was cut.
class recorder {
public:
    // Checks one parse() result and appends it. Returns false when the run is over
    // (the parser failed).
    bool on_result(const parse_result& r, std::string_view input, response_parser& p) {
        const event& e = r.ev;
        require(r.consumed <= input.size());
        require(inside(e.key, input) && inside(e.text, input) && inside(e.bytes, input));
        check_fields(e);
        const bool with_body = e.kind == event_kind::value ||
                               (e.kind == event_kind::meta && e.code == meta_code::va);
        require(!e.last || with_body || e.kind == event_kind::data);
        if (is_line_event(e.kind)) {
            // A line was accepted: it cannot be longer than the bound. A body that came
            // with it is whole, and so is its CRLF.
            const std::size_t body = e.last ? e.size + 2 : 0;
            require(!e.last || (e.bytes.size() == e.size && r.consumed >= body));
            require(r.consumed - body <= limits.max_line);
        }
        switch (e.kind) {
            case event_kind::need_more: require(!e.complete); return true;
            case event_kind::value:
                require(!in_body_ && !e.complete && e.size <= limits.max_value);
                text_ += "V " + std::string(e.key) + ' ' + std::to_string(e.flags) + ' ' +
                         std::to_string(e.size);
                if (e.cas) {
                    text_ += " c" + std::to_string(*e.cas);
                }
                text_ += '\n';
                begin_body(e.size);
                attached_body(e);
                break;
            case event_kind::data:
                require(in_body_ && e.bytes.size() <= r.consumed);
                body_ += e.bytes;
                require(body_.size() <= body_size_);
                if (e.last) {
                    require(body_.size() == body_size_);
                    text_ += "D " + body_ + '\n';
                    in_body_ = false;
                } else {
                    require(!e.complete);
                }
                break;
            case event_kind::end: text_ += "E\n"; break;
            case event_kind::stat:
                text_ += "S " + std::string(e.key) + ' ' + std::string(e.text) + '\n';
                break;
            case event_kind::status:
                text_ += "W " + std::to_string(static_cast<int>(e.word)) + '\n';
                break;
            case event_kind::number: text_ += "N " + std::to_string(e.number) + '\n'; break;
            case event_kind::version: text_ += "R " + std::string(e.text) + '\n'; break;
            case event_kind::meta:
                text_ += "M " + std::to_string(static_cast<int>(e.code)) + ' ' +
                         std::string(e.key) + ' ' + std::string(e.text) + " [O" +
                         show(e.opaque) + " f" + std::to_string(e.flags) + " c" + show(e.cas) +
                         ']';
                if (e.code == meta_code::va) {
                    require(e.complete == e.last && e.size <= limits.max_value);
                    text_ += ' ' + std::to_string(e.size);
                }
                text_ += '\n';
                if (e.code == meta_code::va) {
                    begin_body(e.size);
                    attached_body(e);
                }
                break;
            case event_kind::error:
                text_ += "X " + std::to_string(static_cast<int>(e.which)) +
                         (e.in_sync ? " s " : " d ") + std::string(e.text) + '\n';
                require(e.complete);
                break;
            case event_kind::failed: {
                require(p.failed());
                require(e.failure == static_cast<int>(memcoro::error::protocol_error) ||
                        e.failure == static_cast<int>(memcoro::error::line_too_long) ||
                        e.failure == static_cast<int>(memcoro::error::reply_too_large));
                // Sticky: it fails again, the same way, and takes nothing.
                const parse_result again = p.parse(input);
                require(again.ev.kind == event_kind::failed && again.ev.failure == e.failure &&
                        again.consumed == 0);
                text_ += "F " + std::to_string(e.failure) + '\n';
                in_body_ = false;
                return false;
            }
        }
        if (e.complete) {
            require(!in_body_);
        }
        return true;
    }

    // A body that came with its line: written as a last data event would be.
    void attached_body(const event& e) {
        if (e.last) {
            body_ = std::string(e.bytes);
            text_ += "D " + body_ + '\n';
            in_body_ = false;
        } else {
            require(e.bytes.empty());
        }
    }

    void take_out_of_band(std::string_view bytes) {
        require(in_body_);
        body_ += bytes;
        require(body_.size() <= body_size_);
    }

    std::string finish() {
        if (in_body_) {
            text_ += "P " + body_ + '\n';
        }
        return text_;
    }

private:
    void begin_body(std::size_t size) {
        in_body_ = true;
        body_size_ = size;
        body_.clear();
    }

    std::string text_;
    std::string body_;
    std::size_t body_size_ = 0;
    bool in_body_ = false;
};

enum class feeding { whole, bytewise, chunks_out_of_band };

// Parses `stream` under `shape` and returns the transcript.
std::string run(reply_shape shape, std::string_view stream, feeding how) {
    response_parser p(limits);
    p.expect(shape);
    recorder rec;

    // The connection's read buffer: bytes [head, buffer.size()) are unconsumed. In
    // `whole` mode the stream itself is the buffer, so views are checked against it.
    std::string buffer;
    std::size_t head = 0;
    std::size_t fed = 0;
    std::size_t chunk = 1;
    bool running = true;

    while (running) {
        // Deliver the next piece.
        std::size_t n = 0;
        switch (how) {
            case feeding::whole: n = stream.size() - fed; break;
            case feeding::bytewise: n = 1; break;
            case feeding::chunks_out_of_band:
                // Uneven sizes 1..13 so that cuts land everywhere across inputs.
                chunk = chunk * 5 % 14;
                n = chunk;
                break;
        }
        n = std::min(n, stream.size() - fed);
        if (how != feeding::whole) {
            if (head > 4096) {
                buffer.erase(0, head);
                head = 0;
            }
            buffer.append(stream.substr(fed, n));
        }
        fed += n;

        int idle = 0;
        for (;;) {
            const std::string_view all =
                how == feeding::whole ? stream.substr(0, fed) : std::string_view(buffer);
            std::string_view input = all.substr(head);
            if (how == feeding::chunks_out_of_band) {
                const std::size_t remaining = p.body_remaining();
                const std::size_t take = std::min(remaining, input.size());
                if (take > 0) {
                    rec.take_out_of_band(input.substr(0, take));
                    p.skip_body(take);
                    require(p.body_remaining() == remaining - take);
                    head += take;
                    input.remove_prefix(take);
                }
            }
            const parse_result r = p.parse(input);
            if (!rec.on_result(r, input, p)) {
                running = false;
                break;
            }
            head += r.consumed;
            if (r.ev.kind == event_kind::need_more) {
                if (r.consumed == 0) {
                    break;  // wait for more bytes
                }
                continue;
            }
            if (r.ev.complete) {
                p.expect(shape);
            }
            // An event that takes no bytes is allowed once in a while (an empty body),
            // but a run of them means the parser is stuck.
            idle = r.consumed == 0 ? idle + 1 : 0;
            require(idle < 3);
        }
        if (fed == stream.size()) {
            break;
        }
    }
    return rec.finish();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size == 0) {
        return 0;
    }
    const reply_shape shape = shapes[data[0] % shape_count];
    const std::string_view stream(reinterpret_cast<const char*>(data) + 1, size - 1);

    const std::string whole = run(shape, stream, feeding::whole);
    const std::string bytewise = run(shape, stream, feeding::bytewise);
    require(whole == bytewise);
    const std::string chunked = run(shape, stream, feeding::chunks_out_of_band);
    require(whole == chunked);
    return 0;
}
