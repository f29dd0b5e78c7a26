// client_options::key_encoding = base64: any bytes are a key, and every classic call goes
// in its meta form with the flag b. Keys with spaces, CR LF, NUL and high bytes round-trip
// through each call; the 186/187-byte boundary; which items base64 keys name; noreply;
// the refusal in text mode; and a tier of two servers.
#include <doctest/doctest.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "test_common.hpp"
#include "tier_common.hpp"

using namespace std::chrono_literals;
namespace asio = boost::asio;
namespace beast = boost::beast;
using memcoro::error_code;
using memcoro::test::memcached_server;
using memcoro::test::name_of;
using memcoro::test::raw_get;
using memcoro::test::raw_stat;
using memcoro::test::run_client;
using memcoro::test::value_of;

namespace {

memcoro::client_options binary_options(const memcached_server& server, memcoro::wire_protocol p) {
    auto o = memcoro::test::options_for(server, p);
    o.key_encoding = memcoro::key_encoding::base64;
    return o;
}

// Keys no text command can carry.
std::vector<std::string> binary_keys() {
    return {"with space",
            "crlf\r\ninside",
            std::string("nul\0inside", 10),
            std::string("\0", 1),
            "\x80\xff\xfe high bytes",
            "\t\x01\x7f controls",
            std::string(186, '\xa5')};
}

std::vector<std::string_view> views_of(const std::vector<std::string>& keys) {
    return {keys.begin(), keys.end()};
}

constexpr auto tuple = asio::as_tuple(asio::use_awaitable);

}  // namespace

TEST_CASE("binary keys round-trip through every classic call") {
    memcached_server server;
    for (auto mode : {memcoro::wire_protocol::meta, memcoro::wire_protocol::automatic}) {
        CAPTURE(name_of(mode));
        memcoro::test::flush(server);
        run_client(binary_options(server, mode), [&](memcoro::client& mc) -> asio::awaitable<void> {
            const auto keys = binary_keys();
            for (std::size_t i = 0; i < keys.size(); ++i) {
                const std::string& k = keys[i];
                CAPTURE(i);
                const std::string v = "value-" + std::to_string(i);
                CHECK(co_await mc.set(k, v, {.flags = 7}));
                auto hit = co_await mc.get(k);
                REQUIRE(hit);
                CHECK(hit->value() == v);
                CHECK(hit->flags() == 7);

                CHECK_FALSE(co_await mc.add(k, "no"));
                CHECK(co_await mc.replace(k, v));
                CHECK(co_await mc.append(k, "+a"));
                CHECK(co_await mc.prepend(k, "p+"));
                CHECK(value_of(co_await mc.get(k)) == "p+" + v + "+a");

                const auto got = co_await mc.gets(k);
                REQUIRE(got);
                CHECK(got->cas() != 0);
                CHECK(co_await mc.cas(k, v, got->cas(), {.flags = 9}) ==
                      memcoro::cas_result::stored);
                CHECK(co_await mc.cas(k, v, got->cas()) == memcoro::cas_result::exists);

                CHECK(co_await mc.touch(k, 3600s));
                CHECK(value_of(co_await mc.gat(k, 3600s)) == v);
                const auto touched = co_await mc.gats(k, 3600s);
                REQUIRE(touched);
                CHECK(touched->cas() != 0);

                beast::flat_buffer into;
                const auto info = co_await mc.get_into(k, into);
                REQUIRE(info);
                CHECK(info->flags == 9);
                CHECK(beast::buffers_to_string(into.data()) == v);

                CHECK(co_await mc.set(k, "41"));
                CHECK(co_await mc.incr(k, 2) == std::optional<std::uint64_t>(43));
                CHECK(co_await mc.decr(k, 3) == std::optional<std::uint64_t>(40));

                CHECK(co_await mc.remove(k));
                CHECK_FALSE(co_await mc.remove(k));
                CHECK_FALSE(co_await mc.get(k));
                CHECK_FALSE(co_await mc.touch(k, 10s));
                // incr and decr of a missing key: nullopt, as in text keys.
                CHECK_FALSE(co_await mc.incr(k, 1));
                CHECK_FALSE(co_await mc.decr(k, 1));
                CHECK_FALSE(co_await mc.replace(k, "no"));
                CHECK(co_await mc.add(k, v));
            }

            // The multi-key calls: item::key() gives the bytes asked for, not base64.
            const auto views = views_of(keys);
            std::vector<memcoro::key_value> batch;
            for (std::size_t i = 0; i < keys.size(); ++i) {
                batch.push_back({keys[i], i % 2 == 0 ? std::string_view("even") : "odd"});
            }
            CHECK((co_await mc.set_many(batch)).empty());
            std::vector<std::string_view> asked{"absent key"};
            asked.insert(asked.end(), views.begin(), views.end());
            const auto items = co_await mc.get_many(asked);
            REQUIRE(items.size() == keys.size());
            for (std::size_t i = 0; i < keys.size(); ++i) {
                CHECK(items[i].key() == keys[i]);
                CHECK(items[i].value() == (i % 2 == 0 ? "even" : "odd"));
            }
            const auto with_cas = co_await mc.gets_many(views);
            REQUIRE(with_cas.size() == keys.size());
            CHECK(with_cas[0].cas() == (co_await mc.gets(keys[0]))->cas());
            CHECK(co_await mc.remove_many(asked) == keys.size());
            CHECK((co_await mc.get_many(views)).empty());
        });
    }
}

