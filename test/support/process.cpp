#include "support/process.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <system_error>
#include <thread>
#include <utility>

namespace memcoro::test {
namespace {

using clock_type = std::chrono::steady_clock;
using std::chrono::milliseconds;

// Closes the descriptor on every path out of the helpers below.
class fd_guard {
  public:
    explicit fd_guard(int fd) noexcept : fd_(fd) {}
    ~fd_guard() {
        if (fd_ >= 0) ::close(fd_);
    }
    fd_guard(const fd_guard&) = delete;
    fd_guard& operator=(const fd_guard&) = delete;
    [[nodiscard]] int get() const noexcept { return fd_; }
    int release() noexcept { return std::exchange(fd_, -1); }

  private:
    int fd_;
};

int remaining_ms(clock_type::time_point deadline) {
    const auto left = std::chrono::duration_cast<milliseconds>(deadline - clock_type::now());
    return static_cast<int>(std::clamp<milliseconds::rep>(left.count(), 0, 60'000));
}

// Waits for `events` on `fd`; false when the deadline passed first.
bool wait_for(int fd, short events, clock_type::time_point deadline) {
    for (;;) {
        pollfd p{fd, events, 0};
        const int n = ::poll(&p, 1, remaining_ms(deadline));
        if (n > 0) return true;
        if (n == 0) return false;
        if (errno != EINTR) throw_errno("poll");
    }
}

std::string describe_status(int status) {
    if (WIFEXITED(status)) return "exited with status " + std::to_string(WEXITSTATUS(status));
    if (WIFSIGNALED(status)) return "killed by signal " + std::to_string(WTERMSIG(status));
    return "status " + std::to_string(status);
}

// Raw system calls: glibc 2.36's <sys/pidfd.h> lacks extern "C", so its wrappers do not
// link from C++. Both return -1 with errno ENOSYS on kernels older than 5.3.
int pidfd_open(pid_t pid) noexcept {
    return static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
}
int pidfd_kill(int pidfd) noexcept {
    return static_cast<int>(::syscall(SYS_pidfd_send_signal, pidfd, SIGKILL, nullptr, 0));
}

// Closes every descriptor from `first` on. Async-signal-safe: used between fork and exec.
void close_from(int first) noexcept {
    if (::close_range(static_cast<unsigned>(first), ~0U, 0) == 0) return;
    rlimit limit{};
    int last = 4096;
    if (::getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur != RLIM_INFINITY) {
        last = static_cast<int>(std::min<rlim_t>(limit.rlim_cur, 1 << 20));
    }
    for (int fd = first; fd < last; ++fd) ::close(fd);
}

}  // namespace

std::string find_program(std::string_view name, const char* env_var) {
    if (const char* configured = std::getenv(env_var); configured && *configured) {
        return configured;
    }
    // Resolved here rather than with execvp in the child: after fork, a multithreaded test
    // may only call async-signal-safe functions, and execvp is not one.
    const char* path = std::getenv("PATH");
    std::stringstream dirs(path ? path : "/usr/local/bin:/usr/bin:/bin");
    for (std::string dir; std::getline(dirs, dir, ':');) {
        // An empty entry means the current directory.
        const std::string candidate =
            (dir.empty() ? std::string(".") : dir) + "/" + std::string(name);
        if (::access(candidate.c_str(), X_OK) == 0) return candidate;
    }
    return {};
}

std::uint16_t free_loopback_port() {
    fd_guard fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (fd.get() < 0) throw_errno("socket");
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
        throw_errno("bind 127.0.0.1:0");
    }
    socklen_t len = sizeof addr;
    if (::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
        throw_errno("getsockname");
    }
    return ntohs(addr.sin_port);
}

std::string printable(std::string_view bytes) {
    constexpr std::size_t limit = 300;
    std::string out;
    for (std::size_t i = 0; i < bytes.size() && i < limit; ++i) {
        const auto c = static_cast<unsigned char>(bytes[i]);
        if (c == '\r') {
            out += "\\r";
        } else if (c == '\n') {
            out += "\\n";
        } else if (c < 0x20 || c >= 0x7f) {
            static constexpr char hex[] = "0123456789abcdef";
            out += "\\x";
            out += hex[c >> 4];
            out += hex[c & 0xf];
        } else {
            out += static_cast<char>(c);
        }
    }
    if (bytes.size() > limit) out += "...(" + std::to_string(bytes.size()) + " bytes)";
    return out;
}

bool running_as_root() {
    return ::geteuid() == 0;
}

void throw_errno(const std::string& what) {
    throw std::system_error(errno, std::generic_category(), what);
}

std::string make_temp_dir(std::string_view prefix) {
    std::string templ = "/tmp/" + std::string(prefix) + "-XXXXXX";
    if (::mkdtemp(templ.data()) == nullptr) throw_errno("mkdtemp " + templ);
    return templ;
}

void remove_tree(const std::string& dir) noexcept {
    std::error_code ignored;
    std::filesystem::remove_all(dir, ignored);
}

std::string read_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::stringstream out;
    out << in.rdbuf();
    return out.str();
}

int run_program(const std::vector<std::string>& args, std::string& output) {
    if (args.empty()) throw std::invalid_argument("run_program: no program");
    std::vector<std::string> owned = args;
    std::vector<char*> argv;
    argv.reserve(owned.size() + 1);
    for (auto& a : owned) argv.push_back(a.data());
    argv.push_back(nullptr);

    int out[2];
    if (::pipe2(out, O_CLOEXEC) != 0) throw_errno("pipe2");
    fd_guard read_end(out[0]);
    fd_guard write_end(out[1]);

    // posix_spawn rather than fork: other threads of the test may hold locks that a
    // forked child would inherit held.
    posix_spawn_file_actions_t actions;
    posix_spawnattr_t attr;
    if (int e = ::posix_spawn_file_actions_init(&actions); e != 0) {
        errno = e;
        throw_errno("posix_spawn_file_actions_init");
    }
    if (int e = ::posix_spawnattr_init(&attr); e != 0) {
        ::posix_spawn_file_actions_destroy(&actions);
        errno = e;
        throw_errno("posix_spawnattr_init");
    }
    sigset_t none;
    sigemptyset(&none);
    sigset_t defaults;
    sigemptyset(&defaults);
    sigaddset(&defaults, SIGPIPE);
    sigaddset(&defaults, SIGTERM);
    sigaddset(&defaults, SIGINT);
    ::posix_spawnattr_setsigmask(&attr, &none);
    ::posix_spawnattr_setsigdefault(&attr, &defaults);
    ::posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
    ::posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
    ::posix_spawn_file_actions_adddup2(&actions, write_end.get(), STDOUT_FILENO);
    ::posix_spawn_file_actions_adddup2(&actions, write_end.get(), STDERR_FILENO);
    // As in child_process::start: the test's descriptors without O_CLOEXEC stay behind.
    ::posix_spawn_file_actions_addclosefrom_np(&actions, 3);
    pid_t pid = -1;
    const int spawned = ::posix_spawn(&pid, argv[0], &actions, &attr, argv.data(), environ);
    ::posix_spawn_file_actions_destroy(&actions);
    ::posix_spawnattr_destroy(&attr);
    if (spawned != 0) {
        errno = spawned;
        throw_errno("posix_spawn " + args[0]);
    }
    ::close(write_end.release());  // else the read below never sees EOF

    char buf[4096];
    for (;;) {
        const ssize_t n = ::read(read_end.get(), buf, sizeof buf);
        if (n > 0) {
            output.append(buf, static_cast<std::size_t>(n));
        } else if (n == 0 || errno != EINTR) {
            break;
        }
    }
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    if (WIFEXITED(status)) return WEXITSTATUS(status);
    if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
    return 255;
}

void child_process::start(const std::vector<std::string>& args, const std::string& log_path,
                          std::vector<std::string> leftovers) {
    if (running()) throw std::logic_error("child_process::start: already running");
    // Everything the child needs is prepared before fork: between fork and exec only
    // async-signal-safe calls are allowed.
    std::vector<std::string> owned = args;
    std::vector<char*> argv;
    argv.reserve(owned.size() + 1);
    for (auto& a : owned) argv.push_back(a.data());
    argv.push_back(nullptr);

    fd_guard null_fd(::open("/dev/null", O_RDONLY | O_CLOEXEC));
    if (null_fd.get() < 0) throw_errno("open /dev/null");
    fd_guard log_fd(::open(log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
    if (log_fd.get() < 0) throw_errno("open " + log_path);

    const pid_t child = ::fork();
    if (child < 0) throw_errno("fork");
    if (child == 0) {
        // The child: no allocation, no exceptions, no locks from here on.
        // Blocked or ignored signals survive exec; the child must see SIGTERM.
        sigset_t none;
        sigemptyset(&none);
        ::sigprocmask(SIG_SETMASK, &none, nullptr);
        ::signal(SIGTERM, SIG_DFL);
        ::signal(SIGINT, SIG_DFL);
        ::dup2(null_fd.get(), STDIN_FILENO);
        ::dup2(log_fd.get(), STDOUT_FILENO);
        ::dup2(log_fd.get(), STDERR_FILENO);
        // Descriptors the test opened without O_CLOEXEC (Asio's sockets, for one) must not
        // live on in the child, or closing them in the test would not close the connection.
        close_from(3);
        ::execv(argv[0], argv.data());
        static constexpr char msg[] = "child_process: execv failed\n";
        [[maybe_unused]] const auto n = ::write(STDERR_FILENO, msg, sizeof msg - 1);
        ::_exit(127);
    }
    pid_ = child;
    paused_ = false;
    try {
        start_watchdog(std::move(leftovers));
    } catch (...) {
        kill();
        throw;
    }
}

// A parent-death signal cannot do the watchdog's job: memcached's `-u nobody` clears
// it, and it follows the creating thread.
void child_process::start_watchdog(std::vector<std::string> leftovers) {
    int lifeline[2];
    if (::pipe2(lifeline, O_CLOEXEC) != 0) throw_errno("pipe2");
    fd_guard read_end(lifeline[0]);
    fd_guard write_end(lifeline[1]);
    fd_guard null_fd(::open("/dev/null", O_RDWR | O_CLOEXEC));
    if (null_fd.get() < 0) throw_errno("open /dev/null");
    // A pidfd names this very child even after its PID is reused. It is opened here,
    // while the target is certainly not reaped, and inherited by the watchdog.
    fd_guard pidfd(pidfd_open(pid_));  // -1 on kernels older than 5.3

    // For the watchdog, which may not allocate: these live in its copy of memory.
    std::vector<const char*> paths;
    for (const auto& p : leftovers) paths.push_back(p.c_str());
    const pid_t target = pid_;

    const pid_t watchdog = ::fork();
    if (watchdog < 0) throw_errno("fork");
    if (watchdog == 0) {
        // Only async-signal-safe calls here, as in start(); and no exec, so every
        // descriptor is closed by hand: holding the test's stdout pipe would keep
        // `meson test` waiting, and holding another child's lifeline would keep that
        // watchdog from waking.
        ::signal(SIGINT, SIG_IGN);   // Ctrl-C reaches the child itself
        ::signal(SIGTERM, SIG_IGN);  // meson's SIGTERM to the group: the child handles it
        ::signal(SIGHUP, SIG_IGN);
        ::dup2(read_end.get(), STDIN_FILENO);
        ::dup2(pidfd.get() >= 0 ? pidfd.get() : null_fd.get(), STDOUT_FILENO);
        ::dup2(null_fd.get(), STDERR_FILENO);
        close_from(3);
        char byte;
        while (::read(STDIN_FILENO, &byte, 1) < 0 && errno == EINTR) {
        }
        // EOF: the test process is gone (stop() kills the watchdog before the child).
        if (pidfd.get() >= 0) {
            pidfd_kill(STDOUT_FILENO);
            // A pidfd becomes readable when its process has exited.
            pollfd exited{STDOUT_FILENO, POLLIN, 0};
            ::poll(&exited, 1, 2000);
        } else {
            ::kill(target, SIGKILL);  // no pidfd (kernel < 5.3): PID reuse is unlikely
        }
        // The destructor that would have removed them never ran.
        for (std::size_t i = 0; i < paths.size(); ++i) {
            if (i + 1 < paths.size()) {
                ::unlink(paths[i]);
            } else {
                ::rmdir(paths[i]);
            }
        }
        ::_exit(0);
    }
    watchdog_pid_ = watchdog;
    lifeline_fd_ = write_end.release();
}

void child_process::dismiss_watchdog() noexcept {
    // Killed and reaped before the lifeline closes, so it cannot take the close for the
    // test's death and kill the child.
    if (watchdog_pid_ > 0) {
        ::kill(watchdog_pid_, SIGKILL);
        while (::waitpid(watchdog_pid_, nullptr, 0) < 0 && errno == EINTR) {
        }
        watchdog_pid_ = -1;
    }
    if (lifeline_fd_ >= 0) {
        ::close(lifeline_fd_);
        lifeline_fd_ = -1;
    }
}

std::string child_process::exit_status() {
    if (pid_ <= 0) return "not running";
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) != pid_) return {};
    pid_ = -1;
    paused_ = false;
    dismiss_watchdog();
    return describe_status(status);
}

void child_process::reap_blocking() noexcept {
    int status = 0;
    while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
    pid_ = -1;
    paused_ = false;
}

void child_process::stop(std::chrono::milliseconds timeout,
                         const std::function<void()>& poke) noexcept {
    dismiss_watchdog();
    if (pid_ <= 0) return;
    ::kill(pid_, SIGTERM);
    // A stopped process keeps SIGTERM pending until it runs again.
    if (paused_) ::kill(pid_, SIGCONT);
    const auto deadline = clock_type::now() + timeout;
    for (int round = 0; clock_type::now() < deadline; ++round) {
        int status = 0;
        const pid_t r = ::waitpid(pid_, &status, WNOHANG);
        if (r == pid_ || (r < 0 && errno == ECHILD)) {
            pid_ = -1;
            paused_ = false;
            return;
        }
        if (round % 4 == 0 && poke) {
            try {
                poke();
            } catch (...) {
                // Already gone or not accepting: nothing to wake.
            }
        }
        std::this_thread::sleep_for(milliseconds(5));
    }
    ::kill(pid_, SIGKILL);
    reap_blocking();
}

void child_process::kill() noexcept {
    dismiss_watchdog();
    if (pid_ <= 0) return;
    ::kill(pid_, SIGKILL);
    reap_blocking();
}

void child_process::pause() {
    if (pid_ <= 0) throw std::logic_error("child_process::pause: not running");
    if (paused_) return;
    if (::kill(pid_, SIGSTOP) != 0) throw_errno("kill SIGSTOP");
    // Returns once the child has actually stopped, so the next request is sure to hang.
    int status = 0;
    pid_t r;
    while ((r = ::waitpid(pid_, &status, WUNTRACED)) < 0 && errno == EINTR) {
    }
    if (r == pid_ && WIFSTOPPED(status)) {
        paused_ = true;
        return;
    }
    pid_ = -1;
    dismiss_watchdog();
    throw std::runtime_error("child_process::pause: the child " + describe_status(status));
}

void child_process::resume() {
    if (pid_ <= 0) throw std::logic_error("child_process::resume: not running");
    if (!paused_) return;
    // The kernel wakes the process while delivering SIGCONT, before kill() returns.
    if (::kill(pid_, SIGCONT) != 0) throw_errno("kill SIGCONT");
    paused_ = false;
}

bool wait_for_version(child_process& child, std::string_view name, clock_type::time_point deadline,
                      const std::function<std::string(milliseconds)>& ask) {
    for (;;) {
        if (const std::string ended = child.exit_status(); !ended.empty()) {
            throw std::runtime_error(std::string(name) + " " + ended);
        }
        if (clock_type::now() >= deadline) return false;
        std::string reply;
        try {
            reply = ask(std::min(milliseconds(250), milliseconds(remaining_ms(deadline))));
        } catch (const std::exception&) {
            // Not listening yet (connection refused, socket file absent, still busy): retry.
            std::this_thread::sleep_for(milliseconds(10));
            continue;
        }
        if (!reply.starts_with("VERSION ")) {
            throw std::runtime_error(std::string(name) +
                                     " answered `version` with: " + printable(reply));
        }
        return true;
    }
}

namespace {

// One connection of roundtrip() and authenticated_roundtrip(), all its steps bounded by
// the same deadline.
class raw_connection {
  public:
    raw_connection(std::uint16_t port, const std::string& socket_path,
                   std::chrono::milliseconds timeout)
        : timeout_(timeout),
          deadline_(clock_type::now() + timeout),
          address_(socket_path.empty() ? "127.0.0.1:" + std::to_string(port) : socket_path),
          fd_(::socket(socket_path.empty() ? AF_INET : AF_UNIX,
                       SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)) {
        if (fd_.get() < 0) throw_errno("socket");
        int rc;
        if (!socket_path.empty()) {
            sockaddr_un addr{};
            addr.sun_family = AF_UNIX;
            std::memcpy(addr.sun_path, socket_path.c_str(),
                        std::min(socket_path.size() + 1, sizeof addr.sun_path));
            rc = ::connect(fd_.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr);
        } else {
            sockaddr_in addr{};
            addr.sin_family = AF_INET;
            addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
            addr.sin_port = htons(port);
            rc = ::connect(fd_.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr);
        }
        if (rc != 0) {
            if (errno != EINPROGRESS) throw_errno("connect " + address_);
            if (!wait_for(fd_.get(), POLLOUT, deadline_)) {
                throw roundtrip_timeout("roundtrip: connecting to " + address_ + " timed out");
            }
            int err = 0;
            socklen_t len = sizeof err;
            ::getsockopt(fd_.get(), SOL_SOCKET, SO_ERROR, &err, &len);
            if (err != 0) {
                errno = err;
                throw_errno("connect " + address_);
            }
        }
    }

