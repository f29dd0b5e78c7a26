// get gets gat gats (one key) and get_many gets_many (one request for many keys).
#pragma once

#include <cstddef>
#include <memcoro/detail/value_sink.hpp>
#include <memcoro/item.hpp>
#include <memcoro/meta.hpp>
#include <memory>
#include <new>
#include <optional>
#include <string>
#include <vector>

#include "basic_operation.hpp"
#include "key_list.hpp"

namespace memcoro::detail {

// One key. In meta mode: `mg <key> [b] v f [c] [T<ttl>] O<n>`, which the server handles
// far more cheaply when pipelined (shared/performance.md); in text mode the classic
// command, whose VALUE line must name the key asked for (a base64 key is refused there).
// Where the value goes is up to the derived operation.
template <class Result>
class single_value_op : public basic_operation<Result> {
  public:
    using typename basic_operation<Result>::handler_type;

    single_value_op(handler_type&& h, const asio::any_io_executor& fallback,
                    protocol::retrieve_command cmd, std::string_view key, std::int64_t ttl,
                    std::string_view prefix, bool base64)
        : basic_operation<Result>(std::move(h), fallback),
          cmd_(cmd),
          base64_(base64),
          key_(key),
          prefix_(prefix),
          ttl_(ttl) {
        this->kind_ = kind_of(cmd);
        this->lookups_ = 1;
    }

    error_code encode(encode_context& ctx) override;
    bool on_event(const protocol::event& ev, std::uint32_t part) override;
    std::span<char> body_target(std::size_t remaining) noexcept override;
    void body_filled(std::size_t n) noexcept override;
    [[nodiscard]] bool expects_one_value() const noexcept override { return true; }

  protected:
    // The key as the caller gave it (without the prefix).
    [[nodiscard]] std::string_view key() const noexcept { return key_.view(); }

    // A hit of `size` bytes: prepare storage for it.
    virtual void start_value(std::size_t size, std::uint32_t flags, std::uint64_t cas) = 0;
    // The contiguous storage at `offset` bytes into the value.
    [[nodiscard]] virtual std::span<char> region(std::size_t offset) noexcept = 0;
    // All `size` bytes are in place.
    virtual void finish_value(std::size_t size) { (void)size; }

  private:
    void on_value(const protocol::event& ev);
    void on_body(std::string_view bytes, bool last);

    protocol::retrieve_command cmd_;
    bool base64_;
    key_copy key_;
    std::string_view prefix_;  // the connection's, which outlives the operation
    std::int64_t ttl_;
    std::size_t size_ = 0;
    std::size_t filled_ = 0;
    bool seen_value_ = false;
    bool storing_ = false;  // a value is being written into storage
};

// The value goes into an item (an item or a meta_item) the operation returns.
template <class Item>
class item_value_op : public single_value_op<std::optional<Item>> {
  public:
    using single_value_op<std::optional<Item>>::single_value_op;

  private:
    void start_value(std::size_t size, std::uint32_t flags, std::uint64_t cas) override {
        auto& it = this->result_.emplace();
        it.set_meta(flags, cas);
        body_ = it.prepare(size);
        size_ = size;
    }
    std::span<char> region(std::size_t offset) noexcept override {
        return {body_ + offset, size_ - offset};
    }

    char* body_ = nullptr;
    std::size_t size_ = 0;
};

// get gets gat gats.
class retrieve_op final : public item_value_op<item> {
  public:
    using item_value_op::item_value_op;
};

// get_into: the value is appended to the caller's dynamic buffer.
class get_into_op final : public single_value_op<std::optional<value_info>> {
  public:
    get_into_op(handler_type&& h, const asio::any_io_executor& fallback, std::string_view key,
                std::string_view prefix, bool base64, sink_maker sink)
        : single_value_op(std::move(h), fallback, protocol::retrieve_command::get, key, 0, prefix,
                          base64),
          sink_(build_sink(sink)) {}
    ~get_into_op() override {
        sink_->~value_sink();
        if (heap_ != nullptr) ::operator delete (heap_, std::align_val_t{heap_align_});
    }
    get_into_op(const get_into_op&) = delete;
    get_into_op& operator=(const get_into_op&) = delete;

