// What the placement unit tests share: server lists from text, make_placement that must
// succeed, and protocol.md 6.4's keys and servers.
#pragma once

#include <doctest/doctest.h>

#include <cstdint>
#include <initializer_list>
#include <memcoro/distribution.hpp>
#include <memory>
#include <placement/placement.hpp>
#include <string>
#include <vector>

namespace placement_test {

using memcoro::distribution;
using memcoro::detail::placement;
using memcoro::detail::placement_server;

inline std::vector<placement_server> servers(std::initializer_list<const char*> texts,
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

inline std::unique_ptr<placement> make(distribution d, const std::vector<placement_server>& list) {
    boost::system::error_code ec;
    std::string why;
    auto p = memcoro::detail::make_placement(d, list, ec, why);
    REQUIRE_MESSAGE(!ec, why);
    REQUIRE(p);
    return p;
}

// The twenty keys of protocol.md 6.4's table, in its order.
inline const std::vector<std::string> table_keys = {
    "foo",     "bar", "hello",     "world",  "key",    "test",     "a",
    "b",       "c",   "memcached", "user:1", "user:2", "user:3",   "session:abc",
    "item-42", "0",   "1",         "apple",  "banana", "VDEAAAAA",
};

// protocol.md 6.4's three servers (built inside a test: REQUIRE needs one).
inline std::vector<placement_server> three() {
    return servers({"127.0.0.1:11211", "127.0.0.1:11212", "127.0.0.1:11213"});
}

// prefix + i. (g++ 12 at -O3 warns falsely, -Wrestrict, on "literal" + std::string&&.)
inline std::string numbered(std::string prefix, int i) {
    prefix += std::to_string(i);
    return prefix;
}

inline std::vector<std::size_t> place_all(const placement& p,
                                          const std::vector<std::string>& keys) {
    std::vector<std::size_t> out;
    for (const auto& k : keys) out.push_back(p.server_for(k));
    return out;
}

}  // namespace placement_test
