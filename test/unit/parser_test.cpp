// Tests for the incremental response parser (memcoro/protocol/parser.hpp).
//
// Most cases go through check_stream(): a driver feeds a byte stream under a list of
// reply shapes and writes a normalized transcript of the events, with the data pieces
// of each value joined so that one transcript describes the stream however it was cut.
// Every stream is replayed whole, cut in two at every offset, one byte at a time, and
// all of that again with value bodies taken out of band; every transcript must equal
// the expected one. A body that comes with its line is written like one that comes in
// data events. The driver also checks the contract on every call (consumed bounds,
// views inside the input, body sizes, sticky failure, the meta fields O f c against
// find_meta_flag).
//
// The byte streams are real memcached 1.6.18 replies unless a case says otherwise.

#include <memcoro/error.hpp>
#include <memcoro/protocol/parser.hpp>
#include <memcoro/protocol/reply.hpp>

#include "../support/meta_flag_reference.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace {

using namespace std::string_literals;

using memcoro::error;
using memcoro::protocol::error_line;
using memcoro::protocol::event;
using memcoro::protocol::event_kind;
using memcoro::protocol::meta_code;
using memcoro::protocol::parse_result;
using memcoro::protocol::parser_limits;
using memcoro::protocol::reply_shape;
using memcoro::protocol::response_parser;
using memcoro::protocol::status;
using memcoro::test::reference_flag;
using rs = reply_shape;
using lines = std::vector<std::string>;

constexpr int code(error e) { return static_cast<int>(e); }

// Makes bytes printable so that transcripts of binary bodies compare and print well.
std::string escape(std::string_view s) {
    std::string out;
    for (const char ch : s) {
        const auto c = static_cast<unsigned char>(ch);
        if (c == '\r') {
            out += "\\r";
        } else if (c == '\n') {
            out += "\\n";
        } else if (c == '\\') {
            out += "\\\\";
        } else if (c < 0x20 || c >= 0x7f) {
            char hex[8];
            std::snprintf(hex, sizeof hex, "\\x%02x", static_cast<unsigned>(c));
            out += hex;
        } else {
            out += ch;
        }
    }
    return out;
}

const char* status_name(status s) {
    switch (s) {
        case status::stored: return "STORED";
        case status::not_stored: return "NOT_STORED";
        case status::exists: return "EXISTS";
        case status::not_found: return "NOT_FOUND";
        case status::deleted: return "DELETED";
        case status::touched: return "TOUCHED";
        case status::ok: return "OK";
        case status::reset: return "RESET";
    }
    return "?status";
}

const char* code_name(meta_code c) {
    switch (c) {
        case meta_code::hd: return "HD";
        case meta_code::va: return "VA";
        case meta_code::en: return "EN";
        case meta_code::nf: return "NF";
        case meta_code::ns: return "NS";
        case meta_code::ex: return "EX";
        case meta_code::mn: return "MN";
        case meta_code::me: return "ME";
    }
    return "?code";
}

const char* which_name(error_line w) {
    switch (w) {
        case error_line::error: return "ERROR";
        case error_line::client_error: return "CLIENT_ERROR";
        case error_line::server_error: return "SERVER_ERROR";
        case error_line::memlimit: return "MEMLIMIT";
    }
    return "?which";
}

std::string failure_name(int failure) {
    switch (static_cast<error>(failure)) {
        case error::protocol_error: return "protocol_error";
        case error::line_too_long: return "line_too_long";
        case error::reply_too_large: return "reply_too_large";
        default: return "code " + std::to_string(failure);
    }
}

template <class T>
std::string show_optional(const std::optional<T>& v) {
    return v ? std::to_string(*v) : "-";
}

bool inside(std::string_view part, std::string_view whole) {
    if (part.empty()) {
        return true;  // an empty view may point anywhere; it is never read
    }
    return std::less_equal<>{}(whole.data(), part.data()) &&
           std::less_equal<>{}(part.data() + part.size(), whole.data() + whole.size());
}

// Feeds a stream to a parser the way a connection does (append what arrived, parse
// until need_more, drop what was consumed) and writes the transcript.
class driver {
public:
    // `fields`: meta lines in the transcript also show the parsed O f c.
    driver(std::vector<reply_shape> shapes, parser_limits limits, bool out_of_band,
           bool fields = false)
        : parser_(limits), shapes_(std::move(shapes)), out_of_band_(out_of_band), fields_(fields) {
        next_shape();
    }

    void feed(std::string_view piece) {
        buffer_ += piece;
        pump();
    }

    // The transcript; a body still incomplete at the end of the stream is listed as
    // `partial`.
    lines finish() {
        lines out = transcript_;
        if (in_body_ && !stopped_) {
            out.push_back("partial \"" + escape(body_) + "\"");
        }
        return out;
    }

    [[nodiscard]] const lines& violations() const { return violations_; }
    [[nodiscard]] response_parser& parser() { return parser_; }
    [[nodiscard]] const std::string& unconsumed() const { return buffer_; }

private:
    void next_shape() {
        current_ = next_ < shapes_.size() ? shapes_[next_++] : rs::none;
        parser_.expect(current_);
    }

    void violation(std::string what) {
        violations_.push_back(std::move(what));
        stopped_ = true;
    }

    void take_body() {
        const std::size_t remaining = parser_.body_remaining();
        const std::size_t n = std::min(remaining, buffer_.size());
        if (n == 0) {
            return;
        }
        if (!in_body_) {
            violation("body_remaining() > 0 outside a value");
            return;
        }
        body_ += std::string_view(buffer_).substr(0, n);
        parser_.skip_body(n);
        buffer_.erase(0, n);
        if (parser_.body_remaining() != remaining - n) {
            violation("skip_body did not reduce body_remaining()");
        }
    }

    void pump() {
        int idle = 0;
        while (!stopped_) {
            if (out_of_band_) {
                take_body();
                if (stopped_) {
                    return;
                }
            }
            if (parser_.expecting() != current_) {
                violation("expecting() changed without expect()");
                return;
            }
            const std::string_view input = buffer_;
            const parse_result r = parser_.parse(input);
            if (r.consumed > input.size()) {
                violation("consumed " + std::to_string(r.consumed) + " of " +
                          std::to_string(input.size()));
                return;
            }
            if (!inside(r.ev.key, input) || !inside(r.ev.text, input) ||
                !inside(r.ev.bytes, input)) {
                violation("a view points outside the input");
                return;
            }
            record(r, input);
            buffer_.erase(0, r.consumed);
            if (r.ev.kind == event_kind::need_more || r.ev.kind == event_kind::failed) {
                return;
            }
            // Events that consume nothing are allowed (an empty body), but not forever.
            idle = r.consumed == 0 ? idle + 1 : 0;
            if (idle > 2) {
                violation("no progress");
                return;
            }
        }
    }

    // The meta fields against the flag text they were read from; other events have
    // no opaque.
    void check_fields(const event& e) {
        const bool flags_event = e.kind == event_kind::meta && e.code != meta_code::me;
        const std::string_view text = flags_event ? e.text : std::string_view{};
        if (e.opaque != reference_flag<std::uint32_t>(text, 'O')) {
            violation("opaque " + show_optional(e.opaque) + " for \"" + escape(text) + "\"");
        }
        if (e.kind == event_kind::value) {
            return;  // flags and cas come from the VALUE line
        }
        if (e.flags != reference_flag<std::uint32_t>(text, 'f').value_or(0) ||
            e.cas != reference_flag<std::uint64_t>(text, 'c')) {
            violation("flags/cas " + std::to_string(e.flags) + "/" + show_optional(e.cas) +
                      " for \"" + escape(text) + "\"");
        }
    }

    // A body that came with its line: written as the last data event would be.
    std::string attached_body(const parse_result& r) {
        const event& e = r.ev;
        if (e.bytes.size() != e.size || r.consumed < e.size + 2) {
            violation("attached body of " + std::to_string(e.bytes.size()) + " bytes");
        }
        in_body_ = false;
        return "data \"" + escape(e.bytes) + "\"";
    }