  private:
    void start_value(std::size_t size, std::uint32_t flags, std::uint64_t cas) override {
        sink_->begin(size);
        result_ = value_info{flags, cas, size};
    }
    std::span<char> region(std::size_t offset) noexcept override { return sink_->region(offset); }
    void finish_value(std::size_t size) override { sink_->commit(size); }

    // The sink lives in the operation when it fits (it does for Beast's and Asio's
    // buffers): get_into then allocates nothing of its own.
    value_sink* build_sink(const sink_maker& m) {
        if (m.size <= sizeof(sink_storage_) && m.align <= alignof(std::max_align_t)) {
            return m.build(sink_storage_, m.buffer);
        }
        heap_ = ::operator new (m.size, std::align_val_t{m.align});
        heap_align_ = m.align;
        try {
            return m.build(heap_, m.buffer);
        } catch (...) {
            ::operator delete (heap_, std::align_val_t{m.align});
            heap_ = nullptr;
            throw;
        }
    }

    alignas(std::max_align_t) std::byte sink_storage_[128];
    void* heap_ = nullptr;  // the sink's memory when it did not fit in sink_storage_
    std::size_t heap_align_ = 0;
    value_sink* sink_;
};

// Many keys in one write. Keys in base64 (key_encoding::base64) go in a batch of quiet
// gets closed by a no-op: `mg <key> b v f [c] q O<n>` per key, then `mn`. A miss sends
// nothing (q), a hit comes as VA in request order with its request's opaque, and MN
// ends the batch. Each mg registers a quiet reply (encode_context::expect_quiet_reply)
// whose part is its key's index, so the connection matches a hit to its key by the
// opaque and passes the misses by; the key is never read back from the reply (it would
// be base64). A base64 key is refused in text mode (wire_protocol::text, twemproxy).
//
// Text keys go in one classic `get`/`gets` request in every mode (the server has no
// limit on the number of keys, protocol.md 1.1): against memcached's default -R 20 it
// costs the server and the client less than the quiet batch (measured in retrieval.cpp).
// Hits come back in request order; each VALUE line must name the next requested key at
// or after the previous hit. twemproxy 0.5.0 sends the hits of a request spread
// over several servers in another order (proxy_test.cpp shows it): there each VALUE line
// must name a requested key not answered yet, and the hits are put back in request
// order at the end.
class many_op final : public basic_operation<std::vector<item>> {
  public:
    many_op(handler_type&& h, const asio::any_io_executor& fallback, bool with_cas,
            std::span<const std::string_view> keys, std::string_view prefix, bool base64);

    error_code encode(encode_context& ctx) override;
    bool on_event(const protocol::event& ev, std::uint32_t part) override;

  private:
    error_code encode_meta(encode_context& ctx);
    bool on_meta(const protocol::event& ev, std::uint32_t part);
    // A hit for key `index`, from a VALUE line or a VA header.
    void start_hit(std::size_t index, const protocol::event& ev);
    void on_body(std::string_view bytes) noexcept;
    // The index of the requested key that a VALUE line names, or keys_.size().
    [[nodiscard]] std::size_t match_in_order(std::string_view wire_key) const noexcept;
    [[nodiscard]] std::size_t match_any_order(std::string_view wire_key) noexcept;
    void restore_request_order();

    bool with_cas_;
    bool base64_;
    key_list keys_;
    std::string_view prefix_;
    std::size_t next_key_ = 0;  // VALUE lines may only name this key or a later one
    char* body_ = nullptr;
    std::size_t filled_ = 0;
    // Through twemproxy only: the keys answered, and each hit's key index.
    bool any_order_ = false;
    std::vector<bool> answered_;
    std::vector<std::uint32_t> hit_index_;
};

}  // namespace memcoro::detail
