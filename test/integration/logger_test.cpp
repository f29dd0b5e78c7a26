// client_options::logger against real memcached processes (and a fake one for the
// protocol violation): which events come, in which order, with which causes, never
// under a lock of the client's, and never with a key, a value or a credential in them.
#include <doctest/doctest.h>

#include <algorithm>
#include <boost/asio/error.hpp>
#include <chrono>
#include <memcoro/memcoro.hpp>
#include <string>
#include <vector>

#include "fake_server.hpp"
#include "test_common.hpp"
#include "tier_common.hpp"

namespace {

using namespace memcoro::test;
using namespace std::chrono_literals;
namespace asio = boost::asio;
using memcoro::log_kind;
using memcoro::log_level;
using clock_type = std::chrono::steady_clock;
constexpr auto tuple = asio::as_tuple(asio::use_awaitable);

// An event as told, with its views copied.
struct told {
    log_level level;
    log_kind kind;
    std::string server;
    boost::system::error_code error;
    std::chrono::milliseconds delay;
    std::string message;
};

// Records every event. When `client` is set, each call also reads the client's state,
// which takes the locks of the client's connections and router: a logger called under
// one of them would deadlock here.
struct recorder {
    std::vector<told> events;
    memcoro::client* client = nullptr;

    memcoro::logger logger() {
        return [this](const memcoro::log_event& e) {
            if (client != nullptr) {
                (void)client->last_failure();
                (void)client->server_status();
            }
            events.push_back(
                {e.level, e.kind, std::string(e.server), e.error, e.delay, std::string(e.message)});
        };
    }

    // The index of the first event of `kind` at or after `from`, or events.size().
    [[nodiscard]] std::size_t find(log_kind kind, std::size_t from = 0) const {
        for (std::size_t i = from; i < events.size(); ++i) {
            if (events[i].kind == kind) return i;
        }
        return events.size();
    }

    // No message or server names any of `secrets`.
    void check_never_names(const std::vector<std::string>& secrets) const {
        for (const auto& e : events) {
            for (const auto& s : secrets) {
                CAPTURE(e.message);
                CHECK(e.message.find(s) == std::string::npos);
                CHECK(e.server.find(s) == std::string::npos);
            }
        }
    }
};

const std::string user = "log-user";
const std::string password = "log-Pa55-word";
const std::string key = "secret-key-31337";
const std::string value = "secret-value-4242";

}  // namespace

TEST_CASE("logger: connected, disconnected, connect failed and backoff, with their causes") {
    memcached_server::options so;
    so.auth = memcached_auth{.username = user, .password = password};
    memcached_server server(so);
    recorder log;
    auto o = options_for(server, memcoro::wire_protocol::automatic);
    o.username = user;
    o.password = password;
    o.reconnect_backoff = 30ms;
    o.logger = log.logger();
    run_client(o, [&](memcoro::client& mc) -> asio::awaitable<void> {
        log.client = &mc;
        CHECK(co_await mc.set(key, value));
        CHECK(value_of(co_await mc.get(key)) == value);
        server.kill();
        // Until a connect has been refused (the first call may find the old connection
        // closing, or the backoff).
        for (int i = 0; i < 100 && log.find(log_kind::connect_failed) == log.events.size(); ++i) {
            auto [ec, it] = co_await mc.get(key, tuple);
            CHECK(ec);
            co_await sleep_for(10ms);
        }
        server.restart();
        CHECK(co_await set_once_back(mc, key, value));
        log.client = nullptr;
    });

    const auto& ev = log.events;
    const auto connected = log.find(log_kind::connected);
    REQUIRE(connected < ev.size());
    CHECK(ev[connected].level == log_level::info);
    CHECK(ev[connected].server == server.address());
    CHECK(ev[connected].message == server.address() + ": connected, meta protocol");
    CHECK_FALSE(ev[connected].error);

    const auto disconnected = log.find(log_kind::disconnected, connected);
    REQUIRE(disconnected < ev.size());
    CHECK(ev[disconnected].level == log_level::warning);
    CHECK(ev[disconnected].error == memcoro::error::connection_closed);

    const auto failed = log.find(log_kind::connect_failed, disconnected);
    REQUIRE(failed < ev.size());
    CHECK(ev[failed].level == log_level::error);
    CHECK(ev[failed].error == asio::error::connection_refused);
    CHECK(ev[failed].message.starts_with(server.address() + ": connect failed: "));
    CHECK(ev[failed].message.find("Connection refused") != std::string::npos);
    CHECK(memcoro::to_string(ev[failed].level) == "error");
    CHECK(memcoro::to_string(ev[failed].kind) == "connect_failed");

    const auto backoff = log.find(log_kind::backoff, failed);
    REQUIRE(backoff < ev.size());
    CHECK(ev[backoff].delay >= o.reconnect_backoff);
    CHECK(ev[backoff].message.find(" ms") != std::string::npos);

    CHECK(log.find(log_kind::connected, backoff) < ev.size());  // back
    // Each refusal backed off twice as long as the one before, up to the maximum.
    std::vector<std::chrono::milliseconds> delays;
    for (const auto& e : ev) {
        if (e.kind == log_kind::backoff) delays.push_back(e.delay);
    }
    REQUIRE_FALSE(delays.empty());
    CHECK(delays.front() == o.reconnect_backoff);
    for (std::size_t i = 1; i < delays.size(); ++i) {
        CHECK(delays[i] == std::min(delays[i - 1] * 2, o.reconnect_backoff_max));
    }
    log.check_never_names({user, password, key, value});
}

