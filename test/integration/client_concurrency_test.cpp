// Many operations at once on one client: every reply must reach the operation it
// answers, on one thread or several, with small and large values, noreply requests in
// between, and over a unix socket.
#include <doctest/doctest.h>

#include <atomic>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/io_context.hpp>
#include <cstdint>
#include <exception>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "test_common.hpp"

using namespace std::chrono_literals;
namespace asio = boost::asio;
using memcoro::error_code;
using memcoro::test::all_modes;
using memcoro::test::memcached_server;
using memcoro::test::name_of;
using memcoro::test::options_for;
using memcoro::test::run_client;
using memcoro::test::value_of;

namespace {

// A value that names its key: a reply handed to the wrong operation cannot pass for the
// right one, even between keys whose values have the same size.
std::string value_for(std::string_view key, std::size_t filler) {
    std::string v = "value-of-";
    v.append(key).append("|");
    const std::size_t seed = std::hash<std::string_view>{}(key);
    for (std::size_t i = 0; i < filler; ++i) v += static_cast<char>('a' + (seed + i * 7) % 26);
    return v;
}

// Sizes from 0 to 20 KB, spread over the range, so that some values are read through the
// read buffer and others straight into their item (above 16 KB, lib/detail/connection.cpp).
std::size_t filler_for(std::uint32_t i) {
    std::uint32_t x = i * 2654435761u;
    x ^= x >> 15;
    x *= 2246822519u;
    x ^= x >> 13;
    return x % (20 * 1024 + 1);
}

// Failures seen by coroutines on any thread, reported by the test's own thread (doctest
// assertions are kept to one thread).
class failures {
  public:
    void add(std::string what) {
        std::lock_guard lock(mutex_);
        if (list_.size() < 20) list_.push_back(std::move(what));
        ++count_;
    }
    void report() const {
        std::lock_guard lock(mutex_);
        for (const auto& f : list_) MESSAGE(f);
        CHECK(count_ == 0);
    }

