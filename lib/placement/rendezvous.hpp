// pymemcache HashClient's rendezvous hashing (protocol.md 7).
#pragma once

#include <string>
#include <vector>

#include "murmur3.hpp"
#include "placement.hpp"

namespace memcoro::detail {

// The node name pymemcache gives a server: "host:port" (IPv6 without brackets, the port
// always written), or a unix socket's path as it is.
[[nodiscard]] std::string rendezvous_name(const server_address& address);

// The bytes pymemcache's pure-Python murmur3 hashes for a str: it reads each character
// with ord() & 0xff, so a non-ASCII character counts as one byte, its code point's low
// byte, not as its UTF-8 bytes. Text that is not valid UTF-8 (which no str key can be)
// is returned unchanged.
[[nodiscard]] std::string pymemcache_hash_bytes(std::string_view utf8);

class rendezvous_placement final : public placement {
  public:
    explicit rendezvous_placement(std::span<const placement_server> servers);

    // The best score of murmur3("<node>-<key>"); a tie goes to the larger node name.
    [[nodiscard]] std::size_t server_for(std::string_view key) const noexcept override;
    // Scores the live servers only.
    [[nodiscard]] std::unique_ptr<placement> without(std::span<const bool> alive) const override;

  private:
    struct node {
        std::string name;       // as pymemcache writes it (UTF-8), for ties
        murmur3_32 prefix;      // the hash state after "<name>-"
        std::size_t index = 0;  // into the original list
    };

    rendezvous_placement(const rendezvous_placement& full, const std::vector<bool>& live);
    void build(const std::vector<bool>& live);

    std::vector<std::string> names_;  // the original list, for without
    std::vector<node> live_;
};

}  // namespace memcoro::detail