TEST_CASE("logger: a health check unanswered, then the server marked unresponsive") {
    memcached_server server;
    recorder log;
    auto o = options_for(server, memcoro::wire_protocol::meta);
    o.health_check_interval = 100ms;
    o.op_timeout = 300ms;
    o.reconnect_backoff = 5s;
    o.logger = log.logger();
    run_client(o, [&](memcoro::client& mc) -> asio::awaitable<void> {
        CHECK(co_await mc.set(key, value));
        server.pause();
        const auto until = clock_type::now() + 5s;
        while (log.find(log_kind::backoff) == log.events.size() && clock_type::now() < until) {
            co_await sleep_for(20ms);
        }
        server.resume();
    });
    const auto& ev = log.events;
    const auto check = log.find(log_kind::health_check_failed);
    REQUIRE(check < ev.size());
    CHECK(ev[check].level == log_level::warning);
    CHECK(ev[check].error == memcoro::error::unresponsive);
    const auto closed = log.find(log_kind::disconnected, check);
    REQUIRE(closed < ev.size());
    CHECK(ev[closed].error == memcoro::error::unresponsive);
    CHECK(log.find(log_kind::backoff, closed) < ev.size());
    log.check_never_names({key, value});
}

TEST_CASE("logger: a protocol violation that closed the connection") {
    asio::io_context ioc;
    fake_server fake(ioc.get_executor(), {"VA 5 f0 O424242\r\nstolen\r\n"});
    recorder log;
    auto o = fake_server_options(fake.address(), memcoro::wire_protocol::meta);
    o.logger = log.logger();
    run_client_on(ioc, o, [&](memcoro::client& mc) -> asio::awaitable<void> {
        auto [ec, it] = co_await mc.get(key, tuple);
        CHECK(ec == memcoro::error::reply_mismatch);
    });
    const auto& ev = log.events;
    const auto violation = log.find(log_kind::protocol_violation);
    REQUIRE(violation < ev.size());
    CHECK(ev[violation].level == log_level::error);
    CHECK(ev[violation].error == memcoro::error::reply_mismatch);
    CHECK(ev[violation].message.starts_with(fake.address() + ": protocol violation"));
    log.check_never_names({key, "stolen"});
}

TEST_CASE("logger: a server of a tier marked dead, then back") {
    tier t(2);
    recorder log;
    auto o = t.options();
    o.failure_limit = 2;
    o.dead_timeout = 200ms;
    o.reconnect_backoff = 10ms;
    o.connect_timeout = 2s;
    o.logger = log.logger();
    run_client(o, [&](memcoro::client& mc) -> asio::awaitable<void> {
        log.client = &mc;
        CHECK_FALSE((co_await mc.version({.server = 0})).empty());
        CHECK_FALSE((co_await mc.version({.server = 1})).empty());
        t.servers[1]->stop();
        const auto until = clock_type::now() + 10s;
        while (alive(mc, 1) && clock_type::now() < until) {
            auto [ec, v] = co_await mc.version({.server = 1}, tuple);
            CHECK(ec);
            co_await sleep_for(5ms);
        }
        REQUIRE_FALSE(alive(mc, 1));
        t.servers[1]->restart();
        while (!alive(mc, 1) && clock_type::now() < until) co_await sleep_for(20ms);
        CHECK(alive(mc, 1));
        log.client = nullptr;
    });
    const auto& ev = log.events;
    const auto dead = log.find(log_kind::server_dead);
    REQUIRE(dead < ev.size());
    CHECK(ev[dead].level == log_level::error);
    CHECK(ev[dead].server == t.servers[1]->address());
    CHECK(ev[dead].error == asio::error::connection_refused);
    const auto back = log.find(log_kind::server_back, dead);
    REQUIRE(back < ev.size());
    CHECK(ev[back].level == log_level::info);
    CHECK(ev[back].server == t.servers[1]->address());
    CHECK_FALSE(ev[back].error);
    // Server 0 had nothing but its connect to report.
    for (const auto& e : ev) {
        if (e.server == t.servers[0]->address()) CHECK(e.kind == log_kind::connected);
    }
}
