// The typed meta calls (meta_get, meta_set, meta_delete, meta_arithmetic) against a real
// memcached 1.6.18: every option, with the replies the server gives for it; base64 keys;
// the refusals (text mode, options newer than the server, invalid combinations); routing
// over a tier. A fake server stands in for a 1.6.27, which is not installed here.
#include <doctest/doctest.h>

#include <limits>
#include <string>

#include "fake_server.hpp"
#include "test_common.hpp"
#include "tier_common.hpp"

using namespace std::chrono_literals;
namespace asio = boost::asio;
using memcoro::test::error_of;
using memcoro::test::memcached_server;
using memcoro::test::run_client;

namespace {

memcoro::client_options meta_options(const memcached_server& server) {
    return memcoro::test::options_for(server, memcoro::wire_protocol::meta);
}

const boost::system::error_code unsupported = memcoro::error::unsupported_command;
const boost::system::error_code invalid_argument = memcoro::error::invalid_argument;

}  // namespace

TEST_CASE("meta_get: a hit with every return flag, a miss, a hit without its value") {
    memcached_server server;
    run_client(meta_options(server), [](memcoro::client& mc) -> asio::awaitable<void> {
        CHECK(co_await mc.set("k", "hello", {.ttl = 100s, .flags = 9}));
        auto it = co_await mc.meta_get(
            "k", {.cas = true, .ttl = true, .last_access = true, .hit_before = true, .size = true});
        REQUIRE(it);
        CHECK(it->value() == "hello");
        CHECK(it->flags() == 9);
        CHECK(it->cas() == (co_await mc.gets("k"))->cas());
        REQUIRE(it->ttl);
        CHECK(*it->ttl > 90);
        CHECK(*it->ttl <= 100);
        CHECK(it->last_access == 0u);
        CHECK(it->hit_before == false);
        CHECK(it->size == 5u);
        CHECK_FALSE(it->win);
        CHECK_FALSE(it->stale);
        CHECK_FALSE(it->won_by_other);

        // Fields not asked for stay empty.
        auto plain = co_await mc.meta_get("k");
        REQUIRE(plain);
        CHECK(plain->value() == "hello");
        CHECK(plain->cas() == 0);
        CHECK_FALSE(plain->ttl);
        CHECK_FALSE(plain->size);
        CHECK_FALSE(plain->hit_before);

        // Without v a hit is HD: an item with no value, and what was asked for.
        auto header = co_await mc.meta_get("k", {.value = false, .hit_before = true, .size = true});
        REQUIRE(header);
        CHECK(header->value().empty());
        CHECK(header->hit_before == true);
        CHECK(header->size == 5u);

        CHECK_FALSE(co_await mc.meta_get("missing"));
        CHECK_FALSE(co_await mc.meta_get("missing", {.value = false}));

        // A large value is read whole (straight into the item past the read buffer).
        std::string large(700 * 1000, '\0');
        for (std::size_t i = 0; i < large.size(); ++i) large[i] = static_cast<char>(i % 251);
        CHECK(co_await mc.set("large", large));
        auto big = co_await mc.meta_get("large", {.size = true});
        REQUIRE(big);
        CHECK(big->value() == large);
        CHECK(big->size == large.size());
    });
}

TEST_CASE("meta_get: touch_ttl then ttl reads the new ttl; no expiry reads -1") {
    memcached_server server;
    run_client(meta_options(server), [](memcoro::client& mc) -> asio::awaitable<void> {
        CHECK(co_await mc.set("k", "v"));
        auto forever = co_await mc.meta_get("k", {.ttl = true});
        REQUIRE(forever);
        CHECK(forever->ttl == -1);
        auto touched = co_await mc.meta_get("k", {.ttl = true, .touch_ttl = 500s});
        REQUIRE(touched);
        REQUIRE(touched->ttl);
        CHECK(*touched->ttl > 490);
        CHECK(*touched->ttl <= 500);
        // The server kept it: a later read sees the same ttl.
        auto later = co_await mc.meta_get("k", {.value = false, .ttl = true});
        REQUIRE(later);
        REQUIRE(later->ttl);
        CHECK(*later->ttl > 490);
        // A touch of a missing key is a miss.
        CHECK_FALSE(co_await mc.meta_get("missing", {.touch_ttl = 500s}));
    });
}

