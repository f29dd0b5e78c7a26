// Key placement over a list of servers: sans-io (no Asio, no sockets, no clocks).
#pragma once

#include <memcoro/distribution.hpp>

#include "../detail/address.hpp"

#include <boost/system/error_code.hpp>

#include <cstddef>
#include <cstdint>
#include <limits>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace memcoro::detail {

// One server of the list, as configured.
struct placement_server {
    std::string text;        // the address exactly as the user wrote it
    server_address address;  // parsed (host as written, without IPv6 brackets)
    std::uint32_t weight = 1;
};

class placement {
public:
    static constexpr std::size_t none = std::numeric_limits<std::size_t>::max();

    virtual ~placement() = default;

    // The index (into the list it was built from) of the server `key` belongs to. `key`
    // is the caller's key without the prefix. Safe to call from several threads at once.
    [[nodiscard]] virtual std::size_t server_for(std::string_view key) const noexcept = 0;

    // server_for of each of `keys` into the same position of `out` (as long as `keys`),
    // for multi-key calls: a placement that can place many keys for less than one at a
    // time each (ketama: MD5 in SIMD lanes) overrides it.
    virtual void servers_for(std::span<const std::string_view> keys,
                             std::span<std::size_t> out) const noexcept {
        for (std::size_t i = 0; i < keys.size(); ++i) out[i] = server_for(keys[i]);
    }

    // The placement to use while the servers whose `alive[i]` is false are left out, as
    // the library it agrees with remaps their keys (ketama: the continuum of the live
    // servers; rendezvous: the best-scoring live server; modula: python-memcache's rehash
    // rule). Its server_for returns indices into the original list, or `none` when no
    // live server takes the key. Built once per change of the live set, not per key.
    // `alive` is indexed like the original list (an entry past its end counts as dead),
    // and is always applied to that list: calling without on a placement that without
    // returned starts again from every server, it does not narrow the set further.
    [[nodiscard]] virtual std::unique_ptr<placement> without(
        std::span<const bool> alive) const = 0;
};

// `alive`, as without receives it, as a mask over `count` servers: an entry past its end
// counts as dead.
[[nodiscard]] std::vector<bool> live_mask(std::span<const bool> alive, std::size_t count);

// Builds the placement, or returns null with error::invalid_argument and `why` naming the
// bad entry (a weight of 0; rendezvous with a weight other than 1), or saying what else is
// wrong (an empty list; modula weights adding up to more than 2^24 buckets).
[[nodiscard]] std::unique_ptr<placement> make_placement(distribution d,
                                                        std::span<const placement_server> servers,
                                                        boost::system::error_code& ec,
                                                        std::string& why);

// A user-supplied distribution over `count` servers. Its `without` sends a dead server's
// key to the next live server in list order (wrapping to the first). An index the
// callable returns at or past `count`, or an exception it throws, gives `none`, not a
// clamped index: the operation fails instead of going to a server nobody chose.
[[nodiscard]] std::unique_ptr<placement> make_custom_placement(key_distribution f,
                                                               std::size_t count);

}  // namespace memcoro::detail
