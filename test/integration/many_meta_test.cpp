// get_many / gets_many in both forms: one classic get (text keys, every wire mode), and
// quiet `mg <key> b ... q` lines closed by `mn` (keys in base64, meta mode). Hits, misses,
// duplicates, a large value among small ones, batches pipelined with other requests, and
// a batch cancelled before its replies.
#include <doctest/doctest.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "test_common.hpp"

using namespace std::chrono_literals;
namespace asio = boost::asio;
using memcoro::error_code;
using memcoro::test::memcached_server;
using memcoro::test::name_of;
using memcoro::test::options_for;
using memcoro::test::sleep_for;
using memcoro::test::wait_for;

namespace {

// The wire modes, and base64 keys, which take the meta form.
struct config {
    memcoro::wire_protocol mode;
    memcoro::key_encoding keys;
};
constexpr config configs[] = {
    {memcoro::wire_protocol::meta, memcoro::key_encoding::text},
    {memcoro::wire_protocol::text, memcoro::key_encoding::text},
    {memcoro::wire_protocol::automatic, memcoro::key_encoding::text},
    {memcoro::wire_protocol::meta, memcoro::key_encoding::base64},
    {memcoro::wire_protocol::automatic, memcoro::key_encoding::base64},
};

std::string describe(config c) {
    std::string out = name_of(c.mode);
    out += c.keys == memcoro::key_encoding::base64 ? ", base64 keys" : ", text keys";
    return out;
}

// "<prefix><i>", built without operator+ (g++ 12 warns about it under -O3, -Wrestrict).
std::string numbered(std::string prefix, int i) {
    prefix += std::to_string(i);
    return prefix;
}

memcoro::client_options options_of(const memcached_server& server, config c) {
    auto o = options_for(server, c.mode);
    o.key_encoding = c.keys;
    return o;
}

// "key=value" for each hit, in the order they came: what a CHECK can compare whole.
std::vector<std::string> pairs(const std::vector<memcoro::item>& items) {
    std::vector<std::string> out;
    for (const auto& it : items) {
        std::string pair(it.key());
        pair.append("=").append(it.value());
        out.push_back(std::move(pair));
    }
    return out;
}

// Runs `body(client&)` in each configuration, against an emptied server.
template <class Body>
void in_each_config(const memcached_server& server, Body body) {
    for (const auto c : configs) {
        const std::string what = describe(c);
        CAPTURE(what);
        memcoro::test::flush(server);
        memcoro::test::run_client(options_of(server, c), body);
    }
}

}  // namespace

TEST_CASE("get_many: all hits, all misses, mixed and repeated keys, in both forms") {
    memcached_server server;
    in_each_config(server, [&](memcoro::client& mc) -> asio::awaitable<void> {
        CHECK(co_await mc.set("h1", "one", {.flags = 11}));
        CHECK(co_await mc.set("h2", "two"));
        CHECK(co_await mc.set("h3", ""));  // an empty value is a hit too

        const std::vector<std::string_view> hits{"h1", "h2", "h3"};
        const auto all = co_await mc.get_many(hits);
        CHECK(pairs(all) == std::vector<std::string>{"h1=one", "h2=two", "h3="});
        REQUIRE(all.size() == 3);
        CHECK(all[0].flags() == 11);
        CHECK(all[1].flags() == 0);

        const std::vector<std::string_view> misses{"m1", "m2", "m3", "m4"};
        CHECK((co_await mc.get_many(misses)).empty());

        // Misses first, last and between hits: each hit still names its own key.
        const std::vector<std::string_view> mixed{"m1", "h2", "m2", "m3", "h1", "m4"};
        // (An initializer list in the same full-expression as co_await trips g++ 12.)
        const auto mixed_hits = pairs(co_await mc.get_many(mixed));
        CHECK(mixed_hits == std::vector<std::string>{"h2=two", "h1=one"});

        // A key asked twice comes twice, as the classic get answers it.
        const std::vector<std::string_view> repeated{"h1", "m1", "h1", "h2", "h2"};
        const auto repeated_hits = pairs(co_await mc.get_many(repeated));
        CHECK(repeated_hits == std::vector<std::string>{"h1=one", "h1=one", "h2=two", "h2=two"});

        // gets_many: each hit's cas is the item's, as gets reads it.
        const auto with_cas = co_await mc.gets_many(mixed);
        REQUIRE(with_cas.size() == 2);
        CHECK(with_cas[0].cas() == (co_await mc.gets("h2"))->cas());
        CHECK(with_cas[1].cas() == (co_await mc.gets("h1"))->cas());
        CHECK(with_cas[0].cas() != 0);
    });
}

