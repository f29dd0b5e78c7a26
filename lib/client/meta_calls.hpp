// The typed meta calls (meta.hpp): meta_get (mg), meta_set (ms), meta_delete (md) and
// meta_arithmetic (ma). Each sends one meta request carrying exactly the flags its
// options ask for, and reads the reply's code and return flags into its result.
//
// They need the meta protocol, and some options a newer server than 1.6.18: encode()
// refuses both with error::unsupported_command before anything is encoded, so the
// request never reaches a peer that cannot carry it and the connection goes on.
#pragma once

#include <cstdint>
#include <memcoro/codec.hpp>
#include <memcoro/meta.hpp>
#include <optional>
#include <string_view>

#include "basic_operation.hpp"
#include "retrieval.hpp"
#include "va_number.hpp"

namespace memcoro::detail {

// mg. A hit's value (with v) is read like get's, straight into the item when large;
// a hit without v is HD, an item with no value.
class meta_get_op final : public item_value_op<meta_item> {
  public:
    meta_get_op(handler_type&& h, const asio::any_io_executor& fallback, std::string_view key,
                std::string_view prefix, const mg_options& opts, bool base64)
        : item_value_op(std::move(h), fallback, protocol::retrieve_command::get, key, 0, prefix,
                        base64),
          opts_(opts),
          base64_(base64) {
        kind_ = operation_kind::meta_get;
    }

    error_code encode(encode_context& ctx) override;
    bool on_event(const protocol::event& ev, std::uint32_t part) override;

  private:
    // The return flags other than f and c, into the item.
    void read_returned_flags(std::string_view text) noexcept;

    mg_options opts_;
    bool base64_;
};

// ms. The value is held as store_op holds it (the caller's bytes, or owned).
class meta_set_op final : public basic_operation<ms_result> {
  public:
    meta_set_op(handler_type&& h, const asio::any_io_executor& fallback, std::string_view key,
                encoded value, const ms_options& opts, bool base64)
        : basic_operation(std::move(h), fallback),
          key_(key),
          value_(std::move(value)),
          opts_(opts),
          base64_(base64) {
        kind_ = operation_kind::meta_set;
    }

    error_code encode(encode_context& ctx) override;
    bool on_event(const protocol::event& ev, std::uint32_t part) override;

  private:
    key_copy key_;
    encoded value_;
    ms_options opts_;
    bool base64_;
};

// md.
class meta_delete_op final : public basic_operation<meta_status> {
  public:
    meta_delete_op(handler_type&& h, const asio::any_io_executor& fallback, std::string_view key,
                   const md_options& opts, bool base64)
        : basic_operation(std::move(h), fallback), key_(key), opts_(opts), base64_(base64) {
        kind_ = operation_kind::meta_delete;
    }

    error_code encode(encode_context& ctx) override;
    bool on_event(const protocol::event& ev, std::uint32_t part) override;

  private:
    key_copy key_;
    md_options opts_;
    bool base64_;
};

// ma. Always asks for v: the new value comes back as a VA body of at most 20 digits.
class meta_arithmetic_op final : public basic_operation<ma_result> {
  public:
    meta_arithmetic_op(handler_type&& h, const asio::any_io_executor& fallback,
                       std::string_view key, const ma_options& opts, bool base64)
        : basic_operation(std::move(h), fallback), key_(key), opts_(opts), base64_(base64) {
        kind_ = operation_kind::meta_arithmetic;
    }

    error_code encode(encode_context& ctx) override;
    bool on_event(const protocol::event& ev, std::uint32_t part) override;

  private:
    void on_body(std::string_view bytes, bool last);

    key_copy key_;
    ma_options opts_;
    bool base64_;
    va_number digits_;
};

}  // namespace memcoro::detail
