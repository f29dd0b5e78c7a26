// A tier of real memcached servers for the many-server tests (tier_test.cpp,
// tier_faults_test.cpp).
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "test_common.hpp"

namespace memcoro::test {

// `n` private memcached servers, and the options of a client of them all.
struct tier {
    std::vector<std::unique_ptr<memcached_server>> servers;

    explicit tier(std::size_t n = 3) {
        for (std::size_t i = 0; i < n; ++i) servers.push_back(std::make_unique<memcached_server>());
    }

    [[nodiscard]] client_options options(wire_protocol p = wire_protocol::meta) const {
        client_options o;
        for (const auto& s : servers) o.servers.push_back({s->address()});
        o.protocol = p;
        o.op_timeout = std::chrono::seconds(10);
        return o;
    }

    // Which servers hold `key`, asked behind the client's back (running, unpaused ones).
    [[nodiscard]] std::vector<std::size_t> holders(std::string_view key) const {
        std::vector<std::size_t> out;
        for (std::size_t i = 0; i < servers.size(); ++i) {
            if (servers[i]->running() && !servers[i]->paused() &&
                raw_get(*servers[i], key) != "END\r\n") {
                out.push_back(i);
            }
        }
        return out;
    }
};

[[nodiscard]] inline bool alive(const client& mc, std::size_t server) {
    return mc.server_status()[server].health == server_status::state::alive;
}

// Waits (without blocking the client) until `server` is alive again, at most `limit`.
inline asio::awaitable<bool> wait_until_alive(const client& mc, std::size_t server,
                                              std::chrono::milliseconds limit) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (!alive(mc, server) && std::chrono::steady_clock::now() < deadline) {
        co_await sleep_for(std::chrono::milliseconds(20));
    }
    co_return alive(mc, server);
}

}  // namespace memcoro::test
