// What the client tells a logger (client_options::logger): connects and the wire protocol
// they chose, failed connects and disconnects with their causes, reconnect backoff,
// health checks that failed, protocol violations, and servers of a tier marked dead or
// back. Nothing else, and never a key, a value, a username or a password.
//
// With no logger set (the default) none of this costs anything: no event is recorded and
// no message is built.
#pragma once

#include <boost/system/error_code.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <string_view>

namespace memcoro {

enum class log_level : std::uint8_t { debug, info, warning, error };

// What happened; each kind always comes at the same level (written next to it).
enum class log_kind : std::uint8_t {
    connected,            // info: a stream is ready; the message names its wire protocol
    connect_failed,       // error: the connect, TLS handshake, login or probe failed
    disconnected,         // warning: a connection closed under its operations
    backoff,              // info: the next connect waits `delay` (reconnect_backoff)
    health_check_failed,  // warning: an idle connection's check went unanswered
    protocol_violation,   // error: the server broke the protocol; the connection closed
    server_dead,          // error: a server of a tier marked dead (failure_limit)
    server_back,          // info: a dead server answered its probe and takes keys again
};

struct log_event {
    log_level level = log_level::info;
    log_kind kind = log_kind::connected;
    // The server, as client_options::server or servers[i].address spells it.
    std::string_view server;
    // The cause: connect_failed, disconnected, health_check_failed, protocol_violation,
    // and server_dead (the server's last failure). Empty for the others.
    boost::system::error_code error;
    // backoff: how long until the next connect. Zero for the others.
    std::chrono::milliseconds delay{0};
    // One line for people, naming the server, what happened and the cause, e.g.
    // `127.0.0.1:22999: connect failed: Connection refused [system:111]`.
    std::string_view message;
};

// Called with each event. The views in the event live until the call returns.
using logger = std::function<void(const log_event&)>;

// "debug", "info", "warning", "error".
[[nodiscard]] std::string_view to_string(log_level level) noexcept;
// The enumerator's name: "connected", "connect_failed", ...
[[nodiscard]] std::string_view to_string(log_kind kind) noexcept;

}  // namespace memcoro
