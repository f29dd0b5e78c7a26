// MD5 and ketama (protocol.md 6.1, 6.4): the digest's vectors, the 480-point continuum,
// libmemcached's own 8-server fixture, `without`, and placing many keys at once.
#include <algorithm>
#include <memory>
#include <placement/ketama.hpp>
#include <placement/md5.hpp>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "ketama_fixture.hpp"
#include "placement_support.hpp"

using namespace placement_test;

namespace {

// `count` keys of random bytes (any of 256), `min_size` to `max_size` long.
std::vector<std::string> random_keys(std::size_t count, std::size_t min_size, std::size_t max_size,
                                     unsigned seed) {
    std::mt19937 rng(seed);
    std::uniform_int_distribution<std::size_t> size(min_size, max_size);
    std::uniform_int_distribution<int> byte(0, 255);
    std::vector<std::string> out(count);
    for (auto& k : out) {
        k.resize(size(rng));
        for (auto& c : k) c = static_cast<char>(byte(rng));
    }
    return out;
}

std::vector<std::string_view> views(const std::vector<std::string>& keys) {
    return {keys.begin(), keys.end()};
}

// md5_u32_many over `keys` against md5_u32 of each, with the instruction set it picks
// and with each one it is compiled for that this CPU has.
void check_md5_many(const std::vector<std::string>& keys) {
    using memcoro::detail::md5_lanes_isa;
    const auto v = views(keys);
    const auto check = [&](const std::vector<std::uint32_t>& out) {
        for (std::size_t i = 0; i < v.size(); ++i) {
            CAPTURE(i);
            CAPTURE(v[i].size());
            CHECK(out[i] == memcoro::detail::md5_u32(v[i]));
        }
        // One more slot than keys: only as many are written as there are keys.
        CHECK(out.back() == 0x5a5a5a5a);
    };
    std::vector<std::uint32_t> out(v.size() + 1, 0x5a5a5a5a);
    memcoro::detail::md5_u32_many(v, std::span(out).first(v.size()));
    check(out);
    for (const auto isa : {md5_lanes_isa::baseline, md5_lanes_isa::avx2, md5_lanes_isa::avx512}) {
        CAPTURE(static_cast<int>(isa));
        std::fill(out.begin(), out.end(), 0x5a5a5a5a);
        const bool ran =
            memcoro::detail::md5_u32_many_using(isa, v, std::span(out).first(v.size()));
        // The baseline is always there.
        if (isa == md5_lanes_isa::baseline) REQUIRE(ran);
        if (ran) check(out);
    }
}

// servers_for against server_for, key by key.
void check_servers_for(const placement& p, const std::vector<std::string>& keys) {
    const auto v = views(keys);
    std::vector<std::size_t> out(v.size(), 12345);
    p.servers_for(v, out);
    std::size_t differ = 0;
    for (std::size_t i = 0; i < v.size(); ++i) differ += out[i] != p.server_for(v[i]) ? 1 : 0;
    CHECK(differ == 0);
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

TEST_CASE("md5_u32_many: md5_u32 of every key, at every length and batch size") {
    // Every length from 0 to 300, several keys each: one-block keys in lanes next to
    // longer ones on the scalar path, in one batch.
    std::vector<std::string> keys;
    for (std::size_t size = 0; size <= 300; ++size) {
        for (const auto& k : random_keys(3, size, size, static_cast<unsigned>(size))) {
            keys.push_back(k);
        }
    }
    std::shuffle(keys.begin(), keys.end(), std::mt19937(1));
    check_md5_many(keys);
    // Batches that fill no lane, part of one, exactly one, and more than one.
    for (const std::size_t count : {0, 1, 7, 8, 9, 100}) {
        CAPTURE(count);
        check_md5_many(random_keys(count, 0, 70, static_cast<unsigned>(count)));
    }
    check_md5_many({"foo", "VDEAAAAA", "127.0.0.1-0", std::string(55, 'x'), std::string(56, 'x')});
}

TEST_CASE("ketama: servers_for gives what server_for gives, before and after without") {
    const auto keys = random_keys(100'000, 0, 80, 42);
    std::vector<placement_server> hundred;
    for (int i = 0; i < 100; ++i) {
        placement_server s;
        s.text = "10.0." + std::to_string(i / 10) + "." + std::to_string(i % 10) + ":11211";
        REQUIRE_FALSE(memcoro::detail::parse_address(s.text, s.address));
        hundred.push_back(std::move(s));
    }
    const std::vector<std::vector<placement_server>> lists = {
        servers({"10.0.0.1:11300"}),
        servers({"10.0.0.1", "10.0.0.2", "10.0.0.3"}, {1, 2, 1}),
        hundred,
    };
    for (const auto& list : lists) {
        CAPTURE(list.size());
        const auto full = make(distribution::ketama, list);
        check_servers_for(*full, keys);
        // The first server dead; then every server dead (an empty continuum: none).
        const auto alive = std::make_unique<bool[]>(list.size());
        std::fill_n(alive.get(), list.size(), true);
        alive[0] = false;
        const auto less = full->without({alive.get(), list.size()});
        check_servers_for(*less, keys);
        const auto none = full->without({});
        check_servers_for(*none, keys);
        std::vector<std::size_t> out(3);
        none->servers_for(views({"a", "b", "c"}), out);
        CHECK(out == std::vector<std::size_t>(3, placement::none));
    }
}

TEST_CASE(
    "ketama: server_for_hash finds the first point at or after the hash, as a binary search") {
    // Continua of 480, 640 (weights 1, 2, 1), 16,000 and 160,000 points: the bucket index
    // of the search has 512 to 262,144 buckets.
    auto numbered = [](int count) {
        std::vector<placement_server> out;
        for (int i = 0; i < count; ++i) {
            placement_server s;
            s.text = "10." + std::to_string(i / 100) + ".0." + std::to_string(i % 100) + ":11211";
            REQUIRE_FALSE(memcoro::detail::parse_address(s.text, s.address));
            out.push_back(std::move(s));
        }
        return out;
    };
    const std::vector<std::vector<placement_server>> lists = {
        three(),
        servers({"10.0.0.1", "10.0.0.2", "10.0.0.3"}, {1, 2, 1}),
        numbered(100),
        numbered(1000),
    };
    std::mt19937 rng(7);
    for (const auto& list : lists) {
        const memcoro::detail::ketama_placement k(list);
        CAPTURE(k.size());
        std::vector<std::uint32_t> values(k.size());
        for (std::size_t i = 0; i < k.size(); ++i) values[i] = k.at(i).value;
        auto expected = [&](std::uint32_t h) {
            auto it = std::lower_bound(values.begin(), values.end(), h);
            return k.at(it == values.end() ? 0 : static_cast<std::size_t>(it - values.begin()))
                .server;
        };
        std::vector<std::uint32_t> hashes = {0, 1, 0x7fffffff, 0x80000000, 0xfffffffe, 0xffffffff};
        for (const auto v : values) {
            hashes.push_back(v - 1);
            hashes.push_back(v);
            hashes.push_back(v + 1);
        }
        for (int i = 0; i < 100'000; ++i) hashes.push_back(static_cast<std::uint32_t>(rng()));
        std::size_t wrong = 0;
        for (const auto h : hashes) wrong += k.server_for_hash(h) != expected(h) ? 1 : 0;
        CHECK(wrong == 0);
    }
}
