#include <memcoro/error.hpp>
#include <memcoro/protocol/parser.hpp>

#include <cstring>
#include <limits>
#include <type_traits>

namespace memcoro::protocol {
namespace {

constexpr int protocol_error = static_cast<int>(error::protocol_error);

// Reads the unsigned decimal that runs from `p` up to the next space or `end`, and
// leaves `p` there; on failure `p` stops at the offending byte. False when the token
// is empty, holds anything but digits, or does not fit in T: the server writes no
// signs, spaces or junk, so those are a broken stream. A plain loop rather than
// std::from_chars: the tokens are a few digits, and on every reply the library's
// set-up cost more than the digits.
template <class T>
bool scan_decimal(const char*& p, const char* end, T& out) noexcept {
    static_assert(std::is_unsigned_v<T>);  // the fast loop relies on wrapping
    const char* const start = p;
    T value = 0;
    unsigned digit = 0;
    while (p != end && (digit = static_cast<unsigned char>(*p) - unsigned{'0'}) <= 9) {
        value = static_cast<T>(value * 10 + digit);
        ++p;
    }
    if (p != end && *p != ' ') return false;
    // One to digits10 digits always fit. Other lengths are read again with overflow
    // checks (leading zeros, numbers near the top of T's range), or are empty.
    const auto length = static_cast<std::size_t>(p - start);
    if (length - 1 >= std::numeric_limits<T>::digits10) {
        if (length == 0) return false;
        value = 0;
        for (const char* q = start; q != p; ++q) {
            if (__builtin_mul_overflow(value, T{10}, &value) ||
                __builtin_add_overflow(value, static_cast<T>(*q - '0'), &value)) {
                return false;
            }
        }
    }
    out = value;
    return true;
}

// A whole token (or line) as an unsigned decimal.
template <class T>
bool parse_decimal(std::string_view token, T& out) noexcept {
    const char* p = token.data();
    const char* const end = p + token.size();
    return scan_decimal(p, end, out) && p == end;
}

// parse_decimal(next_token(rest), out) in one pass: the number that runs up to the
// next space (or the end), which `rest` then starts after. Always inlined: it reads
// VA's size on every meta reply, and the call cost more than the few digits.
template <class T>
[[gnu::always_inline]] inline bool take_decimal(std::string_view& rest, T& out) noexcept {
    const char* p = rest.data();
    const char* const end = p + rest.size();
    if (!scan_decimal(p, end, out)) return false;
    if (p != end) ++p;  // the space
    rest = std::string_view(p, static_cast<std::size_t>(end - p));
    return true;
}

// Splits off the first space-separated token. The server separates with exactly one
// space, so `rest` begins right after it.
std::string_view next_token(std::string_view& rest) noexcept {
    const auto space = rest.find(' ');
    const auto token = rest.substr(0, space);
    rest = space == std::string_view::npos ? std::string_view{} : rest.substr(space + 1);
    return token;
}

// True when `line` is `word` alone or `word` followed by a space; `rest` is what
// follows the space. The words are literals: with their length known here, the
// comparison compiles to a few integer compares instead of a call to memcmp, which
// mattered for the VALUE line of every key of a multi-get.
template <std::size_t N>
[[gnu::always_inline]] inline bool starts_with_word(std::string_view line, const char (&word)[N],
                                                    std::string_view& rest) noexcept {
    constexpr std::size_t n = N - 1;
    if (line.size() < n || std::memcmp(line.data(), word, n) != 0) return false;
    if (line.size() == n) {
        rest = {};
        return true;
    }
    if (line[n] != ' ') return false;
    rest = line.substr(n + 1);
    return true;
}

// Whether on_error_line needs a look: every error line begins with one of these
// bytes, and most replies with none of them, so that most lines are settled here.
bool may_be_error_line(std::string_view line) noexcept {
    if (line.empty()) return false;
    const char c = line.front();
    return c == 'C' || c == 'S' || c == 'E' || c == 'M';
}

bool is_meta_shape(reply_shape s) noexcept {
    return s == reply_shape::meta || s == reply_shape::meta_set;
}

// Reads the return flags that the event carries as fields (O f c: see reply.hpp) out
// of a meta reply's flag text, in one pass. Tokens are split as find_meta_flag splits
// them (runs of spaces skipped, the first occurrence of a flag counts), so that a
// field always agrees with find_meta_flag and parse_decimal on the same text.
void read_meta_flags(std::string_view text, event& ev) noexcept {
    enum : unsigned { seen_opaque = 1, seen_flags = 2, seen_cas = 4 };
    unsigned seen = 0;
    const char* p = text.data();
    const char* const end = p + text.size();
    while (p != end) {
        const char name = *p++;
        switch (name) {
            case ' ': continue;  // a run of spaces
            case 'O':
                if ((seen & seen_opaque) != 0) break;
                seen |= seen_opaque;
                if (std::uint32_t v = 0; scan_decimal(p, end, v)) ev.opaque = v;
                break;
            case 'f':
                if ((seen & seen_flags) != 0) break;
                seen |= seen_flags;
                // Malformed: ev.flags stays 0, what a reply without `f` means.
                (void)scan_decimal(p, end, ev.flags);
                break;
            case 'c':
                if ((seen & seen_cas) != 0) break;
                seen |= seen_cas;
                if (std::uint64_t v = 0; scan_decimal(p, end, v)) ev.cas = v;
                break;
            default: break;
        }
        // What the flag's reader left of its token (all of it for the other flags),
        // and the space after it.
        while (p != end && *p != ' ') ++p;
        if (p != end) ++p;
    }
}

}  // namespace

void response_parser::reset() noexcept {
    shape_ = reply_shape::none;
    state_ = state::line;
    scanned_ = 0;
    body_left_ = 0;
    trailer_seen_ = 0;
    in_reply_ = false;
    failure_ = 0;
}

void response_parser::skip_body(std::size_t n) noexcept {
    if (state_ != state::body) return;
    body_left_ -= n < body_left_ ? n : body_left_;
}

parse_result response_parser::fail(int code, std::size_t consumed) noexcept {
    parse_result r;
    fail(r, code);
    r.consumed = consumed;
    return r;
}

void response_parser::fail(parse_result& r, int code) noexcept {
    state_ = state::failed;
    failure_ = code;
    r.ev = event{};  // nothing half-read escapes
    r.ev.kind = event_kind::failed;
    r.ev.failure = code;
}

parse_result response_parser::parse(std::string_view input) noexcept {
    switch (state_) {
        case state::failed: return fail(failure_);
        case state::body:
        case state::trailer: return parse_body(input);
        case state::line: break;
    }
    if (input.empty()) return {};
    if (shape_ == reply_shape::none) return fail(protocol_error);

    // Resume the search for '\n' where the previous call stopped.
    const std::size_t from = scanned_ <= input.size() ? scanned_ : 0;
    const void* nl = std::memchr(input.data() + from, '\n', input.size() - from);
    if (nl == nullptr) {
        scanned_ = input.size();
        if (scanned_ >= limits_.max_line) return fail(static_cast<int>(error::line_too_long));
        return {};
    }
    const auto pos = static_cast<std::size_t>(static_cast<const char*>(nl) - input.data());
    scanned_ = 0;
    if (pos + 1 > limits_.max_line) return fail(static_cast<int>(error::line_too_long));
    // The server always ends reply lines with CRLF; a bare LF is not memcached talking.
    if (pos == 0 || input[pos - 1] != '\r') return fail(protocol_error);
    return on_line(input, pos);
}

// The line helpers fill in the one result that on_line returns (or turn it into a
// failure), so that the event is built once and never copied on the way out.
// `input` holds the line (up to its CR) and what follows its LF at `newline`.
parse_result response_parser::on_line(std::string_view input, std::size_t newline) noexcept {
    const std::string_view line = input.substr(0, newline - 1);
    parse_result r;
    r.consumed = newline + 1;
    r.ev.complete = true;  // most replies are one line; multi-line shapes clear it

    if (may_be_error_line(line) && on_error_line(line, r)) return r;

    auto word = [&](std::string_view w, status s) {
        if (line != w) return false;
        r.ev.kind = event_kind::status;
        r.ev.word = s;
        return true;
    };
    std::string_view rest;

    switch (shape_) {
        case reply_shape::stored:
            if (word("STORED", status::stored) || word("NOT_STORED", status::not_stored) ||
                word("EXISTS", status::exists) || word("NOT_FOUND", status::not_found))
                return r;
            break;
        case reply_shape::deleted:
            if (word("DELETED", status::deleted) || word("NOT_FOUND", status::not_found)) return r;
            break;
        case reply_shape::touched:
            if (word("TOUCHED", status::touched) || word("NOT_FOUND", status::not_found)) return r;
            break;
        case reply_shape::arithmetic:
            if (word("NOT_FOUND", status::not_found)) return r;
            if (!parse_decimal(line, r.ev.number)) break;
            r.ev.kind = event_kind::number;
            return r;
        case reply_shape::ok:
        case reply_shape::memlimit:
            if (word("OK", status::ok)) return r;
            break;
        case reply_shape::reset:
            if (word("RESET", status::reset)) return r;
            break;
        case reply_shape::version:
            if (!starts_with_word(line, "VERSION", rest)) break;
            r.ev.kind = event_kind::version;
            r.ev.text = rest;
            return r;
        case reply_shape::values: on_values_line(line, input.substr(newline + 1), r); return r;
        case reply_shape::stats:
        case reply_shape::stat_line: on_stats_line(line, r); return r;
        case reply_shape::meta:
        case reply_shape::meta_set: on_meta_line(line, input.substr(newline + 1), r); return r;
        case reply_shape::closes:
        case reply_shape::none: break;
    }
    fail(r, protocol_error);
    return r;
}

// Error lines (protocol.md 1.5), and cache_memlimit's two refusals, which are the only
// replies that name their own error word. Every line is tried as an error line before
// it is read as a reply of the expected shape (no reply of any shape has the form of
// an error line); the first byte tells which error word to look for.
bool response_parser::on_error_line(std::string_view line, parse_result& r) noexcept {
    std::string_view rest;
    switch (line.empty() ? '\0' : line.front()) {
        case 'C':
            if (!starts_with_word(line, "CLIENT_ERROR", rest)) return false;
            r.ev.which = error_line::client_error;
            break;
        case 'S':
            if (!starts_with_word(line, "SERVER_ERROR", rest)) return false;
            r.ev.which = error_line::server_error;
            break;
        case 'E':
            // `ERROR: shutdown not enabled` glues a colon to the word.
            if (!line.starts_with("ERROR") ||
                (line.size() > 5 && line[5] != ' ' && line[5] != ':')) {
                return false;
            }
            r.ev.which = error_line::error;
            rest = line.substr(5);
            while (!rest.empty() && (rest.front() == ':' || rest.front() == ' ')) {
                rest.remove_prefix(1);
            }
            break;
        case 'M':
            if (shape_ != reply_shape::memlimit || (!line.starts_with("MEMLIMIT_TOO_SMALL") &&
                                                    !line.starts_with("MEMLIMIT_ADJUST_FAILED"))) {
                return false;
            }
            r.ev.which = error_line::memlimit;
            rest = line;
            break;
        default: return false;
    }
    r.ev.kind = event_kind::error;
    r.ev.text = rest;
    r.ev.complete = true;
    r.ev.in_sync = error_keeps_sync(r.ev.which);
    in_reply_ = false;
    return true;
}

// Which errors leave the stream in step with the requests (protocol.md 1.13). The
// client validates everything it sends, so an error the server should never have had
// a reason to give is treated as the worst case: the stream is no longer trusted.
bool response_parser::error_keeps_sync(error_line which) const noexcept {
    switch (shape_) {
        case reply_shape::stored:
        case reply_shape::meta_set:
            // SERVER_ERROR (too large, out of memory) swallows the data block. A
            // CLIENT_ERROR or ERROR may leave the data block to be read as commands.
            return which == error_line::server_error;
        case reply_shape::values:
        case reply_shape::stats:
            // An error in place of the whole reply is one line (protocol.md 1.2); one
            // in the middle of a list means the server gave up halfway.
            return !in_reply_;
        default: return true;
    }
}

void response_parser::on_values_line(std::string_view line, std::string_view after,
                                     parse_result& r) noexcept {
    std::string_view rest;
    if (line == "END") {
        r.ev.kind = event_kind::end;
        in_reply_ = false;
        return;
    }
    if (!starts_with_word(line, "VALUE", rest)) return fail(r, protocol_error);
    const auto key = next_token(rest);
    std::size_t size = 0;
    if (key.empty() || !take_decimal(rest, r.ev.flags) || !take_decimal(rest, size)) {
        return fail(r, protocol_error);
    }
    if (!rest.empty()) {
        std::uint64_t cas = 0;
        if (!take_decimal(rest, cas) || !rest.empty()) return fail(r, protocol_error);
        r.ev.cas = cas;
    }
    r.ev.kind = event_kind::value;
    r.ev.key = key;
    r.ev.complete = false;
    in_reply_ = true;
    begin_body(size, after, r);
}

// STAT lines of `stats`, and the ITEM (cachedump) and PREFIX (detail dump) lines that
// other stats forms return in the same END-terminated list (protocol.md 1.11).
void response_parser::on_stats_line(std::string_view line, parse_result& r) noexcept {
    std::string_view rest;
    const bool single = shape_ == reply_shape::stat_line;
    if (!single && line == "END") {
        r.ev.kind = event_kind::end;
        in_reply_ = false;
        return;
    }
    const bool listed = starts_with_word(line, "STAT", rest) ||
                        (!single && (starts_with_word(line, "ITEM", rest) ||
                                     starts_with_word(line, "PREFIX", rest)));
    if (!listed || rest.empty()) return fail(r, protocol_error);
    r.ev.kind = event_kind::stat;
    r.ev.key = next_token(rest);
    r.ev.text = rest;
    r.ev.complete = single;
    in_reply_ = !single;
    if (r.ev.key.empty()) fail(r, protocol_error);
}

// Meta replies (protocol.md 3.2): a two-letter code, VA's size, then return flags.
void response_parser::on_meta_line(std::string_view line, std::string_view after,
                                   parse_result& r) noexcept {
    if (line.size() < 2 || (line.size() > 2 && line[2] != ' ')) return fail(r, protocol_error);
    // One switch on both letters rather than a comparison with each code in turn.
    constexpr auto two = [](char a, char b) {
        return static_cast<unsigned>(static_cast<unsigned char>(a)) << 8 |
               static_cast<unsigned char>(b);
    };
    switch (two(line[0], line[1])) {
        case two('H', 'D'): r.ev.code = meta_code::hd; break;
        case two('V', 'A'): r.ev.code = meta_code::va; break;
        case two('E', 'N'): r.ev.code = meta_code::en; break;
        case two('N', 'F'): r.ev.code = meta_code::nf; break;
        case two('N', 'S'): r.ev.code = meta_code::ns; break;
        case two('E', 'X'): r.ev.code = meta_code::ex; break;
        case two('M', 'N'): r.ev.code = meta_code::mn; break;
        case two('M', 'E'): r.ev.code = meta_code::me; break;
        default: return fail(r, protocol_error);
    }
    r.ev.kind = event_kind::meta;
    std::string_view rest = line.size() > 2 ? line.substr(3) : std::string_view{};

    if (r.ev.code == meta_code::me) {
        // No return flags: the debug dump's key, then its key=value pairs.
        r.ev.key = next_token(rest);
        r.ev.text = rest;
        if (r.ev.key.empty()) fail(r, protocol_error);
        return;
    }
    std::size_t size = 0;
    if (r.ev.code == meta_code::va && !take_decimal(rest, size)) return fail(r, protocol_error);
    r.ev.text = rest;
    read_meta_flags(rest, r.ev);
    if (r.ev.code != meta_code::va) return;
    r.ev.complete = false;
    begin_body(size, after, r);
}

// `after` is the input after the line. When the body and its CRLF are all there, the
// line's event takes them (see parser.hpp); otherwise parse_body reads the body, and
// fails one that is not followed by CRLF.
void response_parser::begin_body(std::size_t size, std::string_view after,
                                 parse_result& r) noexcept {
    // Refuse before buffering anything: a hostile size must not become an allocation.
    if (size > limits_.max_value) return fail(r, static_cast<int>(error::reply_too_large));
    r.ev.size = size;
    if (after.size() >= size + 2 && after[size] == '\r' && after[size + 1] == '\n') {
        r.ev.bytes = after.substr(0, size);
        r.ev.last = true;
        r.ev.complete = is_meta_shape(shape_);
        r.consumed += size + 2;
        return;
    }
    state_ = state::body;
    body_left_ = size;
    trailer_seen_ = 0;
}

// Value bodies are binary: read exactly `size` bytes, never search them for CRLF
// (protocol.md 1.7), then exactly "\r\n".
parse_result response_parser::parse_body(std::string_view input) noexcept {
    parse_result r;
    std::size_t used = 0;
    if (state_ == state::body && body_left_ > 0) {
        if (input.empty()) return r;
        used = input.size() < body_left_ ? input.size() : body_left_;
        body_left_ -= used;
        r.ev.kind = event_kind::data;
        r.ev.bytes = input.substr(0, used);
        if (body_left_ > 0) {
            r.consumed = used;
            return r;
        }
    }
    state_ = state::trailer;
    static constexpr char crlf[] = "\r\n";
    while (trailer_seen_ < 2 && used < input.size()) {
        if (input[used] != crlf[trailer_seen_]) {
            fail(r, protocol_error);
            r.consumed = used;
            return r;
        }
        ++trailer_seen_;
        ++used;
    }
    r.consumed = used;
    if (trailer_seen_ < 2) return r;  // a data piece without `last`, or need_more

    state_ = state::line;
    trailer_seen_ = 0;
    r.ev.kind = event_kind::data;
    r.ev.last = true;
    r.ev.complete = is_meta_shape(shape_);
    return r;
}

}  // namespace memcoro::protocol