    [[nodiscard]] const std::string& address() const noexcept { return address_; }

    void send_all(std::string_view request) {
        while (!request.empty()) {
            const ssize_t n = ::send(fd_.get(), request.data(), request.size(), MSG_NOSIGNAL);
            if (n > 0) {
                request.remove_prefix(static_cast<std::size_t>(n));
            } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
                if (!wait_for(fd_.get(), POLLOUT, deadline_)) {
                    throw roundtrip_timeout("roundtrip: writing to " + address_ + " timed out");
                }
            } else if (errno != EINTR) {
                throw_errno("send to " + address_);
            }
        }
    }

    // Reads until the bytes read end with `until`.
    [[nodiscard]] std::string read_until(std::string_view until) {
        std::string reply;
        while (!std::string_view(reply).ends_with(until)) {
            if (!wait_for(fd_.get(), POLLIN, deadline_)) {
                throw roundtrip_timeout("roundtrip: no reply ending with \"" + printable(until) +
                                        "\" from " + address_ + " within " +
                                        std::to_string(timeout_.count()) +
                                        " ms; got: " + printable(reply));
            }
            char buf[65536];
            const ssize_t n = ::recv(fd_.get(), buf, sizeof buf, 0);
            if (n > 0) {
                reply.append(buf, static_cast<std::size_t>(n));
            } else if (n == 0) {
                throw std::runtime_error("roundtrip: " + address_ +
                                         " closed the connection before a reply ending with \"" +
                                         printable(until) + "\"; got: " + printable(reply));
            } else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
                throw_errno("recv from " + address_);
            }
        }
        return reply;
    }

