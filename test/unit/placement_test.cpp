// Rendezvous, modula, the user's own distribution and make_placement's errors
// (protocol.md 7, 7.1): the digest's vectors, `without`, and what make_placement refuses.
#include <memcoro/error.hpp>
#include <placement/modula.hpp>
#include <placement/murmur3.hpp>
#include <placement/rendezvous.hpp>
#include <stdexcept>
#include <string>
#include <vector>

#include "placement_support.hpp"

using namespace placement_test;

TEST_CASE("murmur3: pymemcache's scores (protocol.md 7)") {
    using memcoro::detail::murmur3;
    CHECK(murmur3("127.0.0.1:11211-foo") == 0x20f9d679);
    CHECK(murmur3("127.0.0.1:11212-foo") == 0x098c0b10);
    CHECK(murmur3("127.0.0.1:11213-foo") == 0xe168b4af);
    CHECK(murmur3("") == 0);
    // Fed in pieces, split at every position: the same hash.
    const std::string s = "127.0.0.1:11211-some-longer-key";
    for (std::size_t i = 0; i <= s.size(); ++i) {
        for (std::size_t j = i; j <= s.size(); ++j) {
            memcoro::detail::murmur3_32 m;
            m.update(std::string_view(s).substr(0, i));
            m.update(std::string_view(s).substr(i, j - i));
            m.update(std::string_view(s).substr(j));
            CHECK(m.finish() == murmur3(s));
        }
    }
}

TEST_CASE("rendezvous: protocol.md 7 str-key vectors") {
    const std::vector<std::size_t> expected = {2, 0, 1, 0, 1, 1, 2, 0, 1, 0,
                                               2, 0, 1, 1, 1, 0, 1, 0, 2, 0};
    CHECK(place_all(*make(distribution::rendezvous, three()), table_keys) == expected);
}

TEST_CASE("rendezvous: node names and pymemcache's reading of non-ASCII text") {
    using memcoro::detail::pymemcache_hash_bytes;
    using memcoro::detail::rendezvous_name;
    const auto list = servers({"127.0.0.1", "[::1]:11212", "unix:/tmp/m.sock"});
    CHECK(rendezvous_name(list[0].address) == "127.0.0.1:11211");
    CHECK(rendezvous_name(list[1].address) == "::1:11212");
    CHECK(rendezvous_name(list[2].address) == "/tmp/m.sock");
    // "é" (U+00E9) is one character: one byte, 0xE9. "€" (U+20AC) keeps its low byte.
    CHECK(pymemcache_hash_bytes("caf\xc3\xa9") == "caf\xe9");
    CHECK(pymemcache_hash_bytes("\xe2\x82\xac") == "\xac");
    CHECK(pymemcache_hash_bytes("plain") == "plain");
    // Not UTF-8 (no str key can be this): unchanged.
    CHECK(pymemcache_hash_bytes("a\xff") == "a\xff");
    CHECK(pymemcache_hash_bytes("\xc0\x80") == "\xc0\x80");  // overlong
}

TEST_CASE("rendezvous: without gives a dead server's keys to the best live score") {
    const auto list = servers({"10.0.0.1", "10.0.0.2", "10.0.0.3"});
    const auto full = make(distribution::rendezvous, list);
    const bool alive[] = {true, true, false};
    const auto less = full->without(alive);
    for (int i = 0; i < 1000; ++i) {
        const std::string key = numbered("k", i);
        const std::size_t before = full->server_for(key);
        if (before != 2) CHECK(less->server_for(key) == before);
        CHECK(less->server_for(key) != 2);
    }
    const bool none_alive[] = {false, false, false};
    CHECK(full->without(none_alive)->server_for("k") == placement::none);
}

TEST_CASE("modula: cmemcache_hash and the three-server vectors (protocol.md 7.1)") {
    using memcoro::detail::cmemcache_hash;
    CHECK(cmemcache_hash("foo") == 0x0c73);
    CHECK(cmemcache_hash("bar") == 0x76ff);
    CHECK(cmemcache_hash("hello") == 0x3610);
    CHECK(cmemcache_hash("user:1") == 0x7ba5);
    CHECK(cmemcache_hash("VDEAAAAA") == 0x4660);
    const auto p = make(distribution::modula, three());
    const std::vector<std::string> keys = {"foo", "bar", "hello", "user:1", "VDEAAAAA"};
    CHECK(place_all(*p, keys) == std::vector<std::size_t>{1, 1, 1, 0, 1});
}

