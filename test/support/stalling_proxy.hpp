// A hostile peer for TLS handshake stalls: a loopback TCP proxy that passes what its
// clients send to a real server but only the first bytes of what the server answers,
// then relays nothing more to the client and keeps its connection open. To a client
// that is a server stalling in the middle of the handshake.
//
// It runs on its own thread with plain POSIX sockets, so it keeps answering while the
// test's io_context is blocked, and it needs no io_context of its own.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string>
#include <thread>

namespace memcoro::test {

class stalling_proxy {
  public:
    // Relays each accepted connection to 127.0.0.1:`target_port`: everything from the
    // client, and the first `server_bytes` bytes of the server's answers. Once those are
    // passed, the rest is left unread. When the server closes, the client's connection
    // still stays open; when the client closes, the server's is closed too.
    //
    // `target_port` 0: no server at all; connections are accepted and read forever and
    // never answered (`server_bytes` must then be 0).
    stalling_proxy(std::uint16_t target_port, std::size_t server_bytes);
    // A peer that accepts, reads and never answers: stalling_proxy(0, 0).
    stalling_proxy() : stalling_proxy(0, 0) {}
    // Stops the thread and closes every connection.
    ~stalling_proxy();

    stalling_proxy(const stalling_proxy&) = delete;
    stalling_proxy& operator=(const stalling_proxy&) = delete;

    [[nodiscard]] std::uint16_t port() const noexcept { return port_; }
    // "127.0.0.1:PORT".
    [[nodiscard]] std::string address() const;

    // Connections accepted so far.
    [[nodiscard]] int accepted() const noexcept { return accepted_.load(); }
    // Bytes read from clients, and bytes passed to them, over all connections.
    [[nodiscard]] std::size_t client_bytes() const noexcept { return client_bytes_.load(); }
    [[nodiscard]] std::size_t relayed_bytes() const noexcept { return relayed_bytes_.load(); }
    // Connections whose server could not be reached (they are kept open and read).
    [[nodiscard]] int upstream_failures() const noexcept { return upstream_failures_.load(); }

  private:
    void run() noexcept;

    std::uint16_t target_port_;
    std::size_t server_bytes_;
    int listen_fd_ = -1;
    int wake_fd_ = -1;  // an eventfd: the destructor's signal to the thread to stop
    std::uint16_t port_ = 0;
    std::atomic<int> accepted_{0};
    std::atomic<std::size_t> client_bytes_{0};
    std::atomic<std::size_t> relayed_bytes_{0};
    std::atomic<int> upstream_failures_{0};
    std::thread thread_;
};

}  // namespace memcoro::test
