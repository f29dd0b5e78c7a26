// What every concrete operation shares: its handler, its result, and how it hands
// that result to the handler.
#pragma once

#include <memcoro/detail/handlers.hpp>
#include <memcoro/detail/operation.hpp>
#include <memcoro/error.hpp>

#include <boost/asio/any_completion_handler.hpp>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/associated_executor.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/post.hpp>

#include <cstring>
#include <string_view>
#include <utility>

namespace memcoro::detail {

namespace asio = boost::asio;

// Calls the handler with `args` on its own executor (inline when the caller already
// runs there), where the cancellation signal is emitted too.
template <class Sig, class... Args>
void dispatch_completion(completion<Sig> c, const asio::any_io_executor& fallback,
                         Args... args) {
    auto run = [h = std::move(c.handler), ... args = std::move(args)]() mutable {
        call_handler(h, std::move(args)...);
    };
    if (c.executor) {
        asio::dispatch(*c.executor, std::move(run));
    } else if (c.other_executor) {
        asio::dispatch(*c.other_executor, std::move(run));
    } else {
        asio::dispatch(fallback, std::move(run));
    }
}

// The same for a completion that is known before the operation starts (bad input):
// never inside the initiating call, so it first goes through a post to the client's
// executor.
template <class Sig, class... Args>
void post_completion(completion<Sig> c, const asio::any_io_executor& fallback, Args... args) {
    asio::post(fallback, [c = std::move(c), fallback, ... args = std::move(args)]() mutable {
        dispatch_completion(std::move(c), fallback, std::move(args)...);
    });
}

// How an operation hands its result over: posted when `post` (the caller is inside a
// user's call), else called right here when dispatch would run it inline, else
// dispatched. run_here_if_dispatchable touches nothing when it returns false, so the
// arguments are still there for the dispatch. Inlined: it is on every completion's path.
template <class Sig, class... Args>
[[gnu::always_inline]] inline void deliver_completion(completion<Sig>& c,
                                                      const asio::any_io_executor& fallback,
                                                      bool post, Args&&... args) {
    if (post) {
        post_completion(std::move(c), fallback, std::forward<Args>(args)...);
    } else if (!c.run_here_if_dispatchable(std::forward<Args>(args)...)) {
        dispatch_completion(std::move(c), fallback, std::forward<Args>(args)...);
    }
}

// Maps a server's error line to the error the operation reports.
[[nodiscard]] inline error_code error_from(const protocol::event& ev) noexcept {
    switch (ev.which) {
        case protocol::error_line::error: return error::unknown_command;
        case protocol::error_line::client_error: return error::client_error;
        case protocol::error_line::server_error:
        case protocol::error_line::memlimit: return error::server_error;
    }
    return error::protocol_error;
}

// For the encode of a command that twemproxy does not carry: refused before anything
// is encoded, so the proxy never sees it and keeps the connection.
[[nodiscard]] inline error_code needs_full_server(const encode_context& ctx) noexcept {
    return ctx.commands() == peer_commands::all ? error_code{}
                                                : make_error_code(error::unsupported_command);
}

// For the encode of a request whose key goes in base64 (key_encoding::base64): only a
// meta command carries such a key, so a text-only peer (wire_protocol::text, twemproxy)
// refuses it before anything is encoded.
[[nodiscard]] inline error_code carries_key(const encode_context& ctx, bool base64) noexcept {
    return base64 && ctx.mode() == wire_mode::text ? make_error_code(error::unsupported_command)
                                                   : error_code{};
}

// Errors that errors_as_misses turns into misses: the network's and the server's,
// not bad input, not a command the server cannot carry (it never will: a miss would
// hide that), and not the caller's own cancellation.
[[nodiscard]] inline bool is_network_or_server_error(error_code ec) noexcept {
    if (ec == asio::error::operation_aborted) return false;
    if (ec.category() != error_category()) return true;
    switch (static_cast<error>(ec.value())) {
        case error::invalid_key:
        case error::value_too_large:
        case error::invalid_argument:
        case error::bad_value:
        case error::unsupported_command:
        case error::shut_down: return false;
        default: return true;
    }
}

// What a call reports for `ec` when `misses_on_error` (errors_as_misses) is set: no
// error (the empty result reads as a miss) for a network or server error, else `ec`.
[[nodiscard]] inline error_code as_reported(error_code ec, bool misses_on_error) noexcept {
    return ec && misses_on_error && is_network_or_server_error(ec) ? error_code{} : ec;
}

// The operation_kind of a retrieval or storage command: the enums list them in the same
// order.
[[nodiscard]] constexpr operation_kind kind_of(protocol::retrieve_command c) noexcept {
    static_assert(static_cast<int>(operation_kind::gats) - static_cast<int>(operation_kind::get) ==
                  static_cast<int>(protocol::retrieve_command::gats));
    return static_cast<operation_kind>(static_cast<int>(operation_kind::get) + static_cast<int>(c));
}
[[nodiscard]] constexpr operation_kind kind_of(protocol::store_command c) noexcept {
    static_assert(static_cast<int>(operation_kind::cas) - static_cast<int>(operation_kind::set) ==
                  static_cast<int>(protocol::store_command::cas));
    return static_cast<operation_kind>(static_cast<int>(operation_kind::set) + static_cast<int>(c));
}

// A key copied into the operation: the caller's may be gone before the reply comes
// (after a cancellation), and the reply must still be checked against it.
class key_copy {
public:
    explicit key_copy(std::string_view key) noexcept : size_(key.size()) {
        std::memcpy(bytes_, key.data(), key.size() < sizeof(bytes_) ? key.size() : sizeof(bytes_));
    }
    [[nodiscard]] std::string_view view() const noexcept { return {bytes_, size_}; }

private:
    char bytes_[250];  // validated keys are never longer (protocol.md 1.2)
    std::size_t size_;
};

template <class Result>
class basic_operation : public operation {
public:
    using handler_type = completion<void(error_code, Result)>;