TEST_CASE("meta_get: last_access, hit_before and no_lru_bump") {
    memcached_server server;
    run_client(meta_options(server), [](memcoro::client& mc) -> asio::awaitable<void> {
        CHECK(co_await mc.set("k", "v"));
        // With u the read leaves the item as it was: not marked fetched.
        for (int i = 0; i < 2; ++i) {
            auto quiet = co_await mc.meta_get("k", {.hit_before = true, .no_lru_bump = true});
            REQUIRE(quiet);
            CHECK(quiet->hit_before == false);
        }
        auto first = co_await mc.meta_get("k", {.hit_before = true});
        REQUIRE(first);
        CHECK(first->hit_before == false);
        auto second = co_await mc.meta_get("k", {.hit_before = true});
        REQUIRE(second);
        CHECK(second->hit_before == true);

        // memcached's clock ticks once a second: after two, the last access is older.
        co_await memcoro::test::sleep_for(2100ms);
        auto old = co_await mc.meta_get("k", {.last_access = true});
        REQUIRE(old);
        REQUIRE(old->last_access);
        CHECK(*old->last_access >= 1);
        CHECK(*old->last_access <= 3);
    });
}

TEST_CASE("meta_get: vivify on a miss gives win, then won_by_other") {
    memcached_server server;
    run_client(meta_options(server), [](memcoro::client& mc) -> asio::awaitable<void> {
        auto first = co_await mc.meta_get("v", {.vivify_ttl = 30s});
        REQUIRE(first);  // a miss reported as a hit of an empty item
        CHECK(first->value().empty());
        CHECK(first->win);
        CHECK_FALSE(first->won_by_other);
        auto second = co_await mc.meta_get("v", {.vivify_ttl = 30s});
        REQUIRE(second);
        CHECK_FALSE(second->win);
        CHECK(second->won_by_other);
        // The winner stores the value: readers see a plain hit again.
        CHECK(co_await mc.set("v", "computed"));
        auto third = co_await mc.meta_get("v", {.vivify_ttl = 30s});
        REQUIRE(third);
        CHECK(third->value() == "computed");
        CHECK_FALSE(third->win);
        CHECK_FALSE(third->won_by_other);
    });
}

TEST_CASE("meta_get: recache_below wins once the remaining ttl is below it") {
    memcached_server server;
    run_client(meta_options(server), [](memcoro::client& mc) -> asio::awaitable<void> {
        CHECK(co_await mc.set("r", "v", {.ttl = 100s}));
        auto above = co_await mc.meta_get("r", {.recache_below = 30s});
        REQUIRE(above);
        CHECK_FALSE(above->win);
        CHECK_FALSE(above->won_by_other);
        auto below = co_await mc.meta_get("r", {.recache_below = 200s});
        REQUIRE(below);
        CHECK(below->value() == "v");
        CHECK(below->win);
        auto next = co_await mc.meta_get("r", {.recache_below = 200s});
        REQUIRE(next);
        CHECK_FALSE(next->win);
        CHECK(next->won_by_other);
    });
}

TEST_CASE("meta_set: flags, ttl, modes and their NS outcomes, return_cas") {
    memcached_server server;
    using memcoro::meta_status;
    using memcoro::set_mode;
    run_client(meta_options(server), [](memcoro::client& mc) -> asio::awaitable<void> {
        auto stored =
            co_await mc.meta_set("k", "v1", {.ttl = 100s, .flags = 42, .return_cas = true});
        CHECK(stored.status == meta_status::ok);
        REQUIRE(stored.cas);
        auto it = co_await mc.meta_get("k", {.cas = true, .ttl = true});
        REQUIRE(it);
        CHECK(it->value() == "v1");
        CHECK(it->flags() == 42);
        CHECK(it->cas() == *stored.cas);
        REQUIRE(it->ttl);
        CHECK(*it->ttl > 90);
        // Without return_cas no cas is reported.
        CHECK_FALSE((co_await mc.meta_set("k", "v1")).cas);
        // The codec's flags when none are given: an integer's.
        CHECK((co_await mc.meta_set("n", 5)).status == meta_status::ok);
        CHECK(co_await mc.get<int>("n") == 5);

        CHECK((co_await mc.meta_set("k", "x", {.mode = set_mode::add})).status ==
              meta_status::not_stored);
        CHECK((co_await mc.meta_set("new", "a", {.mode = set_mode::add})).status ==
              meta_status::ok);
        CHECK((co_await mc.meta_set("absent", "x", {.mode = set_mode::replace})).status ==
              meta_status::not_stored);
        CHECK((co_await mc.meta_set("new", "b", {.mode = set_mode::replace})).status ==
              meta_status::ok);
        CHECK((co_await mc.meta_set("new", "-tail", {.mode = set_mode::append})).status ==
              meta_status::ok);
        CHECK((co_await mc.meta_set("new", "head-", {.mode = set_mode::prepend})).status ==
              meta_status::ok);
        CHECK(memcoro::test::value_of(co_await mc.get("new")) == "head-b-tail");
        CHECK((co_await mc.meta_set("absent", "x", {.mode = set_mode::append})).status ==
              meta_status::not_stored);
        CHECK((co_await mc.meta_set("absent", "x", {.mode = set_mode::prepend})).status ==
              meta_status::not_stored);
        CHECK_FALSE(co_await mc.get("absent"));
    });
}

