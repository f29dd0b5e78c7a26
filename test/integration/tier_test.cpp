// A client of several real memcached servers: the server list, fan-out of multi-key
// calls, server commands per server, pools.
#include <doctest/doctest.h>

#include <atomic>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/system/system_error.hpp>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "support/constructor_refusal.hpp"
#include "tier_common.hpp"

using namespace std::chrono_literals;
namespace asio = boost::asio;
using boost::system::error_code;
using memcoro::test::memcached_server;
using memcoro::test::raw_get;
using memcoro::test::run_client;
using memcoro::test::value_of;

namespace {

using memcoro::test::tier;

std::string key_n(std::size_t i) {
    return "tier:" + std::to_string(i);
}

std::string what_of(const memcoro::client_options& o) {
    const auto e = memcoro::test::constructor_refusal(o);
    if (!e) return "<accepted>";
    CHECK(e->code() == memcoro::error::invalid_argument);
    return e->what();
}

}  // namespace

TEST_CASE("a bad server list is refused by the constructor, naming the entry") {
    memcoro::client_options both;
    both.server = "127.0.0.1:1";
    both.servers = {{"127.0.0.1:2"}};
    CHECK(what_of(both).find("not both") != std::string::npos);

    memcoro::client_options none;
    none.server = "";
    CHECK(what_of(none).find("no server") != std::string::npos);

    memcoro::client_options zero;
    zero.servers = {{"127.0.0.1:2"}, {"127.0.0.1:3", 0}};
    CHECK(what_of(zero).find("servers[1] \"127.0.0.1:3\": weight 0") != std::string::npos);

    memcoro::client_options dup;
    dup.servers = {{"127.0.0.1:11211"}, {"localhost:5"}, {"127.0.0.1"}};
    CHECK(what_of(dup).find("servers[2] \"127.0.0.1\": the same server as servers[0]") !=
          std::string::npos);

    memcoro::client_options bad;
    bad.servers = {{"127.0.0.1:2"}, {"127.0.0.1:99999"}};
    CHECK(what_of(bad).find("servers[1] \"127.0.0.1:99999\": malformed") != std::string::npos);

    memcoro::client_options weighted;
    weighted.servers = {{"127.0.0.1:2"}, {"127.0.0.1:3", 2}};
    weighted.distribution = memcoro::distribution::rendezvous;
    CHECK(what_of(weighted).find("servers[1] \"127.0.0.1:3\": weight 2") != std::string::npos);

    memcoro::client_options no_pool;
    no_pool.connections_per_server = 0;
    CHECK(what_of(no_pool).find("connections_per_server") != std::string::npos);
}

TEST_CASE("every key lands on exactly one server, and every server gets some") {
    for (const auto dist : {memcoro::distribution::ketama, memcoro::distribution::rendezvous,
                            memcoro::distribution::modula}) {
        tier t;
        auto o = t.options();
        o.distribution = dist;
        o.key_prefix = "p:";
        CAPTURE(static_cast<int>(dist));
        run_client(o, [&](memcoro::client& mc) -> asio::awaitable<void> {
            for (std::size_t i = 0; i < 60; ++i) co_await mc.set(key_n(i), key_n(i));
            std::vector<std::size_t> per_server(3);
            for (std::size_t i = 0; i < 60; ++i) {
                const auto on = t.holders("p:" + key_n(i));
                REQUIRE(on.size() == 1);
                ++per_server[on.front()];
                CHECK(value_of(co_await mc.get(key_n(i))) == key_n(i));
            }
            for (const auto n : per_server) CHECK(n > 0);
        });
    }
}

TEST_CASE("a user-supplied distribution places every key") {
    tier t;
    auto o = t.options();
    o.custom_distribution = [](std::string_view key) -> std::size_t {
        return key.ends_with("2") ? 2 : 0;
    };
    run_client(o, [&](memcoro::client& mc) -> asio::awaitable<void> {
        co_await mc.set("a2", "x");
        co_await mc.set("a1", "y");
        CHECK(t.holders("a2") == std::vector<std::size_t>{2});
        CHECK(t.holders("a1") == std::vector<std::size_t>{0});
    });
}

