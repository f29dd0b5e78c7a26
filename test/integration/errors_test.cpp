// Why a connect failed, as the operations that waited for it are told and as the client
// keeps it (last_failure, server_status), against real situations on loopback: nothing
// listening, a name that does not resolve, a missing unix socket, a listener whose
// accept queue is full (the connect hangs) and a peer that never answers the probe.
#include <doctest/doctest.h>
#include <unistd.h>

#include <boost/asio/error.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/system/errc.hpp>
#include <boost/system/system_error.hpp>
#include <chrono>
#include <fstream>
#include <memcoro/memcoro.hpp>
#include <string>

#include "support/stalling_proxy.hpp"
#include "test_common.hpp"

namespace {

using namespace memcoro::test;
using namespace std::chrono_literals;
namespace asio = boost::asio;
using asio::ip::tcp;
using clock_type = std::chrono::steady_clock;
constexpr auto tuple = asio::as_tuple(asio::use_awaitable);

// A loopback port with nothing listening on it (free a moment ago).
std::uint16_t closed_port() {
    asio::io_context ioc;
    tcp::acceptor a(ioc, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
    return a.local_endpoint().port();
}

memcoro::client_options client_of(const std::string& address) {
    memcoro::client_options o;
    o.server = address;
    o.protocol = memcoro::wire_protocol::meta;
    o.op_timeout = 10s;
    o.connect_timeout = 10s;
    o.reconnect_backoff = 5s;  // the second call below always falls in it
    return o;
}

// Runs a client of `address`: three gets that wait for the same first connect, then one
// during the backoff. Returns what the first three got (all the same) and checks the rest:
// the backoff's not_connected, and the cause kept by last_failure() and server_status().
boost::system::error_code first_connect_error(const memcoro::client_options& o) {
    boost::system::error_code cause;
    run_client(o, [&](memcoro::client& mc) -> asio::awaitable<void> {
        CHECK_FALSE(mc.last_failure());
        const auto before = std::chrono::system_clock::now();
        auto ex = co_await asio::this_coro::executor;
        boost::system::error_code others[2];
        int done = 0;
        for (auto& other : others) {
            asio::co_spawn(
                ex,
                [&]() -> asio::awaitable<void> {
                    auto [ec, it] = co_await mc.get("k", tuple);
                    other = ec;
                    ++done;
                },
                asio::detached);
        }
        auto [ec, it] = co_await mc.get("k", tuple);
        cause = ec;
        while (done < 2) co_await sleep_for(1ms);
        CHECK(others[0] == cause);
        CHECK(others[1] == cause);
        const auto after = std::chrono::system_clock::now();

        // The backoff: not tried again, and not told why (last_failure says).
        auto [again, it2] = co_await mc.get("k", tuple);
        CHECK(again == memcoro::error::not_connected);

        const auto failure = mc.last_failure();
        REQUIRE(failure);
        CHECK(failure->server == o.server);
        CHECK(failure->error == cause);
        CHECK(failure->at >= before);
        CHECK(failure->at <= after);
        const auto status = mc.server_status();
        REQUIRE(status.size() == 1);
        CHECK(status[0].last_error == cause);
        CHECK(status[0].last_error_at == failure->at);
    });
    return cause;
}

// Linux drops a SYN when the listener's accept queue is full, unless this is set.
bool full_queue_drops_syn() {
    std::ifstream f("/proc/sys/net/ipv4/tcp_abort_on_overflow");
    int value = -1;
    f >> value;
    return value == 0;
}

}  // namespace

TEST_CASE("errors: nothing listening is connection_refused, for every operation that waited") {
    const auto address = "127.0.0.1:" + std::to_string(closed_port());
    const auto ec = first_connect_error(client_of(address));
    CHECK(ec == asio::error::connection_refused);
    CHECK(ec.message() == "Connection refused");
}

TEST_CASE("errors: a host name that does not resolve is host_not_found") {
    // A label longer than DNS allows (63 bytes): the resolver refuses it without asking
    // a name server, so no query leaves the machine. nosuchhost.invalid would give the
    // same error, through a query to the configured name server.
    const auto ec = first_connect_error(client_of(std::string(64, 'n') + ".invalid:11211"));
    CHECK((ec == asio::error::host_not_found || ec == asio::error::host_not_found_try_again));
    CHECK(ec.category() == asio::error::get_netdb_category());
}

TEST_CASE("errors: a unix socket that does not exist is no_such_file_or_directory") {
    const std::string path = "/tmp/memcoro-missing-" + std::to_string(::getpid()) + ".sock";
    REQUIRE(::access(path.c_str(), F_OK) != 0);
    const auto ec = first_connect_error(client_of("unix:" + path));
    CHECK(ec == boost::system::errc::no_such_file_or_directory);
}

TEST_CASE("errors: a connect that hangs is connect_timeout; an operation's own deadline, timeout") {
    if (!full_queue_drops_syn()) {
        MESSAGE("skipped: net.ipv4.tcp_abort_on_overflow is set, so a full queue refuses");
        return;
    }
    // A listener with a backlog of 0 and one connection waiting in its accept queue:
    // the kernel drops every further SYN, and the connect hangs (retrying after 1 s).
    asio::io_context ioc;
    tcp::acceptor listener(ioc);
    listener.open(tcp::v4());
    listener.bind(tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
    listener.listen(0);
    tcp::socket filler(ioc);
    filler.connect(listener.local_endpoint());
    const auto address = "127.0.0.1:" + std::to_string(listener.local_endpoint().port());

    auto o = client_of(address);
    o.connect_timeout = 300ms;
    const auto start = clock_type::now();
    CHECK(first_connect_error(o) == memcoro::error::connect_timeout);
    CHECK(clock_type::now() - start >= 250ms);

    // The operation's own time is shorter: it is that which runs out.
    o.connect_timeout = 5s;
    run_client(o, [&](memcoro::client& mc) -> asio::awaitable<void> {
        auto [ec, it] = co_await mc.get("k", {.timeout = 100ms}, tuple);
        CHECK(ec == memcoro::error::timeout);
    });
}

TEST_CASE("errors: a peer that accepts but never answers the probe is connect_timeout") {
    stalling_proxy silent;  // accepts, reads, never answers
    auto o = client_of(silent.address());
    o.connect_timeout = 300ms;
    CHECK(first_connect_error(o) == memcoro::error::connect_timeout);
    CHECK(silent.accepted() == 1);
}

TEST_CASE("errors: a server killed and restarted: its causes are kept, and so is the last") {
    memcached_server server;
    auto o = options_for(server, memcoro::wire_protocol::meta);
    o.reconnect_backoff = 20ms;
    run_client(o, [&](memcoro::client& mc) -> asio::awaitable<void> {
        CHECK(co_await mc.set("k", "v"));
        CHECK_FALSE(mc.last_failure());
        server.kill();
        // The connection closes (the server's end is gone), then the next connect is
        // refused; calls in between may see either, or the backoff.
        boost::system::error_code ec;
        for (int i = 0; i < 100 && ec != asio::error::connection_refused; ++i) {
            auto [e, it] = co_await mc.get("k", tuple);
            ec = e;
            CHECK((ec == memcoro::error::connection_closed || ec == memcoro::error::not_connected ||
                   ec == asio::error::connection_refused));
            if (ec == memcoro::error::not_connected) co_await sleep_for(10ms);
        }
        REQUIRE(ec == asio::error::connection_refused);
        REQUIRE(mc.last_failure());
        CHECK(mc.last_failure()->error == asio::error::connection_refused);
        CHECK(mc.server_status()[0].open_connections == 0);

        server.restart();
        CHECK(co_await set_once_back(mc, "k", "v2"));
        // Back, and the last failure is still there to be read.
        REQUIRE(mc.last_failure());
        CHECK(mc.last_failure()->error == asio::error::connection_refused);
        CHECK(mc.server_status()[0].open_connections == 1);
    });
}

TEST_CASE("errors: a tier reports each server's own last failure") {
    memcached_server alive;
    const auto port = closed_port();
    memcoro::client_options o;
    o.servers = {{alive.address()}, {"127.0.0.1:" + std::to_string(port)}};
    o.op_timeout = 10s;
    o.failure_limit = 0;  // never dead: every call tries
    run_client(o, [&](memcoro::client& mc) -> asio::awaitable<void> {
        auto [e0, v0] = co_await mc.version({.server = 0}, tuple);
        CHECK_FALSE(e0);
        auto [e1, v1] = co_await mc.version({.server = 1}, tuple);
        CHECK(e1 == asio::error::connection_refused);
        const auto status = mc.server_status();
        REQUIRE(status.size() == 2);
        CHECK_FALSE(status[0].last_error);
        CHECK(status[0].last_error_at == std::chrono::system_clock::time_point{});
        CHECK(status[1].last_error == asio::error::connection_refused);
        REQUIRE(mc.last_failure());
        CHECK(mc.last_failure()->server == o.servers[1].address);
    });
}