    // `fallback` is the connection's executor, which outlives its operations.
    basic_operation(handler_type&& handler, const asio::any_io_executor& fallback)
        : handler_(std::move(handler)), fallback_(&fallback) {}

    void complete(error_code ec, bool post) final {
        // On an error the result stays where it is (a body may still be read into it);
        // errors_as_misses then reports an empty result, as a miss.
        Result empty{};
        Result& result = ec ? empty : result_;
        deliver_completion(handler_, *fallback_, post, as_reported(ec, misses_on_error_),
                           std::move(result));
    }

    void destroy() noexcept final { free_self(); }

    // errors_as_misses: a retrieval that fails for network or server reasons
    // completes as a miss.
    bool misses_on_error_ = false;

protected:
    [[nodiscard]] bool finished() const noexcept { return phase_ == phase::finished; }
    // The reply is read (the stream stays in step) but changes nothing: the operation
    // finished, or it is a noreply one whose meta request was answered all the same
    // (key_encoding::base64), which reports success whatever the server said.
    [[nodiscard]] bool ignores_reply() const noexcept { return finished() || no_reply_; }
    // An error line: the operation fails with it, unless it ignores its reply.
    void fail_with_reply(const protocol::event& ev) noexcept {
        if (!ignores_reply()) fail_with(error_from(ev));
    }

    Result result_{};

private:
    handler_type handler_;
    const asio::any_io_executor* fallback_;  // where to complete if the handler names none
};

// Operations whose completion carries no value: void(error_code).
class void_operation : public operation {
public:
    using handler_type = completion<void(error_code)>;

    void_operation(handler_type&& handler, const asio::any_io_executor& fallback)
        : handler_(std::move(handler)), fallback_(&fallback) {}

    void complete(error_code ec, bool post) final {
        if (ec == error::connection_closed && closing_is_success_) ec = {};
        deliver_completion(handler_, *fallback_, post, ec);
    }
    void destroy() noexcept final { free_self(); }

protected:
    // For commands whose success is the server hanging up (shutdown).
    bool closing_is_success_ = false;

private:
    handler_type handler_;
    const asio::any_io_executor* fallback_;  // where to complete if the handler names none
};

}  // namespace memcoro::detail
