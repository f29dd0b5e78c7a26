// Failover in a tier of real memcached servers: a server killed, restarted, hung.
#include <doctest/doctest.h>

#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <memory>
#include <string>
#include <vector>

#include "test_common.hpp"

using namespace std::chrono_literals;
namespace asio = boost::asio;
using boost::system::error_code;
using memcoro::test::memcached_server;
using memcoro::test::raw_get;
using memcoro::test::run_client;
using memcoro::test::sleep_for;
using memcoro::test::value_of;
using clock_type = std::chrono::steady_clock;

namespace {

struct tier {
    std::vector<std::unique_ptr<memcached_server>> servers;

    tier() {
        for (int i = 0; i < 3; ++i) servers.push_back(std::make_unique<memcached_server>());
    }

    memcoro::client_options options() const {
        memcoro::client_options o;
        for (const auto& s : servers) o.servers.push_back({s->address()});
        o.protocol = memcoro::wire_protocol::meta;
        o.op_timeout = 2s;
        o.connect_timeout = 500ms;
        o.failure_limit = 2;
        o.dead_timeout = 1s;
        return o;
    }

    // The server that holds `key` (set through the client beforehand).
    std::size_t home_of(std::string_view key) const {
        for (std::size_t i = 0; i < servers.size(); ++i) {
            if (servers[i]->running() && !servers[i]->paused() &&
                raw_get(*servers[i], key) != "END\r\n") {
                return i;
            }
        }
        return servers.size();
    }
};

std::string key_n(std::size_t i) {
    return "f:" + std::to_string(i);
}

// Some keys of each server: for every server, the first keys found on it.
asio::awaitable<std::vector<std::vector<std::string>>> keys_by_server(memcoro::client& mc,
                                                                      const tier& t) {
    std::vector<std::vector<std::string>> out(t.servers.size());
    for (std::size_t i = 0; i < 300; ++i) {
        co_await mc.set(key_n(i), key_n(i));
        const auto home = t.home_of(key_n(i));
        REQUIRE(home < out.size());
        if (out[home].size() < 20) out[home].push_back(key_n(i));
    }
    for (const auto& keys : out) REQUIRE(!keys.empty());
    co_return out;
}

asio::awaitable<memcoro::server_status::state> state_of(memcoro::client& mc, std::size_t i) {
    co_return mc.server_status()[i].health;
}

}  // namespace

TEST_CASE("a server killed under 1,000 coroutines: every operation ends, none with a wrong value") {
    tier t;
    run_client(t.options(), [&](memcoro::client& mc) -> asio::awaitable<void> {
        const auto keys = co_await keys_by_server(mc, t);
        auto ex = co_await asio::this_coro::executor;
        std::size_t finished = 0;
        std::size_t wrong = 0;
        std::size_t errors_on_victim = 0;
        std::size_t errors_elsewhere = 0;
        auto worst_elsewhere = clock_type::duration::zero();
        constexpr std::size_t workers = 1000;
        for (std::size_t w = 0; w < workers; ++w) {
            asio::co_spawn(
                ex,
                [&, w]() -> asio::awaitable<void> {
                    for (std::size_t round = 0; round < 6; ++round) {
                        const std::size_t server = (w + round) % 3;
                        const auto& k = keys[server][(w / 3) % keys[server].size()];
                        const auto start = clock_type::now();
                        error_code ec;
                        if (round % 3 == 2) {
                            auto [e, ok] =
                                co_await mc.set(k, k, {}, asio::as_tuple(asio::use_awaitable));
                            ec = e;
                        } else {
                            auto [e, it] = co_await mc.get(k, asio::as_tuple(asio::use_awaitable));
                            ec = e;
                            if (!e && it && it->value() != k) ++wrong;
                        }
                        if (server == 0) {
                            errors_on_victim += ec ? 1 : 0;
                        } else {
                            errors_elsewhere += ec ? 1 : 0;
                            worst_elsewhere = std::max(worst_elsewhere, clock_type::now() - start);
                        }
                        co_await sleep_for(10ms);
                    }
                    ++finished;
                },
                asio::detached);
        }
        co_await sleep_for(20ms);
        t.servers[0]->kill();
        const auto deadline = clock_type::now() + 30s;
        while (finished < workers && clock_type::now() < deadline) co_await sleep_for(10ms);
        CHECK(finished == workers);  // none hangs
        CHECK(wrong == 0);
        CHECK(errors_elsewhere == 0);
        CHECK(errors_on_victim > 0);
        // The healthy servers' operations never waited on the dead one's timeouts.
        CHECK(worst_elsewhere < 1s);
        CHECK(co_await state_of(mc, 0) != memcoro::server_status::state::alive);
    });
}