  private:
    mutable std::mutex mutex_;
    std::vector<std::string> list_;
    std::size_t count_ = 0;
};

constexpr int worker_count = 1000;

// One of the many concurrent users of the client: it writes its own key, reads it back
// several ways, and reads a neighbour's key, checking that each reply is the one it
// asked for.
asio::awaitable<void> worker(memcoro::client& mc, int i, failures& f) {
    const std::string key = "conc-" + std::to_string(i);
    const std::string value = value_for(key, filler_for(static_cast<std::uint32_t>(i)));
    const std::string next_key = "conc-" + std::to_string((i + 1) % worker_count);
    const std::string next_value =
        value_for(next_key, filler_for(static_cast<std::uint32_t>((i + 1) % worker_count)));
    try {
        if (!co_await mc.set(key, value, {.flags = static_cast<std::uint32_t>(i)})) {
            f.add(key + ": not stored");
        }
        for (int round = 0; round < 3; ++round) {
            auto it = co_await mc.get(key);
            if (!it || it->value() != value || it->flags() != static_cast<std::uint32_t>(i)) {
                f.add(key + ": get returned " +
                      (it ? std::string(it->value().substr(0, 40)) : "a miss"));
            }
        }
        auto with_cas = co_await mc.gets(key);
        if (!with_cas || with_cas->value() != value || with_cas->cas() == 0) {
            f.add(key + ": gets returned the wrong item");
        }
        // The neighbour may not have written yet; if it has, it must be its value, with
        // or without the "+" it appends at its end.
        const auto neighbours = [&](std::string_view v) {
            return v == next_value || v == next_value + "+";
        };
        auto other = co_await mc.get(next_key);
        if (other && !neighbours(other->value())) f.add(key + ": neighbour's value is wrong");
        const std::vector<std::string_view> pair{key, next_key};
        auto both = co_await mc.get_many(pair);
        if (both.empty() || both[0].key() != key || both[0].value() != value ||
            (both.size() == 2 && (both[1].key() != next_key || !neighbours(both[1].value())))) {
            f.add(key + ": get_many returned the wrong items");
        }
        if (!co_await mc.append(key, "+")) f.add(key + ": append failed");
        auto appended = co_await mc.get(key);
        if (value_of(appended) != value + "+") f.add(key + ": append not seen");
    } catch (const std::exception& e) {
        f.add(key + ": threw " + e.what());
    }
}

// Options for many operations started at once: the connect (and probe) deadline runs
// from the first operation, while the test is still busy starting the others, and a
// sanitizer build is slow at that.
memcoro::client_options patient_options(const memcached_server& server,
                                        memcoro::wire_protocol mode) {
    auto options = options_for(server, mode);
    options.op_timeout = 60s;
    options.connect_timeout = 30s;
    return options;
}

// Runs worker_count workers on `threads` threads of one io_context, all through one
// client, and reports what went wrong.
void run_workers(const memcached_server& server, const memcoro::client_options& options,
                 int threads) {
    const long gets_before = std::stol(memcoro::test::raw_stat(server, "cmd_get"));
    const long sets_before = std::stol(memcoro::test::raw_stat(server, "cmd_set"));
    asio::io_context ioc(threads);
    memcoro::client mc(ioc.get_executor(), options);
    failures f;
    std::atomic<int> remaining = worker_count;
    for (int i = 0; i < worker_count; ++i) {
        asio::co_spawn(ioc, worker(mc, i, f), [&](std::exception_ptr e) {
            if (e) f.add("a worker ended with an exception");
            if (--remaining == 0) mc.close();
        });
    }
    std::vector<std::thread> pool;
    for (int t = 1; t < threads; ++t) pool.emplace_back([&] { ioc.run_for(120s); });
    ioc.run_for(120s);
    for (auto& t : pool) t.join();
    CHECK(remaining.load() == 0);
    f.report();
    // Every request reached the server, once: per worker, 8 keys read (3 get, gets, the
    // neighbour, 2 by get_many, the appended value) and 2 stored.
    CHECK(std::stol(memcoro::test::raw_stat(server, "cmd_get")) - gets_before == 8L * worker_count);
    CHECK(std::stol(memcoro::test::raw_stat(server, "cmd_set")) - sets_before == 2L * worker_count);
}

// run_workers in each wire mode, on a flushed server each time.
void run_workers_in_each_mode(int threads) {
    memcached_server server;
    for (auto mode : all_modes) {
        const std::string mode_name = name_of(mode);
        CAPTURE(mode_name);
        memcoro::test::flush(server);
        run_workers(server, patient_options(server, mode), threads);
    }
}

}  // namespace

TEST_CASE("1,000 concurrent coroutines on one client, one thread") {
    run_workers_in_each_mode(1);
}

TEST_CASE("1,000 concurrent coroutines on one client, io_context run by 2 threads") {
    run_workers_in_each_mode(2);
}

// Threads outside the event loop start operations on one connection while the loop's two
// threads read and complete others: an operation started while another thread holds the
// connection is left for that thread to take in (connection::submit). Every operation
// must complete once, with its own reply, and the calls of one thread must reach the
// server in the order they were made: a noreply set and the get right behind it, not
// waited for in between, must see that set.
TEST_CASE("operations started from several threads at once keep each thread's order") {
    memcached_server server;
    for (auto mode : all_modes) {
        const std::string mode_name = name_of(mode);
        CAPTURE(mode_name);
        memcoro::test::flush(server);
        asio::io_context ioc(2);
        memcoro::client mc(ioc.get_executor(), patient_options(server, mode));
        auto work = asio::make_work_guard(ioc);
        std::vector<std::thread> loop;
        for (int t = 0; t < 2; ++t) loop.emplace_back([&] { ioc.run_for(120s); });

        constexpr int callers = 4;
        constexpr int rounds = 2000;
        failures f;
        std::atomic<int> completed = 0;
        std::vector<std::thread> threads;
        for (int t = 0; t < callers; ++t) {
            threads.emplace_back([&, t] {
                const std::string key = "order-" + std::to_string(t);
                for (int i = 0; i < rounds; ++i) {
                    std::string value = key + "-" + std::to_string(i);
                    // An rvalue: the operation keeps its own copy of the value.
                    mc.set(key, std::string(value), {.noreply = true},
                           [&f, &completed, key](error_code ec, bool stored) {
                               if (ec || !stored) f.add(key + ": noreply set failed");
                               ++completed;
                           });
                    mc.get(key, [&f, &completed, key, value](error_code ec,
                                                             std::optional<memcoro::item> it) {
                        if (ec || !it || it->value() != value) {
                            f.add(key + ": expected " + value + ", got " +
                                  (it ? std::string(it->value()) : "a miss or an error"));
                        }
                        ++completed;
                    });
                }
            });
        }
        for (auto& t : threads) t.join();
        // Every call has been made; wait for the last completions, then let the loop end.
        const auto give_up = std::chrono::steady_clock::now() + 60s;
        while (completed.load() < 2 * callers * rounds &&
               std::chrono::steady_clock::now() < give_up) {
            std::this_thread::sleep_for(1ms);
        }
        mc.close();
        work.reset();
        for (auto& t : loop) t.join();
        CHECK(completed.load() == 2 * callers * rounds);
        f.report();
    }
}

