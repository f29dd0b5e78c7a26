// Which server of a tier a key belongs to.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string_view>

namespace memcoro {

// How keys are spread over the servers of client_options::servers. Each agrees, key for
// key, with the client named (protocol.md sections 6, 7 and 7.1). The key hashed is the
// caller's key, without client_options::key_prefix, as those clients do.
enum class distribution : std::uint8_t {
    // libmemcached's weighted ketama (MEMCACHED_BEHAVIOR_KETAMA_WEIGHTED), which is also
    // pylibmc's `ketama_weighted` and twemproxy's ketama with `hash: md5`.
    ketama,
    // pymemcache's HashClient: rendezvous hashing with murmur3. It has no weights.
    rendezvous,
    // python-memcache's crc32 buckets, with weights.
    modula,
};

// A distribution of the user's own: the index (into client_options::servers) of the
// server that a key (without the prefix) belongs to. It must be safe to call from several
// threads at once, and return an index below the number of servers.
using key_distribution = std::function<std::size_t(std::string_view key)>;

}  // namespace memcoro
