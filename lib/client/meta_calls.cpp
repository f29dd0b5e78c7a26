#include "meta_calls.hpp"

#include <algorithm>
#include <charconv>
#include <cstring>

namespace memcoro::detail {
namespace {

// E (a cas chosen by the caller) and md's x came with memcached 1.6.27 (protocol.md 3.9);
// 1.6.18 answers CLIENT_ERROR for them.
constexpr std::uint32_t version_with_new_cas = 10627;

// What every meta call checks before it encodes anything: the peer speaks meta (not
// wire_protocol::text, not twemproxy, not a server that the probe found too old), and
// knows every flag asked for (`needs_version`: the oldest version that does, 0: any).
error_code check_peer(const encode_context& ctx, std::uint32_t needs_version) noexcept {
    if (ctx.mode() != wire_mode::meta) return error::unsupported_command;
    // An unknown version (0) is taken as too old: a refusal is better than a
    // CLIENT_ERROR, which for ms would close the connection.
    if (needs_version != 0 && ctx.server_version() < needs_version) {
        return error::unsupported_command;
    }
    return {};
}

// Ends the flags with those every call carries (b for a base64 key, and the opaque that
// pairs the reply with the request), encodes the request and registers its reply.
// Inlined: the flag line then stays in the encode's own frame, as get's does (out of
// line it cost mg about 90 instructions more).
[[gnu::always_inline]] inline error_code put_request(encode_context& ctx,
                                                     protocol::meta_command cmd,
                                                     std::string_view key,
                                                     protocol::meta_flag_line& flags, bool base64,
                                                     std::string_view value = {}) {
    if (base64) flags.add('b');
    flags.add_number('O', ctx.next_opaque());
    if (auto ec = ctx.encoder().meta(protocol::prevalidated, cmd, key, flags, value)) return ec;
    ctx.expect_reply(cmd == protocol::meta_command::set ? protocol::reply_shape::meta_set
                                                        : protocol::reply_shape::meta,
                     0);
    return {};
}

template <class Number>
std::optional<Number> parse_number(std::string_view token) noexcept {
    Number n{};
    const auto [end, ec] = std::from_chars(token.data(), token.data() + token.size(), n);
    if (token.empty() || ec != std::errc{} || end != token.data() + token.size()) {
        return std::nullopt;
    }
    return n;
}

// The token of return flag `f` as a number; empty when absent or malformed.
template <class Number>
std::optional<Number> number_flag(std::string_view text, char f) noexcept {
    const auto token = protocol::find_meta_flag(text, f);
    return token ? parse_number<Number>(*token) : std::nullopt;
}

// ms md ma: the outcome codes (protocol.md 3.2). HD and VA are ok.
std::optional<meta_status> status_of(protocol::meta_code code) noexcept {
    switch (code) {
        case protocol::meta_code::hd:
        case protocol::meta_code::va:
            return meta_status::ok;
        case protocol::meta_code::ns:
            return meta_status::not_stored;
        case protocol::meta_code::ex:
            return meta_status::exists;
        case protocol::meta_code::nf:
            return meta_status::not_found;
        case protocol::meta_code::en:
        case protocol::meta_code::mn:
        case protocol::meta_code::me:
            break;
    }
    return std::nullopt;
}

// A reply to ms or md: an error line, recorded as the operation's error (`status` stays
// empty), or an outcome. False for any other reply.
bool read_status(operation& op, const protocol::event& ev, std::optional<meta_status>& status) {
    if (ev.kind == protocol::event_kind::error) {
        op.fail_with(error_from(ev));
        return true;
    }
    if (ev.kind != protocol::event_kind::meta || ev.code == protocol::meta_code::va) return false;
    status = status_of(ev.code);
    return status.has_value();
}

// The return flags of an mg hit that the parser does not read into the event, in one
// pass over them (they come back in request order, then Z X W: protocol.md 3.1). A
// malformed token leaves its field empty, as the parser does for f and c. Every hit
// goes through here (X and W come unasked for a stale item), so it only looks at the
// first letter of each token and skips the rest.
void read_returned(meta_item& it, std::string_view text) noexcept {
    const char* p = text.data();
    const char* const end = p + text.size();
    while (p != end) {
        if (*p == ' ') {
            ++p;
            continue;
        }
        const char flag = *p;
        const char* const first = ++p;
        while (p != end && *p != ' ') ++p;
        const std::string_view token(first, static_cast<std::size_t>(p - first));
        switch (flag) {
            case 't':
                it.ttl = parse_number<std::int64_t>(token);
                break;
            case 'l':
                it.last_access = parse_number<std::uint64_t>(token);
                break;
            case 'h':
                if (const auto h = parse_number<unsigned>(token)) it.hit_before = *h != 0;
                break;
            case 's':
                it.size = parse_number<std::uint64_t>(token);
                break;
            case 'W':
                it.win = true;
                break;
            case 'X':
                it.stale = true;
                break;
            case 'Z':
                it.won_by_other = true;
                break;
            default:
                break;
        }
    }
}

// Whether the flag text ends with W, X or Z. The server appends those after every
// flag asked for (protocol.md 3.1), so a hit that asked for no numbers has nothing
// else to read, and the usual one ("f0 O17") is let go after one look at its end.
bool ends_with_state_flag(std::string_view text) noexcept {
    const std::size_t n = text.size();
    if (n == 0 || (n > 1 && text[n - 2] != ' ')) return false;
    return text[n - 1] == 'W' || text[n - 1] == 'X' || text[n - 1] == 'Z';
}

}  // namespace

// Every encode below uses the encoder's prevalidated entry point: client::start_meta_*
// checked the key (as its encoding says), the value's size and every ttl.

error_code meta_get_op::encode(encode_context& ctx) {
    if (auto ec = check_peer(ctx, 0)) return ec;
    protocol::meta_flag_line flags;
    if (opts_.value) {
        flags.add('v');
        flags.add('f');  // a value means nothing to its codec without its flags
    }
    if (opts_.cas) flags.add('c');
    // T before t: flags apply left to right, so t then reads the new ttl (protocol.md 3.1).
    if (opts_.touch_ttl) flags.add_number('T', opts_.touch_ttl->count());
    if (opts_.ttl) flags.add('t');
    if (opts_.last_access) flags.add('l');
    if (opts_.hit_before) flags.add('h');
    if (opts_.size) flags.add('s');
    if (opts_.vivify_ttl) flags.add_number('N', opts_.vivify_ttl->count());
    if (opts_.recache_below) flags.add_number('R', opts_.recache_below->count());
    if (opts_.no_lru_bump) flags.add('u');
    return put_request(ctx, protocol::meta_command::get, key(), flags, base64_);
}

bool meta_get_op::on_event(const protocol::event& ev, std::uint32_t part) {
    using protocol::event_kind;
    using protocol::meta_code;
    if (ev.kind == event_kind::meta) {
        switch (ev.code) {
            case meta_code::en:
                return true;     // a miss
            case meta_code::hd:  // a hit, without its value (no v)
                hits_ = 1;
                if (!finished()) {
                    auto& it = result_.emplace();
                    it.set_meta(ev.flags, ev.cas.value_or(0));
                    read_returned_flags(ev.text);
                }
                return true;
            case meta_code::va:
                // The base prepares the item and reads the body (now or later).
                if (!item_value_op::on_event(ev, part)) return false;
                if (!finished() && result_) read_returned_flags(ev.text);
                return true;
            default:
                return false;
        }
    }
    // A text VALUE or END never answers mg.
    if (ev.kind == event_kind::value || ev.kind == event_kind::end) return false;
    return item_value_op::on_event(ev, part);  // a body's data, an error line
}

void meta_get_op::read_returned_flags(std::string_view text) noexcept {
    const bool numbers = opts_.ttl || opts_.last_access || opts_.hit_before || opts_.size;
    if (numbers || ends_with_state_flag(text)) read_returned(*result_, text);
}

error_code meta_set_op::encode(encode_context& ctx) {
    if (auto ec = check_peer(ctx, opts_.new_cas ? version_with_new_cas : 0)) return ec;
    protocol::meta_flag_line flags;
    if (const auto f = opts_.flags.value_or(value_.flags()); f != 0) flags.add_number('F', f);
    if (opts_.ttl.count() != 0) flags.add_number('T', opts_.ttl.count());
    switch (opts_.mode) {
        case set_mode::set:
            break;  // S, the server's default
        case set_mode::add:
            flags.add('M', 'E');
            break;
        case set_mode::replace:
            flags.add('M', 'R');
            break;
        case set_mode::append:
            flags.add('M', 'A');
            break;
        case set_mode::prepend:
            flags.add('M', 'P');
            break;
    }
    if (opts_.compare_cas) flags.add_number('C', *opts_.compare_cas);
    if (opts_.invalidate) flags.add('I');
    if (opts_.return_cas) flags.add('c');
    if (opts_.new_cas) flags.add_number('E', *opts_.new_cas);
    return put_request(ctx, protocol::meta_command::set, key_.view(), flags, base64_,
                       value_.bytes());
}

bool meta_set_op::on_event(const protocol::event& ev, std::uint32_t) {
    std::optional<meta_status> status;
    if (!read_status(*this, ev, status)) return false;
    if (status && !finished()) {
        result_.status = *status;
        if (*status == meta_status::ok && opts_.return_cas) result_.cas = ev.cas;
    }
    return true;
}

error_code meta_delete_op::encode(encode_context& ctx) {
    const bool newer = opts_.new_cas.has_value() || opts_.drop_value;
    if (auto ec = check_peer(ctx, newer ? version_with_new_cas : 0)) return ec;
    protocol::meta_flag_line flags;
    if (opts_.compare_cas) flags.add_number('C', *opts_.compare_cas);
    if (opts_.mark_stale) flags.add('I');
    if (opts_.stale_ttl) flags.add_number('T', opts_.stale_ttl->count());
    if (opts_.drop_value) flags.add('x');
    if (opts_.new_cas) flags.add_number('E', *opts_.new_cas);
    return put_request(ctx, protocol::meta_command::remove, key_.view(), flags, base64_);
}

bool meta_delete_op::on_event(const protocol::event& ev, std::uint32_t) {
    std::optional<meta_status> status;
    if (!read_status(*this, ev, status)) return false;
    if (status && !finished()) result_ = *status;
    return true;
}

error_code meta_arithmetic_op::encode(encode_context& ctx) {
    if (auto ec = check_peer(ctx, opts_.new_cas ? version_with_new_cas : 0)) return ec;
    protocol::meta_flag_line flags;
    if (opts_.mode == arithmetic_mode::decrement) flags.add('M', 'D');
    if (opts_.delta != 1) flags.add_number('D', opts_.delta);
    if (opts_.vivify_ttl) flags.add_number('N', opts_.vivify_ttl->count());
    if (opts_.initial != 0) flags.add_number('J', opts_.initial);
    if (opts_.compare_cas) flags.add_number('C', *opts_.compare_cas);
    if (opts_.touch_ttl) flags.add_number('T', opts_.touch_ttl->count());
    if (opts_.return_cas) flags.add('c');
    if (opts_.return_ttl) flags.add('t');
    if (opts_.new_cas) flags.add_number('E', *opts_.new_cas);
    flags.add('v');
    return put_request(ctx, protocol::meta_command::arithmetic, key_.view(), flags, base64_);
}

void meta_arithmetic_op::on_body(std::string_view bytes, bool last) {
    digits_.append(bytes);
    if (!last || finished()) return;
    const auto value = digits_.value();
    if (!value) {
        fail_with(error::protocol_error);  // the stream itself is still in step
        return;
    }
    result_.value = *value;
}

bool meta_arithmetic_op::on_event(const protocol::event& ev, std::uint32_t) {
    using protocol::event_kind;
    switch (ev.kind) {
        case event_kind::error:
            fail_with(error_from(ev));
            return true;
        case event_kind::data:
            on_body(ev.bytes, ev.last);
            return true;
        case event_kind::meta: {
            const auto status = status_of(ev.code);
            if (!status) return false;
            if (!finished()) {
                result_.status = *status;
                if (*status == meta_status::ok) {
                    if (opts_.return_cas) result_.cas = ev.cas;
                    if (opts_.return_ttl) result_.ttl = number_flag<std::int64_t>(ev.text, 't');
                }
            }
            if (ev.code == protocol::meta_code::va) {
                digits_.clear();
                if (ev.last) on_body(ev.bytes, true);
            }
            return true;
        }
        default:
            return false;
    }
}

}  // namespace memcoro::detail
