// What the placement agreement tests, the placement tool and the placement benchmarks
// share: server lists built from text, and seeded random keys.
#pragma once

#include <cstdint>
#include <memory>
#include <placement/placement.hpp>
#include <random>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace placement_fixtures {

using memcoro::detail::placement_server;

// One server from its address text (any form parse_address accepts) and weight.
inline placement_server server(std::string_view text, std::uint32_t weight = 1) {
    placement_server s{.text = std::string(text), .address = {}, .weight = weight};
    if (memcoro::detail::parse_address(text, s.address)) {
        throw std::invalid_argument("bad server address: " + std::string(text));
    }
    return s;
}

// make_placement, or an exception saying why not.
inline std::unique_ptr<memcoro::detail::placement> must_make(
    memcoro::distribution d, std::span<const placement_server> list) {
    boost::system::error_code ec;
    std::string why;
    auto p = memcoro::detail::make_placement(d, list, ec, why);
    if (!p) throw std::invalid_argument("make_placement: " + why);
    return p;
}

// `count` TCP servers 10.<a>.<b>.<c>:<port> on ports other than 11211 (so that point names
// carry the port), with the given weights repeated over the list.
inline std::vector<placement_server> many_servers(std::size_t count,
                                                  std::vector<std::uint32_t> weights = {1}) {
    std::vector<placement_server> out;
    out.reserve(count);
    for (std::size_t i = 0; i < count; ++i) {
        const std::string text = "10." + std::to_string(i >> 16 & 255) + '.' +
                                 std::to_string(i >> 8 & 255) + '.' + std::to_string(i & 255) +
                                 ':' + std::to_string(20000 + i % 1000);
        out.push_back(server(text, weights[i % weights.size()]));
    }
    return out;
}

// Keys of `min_length` to 64 bytes. With `high_bytes`, one key in eight carries UTF-8 text
// (two- and three-byte characters), the bytes users can opt into (protocol.md 1.2). Short
// keys repeat (there are 94 one-byte keys): a count of keys per server wants
// min_length 8.
inline std::vector<std::string> random_keys(std::size_t count, std::uint64_t seed,
                                            bool high_bytes = true, int min_length = 1) {
    std::mt19937_64 rng(seed);
    std::uniform_int_distribution<int> length(min_length, 64);
    std::uniform_int_distribution<int> printable(0x21, 0x7e);
    std::vector<std::string> keys;
    keys.reserve(count);
    for (std::size_t i = 0; i < count; ++i) {
        std::string key;
        const int n = length(rng);
        const bool utf8 = high_bytes && rng() % 8 == 0;
        while (static_cast<int>(key.size()) < n) {
            if (utf8 && rng() % 3 == 0) {
                key += rng() % 2 == 0 ? "\xc3\xa9" : "\xe2\x82\xac";  // é, €
            } else {
                key += static_cast<char>(printable(rng));
            }
        }
        keys.push_back(std::move(key));
    }
    return keys;
}

}  // namespace placement_fixtures
