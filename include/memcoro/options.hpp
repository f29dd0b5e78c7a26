// Options of a client and of each call.
#pragma once

#include <boost/system/error_code.hpp>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memcoro/distribution.hpp>
#include <memcoro/log.hpp>
#include <memcoro/meta.hpp>
#include <memcoro/tls.hpp>
#include <optional>
#include <string>
#include <vector>

namespace memcoro {

// Which protocol single-key commands use on the wire.
enum class wire_protocol : std::uint8_t {
    // Probe once per connection with `version` and `mn` in one write (one round trip
    // before the first request): meta where the server answers mn and is 1.6.10 or
    // later, text where it is not (memcached < 1.6, or a version whose meta replies
    // differ). A server that hangs up on the probe is taken for a proxy such as
    // twemproxy, and from then on treated as with `twemproxy`.
    automatic,
    // The meta protocol (memcached >= 1.6.10). A pipelined `mg` costs the server about
    // a fifth of a pipelined `get` (shared/performance.md). Each connection first asks
    // the server's `version` (one round trip at connect), so that the meta calls can
    // refuse an option the server is too old for.
    meta,
    // The classic text protocol only.
    text,
    // The text protocol, through twemproxy (nutcracker), which hangs up on a command it
    // does not carry, failing every request in flight. Those commands (gat, gats, stats,
    // flush_all, verbosity, cache_memlimit, shutdown) complete with
    // error::unsupported_command without being sent, and the connection stays up.
    twemproxy,
};

// One server of a tier: its address (as for client_options::server) and its weight, the
// share of keys it takes relative to the others (ketama and modula; rendezvous has none).
struct server_spec {
    std::string address;
    std::uint32_t weight = 1;
    // This server's TLS, in place of client_options::tls.
    std::optional<tls_options> tls{};
};

// What client::server_status() reports for one server, and what on_server_state is told.
struct server_status {
    enum class state : std::uint8_t {
        alive,
        dead,     // left out until `dead_until`; its operations fail fast
        probing,  // dead, and a probe is on the wire
    };
    std::size_t index = 0;  // in client_options::servers
    std::string address;
    state health = state::alive;
    std::chrono::steady_clock::time_point dead_until{};  // when dead or probing
    std::uint32_t consecutive_failures = 0;
    std::size_t open_connections = 0;
    std::size_t in_flight = 0;  // operations started and not yet completed
    // The server's last failure (as connection_failure::error) and when it happened; empty
    // and the epoch when it never failed. Kept after the server recovers.
    boost::system::error_code last_error{};
    std::chrono::system_clock::time_point last_error_at{};
};

// A failure of a server's: what client::last_failure() reports.
struct connection_failure {
    std::string server;  // its address, as the options spell it
    // The cause: a connect's own error (boost::asio::error::connection_refused,
    // host_not_found, the errno of a missing unix socket, error::connect_timeout, a
    // tls_error, error::auth_failed), or why an open connection was closed
    // (error::connection_closed, unresponsive, protocol_error ...), or error::timeout for
    // requests that timed out unanswered on a connection that stayed open.
    boost::system::error_code error;
    std::chrono::system_clock::time_point at;
};

struct client_options {
    // One server: "host:port", "[v6]:port", "host" (port 11211), "/path/to/socket" or
    // "unix:/path/to/socket". Ignored when `servers` is set (setting both is an error
    // unless `server` keeps its default). The client's constructor refuses a malformed
    // address (README "Errors, logs and metrics").
    std::string server = "127.0.0.1:11211";

    // ---- Many servers (README "Many servers") -------------------------------------
    // The tier, in the order the other clients list it: placement depends on the order.
    std::vector<server_spec> servers{};
    // How keys are spread over `servers`; ignored when `custom_distribution` is set.
    memcoro::distribution distribution = memcoro::distribution::ketama;
    key_distribution custom_distribution{};
    // Connections per server, each with its own pipeline; an operation goes to the one
    // with the fewest operations in flight. They open lazily.
    std::size_t connections_per_server = 1;
    // Consecutive failures (a failed connect, a connection closed under its operations,
    // a pass of the clock that timed out unanswered requests) that mark a server dead.
    // Misses and server replies are never failures. Only with two servers or more; 0:
    // never mark a server dead.
    std::uint32_t failure_limit = 2;
    // How long a dead server is left out before one probe asks whether it is back.
    std::chrono::milliseconds dead_timeout{30000};
    // false: a dead server's operations fail at once with error::server_dead (misses with
    // errors_as_misses). true: its keys go to the other servers as the distribution
    // remaps them, and come back when it does (README: the consistency cost).
    bool remap_dead_servers = false;
    // A get (get gets gat gats) whose connection failed before its reply is tried again
    // this many times, on another connection or server. Writes are never tried again.
    std::uint32_t read_retries = 0;
    // Called when a server is marked dead and when it comes back, on the client's
    // executor, never under a lock of the client's.
    std::function<void(const server_status&)> on_server_state{};

