// A scripted fake server plays what a real memcached never does: replies that belong to
// another request, oversized values, endless lines, bytes nobody asked for. The client
// must refuse them, never hand a value to the wrong caller, and recover.
#include <doctest/doctest.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/streambuf.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "fake_server.hpp"
#include "run_client.hpp"

using namespace std::chrono_literals;
namespace asio = boost::asio;
using asio::ip::tcp;
using memcoro::test::run_client;

namespace {

using memcoro::test::fake_server;
using memcoro::test::with_fake_server;

using error_code = boost::system::error_code;

}  // namespace

TEST_CASE("a meta reply with another request's opaque is refused") {
    with_fake_server({"VA 5 f0 O424242\r\nstolen\r\n", "VA 5 f0 O{O}\r\nright\r\n"},
                     memcoro::wire_protocol::meta,
                     [](memcoro::client& mc, fake_server& server) -> asio::awaitable<void> {
                         auto [ec, it] = co_await mc.get("k", asio::as_tuple(asio::use_awaitable));
                         CHECK(ec == memcoro::error::reply_mismatch);
                         CHECK_FALSE(it);
                         // The connection was closed; the next request gets a new one.
                         auto again = co_await mc.get("k");
                         REQUIRE(again);
                         CHECK(again->value() == "right");
                         CHECK(server.connections() == 2);
                     });
}

TEST_CASE("a meta reply whose opaque is missing or not a whole number is refused") {
    // `O<n>x` starts with the right number: it must not pass for it.
    for (const char* bad : {"VA 5 f0 O{O}x\r\nstolen\r\n", "VA 5 f0\r\nstolen\r\n",
                            "VA 5 f0 O\r\nstolen\r\n", "VA 5 f0 O-{O}\r\nstolen\r\n"}) {
        INFO("reply: ", bad);
        with_fake_server({bad, "VA 5 f0 O{O}\r\nright\r\n"}, memcoro::wire_protocol::meta,
                         [](memcoro::client& mc, fake_server&) -> asio::awaitable<void> {
                             auto [ec, it] =
                                 co_await mc.get("k", asio::as_tuple(asio::use_awaitable));
                             CHECK(ec == memcoro::error::reply_mismatch);
                             CHECK_FALSE(it);
                             CHECK((co_await mc.get("k"))->value() == "right");
                         });
    }
}

TEST_CASE("a text VALUE for another key is refused") {
    with_fake_server({"VALUE other 0 6\r\nstolen\r\nEND\r\n", "VALUE k 0 5\r\nright\r\nEND\r\n"},
                     memcoro::wire_protocol::text,
                     [](memcoro::client& mc, fake_server&) -> asio::awaitable<void> {
                         auto [ec, it] = co_await mc.get("k", asio::as_tuple(asio::use_awaitable));
                         CHECK(ec == memcoro::error::reply_mismatch);
                         CHECK_FALSE(it);
                         CHECK((co_await mc.get("k"))->value() == "right");
                     });
}

TEST_CASE("a value larger than the configured maximum is refused before it is buffered") {
    with_fake_server({"VA 2000000 O{O}\r\n"}, memcoro::wire_protocol::meta,
                     [](memcoro::client& mc, fake_server&) -> asio::awaitable<void> {
                         auto [ec, it] = co_await mc.get("k", asio::as_tuple(asio::use_awaitable));
                         CHECK(ec == memcoro::error::reply_too_large);
                     });
}

TEST_CASE("an endless reply line is refused") {
    with_fake_server({std::string(100'000, 'x')}, memcoro::wire_protocol::meta,
                     [](memcoro::client& mc, fake_server&) -> asio::awaitable<void> {
                         auto [ec, it] = co_await mc.get("k", asio::as_tuple(asio::use_awaitable));
                         CHECK(ec == memcoro::error::line_too_long);
                     });
}

TEST_CASE("garbage and replies nobody asked for close the connection") {
    with_fake_server({"HD O{O}\r\nHD O77\r\n", "NOT A REPLY\r\n"}, memcoro::wire_protocol::meta,
                     [](memcoro::client& mc, fake_server&) -> asio::awaitable<void> {
                         // The extra HD after the first reply is unsolicited: the delete
                         // itself succeeded, but the stream is then closed.
                         CHECK(co_await mc.remove("k"));
                         auto [ec, it] = co_await mc.get("k", asio::as_tuple(asio::use_awaitable));
                         CHECK(ec);
                         CHECK_FALSE(it);
                     });
}

TEST_CASE("a CLIENT_ERROR to a store closes the stream; SERVER_ERROR keeps it") {
    with_fake_server({"SERVER_ERROR object too large for cache\r\n", "HD O{O}\r\n",
                      "CLIENT_ERROR bad data chunk\r\n", "HD O{O}\r\n"},
                     memcoro::wire_protocol::meta,
                     [](memcoro::client& mc, fake_server& server) -> asio::awaitable<void> {
                         auto [ec, ok] = co_await mc.set("k", "v", {},
                                                         asio::as_tuple(asio::use_awaitable));
                         CHECK(ec == memcoro::error::server_error);
                         CHECK(co_await mc.set("k", "v"));
                         CHECK(server.connections() == 1);
                         auto [ec2, ok2] = co_await mc.set("k", "v", {},
                                                           asio::as_tuple(asio::use_awaitable));
                         CHECK(ec2 == memcoro::error::client_error);
                         CHECK(co_await mc.set("k", "v"));
                         CHECK(server.connections() == 2);
                     });
}

TEST_CASE("get_many of base64 keys: quiet mg lines and mn; hits matched by opaque") {
    // One reply per request line: the miss of "b" sends nothing, as mg with q does.
    with_fake_server(
        {"VA 1 f5 O{O}\r\nA\r\n", "", "VA 2 f0 O{O}\r\nCC\r\n", "MN\r\n", "VA 1 f0 O{O}\r\nZ\r\n"},
        memcoro::wire_protocol::meta,
        [](memcoro::client& mc, fake_server& server) -> asio::awaitable<void> {
            const std::vector<std::string_view> keys{"a", "b", "c"};
            const auto items = co_await mc.get_many(keys);
            REQUIRE(items.size() == 2);
            CHECK(items[0].key() == "a");
            CHECK(items[0].value() == "A");
            CHECK(items[0].flags() == 5);
            CHECK(items[1].key() == "c");
            CHECK(items[1].value() == "CC");
            CHECK((co_await mc.get("z"))->value() == "Z");
            CHECK(server.connections() == 1);
        },
        "1.6.18", memcoro::key_encoding::base64);
}

TEST_CASE("an error line inside a get_many batch fails the call; the stream stays in step") {
    with_fake_server(
        {"VA 1 f0 O{O}\r\nA\r\n", "CLIENT_ERROR bad command line format\r\n",
         "VA 1 f0 O{O}\r\nC\r\n", "", "MN\r\n", "VA 5 f0 O{O}\r\nright\r\n"},
        memcoro::wire_protocol::meta,
        [](memcoro::client& mc, fake_server& server) -> asio::awaitable<void> {
            const std::vector<std::string_view> keys{"a", "b", "c", "d"};
            auto [ec, items] = co_await mc.get_many(keys, {}, asio::as_tuple(asio::use_awaitable));
            CHECK(ec == memcoro::error::client_error);
            CHECK(items.empty());
            CHECK((co_await mc.get("k"))->value() == "right");
            CHECK(server.connections() == 1);
        },
        "1.6.18", memcoro::key_encoding::base64);
}
