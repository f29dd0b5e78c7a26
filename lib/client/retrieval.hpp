// get gets gat gats (one key) and get_many gets_many (one request for many keys).
#pragma once

#include "basic_operation.hpp"
#include "meta_flags.hpp"

#include <memcoro/item.hpp>

#include <optional>
#include <string>
#include <vector>

namespace memcoro::detail {

// One key. In meta mode: `mg <key> v f [c] [T<ttl>] O<n>`, which the server handles
// far more cheaply when pipelined (shared/performance.md); in text mode the classic
// command, whose VALUE line must name the key asked for.
class retrieve_op final : public basic_operation<std::optional<item>> {
public:
    retrieve_op(handler_type h, asio::any_io_executor fallback, protocol::retrieve_command cmd,
                std::string_view key, std::int64_t ttl, std::string_view prefix)
        : basic_operation(std::move(h), std::move(fallback)),
          cmd_(cmd),
          key_(key),
          prefix_(prefix),
          ttl_(ttl) {}

    error_code encode(encode_context& ctx) override;
    bool on_event(const protocol::event& ev, std::uint32_t part) override;
    std::span<char> body_target(std::size_t remaining) noexcept override;
    void body_filled(std::size_t n) noexcept override { filled_ += n; }

private:
    void start_value(std::size_t size, std::uint32_t flags, std::uint64_t cas);

    protocol::retrieve_command cmd_;
    key_copy key_;
    std::string_view prefix_;  // the connection's, which outlives the operation
    std::int64_t ttl_;
    char* body_ = nullptr;  // the item's storage while its body is read
    std::size_t filled_ = 0;
    bool seen_value_ = false;
};

// Many keys in one classic `get`/`gets` request (the server has no limit on their
// number, protocol.md 1.1). Hits come back in request order; each VALUE line must
// name the next requested key at or after the previous hit.
class many_op final : public basic_operation<std::vector<item>> {
public:
    many_op(handler_type h, asio::any_io_executor fallback, bool with_cas,
            std::span<const std::string_view> keys, std::string_view prefix);

    error_code encode(encode_context& ctx) override;
    bool on_event(const protocol::event& ev, std::uint32_t part) override;

private:
    [[nodiscard]] std::string_view key(std::size_t i) const noexcept {
        return std::string_view(keys_).substr(offsets_[i], offsets_[i + 1] - offsets_[i]);
    }

    bool with_cas_;
    std::string keys_;                  // all keys, back to back
    std::vector<std::size_t> offsets_;  // where each starts, and the end
    std::string_view prefix_;
    std::size_t next_key_ = 0;  // VALUE lines may only name this key or a later one
    char* body_ = nullptr;
    std::size_t filled_ = 0;
};

}  // namespace memcoro::detail
