// Key placement (protocol.md 6, 7, 7.1): the digest's vectors, libmemcached's own ketama
// fixture, `without`, and the errors make_placement reports.
#include <doctest/doctest.h>

#include <memcoro/error.hpp>
#include <placement/ketama.hpp>
#include <placement/md5.hpp>
#include <placement/modula.hpp>
#include <placement/murmur3.hpp>
#include <placement/placement.hpp>
#include <placement/rendezvous.hpp>
#include <string>
#include <vector>

#include "ketama_fixture.hpp"

using memcoro::distribution;
using memcoro::detail::placement;
using memcoro::detail::placement_server;

namespace {

std::vector<placement_server> servers(std::initializer_list<const char*> texts,
                                      std::vector<std::uint32_t> weights = {}) {
    std::vector<placement_server> out;
    for (const char* text : texts) {
        placement_server s{.text = text, .address = {}, .weight = 1};
        REQUIRE_FALSE(memcoro::detail::parse_address(text, s.address));
        if (out.size() < weights.size()) s.weight = weights[out.size()];
        out.push_back(std::move(s));
    }
    return out;
}

std::unique_ptr<placement> make(distribution d, const std::vector<placement_server>& list) {
    boost::system::error_code ec;
    std::string why;
    auto p = memcoro::detail::make_placement(d, list, ec, why);
    REQUIRE_MESSAGE(!ec, why);
    REQUIRE(p);
    return p;
}

// The twenty keys of protocol.md 6.4's table, in its order.
const std::vector<std::string> table_keys = {
    "foo",     "bar", "hello",     "world",  "key",    "test",     "a",
    "b",       "c",   "memcached", "user:1", "user:2", "user:3",   "session:abc",
    "item-42", "0",   "1",         "apple",  "banana", "VDEAAAAA",
};

// protocol.md 6.4's three servers (built inside a test: REQUIRE needs one).
std::vector<placement_server> three() {
    return servers({"127.0.0.1:11211", "127.0.0.1:11212", "127.0.0.1:11213"});
}

// prefix + i. (g++ 12 at -O3 warns falsely, -Wrestrict, on "literal" + std::string&&.)
std::string numbered(std::string prefix, int i) {
    prefix += std::to_string(i);
    return prefix;
}

std::vector<std::size_t> place_all(const placement& p, const std::vector<std::string>& keys) {
    std::vector<std::size_t> out;
    for (const auto& k : keys) out.push_back(p.server_for(k));
    return out;
}

}  // namespace

TEST_CASE("md5: the first point name of protocol.md 6.1") {
    const auto d = memcoro::detail::md5("127.0.0.1-0");
    const std::uint8_t expected[16] = {0x7f, 0xa4, 0xff, 0xbd, 0x6e, 0xcb, 0x7e, 0xac,
                                       0xbb, 0x1b, 0x80, 0x30, 0xb2, 0xf4, 0xe0, 0xff};
    CHECK(std::equal(d.begin(), d.end(), expected));
    CHECK(memcoro::detail::md5_u32("foo") == 0xdb18bdac);
    CHECK(memcoro::detail::md5_u32("VDEAAAAA") == 0xfffcd1b5);
}

TEST_CASE("md5: RFC 1321 appendix A.5, and lengths around the one-block boundary") {
    auto hex = [](std::string_view s) {
        std::string out;
        for (auto b : memcoro::detail::md5(s)) {
            out += "0123456789abcdef"[b >> 4];
            out += "0123456789abcdef"[b & 15];
        }
        return out;
    };
    CHECK(hex("") == "d41d8cd98f00b204e9800998ecf8427e");
    CHECK(hex("abc") == "900150983cd24fb0d6963f7d28e17f72");
    CHECK(hex("message digest") == "f96b697d7cb7938d525a2f31aaf161d0");
    CHECK(hex("12345678901234567890123456789012345678901234567890123456789012345678901234567890") ==
          "57edf4a22be3c955ac49da2e2107b67a");
    // 55 bytes pad into one block, 56 need two, 64 is a full block and then padding.
    CHECK(hex(std::string(55, 'x')) == "04364420e25c512fd958a70738aa8f72");
    CHECK(hex(std::string(56, 'x')) == "668a72d5ba17f08e62dabcafad6db14b");
    CHECK(hex(std::string(64, 'y')) == "b0c4864f4e28d2d76929c38d87db7ed5");
}

TEST_CASE("ketama: protocol.md 6.4 columns W and W123") {
    const std::vector<std::size_t> w = {0, 1, 0, 0, 1, 1, 1, 1, 1, 2, 0, 2, 0, 0, 2, 2, 1, 1, 1, 1};
    const std::vector<std::size_t> w123 = {0, 1, 2, 2, 1, 1, 1, 1, 2, 2,
                                           0, 2, 2, 2, 2, 2, 1, 1, 1, 1};
    CHECK(place_all(*make(distribution::ketama, three()), table_keys) == w);
    const auto weighted =
        servers({"127.0.0.1:11211", "127.0.0.1:11212", "127.0.0.1:11213"}, {1, 2, 3});
    CHECK(place_all(*make(distribution::ketama, weighted), table_keys) == w123);
}