TEST_CASE("meta_set: compare_cas stores over its cas only; EX and NF; invalidate") {
    memcached_server server;
    using memcoro::meta_status;
    run_client(meta_options(server), [](memcoro::client& mc) -> asio::awaitable<void> {
        const auto first = co_await mc.meta_set("k", "v1", {.return_cas = true});
        REQUIRE(first.cas);
        const auto second =
            co_await mc.meta_set("k", "v2", {.compare_cas = *first.cas, .return_cas = true});
        CHECK(second.status == meta_status::ok);
        REQUIRE(second.cas);
        CHECK(*second.cas != *first.cas);
        // The old cas no longer matches.
        CHECK((co_await mc.meta_set("k", "v3", {.compare_cas = *first.cas})).status ==
              meta_status::exists);
        CHECK(memcoro::test::value_of(co_await mc.get("k")) == "v2");
        CHECK((co_await mc.meta_set("missing", "x", {.compare_cas = 5})).status ==
              meta_status::not_found);

        // With invalidate an older cas is accepted: the value is stored, marked stale.
        const auto stale =
            co_await mc.meta_set("k", "v-old", {.compare_cas = *first.cas, .invalidate = true});
        CHECK(stale.status == meta_status::ok);
        auto it = co_await mc.meta_get("k");
        REQUIRE(it);
        CHECK(it->value() == "v-old");
        CHECK(it->stale);
        CHECK(it->win);
    });
}

TEST_CASE("meta_delete: deleted, not found, compare_cas, mark_stale and stale_ttl") {
    memcached_server server;
    using memcoro::meta_status;
    run_client(meta_options(server), [](memcoro::client& mc) -> asio::awaitable<void> {
        CHECK(co_await mc.set("k", "v"));
        CHECK(co_await mc.meta_delete("k") == meta_status::ok);
        CHECK_FALSE(co_await mc.get("k"));
        CHECK(co_await mc.meta_delete("k") == meta_status::not_found);

        const auto stored = co_await mc.meta_set("c", "v", {.return_cas = true});
        REQUIRE(stored.cas);
        CHECK(co_await mc.meta_delete("c", {.compare_cas = *stored.cas + 1}) ==
              meta_status::exists);
        CHECK(co_await mc.get("c"));
        CHECK(co_await mc.meta_delete("c", {.compare_cas = *stored.cas}) == meta_status::ok);
        CHECK_FALSE(co_await mc.get("c"));

        // Marked stale: the first reader gets the old value with win, the next ones
        // won_by_other; the cas changed.
        const auto s = co_await mc.meta_set("s", "old", {.return_cas = true});
        REQUIRE(s.cas);
        CHECK(co_await mc.meta_delete("s", {.mark_stale = true, .stale_ttl = 30s}) ==
              meta_status::ok);
        auto first = co_await mc.meta_get("s", {.cas = true, .ttl = true});
        REQUIRE(first);
        CHECK(first->value() == "old");
        CHECK(first->stale);
        CHECK(first->win);
        CHECK_FALSE(first->won_by_other);
        CHECK(first->cas() != *s.cas);
        REQUIRE(first->ttl);
        CHECK(*first->ttl > 20);
        CHECK(*first->ttl <= 30);
        auto next = co_await mc.meta_get("s");
        REQUIRE(next);
        CHECK(next->stale);
        CHECK_FALSE(next->win);
        CHECK(next->won_by_other);
        CHECK(co_await mc.meta_delete("missing", {.mark_stale = true}) == meta_status::not_found);
    });
}