    void record(const parse_result& r, std::string_view input) {
        const event& e = r.ev;
        std::string line;
        check_fields(e);
        const bool may_be_last = e.kind == event_kind::data || e.kind == event_kind::value ||
                                 (e.kind == event_kind::meta && e.code == meta_code::va);
        if (e.last && !may_be_last) {
            violation("last on an event without a body");
        }
        switch (e.kind) {
            case event_kind::need_more:
                if (e.complete) {
                    violation("need_more marked complete");
                }
                return;
            case event_kind::value:
                if (in_body_) {
                    violation("value inside a body");
                }
                line = "value " + escape(e.key) + " " + std::to_string(e.flags) + " " +
                       std::to_string(e.size);
                if (e.cas) {
                    line += " cas=" + std::to_string(*e.cas);
                }
                begin_body(e.size);
                if (e.last) {
                    transcript_.push_back(line);
                    line = attached_body(r);
                }
                break;
            case event_kind::data:
                if (!in_body_) {
                    violation("data outside a body");
                    return;
                }
                if (e.bytes.size() > r.consumed) {
                    violation("data bytes larger than consumed");
                }
                body_ += e.bytes;
                if (body_.size() > body_size_) {
                    violation("body longer than announced");
                }
                if (!e.last) {
                    if (e.complete) {
                        violation("data not last but complete");
                    }
                    return;
                }
                if (body_.size() != body_size_) {
                    violation("last data with " + std::to_string(body_.size()) + " of " +
                              std::to_string(body_size_) + " bytes");
                }
                line = "data \"" + escape(body_) + "\"";
                in_body_ = false;
                body_.clear();
                break;
            case event_kind::end: line = "end"; break;
            case event_kind::stat: line = "stat " + escape(e.key) + " " + escape(e.text); break;
            case event_kind::status: line = "status "s + status_name(e.word); break;
            case event_kind::number: line = "number " + std::to_string(e.number); break;
            case event_kind::version: line = "version " + escape(e.text); break;
            case event_kind::meta:
                line = "meta "s + code_name(e.code);
                if (e.code == meta_code::va) {
                    line += " " + std::to_string(e.size);
                    begin_body(e.size);
                }
                if (e.code == meta_code::me) {
                    line += " " + escape(e.key);
                }
                if (!e.text.empty()) {
                    line += " " + escape(e.text);
                }
                if (fields_) {
                    line += " [O" + show_optional(e.opaque) + " f" + std::to_string(e.flags) +
                            " c" + show_optional(e.cas) + "]";
                }
                if (e.last) {
                    transcript_.push_back(line);
                    line = attached_body(r);
                }
                break;
            case event_kind::error:
                line = "error "s + which_name(e.which) + (e.in_sync ? " sync" : " desync");
                if (!e.text.empty()) {
                    line += " " + escape(e.text);
                }
                break;
            case event_kind::failed: {
                transcript_.push_back("failed " + failure_name(e.failure));
                stopped_ = true;
                in_body_ = false;
                if (!parser_.failed()) {
                    violations_.push_back("failed event but failed() is false");
                }
                // Sticky: the same bytes, or any others, fail again without consuming.
                const parse_result again = parser_.parse(input);
                if (again.ev.kind != event_kind::failed || again.ev.failure != e.failure ||
                    again.consumed != 0) {
                    violations_.push_back("failure is not sticky");
                }
                return;
            }
        }
        if (e.complete) {
            if (in_body_) {
                violation("complete inside a body");
            }
            line += " |";
            next_shape();
        }
        transcript_.push_back(std::move(line));
    }

    void begin_body(std::size_t size) {
        in_body_ = true;
        body_size_ = size;
        body_.clear();
    }

    response_parser parser_;
    std::vector<reply_shape> shapes_;
    std::size_t next_ = 0;
    reply_shape current_ = rs::none;
    bool out_of_band_;
    bool fields_;
    bool stopped_ = false;
    std::string buffer_;
    lines transcript_;
    lines violations_;
    bool in_body_ = false;
    std::size_t body_size_ = 0;
    std::string body_;
};

struct outcome {
    lines transcript;
    lines violations;
};

// Feeds `stream` cut at the given offsets (ascending).
outcome run(const std::vector<reply_shape>& shapes, std::string_view stream,
            const std::vector<std::size_t>& cuts, bool out_of_band, parser_limits limits,
            bool fields) {
    driver d(shapes, limits, out_of_band, fields);
    std::size_t at = 0;
    for (const std::size_t cut : cuts) {
        d.feed(stream.substr(at, cut - at));
        at = cut;
    }
    d.feed(stream.substr(at));
    return {d.finish(), d.violations()};
}

std::string show(const lines& l) {
    std::string out;
    for (const auto& s : l) {
        out += "    " + s + "\n";
    }
    return out;
}

// Runs `stream` in every way of feeding it and compares each transcript with
// `expected`. Reports only the first mismatch of each way, to keep the output short.
void check_stream(const std::vector<reply_shape>& shapes, std::string_view stream,
                  const lines& expected, parser_limits limits = {}, bool fields = false) {
    INFO("stream: \"", escape(stream), "\"");
    for (const bool oob : {false, true}) {
        const char* const bodies = oob ? " (bodies out of band)" : "";
        const auto mismatch = [&](const std::string& how, const outcome& o) {
            return how + bodies + "\nexpected:\n" + show(expected) + "got:\n" +
                   show(o.transcript) + (o.violations.empty() ? "" : "violations:\n") +
                   show(o.violations);
        };
        const outcome whole = run(shapes, stream, {}, oob, limits, fields);
        const bool whole_ok = whole.transcript == expected && whole.violations.empty();
        CHECK_MESSAGE(whole_ok, mismatch("fed whole", whole));

        std::string first_bad_split;
        for (std::size_t cut = 1; cut < stream.size() && first_bad_split.empty(); ++cut) {
            const outcome o = run(shapes, stream, {cut}, oob, limits, fields);
            if (o.transcript != expected || !o.violations.empty()) {
                first_bad_split = mismatch("cut at " + std::to_string(cut), o);
            }
        }
        CHECK_MESSAGE(first_bad_split.empty(), first_bad_split);

        std::vector<std::size_t> every;
        for (std::size_t cut = 1; cut < stream.size(); ++cut) {
            every.push_back(cut);
        }
        const outcome bytes = run(shapes, stream, every, oob, limits, fields);
        const bool bytes_ok = bytes.transcript == expected && bytes.violations.empty();
        CHECK_MESSAGE(bytes_ok, mismatch("one byte at a time", bytes));
    }
}

// One call of parse() on a fresh parser: for checks of a single event's fields.
parse_result parse_once(reply_shape shape, std::string_view input, parser_limits limits = {}) {
    response_parser p(limits);
    p.expect(shape);
    return p.parse(input);
}

const std::vector<reply_shape> all_shapes = {
    rs::none,  rs::stored, rs::values,  rs::deleted,  rs::touched,
    rs::arithmetic, rs::stats, rs::stat_line, rs::ok, rs::reset,
    rs::version, rs::memlimit, rs::closes, rs::meta, rs::meta_set,
};

}  // namespace

// ---------------------------------------------------------------------------------------
// Storage, delete, touch, incr/decr (protocol.md 1.6, 1.8 - 1.10)

TEST_CASE("storage replies") {
    check_stream({rs::stored}, "STORED\r\n", {"status STORED |"});
    check_stream({rs::stored}, "NOT_STORED\r\n", {"status NOT_STORED |"});
    check_stream({rs::stored}, "EXISTS\r\n", {"status EXISTS |"});
    check_stream({rs::stored}, "NOT_FOUND\r\n", {"status NOT_FOUND |"});
    // set / add (exists) / replace (missing) / append / prepend (missing) / cas (missing)
    check_stream(std::vector<rs>(6, rs::stored),
                 "STORED\r\nNOT_STORED\r\nNOT_STORED\r\nSTORED\r\nNOT_STORED\r\nNOT_FOUND\r\n",
                 {"status STORED |", "status NOT_STORED |", "status NOT_STORED |",
                  "status STORED |", "status NOT_STORED |", "status NOT_FOUND |"});
}

TEST_CASE("storage error lines and stream sync") {
    // The server swallowed the data block: the stream is still in step.
    check_stream({rs::stored, rs::stored}, "SERVER_ERROR object too large for cache\r\nSTORED\r\n",
                 {"error SERVER_ERROR sync object too large for cache |", "status STORED |"});
    check_stream({rs::stored}, "SERVER_ERROR out of memory storing object\r\n",
                 {"error SERVER_ERROR sync out of memory storing object |"});
    // The data line was left unread or half read (protocol.md 1.13): out of step.
    check_stream({rs::stored, rs::stored}, "CLIENT_ERROR bad data chunk\r\nERROR\r\n",
                 {"error CLIENT_ERROR desync bad data chunk |", "error ERROR desync |"});
    check_stream({rs::stored}, "ERROR\r\n", {"error ERROR desync |"});
    check_stream({rs::stored}, "CLIENT_ERROR bad command line format\r\n",
                 {"error CLIENT_ERROR desync bad command line format |"});
    check_stream({rs::stored}, "CLIENT_ERROR authentication failure\r\n",
                 {"error CLIENT_ERROR desync authentication failure |"});
}

TEST_CASE("delete and touch replies") {
    check_stream({rs::deleted, rs::deleted}, "DELETED\r\nNOT_FOUND\r\n",
                 {"status DELETED |", "status NOT_FOUND |"});
    // Two spaces inside the text must survive.
    check_stream({rs::deleted},
                 "CLIENT_ERROR bad command line format.  Usage: delete <key> [noreply]\r\n",
                 {"error CLIENT_ERROR sync bad command line format.  Usage: delete <key> "
                  "[noreply] |"});
    check_stream({rs::touched, rs::touched, rs::touched},
                 "TOUCHED\r\nNOT_FOUND\r\nCLIENT_ERROR invalid exptime argument\r\n",
                 {"status TOUCHED |", "status NOT_FOUND |",
                  "error CLIENT_ERROR sync invalid exptime argument |"});
    check_stream({rs::deleted}, "ERROR\r\n", {"error ERROR sync |"});
    check_stream({rs::touched}, "SERVER_ERROR out of memory\r\n",
                 {"error SERVER_ERROR sync out of memory |"});
}

TEST_CASE("incr and decr replies") {
    check_stream(std::vector<rs>(6, rs::arithmetic),
                 "18446744073709551615\r\n0\r\n0\r\nNOT_FOUND\r\n"
                 "CLIENT_ERROR cannot increment or decrement non-numeric value\r\n"
                 "CLIENT_ERROR invalid numeric delta argument\r\n",
                 {"number 18446744073709551615 |", "number 0 |", "number 0 |",
                  "status NOT_FOUND |",
                  "error CLIENT_ERROR sync cannot increment or decrement non-numeric value |",
                  "error CLIENT_ERROR sync invalid numeric delta argument |"});
    check_stream({rs::arithmetic, rs::arithmetic}, "13\r\n18446744073709551610\r\n",
                 {"number 13 |", "number 18446744073709551610 |"});
    check_stream({rs::arithmetic}, "SERVER_ERROR out of memory\r\n",
                 {"error SERVER_ERROR sync out of memory |"});

    const parse_result r = parse_once(rs::arithmetic, "18446744073709551615\r\n");
    CHECK(r.ev.kind == event_kind::number);
    CHECK(r.ev.number == UINT64_MAX);
    CHECK(r.ev.complete);
    CHECK(r.consumed == 22);
}