TEST_CASE("noreply requests, then reads that see them") {
    memcached_server server;
    for (auto mode : all_modes) {
        const std::string mode_name = name_of(mode);
        CAPTURE(mode_name);
        memcoro::test::flush(server);
        run_client(options_for(server, mode), [](memcoro::client& mc) -> asio::awaitable<void> {
            constexpr int count = 200;
            std::vector<std::string> keys;
            std::vector<std::string> values;
            for (int i = 0; i < count; ++i) {
                keys.push_back("nr-" + std::to_string(i));
                values.push_back(
                    value_for(keys.back(), filler_for(static_cast<std::uint32_t>(i)) / 4));
            }
            for (int i = 0; i < count; ++i) {
                CHECK(co_await mc.set(keys[i], values[i], {.noreply = true}));
            }
            for (int i = 0; i < count; ++i) CHECK(value_of(co_await mc.get(keys[i])) == values[i]);

            // A noreply request whose outcome is a refusal still reports success, and
            // the reply it never gets does not shift the replies of the others.
            CHECK(co_await mc.add(keys[0], "not-added", {.noreply = true}));
            CHECK(value_of(co_await mc.get(keys[0])) == values[0]);
            CHECK(co_await mc.replace("nr-absent", "x", {.noreply = true}));
            CHECK_FALSE(co_await mc.get("nr-absent"));
            CHECK(co_await mc.set(keys[1], "overwritten", {.flags = 4, .noreply = true}));
            auto over = co_await mc.get(keys[1]);
            CHECK(value_of(over) == "overwritten");
            CHECK((over && over->flags() == 4));

            // Other commands with noreply.
            CHECK(co_await mc.set("nr-n", 5));
            CHECK(co_await mc.incr("nr-n", 10, {.noreply = true}) == std::nullopt);
            CHECK(co_await mc.get<int>("nr-n") == 15);
            // What delete returns with noreply is not documented; only its effect is.
            (void)co_await mc.remove(keys[2], {.noreply = true});
            CHECK_FALSE(co_await mc.get(keys[2]));
            CHECK(co_await mc.touch(keys[3], 100s, {.noreply = true}));
            CHECK(value_of(co_await mc.get(keys[3])) == values[3]);

            // noreply writes and reads of the same keys in flight together.
            using namespace asio::experimental::awaitable_operators;
            auto [stored, read] =
                co_await (mc.set("nr-race", "first", {.noreply = true}) && mc.get("nr-race"));
            CHECK(stored);
            CHECK(value_of(read) == "first");  // requests go out in the order they start
        });
    }
}

