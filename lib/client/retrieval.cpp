#include "retrieval.hpp"

#include <algorithm>
#include <cstring>
#include <exception>

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

// Every encode below uses the encoder's prevalidated entry points: client::start_*
// checked the key, value size and TTL against the connection's own options before the
// operation was made, so the encoder does not check them a second time.
template <class Result>
error_code single_value_op<Result>::encode(encode_context& ctx) {
    if (with_touch(cmd_)) {
        if (auto ec = needs_full_server(ctx)) return ec;  // twemproxy has no gat/gats
    }
    if (auto ec = carries_key(ctx, base64_)) return ec;
    auto& enc = ctx.encoder();
    if (ctx.mode() == wire_mode::text) {
        if (auto ec = enc.retrieve(protocol::prevalidated, cmd_, key_.view(), ttl_)) return ec;
        ctx.expect_reply(protocol::reply_shape::values, 0);
        return {};
    }
    protocol::meta_flag_line flags;
    if (base64_) flags.add('b');
    flags.add('v');
    flags.add('f');
    if (with_cas(cmd_)) flags.add('c');
    if (with_touch(cmd_)) flags.add_number('T', ttl_);
    flags.add_number('O', ctx.next_opaque());
    if (auto ec = enc.meta(protocol::prevalidated, protocol::meta_command::get, key_.view(),
                           flags)) {
        return ec;
    }
    ctx.expect_reply(protocol::reply_shape::meta, 0);
    return {};
}

// A VALUE line or a VA header (the parser read the meta flags f and c into the event).
template <class Result>
void single_value_op<Result>::on_value(const protocol::event& ev) {
    this->hits_ = 1;
    size_ = ev.size;
    filled_ = 0;
    storing_ = !this->finished();
    if (storing_) {
        try {
            start_value(ev.size, ev.flags, ev.cas.value_or(0));
        } catch (const std::exception&) {
            // The destination cannot take the value (a bounded caller buffer, or no
            // memory). The reply is still read, and dropped; the stream stays in step.
            storing_ = false;
            this->fail_with(error::value_too_large);
        }
    }
    if (ev.last) on_body(ev.bytes, true);  // the whole body came with the line
}

template <class Result>
void single_value_op<Result>::on_body(std::string_view bytes, bool last) {
    if (!storing_ || this->finished()) return;
    for (std::size_t done = 0; done < bytes.size();) {
        const auto r = region(filled_);
        const std::size_t n = std::min(r.size(), bytes.size() - done);
        if (n == 0) break;
        std::memcpy(r.data(), bytes.data() + done, n);
        done += n;
        filled_ += n;
    }
    if (last) {
        finish_value(size_);
        storing_ = false;
    }
}

template <class Result>
bool single_value_op<Result>::on_event(const protocol::event& ev, std::uint32_t) {
    using protocol::event_kind;
    switch (ev.kind) {
        case event_kind::value:
            if (seen_value_ || !names_key(ev.key, prefix_, key_.view())) return false;
            seen_value_ = true;
            on_value(ev);
            return true;
        case event_kind::data: on_body(ev.bytes, ev.last); return true;
        case event_kind::end: return true;
        case event_kind::meta:
            if (ev.code == protocol::meta_code::en) return true;  // a miss
            if (ev.code != protocol::meta_code::va) return false;
            on_value(ev);
            return true;
        case event_kind::error:
            this->fail_with(error_from(ev));
            return true;
        default: return false;
    }
}

template <class Result>
std::span<char> single_value_op<Result>::body_target(std::size_t remaining) noexcept {
    if (!storing_ || this->finished()) return {};
    const auto r = region(filled_);
    return r.first(std::min(r.size(), remaining));
}

template <class Result>
void single_value_op<Result>::body_filled(std::size_t n) noexcept {
    filled_ += n;
}

template class single_value_op<std::optional<item>>;
template class single_value_op<std::optional<meta_item>>;
template class single_value_op<std::optional<value_info>>;

many_op::many_op(handler_type&& h, const asio::any_io_executor& fallback, bool with_cas,
                 std::span<const std::string_view> keys, std::string_view prefix, bool base64)
    : basic_operation(std::move(h), fallback),
      with_cas_(with_cas),
      base64_(base64),
      keys_(keys),
      prefix_(prefix) {
    kind_ = with_cas ? operation_kind::gets_many : operation_kind::get_many;
    lookups_ = static_cast<std::uint32_t>(keys.size());
    // Room for a hit per key up front: growing the vector hit by hit reallocated (and
    // moved every item) about log2(keys) times per batch.
    result_.reserve(keys.size());
}