// ---------------------------------------------------------------------------------------
// Retrieval (protocol.md 1.7)

TEST_CASE("values replies") {
    check_stream({rs::values}, "END\r\n", {"end |"});
    check_stream({rs::values}, "VALUE foo 5 3\r\nbar\r\nEND\r\n",
                 {"value foo 5 3", "data \"bar\"", "end |"});
    check_stream({rs::values}, "VALUE foo 5 3 1\r\nbar\r\nEND\r\n",
                 {"value foo 5 3 cas=1", "data \"bar\"", "end |"});
    // gets of "foo nosuch bin empty foo": a binary body holding CRLF and END, an empty
    // body, the largest flags, a key asked twice.
    check_stream({rs::values},
                 "VALUE foo 5 3 7\r\nbar\r\n"
                 "VALUE bin 4294967295 9 8\r\n\r\nEND\r\n\0\xff\r\n"
                 "VALUE empty 0 0 9\r\n\r\n"
                 "VALUE foo 5 3 7\r\nbar\r\n"
                 "END\r\n"s,
                 {"value foo 5 3 cas=7", "data \"bar\"", "value bin 4294967295 9 cas=8",
                  "data \"\\r\\nEND\\r\\n\\x00\\xff\"", "value empty 0 0 cas=9", "data \"\"",
                  "value foo 5 3 cas=7", "data \"bar\"", "end |"});
    // gat, gats, and gat with no keys, pipelined.
    check_stream({rs::values, rs::values, rs::values},
                 "VALUE foo 5 3\r\nbar\r\nEND\r\nVALUE foo 5 3 10\r\nbar\r\nEND\r\nEND\r\n",
                 {"value foo 5 3", "data \"bar\"", "end |", "value foo 5 3 cas=10",
                  "data \"bar\"", "end |", "end |"});
    check_stream({rs::values}, "VALUE c 0 1 18446744073709551615\r\n7\r\nEND\r\n",
                 {"value c 0 1 cas=18446744073709551615", "data \"7\"", "end |"});
    // A body that looks like reply lines, and one that is only CRLFs.
    check_stream({rs::values}, "VALUE x 1 13\r\nEND\r\nSTORED\r\n\r\nEND\r\n",
                 {"value x 1 13", "data \"END\\r\\nSTORED\\r\\n\"", "end |"});
    check_stream({rs::values}, "VALUE x 0 4\r\n\r\n\r\n\r\nEND\r\n",
                 {"value x 0 4", "data \"\\r\\n\\r\\n\"", "end |"});
}

TEST_CASE("values with the longest key and the largest body") {
    const std::string key(250, 'k');
    check_stream({rs::values}, "VALUE " + key + " 0 2\r\nab\r\nEND\r\n",
                 {"value " + key + " 0 2", "data \"ab\"", "end |"});

    parser_limits small;
    small.max_value = 16;
    const std::string body(16, 'v');
    check_stream({rs::values}, "VALUE k 0 16\r\n" + body + "\r\nEND\r\n",
                 {"value k 0 16", "data \"" + body + "\"", "end |"}, small);

    // Bodies are not lines: a body far longer than max_line is fine.
    parser_limits narrow;
    narrow.max_line = 32;
    const std::string long_body(300, 'b');
    check_stream({rs::values}, "VALUE k 0 300\r\n" + long_body + "\r\nEND\r\n",
                 {"value k 0 300", "data \"" + long_body + "\"", "end |"}, narrow);
}

TEST_CASE("values reply fields") {
    response_parser p;
    p.expect(rs::values);
    const std::string in = "VALUE foo 5 3 1\r\nbar\r\nEND\r\n";
    std::string_view rest = in;

    // The line alone: the body is still to come.
    parse_result r = p.parse(rest.substr(0, 17));
    REQUIRE(r.ev.kind == event_kind::value);
    CHECK(r.ev.key == "foo");
    CHECK(r.ev.flags == 5);
    CHECK(r.ev.size == 3);
    CHECK(r.ev.cas == std::optional<std::uint64_t>(1));
    CHECK_FALSE(r.ev.opaque.has_value());
    CHECK_FALSE(r.ev.last);
    CHECK(r.ev.bytes.empty());
    CHECK_FALSE(r.ev.complete);
    CHECK(r.consumed == 17);
    CHECK(p.body_remaining() == 3);
    rest.remove_prefix(r.consumed);

    // The rest fed whole: the body comes as one piece that also takes its CRLF.
    r = p.parse(rest);
    REQUIRE(r.ev.kind == event_kind::data);
    CHECK(r.ev.bytes == "bar");
    CHECK(r.ev.last);
    CHECK_FALSE(r.ev.complete);
    CHECK(r.consumed == 5);
    CHECK(p.body_remaining() == 0);
    rest.remove_prefix(r.consumed);

    r = p.parse(rest);
    CHECK(r.ev.kind == event_kind::end);
    CHECK(r.ev.complete);
    CHECK(r.consumed == 5);

    const parse_result get = parse_once(rs::values, "VALUE k 0 1\r\n");
    CHECK(get.ev.kind == event_kind::value);
    CHECK_FALSE(get.ev.cas.has_value());
}

TEST_CASE("a body already in the input comes with its line") {
    // VALUE: the event takes the line, the body and its CRLF; END is still to come.
    const std::string in = "VALUE foo 5 3 1\r\nbar\r\nEND\r\n";
    response_parser p;
    p.expect(rs::values);
    parse_result r = p.parse(in);
    REQUIRE(r.ev.kind == event_kind::value);
    CHECK(r.ev.key == "foo");
    CHECK(r.ev.size == 3);
    CHECK(r.ev.last);
    CHECK(r.ev.bytes == "bar");
    CHECK(r.ev.bytes.data() == in.data() + 17);
    CHECK_FALSE(r.ev.complete);
    CHECK(r.consumed == 22);
    CHECK(p.body_remaining() == 0);
    r = p.parse(std::string_view(in).substr(22));
    CHECK(r.ev.kind == event_kind::end);
    CHECK(r.ev.complete);

    // VA: the whole reply is one event.
    r = parse_once(rs::meta, "VA 3 f7 O9\r\nbar\r\nHD\r\n");
    REQUIRE(r.ev.kind == event_kind::meta);
    CHECK(r.ev.code == meta_code::va);
    CHECK(r.ev.last);
    CHECK(r.ev.bytes == "bar");
    CHECK(r.ev.complete);
    CHECK(r.consumed == 17);
    CHECK(r.ev.flags == 7);
    CHECK(r.ev.opaque == std::optional<std::uint32_t>(9));

    // An empty body, and one holding CRLF.
    r = parse_once(rs::meta, "VA 0\r\n\r\n");
    CHECK(r.ev.last);
    CHECK(r.ev.bytes.empty());
    CHECK(r.consumed == 8);
    r = parse_once(rs::meta, "VA 2\r\n\r\n\r\n");
    CHECK(r.ev.last);
    CHECK(r.ev.bytes == "\r\n");
    CHECK(r.consumed == 10);

    // Not all there, CR included: the line alone, the body in data events.
    for (const std::string_view partial : {"VA 3\r\nbar", "VA 3\r\nbar\r", "VA 3\r\nba"}) {
        response_parser q;
        q.expect(rs::meta);
        r = q.parse(partial);
        INFO("input: ", escape(partial));
        CHECK_FALSE(r.ev.last);
        CHECK(r.ev.bytes.empty());
        CHECK_FALSE(r.ev.complete);
        CHECK(r.consumed == 6);
        CHECK(q.body_remaining() == 3);
    }

    // A body not followed by CRLF is not taken with the line; reading on fails it.
    response_parser bad;
    bad.expect(rs::meta);
    const std::string junk = "VA 3\r\nbarXY";
    r = bad.parse(junk);
    CHECK_FALSE(r.ev.last);
    CHECK(r.consumed == 6);
    r = bad.parse(std::string_view(junk).substr(6));
    CHECK(r.ev.kind == event_kind::failed);
    CHECK(r.ev.failure == code(error::protocol_error));
}

TEST_CASE("error at the start of a values reply keeps the stream in sync") {
    // A multi-get with a 251-byte key: only the error, no END (protocol.md 1.2).
    check_stream({rs::values, rs::values}, "CLIENT_ERROR bad command line format\r\nEND\r\n",
                 {"error CLIENT_ERROR sync bad command line format |", "end |"});
    check_stream({rs::values}, "CLIENT_ERROR invalid exptime argument\r\n",
                 {"error CLIENT_ERROR sync invalid exptime argument |"});
    check_stream({rs::values}, "SERVER_ERROR out of memory writing get response\r\n",
                 {"error SERVER_ERROR sync out of memory writing get response |"});
    check_stream({rs::values}, "ERROR\r\n", {"error ERROR sync |"});
}

