// Our ketama against the installed libmemcached (protocol.md 6.1), key for key: 100,000
// random keys per server list. libmemcached computes every expected index here, live.
#include <doctest/doctest.h>

#include <memory>
#include <placement/placement.hpp>
#include <string>
#include <vector>

#include "libmemcached_ring.hpp"
#include "placement_fixtures.hpp"

using memcoro::detail::placement;
using memcoro::detail::placement_server;
using placement_fixtures::server;

namespace {

constexpr std::size_t key_count = 100'000;

const std::vector<std::string>& keys() {
    static const auto k = placement_fixtures::random_keys(key_count, 20240611);
    return k;
}

std::unique_ptr<placement> ours(const std::vector<placement_server>& list) {
    return placement_fixtures::must_make(memcoro::distribution::ketama, list);
}

// Every key through memcached_generate_hash; the first thousand also through
// memcached_server_by_key, whose server must be the one at that index.
void check_agreement(const placement& p, memcached_st* m,
                     const std::vector<std::size_t>& to_original) {
    std::size_t differ = 0;
    std::string first_difference;
    for (std::size_t i = 0; i < keys().size(); ++i) {
        const std::string& key = keys()[i];
        const std::size_t theirs = to_original[memcached_generate_hash(m, key.data(), key.size())];
        const std::size_t mine = p.server_for(key);
        if (theirs != mine && differ++ == 0) {
            first_difference =
                key + ": libmemcached " + std::to_string(theirs) + ", ours " + std::to_string(mine);
        }
        if (i < 1000) {
            memcached_return_t rc = MEMCACHED_SUCCESS;
            const auto* by_key = memcached_server_by_key(m, key.data(), key.size(), &rc);
            const auto* at = memcached_server_instance_by_position(
                m, memcached_generate_hash(m, key.data(), key.size()));
            REQUIRE(rc == MEMCACHED_SUCCESS);
            CHECK(by_key == at);
        }
    }
    CHECK_MESSAGE(differ == 0, differ << " keys differ, first " << first_difference);
}

std::vector<std::size_t> identity(std::size_t n) {
    std::vector<std::size_t> v(n);
    for (std::size_t i = 0; i < n; ++i) v[i] = i;
    return v;
}

// The list, then `without` each server in turn (up to `limit` of them) against a second
// libmemcached handle built from the list without that server, as its auto-eject rebuild
// builds the continuum of the live servers.
void check_list(const std::vector<placement_server>& list, std::size_t limit = 3) {
    const auto p = ours(list);
    check_agreement(*p, placement_fixtures::libmemcached_ring(list).get(), identity(list.size()));
    for (std::size_t dead = 0; dead < list.size() && dead < limit; ++dead) {
        CAPTURE(dead);
        std::vector<placement_server> live;
        std::vector<std::size_t> to_original;
        const auto alive = std::make_unique<bool[]>(list.size());
        for (std::size_t i = 0; i < list.size(); ++i) {
            alive[i] = i != dead;
            if (i == dead) continue;
            live.push_back(list[i]);
            to_original.push_back(i);
        }
        const auto less = p->without(std::span<const bool>(alive.get(), list.size()));
        check_agreement(*less, placement_fixtures::libmemcached_ring(live).get(), to_original);
    }
}

}  // namespace

TEST_CASE("ketama agrees with libmemcached: non-default ports, weights 1,2,1") {
    check_list(
        {server("127.0.0.1:21211", 1), server("127.0.0.1:21212", 2), server("127.0.0.1:21213", 1)});
}

TEST_CASE("ketama agrees with libmemcached: port 11211, host names, IPv6") {
    check_list({server("127.0.0.1", 1), server("localhost:11212", 2), server("[::1]:11213", 1),
                server("[::1]", 3), server("cache-1.example.com:11211", 1)},
               5);
}

TEST_CASE("ketama agrees with libmemcached: unix sockets, alone and with TCP servers") {
    check_list({server("/tmp/memcoro-a.sock", 1), server("unix:/tmp/memcoro-b.sock", 2),
                server("/tmp/memcoro-c.sock", 1)});
    check_list({server("/tmp/memcoro-a.sock", 1), server("127.0.0.1:21212", 2),
                server("/var/run/memcached/memcached.sock", 1)});
}

TEST_CASE("ketama agrees with libmemcached: servers added one by one") {
    // memcached_server_add_unix_socket_with_weight and memcached_server_add_with_weight,
    // the calls a libmemcached user makes, rather than a pushed list.
    const std::vector<placement_server> list = {
        server("/tmp/memcoro-a.sock", 1), server("127.0.0.1:21212", 2), server("[::1]:21213", 1)};
    placement_fixtures::memcached_handle m(memcached_create(nullptr));
    REQUIRE(memcached_behavior_set(m.get(), MEMCACHED_BEHAVIOR_KETAMA_WEIGHTED, 1) ==
            MEMCACHED_SUCCESS);
    REQUIRE(memcached_server_add_unix_socket_with_weight(m.get(), "/tmp/memcoro-a.sock", 1) ==
            MEMCACHED_SUCCESS);
    REQUIRE(memcached_server_add_with_weight(m.get(), "127.0.0.1", 21212, 2) == MEMCACHED_SUCCESS);
    REQUIRE(memcached_server_add_with_weight(m.get(), "::1", 21213, 1) == MEMCACHED_SUCCESS);
    check_agreement(*ours(list), m.get(), identity(list.size()));
}

TEST_CASE("ketama agrees with libmemcached: 100 servers with uneven weights") {
    // Weights 1..7 make shares whose float rounding (protocol.md 6.1 step 3) lands on
    // both sides of whole numbers.
    check_list(placement_fixtures::many_servers(100, {1, 2, 3, 5, 7, 1, 4}), 2);
}

TEST_CASE("ketama agrees with libmemcached: 25 equal servers, 156 points each") {
    // Float rounding gives 156 points, not 160, at n = 25 (ketama_points' unit test).
    check_list(placement_fixtures::many_servers(25), 1);
}

TEST_CASE("ketama agrees with libmemcached: a single server") {
    const std::vector<placement_server> list = {server("127.0.0.1:21211", 5)};
    check_agreement(*ours(list), placement_fixtures::libmemcached_ring(list).get(), {0});
}
