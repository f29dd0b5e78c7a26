// client::fetch against real memcached: read-through, the stampede of many callers on one
// missing key across several clients, early recompute before expiry, invalidation, and
// computes that throw, are cancelled or run out of time.
#include <doctest/doctest.h>

#include <atomic>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <exception>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "tier_common.hpp"

using namespace std::chrono_literals;
namespace asio = boost::asio;
using memcoro::client;
using memcoro::client_options;
using memcoro::fetch_options;
using memcoro::wire_protocol;
using memcoro::test::memcached_server;
using memcoro::test::options_for;
using memcoro::test::raw_get;
using memcoro::test::run_client;
using memcoro::test::sleep_for;

namespace {

using clock_type = std::chrono::steady_clock;

// A compute that counts its runs and takes `delay`; its value names the run.
struct counted_compute {
    std::shared_ptr<std::atomic<int>> runs = std::make_shared<std::atomic<int>>(0);
    std::chrono::milliseconds delay{0};
    std::string prefix = "computed-";

    auto operator()() const -> asio::awaitable<std::string> {
        const int n = ++*runs;
        if (delay.count() > 0) co_await sleep_for(delay);
        co_return prefix + std::to_string(n);
    }
};

// The value of a raw `mg <key> v t` reply's header line, e.g. "VA 3 t29", or "EN".
std::string raw_mg(const memcached_server& server, std::string_view key, std::string_view flags) {
    const std::string reply = server.roundtrip(
        "mg " + std::string(key) + " " + std::string(flags) + "\r\nmn\r\n", "MN\r\n");
    return reply.substr(0, reply.find("\r\n"));
}

// Runs `body(clients)` on one io_context with `n` clients of `options`.
template <class Body>
void run_clients(std::size_t n, const client_options& options, Body body,
                 std::chrono::seconds limit = 60s) {
    asio::io_context ioc;
    std::vector<std::unique_ptr<client>> clients;
    for (std::size_t i = 0; i < n; ++i) {
        clients.push_back(std::make_unique<client>(ioc.get_executor(), options));
    }
    std::exception_ptr failure;
    bool done = false;
    asio::co_spawn(
        ioc, [&]() -> asio::awaitable<void> { co_await body(clients); },
        [&](std::exception_ptr e) {
            failure = e;
            done = true;
            for (auto& c : clients) c->close();
            ioc.stop();
        });
    ioc.run_for(limit);
    if (failure) std::rethrow_exception(failure);
    if (!done) throw std::runtime_error("test body did not finish in time");
}

// Starts `count` fetches of `key` spread over `clients`, and waits for them all.
// Returns each one's value, or "<error: what>".
template <class Compute>
asio::awaitable<std::vector<std::string>> fetch_all(std::vector<std::unique_ptr<client>>& clients,
                                                    std::size_t count, const std::string& key,
                                                    fetch_options opts, const Compute& compute) {
    auto results = std::make_shared<std::vector<std::string>>(count);
    auto left = std::make_shared<std::size_t>(count);
    auto ex = co_await asio::this_coro::executor;
    for (std::size_t i = 0; i < count; ++i) {
        auto& mc = *clients[i % clients.size()];
        mc.fetch(key, opts, compute, [results, left, i](std::exception_ptr e, std::string v) {
            if (e) {
                try {
                    std::rethrow_exception(e);
                } catch (const std::exception& x) {
                    v = std::string("<error: ") + x.what() + ">";
                }
            }
            (*results)[i] = std::move(v);
            --*left;
        });
    }
    while (*left > 0) co_await sleep_for(5ms);
    co_return *results;
}

}  // namespace

TEST_CASE("fetch: a hit is returned without computing, a miss is computed and stored") {
    memcached_server server;
    for (const auto mode : {wire_protocol::meta, wire_protocol::text}) {
        CAPTURE(memcoro::test::name_of(mode));
        memcoro::test::flush(server);
        run_client(options_for(server, mode), [&](client& mc) -> asio::awaitable<void> {
            co_await mc.set("present", std::string("cached"));
            counted_compute compute;
            CHECK(co_await mc.fetch("present", {.ttl = 60s}, compute) == "cached");
            CHECK(*compute.runs == 0);

            CHECK(co_await mc.fetch("absent", {.ttl = 60s}, compute) == "computed-1");
            CHECK(*compute.runs == 1);
            CHECK(raw_get(server, "absent").find("computed-1") != std::string::npos);
            // Stored for ttl (no stale_for): memcached reports 59 or 60 seconds left.
            const std::string header = raw_mg(server, "absent", "t");
            CHECK((header == "HD t60" || header == "HD t59"));

            // A second fetch reads it back.
            CHECK(co_await mc.fetch("absent", {.ttl = 60s}, compute) == "computed-1");
            CHECK(*compute.runs == 1);
        });
    }
}