TEST_CASE("a binary key of 186 bytes with the prefix is taken; 187 is refused before sending") {
    memcached_server server;
    for (const std::string prefix : {"", "pre:"}) {
        CAPTURE(prefix);
        auto o = binary_options(server, memcoro::wire_protocol::meta);
        o.key_prefix = prefix;
        run_client(o, [&](memcoro::client& mc) -> asio::awaitable<void> {
            const std::string longest(186 - prefix.size(), '\n');
            const std::string too_long(187 - prefix.size(), '\n');
            CHECK(co_await mc.set(longest, "fits"));
            CHECK(value_of(co_await mc.get(longest)) == "fits");

            const std::string sets_before = raw_stat(server, "cmd_set");
            const std::string gets_before = raw_stat(server, "cmd_get");
            const std::vector<std::string_view> many{longest, too_long};
            const std::vector<memcoro::key_value> pairs{{too_long, "x"}};
            const memcoro::error_code invalid = memcoro::error::invalid_key;
            CHECK(std::get<0>(co_await mc.set(too_long, "x", {}, tuple)) == invalid);
            CHECK(std::get<0>(co_await mc.get(too_long, tuple)) == invalid);
            CHECK(std::get<0>(co_await mc.gat(too_long, 10s, tuple)) == invalid);
            CHECK(std::get<0>(co_await mc.remove(too_long, {}, tuple)) == invalid);
            CHECK(std::get<0>(co_await mc.incr(too_long, 1, {}, tuple)) == invalid);
            CHECK(std::get<0>(co_await mc.touch(too_long, 10s, {}, tuple)) == invalid);
            CHECK(std::get<0>(co_await mc.get_many(many, {}, tuple)) == invalid);
            CHECK(std::get<0>(co_await mc.set_many(pairs, {}, tuple)) == invalid);
            CHECK(std::get<0>(co_await mc.remove_many(many, {}, tuple)) == invalid);
            const std::string empty;
            CHECK(std::get<0>(co_await mc.get(empty, tuple)) == invalid);
            // Nothing reached the server, and the connection goes on.
            CHECK(raw_stat(server, "cmd_set") == sets_before);
            CHECK(raw_stat(server, "cmd_get") == gets_before);
            CHECK(value_of(co_await mc.get(longest)) == "fits");
        });
    }
}

