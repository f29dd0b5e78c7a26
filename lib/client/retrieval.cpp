#include "retrieval.hpp"

#include <algorithm>

namespace memcoro::detail {
namespace {

bool names_key(std::string_view wire_key, std::string_view prefix, std::string_view key) {
    return wire_key.size() == prefix.size() + key.size() && wire_key.starts_with(prefix) &&
           wire_key.ends_with(key);
}

bool with_cas(protocol::retrieve_command cmd) {
    return cmd == protocol::retrieve_command::gets || cmd == protocol::retrieve_command::gats;
}

bool with_touch(protocol::retrieve_command cmd) {
    return cmd == protocol::retrieve_command::gat || cmd == protocol::retrieve_command::gats;
}

}  // namespace

error_code retrieve_op::encode(encode_context& ctx) {
    auto& enc = ctx.encoder();
    if (ctx.mode() == wire_mode::text) {
        if (auto ec = enc.retrieve(cmd_, key_.view(), ttl_)) return ec;
        ctx.expect_reply(protocol::reply_shape::values, 0);
        return {};
    }
    meta_flags flags;
    flags.add('v');
    flags.add('f');
    if (with_cas(cmd_)) flags.add('c');
    if (with_touch(cmd_)) flags.add('T', ttl_);
    flags.add('O', ctx.next_opaque());
    if (auto ec = enc.meta(protocol::meta_command::get, key_.view(), flags.view())) return ec;
    ctx.expect_reply(protocol::reply_shape::meta, 0);
    return {};
}

void retrieve_op::start_value(std::size_t size, std::uint32_t flags, std::uint64_t cas) {
    if (finished()) return;
    auto& it = result_.emplace();
    it.set_meta(flags, cas);
    body_ = it.prepare(size);
    filled_ = 0;
}

bool retrieve_op::on_event(const protocol::event& ev, std::uint32_t) {
    using protocol::event_kind;
    switch (ev.kind) {
        case event_kind::value:
            if (seen_value_ || !names_key(ev.key, prefix_, key_.view())) return false;
            seen_value_ = true;
            start_value(ev.size, ev.flags, ev.cas.value_or(0));
            return true;
        case event_kind::data:
            if (!finished() && body_ != nullptr && !ev.bytes.empty()) {
                std::memcpy(body_ + filled_, ev.bytes.data(), ev.bytes.size());
                filled_ += ev.bytes.size();
            }
            return true;
        case event_kind::end: return true;
        case event_kind::meta:
            if (ev.code == protocol::meta_code::en) return true;  // a miss
            if (ev.code != protocol::meta_code::va) return false;
            start_value(ev.size, meta_number<std::uint32_t>(ev.text, 'f'),
                        meta_number<std::uint64_t>(ev.text, 'c'));
            return true;
        case event_kind::error:
            fail_with(error_from(ev));
            return true;
        default: return false;
    }
}

std::span<char> retrieve_op::body_target(std::size_t remaining) noexcept {
    if (finished() || body_ == nullptr) return {};
    return {body_ + filled_, remaining};
}

many_op::many_op(handler_type h, asio::any_io_executor fallback, bool with_cas,
                 std::span<const std::string_view> keys, std::string_view prefix)
    : basic_operation(std::move(h), std::move(fallback)), with_cas_(with_cas), prefix_(prefix) {
    offsets_.reserve(keys.size() + 1);
    std::size_t total = 0;
    for (const auto k : keys) total += k.size();
    keys_.reserve(total);
    for (const auto k : keys) {
        offsets_.push_back(keys_.size());
        keys_.append(k);
    }
    offsets_.push_back(keys_.size());
}

error_code many_op::encode(encode_context& ctx) {
    // The request names each key as the caller gave it; views into keys_ are fine
    // because the encoder copies command lines.
    std::vector<std::string_view> views;
    views.reserve(offsets_.size() - 1);
    for (std::size_t i = 0; i + 1 < offsets_.size(); ++i) views.push_back(key(i));
    const auto cmd = with_cas_ ? protocol::retrieve_command::gets : protocol::retrieve_command::get;
    if (auto ec = ctx.encoder().retrieve(cmd, views)) return ec;
    ctx.expect_reply(protocol::reply_shape::values, 0);
    return {};
}

bool many_op::on_event(const protocol::event& ev, std::uint32_t) {
    using protocol::event_kind;
    switch (ev.kind) {
        case event_kind::value: {
            // Hits come in request order (a key asked twice comes twice).
            const std::size_t count = offsets_.size() - 1;
            std::size_t i = next_key_;
            while (i < count && !names_key(ev.key, prefix_, key(i))) ++i;
            if (i == count) return false;
            next_key_ = i + 1;
            body_ = nullptr;
            if (finished()) return true;
            auto& it = result_.emplace_back();
            it.set_key(key(i));
            it.set_meta(ev.flags, ev.cas.value_or(0));
            body_ = it.prepare(ev.size);
            filled_ = 0;
            return true;
        }
        case event_kind::data:
            if (!finished() && body_ != nullptr && !ev.bytes.empty()) {
                std::memcpy(body_ + filled_, ev.bytes.data(), ev.bytes.size());
                filled_ += ev.bytes.size();
            }
            return true;
        case event_kind::end: return true;
        case event_kind::error:
            fail_with(error_from(ev));
            return true;
        default: return false;
    }
}

}  // namespace memcoro::detail