TEST_CASE("modula: weights repeat a server's bucket") {
    // Weights 1,2,1: buckets [s0, s1, s1, s2]; server = buckets[hash % 4].
    const auto list = servers({"a:1", "b:2", "c:3"}, {1, 2, 1});
    const auto p = make(distribution::modula, list);
    const std::size_t buckets[] = {0, 1, 1, 2};
    for (const auto& k : table_keys) {
        CHECK(p->server_for(k) == buckets[memcoro::detail::cmemcache_hash(k) % 4]);
    }
}

TEST_CASE("modula: without rehashes as python-memcache's _get_server") {
    using memcoro::detail::cmemcache_hash;
    // "foo" hashes to 0x0c73 = 3187; 3187 % 3 = 1. With server 1 dead, the next hash is
    // cmemcache_hash("31870"), and so on while the bucket is dead.
    const auto p = make(distribution::modula, three());
    REQUIRE(p->server_for("foo") == 1);
    const bool alive[] = {true, false, true};
    std::uint32_t h = cmemcache_hash("foo");
    std::size_t expected = placement::none;
    for (int i = 0; i < 10; ++i) {
        if (h % 3 != 1) {
            expected = h % 3;
            break;
        }
        h = cmemcache_hash(std::to_string(h) + std::to_string(i));
    }
    CHECK(p->without(alive)->server_for("foo") == expected);
    // Live servers keep their keys.
    const auto less = p->without(alive);
    for (const auto& k : table_keys) {
        if (p->server_for(k) != 1) CHECK(less->server_for(k) == p->server_for(k));
    }
    // Every server dead: ten tries, then none.
    const bool dead[] = {false, false, false};
    CHECK(p->without(dead)->server_for("foo") == placement::none);
}

TEST_CASE("custom: the user's index; out of range and throwing give none; without walks on") {
    auto p = memcoro::detail::make_custom_placement(
        [](std::string_view key) -> std::size_t {
            if (key == "throw") throw std::runtime_error("no");
            return key.size();
        },
        3);
    CHECK(p->server_for("") == 0);
    CHECK(p->server_for("ab") == 2);
    CHECK(p->server_for("abc") == placement::none);
    CHECK(p->server_for("throw") == placement::none);
    const bool alive[] = {true, false, false};
    const auto less = p->without(alive);
    CHECK(less->server_for("a") == 0);   // 1 dead, 2 dead, wraps to 0
    CHECK(less->server_for("ab") == 0);  // 2 dead, wraps to 0
    const bool one_alive[] = {false, false, true};
    CHECK(p->without(one_alive)->server_for("") == 2);
    const bool dead[] = {false, false, false};
    CHECK(p->without(dead)->server_for("") == placement::none);
}

TEST_CASE("without: an entry missing from `alive` counts as dead") {
    const auto list = servers({"10.0.0.1", "10.0.0.2", "10.0.0.3"});
    for (auto d : {distribution::ketama, distribution::rendezvous, distribution::modula}) {
        const auto p = make(d, list);
        CHECK(p->without({})->server_for("foo") == placement::none);
        const bool first_only[] = {true};
        CHECK(p->without(first_only)->server_for("foo") == 0);
    }
}

TEST_CASE("make_placement: errors name the entry") {
    boost::system::error_code ec;
    std::string why;
    auto list = servers({"127.0.0.1:11211", "127.0.0.1:11212", "127.0.0.1:11213"}, {1, 1, 0});
    for (auto d : {distribution::ketama, distribution::rendezvous, distribution::modula}) {
        CHECK_FALSE(memcoro::detail::make_placement(d, list, ec, why));
        CHECK(ec == memcoro::error::invalid_argument);
        CHECK(why == "servers[2] \"127.0.0.1:11213\": weight 0");
    }
    list[2].weight = 1;
    list[1].weight = 2;
    CHECK_FALSE(memcoro::detail::make_placement(distribution::rendezvous, list, ec, why));
    CHECK(ec == memcoro::error::invalid_argument);
    CHECK(why.starts_with("servers[1] \"127.0.0.1:11212\": weight 2"));
    // Weights are fine for the other two.
    CHECK(memcoro::detail::make_placement(distribution::ketama, list, ec, why));
    CHECK_FALSE(ec);
    CHECK(memcoro::detail::make_placement(distribution::modula, list, ec, why));
    CHECK_FALSE(ec);

    CHECK_FALSE(memcoro::detail::make_placement(distribution::ketama, {}, ec, why));
    CHECK(ec == memcoro::error::invalid_argument);
    CHECK(why == "no servers");

    list[1].weight = 1U << 25;
    CHECK_FALSE(memcoro::detail::make_placement(distribution::modula, list, ec, why));
    CHECK(ec == memcoro::error::invalid_argument);
}
