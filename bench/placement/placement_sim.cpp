// How each distribution spreads keys and how many move when the server set changes
// (bench/README.md, "Placement"). No servers: placements only. 1,000 servers of weight 1,
// 1,000,000 keys.
//
// Columns: the fraction of keys whose server changes when one server leaves (through
// `without`, as the router does while it is down) and when it comes back; when the list
// itself shrinks to 999 or grows to 1,001 (a configuration change); and the most and
// fewest keys a server holds, over the mean.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <memory>
#include <placement/placement.hpp>
#include <string>
#include <thread>
#include <vector>

#include "placement_fixtures.hpp"

namespace {

using memcoro::distribution;
using memcoro::detail::placement;
using memcoro::detail::placement_server;

constexpr std::size_t server_count = 1000;
constexpr std::size_t key_count = 1'000'000;
constexpr std::size_t leaving = 500;  // the server that leaves (any one will do)

const std::vector<std::string>& keys() {
    // 8 to 64 bytes: no key repeats, so a server's count is its share of the key space.
    static const auto k = placement_fixtures::random_keys(key_count, 11, false, 8);
    return k;
}

// Each key's server, into original indices through `to_original` (empty: as they are).
// Two threads: rendezvous scores all 1,000 servers per key.
std::vector<std::uint32_t> place(const placement& p, const std::vector<std::size_t>& to_original) {
    std::vector<std::uint32_t> out(keys().size());
    auto work = [&](std::size_t from, std::size_t to) {
        for (std::size_t i = from; i < to; ++i) {
            const std::size_t s = p.server_for(keys()[i]);
            out[i] = static_cast<std::uint32_t>(
                to_original.empty() || s == placement::none ? s : to_original[s]);
        }
    };
    std::thread half(work, 0, keys().size() / 2);
    work(keys().size() / 2, keys().size());
    half.join();
    return out;
}

double moved(const std::vector<std::uint32_t>& a, const std::vector<std::uint32_t>& b) {
    std::size_t n = 0;
    for (std::size_t i = 0; i < a.size(); ++i) n += a[i] != b[i];
    return static_cast<double>(n) / static_cast<double>(a.size());
}

struct row {
    const char* name;
    distribution d;
};

void simulate(const row& r) {
    const auto started = std::chrono::steady_clock::now();
    const auto list = placement_fixtures::many_servers(server_count + 1);
    const std::vector<placement_server> full_list(list.begin(), list.end() - 1);
    const auto full = placement_fixtures::must_make(r.d, full_list);
    const auto before = place(*full, {});

    // One server leaves, then comes back (without, then without again with all alive).
    const auto alive = std::make_unique<bool[]>(server_count);
    std::fill_n(alive.get(), server_count, true);
    alive[leaving] = false;
    const auto less = full->without(std::span<const bool>(alive.get(), server_count));
    const auto during = place(*less, {});
    alive[leaving] = true;
    const auto back = place(*less->without(std::span<const bool>(alive.get(), server_count)), {});

    // The list shrinks (server `leaving` removed) or grows by one.
    std::vector<placement_server> shrunk = full_list;
    shrunk.erase(shrunk.begin() + leaving);
    std::vector<std::size_t> shrunk_index(server_count - 1);
    for (std::size_t i = 0; i < shrunk_index.size(); ++i) shrunk_index[i] = i < leaving ? i : i + 1;
    const auto after_shrink = place(*placement_fixtures::must_make(r.d, shrunk), shrunk_index);
    const auto after_grow = place(*placement_fixtures::must_make(r.d, list), {});

    std::vector<std::size_t> per_server(server_count);
    for (const auto s : before) ++per_server[s];
    const auto [lo, hi] = std::minmax_element(per_server.begin(), per_server.end());
    const double mean = static_cast<double>(key_count) / server_count;

    std::printf("| %s | %.2f%% | %.2f%% | %.2f%% | %.2f%% | %.2f | %.2f |", r.name,
                100 * moved(before, during), 100 * moved(during, back),
                100 * moved(before, after_shrink), 100 * moved(before, after_grow),
                static_cast<double>(*hi) / mean, static_cast<double>(*lo) / mean);
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    std::fprintf(stderr, "%s: %.1f s\n", r.name, seconds);
    std::printf("\n");
}

}  // namespace

int main() {
    std::printf("%zu servers (weight 1), %zu random keys; server %zu leaves\n\n", server_count,
                key_count, leaving);
    std::printf(
        "| distribution | moved: leaves (without) | moved: comes back | moved: list of 999 "
        "| moved: list of 1,001 | max/mean keys | min/mean keys |\n");
    std::printf("| --- | ---: | ---: | ---: | ---: | ---: | ---: |\n");
    for (const row& r :
         {row{"ketama", distribution::ketama}, row{"rendezvous", distribution::rendezvous},
          row{"modula", distribution::modula}}) {
        simulate(r);
        std::fflush(stdout);
    }
}
