// set add replace append prepend cas, one key or many.
#pragma once

#include "basic_operation.hpp"

#include <memcoro/codec.hpp>
#include <memcoro/item.hpp>

#include <string>
#include <vector>

namespace memcoro::detail {

// What one storage request asks for. The value's bytes belong to the caller (or to
// the encoded object the operation holds) until the operation completes.
struct store_request {
    protocol::store_command cmd = protocol::store_command::set;
    std::string_view value;
    std::uint32_t flags = 0;
    std::int64_t ttl = 0;
    std::uint64_t cas_unique = 0;
    bool noreply = false;
    bool base64 = false;  // the key goes in base64 (key_encoding::base64)
};

// Encodes one storage request: text with `noreply` (it hides every reply, errors
// included, protocol.md 2), else meta `ms` where the server speaks it. A base64 key
// always goes in `ms ... b`, noreply or not: its reply is then registered, read and
// dropped, and the operation completes when written (operation::no_reply_).
[[nodiscard]] error_code encode_store(encode_context& ctx, std::string_view key,
                                      const store_request& req, std::uint32_t part);

// The outcome of a storage reply (STORED NOT_STORED EXISTS NOT_FOUND, or HD NS EX NF).
// Returns false for a reply that is not a storage outcome.
[[nodiscard]] bool store_outcome(const protocol::event& ev, cas_result& out) noexcept;

// set add replace append prepend (Result = bool) and cas (Result = cas_result).
template <class Result>
class store_op final : public basic_operation<Result> {
public:
    using typename basic_operation<Result>::handler_type;

    store_op(handler_type&& h, const asio::any_io_executor& fallback, std::string_view key,
             encoded value, store_request req)
        : basic_operation<Result>(std::move(h), fallback),
          key_(key),
          value_(std::move(value)),
          req_(req) {
        this->kind_ = kind_of(req.cmd);
        this->no_reply_ = req.noreply;
        // noreply reports success; so does a result nobody waits for.
        if constexpr (std::is_same_v<Result, bool>) {
            this->result_ = req.noreply;
        } else {
            this->result_ = cas_result::stored;
        }
    }

    error_code encode(encode_context& ctx) override {
        req_.value = value_.bytes();  // value_ may have moved since construction
        return encode_store(ctx, key_.view(), req_, 0);
    }

    bool on_event(const protocol::event& ev, std::uint32_t) override {
        if (ev.kind == protocol::event_kind::error) {
            this->fail_with_reply(ev);
            return true;
        }
        cas_result outcome{};
        if (!store_outcome(ev, outcome)) return false;
        if (this->ignores_reply()) return true;
        if constexpr (std::is_same_v<Result, bool>) {
            this->result_ = outcome == cas_result::stored;
        } else {
            this->result_ = outcome;
        }
        return true;
    }

private:
    key_copy key_;
    encoded value_;
    store_request req_;
};

// set_many: one storage request per item, all in one write. Completes with the keys
// that were not stored.
class set_many_op final : public basic_operation<std::vector<std::string>> {
public:
    set_many_op(handler_type&& h, const asio::any_io_executor& fallback,
                std::span<const key_value> items, store_request req);

    error_code encode(encode_context& ctx) override;
    bool on_event(const protocol::event& ev, std::uint32_t part) override;

private:
    std::vector<key_value> items_;  // keys copied into keys_, values the caller's
    std::string keys_;
    store_request req_;
};

}  // namespace memcoro::detail
