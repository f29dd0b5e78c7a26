// Every client operation through twemproxy (nutcracker) with two memcached behind it, in
// wire_protocol::automatic (the `mn` probe makes the proxy hang up) and
// wire_protocol::twemproxy. What twemproxy carries works and lands on a backend; what it
// does not (it would hang up, failing every request in flight) fails with
// error::unsupported_command without being sent, and the connection stays up.
#include <doctest/doctest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/streambuf.hpp>
#include <cstdlib>
#include <string>
#include <vector>

#include "support/nutcracker_server.hpp"
#include "test_common.hpp"

using namespace std::chrono_literals;
namespace asio = boost::asio;
using memcoro::test::memcached_server;
using memcoro::test::nutcracker_server;

namespace {

constexpr std::array proxy_modes{memcoro::wire_protocol::automatic,
                                 memcoro::wire_protocol::twemproxy};

// Two memcached and nutcracker in front of them.
struct proxied {
    memcached_server a;
    memcached_server b;
    nutcracker_server proxy{{a.address(), b.address()}};

    memcoro::client_options options(memcoro::wire_protocol p) const {
        memcoro::client_options o;
        o.server = proxy.address();
        o.protocol = p;
        o.op_timeout = 10s;  // the sanitizer build is slow
        return o;
    }

    // Which backend holds `key` (checked behind the proxy's back): 'a', 'b', or '-'
    // when neither does, '2' when both do.
    char holder(const std::string& key) const {
        const bool in_a = memcoro::test::raw_get(a, key) != "END\r\n";
        const bool in_b = memcoro::test::raw_get(b, key) != "END\r\n";
        return in_a && in_b ? '2' : in_a ? 'a' : in_b ? 'b' : '-';
    }

    // A number the proxy's stats report for its pool: "client_connections" (open now),
    // "client_err" (connections it closed on a request it could not parse).
    long pool_stat(const std::string& stat) const {
        const std::string stats = proxy.stats();
        const std::string name = "\"" + stat + "\":";
        const auto at = stats.find(name);
        REQUIRE(at != std::string::npos);
        return std::strtol(stats.c_str() + at + name.size(), nullptr, 10);
    }
};

bool skip_without_nutcracker() {
    if (!nutcracker_server::find_binary().empty()) return false;
    MESSAGE("nutcracker is not installed (apt-get install nutcracker): test skipped");
    return true;
}

using memcoro::test::error_of;

const boost::system::error_code unsupported = memcoro::error::unsupported_command;

}  // namespace

TEST_CASE("the unsupported_command error names the proxy") {
    CHECK(unsupported.message() == "not supported by this server (a proxy such as twemproxy)");
}

TEST_CASE("twemproxy answers a get over two backends out of request order") {
    // Why get_many through it accepts hits in any order and sorts them back. It takes
    // a miss: without one the hits came in order.
    if (skip_without_nutcracker()) return;
    proxied servers;
    std::string request = "get";
    std::string in_order;
    for (int i = 0; i < 20; ++i) {
        if (i == 5) request += " no-such-key";
        const std::string k = "key-" + std::to_string(i);
        CHECK(servers.proxy.roundtrip(memcoro::test::raw_set(k, "v"), "\r\n") == "STORED\r\n");
        request += " " + k;
        in_order += "VALUE " + k + " 0 1\r\nv\r\n";
    }
    const std::string reply = servers.proxy.roundtrip(request + "\r\n", "END\r\n");
    CHECK(reply.size() == in_order.size() + 5);
    CHECK(reply != in_order + "END\r\n");
}