TEST_CASE("ketama: the 480-point continuum of three equal servers (protocol.md 6.4)") {
    const memcoro::detail::ketama_placement k(three());
    REQUIRE(k.size() == 480);
    auto check_point = [&](std::size_t i, std::uint32_t value, std::uint32_t server) {
        CAPTURE(i);
        CHECK(k.at(i).value == value);
        CHECK(k.at(i).server == server);
    };
    check_point(0, 0x00f35431, 1);
    check_point(1, 0x00fd272f, 0);
    check_point(2, 0x016eff02, 1);
    check_point(477, 0xfd910616, 0);
    check_point(478, 0xffb38146, 1);
    check_point(479, 0xffe0f4b2, 0);
}

TEST_CASE("ketama: points per server, in float as libmemcached computes them") {
    using memcoro::detail::ketama_points;
    CHECK(ketama_points(1, 3, 3) == 160);
    CHECK(ketama_points(1, 6, 3) == 80);
    CHECK(ketama_points(2, 6, 3) == 160);
    CHECK(ketama_points(3, 6, 3) == 240);
    // Equal weights do not always give 160: 1/25 * 40 * 25 in float is just under 40, so
    // 25 (or 100, or 1,001) equal servers get 156 points each, in libmemcached too.
    CHECK(ketama_points(1, 25, 25) == 156);
    CHECK(ketama_points(1, 100, 100) == 156);
    CHECK(ketama_points(1, 1000, 1000) == 160);
    CHECK(ketama_points(1, 1001, 1001) == 156);
    // A server with a tiny share gets no point at all, and so no key.
    CHECK(ketama_points(1, 10000, 2) == 0);
}

TEST_CASE("ketama: point names for ports, IPv6 hosts and unix sockets") {
    using memcoro::detail::ketama_name;
    const auto list =
        servers({"127.0.0.1", "127.0.0.1:11212", "[::1]:11212", "[::1]", "/tmp/m.sock", "unix:/x"});
    CHECK(ketama_name(list[0].address) == "127.0.0.1");
    CHECK(ketama_name(list[1].address) == "127.0.0.1:11212");
    CHECK(ketama_name(list[2].address) == "::1:11212");
    CHECK(ketama_name(list[3].address) == "::1");
    CHECK(ketama_name(list[4].address) == "/tmp/m.sock:0");
    CHECK(ketama_name(list[5].address) == "/x:0");
}

TEST_CASE("ketama: libmemcached's 8-server weighted fixture") {
    std::vector<placement_server> list;
    for (int i = 0; i < 8; ++i) {
        placement_server s;
        s.text = "10.0.1." + std::to_string(i + 1) + ":11211";
        REQUIRE_FALSE(memcoro::detail::parse_address(s.text, s.address));
        s.weight = ketama_fixture::weights[i];
        list.push_back(std::move(s));
    }
    const memcoro::detail::ketama_placement k(list);
    for (const auto& row : ketama_fixture::rows) {
        CAPTURE(row.key);
        CHECK(memcoro::detail::md5_u32(row.key) == row.key_hash);
        CHECK(k.server_for(row.key) == row.server);
        // The point it lands on: the first at or after the key's hash.
        std::size_t i = 0;
        while (i < k.size() && k.at(i).value < row.key_hash) ++i;
        REQUIRE(i < k.size());
        CHECK(k.at(i).value == row.point);
    }
}

TEST_CASE("ketama: one server takes every key; without it, none does") {
    const auto one = servers({"10.0.0.1:11300"});
    const auto p = make(distribution::ketama, one);
    CHECK(p->server_for("foo") == 0);
    CHECK(p->server_for("") == 0);
    const bool dead[] = {false};
    CHECK(p->without(dead)->server_for("foo") == placement::none);
}

TEST_CASE("ketama: without keeps the keys of live servers and moves only the dead one's") {
    const auto list = servers({"10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.4"}, {1, 2, 1, 1});
    const auto full = make(distribution::ketama, list);
    const bool alive[] = {true, false, true, true};
    const auto less = full->without(alive);
    // The dead server's keys go elsewhere; most others stay (a few move because the
    // remaining servers' shares are recomputed, as libmemcached recomputes them).
    int stayed = 0, moved_live = 0;
    for (int i = 0; i < 2000; ++i) {
        const std::string key = numbered("key:", i);
        const std::size_t before = full->server_for(key);
        const std::size_t after = less->server_for(key);
        CHECK(after != 1);
        CHECK(after < 4);
        if (before != 1) (before == after ? stayed : moved_live) += 1;
    }
    CHECK(stayed > 9 * moved_live);
    // All alive again: the same as the full placement; and without starts from the full list.
    const bool all[] = {true, true, true, true};
    const auto again = less->without(all);
    for (const auto& k : table_keys) CHECK(again->server_for(k) == full->server_for(k));
}

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
        CHECK(why == "server 2 (127.0.0.1:11213): weight 0");
    }
    list[2].weight = 1;
    list[1].weight = 2;
    CHECK_FALSE(memcoro::detail::make_placement(distribution::rendezvous, list, ec, why));
    CHECK(ec == memcoro::error::invalid_argument);
    CHECK(why.starts_with("server 1 (127.0.0.1:11212): weight 2"));
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
