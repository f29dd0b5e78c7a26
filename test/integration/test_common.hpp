// Small helpers shared by the client integration tests (client_*_test.cpp).
#pragma once

#include <array>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/system/system_error.hpp>
#include <chrono>
#include <cstdint>
#include <memcoro/memcoro.hpp>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

#include "run_client.hpp"
#include "support/memcached_server.hpp"

namespace memcoro::test {

inline constexpr std::array all_modes{wire_protocol::meta, wire_protocol::text,
                                      wire_protocol::automatic};
inline constexpr std::array explicit_modes{wire_protocol::meta, wire_protocol::text};

// A client of `server` in wire mode `p`. The timeout is generous because the sanitizer
// build is several times slower; tests that want a short one set it themselves.
inline client_options options_for(const memcached_server& server, wire_protocol p) {
    client_options o;
    o.server = server.address();
    o.protocol = p;
    o.op_timeout = std::chrono::seconds(10);
    // Tests that start many coroutines at once delay the connect's handlers past the
    // default second under the sanitizers; the tests about connecting set their own.
    o.connect_timeout = std::chrono::seconds(10);
    return o;
}

// Waits without blocking the io_context, so the client's own work goes on meanwhile.
inline asio::awaitable<void> sleep_for(std::chrono::milliseconds d) {
    asio::steady_timer timer(co_await asio::this_coro::executor, d);
    co_await timer.async_wait(asio::use_awaitable);
}

// Waits (without blocking the io_context) until `done` is set, at most `limit`.
inline asio::awaitable<void> wait_for(const bool& done, std::chrono::milliseconds limit) {
    const auto until = std::chrono::steady_clock::now() + limit;
    while (!done && std::chrono::steady_clock::now() < until) {
        co_await sleep_for(std::chrono::milliseconds(5));
    }
}

// Empties the server behind the client's back, so each wire mode starts from nothing.
inline void flush(const memcached_server& server) {
    const std::string reply = server.roundtrip("flush_all\r\n", "\r\n");
    if (reply != "OK\r\n") throw std::runtime_error("flush_all answered " + reply);
}

// The value of one `STAT <name> <value>` line of a raw `stats [args]` reply, or "" when
// absent. Read with the fixture's own connection, so it does not disturb the client's.
inline std::string raw_stat(const memcached_server& server, std::string_view name,
                            std::string_view args = {}) {
    std::string request = "stats";
    if (!args.empty()) request.append(" ").append(args);
    request += "\r\n";
    const std::string reply = server.roundtrip(request, "END\r\n");
    const std::string needle = "STAT " + std::string(name) + " ";
    const auto at = reply.find(needle);
    if (at == std::string::npos) return {};
    const auto begin = at + needle.size();
    return reply.substr(begin, reply.find("\r\n", begin) - begin);
}

// A raw text-protocol `set` request for `key`, to seed the server without the client.
inline std::string raw_set(std::string_view key, std::string_view value, std::uint32_t flags = 0) {
    std::string r = "set ";
    r.append(key).append(" ").append(std::to_string(flags)).append(" 0 ");
    r.append(std::to_string(value.size())).append("\r\n").append(value).append("\r\n");
    return r;
}

// What a raw `get <key>` returns: the whole reply, "END\r\n" for a miss.
inline std::string raw_get(const memcached_server& server, std::string_view key) {
    return server.roundtrip("get " + std::string(key) + "\r\n", "END\r\n");
}

// The error an awaited call threw, or none.
template <class Awaitable>
asio::awaitable<boost::system::error_code> error_of(Awaitable call) {
    try {
        co_await std::move(call);
    } catch (const boost::system::system_error& e) {
        co_return e.code();
    }
    co_return boost::system::error_code{};
}

// Stores `key`, trying again every 50 ms while it fails (a server just restarted, the
// client finding out and reconnecting): whether it was stored within 50 attempts.
inline asio::awaitable<bool> set_once_back(client& mc, std::string_view key,
                                           std::string_view value) {
    for (int attempt = 0; attempt < 50; ++attempt) {
        auto [ec, stored] = co_await mc.set(key, value, {}, asio::as_tuple(asio::use_awaitable));
        if (!ec && stored) co_return true;
        co_await sleep_for(std::chrono::milliseconds(50));
    }
    co_return false;
}

// The value of a hit, or "<miss>": safer in a CHECK than dereferencing the optional.
inline std::string value_of(const std::optional<item>& it) {
    return it ? std::string(it->value()) : std::string("<miss>");
}

}  // namespace memcoro::test