TEST_CASE("binary keys name the item of their bytes: base64 is only how they travel") {
    memcached_server server;
    memcoro::test::flush(server);
    run_client(binary_options(server, memcoro::wire_protocol::meta),
               [&](memcoro::client& mc) -> asio::awaitable<void> {
                   // Keys that differ in one byte are different items.
                   CHECK(co_await mc.set("a b", "space"));
                   CHECK(co_await mc.set("a_b", "underscore"));
                   CHECK(value_of(co_await mc.get("a b")) == "space");
                   CHECK(value_of(co_await mc.get("a_b")) == "underscore");
                   // Printable bytes sent in base64 name the text key of those bytes: the
                   // server decodes the key before it looks it up.
                   CHECK(co_await mc.set("plain", "from base64"));
               });
    CHECK(raw_get(server, "plain") == "VALUE plain 0 11\r\nfrom base64\r\nEND\r\n");
    CHECK(raw_get(server, "a_b") == "VALUE a_b 0 10\r\nunderscore\r\nEND\r\n");
    run_client(memcoro::test::options_for(server, memcoro::wire_protocol::text),
               [&](memcoro::client& mc) -> asio::awaitable<void> {
                   CHECK(co_await mc.set("plain", "from text"));
               });
    run_client(binary_options(server, memcoro::wire_protocol::meta),
               [&](memcoro::client& mc) -> asio::awaitable<void> {
                   CHECK(value_of(co_await mc.get("plain")) == "from text");
               });
}

TEST_CASE("noreply with binary keys: the call completes when written, its reply is dropped") {
    memcached_server server;
    memcoro::test::flush(server);
    // Each raw_stat opens a connection of its own, counted in the stat it reads.
    const int connections_before = std::stoi(raw_stat(server, "total_connections"));
    run_client(binary_options(server, memcoro::wire_protocol::meta),
               [&](memcoro::client& mc) -> asio::awaitable<void> {
                   const memcoro::store_options quiet{.noreply = true};
                   const memcoro::call_options quiet_call{.noreply = true};
                   // Replies that say "no" (NS, NF) are dropped too: noreply reports success.
                   CHECK(co_await mc.set("n 1", "one", quiet));
                   CHECK(co_await mc.add("n 1", "not stored", quiet));
                   CHECK(co_await mc.replace("n missing", "not stored", quiet));
                   CHECK(co_await mc.cas("n 1", "x", 1, quiet) == memcoro::cas_result::stored);
                   CHECK(co_await mc.remove("n missing", quiet_call));
                   CHECK(co_await mc.touch("n missing", 10s, quiet_call));
                   CHECK_FALSE(co_await mc.incr("n missing", 1, quiet_call));
                   const std::vector<memcoro::key_value> batch{{"n 2", "two"}, {"n 3", "three"}};
                   CHECK((co_await mc.set_many(batch, quiet)).empty());
                   const std::vector<std::string_view> gone{"n 3", "n missing"};
                   CHECK(co_await mc.remove_many(gone, quiet_call) == 0u);

                   // Every reply above is read in turn; the next answers are this call's.
                   const std::vector<std::string_view> keys{"n 1", "n 2", "n 3"};
                   const auto items = co_await mc.get_many(keys);
                   REQUIRE(items.size() == 2);
                   CHECK(items[0].value() == "one");
                   CHECK(items[1].value() == "two");

                   // A reply that comes after its call completed: the server is paused, so
                   // the set is written and done long before the server answers it.
                   server.pause();
                   CHECK(co_await mc.set("n 4", "late", quiet));
                   CHECK(co_await mc.remove("n 1", quiet_call));
                   bool done = false;
                   std::optional<memcoro::item> read;
                   mc.get("n 4", [&](error_code ec, std::optional<memcoro::item> it) {
                       CHECK_FALSE(ec);
                       read = std::move(it);
                       done = true;
                   });
                   co_await memcoro::test::sleep_for(50ms);
                   CHECK_FALSE(done);
                   server.resume();
                   for (int i = 0; i < 200 && !done; ++i) co_await memcoro::test::sleep_for(5ms);
                   CHECK(done);
                   CHECK(value_of(read) == "late");
                   CHECK_FALSE(co_await mc.get("n 1"));
               });
    // One connection served it all: no reply was ever taken for another request's (that
    // closes the connection).
    CHECK(std::stoi(raw_stat(server, "total_connections")) == connections_before + 2);
}

