// make_placement: checks the list, then builds the distribution asked for.
#include "placement.hpp"

#include <memcoro/error.hpp>

#include "ketama.hpp"
#include "modula.hpp"
#include "rendezvous.hpp"

namespace memcoro::detail {
namespace {

std::string entry(std::size_t i, const placement_server& s) {
    return "servers[" + std::to_string(i) + "] \"" + s.text + "\"";  // as the router names entries
}

// The reason the list cannot be used with `d`, or an empty string.
std::string check(distribution d, std::span<const placement_server> servers) {
    if (servers.empty()) return "no servers";
    std::uint64_t total_weight = 0;
    for (std::size_t i = 0; i < servers.size(); ++i) {
        const placement_server& s = servers[i];
        // No library we agree with gives a server of weight 0 a share: libmemcached
        // quietly reads it as 1, python-memcache gives it no bucket.
        if (s.weight == 0) return entry(i, s) + ": weight 0";
        if (d == distribution::rendezvous && s.weight != 1) {
            return entry(i, s) + ": weight " + std::to_string(s.weight) +
                   ", but rendezvous (pymemcache's HashClient) has no weights";
        }
        total_weight += s.weight;
    }
    if (d == distribution::modula && total_weight > modula_placement::max_buckets) {
        return "weights add up to " + std::to_string(total_weight) + ", over modula's limit of " +
               std::to_string(modula_placement::max_buckets) + " (one bucket per unit of weight)";
    }
    return {};
}

}  // namespace

std::vector<bool> live_mask(std::span<const bool> alive, std::size_t count) {
    std::vector<bool> live(count, false);
    for (std::size_t i = 0; i < alive.size() && i < count; ++i) live[i] = alive[i];
    return live;
}

std::unique_ptr<placement> make_placement(distribution d, std::span<const placement_server> servers,
                                          boost::system::error_code& ec, std::string& why) {
    why = check(d, servers);
    if (!why.empty()) {
        ec = error::invalid_argument;
        return nullptr;
    }
    ec = {};
    switch (d) {
        case distribution::ketama:
            return std::make_unique<ketama_placement>(servers);
        case distribution::rendezvous:
            return std::make_unique<rendezvous_placement>(servers);
        case distribution::modula:
            return std::make_unique<modula_placement>(servers);
    }
    ec = error::invalid_argument;
    why = "unknown distribution " + std::to_string(static_cast<int>(d));
    return nullptr;
}

}  // namespace memcoro::detail