TEST_CASE("error in the middle of a values or stats reply is not trusted") {
    // The server never sends this: a value then an error. Whatever the parser makes of
    // it, the stream must not be reported as in step.
    response_parser p;
    p.expect(rs::values);
    std::string in = "VALUE a 0 1\r\nx\r\nSERVER_ERROR out of memory writing get response\r\n";
    std::string_view rest = in;
    // The value, its body with it or after it.
    for (bool whole = false; !whole;) {
        const parse_result r = p.parse(rest);
        REQUIRE((r.ev.kind == event_kind::value || r.ev.kind == event_kind::data));
        whole = r.ev.last;
        rest.remove_prefix(r.consumed);
    }
    const parse_result r = p.parse(rest);
    const bool distrusted = r.ev.kind == event_kind::failed ||
                            (r.ev.kind == event_kind::error && !r.ev.in_sync);
    CHECK(distrusted);

    // The same for a stats list that breaks off; in place of the list it is in step.
    response_parser s;
    s.expect(rs::stats);
    const std::string stats = "STAT pid 1\r\nSERVER_ERROR out of memory writing stats\r\n";
    const parse_result first = s.parse(stats);
    REQUIRE(first.ev.kind == event_kind::stat);
    const parse_result second = s.parse(std::string_view(stats).substr(first.consumed));
    CHECK((second.ev.kind == event_kind::failed ||
           (second.ev.kind == event_kind::error && !second.ev.in_sync)));
    check_stream({rs::stats}, "SERVER_ERROR out of memory writing stats\r\n",
                 {"error SERVER_ERROR sync out of memory writing stats |"});
}

// ---------------------------------------------------------------------------------------
// stats (protocol.md 1.11)

TEST_CASE("stats replies") {
    check_stream({rs::stats},
                 "STAT pid 4796\r\nSTAT uptime 10\r\nSTAT version 1.6.18\r\n"
                 "STAT libevent 2.1.12-stable\r\nSTAT rusage_user 0.000000\r\n"
                 "STAT rusage_system 0.013674\r\nEND\r\n",
                 {"stat pid 4796", "stat uptime 10", "stat version 1.6.18",
                  "stat libevent 2.1.12-stable", "stat rusage_user 0.000000",
                  "stat rusage_system 0.013674", "end |"});
    // stats settings
    check_stream({rs::stats},
                 "STAT maxbytes 67108864\r\nSTAT inter 127.0.0.1\r\nSTAT domain_socket NULL\r\n"
                 "STAT stat_key_prefix :\r\nSTAT binding_protocol auto-negotiate\r\n"
                 "STAT auth_enabled_ascii no\r\nSTAT item_size_max 1048576\r\n"
                 "STAT slab_automove_ratio 0.80\r\nSTAT ssl_chain_cert (null)\r\n"
                 "STAT ssl_min_version tlsv1.2\r\nEND\r\n",
                 {"stat maxbytes 67108864", "stat inter 127.0.0.1", "stat domain_socket NULL",
                  "stat stat_key_prefix :", "stat binding_protocol auto-negotiate",
                  "stat auth_enabled_ascii no", "stat item_size_max 1048576",
                  "stat slab_automove_ratio 0.80", "stat ssl_chain_cert (null)",
                  "stat ssl_min_version tlsv1.2", "end |"});
    // stats slabs
    check_stream({rs::stats},
                 "STAT 1:chunk_size 96\r\nSTAT 1:chunks_per_page 10922\r\n"
                 "STAT active_slabs 1\r\nSTAT total_malloced 1048576\r\nEND\r\n",
                 {"stat 1:chunk_size 96", "stat 1:chunks_per_page 10922",
                  "stat active_slabs 1", "stat total_malloced 1048576", "end |"});
    // stats items
    check_stream({rs::stats},
                 "STAT items:1:number 6\r\nSTAT items:1:age_hot 1\r\nEND\r\n",
                 {"stat items:1:number 6", "stat items:1:age_hot 1", "end |"});
    // stats conns
    check_stream({rs::stats},
                 "STAT 23:addr tcp:127.0.0.1:35607\r\nSTAT 23:state conn_listening\r\n"
                 "STAT 24:listen_addr tcp:127.0.0.1:35607\r\nSTAT 24:secs_since_last_cmd 0\r\n"
                 "END\r\n",
                 {"stat 23:addr tcp:127.0.0.1:35607", "stat 23:state conn_listening",
                  "stat 24:listen_addr tcp:127.0.0.1:35607", "stat 24:secs_since_last_cmd 0",
                  "end |"});
    // stats sizes, disabled and enabled
    check_stream({rs::stats, rs::stats},
                 "STAT sizes_status disabled\r\nEND\r\nSTAT 96 1\r\nEND\r\n",
                 {"stat sizes_status disabled", "end |", "stat 96 1", "end |"});
    // stats cachedump: ITEM lines, the value holds spaces
    check_stream({rs::stats},
                 "ITEM n [20 b; 0 s]\r\nITEM bin [0 b; 1795619923 s]\r\nEND\r\n",
                 {"stat n [20 b; 0 s]", "stat bin [0 b; 1795619923 s]", "end |"});
    // stats detail dump: PREFIX lines
    check_stream({rs::stats},
                 "PREFIX p get 1 hit 1 set 1 del 0\r\nPREFIX q get 1 hit 0 set 0 del 0\r\nEND\r\n",
                 {"stat p get 1 hit 1 set 1 del 0", "stat q get 1 hit 0 set 0 del 0", "end |"});
    check_stream({rs::stats}, "END\r\n", {"end |"});
    // unknown stats group; stats detail without an argument
    check_stream({rs::stats, rs::stats},
                 "ERROR\r\nCLIENT_ERROR usage: stats detail on|off|dump\r\n",
                 {"error ERROR sync |",
                  "error CLIENT_ERROR sync usage: stats detail on|off|dump |"});
}

TEST_CASE("stats line fields") {
    const parse_result r = parse_once(rs::stats, "STAT 23:addr tcp:127.0.0.1:35607\r\n");
    REQUIRE(r.ev.kind == event_kind::stat);
    CHECK(r.ev.key == "23:addr");
    CHECK(r.ev.text == "tcp:127.0.0.1:35607");
    CHECK_FALSE(r.ev.complete);
    CHECK(r.consumed == 34);
}

TEST_CASE("stats sizes_enable: one STAT line and no END") {
    check_stream({rs::stat_line}, "STAT sizes_status enabled\r\n",
                 {"stat sizes_status enabled |"});
    check_stream({rs::stat_line, rs::stat_line, rs::version},
                 "STAT sizes_status enabled\r\nSTAT sizes_status disabled\r\nVERSION 1.6.18\r\n",
                 {"stat sizes_status enabled |", "stat sizes_status disabled |",
                  "version 1.6.18 |"});
    check_stream({rs::stat_line}, "ERROR\r\n", {"error ERROR sync |"});
    // An END where the single line belongs is not this reply.
    check_stream({rs::stat_line}, "END\r\n", {"failed protocol_error"});
    check_stream({rs::stat_line}, "ITEM a [1 b; 0 s]\r\n", {"failed protocol_error"});
}

// ---------------------------------------------------------------------------------------
// Other commands (protocol.md 1.12)

TEST_CASE("OK, RESET, VERSION") {
    // flush_all, verbosity, stats detail on, stats detail off, flush_all 0
    check_stream(std::vector<rs>(5, rs::ok), "OK\r\nOK\r\nOK\r\nOK\r\nOK\r\n",
                 lines(5, "status OK |"));
    check_stream(std::vector<rs>(4, rs::ok),
                 "CLIENT_ERROR bad command line format\r\nCLIENT_ERROR invalid exptime argument\r\n"
                 "ERROR\r\nERROR\r\n",
                 {"error CLIENT_ERROR sync bad command line format |",
                  "error CLIENT_ERROR sync invalid exptime argument |", "error ERROR sync |",
                  "error ERROR sync |"});
    check_stream({rs::ok}, "CLIENT_ERROR flush_all not allowed\r\n",
                 {"error CLIENT_ERROR sync flush_all not allowed |"});
    check_stream({rs::reset}, "RESET\r\n", {"status RESET |"});
    check_stream({rs::version}, "VERSION 1.6.18\r\n", {"version 1.6.18 |"});
    check_stream({rs::version}, "CLIENT_ERROR unauthenticated\r\n",
                 {"error CLIENT_ERROR sync unauthenticated |"});

    const parse_result r = parse_once(rs::version, "VERSION 1.6.18\r\n");
    CHECK(r.ev.kind == event_kind::version);
    CHECK(r.ev.text == "1.6.18");
    CHECK(r.ev.complete);
    CHECK(r.consumed == 16);
}

TEST_CASE("cache_memlimit replies") {
    check_stream({rs::memlimit}, "OK\r\n", {"status OK |"});
    check_stream({rs::memlimit}, "ERROR\r\n", {"error ERROR sync |"});

    // The two refusals: memlimit error lines, in step. The text must tell them apart.
    const parse_result small =
        parse_once(rs::memlimit, "MEMLIMIT_TOO_SMALL cannot set maxbytes to less than 8m\r\n");
    CHECK(small.ev.kind == event_kind::error);
    CHECK(small.ev.which == error_line::memlimit);
    CHECK(small.ev.in_sync);
    CHECK(small.ev.complete);
    CHECK(small.ev.text.find("cannot set maxbytes to less than 8m") != std::string_view::npos);
    CHECK(small.consumed == 56);

    const parse_result failed =
        parse_once(rs::memlimit, "MEMLIMIT_ADJUST_FAILED input value is megabytes not bytes\r\n");
    CHECK(failed.ev.kind == event_kind::error);
    CHECK(failed.ev.which == error_line::memlimit);
    CHECK(failed.ev.in_sync);
    CHECK(failed.ev.complete);
    CHECK(failed.ev.text.find("input value is megabytes not bytes") != std::string_view::npos);

    // Pipelined as memcached sent them: OK, too small, non-numeric.
    driver d({rs::memlimit, rs::memlimit, rs::memlimit}, {}, false);
    d.feed("OK\r\nMEMLIMIT_TOO_SMALL cannot set maxbytes to less than 8m\r\nERROR\r\n");
    const lines t = d.finish();
    CHECK(d.violations().empty());
    REQUIRE(t.size() == 3);
    CHECK(t[0] == "status OK |");
    CHECK(t[1].rfind("error MEMLIMIT sync ", 0) == 0);
    CHECK(t[2] == "error ERROR sync |");

    // The refusal words mean nothing under any other shape.
    check_stream({rs::ok}, "MEMLIMIT_TOO_SMALL cannot set maxbytes to less than 8m\r\n",
                 {"failed protocol_error"});
}

