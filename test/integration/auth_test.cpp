// ASCII authentication (memcached -Y) against real memcached processes: the login on
// every new connection, a refused login without a retry storm, a restart, the password
// kept out of every error text, and TLS with a login on one connection.
#include <doctest/doctest.h>

#include <atomic>
#include <boost/system/system_error.hpp>
#include <chrono>
#include <memcoro/memcoro.hpp>
#include <string>

#include "support/tls_certs.hpp"
#include "test_common.hpp"

namespace {

using namespace memcoro::test;
using namespace std::chrono_literals;
namespace asio = boost::asio;
constexpr auto tuple = asio::as_tuple(asio::use_awaitable);

const std::string user = "memcoro";
const std::string secret = "s3cret-Pa55";

memcached_server::options auth_server() {
    memcached_server::options o;
    o.auth = memcached_auth{.username = user, .password = secret};
    return o;
}

memcoro::client_options login(const memcached_server& server, memcoro::wire_protocol mode,
                              const std::string& password = secret) {
    auto o = options_for(server, mode);
    o.username = user;
    o.password = password;
    return o;
}

int connections(const memcached_server& server) {
    // Less the fixture's own connection that asks.
    return std::stoi(raw_stat(server, "total_connections")) - 1;
}

}  // namespace

TEST_CASE("auth: the right password logs every new connection in, in every wire mode") {
    memcached_server server(auth_server());
    for (auto mode : all_modes) {
        CAPTURE(name_of(mode));
        auto o = login(server, mode);
        o.connections_per_server = 2;
        asio::io_context ioc;
        memcoro::client mc(ioc.get_executor(), o);
        // Many operations queued before the first login: all go out after it.
        int remaining = 200;
        int failed = 0;
        for (int i = 0; i < 200; ++i) {
            asio::co_spawn(
                ioc,
                [&, i]() -> asio::awaitable<void> {
                    const std::string key = "a" + std::to_string(i);
                    auto [e1, s] = co_await mc.set(key, key, {}, tuple);
                    auto [e2, it] = co_await mc.get(key, tuple);
                    if (e1 || e2 || !s || value_of(it) != key) ++failed;
                },
                [&](std::exception_ptr e) {
                    if (e) ++failed;
                    if (--remaining == 0) mc.close();
                });
        }
        ioc.run_for(60s);
        CHECK(remaining == 0);
        CHECK(failed == 0);
    }
}

TEST_CASE("auth: a wrong password is auth_failed, and the client backs off") {
    memcached_server server(auth_server());
    const int before = connections(server);
    auto o = login(server, memcoro::wire_protocol::meta, "wrong-password");
    int failures = 0;
    int fast = 0;
    int other = 0;
    run_client(o, [&](memcoro::client& mc) -> asio::awaitable<void> {
        // An operation every 10 ms for 2 s: each fails at once during the backoff, and
        // only a few of them make a new attempt (100 ms doubling: 0, 0.1, 0.3, 0.7, 1.5 s).
        // Those get the refusal; the others, not_connected.
        const auto end = std::chrono::steady_clock::now() + 2s;
        while (std::chrono::steady_clock::now() < end) {
            auto [ec, it] = co_await mc.get("k", tuple);
            if (ec == memcoro::error::auth_failed) {
                ++failures;
            } else if (ec == memcoro::error::not_connected) {
                ++fast;
            } else {
                ++other;
            }
            co_await sleep_for(10ms);
        }
        const auto failure = mc.last_failure();
        REQUIRE(failure);
        CHECK(failure->error == memcoro::error::auth_failed);
    });
    CHECK(other == 0);
    CHECK(fast > 50);
    CHECK(failures >= 3);
    CHECK(failures <= 7);
    const int attempts = connections(server) - before - 1;  // less the `before` one
    CHECK(attempts >= 3);
    CHECK(attempts <= 7);
}

TEST_CASE("auth: a client without credentials is told the server wants a login") {
    memcached_server server(auth_server());
    for (auto mode : {memcoro::wire_protocol::meta, memcoro::wire_protocol::automatic}) {
        CAPTURE(name_of(mode));
        run_client(options_for(server, mode), [&](memcoro::client& mc) -> asio::awaitable<void> {
            auto [ec, it] = co_await mc.get("k", tuple);
            CHECK(ec == memcoro::error::auth_failed);
        });
    }
}

TEST_CASE("auth: after a server restart the client logs in again by itself") {
    memcached_server server(auth_server());
    run_client(login(server, memcoro::wire_protocol::meta),
               [&](memcoro::client& mc) -> asio::awaitable<void> {
                   CHECK(co_await mc.set("k", "v"));
                   server.restart();
                   CHECK(co_await set_once_back(mc, "k2", "v2"));
                   CHECK(value_of(co_await mc.get("k2")) == "v2");
               });
}

TEST_CASE("auth: the password is in no error text") {
    memcached_server server(auth_server());
    const std::string wrong = "Wr0ng-Pa55w0rd";
    SUBCASE("a refused login, as an error code and as an exception") {
        run_client(login(server, memcoro::wire_protocol::meta, wrong),
                   [&](memcoro::client& mc) -> asio::awaitable<void> {
                       auto [ec, it] = co_await mc.get("k", tuple);
                       CHECK(ec == memcoro::error::auth_failed);
                       CHECK(ec.message().find(wrong) == std::string::npos);
                       CHECK(ec.what().find(wrong) == std::string::npos);
                       try {
                           co_await mc.get("k");
                           FAIL("a refused login let a get through");
                       } catch (const boost::system::system_error& e) {
                           CHECK(std::string(e.what()).find(wrong) == std::string::npos);
                       }
                   });
    }
    SUBCASE("a password the constructor refuses") {
        asio::io_context ioc;
        auto o = login(server, memcoro::wire_protocol::meta, "with space " + wrong);
        try {
            memcoro::client mc(ioc.get_executor(), o);
            FAIL("a password with a space was accepted");
        } catch (const boost::system::system_error& e) {
            CHECK(e.code() == memcoro::error::invalid_argument);
            CHECK(std::string(e.what()).find(wrong) == std::string::npos);
        }
    }
}

#if MEMCORO_TEST_TLS
TEST_CASE("auth over TLS: both on one connection") {
    memcached_server::options opts = auth_server();
    opts.tls = memcached_tls{.cert = test_certs().server_cert, .key = test_certs().server_key};
    memcached_server server(opts);
    for (auto mode : all_modes) {
        CAPTURE(name_of(mode));
        auto o = login(server, mode);
        o.tls = memcoro::tls_options{.ca_file = test_certs().ca};
        run_client(o, [&](memcoro::client& mc) -> asio::awaitable<void> {
            CHECK(co_await mc.set("k", "v"));
            CHECK(value_of(co_await mc.get("k")) == "v");
        });
        o.password = "wrong";
        run_client(o, [&](memcoro::client& mc) -> asio::awaitable<void> {
            auto [ec, it] = co_await mc.get("k", tuple);
            CHECK(ec == memcoro::error::auth_failed);
        });
    }
}
#endif
