#include "storage.hpp"

#include <memcoro/client.hpp>

namespace memcoro::detail {
namespace {

// ms modes (protocol.md 3.4): E add, R replace, A append, P prepend; set and cas use
// the default, S, and send no M.
std::optional<protocol::meta_flag_line::letter> meta_mode(protocol::store_command cmd) noexcept {
    using letter = protocol::meta_flag_line::letter;
    switch (cmd) {
        case protocol::store_command::add: return letter('E');
        case protocol::store_command::replace: return letter('R');
        case protocol::store_command::append: return letter('A');
        case protocol::store_command::prepend: return letter('P');
        case protocol::store_command::set:
        case protocol::store_command::cas: break;
    }
    return std::nullopt;
}

}  // namespace

// The key, value size and TTL were checked by client::start_store, start_cas or
// start_set_many: the encoder's prevalidated entry points do not check them again.
error_code encode_store(encode_context& ctx, std::string_view key, const store_request& req,
                        std::uint32_t part) {
    if (auto ec = carries_key(ctx, req.base64)) return ec;
    auto& enc = ctx.encoder();
    if (!req.base64 && (req.noreply || ctx.mode() == wire_mode::text)) {
        if (auto ec = enc.store(protocol::prevalidated, req.cmd, key, req.value, req.flags,
                                req.ttl, req.noreply, req.cas_unique)) {
            return ec;
        }
        if (!req.noreply) ctx.expect_reply(protocol::reply_shape::stored, part);
        return {};
    }
    protocol::meta_flag_line flags;
    if (req.base64) flags.add('b');
    if (req.flags != 0) flags.add_number('F', req.flags);
    if (req.ttl != 0) flags.add_number('T', req.ttl);
    if (const auto mode = meta_mode(req.cmd)) flags.add('M', *mode);
    if (req.cmd == protocol::store_command::cas) flags.add_number('C', req.cas_unique);
    flags.add_number('O', ctx.next_opaque());
    if (auto ec = enc.meta(protocol::prevalidated, protocol::meta_command::set, key, flags,
                           req.value)) {
        return ec;
    }
    ctx.expect_reply(protocol::reply_shape::meta_set, part);
    return {};
}

bool store_outcome(const protocol::event& ev, cas_result& out) noexcept {
    using protocol::event_kind;
    if (ev.kind == event_kind::status) {
        switch (ev.word) {
            case protocol::status::stored: out = cas_result::stored; return true;
            // NOT_STORED (add, replace, append, prepend) is only ever read as "not
            // stored"; cas never gets it.
            case protocol::status::not_stored: out = cas_result::exists; return true;
            case protocol::status::exists: out = cas_result::exists; return true;
            case protocol::status::not_found: out = cas_result::not_found; return true;
            default: return false;
        }
    }
    if (ev.kind == event_kind::meta) {
        switch (ev.code) {
            case protocol::meta_code::hd: out = cas_result::stored; return true;
            case protocol::meta_code::ns: out = cas_result::exists; return true;
            case protocol::meta_code::ex: out = cas_result::exists; return true;
            case protocol::meta_code::nf: out = cas_result::not_found; return true;
            default: return false;
        }
    }
    return false;
}

set_many_op::set_many_op(handler_type&& h, const asio::any_io_executor& fallback,
                         std::span<const key_value> items, store_request req)
    : basic_operation(std::move(h), fallback), req_(req) {
    kind_ = operation_kind::set_many;
    std::size_t total = 0;
    for (const auto& kv : items) total += kv.key.size();
    keys_.reserve(total);
    items_.reserve(items.size());
    for (const auto& kv : items) {
        items_.push_back({std::string_view(keys_.data() + keys_.size(), kv.key.size()), kv.value});
        keys_.append(kv.key);  // reserved above: the views stay valid
    }
    no_reply_ = req.noreply;
}

error_code set_many_op::encode(encode_context& ctx) {
    for (std::size_t i = 0; i < items_.size(); ++i) {
        store_request one = req_;
        one.value = items_[i].value;
        if (auto ec = encode_store(ctx, items_[i].key, one, static_cast<std::uint32_t>(i))) {
            return ec;
        }
    }
    return {};
}

bool set_many_op::on_event(const protocol::event& ev, std::uint32_t part) {
    if (ev.kind == protocol::event_kind::error) {
        // SERVER_ERROR (too large for the server, out of memory) refuses this item alone
        // and keeps the stream in step (protocol.md 1.13): it is one of the keys not
        // stored. Anything else fails the call.
        if (ev.which == protocol::error_line::server_error && ev.in_sync) {
            if (!ignores_reply()) result_.emplace_back(items_[part].key);
        } else {
            fail_with_reply(ev);
        }
        return true;
    }
    cas_result outcome{};
    if (!store_outcome(ev, outcome)) return false;
    if (!ignores_reply() && outcome != cas_result::stored) result_.emplace_back(items_[part].key);
    return true;
}

}  // namespace memcoro::detail