TEST_CASE("noreply sets from many coroutines at once, then gets") {
    memcached_server server;
    for (auto mode : all_modes) {
        const std::string mode_name = name_of(mode);
        CAPTURE(mode_name);
        memcoro::test::flush(server);
        asio::io_context ioc;
        memcoro::client mc(ioc.get_executor(), options_for(server, mode));
        failures f;
        int remaining = 300;
        for (int i = 0; i < 300; ++i) {
            auto body = [&mc, &f, i]() -> asio::awaitable<void> {
                const std::string key = "nrc-" + std::to_string(i);
                const std::string value = value_for(key, filler_for(static_cast<std::uint32_t>(i)));
                if (!co_await mc.set(key, value, {.noreply = true})) f.add(key + ": false");
                auto it = co_await mc.get(key);
                if (value_of(it) != value) f.add(key + ": not seen after its noreply set");
            };
            asio::co_spawn(ioc, body, [&](std::exception_ptr e) {
                if (e) f.add("a coroutine threw");
                if (--remaining == 0) mc.close();
            });
        }
        ioc.run_for(60s);
        CHECK(remaining == 0);
        f.report();
    }
}

TEST_CASE("values of exactly max_value_size against a server with -I 2m") {
    memcached_server server(std::vector<std::string>{"-I", "2m"});
    for (auto mode : all_modes) {
        const std::string mode_name = name_of(mode);
        CAPTURE(mode_name);
        memcoro::test::flush(server);
        for (std::size_t max : {std::size_t{1024 * 1024}, std::size_t{1536 * 1024}}) {
            CAPTURE(max);
            auto options = options_for(server, mode);
            options.max_value_size = max;
            run_client(options, [max](memcoro::client& mc) -> asio::awaitable<void> {
                const std::string at_max = value_for("at-max", max - 16).substr(0, max);
                REQUIRE(at_max.size() == max);
                CHECK(co_await mc.set("at-max", at_max, {.flags = 1}));
                auto it = co_await mc.get("at-max");
                REQUIRE(it);
                CHECK(it->value().size() == max);
                CHECK(it->value() == at_max);
                CHECK(it->flags() == 1);
                auto with_cas = co_await mc.gets("at-max");
                CHECK(value_of(with_cas) == at_max);
                const std::vector<std::string_view> keys{"at-max", "none", "at-max"};
                auto many = co_await mc.get_many(keys);
                REQUIRE(many.size() == 2);
                CHECK(many[0].value() == at_max);
                CHECK(many[1].value() == at_max);

                // One byte more is refused before it is sent; the client goes on.
                const std::string over(max + 1, 'o');
                auto [ec, stored] =
                    co_await mc.set("over", over, {}, asio::as_tuple(asio::use_awaitable));
                CHECK(ec == memcoro::error::value_too_large);
                CHECK(co_await mc.set("small", "s"));
                CHECK(value_of(co_await mc.get("small")) == "s");
            });
        }
    }
}

TEST_CASE("1 MiB values round-trip, several in flight at once") {
    memcached_server server(std::vector<std::string>{"-I", "2m", "-m", "256"});
    for (auto mode : all_modes) {
        const std::string mode_name = name_of(mode);
        CAPTURE(mode_name);
        memcoro::test::flush(server);
        asio::io_context ioc;
        auto options = options_for(server, mode);
        options.op_timeout = 60s;
        options.connect_timeout = 30s;  // building the values delays the connect's handlers
        memcoro::client mc(ioc.get_executor(), options);
        failures f;
        constexpr int count = 12;
        int remaining = count;
        for (int i = 0; i < count; ++i) {
            auto body = [&mc, &f, i]() -> asio::awaitable<void> {
                const std::string key = "mib-" + std::to_string(i);
                const std::string value = value_for(key, 1024 * 1024).substr(0, 1024 * 1024);
                if (!co_await mc.set(key, value)) f.add(key + ": not stored");
                for (int round = 0; round < 2; ++round) {
                    auto it = co_await mc.get(key);
                    if (!it || it->value() != value) f.add(key + ": wrong value back");
                }
            };
            asio::co_spawn(ioc, body, [&](std::exception_ptr e) {
                if (e) f.add("a coroutine threw");
                if (--remaining == 0) mc.close();
            });
        }
        ioc.run_for(120s);
        CHECK(remaining == 0);
        f.report();
    }
}