TEST_CASE("binary keys in text mode: every key call is refused, the connection goes on") {
    memcached_server server;
    run_client(
        binary_options(server, memcoro::wire_protocol::text),
        [&](memcoro::client& mc) -> asio::awaitable<void> {
            const memcoro::error_code refused = memcoro::error::unsupported_command;
            const std::vector<std::string_view> keys{"a", "b"};
            const std::vector<memcoro::key_value> batch{{"a", "1"}};
            CHECK(std::get<0>(co_await mc.get("a", tuple)) == refused);
            CHECK(std::get<0>(co_await mc.gets("a", tuple)) == refused);
            CHECK(std::get<0>(co_await mc.gat("a", 1s, tuple)) == refused);
            beast::flat_buffer into;
            CHECK(std::get<0>(co_await mc.get_into("a", into, tuple)) == refused);
            CHECK(std::get<0>(co_await mc.set("a", "1", {}, tuple)) == refused);
            CHECK(std::get<0>(co_await mc.set("a", "1", {.noreply = true}, tuple)) == refused);
            CHECK(std::get<0>(co_await mc.cas("a", "1", 5, {}, tuple)) == refused);
            CHECK(std::get<0>(co_await mc.remove("a", {.noreply = true}, tuple)) == refused);
            CHECK(std::get<0>(co_await mc.incr("a", 1, {}, tuple)) == refused);
            CHECK(std::get<0>(co_await mc.touch("a", 1s, {}, tuple)) == refused);
            CHECK(std::get<0>(co_await mc.get_many(keys, {}, tuple)) == refused);
            CHECK(std::get<0>(co_await mc.set_many(batch, {}, tuple)) == refused);
            CHECK(std::get<0>(co_await mc.remove_many(keys, {}, tuple)) == refused);
            CHECK_FALSE((co_await mc.version()).empty());
        });
    CHECK(raw_stat(server, "cmd_get") == "0");
    CHECK(raw_stat(server, "cmd_set") == "0");
    CHECK(raw_stat(server, "cmd_touch") == "0");
}

TEST_CASE("binary keys over a tier of two servers: placed by their bytes") {
    memcoro::test::tier servers(2);
    auto o = servers.options(memcoro::wire_protocol::meta);
    o.key_encoding = memcoro::key_encoding::base64;
    std::vector<std::string> keys;
    for (int i = 0; i < 40; ++i) keys.push_back("tier key\r\n" + std::to_string(i));
    std::vector<std::string> printable;
    for (int i = 0; i < 20; ++i) printable.push_back("tier-text-" + std::to_string(i));
    run_client(o, [&](memcoro::client& mc) -> asio::awaitable<void> {
        for (const auto& k : keys) CHECK(co_await mc.set(k, "v:" + k));
        for (const auto& k : printable) CHECK(co_await mc.set(k, "b64"));
        for (const auto& k : keys) CHECK(value_of(co_await mc.get(k)) == "v:" + k);
        std::vector<std::string_view> asked{"nowhere"};
        for (const auto& k : keys) asked.push_back(k);
        const auto items = co_await mc.get_many(asked);
        REQUIRE(items.size() == keys.size());
        for (std::size_t i = 0; i < keys.size(); ++i) {
            CHECK(items[i].key() == keys[i]);
            CHECK(items[i].value() == "v:" + keys[i]);
        }
        CHECK(co_await mc.remove_many(asked) == keys.size());
    });
    // Both servers took a share.
    CHECK(raw_stat(*servers.servers[0], "cmd_set") != "0");
    CHECK(raw_stat(*servers.servers[1], "cmd_set") != "0");
    // A text client of the same tier finds each printable key where the base64 client put
    // it: placement hashes the key's bytes, not their base64.
    run_client(servers.options(memcoro::wire_protocol::text),
               [&](memcoro::client& mc) -> asio::awaitable<void> {
                   for (const auto& k : printable) CHECK(value_of(co_await mc.get(k)) == "b64");
               });
    for (const auto& k : printable) CHECK(servers.holders(k).size() == 1);
}
