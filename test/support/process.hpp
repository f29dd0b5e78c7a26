// What the server fixtures (memcached_server, nutcracker_server) share: finding a
// program, a free loopback port, starting a child process with a watchdog, stopping it
// by PID, and a raw request/reply exchange that does not use memcoro.
//
// Every function here signals and reaps only the PID it is given, which the caller
// forked itself and keeps until it has reaped it, so the PID cannot be recycled under it.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace memcoro::test {

// Thrown by roundtrip() when the reply did not end with the expected bytes in time.
class roundtrip_timeout : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

// The path of the program named by the environment variable `env_var` when set, else
// of `name` found on PATH; empty when there is none.
[[nodiscard]] std::string find_program(std::string_view name, const char* env_var);

// A loopback TCP port nobody uses right now. Another process may take it before the
// child binds it: callers check that the child they started is the one answering.
[[nodiscard]] std::uint16_t free_loopback_port();

// CR, LF and binary bytes made legible, at most 300 of them: for exception messages.
[[nodiscard]] std::string printable(std::string_view bytes);

[[nodiscard]] bool running_as_root();

// Throws std::system_error for errno, with `what` as its message.
[[noreturn]] void throw_errno(const std::string& what);

// A new private directory /tmp/`prefix`-XXXXXX, which keeps parallel test runs apart.
[[nodiscard]] std::string make_temp_dir(std::string_view prefix);
// Removes `dir` and everything in it; errors are ignored.
void remove_tree(const std::string& dir) noexcept;
// The whole file, or "" when it cannot be read.
[[nodiscard]] std::string read_file(const std::string& path);

// A child process and its watchdog. If the test process dies without running
// destructors (a crash, a sanitizer report, abort, SIGKILL), the watchdog, a second
// child blocked reading a pipe whose only write end the test holds, wakes, SIGKILLs the
// child and removes the files and directory it was given. The child stays in the test's
// process group, so `meson test` killing a test that ran over its time kills it too.
class child_process {
  public:
    child_process() = default;
    ~child_process() { kill(); }
    child_process(const child_process&) = delete;
    child_process& operator=(const child_process&) = delete;

    // Starts `args` (args[0] a path) with stdin on /dev/null and stdout and stderr
    // appended to the file `log_path` (truncated first). `leftovers` are the files, then
    // last the directory, that the watchdog removes if the test dies.
    void start(const std::vector<std::string>& args, const std::string& log_path,
               std::vector<std::string> leftovers);

    // PID of the running child, or -1.
    [[nodiscard]] pid_t pid() const noexcept { return pid_; }
    [[nodiscard]] bool running() const noexcept { return pid_ > 0; }
    [[nodiscard]] bool paused() const noexcept { return paused_; }

    // When the child has exited: reaps it and returns how it ended; else empty.
    [[nodiscard]] std::string exit_status();

    // SIGTERM, then up to `timeout` for it to exit (calling `poke` every 20 ms, to wake
    // a child that only checks for the signal when it wakes up), then SIGKILL; always
    // reaps it. Does nothing when not running.
    void stop(std::chrono::milliseconds timeout, const std::function<void()>& poke) noexcept;
    // SIGKILL and reap at once, as a crash would. Does nothing when not running.
    void kill() noexcept;
    // SIGSTOP (returns once the child has stopped) / SIGCONT.
    void pause();
    void resume();

  private:
    void start_watchdog(std::vector<std::string> leftovers);
    // Kills and reaps the watchdog; stop() and kill() call it before touching the child.
    void dismiss_watchdog() noexcept;
    void reap_blocking() noexcept;

    pid_t pid_ = -1;
    pid_t watchdog_pid_ = -1;
    int lifeline_fd_ = -1;  // the watchdog wakes when this closes, e.g. when the test dies
    bool paused_ = false;
};

// Asks `child`, named `name` in messages, for `version` with `ask` (a roundtrip of
// `version\r\n` given the time it may take, which throws while nothing listens yet)
// until it answers: true then, false at `deadline`. Throws when the child exits first or
// answers anything but VERSION.
[[nodiscard]] bool wait_for_version(
    child_process& child, std::string_view name, std::chrono::steady_clock::time_point deadline,
    const std::function<std::string(std::chrono::milliseconds)>& ask);

// Runs `args` (args[0] a path) to completion with stdin on /dev/null and returns how it
// ended: its exit status, or 128 + the signal that killed it. What it wrote to stdout and
// stderr is appended to `output`. Safe in a multithreaded test (posix_spawn, no fork).
// Throws std::system_error when it cannot be started.
int run_program(const std::vector<std::string>& args, std::string& output);

// Thrown by authenticated_roundtrip() when the server refused the login; reply() is its
// answer (e.g. "CLIENT_ERROR authentication failure\r\n").
class auth_rejected : public std::runtime_error {
  public:
    auth_rejected(const std::string& what, std::string reply)
        : std::runtime_error(what), reply_(std::move(reply)) {}
    [[nodiscard]] const std::string& reply() const noexcept { return reply_; }

  private:
    std::string reply_;
};

// Opens a connection to 127.0.0.1:`port`, or to the unix socket `socket_path` when it
// is not empty, writes `request`, and reads until the bytes read so far end with
// `until`. Returns every byte read; an empty `until` returns as soon as the request is
// written. Throws roundtrip_timeout when `timeout` passes first, and std::runtime_error
// when the connection cannot be made or is closed early.
[[nodiscard]] std::string roundtrip(std::uint16_t port, const std::string& socket_path,
                                    std::string_view request, std::string_view until,
                                    std::chrono::milliseconds timeout);

// As roundtrip(), but first logs in on the new connection with memcached's ASCII
// authentication (`-Y`): a `set` whose data block is "`username` `password`", whose
// STORED reply is read and dropped before `request` is written. Throws auth_rejected
// when the server answers anything else.
[[nodiscard]] std::string authenticated_roundtrip(std::uint16_t port,
                                                  const std::string& socket_path,
                                                  std::string_view username,
                                                  std::string_view password,
                                                  std::string_view request, std::string_view until,
                                                  std::chrono::milliseconds timeout);

}  // namespace memcoro::test
