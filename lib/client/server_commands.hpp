// Commands about the server rather than a key: stats, version, flush_all, verbosity,
// cache_memlimit, quit, shutdown. They always use the text protocol.
#pragma once

#include "basic_operation.hpp"

#include <memcoro/client.hpp>

#include <string>

namespace memcoro::detail {

class stats_op final : public basic_operation<stats_list> {
public:
    stats_op(handler_type&& h, const asio::any_io_executor& fallback, std::string_view args)
        : basic_operation(std::move(h), fallback), args_(args) {
        kind_ = operation_kind::stats;
    }
    error_code encode(encode_context& ctx) override;
    bool on_event(const protocol::event& ev, std::uint32_t part) override;

private:
    std::string args_;
};

class version_op final : public basic_operation<std::string> {
public:
    version_op(handler_type&& h, const asio::any_io_executor& fallback)
        : basic_operation(std::move(h), fallback) {
        kind_ = operation_kind::version;
    }
    error_code encode(encode_context& ctx) override;
    bool on_event(const protocol::event& ev, std::uint32_t part) override;
};

enum class admin_command : std::uint8_t { flush_all, verbosity, cache_memlimit, quit, shutdown };

class admin_op final : public void_operation {
public:
    admin_op(handler_type&& h, const asio::any_io_executor& fallback, admin_command cmd,
             std::uint64_t arg, bool noreply)
        : void_operation(std::move(h), fallback), cmd_(cmd), arg_(arg) {
        kind_ = operation_kind::admin;
        no_reply_ = noreply;
        // quit and shutdown get no reply: their only success is the server closing the
        // stream (protocol.md 1.12). Completing only then keeps the next operation off
        // the connection that is going away.
        closing_is_success_ = cmd == admin_command::shutdown || cmd == admin_command::quit;
    }
    error_code encode(encode_context& ctx) override;
    bool on_event(const protocol::event& ev, std::uint32_t part) override;

private:
    admin_command cmd_;
    std::uint64_t arg_;
};

}  // namespace memcoro::detail