TEST_CASE("multi-key calls fan out to every server and keep request order") {
    for (const auto mode : memcoro::test::explicit_modes) {
        tier t;
        CAPTURE(memcoro::test::name_of(mode));
        run_client(t.options(mode), [&](memcoro::client& mc) -> asio::awaitable<void> {
            std::vector<std::string> keys;
            for (std::size_t i = 0; i < 40; ++i) keys.push_back(key_n(i));
            std::vector<memcoro::key_value> items;
            for (std::size_t i = 0; i < keys.size(); i += 2) items.push_back({keys[i], keys[i]});
            const auto refused = co_await mc.set_many(items);
            CHECK(refused.empty());

            // Asked: every key, one twice, in an order unlike the servers'.
            std::vector<std::string_view> ask;
            for (std::size_t i = keys.size(); i-- > 0;) ask.push_back(keys[i]);
            ask.push_back(keys[0]);
            const auto hits = co_await mc.get_many(ask);
            std::vector<std::string> expected;
            for (const auto k : ask) {
                const std::size_t i = std::stoul(std::string(k.substr(5)));
                if (i % 2 == 0) expected.emplace_back(k);
            }
            REQUIRE(hits.size() == expected.size());
            for (std::size_t i = 0; i < hits.size(); ++i) {
                CHECK(hits[i].key() == expected[i]);
                CHECK(hits[i].value() == expected[i]);
            }
            const auto with_cas = co_await mc.gets_many(ask);
            REQUIRE(with_cas.size() == expected.size());
            for (const auto& it : with_cas) CHECK(it.cas() != 0);

            // The servers really got their own keys.
            std::size_t servers_used = 0;
            for (const auto& s : t.servers) {
                servers_used += memcoro::test::raw_stat(*s, "curr_items") != "0" ? 1 : 0;
            }
            CHECK(servers_used == 3);

            std::vector<std::string_view> all(keys.begin(), keys.end());
            CHECK(co_await mc.remove_many(all) == items.size());
            CHECK((co_await mc.get_many(all)).empty());
        });
    }
}

// The parent of a fanned-out get_many matches each child's hits back to request
// positions: duplicates next to each other, a child whose first keys miss, a call whose
// keys all live on one server, and more keys than its inline tables hold.
TEST_CASE("get_many over a tier: duplicates, misses, keys of one server, many keys") {
    for (const auto mode : memcoro::test::explicit_modes) {
        tier t;
        CAPTURE(memcoro::test::name_of(mode));
        run_client(t.options(mode), [&](memcoro::client& mc) -> asio::awaitable<void> {
            // Even keys are stored, odd ones are misses.
            std::vector<std::string> keys;
            for (std::size_t i = 0; i < 300; ++i) keys.push_back(key_n(i));
            for (std::size_t i = 0; i < keys.size(); i += 2) co_await mc.set(keys[i], keys[i]);
            const auto is_hit = [](std::string_view k) {
                return std::stoul(std::string(k.substr(5))) % 2 == 0;
            };
            std::vector<std::string_view> ask;
            std::vector<std::string> expected;
            std::vector<memcoro::item> hits;
            const auto check_hits = [&](bool cas) {
                REQUIRE(hits.size() == expected.size());
                for (std::size_t i = 0; i < hits.size(); ++i) {
                    CHECK(hits[i].key() == expected[i]);
                    CHECK(hits[i].value() == expected[i]);
                    if (cas) CHECK(hits[i].cas() != 0);
                }
            };
            const auto expect = [&] {
                expected.clear();
                for (const auto k : ask) {
                    if (is_hit(k)) expected.emplace_back(k);
                }
            };

            // Misses first, a hit three times in a row, a miss twice, every key once more.
            ask = {keys[1], keys[3], keys[4], keys[4], keys[4], keys[7], keys[7], keys[2]};
            for (std::size_t i = keys.size(); i-- > 0;) ask.push_back(keys[i]);
            expect();
            hits = co_await mc.get_many(ask);
            check_hits(false);
            hits = co_await mc.gets_many(ask);
            check_hits(true);

            // Keys of one server only, hits and misses, in one request to it.
            std::vector<std::string_view> on_one;
            for (std::size_t i = 0; i < keys.size(); i += 2) {
                if (t.holders(keys[i]) == std::vector<std::size_t>{1}) {
                    on_one.push_back(keys[i]);
                    on_one.push_back(keys[i + 1]);
                }
            }
            REQUIRE(!on_one.empty());
            ask = on_one;
            expect();
            hits = co_await mc.get_many(ask);
            check_hits(false);

            // Only misses, on every server.
            ask = {keys[299], keys[1], keys[151]};
            CHECK((co_await mc.get_many(ask)).empty());

            std::vector<memcoro::key_value> one_server_items;
            for (const auto k : on_one) one_server_items.push_back({k, "again"});
            CHECK((co_await mc.set_many(one_server_items)).empty());
            CHECK(value_of(co_await mc.get(on_one.back())) == "again");
            CHECK(co_await mc.remove_many(on_one) == on_one.size());
            CHECK((co_await mc.get_many(on_one)).empty());
        });
    }
}

