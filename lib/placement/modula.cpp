// python-memcache 1.59 (protocol.md 7.1): server = buckets[cmemcache_hash(key) % buckets],
// and Client._get_server's failover when that server is dead.
#include "modula.hpp"

#include <boost/crc.hpp>
#include <charconv>

namespace memcoro::detail {
namespace {

// Client._SERVER_RETRIES: the buckets tried for one key, the first one included.
constexpr int server_retries = 10;

}  // namespace

std::uint32_t cmemcache_hash(std::string_view data) noexcept {
    boost::crc_32_type crc;  // zlib's crc32, as binascii.crc32
    crc.process_bytes(data.data(), data.size());
    const std::uint32_t h = (crc.checksum() >> 16) & 0x7fff;
    return h == 0 ? 1 : h;
}

modula_placement::modula_placement(std::span<const placement_server> servers)
    : count_(servers.size()) {
    for (std::size_t i = 0; i < servers.size(); ++i) {
        buckets_.insert(buckets_.end(), servers[i].weight, static_cast<std::uint32_t>(i));
    }
}

modula_placement::modula_placement(const modula_placement& full, std::vector<bool> live)
    : buckets_(full.buckets_), count_(full.count_), alive_(std::move(live)) {}

std::size_t modula_placement::server_for(std::string_view key) const noexcept {
    if (buckets_.empty()) return none;
    std::uint32_t hash = cmemcache_hash(key);
    if (alive_.empty()) return buckets_[hash % buckets_.size()];

    // Client._get_server: try the bucket; if its server is dead, the next hash is
    // cmemcache_hash(str(hash) + str(i)) for the i-th failure (i from 0). The 10th
    // failure's rehash is never tried, so the rehashed texts use i = 0..8.
    for (int i = 0; i < server_retries; ++i) {
        const std::uint32_t server = buckets_[hash % buckets_.size()];
        if (alive_[server]) return server;
        char text[24];  // two decimal numbers: at most 5 + 1 digits
        char* end = std::to_chars(text, text + sizeof text, hash).ptr;
        end = std::to_chars(end, text + sizeof text, i).ptr;
        hash = cmemcache_hash(std::string_view(text, static_cast<std::size_t>(end - text)));
    }
    return none;
}

std::unique_ptr<placement> modula_placement::without(std::span<const bool> alive) const {
    return std::unique_ptr<placement>(new modula_placement(*this, live_mask(alive, count_)));
}

}  // namespace memcoro::detail
