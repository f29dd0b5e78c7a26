#include "server_commands.hpp"

namespace memcoro::detail {

error_code stats_op::encode(encode_context& ctx) {
    if (auto ec = needs_full_server(ctx)) return ec;
    if (auto ec = ctx.encoder().stats(args_)) return ec;
    ctx.expect_reply(protocol::stats_shape(args_), 0);
    return {};
}

bool stats_op::on_event(const protocol::event& ev, std::uint32_t) {
    using protocol::event_kind;
    switch (ev.kind) {
        case event_kind::stat:
            if (!finished()) result_.emplace_back(ev.key, ev.text);
            return true;
        case event_kind::end: return true;
        // `stats reset` answers RESET, `stats detail on|off` answers OK: no pairs.
        case event_kind::status:
            return ev.word == protocol::status::reset || ev.word == protocol::status::ok;
        case event_kind::error: fail_with(error_from(ev)); return true;
        default: return false;
    }
}

error_code version_op::encode(encode_context& ctx) {
    if (auto ec = ctx.encoder().version()) return ec;
    ctx.expect_reply(protocol::reply_shape::version, 0);
    return {};
}

bool version_op::on_event(const protocol::event& ev, std::uint32_t) {
    if (ev.kind == protocol::event_kind::error) {
        fail_with(error_from(ev));
        return true;
    }
    if (ev.kind != protocol::event_kind::version) return false;
    if (!finished()) result_.assign(ev.text);
    return true;
}

error_code admin_op::encode(encode_context& ctx) {
    // twemproxy carries quit (it closes the client's connection, as memcached does) and
    // none of the others.
    if (cmd_ != admin_command::quit) {
        if (auto ec = needs_full_server(ctx)) return ec;
    }
    auto& enc = ctx.encoder();
    protocol::reply_shape shape = protocol::reply_shape::ok;
    error_code ec;
    switch (cmd_) {
        case admin_command::flush_all:
            ec = enc.flush_all(arg_ == 0 ? std::nullopt : std::optional<std::int64_t>(arg_),
                               no_reply_);
            break;
        case admin_command::verbosity:
            ec = enc.verbosity(static_cast<std::uint32_t>(arg_), no_reply_);
            break;
        case admin_command::cache_memlimit:
            ec = enc.cache_memlimit(arg_, no_reply_);
            shape = protocol::reply_shape::memlimit;
            break;
        case admin_command::quit:
            ec = enc.quit();
            shape = protocol::reply_shape::closes;
            break;
        case admin_command::shutdown:
            ec = enc.shutdown(arg_ != 0);
            shape = protocol::reply_shape::closes;
            break;
    }
    if (!ec && !no_reply_) ctx.expect_reply(shape, 0);
    return ec;
}

bool admin_op::on_event(const protocol::event& ev, std::uint32_t) {
    if (ev.kind == protocol::event_kind::error) {
        fail_with(error_from(ev));
        return true;
    }
    return ev.kind == protocol::event_kind::status && ev.word == protocol::status::ok;
}

}  // namespace memcoro::detail