TEST_CASE("fetch: values go through codec<T>; a cached value the codec refuses is bad_value") {
    memcached_server server;
    run_client(options_for(server, wire_protocol::meta), [&](client& mc) -> asio::awaitable<void> {
        auto forty_two = []() -> asio::awaitable<int> { co_return 42; };
        CHECK(co_await mc.fetch("number", {.ttl = 60s}, forty_two) == 42);
        CHECK(co_await mc.fetch("number", {.ttl = 60s}, forty_two) == 42);
        co_await mc.set("not-a-number", std::string("forty-two"));
        auto [e, v] = co_await mc.fetch("not-a-number", {.ttl = 60s}, forty_two,
                                        asio::as_tuple(asio::use_awaitable));
        REQUIRE(e);
        try {
            std::rethrow_exception(e);
        } catch (const boost::system::system_error& x) {
            CHECK(x.code() == memcoro::error::bad_value);
        }
    });
}

TEST_CASE("fetch stampede: 4 clients x 250 coroutines on one missing key compute it once") {
    memcached_server server;
    client_options options = options_for(server, wire_protocol::meta);
    run_clients(4, options, [&](auto& clients) -> asio::awaitable<void> {
        counted_compute compute{.delay = 50ms};
        const auto values = co_await fetch_all(clients, 1000, "hot", {.ttl = 60s}, compute);
        CHECK(*compute.runs == 1);
        std::size_t same = 0;
        for (const auto& v : values) same += v == "computed-1" ? 1 : 0;
        CHECK(same == 1000);
        if (same != 1000) {
            for (const auto& v : values) {
                if (v != "computed-1") {
                    MESSAGE("a caller got " << v);
                    break;
                }
            }
        }
    });
}

TEST_CASE("fetch stampede in text mode: one compute per client (single flight in-process)") {
    memcached_server server;
    run_clients(
        1, options_for(server, wire_protocol::text), [&](auto& clients) -> asio::awaitable<void> {
            counted_compute compute{.delay = 50ms};
            const auto values = co_await fetch_all(clients, 500, "hot-text", {.ttl = 60s}, compute);
            CHECK(*compute.runs == 1);
            for (const auto& v : values) CHECK(v == "computed-1");
        });
}

TEST_CASE("fetch with recache_before: recomputed once per period, never after expiry") {
    memcached_server server;
    run_clients(2, options_for(server, wire_protocol::meta),
                [&](auto& clients) -> asio::awaitable<void> {
                    // Fresh for 3 s; in the last 2 s one reader recomputes. memcached counts whole
                    // seconds, so a recompute comes 1 to 2 s after the store before it.
                    const fetch_options opts{.ttl = 3s, .recache_before = 2s};
                    auto runs = std::make_shared<std::atomic<int>>(0);
                    auto after_expiry = std::make_shared<std::atomic<int>>(0);
                    auto compute = [&server, runs, after_expiry]() -> asio::awaitable<std::string> {
                        const int n = ++*runs;
                        // Every recompute but the first finds the old value still cached.
                        if (n > 1 && raw_get(server, "steady").find("\r\nv") == std::string::npos) {
                            ++*after_expiry;
                        }
                        co_await sleep_for(100ms);
                        co_return "v" + std::to_string(n);
                    };
                    const auto end = clock_type::now() + 7s;
                    std::size_t reads = 0;
                    std::size_t slow_reads = 0;  // reads that waited for a compute
                    while (clock_type::now() < end) {
                        for (auto& mc : clients) {
                            const auto started = clock_type::now();
                            const std::string v = co_await mc->fetch("steady", opts, compute);
                            CHECK(v.starts_with("v"));
                            ++reads;
                            if (clock_type::now() - started >= 100ms) ++slow_reads;
                        }
                        co_await sleep_for(20ms);
                    }
                    MESSAGE("reads " << reads << ", computes " << runs->load() << ", slow reads "
                                     << slow_reads);
                    CHECK(*after_expiry == 0);
                    CHECK(runs->load() >= 4);  // 1 + one per 1-2 s over 7 s
                    CHECK(runs->load() <= 8);
                    // Only the reader that recomputes waits; everybody else reads on (with a little
                    // slack: on a loaded machine a read may stall for other reasons).
                    CHECK(slow_reads >= static_cast<std::size_t>(runs->load()));
                    CHECK(slow_reads <= static_cast<std::size_t>(runs->load()) + 2);
                });
}

