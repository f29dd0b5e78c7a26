#include "support/stalling_proxy.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "support/process.hpp"

namespace memcoro::test {
namespace {

// Enough for any handshake; beyond it a client that the server does not read from is
// not read from either.
constexpr std::size_t max_pending = 1 << 20;

void close_fd(int& fd) noexcept {
    if (fd >= 0) ::close(fd);
    fd = -1;
}

bool would_block() noexcept {
    return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR;
}

// One accepted connection and, unless there is no target, its connection to the server.
struct relay {
    int client = -1;
    int server = -1;
    bool connecting = false;    // the server connection is still being made
    std::string to_server;      // read from the client, not yet written to the server
    std::string to_client;      // read from the server, not yet written to the client
    std::size_t server_budget;  // bytes of the server's that may still be read

    void close_server() noexcept {
        close_fd(server);
        connecting = false;
        to_server.clear();
    }
    void close_all() noexcept {
        close_server();
        close_fd(client);
    }
};

// Writes as much of `pending` to `fd` as it takes now; false when the peer is gone.
bool flush(int fd, std::string& pending) noexcept {
    while (!pending.empty()) {
        const ssize_t n = ::send(fd, pending.data(), pending.size(), MSG_NOSIGNAL);
        if (n > 0) {
            pending.erase(0, static_cast<std::size_t>(n));
        } else if (n < 0 && would_block()) {
            return true;
        } else {
            return false;
        }
    }
    return true;
}

}  // namespace

stalling_proxy::stalling_proxy(std::uint16_t target_port, std::size_t server_bytes)
    : target_port_(target_port), server_bytes_(server_bytes) {
    if (target_port == 0 && server_bytes != 0) {
        throw std::invalid_argument("stalling_proxy: server bytes without a server to relay");
    }
    listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (listen_fd_ < 0) throw_errno("socket");
    try {
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
            throw_errno("bind 127.0.0.1:0");
        }
        if (::listen(listen_fd_, 64) != 0) throw_errno("listen");
        socklen_t len = sizeof addr;
        if (::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
            throw_errno("getsockname");
        }
        port_ = ntohs(addr.sin_port);
        wake_fd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (wake_fd_ < 0) throw_errno("eventfd");
        thread_ = std::thread([this] { run(); });
    } catch (...) {
        close_fd(wake_fd_);
        close_fd(listen_fd_);
        throw;
    }
}

stalling_proxy::~stalling_proxy() {
    const std::uint64_t one = 1;
    [[maybe_unused]] const auto n = ::write(wake_fd_, &one, sizeof one);
    thread_.join();
    close_fd(wake_fd_);
    close_fd(listen_fd_);
}

std::string stalling_proxy::address() const {
    return "127.0.0.1:" + std::to_string(port_);
}

void stalling_proxy::run() noexcept {
    std::vector<relay> relays;
    std::vector<pollfd> fds;
    char buf[16384];
    for (;;) {
        // fds: the wake-up, the listener, then each relay's client and server (fd -1,
        // which poll skips, when there is none).
        fds.clear();
        fds.push_back({wake_fd_, POLLIN, 0});
        fds.push_back({listen_fd_, POLLIN, 0});
        for (const relay& r : relays) {
            short client_events = 0;
            if (r.to_server.size() < max_pending) client_events |= POLLIN;
            if (!r.to_client.empty()) client_events |= POLLOUT;
            short server_events = 0;
            if (r.connecting || !r.to_server.empty()) server_events |= POLLOUT;
            if (!r.connecting && r.server_budget > 0 && r.to_client.size() < max_pending) {
                server_events |= POLLIN;
            }
            fds.push_back({r.client, client_events, 0});
            fds.push_back({r.server, server_events, 0});
        }
        if (::poll(fds.data(), fds.size(), -1) < 0) {
            if (errno == EINTR) continue;
            break;
        }
        if (fds[0].revents != 0) break;

        for (std::size_t i = 0; i < relays.size(); ++i) {
            relay& r = relays[i];
            const short client_ev = fds[2 + 2 * i].revents;
            const short server_ev = r.server >= 0 ? fds[3 + 2 * i].revents : 0;

            if (r.connecting && (server_ev & (POLLOUT | POLLERR | POLLHUP))) {
                int err = 0;
                socklen_t len = sizeof err;
                ::getsockopt(r.server, SOL_SOCKET, SO_ERROR, &err, &len);
                r.connecting = false;
                if (err != 0) {
                    r.close_server();
                    ++upstream_failures_;
                }
            } else if (r.server >= 0 && (server_ev & POLLIN)) {
                const std::size_t want = std::min(sizeof buf, r.server_budget);
                const ssize_t n = ::recv(r.server, buf, want, 0);
                if (n > 0) {
                    r.to_client.append(buf, static_cast<std::size_t>(n));
                    r.server_budget -= static_cast<std::size_t>(n);
                } else if (n == 0 || !would_block()) {
                    r.close_server();  // the client's connection stays open regardless
                }
            } else if (r.server >= 0 && (server_ev & (POLLERR | POLLHUP)) &&
                       !(server_ev & POLLOUT)) {
                r.close_server();
            }
            if (r.server >= 0 && !r.connecting && !flush(r.server, r.to_server)) {
                r.close_server();
            }

            if (client_ev & POLLIN) {
                const ssize_t n = ::recv(r.client, buf, sizeof buf, 0);
                if (n > 0) {
                    client_bytes_ += static_cast<std::size_t>(n);
                    if (r.server >= 0) {
                        r.to_server.append(buf, static_cast<std::size_t>(n));
                        if (!r.connecting && !flush(r.server, r.to_server)) r.close_server();
                    }
                } else if (n == 0 || !would_block()) {
                    r.close_all();
                    continue;
                }
            } else if (client_ev & (POLLERR | POLLHUP)) {
                r.close_all();
                continue;
            }
            const std::size_t before = r.to_client.size();
            if (!flush(r.client, r.to_client)) {
                r.close_all();
                continue;
            }
            relayed_bytes_ += before - r.to_client.size();
        }
        std::erase_if(relays, [](const relay& r) { return r.client < 0; });

        if (fds[1].revents & POLLIN) {
            for (;;) {
                const int client =
                    ::accept4(listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
                if (client < 0) break;
                ++accepted_;
                relay r;
                r.client = client;
                r.server_budget = server_bytes_;
                if (target_port_ != 0) {
                    r.server = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
                    sockaddr_in addr{};
                    addr.sin_family = AF_INET;
                    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
                    addr.sin_port = htons(target_port_);
                    if (r.server >= 0 &&
                        ::connect(r.server, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
                        if (errno == EINPROGRESS) {
                            r.connecting = true;
                        } else {
                            r.close_server();
                        }
                    }
                    if (r.server < 0) ++upstream_failures_;
                }
                relays.push_back(std::move(r));
            }
        }
    }
    for (relay& r : relays) r.close_all();
}

}  // namespace memcoro::test
