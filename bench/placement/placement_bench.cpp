// Placement lookup cost (bench/README.md, "Placement"): ns per key for ketama next to
// libmemcached's memcached_generate_hash (same keys, same servers, interleaved rounds,
// the median of each), MD5 alone next to libhashkit's, ketama one key at a time next to
// 100 keys a call (servers_for, as a multi-key call places them), the continuum build
// for 1,000 servers, and rendezvous and modula lookups at 10, 100 and 1,000 servers.
//
// `placement_bench md5 one` or `placement_bench md5 many` hashes the keys once, one at a
// time or 100 a call, and prints nothing else: for counting instructions per key under
// valgrind --tool=callgrind.
#include <placement/ketama.hpp>
#include <placement/md5.hpp>
#include <placement/placement.hpp>

#include "placement_fixtures.hpp"

#ifdef MEMCORO_HAVE_LIBMEMCACHED
#include "libmemcached_ring.hpp"
#endif

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace {

using clock_type = std::chrono::steady_clock;
using memcoro::distribution;
using memcoro::detail::placement;

constexpr int rounds = 9;

// Keys as a cache client sees them: printable, 1 to 64 bytes (mean 32.5).
const std::vector<std::string>& keys() {
    static const auto k = placement_fixtures::random_keys(200'000, 7, false);
    return k;
}

const std::vector<std::string_view>& key_views() {
    static const std::vector<std::string_view> v(keys().begin(), keys().end());
    return v;
}

std::size_t sink = 0;  // every result is added here, so no lookup is optimized away

// Keys placed per call in the batched rows: a get_many of 100 keys.
constexpr std::size_t batch = 100;

// Nanoseconds per call of `f` over the first `count` keys.
double ns_per_key(const std::function<std::size_t(const std::string&)>& f, std::size_t count) {
    const auto start = clock_type::now();
    std::size_t sum = 0;
    for (std::size_t i = 0; i < count; ++i) sum += f(keys()[i]);
    const auto elapsed = clock_type::now() - start;
    sink += sum;
    return std::chrono::duration<double, std::nano>(elapsed).count() / static_cast<double>(count);
}

// Nanoseconds per key of `f`, which takes `batch` keys a call and returns a checksum,
// over the first `count` keys.
double ns_per_key_batched(const std::function<std::size_t(std::span<const std::string_view>)>& f,
                          std::size_t count) {
    const auto start = clock_type::now();
    std::size_t sum = 0;
    for (std::size_t first = 0; first < count; first += batch) {
        sum += f(std::span(key_views()).subspan(first, std::min(batch, count - first)));
    }
    const auto elapsed = clock_type::now() - start;
    sink += sum;
    return std::chrono::duration<double, std::nano>(elapsed).count() / static_cast<double>(count);
}

double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
}

std::unique_ptr<placement> build(distribution d, std::size_t servers) {
    return placement_fixtures::must_make(d, placement_fixtures::many_servers(servers));
}

// The medians of timings `a` and `b`, alternating which goes first, `rounds` times.
std::pair<double, double> interleaved_times(const std::function<double()>& a,
                                            const std::function<double()>& b) {
    std::vector<double> ta, tb;
    for (int r = 0; r < rounds; ++r) {
        if (r % 2 == 0) {
            ta.push_back(a());
            tb.push_back(b());
        } else {
            tb.push_back(b());
            ta.push_back(a());
        }
    }
    return {median(ta), median(tb)};
}

// `a` and `b` over the same keys, one at a time.
std::pair<double, double> interleaved(const std::function<std::size_t(const std::string&)>& a,
                                      const std::function<std::size_t(const std::string&)>& b,
                                      std::size_t count) {
    return interleaved_times([&] { return ns_per_key(a, count); },
                             [&] { return ns_per_key(b, count); });
}

// MD5 of `keys` one at a time, or (`many`) md5_u32_many of all at once; a checksum.
std::size_t md5_keys(std::span<const std::string_view> keys, bool many) {
    std::uint32_t out[batch];
    std::size_t sum = 0;
    if (many) {
        memcoro::detail::md5_u32_many(keys, {out, keys.size()});
        for (std::size_t i = 0; i < keys.size(); ++i) sum += out[i];
    } else {
        for (const auto k : keys) sum += memcoro::detail::md5_u32(k);
    }
    return sum;
}

std::size_t place_keys(const placement& p, std::span<const std::string_view> keys, bool many) {
    std::size_t out[batch];
    std::size_t sum = 0;
    if (many) {
        p.servers_for(keys, {out, keys.size()});
        for (std::size_t i = 0; i < keys.size(); ++i) sum += out[i];
    } else {
        for (const auto k : keys) sum += p.server_for(k);
    }
    return sum;
}

// Ketama for a multi-key call: server_for per key against servers_for of 100 keys.
void batch_rows() {
    const std::size_t n = keys().size();
    std::printf(
        "\n| ketama, %zu keys a call | one at a time ns/key | servers_for ns/key | ratio |\n",
        batch);
    std::printf("| --- | ---: | ---: | ---: |\n");
    {
        const auto [one, many] = interleaved_times(
            [&] { return ns_per_key_batched([](auto k) { return md5_keys(k, false); }, n); },
            [&] { return ns_per_key_batched([](auto k) { return md5_keys(k, true); }, n); });
        std::printf("| MD5 of the key only (md5_u32_many) | %.1f | %.1f | %.2f |\n", one, many,
                    many / one);
    }
    for (const std::size_t servers : {4, 10, 100, 1000}) {
        const auto p = build(distribution::ketama, servers);
        const auto [one, many] = interleaved_times(
            [&] { return ns_per_key_batched([&](auto k) { return place_keys(*p, k, false); }, n); },
            [&] { return ns_per_key_batched([&](auto k) { return place_keys(*p, k, true); }, n); });
        std::printf("| %s servers | %.1f | %.1f | %.2f |\n",
                    servers == 1000 ? "1,000" : std::to_string(servers).c_str(), one, many,
                    many / one);
    }
}

double median_ms(const std::function<void()>& f, int times) {
    std::vector<double> t;
    for (int i = 0; i < times; ++i) {
        const auto start = clock_type::now();
        f();
        t.push_back(std::chrono::duration<double, std::milli>(clock_type::now() - start).count());
    }
    return median(t);
}

void ketama_rows() {
    std::printf("| ketama lookup | memcoro ns/key | libmemcached ns/key | ratio |\n");
    std::printf("| --- | ---: | ---: | ---: |\n");
#ifdef MEMCORO_HAVE_LIBMEMCACHED
    const std::size_t n = keys().size();
    {
        const auto [ours, theirs] = interleaved(
            [](const std::string& k) { return std::size_t{memcoro::detail::md5_u32(k)}; },
            [](const std::string& k) {
                return std::size_t{
                    memcached_generate_hash_value(k.data(), k.size(), MEMCACHED_HASH_MD5)};
            },
            n);
        std::printf("| MD5 of the key only | %.1f | %.1f | %.2f |\n", ours, theirs, ours / theirs);
    }
    for (const std::size_t servers : {10, 100}) {
        const auto p = build(distribution::ketama, servers);
        const auto m =
            placement_fixtures::libmemcached_ring(placement_fixtures::many_servers(servers));
        const auto [ours, theirs] = interleaved(
            [&](const std::string& k) { return p->server_for(k); },
            [&](const std::string& k) {
                return std::size_t{memcached_generate_hash(m.get(), k.data(), k.size())};
            },
            n);
        std::printf("| %zu servers | %.1f | %.1f | %.2f |\n", servers, ours, theirs, ours / theirs);
    }
    // libmemcached aborts building a continuum for more than 100 servers (an assertion on
    // MEMCACHED_CONTINUUM_SIZE, 100 x 100 points). At 1,000 the reference is its MD5 plus
    // its search as dispatch_host does it: a binary search over (value, index) pairs.
    {
        const auto p = build(distribution::ketama, 1000);
        const auto& k = dynamic_cast<const memcoro::detail::ketama_placement&>(*p);
        struct item {
            std::uint32_t index;
            std::uint32_t value;
        };
        std::vector<item> continuum(k.size());
        for (std::size_t i = 0; i < k.size(); ++i) continuum[i] = {k.at(i).server, k.at(i).value};
        const auto lmc_like = [&](const std::string& key) -> std::size_t {
            const std::uint32_t h =
                memcached_generate_hash_value(key.data(), key.size(), MEMCACHED_HASH_MD5);
            const item* left = continuum.data();
            const item* right = left + continuum.size();
            while (left < right) {
                const item* middle = left + (right - left) / 2;
                if (middle->value < h) {
                    left = middle + 1;
                } else {
                    right = middle;
                }
            }
            return right == continuum.data() + continuum.size() ? continuum[0].index : right->index;
        };
        const auto [ours, theirs] =
            interleaved([&](const std::string& key) { return p->server_for(key); }, lmc_like, n);
        std::printf(
            "| 1,000 servers (libmemcached: its MD5 + its search, see below) | %.1f | %.1f "
            "| %.2f |\n",
            ours, theirs, ours / theirs);
    }
#else
    std::printf("| (libmemcached not found at build time: no comparison) | | | |\n");
#endif
}

void build_rows() {
    std::printf("\n| continuum build | ms |\n| --- | ---: |\n");
    std::printf("| memcoro: make_placement(ketama), 1,000 servers | %.1f |\n",
                median_ms([&] { sink += build(distribution::ketama, 1000) != nullptr; }, 5));
    const auto p = build(distribution::ketama, 1000);
    std::vector<char> alive(1000, 1);
    alive[500] = 0;
    const auto flags = std::make_unique<bool[]>(1000);
    for (std::size_t i = 0; i < 1000; ++i) flags[i] = alive[i] != 0;
    std::printf(
        "| memcoro: without(one of 1,000 servers) | %.1f |\n",
        median_ms([&] { sink += p->without(std::span<const bool>(flags.get(), 1000)) != nullptr; },
                  5));
#ifdef MEMCORO_HAVE_LIBMEMCACHED
    // libmemcached stops at 100 servers: both at 100, for a like-for-like build time.
    const auto hundred = placement_fixtures::many_servers(100);
    std::printf("| memcoro: make_placement(ketama), 100 servers | %.2f |\n",
                median_ms([&] { sink += build(distribution::ketama, 100) != nullptr; }, 9));
    std::printf(
        "| libmemcached: memcached_server_push, 100 servers | %.2f |\n",
        median_ms([&] { sink += placement_fixtures::libmemcached_ring(hundred) != nullptr; }, 9));
#endif
}

void scan_rows() {
    std::printf("\n| lookup | 10 servers | 100 servers | 1,000 servers |\n");
    std::printf("| --- | ---: | ---: | ---: |\n");
    for (const distribution d : {distribution::rendezvous, distribution::modula}) {
        std::printf("| %s ns/key |", d == distribution::rendezvous ? "rendezvous" : "modula");
        for (const std::size_t servers : {10, 100, 1000}) {
            const auto p = build(d, servers);
            // Rendezvous scores every server per key: fewer keys at 1,000 servers.
            const std::size_t count =
                keys().size() / (d == distribution::rendezvous ? servers / 10 : 1);
            std::vector<double> t;
            for (int r = 0; r < rounds; ++r) {
                t.push_back(
                    ns_per_key([&](const std::string& k) { return p->server_for(k); }, count));
            }
            std::printf(" %.1f |", median(t));
        }
        std::printf("\n");
    }
}

}  // namespace

int main(int argc, char** argv) {
    if (argc == 3 && std::string_view(argv[1]) == "md5") {
        const bool many = std::string_view(argv[2]) == "many";
        sink += ns_per_key_batched([&](auto k) { return md5_keys(k, many); }, keys().size()) > 0;
        std::fprintf(stderr, "(checksum %zu)\n", sink);
        return 0;
    }
    std::printf("keys: %zu random printable keys of 1 to 64 bytes; median of %d rounds\n\n",
                keys().size(), rounds);
    ketama_rows();
    batch_rows();
    build_rows();
    scan_rows();
    std::fprintf(stderr, "(checksum %zu)\n", sink);
}
