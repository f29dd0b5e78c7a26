// Checks the memcached fixture itself, so that a failing integration test points at the
// client and not at the harness.
#include <doctest/doctest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <thread>

#include "support/memcached_server.hpp"

using memcoro::test::memcached_server;
using memcoro::test::roundtrip_timeout;
using namespace std::chrono_literals;

namespace {

// True while the process runs; false once it is gone or a zombie (a crashed test's
// memcached is reparented to init, which may be slow to reap it).
bool process_alive(pid_t pid) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
    std::string line;
    if (!std::getline(in, line)) return false;
    const auto paren = line.rfind(')');  // the command name may contain spaces
    if (paren == std::string::npos || paren + 2 >= line.size()) return false;
    const char state = line[paren + 2];
    return state != 'Z' && state != 'X';
}

std::string stat_line(const memcached_server& server, const std::string& name) {
    const std::string stats = server.roundtrip("stats settings\r\n", "END\r\n");
    const auto at = stats.find("STAT " + name + " ");
    REQUIRE(at != std::string::npos);
    return stats.substr(at, stats.find("\r\n", at) - at);
}

}  // namespace

TEST_CASE("starts on a free loopback port and answers version") {
    memcached_server server;
    CHECK(server.running());
    CHECK(server.pid() > 0);
    CHECK(server.port() != 0);
    CHECK(server.address() == "127.0.0.1:" + std::to_string(server.port()));
    CHECK(server.socket_path().empty());

    const std::string reply = server.roundtrip("version\r\n", "\r\n");
    CHECK(reply.starts_with("VERSION "));
    CHECK(reply.ends_with("\r\n"));
}

TEST_CASE("roundtrip seeds and reads items") {
    memcached_server server;
    CHECK(server.roundtrip("set greeting 7 0 5\r\nhello\r\n", "\r\n") == "STORED\r\n");
    CHECK(server.roundtrip("get greeting\r\n", "END\r\n") ==
          "VALUE greeting 7 5\r\nhello\r\nEND\r\n");
    // Several requests in one write come back in order: handy for pipelining checks.
    CHECK(server.roundtrip("get nothing\r\nget greeting\r\n", "hello\r\nEND\r\n") ==
          "END\r\nVALUE greeting 7 5\r\nhello\r\nEND\r\n");
}

TEST_CASE("two servers run side by side on different ports") {
    memcached_server a;
    memcached_server b;
    CHECK(a.port() != b.port());
    CHECK(a.pid() != b.pid());
    CHECK(a.roundtrip("set k 0 0 1\r\na\r\n", "\r\n") == "STORED\r\n");
    CHECK(b.roundtrip("get k\r\n", "END\r\n") == "END\r\n");
}

TEST_CASE("extra arguments reach memcached") {
    memcached_server server({"-I", "2m", "-m", "64", "-C"});
    CHECK(stat_line(server, "item_size_max") == "STAT item_size_max 2097152");
    CHECK(stat_line(server, "maxbytes") == "STAT maxbytes 67108864");
    CHECK(stat_line(server, "cas_enabled") == "STAT cas_enabled no");
    // The fixture's own defaults are in place too.
    CHECK(stat_line(server, "num_threads") == "STAT num_threads 1");
    CHECK(stat_line(server, "udpport") == "STAT udpport 0");
}

TEST_CASE("a paused server makes a roundtrip time out; resume answers again") {
    memcached_server server;
    server.pause();
    CHECK(server.paused());
    CHECK(server.running());
    CHECK_THROWS_AS((void)server.roundtrip("version\r\n", "\r\n", 300ms), roundtrip_timeout);

    server.resume();
    CHECK_FALSE(server.paused());
    CHECK(server.roundtrip("version\r\n", "\r\n").starts_with("VERSION "));
}

TEST_CASE("a paused server still stops promptly") {
    std::optional<memcached_server> server;
    server.emplace();
    const pid_t pid = server->pid();
    server->pause();
    const auto before = std::chrono::steady_clock::now();
    server.reset();
    CHECK(std::chrono::steady_clock::now() - before < 3s);
    CHECK_FALSE(process_alive(pid));
}

