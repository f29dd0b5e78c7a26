#include "support/nutcracker_server.hpp"

#include <unistd.h>

#include <atomic>
#include <fstream>

namespace memcoro::test {
namespace {

using clock_type = std::chrono::steady_clock;
using std::chrono::milliseconds;

std::atomic<int> next_pool{1};

}  // namespace

std::string nutcracker_server::find_binary() {
    std::string path = find_program("nutcracker", "MEMCORO_NUTCRACKER");
    // Debian puts it in /usr/sbin, which a user's PATH may lack.
    if (path.empty() && ::access("/usr/sbin/nutcracker", X_OK) == 0) path = "/usr/sbin/nutcracker";
    return path;
}

nutcracker_server::nutcracker_server(const std::vector<std::string>& backends)
    : nutcracker_server(backends, options{}) {}

nutcracker_server::nutcracker_server(const std::vector<std::string>& backends, options opts)
    : opts_(opts), binary_(find_binary()) {
    if (binary_.empty()) {
        throw std::runtime_error(
            "nutcracker not found on PATH (apt-get install nutcracker, or run test/run.sh; "
            "MEMCORO_NUTCRACKER may name the binary)");
    }
    temp_dir_ = make_temp_dir("memcoro-nutcracker");
    pool_name_ = "memcoro_" + std::to_string(::getpid()) + "_" + std::to_string(next_pool++);
    const auto deadline = clock_type::now() + opts_.start_timeout;
    try {
        // A port taken by someone else between our probe and nutcracker's bind makes it
        // exit: try other ports.
        for (int attempt = 1;; ++attempt) {
            port_ = free_loopback_port();
            stats_port_ = free_loopback_port();
            write_config(backends);
            const std::string dir = temp_dir_ + "/";
            child_.start({binary_, "-c", dir + "nutcracker.yml", "-o", dir + "nutcracker.log", "-s",
                          std::to_string(stats_port_), "-a", "127.0.0.1", "-i", "100"},
                         dir + "nutcracker.out",
                         {dir + "nutcracker.yml", dir + "nutcracker.log", dir + "nutcracker.out",
                          temp_dir_});
            std::string failure;
            try {
                if (wait_until_ready(deadline)) return;
                failure = "did not answer `version` within " +
                          std::to_string(opts_.start_timeout.count()) + " ms";
            } catch (const std::exception& e) {
                failure = e.what();
            }
            child_.kill();
            if (attempt < 20 && clock_type::now() < deadline) continue;
            throw std::runtime_error("nutcracker_server: could not start " + binary_ + " on " +
                                     address() + ": " + failure + "; its log: " + log() +
                                     "; its configuration: " + config_);
        }
    } catch (...) {
        remove_tree(temp_dir_);
        throw;
    }
}

nutcracker_server::~nutcracker_server() {
    stop();
    remove_tree(temp_dir_);
}

// One pool, distributed like libmemcached's weighted ketama (protocol.md 6.3: only with
// `hash: md5`). auto_eject_hosts stays off: a backend a test stops is not skipped.
void nutcracker_server::write_config(const std::vector<std::string>& backends) {
    std::string c = pool_name_ + ":\n";
    c += "  listen: 127.0.0.1:" + std::to_string(port_) + "\n";
    c += "  hash: md5\n";
    c += "  distribution: ketama\n";
    c += "  auto_eject_hosts: false\n";
    c += "  timeout: 5000\n";
    c += "  servers:\n";
    for (const auto& b : backends) c += "   - " + b + ":1\n";
    config_ = c;
    std::ofstream out(temp_dir_ + "/nutcracker.yml", std::ios::binary | std::ios::trunc);
    out << config_;
    if (!out.flush()) throw std::runtime_error("nutcracker_server: cannot write its configuration");
}

bool nutcracker_server::wait_until_ready(clock_type::time_point deadline) {
    // nutcracker forwards `version` to a backend: an answer shows the whole path works.
    const auto ask = [this](milliseconds limit) { return roundtrip("version\r\n", "\r\n", limit); };
    if (!wait_for_version(child_, "nutcracker", deadline, ask)) return false;
    // The stats port describes the pools as JSON, then closes: ours names its pool.
    if (stats().find("\"" + pool_name_ + "\"") == std::string::npos) {
        throw std::runtime_error("another process answers on " + address());
    }
    return true;
}

std::string nutcracker_server::address() const {
    return "127.0.0.1:" + std::to_string(port_);
}

std::string nutcracker_server::log() const {
    return read_file(temp_dir_ + "/nutcracker.out") + read_file(temp_dir_ + "/nutcracker.log");
}

void nutcracker_server::stop() noexcept {
    child_.stop(opts_.stop_timeout, {});
}

std::string nutcracker_server::stats() const {
    // It writes the JSON and closes the connection.
    return test::roundtrip(stats_port_, {}, "", "}\n", milliseconds(2000));
}

std::string nutcracker_server::roundtrip(std::string_view request, std::string_view until,
                                         std::chrono::milliseconds timeout) const {
    return test::roundtrip(port_, {}, request, until, timeout);
}

}  // namespace memcoro::test