TEST_CASE("meta_arithmetic: increment, decrement, vivify, compare_cas, ttl and cas") {
    memcached_server server;
    using memcoro::arithmetic_mode;
    using memcoro::meta_status;
    run_client(meta_options(server), [](memcoro::client& mc) -> asio::awaitable<void> {
        CHECK(co_await mc.set("n", "10"));
        auto up = co_await mc.meta_arithmetic("n");
        CHECK(up.status == meta_status::ok);
        CHECK(up.value == 11u);
        CHECK_FALSE(up.cas);
        CHECK_FALSE(up.ttl);
        CHECK((co_await mc.meta_arithmetic("n", {.delta = 9})).value == 20u);
        auto down =
            co_await mc.meta_arithmetic("n", {.mode = arithmetic_mode::decrement, .delta = 5});
        CHECK(down.value == 15u);
        // Decrement stops at 0.
        auto floor =
            co_await mc.meta_arithmetic("n", {.mode = arithmetic_mode::decrement, .delta = 100});
        CHECK(floor.status == meta_status::ok);
        CHECK(floor.value == 0u);

        auto missing = co_await mc.meta_arithmetic("absent");
        CHECK(missing.status == meta_status::not_found);
        CHECK_FALSE(missing.value);

        // Vivify: created with `initial`, the delta not applied; then counted as usual.
        auto created = co_await mc.meta_arithmetic(
            "viv", {.delta = 3, .vivify_ttl = 100s, .initial = 40, .return_ttl = true});
        CHECK(created.status == meta_status::ok);
        CHECK(created.value == 40u);
        REQUIRE(created.ttl);
        CHECK(*created.ttl > 90);
        CHECK((co_await mc.meta_arithmetic("viv", {.delta = 3, .vivify_ttl = 100s, .initial = 40}))
                  .value == 43u);
        // Vivify with the default initial value 0 sends no J.
        CHECK((co_await mc.meta_arithmetic("zero", {.vivify_ttl = 100s})).value == 0u);

        // compare_cas, return_cas, touch_ttl with return_ttl.
        auto with_cas = co_await mc.meta_arithmetic("n", {.return_cas = true});
        REQUIRE(with_cas.cas);
        CHECK(with_cas.value == 1u);
        CHECK((co_await mc.meta_arithmetic("n", {.compare_cas = *with_cas.cas + 1})).status ==
              meta_status::exists);
        auto matched = co_await mc.meta_arithmetic("n", {.compare_cas = *with_cas.cas,
                                                         .touch_ttl = 300s,
                                                         .return_cas = true,
                                                         .return_ttl = true});
        CHECK(matched.status == meta_status::ok);
        CHECK(matched.value == 2u);
        REQUIRE(matched.cas);
        CHECK(*matched.cas != *with_cas.cas);
        REQUIRE(matched.ttl);
        CHECK(*matched.ttl > 290);
        CHECK(*matched.ttl <= 300);
        CHECK((co_await mc.meta_arithmetic("n", {.return_ttl = true})).ttl > 290);
    });
}

TEST_CASE("meta_arithmetic on a non-numeric value is client_error; the next call works") {
    memcached_server server;
    const auto before = std::stoi(memcoro::test::raw_stat(server, "total_connections"));
    run_client(meta_options(server), [](memcoro::client& mc) -> asio::awaitable<void> {
        CHECK(co_await mc.set("text", "abc"));
        CHECK(co_await error_of(mc.meta_arithmetic("text")) == memcoro::error::client_error);
        CHECK(memcoro::test::value_of(co_await mc.get("text")) == "abc");
        CHECK(co_await mc.set("n", "1"));
        CHECK((co_await mc.meta_arithmetic("n")).value == 2u);
    });
    // The error kept the stream in step: the client's one connection, and this raw one.
    CHECK(std::stoi(memcoro::test::raw_stat(server, "total_connections")) == before + 2);
}

