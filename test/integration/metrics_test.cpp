// client::metrics(): what is counted after known sequences of operations, per server
// and in total, and reading it from another thread while operations run.
#include <doctest/doctest.h>

#include <atomic>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/detached.hpp>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "test_common.hpp"
#include "tier_common.hpp"

using namespace std::chrono_literals;
using memcoro::error;
using memcoro::error_code;
using memcoro::operation_kind;
using memcoro::server_metrics;
using memcoro::test::memcached_server;
using memcoro::test::options_for;
using memcoro::test::run_client;
using memcoro::test::sleep_for;
namespace asio = boost::asio;

namespace {

// Every counter of `total` is the sum of the servers'.
void check_total_is_sum(const memcoro::client_metrics& m) {
    server_metrics sum;
    for (const auto& s : m.servers) sum += s;
    CHECK(m.total.operations == sum.operations);
    CHECK(m.total.errors == sum.errors);
    CHECK(m.total.hits == sum.hits);
    CHECK(m.total.misses == sum.misses);
    CHECK(m.total.cancellations == sum.cancellations);
    CHECK(m.total.connects == sum.connects);
    CHECK(m.total.reconnects == sum.reconnects);
    CHECK(m.total.connect_failures == sum.connect_failures);
    CHECK(m.total.bytes_written == sum.bytes_written);
    CHECK(m.total.bytes_read == sum.bytes_read);
    CHECK(m.total.queue_depth == sum.queue_depth);
    CHECK(m.total.latency.counts == sum.latency.counts);
    CHECK(m.total.latency.sum == sum.latency.sum);
}

// The error of `call`, an awaitable of an as_tuple completion.
template <class Awaitable>
asio::awaitable<error_code> error_of_tuple(Awaitable call) {
    auto result = co_await std::move(call);
    co_return std::get<0>(result);
}

}  // namespace

TEST_CASE("metrics count operations by kind, hits, misses, errors and bytes") {
    for (auto mode : memcoro::test::explicit_modes) {
        CAPTURE(memcoro::test::name_of(mode));
        memcached_server server;
        run_client(options_for(server, mode), [&](memcoro::client& mc) -> asio::awaitable<void> {
            const std::string value(1000, 'v');
            CHECK(co_await mc.set("a", value));
            CHECK(co_await mc.set("b", value));
            CHECK(co_await mc.get("a"));
            CHECK(!co_await mc.get("missing"));
            const auto many = co_await mc.get_many({"a", "b", "c"});
            CHECK(many.size() == 2);
            // incr of a value that is not a number: the server's CLIENT_ERROR.
            const auto ec =
                co_await error_of_tuple(mc.incr("a", 1, {}, asio::as_tuple(asio::use_awaitable)));
            CHECK(ec == error::client_error);

            const auto m = mc.metrics();
            CHECK(m.enabled);
            REQUIRE(m.servers.size() == 1);
            const auto& s = m.servers[0];
            CHECK(s.address == server.address());
            CHECK(s.operations_of(operation_kind::set) == 2);
            CHECK(s.operations_of(operation_kind::get) == 2);
            CHECK(s.operations_of(operation_kind::get_many) == 1);
            CHECK(s.operations_of(operation_kind::incr) == 1);
            CHECK(s.total_operations() == 6);
            CHECK(s.hits == 3);
            CHECK(s.misses == 2);
            CHECK(s.errors_of(error::client_error) == 1);
            CHECK(s.total_errors() == 1);
            CHECK(s.timeouts() == 0);
            CHECK(s.cancellations == 0);
            CHECK(s.connects == 1);
            CHECK(s.reconnects == 0);
            CHECK(s.connect_failures == 0);
            CHECK(s.queue_depth == 0);
            // Two values went out and three came back, each with a few short lines.
            CHECK(s.bytes_written >= 2 * value.size());
            CHECK(s.bytes_written < 2 * value.size() + 600);
            CHECK(s.bytes_read >= 3 * value.size());
            CHECK(s.bytes_read < 3 * value.size() + 600);
            CHECK(s.latency.count() == 6);
            CHECK(s.latency.sum > 0ns);
            check_total_is_sum(m);
        });
    }
}

TEST_CASE("metrics count timeouts, cancellations, failed connects and reconnects") {
    for (auto mode : memcoro::test::explicit_modes) {
        CAPTURE(memcoro::test::name_of(mode));
        memcached_server server;
        auto options = options_for(server, mode);
        options.op_timeout = 500ms;
        options.reconnect_backoff = 20ms;
        options.reconnect_backoff_max = 20ms;
        run_client(options, [&](memcoro::client& mc) -> asio::awaitable<void> {
            CHECK(co_await mc.set("k", "v"));
            server.pause();

            // Cancelled once written: the paused server cannot answer it.
            asio::cancellation_signal signal;
            bool done = false;
            mc.get("k", asio::bind_cancellation_slot(
                            signal.slot(),
                            [&](error_code, std::optional<memcoro::item>) { done = true; }));
            co_await sleep_for(50ms);
            signal.emit(asio::cancellation_type::terminal);
            co_await memcoro::test::wait_for(done, 5s);
            CHECK(done);

            // Times out unanswered: the connection is closed as unresponsive.
            auto timed_out =
                co_await error_of_tuple(mc.get("k", asio::as_tuple(asio::use_awaitable)));
            CHECK(timed_out == error::timeout);
            server.resume();

            // A server that is gone: connects fail until it is back.
            server.kill();
            for (int i = 0; i < 3; ++i) {
                (void)co_await mc.get("k", asio::as_tuple(asio::use_awaitable));
                co_await sleep_for(30ms);
            }
            server.restart();
            CHECK(co_await memcoro::test::set_once_back(mc, "k", "back"));

            const auto m = mc.metrics();
            const auto& s = m.servers.at(0);
            CHECK(s.cancellations == 1);
            CHECK(s.timeouts() == 1);
            CHECK(s.connect_failures >= 1);
            CHECK(s.reconnects >= 1);
            CHECK(s.connects == s.reconnects + 1);
            CHECK(s.latency.count() == s.total_operations());
            CHECK(s.latency.counts.back() == 0);  // nothing took more than a second
            check_total_is_sum(m);
        });
    }
}