TEST_CASE("fetch after meta_delete mark_stale: the old value is served until one recompute") {
    memcached_server server;
    run_clients(
        2, options_for(server, wire_protocol::meta), [&](auto& clients) -> asio::awaitable<void> {
            counted_compute first;
            CHECK(co_await clients[0]->fetch("page", {.ttl = 60s, .stale_for = 30s}, first) ==
                  "computed-1");
            auto [ec, status] = co_await clients[0]->meta_delete(
                "page", {.mark_stale = true}, asio::as_tuple(asio::use_awaitable));
            REQUIRE(!ec);
            CHECK(status == memcoro::meta_status::ok);

            counted_compute second{.delay = 100ms, .prefix = "recomputed-"};
            const auto values =
                co_await fetch_all(clients, 200, "page", {.ttl = 60s, .stale_for = 30s}, second);
            CHECK(*second.runs == 1);
            std::size_t stale = 0;
            std::size_t fresh = 0;
            for (const auto& v : values) {
                stale += v == "computed-1" ? 1 : 0;
                fresh += v == "recomputed-1" ? 1 : 0;
            }
            CHECK(stale + fresh == values.size());
            CHECK(fresh >= 1);  // the winner's own caller
            CHECK(stale >= 1);  // the others did not wait for it
            // Afterwards everybody reads the new value, and nobody computes.
            CHECK(co_await clients[1]->fetch("page", {.ttl = 60s}, second) == "recomputed-1");
            CHECK(*second.runs == 1);
            CHECK(raw_mg(server, "page", "v").find(" X") == std::string::npos);  // no longer stale
        });
}

TEST_CASE("fetch: a compute that throws reaches its caller only, and the next caller computes") {
    memcached_server server;
    run_clients(
        2, options_for(server, wire_protocol::meta), [&](auto& clients) -> asio::awaitable<void> {
            auto runs = std::make_shared<std::atomic<int>>(0);
            auto failing_first = [runs]() -> asio::awaitable<std::string> {
                const int n = ++*runs;
                co_await sleep_for(50ms);
                if (n == 1) throw std::runtime_error("backend down");
                co_return "computed-" + std::to_string(n);
            };
            const auto values =
                co_await fetch_all(clients, 100, "flaky", {.ttl = 60s}, failing_first);
            std::size_t errors = 0;
            for (const auto& v : values) {
                if (v == "<error: backend down>") {
                    ++errors;
                } else {
                    CHECK(v == "computed-2");
                }
            }
            CHECK(errors == 1);
            CHECK(runs->load() == 2);

            // The placeholder of a failed compute is gone at once: a lone caller computes
            // right away instead of waiting for it to expire.
            auto always_failing = [runs]() -> asio::awaitable<std::string> {
                ++*runs;
                throw std::runtime_error("still down");
                co_return std::string();
            };
            CHECK_THROWS_AS(co_await clients[0]->fetch("flaky-2", {.ttl = 60s}, always_failing),
                            std::runtime_error);
            const auto started = clock_type::now();
            counted_compute ok;
            CHECK(co_await clients[1]->fetch("flaky-2", {.ttl = 60s}, ok) == "computed-1");
            CHECK(clock_type::now() - started < 1s);
        });
}

TEST_CASE("fetch: a cancelled compute gives its win up; the next caller computes") {
    memcached_server server;
    run_clients(
        1, options_for(server, wire_protocol::meta), [&](auto& clients) -> asio::awaitable<void> {
            auto& mc = *clients[0];
            counted_compute slow{.delay = 5s};
            asio::cancellation_signal cancel;
            std::exception_ptr outcome;
            bool finished = false;
            mc.fetch(
                "cancelled", {.ttl = 60s}, slow,
                asio::bind_cancellation_slot(cancel.slot(), [&](std::exception_ptr e, std::string) {
                    outcome = e;
                    finished = true;
                }));
            co_await sleep_for(100ms);
            CHECK(*slow.runs == 1);
            cancel.emit(asio::cancellation_type::terminal);
            for (int i = 0; i < 100 && !finished; ++i) co_await sleep_for(10ms);
            REQUIRE(finished);
            CHECK(outcome);

            const auto started = clock_type::now();
            counted_compute ok;
            CHECK(co_await mc.fetch("cancelled", {.ttl = 60s}, ok) == "computed-1");
            CHECK(clock_type::now() - started < 1s);
        });
}

