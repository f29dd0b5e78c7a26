// python-memcache's crc32 buckets (protocol.md 7.1).
#pragma once

#include <cstdint>
#include <vector>

#include "placement.hpp"

namespace memcoro::detail {

// python-memcache's cmemcache_hash: bits 16..30 of zlib's crc32, or 1 when those are 0.
[[nodiscard]] std::uint32_t cmemcache_hash(std::string_view data) noexcept;

class modula_placement final : public placement {
  public:
    // Buckets beyond this many (the sum of the weights) are refused by make_placement:
    // python-memcache keeps one list entry per unit of weight, and so does this class.
    static constexpr std::uint64_t max_buckets = std::uint64_t{1} << 24;

    // Every server up: a key's server is its bucket's.
    explicit modula_placement(std::span<const placement_server> servers);

    [[nodiscard]] std::size_t server_for(std::string_view key) const noexcept override;
    // A key whose bucket's server is down is rehashed as python-memcache does.
    [[nodiscard]] std::unique_ptr<placement> without(std::span<const bool> alive) const override;

  private:
    modula_placement(const modula_placement& full, std::vector<bool> live);

    std::vector<std::uint32_t> buckets_;  // server indices, each `weight` times in order
    std::size_t count_ = 0;               // servers
    std::vector<bool> alive_;             // empty when every server is up
};

}  // namespace memcoro::detail