TEST_CASE("through twemproxy: what it carries works and lands on a backend") {
    if (skip_without_nutcracker()) return;
    proxied servers;
    for (auto mode : proxy_modes) {
        CAPTURE(memcoro::test::name_of(mode));
        memcoro::test::flush(servers.a);
        memcoro::test::flush(servers.b);
        memcoro::test::run_client(
            servers.options(mode), [&](memcoro::client& mc) -> asio::awaitable<void> {
                // Twenty keys: ketama puts some on each backend.
                std::vector<std::string> keys;
                for (int i = 0; i < 20; ++i) keys.push_back("key-" + std::to_string(i));
                for (const auto& k : keys) {
                    CHECK(co_await mc.set(k, "v-" + k, {.flags = 3}));
                }
                int on_a = 0;
                int on_b = 0;
                for (const auto& k : keys) {
                    const char where = servers.holder(k);
                    CAPTURE(k);
                    CHECK((where == 'a' || where == 'b'));
                    (where == 'a' ? on_a : on_b) += 1;
                    auto it = co_await mc.get(k);
                    REQUIRE(it);
                    CHECK(it->value() == "v-" + k);
                    CHECK(it->flags() == 3);
                }
                CHECK(on_a > 0);
                CHECK(on_b > 0);

                // One get over both backends, a miss in the middle: request order.
                std::vector<std::string_view> views(keys.begin(), keys.end());
                views.insert(views.begin() + 5, "no-such-key");
                auto hits = co_await mc.get_many(views);
                REQUIRE(hits.size() == keys.size());
                for (std::size_t i = 0; i < keys.size(); ++i) {
                    CHECK(hits[i].key() == keys[i]);
                    CHECK(hits[i].value() == "v-" + keys[i]);
                }
                auto with_cas = co_await mc.gets_many(views);
                REQUIRE(with_cas.size() == keys.size());
                for (const auto& it : with_cas) CHECK(it.cas() != 0);

                // gets and cas.
                auto g = co_await mc.gets("key-1");
                REQUIRE(g);
                CHECK(co_await mc.cas("key-1", "swapped", g->cas()) == memcoro::cas_result::stored);
                CHECK(co_await mc.cas("key-1", "late", g->cas()) == memcoro::cas_result::exists);
                CHECK(co_await mc.cas("absent", "x", 1) == memcoro::cas_result::not_found);
                CHECK(memcoro::test::value_of(co_await mc.get("key-1")) == "swapped");

                // The other storage commands.
                CHECK_FALSE(co_await mc.add("key-2", "again"));
                CHECK(co_await mc.add("fresh", "new"));
                CHECK(servers.holder("fresh") != '-');
                CHECK(co_await mc.replace("fresh", "newer"));
                CHECK_FALSE(co_await mc.replace("absent", "x"));
                CHECK(co_await mc.append("fresh", "-tail"));
                CHECK(co_await mc.prepend("fresh", "head-"));
                CHECK(memcoro::test::value_of(co_await mc.get("fresh")) == "head-newer-tail");
                const std::vector<memcoro::key_value> batch{
                    {"m-1", "one"}, {"m-2", "two"}, {"m-3", "three"}};
                CHECK((co_await mc.set_many(batch)).empty());
                CHECK(memcoro::test::value_of(co_await mc.get("m-3")) == "three");

                // get_into and get<T>.
                asio::streambuf buffer;
                auto info = co_await mc.get_into("fresh", buffer);
                REQUIRE(info);
                CHECK(info->size == 15);
                CHECK(co_await mc.set("counter", 10));
                CHECK(co_await mc.get<int>("counter") == 10);

                // incr, decr, touch, delete.
                CHECK(co_await mc.incr("counter", 5) == 15u);
                CHECK(co_await mc.decr("counter", 20) == 0u);
                CHECK(co_await mc.incr("absent", 1) == std::nullopt);
                CHECK(co_await mc.touch("fresh", 100s));
                CHECK_FALSE(co_await mc.touch("absent", 100s));
                CHECK(co_await mc.remove("fresh"));
                CHECK_FALSE(co_await mc.remove("fresh"));
                CHECK(servers.holder("fresh") == '-');
                const std::vector<std::string_view> gone{"m-1", "m-2", "absent"};
                CHECK(co_await mc.remove_many(gone) == 2);

                // noreply: done once written; the effect is read back through the proxy.
                const memcoro::call_options quiet{.noreply = true};
                CHECK(co_await mc.set("nr", "x", {.noreply = true}));
                CHECK(co_await mc.append("nr", "y", {.noreply = true}));
                CHECK(co_await mc.set("nr-count", 7, {.noreply = true}));
                CHECK(co_await mc.incr("nr-count", 2, quiet) == std::nullopt);
                CHECK(co_await mc.decr("nr-count", 1, quiet) == std::nullopt);
                CHECK(co_await mc.touch("nr", 100s, quiet));
                CHECK(memcoro::test::value_of(co_await mc.get("nr")) == "xy");
                CHECK(co_await mc.get<int>("nr-count") == 8);
                CHECK(co_await mc.remove("nr", quiet));
                CHECK_FALSE(co_await mc.get("nr"));

                // version is answered by a backend; quit closes, the next call reconnects.
                CHECK(co_await mc.version() == "1.6.18");
                co_await mc.quit();
                CHECK(memcoro::test::value_of(co_await mc.get("m-3")) == "three");
            });
    }
}

