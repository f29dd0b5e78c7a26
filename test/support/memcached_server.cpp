#include "support/memcached_server.hpp"

#include <pwd.h>
#include <unistd.h>

#include <thread>
#include <utility>

namespace memcoro::test {
namespace {

using clock_type = std::chrono::steady_clock;
using std::chrono::milliseconds;

std::string find_memcached() {
    std::string path = find_program("memcached", "MEMCORO_MEMCACHED");
    if (path.empty()) {
        throw std::runtime_error(
            "memcached not found on PATH (apt-get install memcached, or run test/run.sh; "
            "MEMCORO_MEMCACHED may name the binary)");
    }
    return path;
}

}  // namespace

memcached_server::memcached_server() : memcached_server(options{}) {}

memcached_server::memcached_server(std::vector<std::string> extra_args)
    : memcached_server(options{.args = std::move(extra_args)}) {}

memcached_server::memcached_server(options opts) : opts_(std::move(opts)) {
    memcached_path_ = find_memcached();

    // A private directory gives the unix socket a path well under the 108-byte sun_path
    // limit.
    temp_dir_ = make_temp_dir("memcoro-test");
    try {
        if (running_as_root()) {
            // memcached drops to `nobody` before it creates its socket, so that user must
            // be able to write into the directory.
            if (const passwd* pw = ::getpwnam("nobody")) {
                if (::chown(temp_dir_.c_str(), pw->pw_uid, pw->pw_gid) != 0) {
                    throw_errno("chown " + temp_dir_);
                }
            }
        }
        log_path_ = temp_dir_ + "/memcached.log";
        if (opts_.unix_socket) socket_path_ = temp_dir_ + "/memcached.sock";
        start(/*new_port_on_bind_failure=*/true);
    } catch (...) {
        remove_tree(temp_dir_);
        throw;
    }
}

memcached_server::~memcached_server() {
    stop();
    remove_tree(temp_dir_);
}

std::string memcached_server::address() const {
    if (opts_.unix_socket) return socket_path_;
    return "127.0.0.1:" + std::to_string(port_);
}

std::string memcached_server::log() const {
    return read_file(log_path_);
}

void memcached_server::spawn() {
    std::vector<std::string> args{memcached_path_};
    if (opts_.unix_socket) {
        args.insert(args.end(), {"-s", socket_path_, "-a", "0700"});
    } else {
        args.insert(args.end(), {"-p", std::to_string(port_), "-l", "127.0.0.1"});
    }
    args.insert(args.end(), {"-U", "0", "-t", "1"});
    // memcached refuses to run as root without -u.
    if (running_as_root()) args.insert(args.end(), {"-u", "nobody"});
    // Last, so that a test's arguments override the defaults above.
    args.insert(args.end(), opts_.args.begin(), opts_.args.end());

    std::vector<std::string> leftovers{log_path_};
    if (!socket_path_.empty()) leftovers.push_back(socket_path_);
    leftovers.push_back(temp_dir_);
    child_.start(args, log_path_, std::move(leftovers));
}

bool memcached_server::wait_until_ready(clock_type::time_point deadline) {
    const auto ask = [this](milliseconds limit) { return roundtrip("version\r\n", "\r\n", limit); };
    if (!wait_for_version(child_, "memcached", deadline, ask)) return false;
    // If another process grabbed the port first, memcached fails to bind and we would be
    // talking to a stranger: make sure the server that answers is our child.
    const std::string stats = roundtrip("stats\r\n", "END\r\n", milliseconds(2000));
    if (stats.find("STAT pid " + std::to_string(child_.pid()) + "\r\n") == std::string::npos) {
        throw std::runtime_error("another process answers on " + address());
    }
    return true;
}

void memcached_server::start(bool new_port_on_bind_failure) {
    const auto deadline = clock_type::now() + opts_.start_timeout;
    for (int attempt = 1;; ++attempt) {
        if (!opts_.unix_socket && (port_ == 0 || (attempt > 1 && new_port_on_bind_failure))) {
            port_ = free_loopback_port();
        }
        spawn();
        std::string failure;
        try {
            if (wait_until_ready(deadline)) return;
            kill();
            failure = "did not answer `version` within " +
                      std::to_string(opts_.start_timeout.count()) + " ms";
        } catch (const std::exception& e) {
            kill();  // exited, or answered garbage: do not leave it (or its watchdog) running
            failure = e.what();
        }
        const std::string output = log();
        // Someone took the port between our probe and memcached's bind. On a first start
        // another port does as well; restart() must keep its port, so it waits a little
        // for the port to be released.
        const bool port_taken = output.find("Address already in use") != std::string::npos;
        if (port_taken && attempt < 20 && clock_type::now() < deadline) {
            if (!new_port_on_bind_failure) std::this_thread::sleep_for(milliseconds(100));
            continue;
        }
        std::string cmd = memcached_path_;
        for (const auto& a : opts_.args) cmd += " " + a;
        throw std::runtime_error("memcached_server: could not start memcached on " + address() +
                                 " (" + cmd + "): " + failure +
                                 (output.empty() ? "" : "; its output: " + output));
    }
}

void memcached_server::stop() noexcept {
    // memcached's handler only sets a flag, which its main loop reads when it next wakes
    // up: on its once-a-second clock tick, or sooner on a new connection. A connection
    // makes stop() take milliseconds instead of up to a second.
    child_.stop(opts_.stop_timeout, [this] { poke(); });
}

void memcached_server::poke() const noexcept {
    try {
        (void)roundtrip("", "", milliseconds(20));
    } catch (const std::exception&) {
        // Already gone or not accepting: nothing to wake.
    }
}

void memcached_server::kill() noexcept {
    child_.kill();
}

void memcached_server::restart() {
    stop();
    start(/*new_port_on_bind_failure=*/false);
}

void memcached_server::pause() {
    child_.pause();
}

void memcached_server::resume() {
    child_.resume();
}

std::string memcached_server::roundtrip(std::string_view request, std::string_view until,
                                        std::chrono::milliseconds timeout) const {
    return test::roundtrip(port_, opts_.unix_socket ? socket_path_ : std::string(), request, until,
                           timeout);
}

}  // namespace memcoro::test
