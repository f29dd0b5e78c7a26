// Every command of the text protocol through memcoro::client, in both wire modes,
// against a real memcached.
#include "test_common.hpp"

#include <doctest/doctest.h>

using namespace std::chrono_literals;
namespace asio = boost::asio;
using memcoro::test::memcached_server;
using memcoro::test::options_for;
using memcoro::test::run_client;

TEST_CASE("set, get, gets, remove, incr, decr, touch, cas in each wire mode") {
    memcached_server server;
    for (auto mode : {memcoro::wire_protocol::meta, memcoro::wire_protocol::text,
                      memcoro::wire_protocol::automatic}) {
        CAPTURE(memcoro::test::name_of(mode));
        run_client(options_for(server, mode), [](memcoro::client& mc) -> asio::awaitable<void> {
            CHECK(co_await mc.set("greeting", "hello", {.ttl = 60s, .flags = 7}));
            auto it = co_await mc.get("greeting");
            REQUIRE(it);
            CHECK(it->value() == "hello");
            CHECK(it->flags() == 7);
            CHECK_FALSE(co_await mc.get("no-such-key"));

            auto with_cas = co_await mc.gets("greeting");
            REQUIRE(with_cas);
            CHECK(with_cas->cas() != 0);
            CHECK(co_await mc.cas("greeting", "hi", with_cas->cas()) == memcoro::cas_result::stored);
            CHECK(co_await mc.cas("greeting", "hey", with_cas->cas()) == memcoro::cas_result::exists);
            CHECK(co_await mc.cas("missing", "x", 1) == memcoro::cas_result::not_found);
            CHECK((co_await mc.get("greeting"))->value() == "hi");

            CHECK_FALSE(co_await mc.add("greeting", "again"));
            CHECK(co_await mc.add("fresh", "new"));
            CHECK(co_await mc.replace("fresh", "newer"));
            CHECK_FALSE(co_await mc.replace("absent", "x"));
            CHECK(co_await mc.append("fresh", "-tail"));
            CHECK(co_await mc.prepend("fresh", "head-"));
            CHECK((co_await mc.get("fresh"))->value() == "head-newer-tail");
            CHECK_FALSE(co_await mc.append("absent", "x"));

            CHECK(co_await mc.set("counter", 10));
            CHECK(co_await mc.incr("counter", 5) == 15u);
            CHECK(co_await mc.decr("counter", 20) == 0u);
            CHECK(co_await mc.incr("absent", 1) == std::nullopt);
            CHECK(co_await mc.get<int>("counter") == 0);

            CHECK(co_await mc.touch("fresh", 100s));
            CHECK_FALSE(co_await mc.touch("absent", 100s));
            auto touched = co_await mc.gat("fresh", 200s);
            REQUIRE(touched);
            CHECK(touched->value() == "head-newer-tail");

            CHECK(co_await mc.remove("fresh"));
            CHECK_FALSE(co_await mc.remove("fresh"));
            CHECK_FALSE(co_await mc.get("fresh"));
        });
    }
}