TEST_CASE("through twemproxy: what it does not carry fails unsent and the connection stays") {
    if (skip_without_nutcracker()) return;
    proxied servers;
    for (auto mode : proxy_modes) {
        CAPTURE(memcoro::test::name_of(mode));
        memcoro::test::run_client(
            servers.options(mode), [&](memcoro::client& mc) -> asio::awaitable<void> {
                CHECK(co_await mc.set("k", "v"));
                co_await memcoro::test::sleep_for(300ms);  // the proxy's stats catch up
                const long hung_up = servers.pool_stat("client_err");
                CHECK(servers.pool_stat("client_connections") == 1);

                const memcoro::call_options quiet{.noreply = true};
                CHECK(co_await error_of(mc.gat("k", 100s)) == unsupported);
                CHECK(co_await error_of(mc.gats("k", 100s)) == unsupported);
                CHECK(co_await error_of(mc.stats()) == unsupported);
                CHECK(co_await error_of(mc.stats("settings")) == unsupported);
                CHECK(co_await error_of(mc.flush_all()) == unsupported);
                CHECK(co_await error_of(mc.flush_all(0s, quiet)) == unsupported);
                CHECK(co_await error_of(mc.verbosity(1)) == unsupported);
                CHECK(co_await error_of(mc.verbosity(1, quiet)) == unsupported);
                CHECK(co_await error_of(mc.cache_memlimit(64)) == unsupported);
                CHECK(co_await error_of(mc.cache_memlimit(64, quiet)) == unsupported);
                // memcached's success for shutdown is hanging up, and so is twemproxy's
                // answer to a command it does not know: it must not pass for success.
                CHECK(co_await error_of(mc.shutdown()) == unsupported);
                CHECK(co_await error_of(mc.shutdown(true)) == unsupported);
                // The meta calls: twemproxy speaks text only.
                CHECK(co_await error_of(mc.meta_get("k")) == unsupported);
                CHECK(co_await error_of(mc.meta_set("k", "x")) == unsupported);
                CHECK(co_await error_of(mc.meta_delete("k")) == unsupported);
                CHECK(co_await error_of(mc.meta_arithmetic("k")) == unsupported);
                // Each was followed by a working call on the same connection.
                CHECK(memcoro::test::value_of(co_await mc.get("k")) == "v");

                // Pipelined with supported requests, in one write: they are unharmed.
                using namespace asio::experimental::awaitable_operators;
                auto [before, touched, after] = co_await (
                    mc.get("k") && mc.gat("k", 100s, asio::as_tuple(asio::use_awaitable)) &&
                    mc.set("k2", "v2"));
                CHECK(memcoro::test::value_of(before) == "v");
                CHECK(std::get<0>(touched) == unsupported);
                CHECK(after);

                co_await memcoro::test::sleep_for(300ms);
                // The proxy never hung up on the client, whose one connection is still up.
                CHECK(servers.pool_stat("client_err") == hung_up);
                CHECK(servers.pool_stat("client_connections") == 1);
                // Nothing reached a backend either: the TTL of k is still 0.
                CHECK(memcoro::test::raw_stat(servers.a, "cmd_touch") == "0");
                CHECK(memcoro::test::raw_stat(servers.b, "cmd_touch") == "0");
            });
    }
}

TEST_CASE("through twemproxy: errors_as_misses does not turn unsupported_command into a miss") {
    if (skip_without_nutcracker()) return;
    proxied servers;
    auto options = servers.options(memcoro::wire_protocol::twemproxy);
    options.errors_as_misses = true;
    memcoro::test::run_client(options, [&](memcoro::client& mc) -> asio::awaitable<void> {
        CHECK(co_await error_of(mc.gat("k", 100s)) == unsupported);
        CHECK(co_await mc.set("k", "v"));
        CHECK(memcoro::test::value_of(co_await mc.get("k")) == "v");
    });
}

TEST_CASE("through twemproxy: plain text mode sends gat, and the proxy hangs up") {
    // Why wire_protocol::twemproxy exists: told only `text`, the client cannot know.
    if (skip_without_nutcracker()) return;
    proxied servers;
    memcoro::test::run_client(
        servers.options(memcoro::wire_protocol::text),
        [&](memcoro::client& mc) -> asio::awaitable<void> {
            CHECK(co_await mc.set("k", "v"));
            CHECK(co_await error_of(mc.gat("k", 100s)) == memcoro::error::connection_closed);
            CHECK(memcoro::test::value_of(co_await mc.get("k")) == "v");
        });
}

TEST_CASE("automatic mode: a server that hung up on the probe, then went away, is probed again") {
    // A memcached killed while the probe was on the wire looks like twemproxy for that
    // moment; once its port refuses connections, whatever comes back is probed afresh.
    memcached_server server;
    const auto port = server.port();
    server.stop();
    memcoro::client_options o;
    o.server = server.address();
    o.protocol = memcoro::wire_protocol::automatic;
    o.op_timeout = 10s;
    o.reconnect_backoff = 10ms;
    memcoro::test::run_client(o, [&](memcoro::client& mc) -> asio::awaitable<void> {
        // On the port: a listener that reads the probe and hangs up, once.
        auto ex = co_await asio::this_coro::executor;
        asio::ip::tcp::acceptor acceptor(
            ex, asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
        asio::co_spawn(
            ex,
            [&]() -> asio::awaitable<void> {
                auto socket = co_await acceptor.async_accept(asio::use_awaitable);
                asio::streambuf in;
                co_await asio::async_read_until(socket, in, "\r\n", asio::use_awaitable);
                socket.close();
                acceptor.close();
            },
            asio::detached);
        auto [ec, it] = co_await mc.get("k", asio::as_tuple(asio::use_awaitable));
        CHECK(ec);  // hung up on, then refused: the listener is gone

        server.restart();  // a real memcached on the same port
        for (int attempt = 0; attempt < 200; ++attempt) {
            auto [ec2, hit] = co_await mc.gat("k", 10s, asio::as_tuple(asio::use_awaitable));
            if (ec2 != memcoro::error::not_connected) {
                CHECK(!ec2);  // not unsupported_command: the probe found memcached
                CHECK(!hit);
                break;
            }
            co_await memcoro::test::sleep_for(10ms);
        }
        CHECK((co_await mc.stats()).size() > 10);
    });
}