// Text keys take the classic get in meta mode too: against memcached 1.6.18 with its
// default of 20 requests per event (-R), 100 keys in quiet mg lines cost the server about
// 1.0 us and the client 0.6 us each, against 0.45 and 0.25 in one get (S3 ran at 0.5x
// the keys/s; with -R 200 the two forms are even). Keys in base64 need the meta form.
error_code many_op::encode(encode_context& ctx) {
    if (auto ec = carries_key(ctx, base64_)) return ec;
    if (base64_) return encode_meta(ctx);
    const auto cmd = with_cas_ ? protocol::retrieve_command::gets : protocol::retrieve_command::get;
    if (auto ec = ctx.encoder().retrieve(protocol::prevalidated, cmd, keys_.views())) return ec;
    ctx.expect_reply(protocol::reply_shape::values, 0);
    any_order_ = ctx.commands() == peer_commands::twemproxy;
    if (any_order_) {
        answered_.assign(keys_.size(), false);
        hit_index_.reserve(keys_.size());
    }
    return {};
}

error_code many_op::encode_meta(encode_context& ctx) {
    auto& enc = ctx.encoder();
    error_code ec;
    std::size_t i = 0;
    for (; i < keys_.size(); ++i) {
        protocol::meta_flag_line flags;
        flags.add('b');
        flags.add('v');
        flags.add('f');
        if (with_cas_) flags.add('c');
        flags.add('q');
        flags.add_number('O', ctx.next_opaque());
        ec = enc.meta(protocol::prevalidated, protocol::meta_command::get, keys_[i], flags);
        if (ec) break;
        ctx.expect_quiet_reply(protocol::reply_shape::meta, static_cast<std::uint32_t>(i));
    }
    // Quiet requests already encoded still need the batch closed (a bug's path: the
    // keys were checked when the operation started).
    if (i > 0) {
        (void)enc.meta(protocol::meta_command::noop, {}, {});
        ctx.expect_reply(protocol::reply_shape::meta, static_cast<std::uint32_t>(keys_.size()));
    }
    return ec;
}

std::size_t many_op::match_in_order(std::string_view wire_key) const noexcept {
    std::size_t i = next_key_;
    while (i < keys_.size() && !names_key(wire_key, prefix_, keys_[i])) ++i;
    return i;
}

// From the key after the last hit on, then from the start: in the usual case, hits in
// request order, the first key tried is the one.
std::size_t many_op::match_any_order(std::string_view wire_key) noexcept {
    const std::size_t count = keys_.size();
    for (std::size_t n = 0; n < count; ++n) {
        const std::size_t i = (next_key_ + n) % count;
        if (!answered_[i] && names_key(wire_key, prefix_, keys_[i])) {
            answered_[i] = true;
            hit_index_.push_back(static_cast<std::uint32_t>(i));
            return i;
        }
    }
    return count;
}

void many_op::restore_request_order() {
    std::vector<std::size_t> by_key(result_.size());
    for (std::size_t h = 0; h < by_key.size(); ++h) by_key[h] = h;
    std::sort(by_key.begin(), by_key.end(),
              [this](std::size_t x, std::size_t y) { return hit_index_[x] < hit_index_[y]; });
    std::vector<item> sorted;
    sorted.reserve(result_.size());
    for (const std::size_t h : by_key) sorted.push_back(std::move(result_[h]));
    result_ = std::move(sorted);
}

void many_op::on_body(std::string_view bytes) noexcept {
    if (!finished() && body_ != nullptr && !bytes.empty()) {
        std::memcpy(body_ + filled_, bytes.data(), bytes.size());
        filled_ += bytes.size();
    }
}

void many_op::start_hit(std::size_t index, const protocol::event& ev) {
    body_ = nullptr;
    if (finished()) return;
    ++hits_;
    auto& it = result_.emplace_back();
    it.set_meta(ev.flags, ev.cas.value_or(0));
    body_ = it.prepare(ev.size, keys_[index]);
    filled_ = 0;
    on_body(ev.bytes);  // the whole body, when it came with the line
}

// Part i < keys_.size() is key i's mg, part keys_.size() the closing mn.
bool many_op::on_meta(const protocol::event& ev, std::uint32_t part) {
    switch (ev.code) {
        case protocol::meta_code::va:
            if (part >= keys_.size()) return false;
            start_hit(part, ev);
            return true;
        case protocol::meta_code::en:
            return part < keys_.size();  // q leaves misses out
        case protocol::meta_code::mn:
            return part == keys_.size();
        default:
            return false;
    }
}

bool many_op::on_event(const protocol::event& ev, std::uint32_t part) {
    using protocol::event_kind;
    switch (ev.kind) {
        case event_kind::value: {
            // Hits come in request order (a key asked twice comes twice).
            const std::size_t i = any_order_ ? match_any_order(ev.key) : match_in_order(ev.key);
            if (i == keys_.size()) return false;
            next_key_ = i + 1;
            start_hit(i, ev);
            return true;
        }
        case event_kind::meta:
            return on_meta(ev, part);
        case event_kind::data: on_body(ev.bytes); return true;
        case event_kind::end:
            if (any_order_ && !finished()) restore_request_order();
            return true;
        case event_kind::error:
            fail_with(error_from(ev));
            return true;
        default: return false;
    }
}

}  // namespace memcoro::detail
