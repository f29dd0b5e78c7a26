// A real memcached process for integration tests.
//
// Each memcached_server owns one memcached process that it forked itself, listening only
// on loopback (or on a unix socket in a private temporary directory). It signals and reaps
// nothing but its own children (that memcached and its watchdog, below), and it keeps a
// PID until it has reaped it, so the PID cannot be recycled under it. The destructor stops
// memcached and removes the directory.
//
// The child stays in the test's process group on purpose: when `meson test` kills a test
// that ran over its timeout, it kills the whole group, memcached included. If the test
// process dies without running destructors (crash, sanitizer report, abort, SIGKILL), a
// small watchdog process per server notices and SIGKILLs that memcached.
//
// With options::tls, memcached speaks TLS on port() and plain text on a second loopback
// port, plain_port(). Everything the fixture itself sends (its readiness check,
// roundtrip(), the wake-up connections of stop()) goes to the plain port, so that the
// TLS port sees nothing but the client under test and its `ssl_*` stats stay the
// test's. With options::auth, those exchanges log in first.
//
// Environment: MEMCORO_MEMCACHED names the memcached binary to run (default: `memcached`
// found on PATH).
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "support/process.hpp"

namespace memcoro::test {

// memcached_server::options::tls. Paths may not contain a comma (they go into `-o`).
// The files must be readable by `nobody` when the tests run as root (test_certs()'s are).
struct memcached_tls {
    std::string cert;  // ssl_chain_cert: the server's certificate (chain), PEM
    std::string key;   // ssl_key, PEM
    // ssl_ca_cert: the authorities client certificates must chain to; empty: none.
    std::string ca{};
    // ssl_verify_mode for client certificates: 0 none, 1 request, 2 require, 3 once.
    int verify_mode = 0;
    // ssl_min_version: 0 TLS 1.0, 1 TLS 1.1, 2 TLS 1.2, 3 TLS 1.3; empty: memcached's
    // default (TLS 1.2).
    std::optional<int> min_version{};
};

// memcached_server::options::auth: the one `user:password` line of the `-Y` file.
// memcached 1.6.18 splits the file's line at its first ':' and the client's login at
// spaces, so the username can hold neither and the password no space; neither may hold
// a line break. Other values are refused with std::invalid_argument.
struct memcached_auth {
    std::string username;
    std::string password;
};

class memcached_server {
  public:
    struct options {
        // Extra command-line arguments, e.g. {"-I", "2m", "-m", "64", "-A", "-C"}.
        std::vector<std::string> args{};
        // Listen on a unix socket (`-s PATH -a 0700`) instead of TCP; port() is then 0.
        bool unix_socket = false;
        // How long start() and restart() wait for the server to answer `version`.
        std::chrono::milliseconds start_timeout = std::chrono::seconds(10);
        // How long stop() waits after SIGTERM before it sends SIGKILL.
        std::chrono::milliseconds stop_timeout = std::chrono::seconds(5);
        // TLS on port(), plain text on plain_port(). Not with unix_socket.
        std::optional<memcached_tls> tls{};
        // ASCII authentication (`-Y`): connections must log in before any command.
        std::optional<memcached_auth> auth{};
    };

    // Starts memcached on a free loopback TCP port with default settings.
    memcached_server();
    // Starts memcached on a free loopback TCP port with extra arguments.
    explicit memcached_server(std::vector<std::string> extra_args);
    explicit memcached_server(options opts);
    ~memcached_server();

    // The server is identified by the PID it owns: copying or moving it would let two
    // objects signal the same process. Hold it in a std::optional or unique_ptr if needed.
    memcached_server(const memcached_server&) = delete;
    memcached_server& operator=(const memcached_server&) = delete;

    // TCP port (0 in unix-socket mode), the TLS one with options::tls. Stays the same
    // across restart().
    [[nodiscard]] std::uint16_t port() const noexcept { return port_; }
    // "127.0.0.1:PORT"; in unix-socket mode, the socket path.
    [[nodiscard]] std::string address() const;
    // The plain-text TCP port: with options::tls a second one, else port(). Stays the
    // same across restart().
    [[nodiscard]] std::uint16_t plain_port() const noexcept {
        return plain_port_ != 0 ? plain_port_ : port_;
    }
    // "127.0.0.1:PLAIN_PORT"; in unix-socket mode, the socket path.
    [[nodiscard]] std::string plain_address() const;
    // The options it was made with (for a test that wants, e.g., its TLS files back).
    [[nodiscard]] const options& settings() const noexcept { return opts_; }
    // The unix socket path, or empty in TCP mode.
    [[nodiscard]] const std::string& socket_path() const noexcept { return socket_path_; }
    // PID of the running child, or -1 after stop() / kill().
    [[nodiscard]] pid_t pid() const noexcept { return child_.pid(); }
    [[nodiscard]] bool running() const noexcept { return child_.running(); }
    [[nodiscard]] bool paused() const noexcept { return child_.paused(); }
    // What memcached printed on stdout and stderr since it was last started.
    [[nodiscard]] std::string log() const;

    // SIGTERM, wait up to options::stop_timeout, then SIGKILL; always reaps the child.
    // Does nothing when the server is not running (so it may be called twice).
    void stop() noexcept;
    // SIGKILL and reap at once, as a crash would. Does nothing when not running.
    void kill() noexcept;
    // Stops the server if it runs, then starts a new process on the same port or socket.
    // The new process starts empty: items stored before are gone.
    void restart();
    // SIGSTOP / SIGCONT: while paused, the kernel still accepts connections and buffers
    // requests, but nothing is answered, which is how a hung server looks to a client.
    void pause();
    void resume();

    // Opens a new blocking-style connection to this server, writes `request`, and reads
    // until the bytes read so far end with `until` (e.g. "\r\n", "END\r\n"). Returns every
    // byte read; an empty `until` returns as soon as the request is written. Throws
    // roundtrip_timeout when `timeout` passes first, and std::runtime_error when the
    // connection cannot be made or is closed early. It does not use memcoro, so tests can
    // seed or inspect the server independently of the library.
    //
    // It goes to plain_port() (or the unix socket), and with options::auth it logs in
    // first and drops the login's STORED: the reply is the request's alone. A refused
    // login throws auth_rejected.
    [[nodiscard]] std::string roundtrip(
        std::string_view request, std::string_view until,
        std::chrono::milliseconds timeout = std::chrono::seconds(5)) const;
    // As roundtrip(), but never logs in: what a client without credentials gets.
    [[nodiscard]] std::string unauthenticated_roundtrip(
        std::string_view request, std::string_view until,
        std::chrono::milliseconds timeout = std::chrono::seconds(5)) const;

  private:
    void start(bool new_port_on_bind_failure);
    void spawn();
    // True once the child answers `version`; false at the deadline; throws if it exits.
    bool wait_until_ready(std::chrono::steady_clock::time_point deadline);
    // Opens and closes a connection, which wakes memcached's main loop.
    void poke() const noexcept;

    options opts_;
    std::string memcached_path_;
    std::string temp_dir_;  // holds the log, the auth file and, in unix mode, the socket
    std::string log_path_;
    std::string socket_path_;
    std::string auth_path_;  // the `-Y` file, or empty
    std::uint16_t port_ = 0;
    std::uint16_t plain_port_ = 0;  // with options::tls only
    std::string command_line_;      // of the last spawn(), for error messages
    child_process child_;           // memcached and its watchdog
};

}  // namespace memcoro::test
