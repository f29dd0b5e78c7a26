#include "keyed.hpp"

#include <charconv>

namespace memcoro::detail {

// Every encode here uses the encoder's prevalidated entry points: client::start_*
// checked the keys and TTLs before the operation was made.
error_code encode_remove(encode_context& ctx, std::string_view key, bool noreply, bool base64,
                         std::uint32_t part) {
    if (auto ec = carries_key(ctx, base64)) return ec;
    auto& enc = ctx.encoder();
    if (!base64 && (noreply || ctx.mode() == wire_mode::text)) {
        if (auto ec = enc.remove(protocol::prevalidated, key, noreply)) return ec;
        if (!noreply) ctx.expect_reply(protocol::reply_shape::deleted, part);
        return {};
    }
    protocol::meta_flag_line flags;
    if (base64) flags.add('b');
    flags.add_number('O', ctx.next_opaque());
    if (auto ec = enc.meta(protocol::prevalidated, protocol::meta_command::remove, key, flags)) {
        return ec;
    }
    ctx.expect_reply(protocol::reply_shape::meta, part);
    return {};
}

std::optional<bool> remove_outcome(const protocol::event& ev) noexcept {
    if (ev.kind == protocol::event_kind::status) {
        if (ev.word == protocol::status::deleted) return true;
        if (ev.word == protocol::status::not_found) return false;
    } else if (ev.kind == protocol::event_kind::meta) {
        if (ev.code == protocol::meta_code::hd) return true;
        if (ev.code == protocol::meta_code::nf) return false;
    }
    return std::nullopt;
}

bool remove_op::on_event(const protocol::event& ev, std::uint32_t) {
    if (ev.kind == protocol::event_kind::error) {
        fail_with_reply(ev);
        return true;
    }
    const auto outcome = remove_outcome(ev);
    if (!outcome) return false;
    if (!ignores_reply()) result_ = *outcome;
    return true;
}

remove_many_op::remove_many_op(handler_type&& h, const asio::any_io_executor& fallback,
                               std::span<const std::string_view> keys, bool noreply, bool base64)
    : basic_operation(std::move(h), fallback), keys_(keys), base64_(base64) {
    kind_ = operation_kind::remove_many;
    no_reply_ = noreply;
}

error_code remove_many_op::encode(encode_context& ctx) {
    for (std::size_t i = 0; i < keys_.size(); ++i) {
        if (auto ec =
                encode_remove(ctx, keys_[i], no_reply_, base64_, static_cast<std::uint32_t>(i))) {
            return ec;
        }
    }
    return {};
}

bool remove_many_op::on_event(const protocol::event& ev, std::uint32_t) {
    if (ev.kind == protocol::event_kind::error) {
        fail_with_reply(ev);
        return true;
    }
    const auto outcome = remove_outcome(ev);
    if (!outcome) return false;
    if (!ignores_reply() && *outcome) ++result_;
    return true;
}

error_code touch_op::encode(encode_context& ctx) {
    if (auto ec = carries_key(ctx, base64_)) return ec;
    auto& enc = ctx.encoder();
    if (!base64_ && (no_reply_ || ctx.mode() == wire_mode::text)) {
        if (auto ec = enc.touch(protocol::prevalidated, key_.view(), ttl_, no_reply_)) return ec;
        if (!no_reply_) ctx.expect_reply(protocol::reply_shape::touched, 0);
        return {};
    }
    protocol::meta_flag_line flags;
    if (base64_) flags.add('b');
    flags.add_number('T', ttl_);
    flags.add_number('O', ctx.next_opaque());
    if (auto ec = enc.meta(protocol::prevalidated, protocol::meta_command::get, key_.view(),
                           flags)) {
        return ec;
    }
    ctx.expect_reply(protocol::reply_shape::meta, 0);
    return {};
}

bool touch_op::on_event(const protocol::event& ev, std::uint32_t) {
    using protocol::event_kind;
    if (ev.kind == event_kind::error) {
        fail_with_reply(ev);
        return true;
    }
    bool touched = false;
    if (ev.kind == event_kind::status && (ev.word == protocol::status::touched ||
                                          ev.word == protocol::status::not_found)) {
        touched = ev.word == protocol::status::touched;
    } else if (ev.kind == event_kind::meta &&
               (ev.code == protocol::meta_code::hd || ev.code == protocol::meta_code::en)) {
        touched = ev.code == protocol::meta_code::hd;
    } else {
        return false;
    }
    if (!ignores_reply()) result_ = touched;
    return true;
}

error_code arithmetic_op::encode(encode_context& ctx) {
    if (auto ec = carries_key(ctx, base64_)) return ec;
    auto& enc = ctx.encoder();
    const auto cmd = up_ ? protocol::arithmetic_command::incr : protocol::arithmetic_command::decr;
    if (!base64_ && (no_reply_ || ctx.mode() == wire_mode::text)) {
        if (auto ec = enc.arithmetic(protocol::prevalidated, cmd, key_.view(), delta_, no_reply_)) {
            return ec;
        }
        if (!no_reply_) ctx.expect_reply(protocol::reply_shape::arithmetic, 0);
        return {};
    }
    protocol::meta_flag_line flags;
    if (base64_) flags.add('b');
    if (!up_) flags.add('M', 'D');
    if (delta_ != 1) flags.add_number('D', delta_);
    flags.add('v');
    flags.add_number('O', ctx.next_opaque());
    if (auto ec = enc.meta(protocol::prevalidated, protocol::meta_command::arithmetic,
                           key_.view(), flags)) {
        return ec;
    }
    ctx.expect_reply(protocol::reply_shape::meta, 0);
    return {};
}

bool arithmetic_op::on_event(const protocol::event& ev, std::uint32_t) {
    using protocol::event_kind;
    switch (ev.kind) {
        case event_kind::error:
            fail_with_reply(ev);
            return true;
        case event_kind::number:
            if (!ignores_reply()) result_ = ev.number;
            return true;
        case event_kind::status: return ev.word == protocol::status::not_found;
        case event_kind::meta:
            if (ev.code == protocol::meta_code::nf) return true;
            // VA: the body may have come with the line.
            return ev.code == protocol::meta_code::va && (!ev.last || on_digits(ev.bytes, true));
        case event_kind::data: return on_digits(ev.bytes, ev.last);
        default: return false;
    }
}

// The VA body is the new value in decimal; it may arrive in pieces.
bool arithmetic_op::on_digits(std::string_view bytes, bool last) {
    digits_.append(bytes);
    if (!last) return true;
    const auto value = digits_.value();
    if (!value) return false;
    if (!ignores_reply()) result_ = *value;
    return true;
}

}  // namespace memcoro::detail
