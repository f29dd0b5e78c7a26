// delete (one key or many), touch, incr and decr.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "basic_operation.hpp"
#include "key_list.hpp"
#include "va_number.hpp"

namespace memcoro::detail {

// delete: `md <key> O<n>` (HD / NF) or `delete <key>` (DELETED / NOT_FOUND). A base64
// key always goes in `md <key> b O<n>`, noreply or not (see encode_store).
[[nodiscard]] error_code encode_remove(encode_context& ctx, std::string_view key, bool noreply,
                                       bool base64, std::uint32_t part);
// True for the "deleted" outcome; false for "not found"; nullopt for anything else.
[[nodiscard]] std::optional<bool> remove_outcome(const protocol::event& ev) noexcept;

class remove_op final : public basic_operation<bool> {
  public:
    remove_op(handler_type&& h, const asio::any_io_executor& fallback, std::string_view key,
              bool noreply, bool base64)
        : basic_operation(std::move(h), fallback), key_(key), base64_(base64) {
        kind_ = operation_kind::remove;
        no_reply_ = noreply;
        result_ = noreply;  // noreply reports success, as the storage commands do
    }
    error_code encode(encode_context& ctx) override {
        return encode_remove(ctx, key_.view(), no_reply_, base64_, 0);
    }
    bool on_event(const protocol::event& ev, std::uint32_t part) override;

  private:
    key_copy key_;
    bool base64_;
};

class remove_many_op final : public basic_operation<std::size_t> {
  public:
    remove_many_op(handler_type&& h, const asio::any_io_executor& fallback,
                   std::span<const std::string_view> keys, bool noreply, bool base64);
    error_code encode(encode_context& ctx) override;
    bool on_event(const protocol::event& ev, std::uint32_t part) override;

  private:
    key_list keys_;
    bool base64_;
};

// touch: `mg <key> T<ttl> O<n>` (HD / EN) or `touch <key> <ttl>` (TOUCHED / NOT_FOUND);
// a base64 key always in `mg <key> b T<ttl> O<n>`.
class touch_op final : public basic_operation<bool> {
  public:
    touch_op(handler_type&& h, const asio::any_io_executor& fallback, std::string_view key,
             std::int64_t ttl, bool noreply, bool base64)
        : basic_operation(std::move(h), fallback), key_(key), ttl_(ttl), base64_(base64) {
        kind_ = operation_kind::touch;
        no_reply_ = noreply;
        result_ = noreply;
    }
    error_code encode(encode_context& ctx) override;
    bool on_event(const protocol::event& ev, std::uint32_t part) override;

  private:
    key_copy key_;
    std::int64_t ttl_;
    bool base64_;
};

// incr/decr: `ma <key> [MD] D<delta> v O<n>` (VA + the number / NF) or
// `incr|decr <key> <delta>` (the number / NOT_FOUND); a base64 key always in
// `ma <key> b ...`.
class arithmetic_op final : public basic_operation<std::optional<std::uint64_t>> {
  public:
    arithmetic_op(handler_type&& h, const asio::any_io_executor& fallback, bool up,
                  std::string_view key, std::uint64_t delta, bool noreply, bool base64)
        : basic_operation(std::move(h), fallback),
          up_(up),
          base64_(base64),
          key_(key),
          delta_(delta) {
        kind_ = up ? operation_kind::incr : operation_kind::decr;
        no_reply_ = noreply;
    }
    error_code encode(encode_context& ctx) override;
    bool on_event(const protocol::event& ev, std::uint32_t part) override;

  private:
    bool on_digits(std::string_view bytes, bool last);

    bool up_;
    bool base64_;
    key_copy key_;
    std::uint64_t delta_;
    va_number digits_;  // the VA body of the meta form
};

}  // namespace memcoro::detail