TEST_CASE("shutdown: only an error line may come") {
    // memcached without -A answers "ERROR: shutdown not enabled".
    const parse_result r = parse_once(rs::closes, "ERROR: shutdown not enabled\r\n");
    CHECK(r.ev.kind == event_kind::error);
    CHECK(r.ev.which == error_line::error);
    CHECK(r.ev.complete);
    CHECK(r.ev.text.find("shutdown not enabled") != std::string_view::npos);
    CHECK(r.consumed == 29);

    check_stream({rs::closes}, "CLIENT_ERROR invalid shutdown mode\r\n",
                 {"error CLIENT_ERROR sync invalid shutdown mode |"});
    check_stream({rs::closes}, "OK\r\n", {"failed protocol_error"});
    check_stream({rs::closes}, "END\r\n", {"failed protocol_error"});
}

// ---------------------------------------------------------------------------------------
// Meta protocol (protocol.md 3)

TEST_CASE("meta replies") {
    check_stream({rs::meta}, "VA 3 s3 f0 t-1 c52 kfoo Oxyz h1 l0\r\nbar\r\n",
                 {"meta VA 3 s3 f0 t-1 c52 kfoo Oxyz h1 l0", "data \"bar\" |"});
    check_stream({rs::meta, rs::meta, rs::meta},
                 "VA 3 s3 f0 t-1 c26 kfoo Oxyz h0 l0\r\nbar\r\nHD\r\nEN knosuch Oabc\r\n",
                 {"meta VA 3 s3 f0 t-1 c26 kfoo Oxyz h0 l0", "data \"bar\" |", "meta HD |",
                  "meta EN knosuch Oabc |"});
    // mg with N: vivified empty values, W then Z; then mn.
    check_stream({rs::meta, rs::meta, rs::meta}, "VA 0 c27 W\r\n\r\nVA 0 c27 Z\r\n\r\nMN\r\n",
                 {"meta VA 0 c27 W", "data \"\" |", "meta VA 0 c27 Z", "data \"\" |",
                  "meta MN |"});
    // md
    check_stream({rs::meta, rs::meta, rs::meta}, "EX kfoo O5\r\nNF\r\nHD\r\n",
                 {"meta EX kfoo O5 |", "meta NF |", "meta HD |"});
    // ma: miss, vivify, decr, everything returned; then a non-numeric value.
    check_stream(std::vector<rs>(5, rs::meta),
                 "NF\r\nVA 2\r\n10\r\nVA 1\r\n5\r\nVA 1 t-1 c32 kcnt O7\r\n6\r\n"
                 "CLIENT_ERROR cannot increment or decrement non-numeric value\r\n",
                 {"meta NF |", "meta VA 2", "data \"10\" |", "meta VA 1", "data \"5\" |",
                  "meta VA 1 t-1 c32 kcnt O7", "data \"6\" |",
                  "error CLIENT_ERROR sync cannot increment or decrement non-numeric value |"});
    // me
    check_stream({rs::meta, rs::meta, rs::meta},
                 "ME foo exp=-1 la=0 cas=33 fetch=no cls=1 size=65\r\nEN\r\nMN\r\n",
                 {"meta ME foo exp=-1 la=0 cas=33 fetch=no cls=1 size=65 |", "meta EN |",
                  "meta MN |"});
    // stale items: X W, then Z X
    check_stream({rs::meta, rs::meta, rs::meta},
                 "HD\r\nVA 3 c37 X W\r\nbar\r\nVA 3 c37 Z X\r\nbar\r\n",
                 {"meta HD |", "meta VA 3 c37 X W", "data \"bar\" |", "meta VA 3 c37 Z X",
                  "data \"bar\" |"});
    // A binary body in a VA.
    check_stream({rs::meta}, "VA 5 b\r\n\r\n\0\r\n\r\n"s,
                 {"meta VA 5 b", "data \"\\r\\n\\x00\\r\\n\" |"});
}

TEST_CASE("meta reply fields") {
    parse_result r = parse_once(rs::meta, "HD c53 kfoo O9\r\n");
    REQUIRE(r.ev.kind == event_kind::meta);
    CHECK(r.ev.code == meta_code::hd);
    CHECK(r.ev.text == "c53 kfoo O9");
    CHECK(r.ev.complete);
    CHECK(r.consumed == 16);

    r = parse_once(rs::meta, "HD\r\n");
    CHECK(r.ev.kind == event_kind::meta);
    CHECK(r.ev.code == meta_code::hd);
    CHECK(r.ev.text.empty());

    r = parse_once(rs::meta, "VA 3 kfoo\r\nba");
    REQUIRE(r.ev.kind == event_kind::meta);
    CHECK(r.ev.code == meta_code::va);
    CHECK(r.ev.size == 3);
    CHECK(r.ev.text == "kfoo");
    CHECK_FALSE(r.ev.complete);
    CHECK(r.consumed == 11);

    r = parse_once(rs::meta, "ME foo exp=-1 la=0 cas=33 fetch=no cls=1 size=65\r\n");
    REQUIRE(r.ev.kind == event_kind::meta);
    CHECK(r.ev.code == meta_code::me);
    CHECK(r.ev.key == "foo");
    CHECK(r.ev.text == "exp=-1 la=0 cas=33 fetch=no cls=1 size=65");
}

// The return flags read into the event (reply.hpp): O f c, once each, a token that is
// not a whole unsigned decimal of the field's size leaving the field unset (f: 0).
// Every stream runs through check_stream (every cut, bodies in and out of band), whose
// driver also compares the fields with find_meta_flag on every meta event.
void check_fields(std::string_view stream, const lines& expected) {
    check_stream(std::vector<rs>(expected.size(), rs::meta), stream, expected, {}, true);
}

TEST_CASE("meta fields: present and absent") {
    check_fields("HD\r\n", {"meta HD [O- f0 c-] |"});
    check_fields("HD O5\r\n", {"meta HD O5 [O5 f0 c-] |"});
    check_fields("HD f3 c9 O12\r\n", {"meta HD f3 c9 O12 [O12 f3 c9] |"});
    // Any order, among other flags, bare flags and tokens that hold the letters.
    check_fields("HD kfO9 t-1 O77 b W c1 X f2 Z s5\r\n",
                 {"meta HD kfO9 t-1 O77 b W c1 X f2 Z s5 [O77 f2 c1] |"});
    check_fields("NF kfoo O3\r\n", {"meta NF kfoo O3 [O3 f0 c-] |"});
    // The client's own reply: VA with its body.
    check_fields("VA 3 f0 O123456\r\nbar\r\n",
                 {"meta VA 3 f0 O123456 [O123456 f0 c-]", "data \"bar\" |"});
    // The largest values of each field, and leading zeros beyond the digits that
    // always fit.
    check_fields("HD O4294967295 f4294967295 c18446744073709551615\r\n",
                 {"meta HD O4294967295 f4294967295 c18446744073709551615 "
                  "[O4294967295 f4294967295 c18446744073709551615] |"});
    check_fields("HD O0000000000007 f00000000000000000000001 c000000000000000000000000042\r\n",
                 {"meta HD O0000000000007 f00000000000000000000001 c000000000000000000000000042 "
                  "[O7 f1 c42] |"});
    // Runs of spaces between flags (memcached writes one; they are skipped anyway).
    check_fields("HD  f7   O8 \r\n", {"meta HD  f7   O8  [O8 f7 c-] |"});
    // ME carries no return flags: its text is not read for them.
    check_fields("ME k O5 f1 c2\r\n", {"meta ME k O5 f1 c2 [O- f0 c-] |"});
}

TEST_CASE("meta fields: malformed tokens leave the field unset") {
    check_fields("HD O f c\r\n", {"meta HD O f c [O- f0 c-] |"});  // empty tokens
    check_fields("HD Oabc fx c-1\r\n", {"meta HD Oabc fx c-1 [O- f0 c-] |"});
    check_fields("HD O+1 f+1 c+1\r\n", {"meta HD O+1 f+1 c+1 [O- f0 c-] |"});
    check_fields("HD O1x f2y c3z\r\n", {"meta HD O1x f2y c3z [O- f0 c-] |"});
    check_fields("HD O0x1 f1.0 c1e3\r\n", {"meta HD O0x1 f1.0 c1e3 [O- f0 c-] |"});
    // One past the largest value.
    check_fields("HD O4294967296 f4294967296 c18446744073709551616\r\n",
                 {"meta HD O4294967296 f4294967296 c18446744073709551616 [O- f0 c-] |"});
    check_fields("HD O99999999999 f99999999999 c999999999999999999999\r\n",
                 {"meta HD O99999999999 f99999999999 c999999999999999999999 [O- f0 c-] |"});
    // A token cut short by a space: `O` empty, then a flag named `1`.
    check_fields("HD O 1\r\n", {"meta HD O 1 [O- f0 c-] |"});
    // One malformed field does not spoil the others.
    check_fields("VA 1 fz c5 O6\r\nx\r\n", {"meta VA 1 fz c5 O6 [O6 f0 c5]", "data \"x\" |"});
}