TEST_CASE("a dead server fails fast, and is used again after a restart without any call") {
    tier t;
    auto o = t.options();
    std::vector<std::pair<std::size_t, memcoro::server_status::state>> events;
    o.on_server_state = [&](const memcoro::server_status& s) {
        events.emplace_back(s.index, s.health);
    };
    run_client(o, [&](memcoro::client& mc) -> asio::awaitable<void> {
        const auto keys = co_await keys_by_server(mc, t);
        const auto& victim_key = keys[1].front();
        t.servers[1]->kill();
        // Failures until the limit: each a failed connect.
        for (int i = 0; i < 5 && co_await state_of(mc, 1) == memcoro::server_status::state::alive;
             ++i) {
            auto [ec, it] = co_await mc.get(victim_key, asio::as_tuple(asio::use_awaitable));
            CHECK(ec);
        }
        REQUIRE(co_await state_of(mc, 1) != memcoro::server_status::state::alive);
        const auto status = mc.server_status()[1];
        CHECK(status.dead_until > clock_type::now());

        // Dead: its keys fail at once with server_dead; the others' keys work.
        const auto start = clock_type::now();
        auto [ec, it] = co_await mc.get(victim_key, asio::as_tuple(asio::use_awaitable));
        CHECK(clock_type::now() - start < 1ms * 50);  // a post, not a timeout
        CHECK(ec == memcoro::error::server_dead);
        CHECK(value_of(co_await mc.get(keys[0].front())) == keys[0].front());
        // (Named: g++ 12 cannot keep an initializer list alive across a co_await.)
        const std::vector<std::string_view> both{keys[0].front(), victim_key};
        auto [ec2, hits] = co_await mc.get_many(both, {}, asio::as_tuple(asio::use_awaitable));
        CHECK(ec2 == memcoro::error::server_dead);

        t.servers[1]->restart();
        // Back within dead_timeout plus one probe, with no call from here.
        const auto deadline = clock_type::now() + o.dead_timeout + 3s;
        while (co_await state_of(mc, 1) != memcoro::server_status::state::alive &&
               clock_type::now() < deadline) {
            co_await sleep_for(20ms);
        }
        CHECK(co_await state_of(mc, 1) == memcoro::server_status::state::alive);
        co_await mc.set(victim_key, "again");
        CHECK(value_of(co_await mc.get(victim_key)) == "again");
        CHECK(t.home_of(victim_key) == 1);
    });
    REQUIRE(events.size() == 2);
    CHECK(events[0] == std::pair{std::size_t{1}, memcoro::server_status::state::dead});
    CHECK(events[1] == std::pair{std::size_t{1}, memcoro::server_status::state::alive});
}

TEST_CASE("a hung server times out, is marked dead, then fails fast until it continues") {
    tier t;
    auto o = t.options();
    o.op_timeout = 200ms;
    run_client(o, [&](memcoro::client& mc) -> asio::awaitable<void> {
        const auto keys = co_await keys_by_server(mc, t);
        const auto& victim_key = keys[2].front();
        t.servers[2]->pause();
        // Between timeouts the connection backs off (not_connected at once), then
        // connects again (the kernel accepts for a stopped process) and times out again.
        int timeouts = 0;
        const auto give_up = clock_type::now() + 10s;
        while (co_await state_of(mc, 2) == memcoro::server_status::state::alive &&
               clock_type::now() < give_up) {
            auto [ec, it] = co_await mc.get(victim_key, asio::as_tuple(asio::use_awaitable));
            CHECK(ec);
            if (ec == memcoro::error::timeout) ++timeouts;
            if (ec == memcoro::error::not_connected) co_await sleep_for(20ms);
        }
        CHECK(timeouts == static_cast<int>(o.failure_limit));
        REQUIRE(co_await state_of(mc, 2) != memcoro::server_status::state::alive);
        // Fast failures, well under a millisecond each on average.
        const auto start = clock_type::now();
        for (int i = 0; i < 100; ++i) {
            auto [ec, it] = co_await mc.get(victim_key, asio::as_tuple(asio::use_awaitable));
            CHECK(ec == memcoro::error::server_dead);
        }
        CHECK(clock_type::now() - start < 100ms);
        // The probe at dead_timeout finds it still hung: it stays dead.
        co_await sleep_for(o.dead_timeout + o.connect_timeout + o.op_timeout + 200ms);
        CHECK(co_await state_of(mc, 2) != memcoro::server_status::state::alive);

        t.servers[2]->resume();
        const auto deadline = clock_type::now() + 2 * o.dead_timeout + 3s;
        while (co_await state_of(mc, 2) != memcoro::server_status::state::alive &&
               clock_type::now() < deadline) {
            co_await sleep_for(20ms);
        }
        CHECK(co_await state_of(mc, 2) == memcoro::server_status::state::alive);
        CHECK(value_of(co_await mc.get(victim_key)) == victim_key);
    });
}