TEST_CASE("get_many: a 1 MiB value among small ones") {
    memcached_server server({"-I", "2m"});
    const std::string large(1024 * 1024, 'L');
    in_each_config(server, [&](memcoro::client& mc) -> asio::awaitable<void> {
        CHECK(co_await mc.set("s1", "small-1"));
        CHECK(co_await mc.set("big", large));
        CHECK(co_await mc.set("s2", "small-2"));
        const std::vector<std::string_view> keys{"s1", "gone", "big", "s2", "gone"};
        const auto got = co_await mc.get_many(keys);
        REQUIRE(got.size() == 3);
        CHECK(got[0].value() == "small-1");
        CHECK(got[1].key() == "big");
        CHECK(got[1].value() == large);
        CHECK(got[2].value() == "small-2");
    });
}

TEST_CASE("get_many batches pipelined with single gets on one connection keep their replies") {
    memcached_server server;
    in_each_config(server, [&](memcoro::client& mc) -> asio::awaitable<void> {
        for (int i = 0; i < 20; i += 2) {
            CHECK(co_await mc.set(numbered("p", i), numbered("v", i)));
        }
        std::vector<std::string> names;
        for (int i = 0; i < 20; ++i) names.push_back(numbered("p", i));
        const std::vector<std::string_view> keys(names.begin(), names.end());
        // Started together, so they share writes: the misses of one batch must be
        // passed by without taking the next request's reply.
        int done = 0;
        std::vector<std::vector<std::string>> batches(3);
        std::vector<std::string> singles(3);
        for (int b = 0; b < 3; ++b) {
            mc.get_many(std::span(keys).subspan(static_cast<std::size_t>(b) * 5, 10), {},
                        [&, b](error_code ec, std::vector<memcoro::item> items) {
                            CHECK_FALSE(ec);
                            batches[static_cast<std::size_t>(b)] = pairs(items);
                            ++done;
                        });
            mc.get(names[static_cast<std::size_t>(b) * 2],
                   [&, b](error_code ec, std::optional<memcoro::item> it) {
                       CHECK_FALSE(ec);
                       singles[static_cast<std::size_t>(b)] = memcoro::test::value_of(it);
                       ++done;
                   });
        }
        const auto deadline = std::chrono::steady_clock::now() + 5s;
        while (done < 6 && std::chrono::steady_clock::now() < deadline) {
            co_await sleep_for(5ms);
        }
        REQUIRE(done == 6);
        for (int b = 0; b < 3; ++b) {
            std::vector<std::string> expected;
            for (int i = b * 5; i < b * 5 + 10; ++i) {
                if (i % 2 == 0) expected.push_back(numbered("p", i) + numbered("=v", i));
            }
            CHECK(batches[static_cast<std::size_t>(b)] == expected);
            CHECK(singles[static_cast<std::size_t>(b)] == numbered("v", b * 2));
        }
    });
}

TEST_CASE("a get_many cancelled before its replies: they are read and dropped later") {
    memcached_server server;
    in_each_config(server, [&](memcoro::client& mc) -> asio::awaitable<void> {
        CHECK(co_await mc.set("c1", "first"));
        CHECK(co_await mc.set("c3", "third"));
        server.pause();
        asio::cancellation_signal signal;
        bool done = false;
        error_code seen;
        std::size_t hits = 0;
        const std::vector<std::string_view> keys{"c1", "c2", "c3", "c4"};
        mc.get_many(keys, {},
                    asio::bind_cancellation_slot(signal.slot(),
                                                 [&](error_code ec, std::vector<memcoro::item> it) {
                                                     seen = ec;
                                                     hits = it.size();
                                                     done = true;
                                                 }));
        co_await sleep_for(50ms);  // written by now; the paused server cannot answer
        signal.emit(asio::cancellation_type::terminal);
        co_await wait_for(done, 1s);
        CHECK(done);
        CHECK(seen == asio::error::operation_aborted);
        CHECK(hits == 0);

        server.resume();
        // The late batch arrives first (two hits, two misses left out) and must not
        // be taken for these replies.
        const std::vector<std::string_view> next{"c4", "c3", "c2"};
        const auto next_hits = pairs(co_await mc.get_many(next));
        CHECK(next_hits == std::vector<std::string>{"c3=third"});
        CHECK(memcoro::test::value_of(co_await mc.get("c1")) == "first");
    });
}
