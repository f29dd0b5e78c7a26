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

#include <array>
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

namespace {

// A DynamicBuffer_v1 over a flat_buffer whose buffer sequences are arrays of many
// buffers: the sink for it is too large to live inside the operation, so this takes
// the path where get_into builds its sink on the heap.
class wide_buffer {
public:
    using const_buffers_type = std::array<asio::const_buffer, 12>;
    using mutable_buffers_type = std::array<asio::mutable_buffer, 12>;

    [[nodiscard]] std::size_t size() const { return inner_.size(); }
    [[nodiscard]] std::size_t max_size() const { return inner_.max_size(); }
    [[nodiscard]] std::size_t capacity() const { return inner_.capacity(); }
    [[nodiscard]] const_buffers_type data() const { return {asio::const_buffer(inner_.data())}; }
    mutable_buffers_type prepare(std::size_t n) { return {asio::mutable_buffer(inner_.prepare(n))}; }
    void commit(std::size_t n) { inner_.commit(n); }
    void consume(std::size_t n) { inner_.consume(n); }

    [[nodiscard]] std::string str() const { return beast::buffers_to_string(inner_.data()); }

private:
    beast::flat_buffer inner_;
};
static_assert(asio::is_dynamic_buffer_v1<wide_buffer>::value);

}  // namespace

TEST_CASE("get_into a buffer whose sink does not fit in the operation") {
    memcached_server server;
    memcoro::client_options o;
    o.server = server.address();
    run_client(o, [](memcoro::client& mc) -> asio::awaitable<void> {
        for (const std::size_t size : {std::size_t{10}, std::size_t{300'000}}) {
            const auto key = "wide-" + std::to_string(size);
            const auto value = patterned(key, size);
            REQUIRE(co_await mc.set(key, value));
            wide_buffer wide;
            auto info = co_await mc.get_into(key, wide);
            REQUIRE(info);
            CHECK(info->size == size);
            CHECK(wide.str() == value);
        }
        wide_buffer none;
        CHECK_FALSE(co_await mc.get_into("wide-missing", none));
    });
}