TEST_CASE("meta fields: a repeated flag counts the first time") {
    check_fields("HD O1 O2 f3 f4 c5 c6\r\n", {"meta HD O1 O2 f3 f4 c5 c6 [O1 f3 c5] |"});
    // A malformed first occurrence is not made good by a later one.
    check_fields("HD Ox O2 fy f4 cz c6\r\n", {"meta HD Ox O2 fy f4 cz c6 [O- f0 c-] |"});
    check_fields("HD O O2\r\n", {"meta HD O O2 [O- f0 c-] |"});
}

TEST_CASE("meta fields: every reply of a pipeline has its own") {
    check_fields("VA 2 f1 c2 O3\r\nab\r\nHD O4\r\nEN O5\r\nVA 0 c6\r\n\r\n",
                 {"meta VA 2 f1 c2 O3 [O3 f1 c2]", "data \"ab\" |", "meta HD O4 [O4 f0 c-] |",
                  "meta EN O5 [O5 f0 c-] |", "meta VA 0 c6 [O- f0 c6]", "data \"\" |"});
}

TEST_CASE("meta set replies and error sync") {
    check_stream(std::vector<rs>(5, rs::meta_set), "HD c38 kfoo O9\r\nNS\r\nNS\r\nEX\r\nNF\r\n",
                 {"meta HD c38 kfoo O9 |", "meta NS |", "meta NS |", "meta EX |", "meta NF |"});
    // Too large: the server swallowed the data, in step.
    check_stream({rs::meta_set}, "SERVER_ERROR object too large for cache\r\n",
                 {"error SERVER_ERROR sync object too large for cache |"});
    // A CLIENT_ERROR or ERROR on ms may have left the data unread (protocol.md 1.13).
    check_stream({rs::meta_set}, "CLIENT_ERROR bad command line format\r\n",
                 {"error CLIENT_ERROR desync bad command line format |"});
    check_stream({rs::meta_set}, "CLIENT_ERROR invalid mode for ms M token\r\n",
                 {"error CLIENT_ERROR desync invalid mode for ms M token |"});
    check_stream({rs::meta_set}, "ERROR\r\n", {"error ERROR desync |"});
}

TEST_CASE("meta errors keep the stream in sync") {
    check_stream(std::vector<rs>(5, rs::meta),
                 "CLIENT_ERROR invalid flag\r\nERROR\r\nCLIENT_ERROR duplicate flag\r\n"
                 "CLIENT_ERROR invalid or duplicate flag\r\n"
                 "CLIENT_ERROR invalid mode for ma M token\r\n",
                 {"error CLIENT_ERROR sync invalid flag |", "error ERROR sync |",
                  "error CLIENT_ERROR sync duplicate flag |",
                  "error CLIENT_ERROR sync invalid or duplicate flag |",
                  "error CLIENT_ERROR sync invalid mode for ma M token |"});
    check_stream({rs::meta}, "SERVER_ERROR out of memory\r\n",
                 {"error SERVER_ERROR sync out of memory |"});
}

TEST_CASE("quiet meta batch ended by mn") {
    // ms a 1 q / ms b 1 q / mg a v q k / mg zz v q k / mg b v q k / md zz q / mn
    check_stream(std::vector<rs>(4, rs::meta), "VA 1 ka\r\n1\r\nVA 1 kb\r\n2\r\nNF\r\nMN\r\n",
                 {"meta VA 1 ka", "data \"1\" |", "meta VA 1 kb", "data \"2\" |", "meta NF |",
                  "meta MN |"});
}

// ---------------------------------------------------------------------------------------
// Which words each shape takes

TEST_CASE("reply words are accepted only under their shapes") {
    struct row {
        const char* line;
        std::vector<reply_shape> accepted;
        std::vector<reply_shape> either;  // not specified: accepting or failing are both fine
    };
    const std::vector<row> table = {
        {"STORED", {rs::stored}, {}},
        {"NOT_STORED", {rs::stored}, {}},
        {"EXISTS", {rs::stored}, {}},
        {"NOT_FOUND", {rs::stored, rs::deleted, rs::touched, rs::arithmetic}, {}},
        {"DELETED", {rs::deleted}, {}},
        {"TOUCHED", {rs::touched}, {}},
        {"OK", {rs::ok, rs::memlimit}, {}},
        {"RESET", {rs::reset}, {}},
        {"END", {rs::values, rs::stats}, {}},
        {"VERSION 1.6.18", {rs::version}, {}},
        {"STAT a b", {rs::stats, rs::stat_line}, {}},
        {"ITEM a [1 b; 0 s]", {rs::stats}, {}},
        {"PREFIX p get 1 hit 1 set 1 del 0", {rs::stats}, {}},
        {"12", {rs::arithmetic}, {}},
        {"HD", {rs::meta, rs::meta_set}, {}},
        {"NS", {rs::meta, rs::meta_set}, {}},
        {"EX", {rs::meta, rs::meta_set}, {}},
        {"NF", {rs::meta, rs::meta_set}, {}},
        {"EN", {rs::meta}, {rs::meta_set}},
        {"MN", {rs::meta}, {rs::meta_set}},
        {"ME k exp=-1", {rs::meta}, {rs::meta_set}},
        {"VA 1", {rs::meta}, {rs::meta_set}},
        {"VALUE k 0 1", {rs::values}, {}},
        // Never valid: unknown or wrongly cased words, the pre-1.6.10 meta OK aside.
        {"HELLO", {}, {}},
        {"stored", {}, {}},
        {"Stored", {}, {}},
        {"STORED_", {}, {}},
        {"END END", {}, {}},
        {"HDX", {}, {}},
        {"VAL", {}, {}},
        {"", {}, {}},
        {" ", {}, {}},
    };
    const auto has = [](const std::vector<reply_shape>& v, reply_shape s) {
        return std::find(v.begin(), v.end(), s) != v.end();
    };
    for (const row& r : table) {
        for (const reply_shape shape : all_shapes) {
            if (has(r.either, shape)) {
                continue;
            }
            const std::string in = std::string(r.line) + "\r\n";
            const parse_result res = parse_once(shape, in);
            INFO("line \"", std::string(r.line), "\" under shape ", static_cast<int>(shape));
            if (has(r.accepted, shape)) {
                CHECK(res.ev.kind != event_kind::failed);
                CHECK(res.ev.kind != event_kind::need_more);
                CHECK(res.consumed == in.size());
            } else {
                CHECK(res.ev.kind == event_kind::failed);
                CHECK(res.ev.failure == code(error::protocol_error));
            }
        }
    }
}

TEST_CASE("error lines under every shape") {
    for (const reply_shape shape : all_shapes) {
        if (shape == rs::none) {
            continue;
        }
        INFO("shape ", static_cast<int>(shape));
        const bool storage = shape == rs::stored || shape == rs::meta_set;
        const parse_result e = parse_once(shape, "ERROR\r\n");
        CHECK(e.ev.kind == event_kind::error);
        CHECK(e.ev.which == error_line::error);
        CHECK(e.ev.text.empty());
        CHECK(e.ev.complete);
        CHECK(e.ev.in_sync == !storage);
        CHECK(e.consumed == 7);

        const parse_result c = parse_once(shape, "CLIENT_ERROR bad command line format\r\n");
        CHECK(c.ev.kind == event_kind::error);
        CHECK(c.ev.which == error_line::client_error);
        CHECK(c.ev.text == "bad command line format");
        CHECK(c.ev.complete);
        CHECK(c.ev.in_sync == !storage);

        const parse_result s = parse_once(shape, "SERVER_ERROR out of memory\r\n");
        CHECK(s.ev.kind == event_kind::error);
        CHECK(s.ev.which == error_line::server_error);
        CHECK(s.ev.text == "out of memory");
        CHECK(s.ev.complete);
        CHECK(s.ev.in_sync);

    }
}

// ---------------------------------------------------------------------------------------
// Out-of-band bodies

TEST_CASE("a value body taken out of band") {
    response_parser p;
    p.expect(rs::values);
    std::string buf = "VALUE foo 0 5\r\nhello\r\nEND\r\n";

    // The line arrives alone (a body already there would come with it).
    parse_result r = p.parse(std::string_view(buf).substr(0, 15));
    REQUIRE(r.ev.kind == event_kind::value);
    REQUIRE_FALSE(r.ev.last);
    buf.erase(0, r.consumed);
    REQUIRE(p.body_remaining() == 5);

    // The caller copies the body itself, in two reads.
    p.skip_body(2);
    buf.erase(0, 2);
    CHECK(p.body_remaining() == 3);
    p.skip_body(3);
    buf.erase(0, 3);
    CHECK(p.body_remaining() == 0);

    // The trailing CRLF is still the parser's: it yields the last (empty) data event.
    r = p.parse(buf);
    REQUIRE(r.ev.kind == event_kind::data);
    CHECK(r.ev.bytes.empty());
    CHECK(r.ev.last);
    CHECK_FALSE(r.ev.complete);
    CHECK(r.consumed == 2);
    buf.erase(0, r.consumed);

    r = p.parse(buf);
    CHECK(r.ev.kind == event_kind::end);
    CHECK(r.ev.complete);
}

