#include "support/memcached_server.hpp"

#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <stdexcept>
#include <thread>
#include <utility>

namespace memcoro::test {
namespace {

using clock_type = std::chrono::steady_clock;
using std::chrono::milliseconds;

bool has_any_of(const std::string& s, std::string_view chars) {
    return s.find_first_of(chars) != std::string::npos;
}

void check(const memcached_server::options& opts) {
    if (opts.tls) {
        const memcached_tls& t = *opts.tls;
        if (opts.unix_socket) {
            throw std::invalid_argument("memcached_server: tls needs TCP, not unix_socket");
        }
        if (t.cert.empty() || t.key.empty()) {
            throw std::invalid_argument("memcached_server: tls needs a cert and a key");
        }
        // The paths go into one comma-separated `-o` argument.
        for (const std::string* path : {&t.cert, &t.key, &t.ca}) {
            if (has_any_of(*path, ",")) {
                throw std::invalid_argument("memcached_server: a comma in TLS path " + *path);
            }
        }
        if (t.verify_mode < 0 || t.verify_mode > 3) {
            throw std::invalid_argument("memcached_server: ssl_verify_mode is 0 to 3");
        }
        if (t.min_version && (*t.min_version < 0 || *t.min_version > 3)) {
            throw std::invalid_argument("memcached_server: ssl_min_version is 0 to 3");
        }
    }
    if (opts.auth) {
        // The file's line is split at its first ':', and the login's data block at
        // spaces: anything else could never log in.
        const memcached_auth& a = *opts.auth;
        if (a.username.empty() || a.password.empty() || has_any_of(a.username, ": \r\n") ||
            has_any_of(a.password, " \r\n")) {
            throw std::invalid_argument(
                "memcached_server: auth needs a username without ':', space or line break and "
                "a password without space or line break");
        }
    }
}

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
    check(opts_);
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
        if (opts_.auth) {
            auth_path_ = temp_dir_ + "/auth";
            {
                std::ofstream out(auth_path_, std::ios::binary | std::ios::trunc);
                // memcached's reader wants the line break after the last entry.
                out << opts_.auth->username << ':' << opts_.auth->password << '\n';
                if (!out.flush()) throw std::runtime_error("cannot write " + auth_path_);
            }
            // memcached may read it as `nobody`.
            if (::chmod(auth_path_.c_str(), 0644) != 0) throw_errno("chmod " + auth_path_);
        }
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

std::string memcached_server::plain_address() const {
    if (opts_.unix_socket) return socket_path_;
    return "127.0.0.1:" + std::to_string(plain_port());
}

std::string memcached_server::log() const {
    return read_file(log_path_);
}

void memcached_server::spawn() {
    std::vector<std::string> args{memcached_path_};
    if (opts_.unix_socket) {
        args.insert(args.end(), {"-s", socket_path_, "-a", "0700"});
    } else if (opts_.tls) {
        // A port in -l overrides -p, and memcached then listens nowhere else.
        const memcached_tls& t = *opts_.tls;
        std::string ssl = "ssl_chain_cert=" + t.cert + ",ssl_key=" + t.key +
                          ",ssl_verify_mode=" + std::to_string(t.verify_mode);
        if (!t.ca.empty()) ssl += ",ssl_ca_cert=" + t.ca;
        if (t.min_version) ssl += ",ssl_min_version=" + std::to_string(*t.min_version);
        args.insert(args.end(),
                    {"-l", "127.0.0.1:" + std::to_string(port_), "-l",
                     "notls:127.0.0.1:" + std::to_string(plain_port_), "-Z", "-o", ssl});
    } else {
        args.insert(args.end(), {"-p", std::to_string(port_), "-l", "127.0.0.1"});
    }
    if (opts_.auth) args.insert(args.end(), {"-Y", auth_path_});
    args.insert(args.end(), {"-U", "0", "-t", "1"});
    // memcached refuses to run as root without -u.
    if (running_as_root()) args.insert(args.end(), {"-u", "nobody"});
    // Last, so that a test's arguments override the defaults above.
    args.insert(args.end(), opts_.args.begin(), opts_.args.end());

    command_line_.clear();
    for (const auto& a : args) command_line_ += (command_line_.empty() ? "" : " ") + a;

    std::vector<std::string> leftovers{log_path_};
    if (!socket_path_.empty()) leftovers.push_back(socket_path_);
    if (!auth_path_.empty()) leftovers.push_back(auth_path_);
    leftovers.push_back(temp_dir_);
    child_.start(args, log_path_, std::move(leftovers));
}

bool memcached_server::wait_until_ready(clock_type::time_point deadline) {
    const auto ask = [this](milliseconds limit) {
        try {
            return roundtrip("version\r\n", "\r\n", limit);
        } catch (const auth_rejected& e) {
            return e.reply();  // not a reason to retry: wait_for_version reports it
        }
    };
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
            if (opts_.tls) {
                do {
                    plain_port_ = free_loopback_port();
                } while (plain_port_ == port_);
            }
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
        throw std::runtime_error("memcached_server: could not start memcached on " + address() +
                                 " (" + command_line_ + "): " + failure +
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
        // Not roundtrip(): a login would only slow the wake-up down.
        (void)test::roundtrip(plain_port(), socket_path_, "", "", milliseconds(20));
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
    if (opts_.auth) {
        return authenticated_roundtrip(plain_port(), socket_path_, opts_.auth->username,
                                       opts_.auth->password, request, until, timeout);
    }
    return test::roundtrip(plain_port(), socket_path_, request, until, timeout);
}

std::string memcached_server::unauthenticated_roundtrip(std::string_view request,
                                                        std::string_view until,
                                                        std::chrono::milliseconds timeout) const {
    return test::roundtrip(plain_port(), socket_path_, request, until, timeout);
}

}  // namespace memcoro::test