TEST_CASE("a tier's metrics are per server; the total is their sum") {
    memcoro::test::tier t(2);
    auto options = t.options();
    options.failure_limit = 1;
    options.dead_timeout = 60s;
    std::vector<std::string> keys;
    for (int i = 0; i < 20; ++i) keys.push_back("key-" + std::to_string(i));
    run_client(options, [&](memcoro::client& mc) -> asio::awaitable<void> {
        for (const auto& k : keys) CHECK(co_await mc.set(k, "value"));
        for (const auto& k : keys) CHECK(co_await mc.get(k));
        std::vector<std::string> asked = keys;
        asked.push_back("absent-1");
        asked.push_back("absent-2");
        CHECK((co_await mc.get_many(asked)).size() == keys.size());

        auto m = mc.metrics();
        REQUIRE(m.servers.size() == 2);
        std::vector<std::size_t> held(2, 0);
        for (const auto& k : keys) {
            for (const auto s : t.holders(k)) ++held[s];
        }
        for (std::size_t i = 0; i < 2; ++i) {
            CAPTURE(i);
            const auto& s = m.servers[i];
            CHECK(s.index == i);
            CHECK(s.address == t.servers[i]->address());
            CHECK(held[i] > 0);
            CHECK(s.operations_of(operation_kind::set) == held[i]);
            CHECK(s.operations_of(operation_kind::get) == held[i]);
            CHECK(s.operations_of(operation_kind::get_many) == 1);
            CHECK(s.hits == 2 * held[i]);
            CHECK(s.bytes_written > 0);
            CHECK(s.bytes_read > 0);
            CHECK(s.latency.count() == s.total_operations());
        }
        CHECK(m.total.operations_of(operation_kind::set) == keys.size());
        CHECK(m.total.hits == 2 * keys.size());
        CHECK(m.total.misses == 2);
        check_total_is_sum(m);

        // Server 1 goes away: its first failure marks it dead, and its keys are then
        // refused at once, each counted as a server_dead error of server 1.
        t.servers[1]->kill();
        std::uint64_t refused = 0;
        for (const auto& k : keys) {
            auto ec = co_await error_of_tuple(mc.get(k, asio::as_tuple(asio::use_awaitable)));
            if (ec == error::server_dead) ++refused;
        }
        CHECK(refused > 0);
        m = mc.metrics();
        CHECK(m.servers[1].errors_of(error::server_dead) == refused);
        CHECK(m.servers[0].errors_of(error::server_dead) == 0);
        check_total_is_sum(m);
    });
}

TEST_CASE("with metrics off nothing is counted but the queue depth") {
    memcached_server server;
    auto options = options_for(server, memcoro::wire_protocol::meta);
    options.metrics = false;
    run_client(options, [&](memcoro::client& mc) -> asio::awaitable<void> {
        CHECK(co_await mc.set("a", "v"));
        CHECK(co_await mc.get("a"));
        const auto m = mc.metrics();
        CHECK(!m.enabled);
        CHECK(m.total.total_operations() == 0);
        CHECK(m.total.hits == 0);
        CHECK(m.total.bytes_written == 0);
        CHECK(m.total.connects == 0);
        CHECK(m.total.latency.count() == 0);
    });
}

TEST_CASE("metrics read from another thread while 2000 coroutines run") {
    memcached_server server;
    constexpr int coroutines = 2000;
    constexpr int rounds = 5;
    run_client(options_for(server, memcoro::wire_protocol::meta),
               [&](memcoro::client& mc) -> asio::awaitable<void> {
                   std::atomic<bool> stop{false};
                   std::atomic<int> snapshots{0};
                   std::atomic<int> went_back{0};
                   std::thread reader([&] {
                       std::uint64_t last_ops = 0;
                       std::uint64_t last_done = 0;
                       while (!stop.load()) {
                           const auto m = mc.metrics();
                           const auto ops = m.total.total_operations();
                           const auto done = m.total.latency.count();
                           if (ops < last_ops || done < last_done) ++went_back;
                           last_ops = ops;
                           last_done = done;
                           ++snapshots;
                       }
                   });
                   int running = 0;
                   auto ex = co_await asio::this_coro::executor;
                   for (int i = 0; i < coroutines; ++i) {
                       ++running;
                       asio::co_spawn(
                           ex,
                           [&mc, &running, i]() -> asio::awaitable<void> {
                               const auto key = "c-" + std::to_string(i % 100);
                               for (int r = 0; r < rounds; ++r) {
                                   (void)co_await mc.set(key, "x");
                                   (void)co_await mc.get(key);
                               }
                               --running;
                           },
                           asio::detached);
                   }
                   while (running > 0) co_await sleep_for(5ms);
                   // At least one snapshot after every operation completed.
                   const int seen = snapshots.load();
                   while (snapshots.load() < seen + 2) co_await sleep_for(1ms);
                   stop = true;
                   reader.join();
                   CHECK(went_back.load() == 0);
                   const auto m = mc.metrics();
                   constexpr std::uint64_t ops = 2ULL * coroutines * rounds;
                   CHECK(m.total.total_operations() == ops);
                   CHECK(m.total.latency.count() == ops);
                   CHECK(m.total.hits + m.total.misses == ops / 2);
                   CHECK(m.total.queue_depth == 0);
               });
}