TEST_CASE("a value body partly in band, partly out of band, CRLF split") {
    response_parser p;
    p.expect(rs::values);
    parse_result r = p.parse("VALUE foo 0 5\r\nhe");
    REQUIRE(r.ev.kind == event_kind::value);
    REQUIRE(r.consumed == 15);

    r = p.parse("he");
    REQUIRE(r.ev.kind == event_kind::data);
    CHECK(r.ev.bytes == "he");
    CHECK_FALSE(r.ev.last);
    CHECK(r.consumed == 2);
    CHECK(p.body_remaining() == 3);

    p.skip_body(3);  // "llo" read straight into the caller's storage
    r = p.parse("\r");
    CHECK(r.ev.kind == event_kind::need_more);
    CHECK(r.consumed <= 1);
    const std::string_view rest = r.consumed == 1 ? "\nEND\r\n" : "\r\nEND\r\n";
    r = p.parse(rest);
    REQUIRE(r.ev.kind == event_kind::data);
    CHECK(r.ev.bytes.empty());
    CHECK(r.ev.last);
    r = p.parse(rest.substr(r.consumed));
    CHECK(r.ev.kind == event_kind::end);
}

TEST_CASE("a meta VA body taken out of band") {
    response_parser p;
    p.expect(rs::meta);
    std::string buf = "VA 3 kfoo\r\nbar\r\nHD\r\n";
    parse_result r = p.parse(std::string_view(buf).substr(0, 11));
    REQUIRE(r.ev.kind == event_kind::meta);
    REQUIRE(r.ev.code == meta_code::va);
    REQUIRE_FALSE(r.ev.last);
    CHECK_FALSE(r.ev.complete);
    buf.erase(0, r.consumed);
    REQUIRE(p.body_remaining() == 3);
    p.skip_body(3);
    buf.erase(0, 3);

    r = p.parse(buf);
    REQUIRE(r.ev.kind == event_kind::data);
    CHECK(r.ev.bytes.empty());
    CHECK(r.ev.last);
    CHECK(r.ev.complete);  // the body ends the meta reply
    buf.erase(0, r.consumed);

    p.expect(rs::meta);
    r = p.parse(buf);
    CHECK(r.ev.kind == event_kind::meta);
    CHECK(r.ev.code == meta_code::hd);
}

TEST_CASE("a body taken out of band still needs its CRLF") {
    response_parser p;
    p.expect(rs::values);
    parse_result r = p.parse("VALUE a 0 1\r\n");
    REQUIRE(r.ev.kind == event_kind::value);
    p.skip_body(1);
    r = p.parse("YYEND\r\n");
    CHECK(r.ev.kind == event_kind::failed);
    CHECK(r.ev.failure == code(error::protocol_error));
}

TEST_CASE("body_remaining is zero outside bodies") {
    response_parser p;
    CHECK(p.body_remaining() == 0);
    p.expect(rs::values);
    CHECK(p.body_remaining() == 0);
    const parse_result r = p.parse("VALUE a 0 0\r\n\r\nEND\r\n");
    REQUIRE(r.ev.kind == event_kind::value);
    CHECK(p.body_remaining() == 0);
}

// ---------------------------------------------------------------------------------------
// Incremental input

TEST_CASE("a line arriving a byte at a time is consumed once, when whole") {
    response_parser p;
    p.expect(rs::stats);
    const std::string line = "STAT 24:listen_addr tcp:127.0.0.1:35607\r\n";
    for (std::size_t n = 0; n < line.size(); ++n) {
        const parse_result r = p.parse(std::string_view(line).substr(0, n));
        INFO("after ", n, " bytes");
        REQUIRE(r.ev.kind == event_kind::need_more);
        REQUIRE(r.consumed == 0);
    }
    const parse_result r = p.parse(line);
    REQUIRE(r.ev.kind == event_kind::stat);
    CHECK(r.ev.key == "24:listen_addr");
    CHECK(r.ev.text == "tcp:127.0.0.1:35607");
    CHECK(r.consumed == line.size());

    // The next line starts a fresh search.
    const parse_result end = p.parse("END\r\n");
    CHECK(end.ev.kind == event_kind::end);
    CHECK(end.consumed == 5);
}

namespace {

struct long_line_run {
    std::string line;  // what last's views point into
    bool in_time = true;
    parse_result last;
};

// Feeds a 2 MiB STAT line one byte longer per call until the parser returns anything but
// need_more with nothing consumed. With `again`, every prefix is parsed twice, as by a
// caller that parses again before new bytes came. in_time is false when that takes
// longer than ten seconds.
long_line_run feed_long_stat_line(bool again) {
    parser_limits wide;
    wide.max_line = std::size_t{4} << 20;
    response_parser p(wide);
    p.expect(rs::stats);
    long_line_run run;
    run.line = "STAT big " + std::string(std::size_t{2} << 20, 'v') + "\r\n";
    const std::string& line = run.line;
    const auto start = std::chrono::steady_clock::now();
    const auto budget = std::chrono::seconds(10);
    auto waiting = [&run] {
        return run.last.ev.kind == event_kind::need_more && run.last.consumed == 0;
    };
    for (std::size_t n = 1; n <= line.size(); ++n) {
        const std::string_view input = std::string_view(line).substr(0, n);
        run.last = p.parse(input);
        if (!waiting()) break;
        if (again) {
            run.last = p.parse(input);  // nothing new arrived
            if (!waiting()) break;
        }
        if ((n & 0xffff) == 0 && std::chrono::steady_clock::now() - start > budget) {
            run.in_time = false;
            break;
        }
    }
    return run;
}

}  // namespace

TEST_CASE("a long line fed a byte at a time takes linear time") {
    // A parser that searched the whole line again on every call would do about 2*10^12
    // byte comparisons here (minutes); one that remembers how far it searched does
    // 2*10^6 (milliseconds). The time bound sits far between the two.
    const long_line_run run = feed_long_stat_line(false);
    CHECK(run.in_time);
    if (run.in_time) {
        CHECK(run.last.ev.kind == event_kind::stat);
        CHECK(run.last.consumed == run.line.size());
        CHECK(run.last.ev.text.size() == (std::size_t{2} << 20));
    }
}

TEST_CASE("parsing again without new bytes does not search the line again") {
    // A caller may call parse() again before more bytes came (a loop that parses until
    // need_more after every wake-up). The parser remembers how far it searched, so such
    // a call costs nothing; searching the whole partial line again would make a long
    // line that trickles in quadratic, as in the test above.
    const long_line_run run = feed_long_stat_line(true);
    CHECK(run.in_time);
    if (run.in_time) {
        CHECK(run.last.ev.kind == event_kind::stat);
        CHECK(run.last.consumed == run.line.size());
    }
}

TEST_CASE("need_more on empty input") {
    for (const reply_shape shape : all_shapes) {
        INFO("shape ", static_cast<int>(shape));
        const parse_result r = parse_once(shape, "");
        CHECK(r.ev.kind == event_kind::need_more);
        CHECK(r.consumed == 0);
    }
}

// ---------------------------------------------------------------------------------------
// Malformed and hostile replies

TEST_CASE("bad VALUE lines") {
    const auto fails = [](std::string_view in, error e, parser_limits limits = {}) {
        check_stream({rs::values}, in, {"failed " + failure_name(code(e))}, limits);
    };
    fails("VALUE a 4294967296 1\r\nx\r\nEND\r\n", error::protocol_error);  // flags > 2^32-1
    fails("VALUE a 99999999999999999999 1\r\nx\r\nEND\r\n", error::protocol_error);
    fails("VALUE a -1 1\r\nx\r\nEND\r\n", error::protocol_error);
    fails("VALUE a 0 -1\r\nx\r\nEND\r\n", error::protocol_error);  // negative size
    fails("VALUE a 0 1048577\r\n", error::reply_too_large);       // over max_value
    fails("VALUE a 0 18446744073709551615\r\n", error::reply_too_large);
    fails("VALUE a 0 99999999999999999999999\r\n", error::protocol_error);  // not a u64
    fails("VALUE a 0 1 18446744073709551616\r\nx\r\nEND\r\n", error::protocol_error);  // cas
    fails("VALUE a 0 1 -5\r\nx\r\nEND\r\n", error::protocol_error);
    // Junk in or after the numbers.
    fails("VALUE a 0 1x\r\nx\r\nEND\r\n", error::protocol_error);
    fails("VALUE a 0x1 1\r\nx\r\nEND\r\n", error::protocol_error);
    fails("VALUE a +1 1\r\nx\r\nEND\r\n", error::protocol_error);
    fails("VALUE a 0 +1\r\nx\r\nEND\r\n", error::protocol_error);
    fails("VALUE a 0 1 5x\r\nx\r\nEND\r\n", error::protocol_error);
    fails("VALUE a 0 1 5 extra\r\nx\r\nEND\r\n", error::protocol_error);
    fails("VALUE a 0 1.0\r\nx\r\nEND\r\n", error::protocol_error);
    // Missing fields.
    fails("VALUE a 0\r\nx\r\nEND\r\n", error::protocol_error);
    fails("VALUE a\r\nx\r\nEND\r\n", error::protocol_error);
    fails("VALUE\r\nx\r\nEND\r\n", error::protocol_error);
    fails("VALUE \r\nx\r\nEND\r\n", error::protocol_error);
    fails("VALUE a  1\r\nx\r\nEND\r\n", error::protocol_error);
    // Over a smaller configured limit.
    parser_limits small;
    small.max_value = 16;
    fails("VALUE k 0 17\r\n", error::reply_too_large, small);
}