  private:
    std::chrono::milliseconds timeout_;
    clock_type::time_point deadline_;
    std::string address_;
    fd_guard fd_;
};

}  // namespace

std::string roundtrip(std::uint16_t port, const std::string& socket_path, std::string_view request,
                      std::string_view until, std::chrono::milliseconds timeout) {
    raw_connection conn(port, socket_path, timeout);
    conn.send_all(request);
    return conn.read_until(until);
}

std::string authenticated_roundtrip(std::uint16_t port, const std::string& socket_path,
                                    std::string_view username, std::string_view password,
                                    std::string_view request, std::string_view until,
                                    std::chrono::milliseconds timeout) {
    raw_connection conn(port, socket_path, timeout);
    const std::string token = std::string(username) + " " + std::string(password);
    // The login's reply is read before the request is sent, so that the request's reply
    // cannot arrive with it and be taken for part of it.
    conn.send_all("set auth 0 0 " + std::to_string(token.size()) + "\r\n" + token + "\r\n");
    if (std::string reply = conn.read_until("\r\n"); reply != "STORED\r\n") {
        throw auth_rejected("roundtrip: " + conn.address() + " refused the login of user \"" +
                                printable(username) + "\": " + printable(reply),
                            std::move(reply));
    }
    conn.send_all(request);
    return conn.read_until(until);
}

}  // namespace memcoro::test