TEST_CASE("server commands address one server or every one, and name the server") {
    tier t;
    run_client(t.options(), [&](memcoro::client& mc) -> asio::awaitable<void> {
        for (std::size_t i = 0; i < 30; ++i) co_await mc.set(key_n(i), "v");
        const auto versions = co_await mc.version_each();
        REQUIRE(versions.size() == 3);
        for (std::size_t i = 0; i < 3; ++i) {
            CHECK(versions[i].index == i);
            CHECK(versions[i].address == t.servers[i]->address());
            CHECK(!versions[i].error);
            CHECK(versions[i].value.starts_with("1."));
        }
        const auto stats = co_await mc.stats_each();
        REQUIRE(stats.size() == 3);
        for (const auto& s : stats) CHECK(!s.value.empty());

        // One server's stats by its index; without one, the call is ambiguous.
        const auto one = co_await mc.stats("", {.server = 1});
        CHECK(!one.empty());
        auto [ec, none] = co_await mc.stats("", {}, asio::as_tuple(asio::use_awaitable));
        CHECK(ec == memcoro::error::invalid_argument);
        auto [ec2, v] = co_await mc.version({.server = 7}, asio::as_tuple(asio::use_awaitable));
        CHECK(ec2 == memcoro::error::invalid_argument);

        co_await mc.verbosity(0);
        co_await mc.flush_all();
        for (std::size_t i = 0; i < 30; ++i) CHECK(t.holders(key_n(i)).empty());
        // flush_all to one server only.
        co_await mc.set("only", "x");
        const auto home = t.holders("only").front();
        co_await mc.flush_all({}, {.server = (home + 1) % 3});
        CHECK(t.holders("only") == std::vector<std::size_t>{home});
    });
}

TEST_CASE("a pool of connections per server: all used under load, status reports them") {
    tier t(2);
    auto o = t.options();
    o.connections_per_server = 2;
    run_client(o, [&](memcoro::client& mc) -> asio::awaitable<void> {
        auto ex = co_await asio::this_coro::executor;
        std::size_t done = 0;
        std::size_t wrong = 0;
        for (std::size_t w = 0; w < 64; ++w) {
            asio::co_spawn(
                ex,
                [&, w]() -> asio::awaitable<void> {
                    for (std::size_t i = 0; i < 50; ++i) {
                        const auto k = key_n(w * 1000 + i);
                        co_await mc.set(k, k);
                        if (value_of(co_await mc.get(k)) != k) ++wrong;
                    }
                    ++done;
                },
                asio::detached);
        }
        while (done < 64) co_await memcoro::test::sleep_for(5ms);
        CHECK(wrong == 0);
        const auto status = mc.server_status();
        REQUIRE(status.size() == 2);
        for (std::size_t i = 0; i < 2; ++i) {
            CHECK(status[i].index == i);
            CHECK(status[i].address == t.servers[i]->address());
            CHECK(status[i].health == memcoro::server_status::state::alive);
            CHECK(status[i].open_connections == 2);
            CHECK(status[i].in_flight == 0);
            // Each connection took part: the server saw two clients.
            CHECK(std::stoi(memcoro::test::raw_stat(*t.servers[i], "curr_connections")) >= 3);
        }
    });
}

TEST_CASE("a list of one server is the single-server client") {
    memcached_server server;
    memcoro::client_options o;
    o.servers = {{server.address()}};
    run_client(o, [&](memcoro::client& mc) -> asio::awaitable<void> {
        co_await mc.set("k", "v");
        CHECK(value_of(co_await mc.get("k")) == "v");
        CHECK((co_await mc.stats()).size() > 10);
        CHECK((co_await mc.version()).starts_with("1."));
        const auto status = mc.server_status();
        REQUIRE(status.size() == 1);
        CHECK(status[0].open_connections == 1);
    });
}