TEST_CASE("bad numbers in incr replies") {
    const auto fails = [](std::string_view in) {
        check_stream({rs::arithmetic}, in, {"failed protocol_error"});
    };
    fails("18446744073709551616\r\n");  // 2^64
    fails("99999999999999999999\r\n");
    fails("184467440737095516150\r\n");
    fails("-1\r\n");
    fails("+1\r\n");
    fails("12a\r\n");
    fails("1 2\r\n");
    fails("0x10\r\n");
    fails("\r\n");
}

TEST_CASE("bad meta lines") {
    const auto fails = [](std::string_view in, error e, parser_limits limits = {}) {
        check_stream({rs::meta}, in, {"failed " + failure_name(code(e))}, limits);
    };
    fails("VA\r\n", error::protocol_error);
    fails("VA \r\n", error::protocol_error);
    fails("VA x\r\n", error::protocol_error);
    fails("VA -1\r\n", error::protocol_error);
    fails("VA 3x kfoo\r\nbar\r\n", error::protocol_error);
    fails("VA 1048577\r\n", error::reply_too_large);
    fails("VA 99999999999999999999999\r\n", error::protocol_error);
    fails("OK\r\n", error::protocol_error);  // the pre-1.6.10 success code
    fails("XX\r\n", error::protocol_error);
    fails("hd\r\n", error::protocol_error);
    fails("END\r\n", error::protocol_error);
    fails("VALUE a 0 1\r\nx\r\nEND\r\n", error::protocol_error);
    fails("STORED\r\n", error::protocol_error);
    parser_limits small;
    small.max_value = 16;
    fails("VA 17 kfoo\r\n", error::reply_too_large, small);
    check_stream({rs::meta}, "VA 16\r\n0123456789abcdef\r\n",
                 {"meta VA 16", "data \"0123456789abcdef\" |"}, small);
}

TEST_CASE("a body not followed by CRLF") {
    // The value, the part of its body that came, then the failure.
    check_stream({rs::values}, "VALUE a 0 1\r\nxYY", {"value a 0 1", "failed protocol_error"});
    check_stream({rs::values}, "VALUE a 0 1\r\nx\rYEND\r\n",
                 {"value a 0 1", "failed protocol_error"});
    check_stream({rs::values}, "VALUE a 0 1\r\nx\nEND\r\n",
                 {"value a 0 1", "failed protocol_error"});
    check_stream({rs::values}, "VALUE a 0 1\r\nxy\r\nEND\r\n",
                 {"value a 0 1", "failed protocol_error"});
    check_stream({rs::values}, "VALUE a 0 0\r\nEND\r\n", {"value a 0 0", "failed protocol_error"});
    check_stream({rs::meta}, "VA 3 kfoo\r\nbarXX", {"meta VA 3 kfoo", "failed protocol_error"});
    check_stream({rs::meta}, "VA 1\r\n10\r\n", {"meta VA 1", "failed protocol_error"});
}

TEST_CASE("an incomplete stream waits") {
    check_stream({rs::values}, "VALUE a 0 5\r\nab", {"value a 0 5", "partial \"ab\""});
    check_stream({rs::values}, "VALUE a 0 2\r\nab\r", {"value a 0 2", "partial \"ab\""});
    check_stream({rs::values}, "VALUE a 0 2\r\nab\r\nEN", {"value a 0 2", "data \"ab\""});
    check_stream({rs::stored}, "STORED\r", {});
}

TEST_CASE("bare LF line endings are refused") {
    const auto fails = [](std::vector<reply_shape> shapes, std::string_view in, lines before) {
        before.push_back("failed protocol_error");
        check_stream(shapes, in, before);
    };
    fails({rs::stored}, "STORED\n", {});
    fails({rs::values}, "END\n", {});
    fails({rs::values}, "VALUE a 0 1\nx\r\nEND\r\n", {});
    fails({rs::values}, "VALUE a 0 1\r\nx\r\nEND\n", {"value a 0 1", "data \"x\""});
    fails({rs::stats}, "STAT a b\nEND\r\n", {});
    fails({rs::stats}, "STAT a b\r\nEND\n", {"stat a b"});
    fails({rs::arithmetic}, "12\n", {});
    fails({rs::version}, "VERSION 1.6.18\n", {});
    fails({rs::meta}, "HD\n", {});
    fails({rs::meta}, "VA 1\nx\r\n", {});
    fails({rs::stored}, "ERROR\n", {});
    fails({rs::stored}, "\n", {});
    fails({rs::stored, rs::stored}, "STORED\r\nSTORED\n", {"status STORED |"});
    // A CR inside a line is not a line end.
    fails({rs::stored}, "STORED\rX\r\n", {});
    fails({rs::stored}, "STO\rRED\r\n", {});
}

TEST_CASE("a line longer than max_line fails as soon as the bound is passed") {
    parser_limits narrow;
    narrow.max_line = 32;

    // Exactly max_line bytes with the CRLF: accepted.
    const std::string fits = "STAT k " + std::string(23, 'v') + "\r\n";
    REQUIRE(fits.size() == 32);
    check_stream({rs::stats}, fits + "END\r\n", {"stat k " + std::string(23, 'v'), "end |"},
                 narrow);

    // One byte more: refused.
    const std::string over = "STAT k " + std::string(24, 'v') + "\r\n";
    check_stream({rs::stats}, over + "END\r\n", {"failed line_too_long"}, narrow);

    // No newline at all: a parser must not wait for one without bound. With
    // max_line - 1 bytes the line may still end in time; past max_line it cannot.
    check_stream({rs::stats}, std::string(31, 'S'), {}, narrow);
    check_stream({rs::stats}, std::string(33, 'S'), {"failed line_too_long"}, narrow);
    check_stream({rs::stats}, std::string(1000, 'S'), {"failed line_too_long"}, narrow);
    check_stream({rs::stats}, "STAT k " + std::string(40, 'v'), {"failed line_too_long"},
                 narrow);

    // The default bound, one byte past it without a newline.
    response_parser p;
    p.expect(rs::stats);
    const parse_result r = p.parse(std::string(4097, 'S'));
    CHECK(r.ev.kind == event_kind::failed);
    CHECK(r.ev.failure == code(error::line_too_long));

    // The bound holds for every line kind, not only STAT lines.
    check_stream({rs::values}, "VALUE " + std::string(40, 'k') + " 0 1\r\nx\r\nEND\r\n",
                 {"failed line_too_long"}, narrow);
    check_stream({rs::meta}, "HD " + std::string(40, 'O') + "\r\n", {"failed line_too_long"},
                 narrow);
    check_stream({rs::stored}, "CLIENT_ERROR " + std::string(40, 'e') + "\r\n",
                 {"failed line_too_long"}, narrow);
}

TEST_CASE("bytes when no reply is expected") {
    check_stream({}, "STORED\r\n", {"failed protocol_error"});
    check_stream({}, "S", {"failed protocol_error"});  // any byte, not only a whole line
    check_stream({}, "\r\n", {"failed protocol_error"});
    check_stream({rs::stored}, "STORED\r\nSTORED\r\n",
                 {"status STORED |", "failed protocol_error"});
    check_stream({rs::values}, "END\r\nX", {"end |", "failed protocol_error"});
    check_stream({}, "", {});
}

TEST_CASE("failure is sticky until reset") {
    response_parser p;
    p.expect(rs::stored);
    const parse_result bad = p.parse("HELLO\r\nSTORED\r\n");
    REQUIRE(bad.ev.kind == event_kind::failed);
    CHECK(bad.ev.failure == code(error::protocol_error));
    CHECK(p.failed());

    // Neither good bytes nor a new expect() revive it.
    parse_result r = p.parse("STORED\r\n");
    CHECK(r.ev.kind == event_kind::failed);
    CHECK(r.ev.failure == code(error::protocol_error));
    CHECK(r.consumed == 0);
    p.expect(rs::stored);
    r = p.parse("STORED\r\n");
    CHECK(r.ev.kind == event_kind::failed);
    CHECK(p.failed());
    CHECK(p.body_remaining() == 0);
    r = p.parse("");
    CHECK(r.ev.kind == event_kind::failed);

    // A new connection starts clean.
    p.reset();
    CHECK_FALSE(p.failed());
    p.expect(rs::stored);
    r = p.parse("STORED\r\n");
    CHECK(r.ev.kind == event_kind::status);
    CHECK(r.ev.word == status::stored);
}

TEST_CASE("reset forgets a half-read reply") {
    response_parser p;
    p.expect(rs::values);
    parse_result r = p.parse("VALUE a 0 10\r\nabc");
    REQUIRE(r.ev.kind == event_kind::value);
    r = p.parse("abc");
    REQUIRE(r.ev.kind == event_kind::data);
    p.reset();
    CHECK(p.body_remaining() == 0);
    CHECK(p.expecting() == rs::none);
    p.expect(rs::version);
    r = p.parse("VERSION 1.6.18\r\n");
    CHECK(r.ev.kind == event_kind::version);
    CHECK(r.ev.text == "1.6.18");
}

TEST_CASE("limits are kept") {
    parser_limits l;
    l.max_line = 100;
    l.max_value = 200;
    const response_parser p(l);
    CHECK(p.limits().max_line == 100);
    CHECK(p.limits().max_value == 200);
    CHECK(p.expecting() == rs::none);
}
