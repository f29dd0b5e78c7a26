// A real twemproxy (Debian's `nutcracker`) for integration tests, in front of memcached
// backends the test started.
//
// Each nutcracker_server writes a one-pool configuration (ketama, `hash: md5`, every
// backend with weight 1, protocol.md 6.3) into a private temporary directory, starts
// nutcracker listening on a free loopback port (its stats port too, also on loopback),
// waits until it forwards `version` to a backend, and stops it by PID. As with
// memcached_server, a watchdog kills it if the test process dies without running
// destructors (support/process.hpp).
//
// Environment: MEMCORO_NUTCRACKER names the binary to run (default: `nutcracker` found on
// PATH; Debian installs it in /usr/sbin).
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "support/process.hpp"

namespace memcoro::test {

class nutcracker_server {
  public:
    struct options {
        // How long the constructor waits for nutcracker to answer `version`.
        std::chrono::milliseconds start_timeout = std::chrono::seconds(10);
        // How long stop() waits after SIGTERM before it sends SIGKILL.
        std::chrono::milliseconds stop_timeout = std::chrono::seconds(5);
    };

    // The nutcracker binary, or empty when it is not installed: tests skip then.
    [[nodiscard]] static std::string find_binary();

    // Starts nutcracker in front of `backends`, each "127.0.0.1:PORT". Throws
    // std::runtime_error when the binary is absent or nutcracker does not come up.
    explicit nutcracker_server(const std::vector<std::string>& backends);
    nutcracker_server(const std::vector<std::string>& backends, options opts);
    ~nutcracker_server();

    // Identified by the PID it owns, as memcached_server is: neither copied nor moved.
    nutcracker_server(const nutcracker_server&) = delete;
    nutcracker_server& operator=(const nutcracker_server&) = delete;

    [[nodiscard]] std::uint16_t port() const noexcept { return port_; }
    // "127.0.0.1:PORT", the address clients connect to.
    [[nodiscard]] std::string address() const;
    [[nodiscard]] pid_t pid() const noexcept { return child_.pid(); }
    [[nodiscard]] bool running() const noexcept { return child_.running(); }
    // The configuration it runs with, and what it logged.
    [[nodiscard]] const std::string& config() const noexcept { return config_; }
    [[nodiscard]] std::string log() const;

    // SIGTERM, wait up to options::stop_timeout, then SIGKILL; always reaps the child.
    // Does nothing when it is not running.
    void stop() noexcept;

    // What its stats port reports: one JSON object, with a member per pool (refreshed
    // every 100 ms).
    [[nodiscard]] std::string stats() const;

    // A raw exchange through the proxy, as memcached_server::roundtrip.
    [[nodiscard]] std::string roundtrip(
        std::string_view request, std::string_view until,
        std::chrono::milliseconds timeout = std::chrono::seconds(5)) const;

  private:
    void write_config(const std::vector<std::string>& backends);
    // True once it answers `version` and is the one we started; false at the deadline;
    // throws if it exits.
    bool wait_until_ready(std::chrono::steady_clock::time_point deadline);

    options opts_;
    std::string binary_;
    std::string temp_dir_;
    std::string pool_name_;  // unique: how wait_until_ready recognizes its own child
    std::string config_;
    std::uint16_t port_ = 0;
    std::uint16_t stats_port_ = 0;
    child_process child_;  // nutcracker and its watchdog
};

}  // namespace memcoro::test