// Thirty keys stored through `mc`, and a view of each.
struct stored_keys {
    std::vector<std::string> keys;
    std::vector<std::string_view> views;
};
asio::awaitable<stored_keys> store_keys(memcoro::client& mc) {
    stored_keys out;
    for (std::size_t i = 0; i < 30; ++i) out.keys.push_back(key_n(i));
    out.views.assign(out.keys.begin(), out.keys.end());
    for (const auto& k : out.keys) co_await mc.set(k, k);
    co_return out;
}

TEST_CASE("a fanned-out call: cancelled as a whole, timed out as a whole, misses elsewhere") {
    tier t;
    auto o = t.options();
    o.failure_limit = 0;  // this test is about one call, not about marking servers dead
    run_client(o, [&](memcoro::client& mc) -> asio::awaitable<void> {
        const auto [keys, all] = co_await store_keys(mc);
        t.servers[1]->pause();

        // The user's cancellation reaches the child waiting on the hung server.
        asio::cancellation_signal signal;
        error_code cancelled;
        bool done = false;
        mc.get_many(all, {},
                    asio::bind_cancellation_slot(signal.slot(),
                                                 [&](error_code ec, std::vector<memcoro::item>) {
                                                     cancelled = ec;
                                                     done = true;
                                                 }));
        co_await memcoro::test::sleep_for(50ms);
        CHECK(!done);
        signal.emit(asio::cancellation_type::terminal);
        for (int i = 0; i < 100 && !done; ++i) co_await memcoro::test::sleep_for(5ms);
        CHECK(done);
        CHECK(cancelled == asio::error::operation_aborted);

        // Its own timeout fails the whole call.
        auto [ec, hits] =
            co_await mc.get_many(all, {.timeout = 100ms}, asio::as_tuple(asio::use_awaitable));
        CHECK(ec == memcoro::error::timeout);
        t.servers[1]->resume();
    });

    // With errors_as_misses, the other servers' hits come back.
    o.errors_as_misses = true;
    run_client(o, [&](memcoro::client& mc) -> asio::awaitable<void> {
        const auto [keys, all] = co_await store_keys(mc);
        t.servers[1]->pause();
        const auto hits = co_await mc.get_many(all, {.timeout = 100ms});
        t.servers[1]->resume();
        std::size_t on_others = 0;
        for (const auto& k : keys) on_others += t.holders(k) != std::vector<std::size_t>{1};
        CHECK(hits.size() == on_others);
        CHECK(!hits.empty());
    });
}

TEST_CASE("a tier client shared by two threads: pools, fan-out and status at once") {
    tier t;
    auto o = t.options();
    o.connections_per_server = 2;
    o.op_timeout = 60s;
    o.connect_timeout = 30s;  // the sanitizer builds are slow to start 200 workers
    asio::io_context ioc(2);
    memcoro::client mc(ioc.get_executor(), o);
    constexpr int workers = 200;
    std::atomic<int> remaining = workers;
    std::atomic<int> wrong = 0;
    std::atomic<int> failed = 0;
    for (int w = 0; w < workers; ++w) {
        auto work = [&mc, &wrong, w]() -> asio::awaitable<void> {
            const std::string a = key_n(static_cast<std::size_t>(w) * 2);
            const std::string b = key_n(static_cast<std::size_t>(w) * 2 + 1);
            for (int round = 0; round < 5; ++round) {
                const std::string va = a + "/" + std::to_string(round);
                co_await mc.set(a, va);
                co_await mc.set(b, b);
                if (value_of(co_await mc.get(a)) != va) ++wrong;
                const std::vector<std::string_view> both{a, b};
                const auto hits = co_await mc.get_many(both);
                if (hits.size() != 2 || hits[0].value() != va || hits[1].value() != b) ++wrong;
                if (mc.server_status().size() != 3) ++wrong;
            }
        };
        asio::co_spawn(ioc, work, [&](std::exception_ptr e) {
            if (e) ++failed;
            if (--remaining == 0) mc.close();
        });
    }
    std::thread second([&] { ioc.run_for(120s); });
    ioc.run_for(120s);
    second.join();
    CHECK(remaining.load() == 0);
    CHECK(failed.load() == 0);
    CHECK(wrong.load() == 0);
    // Every request reached a server once: per worker and round, one get and one get_many
    // of two keys, which may go to one server or two.
    long gets = 0;
    for (const auto& s : t.servers) gets += std::stol(memcoro::test::raw_stat(*s, "get_hits"));
    CHECK(gets == 3L * 5 * workers);
}