TEST_CASE("base64 keys through the meta calls: any bytes, up to 186 with the prefix") {
    memcached_server server;
    auto options = meta_options(server);
    options.key_encoding = memcoro::key_encoding::base64;
    run_client(options, [](memcoro::client& mc) -> asio::awaitable<void> {
        using memcoro::meta_status;
        const std::string keys[] = {"with space", "line\r\nbreak", std::string("nul\0byte", 8),
                                    "\x80\xff high", std::string(186, '\x01')};
        for (const auto& key : keys) {
            CAPTURE(key.size());
            CHECK((co_await mc.meta_set(key, "v:" + key)).status == meta_status::ok);
            auto it = co_await mc.meta_get(key);
            REQUIRE(it);
            CHECK(it->value() == "v:" + key);
            CHECK(co_await mc.meta_delete(key) == meta_status::ok);
            CHECK_FALSE(co_await mc.meta_get(key));
            auto n = co_await mc.meta_arithmetic(key, {.vivify_ttl = 10s, .initial = 7});
            CHECK(n.value == 7u);
        }
        // One byte more than fits in 250 base64 characters: refused before it is sent.
        const std::string too_long(187, 'k');
        const boost::system::error_code invalid_key = memcoro::error::invalid_key;
        CHECK(co_await error_of(mc.meta_get(too_long)) == invalid_key);
        CHECK(co_await error_of(mc.meta_set(too_long, "v")) == invalid_key);
        CHECK(co_await error_of(mc.meta_delete(too_long)) == invalid_key);
        CHECK(co_await error_of(mc.meta_arithmetic(too_long)) == invalid_key);
        CHECK(co_await error_of(mc.meta_get("")) == invalid_key);

        // The server keeps the decoded bytes: a base64 key names the same item as the
        // same text key. A call may choose its own encoding.
        const memcoro::key_encoding text = memcoro::key_encoding::text;
        CHECK((co_await mc.meta_set("plain", "shared")).status == meta_status::ok);
        CHECK(memcoro::test::value_of(co_await mc.meta_get("plain", {.key_encoding = text})) ==
              "shared");
        CHECK(co_await error_of(mc.meta_get("with space", {.key_encoding = text})) == invalid_key);
    });
    CHECK(memcoro::test::raw_get(server, "plain").find("shared") != std::string::npos);
}

TEST_CASE("the meta calls in text mode fail with unsupported_command, unsent") {
    memcached_server server;
    const auto before = std::stoi(memcoro::test::raw_stat(server, "total_connections"));
    run_client(memcoro::test::options_for(server, memcoro::wire_protocol::text),
               [&](memcoro::client& mc) -> asio::awaitable<void> {
                   CHECK(co_await mc.set("k", "v"));
                   CHECK(co_await error_of(mc.meta_get("k")) == unsupported);
                   CHECK(co_await error_of(mc.meta_set("k", "x")) == unsupported);
                   CHECK(co_await error_of(mc.meta_delete("k")) == unsupported);
                   CHECK(co_await error_of(mc.meta_arithmetic("k")) == unsupported);
                   // Nothing reached the server; the connection goes on.
                   CHECK(memcoro::test::value_of(co_await mc.get("k")) == "v");
                   CHECK(memcoro::test::raw_stat(server, "cmd_set") == "1");
                   CHECK(memcoro::test::raw_stat(server, "delete_misses") == "0");
                   CHECK(memcoro::test::raw_stat(server, "delete_hits") == "0");
               });
    // The client's one connection, the three raw ones inside and this one.
    CHECK(std::stoi(memcoro::test::raw_stat(server, "total_connections")) == before + 5);
}

