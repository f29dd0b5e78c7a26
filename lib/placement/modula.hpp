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

    // `alive` empty: every server is up, and a key's server is its bucket's. Otherwise a
    // key whose bucket's server is down is rehashed as python-memcache does.
    modula_placement(std::span<const placement_server> servers, std::span<const bool> alive);

    [[nodiscard]] std::size_t server_for(std::string_view key) const noexcept override;
    // Always from the original buckets, so it may be called on a result of without.
    [[nodiscard]] std::unique_ptr<placement> without(std::span<const bool> alive) const override;

  private:
    modula_placement(const modula_placement& full, std::span<const bool> alive);
    void set_alive(std::span<const bool> alive);

    std::vector<std::uint32_t> buckets_;  // server indices, each `weight` times in order
    std::size_t count_ = 0;               // servers
    std::vector<bool> alive_;             // empty when every server is up
};

}  // namespace memcoro::detail
