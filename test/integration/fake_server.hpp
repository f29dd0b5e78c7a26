// A scripted fake memcached for what a real one never does (hostile_server_test.cpp) or
// cannot do here (meta_calls_test.cpp: a version newer than the installed 1.6.18).
#pragma once

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/buffers_iterator.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/streambuf.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <chrono>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "run_client.hpp"

namespace memcoro::test {

// Accepts connections on a free loopback port; for each request line it reads, it
// writes the next scripted reply. A reply may use "{O}" for the opaque the request
// carried, so a script can answer correctly or deliberately not. `version` lines (the
// client's probe at connect) are answered with `VERSION <version>` outside the script.
class fake_server {
  public:
    fake_server(asio::any_io_executor ex, std::vector<std::string> replies,
                std::string version = "1.6.18")
        : acceptor_(ex, asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)),
          state_(std::make_shared<shared>()) {
        state_->replies = std::move(replies);
        state_->version = std::move(version);
        asio::co_spawn(ex, serve(), asio::detached);
    }
    ~fake_server() {
        boost::system::error_code ignored;
        acceptor_.close(ignored);
    }
    fake_server(const fake_server&) = delete;
    fake_server& operator=(const fake_server&) = delete;

    [[nodiscard]] std::string address() const {
        return "127.0.0.1:" + std::to_string(acceptor_.local_endpoint().port());
    }
    [[nodiscard]] int connections() const { return state_->connections; }
    // Every request line read, in order, with its CRLF ("version" lines included).
    [[nodiscard]] const std::vector<std::string>& requests() const { return state_->requests; }

  private:
    // What the coroutines share with the fake: they may outlive it by a few handlers.
    struct shared {
        std::vector<std::string> replies;
        std::string version;
        std::size_t next = 0;
        int connections = 0;
        std::vector<std::string> requests;
    };

    asio::awaitable<void> serve() {
        auto state = state_;
        for (;;) {
            auto [ec, socket] =
                co_await acceptor_.async_accept(asio::as_tuple(asio::use_awaitable));
            if (ec) co_return;
            ++state->connections;
            asio::co_spawn(acceptor_.get_executor(), answer(std::move(socket), state),
                           asio::detached);
        }
    }

    static asio::awaitable<void> answer(asio::ip::tcp::socket socket,
                                        std::shared_ptr<shared> state) {
        asio::streambuf in;
        for (;;) {
            auto [ec, n] = co_await asio::async_read_until(socket, in, "\r\n",
                                                           asio::as_tuple(asio::use_awaitable));
            if (ec) co_return;
            std::string line(asio::buffers_begin(in.data()), asio::buffers_begin(in.data()) + n);
            in.consume(n);
            state->requests.push_back(line);
            if (line.starts_with("ms ")) {
                // Swallow the data block: its length is the third token.
                const auto first = line.find(' ', 3);
                const auto len = std::stoul(line.substr(first + 1));
                while (in.size() < len + 2) {
                    auto [ec2, m] =
                        co_await asio::async_read(socket, in.prepare(len + 2 - in.size()),
                                                  asio::as_tuple(asio::use_awaitable));
                    if (ec2) co_return;
                    in.commit(m);
                }
                in.consume(len + 2);
            }
            std::string reply;
            if (line == "version\r\n") {
                reply = "VERSION " + state->version + "\r\n";
            } else if (state->next < state->replies.size()) {
                reply = state->replies[state->next++];
            } else {
                continue;  // out of script: go silent
            }
            const auto o = line.find(" O");
            const std::string opaque =
                o == std::string::npos
                    ? ""
                    : line.substr(o + 2, line.find_first_of(" \r", o + 2) - o - 2);
            for (auto at = reply.find("{O}"); at != std::string::npos; at = reply.find("{O}")) {
                reply.replace(at, 3, opaque);
            }
            auto [ec3, w] = co_await asio::async_write(socket, asio::buffer(reply),
                                                       asio::as_tuple(asio::use_awaitable));
            if (ec3) co_return;
        }
    }

    asio::ip::tcp::acceptor acceptor_;
    std::shared_ptr<shared> state_;
};

inline client_options fake_server_options(const std::string& address, wire_protocol p,
                                          key_encoding keys = key_encoding::text) {
    client_options o;
    o.server = address;
    o.protocol = p;
    o.key_encoding = keys;
    o.op_timeout = std::chrono::seconds(2);
    o.reconnect_backoff = std::chrono::milliseconds(1);
    return o;
}

// Runs `body(client&, fake_server&)` against a client of a fake server with the given
// script, claiming `version`, the client sending keys as `keys` says.
template <class Body>
void with_fake_server(std::vector<std::string> script, wire_protocol p, Body body,
                      std::string version = "1.6.18", key_encoding keys = key_encoding::text) {
    asio::io_context ioc;
    fake_server server(ioc.get_executor(), std::move(script), std::move(version));
    run_client_on(
        ioc, fake_server_options(server.address(), p, keys),
        [&](client& mc) { return body(mc, server); }, std::chrono::seconds(20));
}

}  // namespace memcoro::test
