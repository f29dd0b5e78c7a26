// libmemcached's weighted ketama continuum (protocol.md 6.1).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "placement.hpp"

namespace memcoro::detail {

// The number of continuum points a server gets, computed in float exactly as libmemcached
// does (protocol.md 6.1 step 3), so that counts agree at every rounding boundary.
[[nodiscard]] std::uint32_t ketama_points(std::uint32_t weight, std::uint64_t total_weight,
                                          std::uint32_t live_servers) noexcept;

// What libmemcached hashes, before "-<i>", for a server's points: the host as written
// (IPv6 without brackets), with ":<port>" unless the port is 11211. A unix socket is its
// path with ":0" (libmemcached stores port 0 for it), found with the real library.
[[nodiscard]] std::string ketama_name(const server_address& address);

class ketama_placement final : public placement {
  public:
    struct point {
        std::uint32_t value;
        std::uint32_t server;  // index into the original list
    };

    // The continuum over every server of the list.
    explicit ketama_placement(std::span<const placement_server> servers);

    [[nodiscard]] std::size_t server_for(std::string_view key) const noexcept override;
    // The keys' MD5s several at once (md5_u32_many), then each one's search.
    void servers_for(std::span<const std::string_view> keys,
                     std::span<std::size_t> out) const noexcept override;
    // The continuum of the live servers only, with weights shared among those, as
    // libmemcached's auto-eject rebuild does (protocol.md 6.1 step 2).
    [[nodiscard]] std::unique_ptr<placement> without(std::span<const bool> alive) const override;

    // The server of the first point at or after `hash`, wrapping to the first point: what
    // server_for does once it has hashed the key. The continuum must not be empty.
    [[nodiscard]] std::size_t server_for_hash(std::uint32_t hash) const noexcept;

    [[nodiscard]] std::size_t size() const noexcept { return values_.size(); }
    [[nodiscard]] point at(std::size_t i) const noexcept { return {values_[i], servers_[i]}; }

  private:
    ketama_placement(const ketama_placement& full, const std::vector<bool>& live);
    void build(const std::vector<bool>& live);
    void index_buckets();

    // The original list, for without: each server's point name and weight.
    std::vector<std::string> names_;
    std::vector<std::uint32_t> weights_;
    // The continuum as two parallel arrays: the search touches only the 4-byte values,
    // so twice as many fit per cache line as in libmemcached's (value, index) pairs.
    std::vector<std::uint32_t> values_;
    std::vector<std::uint32_t> servers_;
    // Where the search for a hash starts: the index of the first point at or above the
    // start of each bucket of hashes (their top bits), and values_.size() after the last.
    // Measured against the branch-free binary search it replaced (bench/README.md,
    // "Placement"): 164 instructions per lookup at 4 servers (640 points), now about 15.
    std::vector<std::uint32_t> bucket_first_;
    int bucket_shift_ = 31;
    // libmemcached answers 0 without hashing when the list has one server.
    bool single_ = false;
};

}  // namespace memcoro::detail