    // Time allowed to resolve, connect and probe the protocol.
    std::chrono::milliseconds connect_timeout{1000};
    // The default time an operation may take from its start to its completion, queueing
    // and connecting included. A call overrides it with its own `timeout`. Zero: none.
    std::chrono::milliseconds op_timeout{1000};

    wire_protocol protocol = wire_protocol::automatic;

    // TLS to every server (README "TLS and authentication"); unset: plain text. The
    // handshake counts against connect_timeout.
    std::optional<tls_options> tls{};
    // ASCII authentication (memcached -Y): set on every new connection before anything
    // else is sent. A refused login fails the operations waiting for it with
    // error::auth_failed and backs off as a failed connect does. Neither may contain a
    // space or a control character. The password appears in no error message.
    std::string username{};
    std::string password{};

    // Prepended to every key on the wire (it counts toward the 250-byte limit).
    std::string key_prefix{};
    // Accept key bytes >= 0x80 (UTF-8 keys). Off: only 0x21..0x7E.
    bool allow_high_bytes_in_keys = false;
    // base64: any bytes are a key (meta.hpp); every call then uses a meta command.
    memcoro::key_encoding key_encoding = memcoro::key_encoding::text;

    // Values larger than this are refused with error::value_too_large before a byte
    // is sent. memcached's default item size is 1 MiB (its -I option).
    std::size_t max_value_size = 1024 * 1024;

    // Retrieval commands that fail for network or server reasons complete as misses
    // instead of errors (pymemcache's ignore_exc). Bad input is still an error.
    bool errors_as_misses = false;

    bool tcp_nodelay = true;
    bool keepalive = false;

    // After a failed connect, or a connection closed because the server stopped
    // answering, operations fail fast with error::not_connected for this long before
    // the next attempt; it doubles after each failure up to the maximum. The failure's
    // cause is client::last_failure().
    std::chrono::milliseconds reconnect_backoff{100};
    std::chrono::milliseconds reconnect_backoff_max{5000};

    // An idle connection is checked with `mn` (or `version` in text mode) this often.
    // Zero: never.
    std::chrono::milliseconds health_check_interval{30000};

    // Told of connects, failures, disconnects, backoff and servers marked dead or back
    // (log.hpp); unset: nothing is recorded or formatted. Called on a thread that runs
    // the client's executor, with no lock of the client's held; with several threads it
    // may be called from two at once. It should be quick, and should not call the client
    // back. Copied into each of the client's connections.
    memcoro::logger logger{};

    // The read buffer's size (at least 8 KiB). Large values are read straight into
    // their own storage, so it bounds nothing but how much one read can take.
    std::size_t read_buffer_size = 64 * 1024;

    // Count what client::metrics() reports (metrics.hpp). Off: nothing is counted, and
    // metrics() reports only the queue depth.
    bool metrics = true;
};

// Per-call options of storage commands: `co_await mc.set(k, v, {.ttl = 60s, .flags = 7})`.
struct store_options {
    // 0: never expires. Up to 30 days it is relative; above, memcached takes it as an
    // absolute Unix time (protocol.md 1.3).
    std::chrono::seconds ttl{0};
    // Client flags stored with the value; when unset, the codec's (0 for bytes).
    std::optional<std::uint32_t> flags{};
    // Do not wait for the server's answer: the call completes once its request is
    // written, and reports success.
    bool noreply = false;
    // Overrides client_options::op_timeout for this call.
    std::optional<std::chrono::milliseconds> timeout{};
};

// Per-call options of the other commands.
struct call_options {
    bool noreply = false;  // for commands that take it (delete incr decr touch ...)
    std::optional<std::chrono::milliseconds> timeout{};
    // Server commands only: the server (its index in client_options::servers) to address.
    // Unset: flush_all, verbosity and cache_memlimit reach every server; stats, version,
    // quit and shutdown need it when there is more than one server.
    std::optional<std::size_t> server{};
};

}  // namespace memcoro