TEST_CASE("kill and restart on the same port") {
    memcached_server server;
    const auto port = server.port();
    const pid_t first = server.pid();
    REQUIRE(server.roundtrip("set k 0 0 1\r\nx\r\n", "\r\n") == "STORED\r\n");

    server.kill();
    CHECK_FALSE(server.running());
    CHECK(server.pid() == -1);
    CHECK_FALSE(process_alive(first));
    CHECK_THROWS((void)server.roundtrip("version\r\n", "\r\n", 500ms));
    server.kill();  // no-op when nothing runs

    server.restart();
    CHECK(server.running());
    CHECK(server.port() == port);
    CHECK(server.pid() != first);
    // A new, empty process: the item did not survive the crash.
    CHECK(server.roundtrip("get k\r\n", "END\r\n") == "END\r\n");
}

TEST_CASE("restart of a running server, and stop twice") {
    memcached_server server({"-m", "32"});
    const auto port = server.port();
    const pid_t first = server.pid();
    server.restart();
    CHECK(server.port() == port);
    CHECK(server.pid() != first);
    CHECK_FALSE(process_alive(first));
    CHECK(stat_line(server, "maxbytes") == "STAT maxbytes 33554432");  // arguments kept

    const pid_t second = server.pid();
    server.stop();
    server.stop();
    CHECK_FALSE(server.running());
    CHECK_FALSE(process_alive(second));
}

TEST_CASE("stop copes with a server that already exited") {
    memcached_server server({"-A"});  // -A enables the `shutdown` command
    const pid_t pid = server.pid();
    CHECK_THROWS((void)server.roundtrip("shutdown\r\n", "never", 2s));
    server.stop();
    CHECK_FALSE(server.running());
    CHECK_FALSE(process_alive(pid));
}

TEST_CASE("unix socket mode") {
    std::string path;
    pid_t pid = -1;
    {
        memcached_server server(memcached_server::options{.unix_socket = true});
        path = server.socket_path();
        pid = server.pid();
        CHECK(server.port() == 0);
        CHECK(server.address() == path);
        REQUIRE_FALSE(path.empty());
        struct stat st {};
        REQUIRE(::stat(path.c_str(), &st) == 0);
        CHECK(S_ISSOCK(st.st_mode));
        CHECK(server.roundtrip("version\r\n", "\r\n").starts_with("VERSION "));

        server.kill();
        server.restart();
        CHECK(server.socket_path() == path);
        CHECK(server.roundtrip("version\r\n", "\r\n").starts_with("VERSION "));
        pid = server.pid();
    }
    CHECK_FALSE(process_alive(pid));
    CHECK_FALSE(std::filesystem::exists(std::filesystem::path(path).parent_path()));
}

TEST_CASE("the watchdog kills memcached when the test process dies without cleaning up") {
    struct report {
        pid_t pid = -1;
        char socket_path[108] = {};
    };
    int fds[2];
    REQUIRE(::pipe(fds) == 0);
    const pid_t child = ::fork();
    REQUIRE(child >= 0);
    if (child == 0) {
        // Stands for a test that crashes: it starts a server and dies with no destructor.
        ::close(fds[0]);
        try {
            memcached_server server(memcached_server::options{.unix_socket = true});
            report r;
            r.pid = server.pid();
            server.socket_path().copy(r.socket_path, sizeof r.socket_path - 1);
            (void)!::write(fds[1], &r, sizeof r);
            ::_exit(0);
        } catch (...) {
        }
        ::_exit(1);
    }
    ::close(fds[1]);
    report r;
    const auto got = ::read(fds[0], &r, sizeof r);
    ::close(fds[0]);
    int status = 0;
    ::waitpid(child, &status, 0);
    REQUIRE(got == static_cast<ssize_t>(sizeof r));
    REQUIRE(r.pid > 0);

    const auto temp_dir = std::filesystem::path(r.socket_path).parent_path();
    const auto deadline = std::chrono::steady_clock::now() + 5s;
    while ((process_alive(r.pid) || std::filesystem::exists(temp_dir)) &&
           std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(10ms);
    }
    const bool survived = process_alive(r.pid);
    if (survived) ::kill(r.pid, SIGKILL);  // do not leave it behind even when this fails
    CHECK_FALSE(survived);
    CHECK_FALSE(std::filesystem::exists(temp_dir));
}

TEST_CASE("a server that cannot start throws a clear error and leaves nothing behind") {
    try {
        memcached_server server({"--no-such-option"});
        FAIL("memcached started with an invalid option");
    } catch (const std::runtime_error& e) {
        const std::string what = e.what();
        INFO(what);
        CHECK(what.find("could not start memcached") != std::string::npos);
        CHECK(what.find("--no-such-option") != std::string::npos);
    }
}
