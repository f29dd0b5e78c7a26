#include <memcoro/error.hpp>
#include <memcoro/protocol/parser.hpp>

#include <charconv>
#include <cstring>

namespace memcoro::protocol {
namespace {

// Parses a whole token as an unsigned decimal. No sign, no spaces, no junk: the
// server never writes them, so anything else is a broken stream.
template <class T>
bool parse_decimal(std::string_view token, T& out) noexcept {
    if (token.empty()) return false;
    auto [end, ec] = std::from_chars(token.data(), token.data() + token.size(), out);
    return ec == std::errc{} && end == token.data() + token.size();
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
// follows the space.
bool starts_with_word(std::string_view line, std::string_view word,
                      std::string_view& rest) noexcept {
    if (!line.starts_with(word)) return false;
    if (line.size() == word.size()) {
        rest = {};
        return true;
    }
    if (line[word.size()] != ' ') return false;
    rest = line.substr(word.size() + 1);
    return true;
}

bool is_meta_shape(reply_shape s) noexcept {
    return s == reply_shape::meta || s == reply_shape::meta_set;
}

}  // namespace

void response_parser::expect(reply_shape shape) noexcept {
    shape_ = shape;
    in_reply_ = false;
}

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
    state_ = state::failed;
    failure_ = code;
    parse_result r;
    r.ev.kind = event_kind::failed;
    r.ev.failure = code;
    r.consumed = consumed;
    return r;
}

parse_result response_parser::parse(std::string_view input) noexcept {
    switch (state_) {
        case state::failed: return fail(failure_);
        case state::body:
        case state::trailer: return parse_body(input);
        case state::line: break;
    }
    if (input.empty()) return {};
    if (shape_ == reply_shape::none) return fail(static_cast<int>(error::protocol_error));

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
    if (pos == 0 || input[pos - 1] != '\r') return fail(static_cast<int>(error::protocol_error));
    return on_line(input.substr(0, pos - 1), pos + 1);
}

parse_result response_parser::on_line(std::string_view line, std::size_t consumed) noexcept {
    parse_result r;
    r.consumed = consumed;
    r.ev.complete = true;  // most replies are one line; multi-line shapes clear it

    if (parse_result e = on_error_line(line, r); e.ev.kind == event_kind::error) return e;

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
        case reply_shape::values: return on_values_line(line, r);
        case reply_shape::stats:
        case reply_shape::stat_line: return on_stats_line(line, r);
        case reply_shape::meta:
        case reply_shape::meta_set: return on_meta_line(line, r);
        case reply_shape::closes:
        case reply_shape::none: break;
    }
    return fail(static_cast<int>(error::protocol_error), consumed);
}

