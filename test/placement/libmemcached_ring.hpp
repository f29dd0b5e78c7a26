// A libmemcached handle with the same servers as a placement list and weighted ketama on
// (protocol.md 6.1), for the agreement test and the benchmarks. Nothing connects: only
// the continuum is used.
#pragma once

#include <libmemcached/memcached.h>

#include <memory>
#include <placement/placement.hpp>
#include <span>
#include <stdexcept>

namespace placement_fixtures {

struct memcached_deleter {
    void operator()(memcached_st* m) const noexcept { memcached_free(m); }
};
using memcached_handle = std::unique_ptr<memcached_st, memcached_deleter>;

// The servers in list order, pushed at once (one continuum build, not one per server).
// Unix sockets go in by path, as memcached_server_add_unix_socket_with_weight would add
// them (port 0).
inline memcached_handle libmemcached_ring(std::span<const memcoro::detail::placement_server> list) {
    memcached_handle m(memcached_create(nullptr));
    if (!m) throw std::runtime_error("memcached_create failed");
    if (memcached_behavior_set(m.get(), MEMCACHED_BEHAVIOR_KETAMA_WEIGHTED, 1) !=
        MEMCACHED_SUCCESS) {
        throw std::runtime_error("MEMCACHED_BEHAVIOR_KETAMA_WEIGHTED refused");
    }
    memcached_server_list_st servers = nullptr;
    for (const auto& s : list) {
        memcached_return_t rc = MEMCACHED_SUCCESS;
        const auto& a = s.address;
        servers = memcached_server_list_append_with_weight(
            servers, a.is_unix ? a.path.c_str() : a.host.c_str(), a.is_unix ? 0 : a.port, s.weight,
            &rc);
        if (servers == nullptr || rc != MEMCACHED_SUCCESS) {
            throw std::runtime_error("memcached_server_list_append_with_weight: " + s.text);
        }
    }
    const memcached_return_t rc = memcached_server_push(m.get(), servers);
    memcached_server_list_free(servers);
    if (rc != MEMCACHED_SUCCESS) throw std::runtime_error("memcached_server_push failed");
    return m;
}

}  // namespace placement_fixtures