TEST_CASE("a stored value larger than the client's maximum fails that read only") {
    memcached_server server(std::vector<std::string>{"-I", "2m"});
    const std::string huge(1536 * 1024, 'h');
    CHECK(server.roundtrip(memcoro::test::raw_set("huge", huge), "\r\n") == "STORED\r\n");
    for (auto mode : all_modes) {
        const std::string mode_name = name_of(mode);
        CAPTURE(mode_name);
        run_client(options_for(server, mode), [](memcoro::client& mc) -> asio::awaitable<void> {
            CHECK(co_await mc.set("small", "s"));
            auto [ec, it] = co_await mc.get("huge", asio::as_tuple(asio::use_awaitable));
            CHECK(ec == memcoro::error::reply_too_large);
            CHECK_FALSE(it);
            CHECK(value_of(co_await mc.get("small")) == "s");
        });
    }
}

TEST_CASE("a unix-socket server: every basic command") {
    memcached_server::options unix_options;
    unix_options.unix_socket = true;
    memcached_server server(unix_options);
    REQUIRE_FALSE(server.socket_path().empty());
    for (auto mode : all_modes) {
        for (const std::string& address : {server.socket_path(), "unix:" + server.socket_path()}) {
            const std::string mode_name = name_of(mode);
            CAPTURE(mode_name);
            CAPTURE(address);
            memcoro::test::flush(server);
            auto options = options_for(server, mode);
            options.server = address;
            run_client(options, [&server](memcoro::client& mc) -> asio::awaitable<void> {
                CHECK(co_await mc.set("u", "unix", {.flags = 8}));
                auto it = co_await mc.get("u");
                CHECK(value_of(it) == "unix");
                CHECK((it && it->flags() == 8));
                CHECK(memcoro::test::raw_get(server, "u") == "VALUE u 8 4\r\nunix\r\nEND\r\n");
                auto with_cas = co_await mc.gets("u");
                REQUIRE(with_cas);
                CHECK(co_await mc.cas("u", "swapped", with_cas->cas()) ==
                      memcoro::cas_result::stored);
                CHECK(co_await mc.cas("u", "again", with_cas->cas()) ==
                      memcoro::cas_result::exists);
                CHECK(co_await mc.add("ua", "added"));
                CHECK_FALSE(co_await mc.add("ua", "twice"));
                CHECK(co_await mc.replace("ua", "replaced"));
                CHECK(co_await mc.append("ua", ">"));
                CHECK(co_await mc.prepend("ua", "<"));
                CHECK(value_of(co_await mc.get("ua")) == "<replaced>");
                CHECK(co_await mc.set("un", 1));
                CHECK(co_await mc.incr("un", 41) == 42u);
                CHECK(co_await mc.decr("un", 2) == 40u);
                CHECK(co_await mc.touch("un", 100s));
                CHECK(value_of(co_await mc.gat("un", 100s)) == "40");
                CHECK(value_of(co_await mc.gats("un", 100s)) == "40");

                const std::vector<memcoro::key_value> batch{{"ub1", "1"}, {"ub2", "2"}};
                CHECK((co_await mc.set_many(batch)).empty());
                const std::vector<std::string_view> keys{"ub1", "missing", "ub2"};
                auto hits = co_await mc.get_many(keys);
                REQUIRE(hits.size() == 2);
                CHECK(hits[0].key() == "ub1");
                CHECK(hits[1].value() == "2");
                CHECK((co_await mc.gets_many(keys)).size() == 2);
                CHECK(co_await mc.remove_many(keys) == 2u);
                CHECK(co_await mc.remove("ua"));
                CHECK_FALSE(co_await mc.remove("ua"));

                // A large value, read straight into its item.
                const std::string large = value_for("ularge", 500 * 1024);
                CHECK(co_await mc.set("ularge", large));
                CHECK(value_of(co_await mc.get("ularge")) == large);

                CHECK((co_await mc.version()).starts_with("1.6.18"));
                auto stats = co_await mc.stats();
                CHECK_FALSE(stats.empty());
                co_await mc.verbosity(0);
                CHECK(co_await mc.set("uq", "x", {.noreply = true}));
                co_await mc.flush_all();
                CHECK_FALSE(co_await mc.get("uq"));
                co_await mc.quit();
                CHECK(co_await mc.set("after-quit", "reconnected"));
                CHECK(value_of(co_await mc.get("after-quit")) == "reconnected");
            });
        }
    }
}