TEST_CASE("options newer than memcached 1.6.18 are refused unsent; the connection stays") {
    memcached_server server;
    for (auto mode : {memcoro::wire_protocol::meta, memcoro::wire_protocol::automatic}) {
        CAPTURE(memcoro::test::name_of(mode));
        const auto before = std::stoi(memcoro::test::raw_stat(server, "total_connections"));
        run_client(
            memcoro::test::options_for(server, mode),
            [&](memcoro::client& mc) -> asio::awaitable<void> {
                CHECK(co_await mc.set("k", "v"));
                CHECK(co_await error_of(mc.meta_set("k", "x", {.new_cas = 77})) == unsupported);
                CHECK(co_await error_of(mc.meta_delete("k", {.drop_value = true})) == unsupported);
                CHECK(co_await error_of(mc.meta_delete("k", {.new_cas = 77})) == unsupported);
                CHECK(co_await error_of(mc.meta_arithmetic("k", {.new_cas = 77})) == unsupported);
                // Sent, the server would have answered CLIENT_ERROR (and ms's would
                // have closed the connection): the item is untouched, and the
                // connection is the first one.
                CHECK(memcoro::test::value_of(co_await mc.get("k")) == "v");
                CHECK((co_await mc.meta_set("k", "y")).status == memcoro::meta_status::ok);
            });
        // One connection for the client, one for each raw_stat.
        CHECK(std::stoi(memcoro::test::raw_stat(server, "total_connections")) == before + 2);
    }
}

TEST_CASE("a server that says 1.6.27 gets E and x; one whose version is unknown does not") {
    using memcoro::test::with_fake_server;
    const std::vector<std::string> script = {"HD O{O}\r\n", "HD O{O}\r\n", "VA 1 O{O}\r\n8\r\n"};
    for (auto mode : {memcoro::wire_protocol::meta, memcoro::wire_protocol::automatic}) {
        CAPTURE(memcoro::test::name_of(mode));
        // In automatic mode the fake answers mn too (the first line of the script).
        auto lines = script;
        if (mode == memcoro::wire_protocol::automatic) lines.insert(lines.begin(), "MN\r\n");
        with_fake_server(
            lines, mode,
            [](memcoro::client& mc, memcoro::test::fake_server& server) -> asio::awaitable<void> {
                CHECK((co_await mc.meta_set("k", "v", {.new_cas = 77})).status ==
                      memcoro::meta_status::ok);
                CHECK(co_await mc.meta_delete("k", {.drop_value = true, .new_cas = 78}) ==
                      memcoro::meta_status::ok);
                CHECK((co_await mc.meta_arithmetic("k", {.new_cas = 79})).value == 8u);
                const auto& sent = server.requests();
                REQUIRE(sent.size() >= 4);
                CHECK(sent[0].starts_with("version\r\n"));
                const auto n = sent.size();
                CHECK(sent[n - 3].starts_with("ms k 1 E77 O"));
                CHECK(sent[n - 2].starts_with("md k x E78 O"));
                CHECK(sent[n - 1].starts_with("ma k E79 v O"));
            },
            "1.6.27");
        with_fake_server(
            lines, mode,
            [](memcoro::client& mc, memcoro::test::fake_server& server) -> asio::awaitable<void> {
                CHECK(co_await error_of(mc.meta_set("k", "v", {.new_cas = 77})) == unsupported);
                CHECK(co_await error_of(mc.meta_delete("k", {.drop_value = true})) == unsupported);
                // Options any version has still go out.
                CHECK((co_await mc.meta_set("k", "v")).status == memcoro::meta_status::ok);
                CHECK(server.requests().back().starts_with("ms k 1 O"));
            },
            "not a version");
    }
}

TEST_CASE("automatic mode takes a server older than 1.6.10 for a text server") {
    // 1.6.9 answers mn, but its meta replies use other codes (protocol.md 3.2).
    memcoro::test::with_fake_server(
        {"MN\r\n", "VALUE k 0 1\r\nv\r\nEND\r\n"}, memcoro::wire_protocol::automatic,
        [](memcoro::client& mc, memcoro::test::fake_server& server) -> asio::awaitable<void> {
            CHECK(memcoro::test::value_of(co_await mc.get("k")) == "v");
            CHECK(server.requests().back() == "get k\r\n");
            CHECK(co_await error_of(mc.meta_get("k")) == unsupported);
        },
        "1.6.9");
}

