// get_into: values appended to a caller's Beast dynamic buffer, small ones through the
// read buffer and large ones read from the socket straight into it.
#include "run_client.hpp"
#include "support/memcached_server.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/multi_buffer.hpp>
#include <boost/beast/core/static_buffer.hpp>

#include <doctest/doctest.h>

#include <string>

using namespace std::chrono_literals;
namespace asio = boost::asio;
namespace beast = boost::beast;
using memcoro::test::memcached_server;
using memcoro::test::run_client;

namespace {

// A value whose every byte depends on the key and its position, so a misplaced or
// misrouted piece cannot go unnoticed.
std::string patterned(std::string_view key, std::size_t size) {
    std::string v(size, '\0');
    std::size_t h = std::hash<std::string_view>{}(key);
    for (std::size_t i = 0; i < size; ++i) v[i] = static_cast<char>((h + i * 131) % 251);
    return v;
}

}  // namespace

TEST_CASE("get_into appends values to flat, multi and static buffers") {
    memcached_server server({"-I", "2m"});
    for (auto mode : {memcoro::wire_protocol::meta, memcoro::wire_protocol::text}) {
        CAPTURE(memcoro::test::name_of(mode));
        memcoro::client_options o;
        o.server = server.address();
        o.protocol = mode;
        o.max_value_size = 1536 * 1024;
        run_client(o, [](memcoro::client& mc) -> asio::awaitable<void> {
            const std::size_t sizes[] = {0, 1, 100, 16 * 1024, 100 * 1000, 1024 * 1024,
                                         1536 * 1024 - 512};
            for (const auto size : sizes) {
                CAPTURE(size);
                const auto key = "into-" + std::to_string(size);
                const auto value = patterned(key, size);
                REQUIRE(co_await mc.set(key, value, {.flags = 42}));

                beast::flat_buffer flat;
                flat.commit(asio::buffer_copy(flat.prepare(3), asio::buffer("abc", 3)));
                auto info = co_await mc.get_into(key, flat);
                REQUIRE(info);
                CHECK(info->size == size);
                CHECK(info->flags == 42);
                CHECK(beast::buffers_to_string(flat.data()) == "abc" + value);

                beast::multi_buffer multi;
                auto info2 = co_await mc.get_into(key, multi);
                REQUIRE(info2);
                CHECK(beast::buffers_to_string(multi.data()) == value);
            }
            beast::flat_buffer none;
            CHECK_FALSE(co_await mc.get_into("into-missing", none));
            CHECK(none.size() == 0);

            beast::static_buffer<16> small;
            REQUIRE(co_await mc.set("into-small", "0123456789"));
            auto fits = co_await mc.get_into("into-small", small);
            REQUIRE(fits);
            CHECK(beast::buffers_to_string(small.data()) == "0123456789");

            // A buffer that cannot take the value (its prepare throws length_error): the
            // call fails, the reply is dropped, and the connection stays usable.
            beast::static_buffer<16> tiny;
            REQUIRE(co_await mc.set("into-big", std::string(100'000, 'x')));
            auto [ec, info] = co_await mc.get_into("into-big", tiny,
                                                   asio::as_tuple(asio::use_awaitable));
            CHECK(ec == memcoro::error::value_too_large);
            CHECK_FALSE(info);
            CHECK((co_await mc.get("into-small"))->value() == "0123456789");
        });
    }
}