TEST_CASE("errors_as_misses: a dead server's keys are misses, in get and get_many") {
    tier t;
    auto o = t.options();
    o.errors_as_misses = true;
    o.failure_limit = 1;
    run_client(o, [&](memcoro::client& mc) -> asio::awaitable<void> {
        const auto keys = co_await keys_by_server(mc, t);
        t.servers[0]->kill();
        CHECK(!(co_await mc.get(keys[0].front())));  // the failing call itself: a miss
        CHECK(co_await state_of(mc, 0) != memcoro::server_status::state::alive);
        CHECK(!(co_await mc.get(keys[0].front())));
        const std::vector<std::string_view> one_each{keys[0].front(), keys[1].front(),
                                                     keys[2].front()};
        const auto hits = co_await mc.get_many(one_each);
        REQUIRE(hits.size() == 2);
        CHECK(hits[0].key() == keys[1].front());
        CHECK(hits[1].key() == keys[2].front());
    });
}

TEST_CASE("remap_dead_servers: a dead server's keys move to the others and come back") {
    for (const auto dist : {memcoro::distribution::ketama, memcoro::distribution::rendezvous,
                            memcoro::distribution::modula}) {
        CAPTURE(static_cast<int>(dist));
        tier t;
        auto o = t.options();
        o.distribution = dist;
        o.remap_dead_servers = true;
        o.failure_limit = 1;
        run_client(o, [&](memcoro::client& mc) -> asio::awaitable<void> {
            const auto keys = co_await keys_by_server(mc, t);
            const auto& moved = keys[0].front();
            t.servers[0]->kill();
            auto [ec, it] = co_await mc.get(moved, asio::as_tuple(asio::use_awaitable));
            CHECK(ec);  // the call that found it dead
            REQUIRE(co_await state_of(mc, 0) != memcoro::server_status::state::alive);
            co_await mc.set(moved, "moved");
            CHECK(value_of(co_await mc.get(moved)) == "moved");
            const auto home = t.home_of(moved);
            CHECK((home == 1 || home == 2));
            // The others' keys did not move.
            CHECK(value_of(co_await mc.get(keys[1].front())) == keys[1].front());

            t.servers[0]->restart();
            const auto deadline = clock_type::now() + o.dead_timeout + 3s;
            while (co_await state_of(mc, 0) != memcoro::server_status::state::alive &&
                   clock_type::now() < deadline) {
                co_await sleep_for(20ms);
            }
            REQUIRE(co_await state_of(mc, 0) == memcoro::server_status::state::alive);
            // Back home: the restarted server is empty, so a miss (the stale copy stays on
            // the other server: the consistency cost the README describes).
            CHECK(!(co_await mc.get(moved)));
        });
    }
}

TEST_CASE("read_retries: a get whose server failed under it is tried again elsewhere") {
    tier t;
    auto o = t.options();
    o.remap_dead_servers = true;
    o.failure_limit = 1;
    o.read_retries = 1;
    run_client(o, [&](memcoro::client& mc) -> asio::awaitable<void> {
        const auto keys = co_await keys_by_server(mc, t);
        t.servers[0]->kill();
        // Without retries this get would fail (its connect fails); with one, it goes to
        // the server the key is remapped to, where it is a miss.
        auto [ec, it] = co_await mc.get(keys[0].front(), asio::as_tuple(asio::use_awaitable));
        CHECK(!ec);
        CHECK(!it);
        CHECK(value_of(co_await mc.get(keys[1].front())) == keys[1].front());
    });
}