TEST_CASE("invalid combinations and sizes are refused before a byte is sent") {
    memcached_server server;
    auto options = meta_options(server);
    options.max_value_size = 1000;
    run_client(options, [&](memcoro::client& mc) -> asio::awaitable<void> {
        CHECK(co_await error_of(mc.meta_set("k", "v", {.invalidate = true})) == invalid_argument);
        CHECK(co_await error_of(mc.meta_delete("k", {.stale_ttl = 30s})) == invalid_argument);
        CHECK(co_await error_of(mc.meta_arithmetic("k", {.initial = 5})) == invalid_argument);
        const std::chrono::seconds huge{std::int64_t{std::numeric_limits<std::int32_t>::max()} + 1};
        CHECK(co_await error_of(mc.meta_set("k", "v", {.ttl = huge})) == invalid_argument);
        CHECK(co_await error_of(mc.meta_get("k", {.touch_ttl = huge})) == invalid_argument);
        CHECK(co_await error_of(mc.meta_get("k", {.vivify_ttl = -huge - 1s})) == invalid_argument);
        CHECK(co_await error_of(mc.meta_get("k", {.recache_below = huge})) == invalid_argument);
        CHECK(co_await error_of(mc.meta_delete("k", {.mark_stale = true, .stale_ttl = huge})) ==
              invalid_argument);
        CHECK(co_await error_of(mc.meta_arithmetic("k", {.vivify_ttl = huge})) == invalid_argument);
        CHECK(co_await error_of(mc.meta_arithmetic("k", {.touch_ttl = huge})) == invalid_argument);
        CHECK(co_await error_of(mc.meta_set("k", std::string(1001, 'x'))) ==
              memcoro::error::value_too_large);
        CHECK(co_await error_of(mc.meta_get("bad key")) == memcoro::error::invalid_key);
        // None of it was sent: the server has seen no command yet.
        CHECK(memcoro::test::raw_stat(server, "cmd_get") == "0");
        CHECK(memcoro::test::raw_stat(server, "cmd_set") == "0");
        CHECK(memcoro::test::raw_stat(server, "delete_misses") == "0");
        CHECK(memcoro::test::raw_stat(server, "incr_misses") == "0");
        CHECK((co_await mc.meta_set("k", std::string(1000, 'x'))).status ==
              memcoro::meta_status::ok);
    });
}

TEST_CASE("meta_get with errors_as_misses: a server that does not answer is a miss") {
    memcached_server server;
    auto options = meta_options(server);
    options.errors_as_misses = true;
    options.connect_timeout = 300ms;
    options.op_timeout = 500ms;
    server.pause();
    run_client(options, [](memcoro::client& mc) -> asio::awaitable<void> {
        auto [ec, it] = co_await mc.meta_get("k", {}, asio::as_tuple(asio::use_awaitable));
        CHECK_FALSE(ec);
        CHECK_FALSE(it);
        // Bad input is still an error.
        CHECK(co_await error_of(mc.meta_get("bad key")) == memcoro::error::invalid_key);
        // Only meta_get reads: a write reports its error.
        CHECK(co_await error_of(mc.meta_delete("k")));
    });
    server.resume();
}

TEST_CASE("over a tier the meta calls route by key as get and set do") {
    memcoro::test::tier servers(2);
    run_client(servers.options(), [&](memcoro::client& mc) -> asio::awaitable<void> {
        std::vector<std::size_t> per_server(2, 0);
        for (int i = 0; i < 40; ++i) {
            const std::string key = "key-" + std::to_string(i);
            CAPTURE(key);
            if (i % 2 == 0) {
                CHECK((co_await mc.meta_set(key, "m" + key)).status == memcoro::meta_status::ok);
                CHECK(memcoro::test::value_of(co_await mc.get(key)) == "m" + key);
            } else {
                CHECK(co_await mc.set(key, "s" + key));
                auto it = co_await mc.meta_get(key);
                REQUIRE(it);
                CHECK(it->value() == "s" + key);
            }
            const auto holders = servers.holders(key);
            REQUIRE(holders.size() == 1);
            ++per_server[holders[0]];
            // A counter made by meta_arithmetic is where get looks for it.
            CHECK(
                (co_await mc.meta_arithmetic("n" + key, {.vivify_ttl = 10s, .initial = 1})).value ==
                1u);
            CHECK(memcoro::test::value_of(co_await mc.get("n" + key)) == "1");
            CHECK(co_await mc.meta_delete(key) == memcoro::meta_status::ok);
            CHECK(servers.holders(key).empty());
        }
        // Both servers took keys: the routing is by key, not to one server.
        CHECK(per_server[0] > 0);
        CHECK(per_server[1] > 0);
    });
}