TEST_CASE("fetch: a compute slower than the timeout; no waiter hangs, the next caller computes") {
    memcached_server server;
    run_clients(2, options_for(server, wire_protocol::meta),
                [&](auto& clients) -> asio::awaitable<void> {
                    counted_compute slow{.delay = 3s};
                    const fetch_options opts{.ttl = 60s, .timeout = 500ms};
                    const auto started = clock_type::now();
                    const auto values = co_await fetch_all(clients, 20, "slow", opts, slow);
                    const auto took = clock_type::now() - started;
                    CHECK(took < 2s);
                    for (const auto& v : values) CHECK(v.find("timed out") != std::string::npos);
                    // One compute; the waiters in its client time out with it. The other
                    // client's leader, polling, may win once the first gives up, if its
                    // own time (it started a little later) has not run out yet.
                    CHECK(*slow.runs >= 1);
                    CHECK(*slow.runs <= 2);

                    counted_compute ok;
                    CHECK(co_await clients[1]->fetch("slow", opts, ok) == "computed-1");
                });
}

TEST_CASE("fetch on a tier of 3 servers") {
    memcoro::test::tier servers(3);
    run_clients(2, servers.options(), [&](auto& clients) -> asio::awaitable<void> {
        counted_compute compute{.delay = 20ms};
        for (int k = 0; k < 20; ++k) {
            const std::string key = "tier-fetch-" + std::to_string(k);
            const auto before = compute.runs->load();
            const auto values = co_await fetch_all(clients, 20, key, {.ttl = 60s}, compute);
            CHECK(compute.runs->load() == before + 1);
            for (const auto& v : values) CHECK(v == "computed-" + std::to_string(before + 1));
            CHECK(servers.holders(key).size() == 1);
        }
    });
}

TEST_CASE("fetch of a binary key: computed once, stored under its bytes, apart from a text key") {
    memcached_server server;
    run_client(options_for(server, wire_protocol::meta), [&](client& mc) -> asio::awaitable<void> {
        const std::string key("a b\r\n\0\xff", 7);
        const fetch_options opts{.ttl = 60s, .key_encoding = memcoro::key_encoding::base64};
        counted_compute compute;
        CHECK(co_await mc.fetch(key, opts, compute) == "computed-1");
        CHECK(co_await mc.fetch(key, opts, compute) == "computed-1");
        CHECK(*compute.runs == 1);
        const auto it = co_await mc.meta_get(key, {.key_encoding = memcoro::key_encoding::base64});
        CHECK((it && it->value() == "computed-1"));
        // "a_b" is another key, as text or as bytes.
        CHECK(co_await mc.fetch("a_b", {.ttl = 60s}, compute) == "computed-2");
    });
    // Without meta a key cannot be sent in base64: refused before anything is computed.
    run_client(options_for(server, wire_protocol::text), [&](client& mc) -> asio::awaitable<void> {
        counted_compute compute;
        auto [e, v] =
            co_await mc.fetch("binary", {.ttl = 60s, .key_encoding = memcoro::key_encoding::base64},
                              compute, asio::as_tuple(asio::use_awaitable));
        REQUIRE(e);
        try {
            std::rethrow_exception(e);
        } catch (const boost::system::system_error& x) {
            CHECK(x.code() == memcoro::error::unsupported_command);
        }
        CHECK(*compute.runs == 0);
    });
}

TEST_CASE("fetch from 2 threads on one client: one compute, every caller the same value") {
    memcached_server server;
    asio::io_context ioc(2);
    client mc(ioc.get_executor(), options_for(server, wire_protocol::meta));
    counted_compute compute{.delay = 30ms};
    std::atomic<int> same{0};
    std::atomic<int> left{400};
    for (int i = 0; i < 400; ++i) {
        mc.fetch("threaded", {.ttl = 60s}, compute, [&](std::exception_ptr e, std::string v) {
            if (!e && v == "computed-1") ++same;
            if (--left == 0) mc.close();
        });
    }
    std::thread other([&] { ioc.run_for(30s); });
    ioc.run_for(30s);
    other.join();
    CHECK(left.load() == 0);
    CHECK(same.load() == 400);
    CHECK(*compute.runs == 1);
}