// Error lines (protocol.md 1.5), and cache_memlimit's two refusals, which are the only
// replies that name their own error word.
parse_result response_parser::on_error_line(std::string_view line, parse_result r) noexcept {
    std::string_view rest;
    if (starts_with_word(line, "CLIENT_ERROR", rest)) {
        r.ev.which = error_line::client_error;
    } else if (starts_with_word(line, "SERVER_ERROR", rest)) {
        r.ev.which = error_line::server_error;
    } else if (line == "ERROR" || line.starts_with("ERROR ") || line.starts_with("ERROR:")) {
        // `ERROR: shutdown not enabled` glues a colon to the word.
        r.ev.which = error_line::error;
        rest = line.substr(5);
        while (!rest.empty() && (rest.front() == ':' || rest.front() == ' ')) rest.remove_prefix(1);
    } else if (shape_ == reply_shape::memlimit &&
               (line.starts_with("MEMLIMIT_TOO_SMALL") ||
                line.starts_with("MEMLIMIT_ADJUST_FAILED"))) {
        r.ev.which = error_line::memlimit;
        rest = line;
    } else {
        return r;  // not an error line; kind stays need_more
    }
    r.ev.kind = event_kind::error;
    r.ev.text = rest;
    r.ev.complete = true;
    r.ev.in_sync = error_keeps_sync(r.ev.which);
    in_reply_ = false;
    return r;
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

parse_result response_parser::on_values_line(std::string_view line, parse_result r) noexcept {
    std::string_view rest;
    if (line == "END") {
        r.ev.kind = event_kind::end;
        in_reply_ = false;
        return r;
    }
    if (!starts_with_word(line, "VALUE", rest)) {
        return fail(static_cast<int>(error::protocol_error), r.consumed);
    }
    const auto key = next_token(rest);
    const auto flags = next_token(rest);
    const auto bytes = next_token(rest);
    std::size_t size = 0;
    if (key.empty() || !parse_decimal(flags, r.ev.flags) || !parse_decimal(bytes, size)) {
        return fail(static_cast<int>(error::protocol_error), r.consumed);
    }
    if (!rest.empty()) {
        const auto cas = next_token(rest);
        std::uint64_t cas_value = 0;
        if (!rest.empty() || !parse_decimal(cas, cas_value)) {
            return fail(static_cast<int>(error::protocol_error), r.consumed);
        }
        r.ev.cas = cas_value;
    }
    r.ev.kind = event_kind::value;
    r.ev.key = key;
    r.ev.complete = false;
    in_reply_ = true;
    return begin_body(size, r);
}

// STAT lines of `stats`, and the ITEM (cachedump) and PREFIX (detail dump) lines that
// other stats forms return in the same END-terminated list (protocol.md 1.11).
parse_result response_parser::on_stats_line(std::string_view line, parse_result r) noexcept {
    std::string_view rest;
    const bool single = shape_ == reply_shape::stat_line;
    if (!single && line == "END") {
        r.ev.kind = event_kind::end;
        in_reply_ = false;
        return r;
    }
    const bool listed = starts_with_word(line, "STAT", rest) ||
                        (!single && (starts_with_word(line, "ITEM", rest) ||
                                     starts_with_word(line, "PREFIX", rest)));
    if (!listed || rest.empty()) return fail(static_cast<int>(error::protocol_error), r.consumed);
    r.ev.kind = event_kind::stat;
    r.ev.key = next_token(rest);
    r.ev.text = rest;
    r.ev.complete = single;
    in_reply_ = !single;
    if (r.ev.key.empty()) return fail(static_cast<int>(error::protocol_error), r.consumed);
    return r;
}

// Meta replies (protocol.md 3.2): a two-letter code, VA's size, then return flags.
parse_result response_parser::on_meta_line(std::string_view line, parse_result r) noexcept {
    if (line.size() < 2 || (line.size() > 2 && line[2] != ' ')) {
        return fail(static_cast<int>(error::protocol_error), r.consumed);
    }
    const std::string_view code = line.substr(0, 2);
    std::string_view rest = line.size() > 2 ? line.substr(3) : std::string_view{};
    r.ev.kind = event_kind::meta;

    static constexpr struct {
        std::string_view text;
        meta_code code;
    } codes[] = {{"HD", meta_code::hd}, {"VA", meta_code::va}, {"EN", meta_code::en},
                 {"NF", meta_code::nf}, {"NS", meta_code::ns}, {"EX", meta_code::ex},
                 {"MN", meta_code::mn}, {"ME", meta_code::me}};
    bool known = false;
    for (const auto& c : codes) {
        if (c.text == code) {
            r.ev.code = c.code;
            known = true;
            break;
        }
    }
    if (!known) return fail(static_cast<int>(error::protocol_error), r.consumed);

    if (r.ev.code == meta_code::me) {
        r.ev.key = next_token(rest);
        if (r.ev.key.empty()) return fail(static_cast<int>(error::protocol_error), r.consumed);
        r.ev.text = rest;
        return r;
    }
    if (r.ev.code != meta_code::va) {
        r.ev.text = rest;
        return r;
    }
    std::size_t size = 0;
    if (!parse_decimal(next_token(rest), size)) {
        return fail(static_cast<int>(error::protocol_error), r.consumed);
    }
    r.ev.text = rest;
    r.ev.complete = false;
    return begin_body(size, r);
}

parse_result response_parser::begin_body(std::size_t size, parse_result r) noexcept {
    // Refuse before buffering anything: a hostile size must not become an allocation.
    if (size > limits_.max_value) return fail(static_cast<int>(error::reply_too_large), r.consumed);
    r.ev.size = size;
    state_ = state::body;
    body_left_ = size;
    trailer_seen_ = 0;
    return r;
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
            return fail(static_cast<int>(error::protocol_error), used);
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
