// libmemcached's weighted ketama (protocol.md 6.1): 4 points per MD5 of "<name>-<i>",
// sorted by (value, server index); a key goes to the first point at or after the first
// four bytes of its MD5, wrapping to the first point.
#include "ketama.hpp"

#include <algorithm>
#include <cmath>

#include "md5.hpp"

namespace memcoro::detail {
namespace {

std::uint32_t load_le(const std::uint8_t* p) noexcept {
    return std::uint32_t{p[0]} | std::uint32_t{p[1]} << 8 | std::uint32_t{p[2]} << 16 |
           std::uint32_t{p[3]} << 24;
}

}  // namespace

std::uint32_t ketama_points(std::uint32_t weight, std::uint64_t total_weight,
                            std::uint32_t live_servers) noexcept {
    // Every step in float, in libmemcached's order: pct * 160 / 4 * n + 1e-10.
    const float pct = static_cast<float>(weight) / static_cast<float>(total_weight);
    const float scaled = pct * 160.0F / 4.0F * static_cast<float>(live_servers) + 1e-10F;
    return static_cast<std::uint32_t>(std::floor(scaled)) * 4;
}

std::string ketama_name(const server_address& address) {
    if (address.is_unix) return address.path + ":0";
    if (address.port == 11211) return address.host;
    return address.host + ':' + std::to_string(address.port);
}

ketama_placement::ketama_placement(std::span<const placement_server> servers) {
    names_.reserve(servers.size());
    weights_.reserve(servers.size());
    for (const auto& s : servers) {
        names_.push_back(ketama_name(s.address));
        weights_.push_back(s.weight);
    }
    build(std::vector<bool>(servers.size(), true));
}

ketama_placement::ketama_placement(const ketama_placement& full, const std::vector<bool>& live)
    : names_(full.names_), weights_(full.weights_) {
    build(live);
}

void ketama_placement::build(const std::vector<bool>& live_servers) {
    single_ = names_.size() == 1 && live_servers[0];
    std::uint64_t total_weight = 0;
    std::uint32_t live = 0;
    for (std::size_t i = 0; i < names_.size(); ++i) {
        if (!live_servers[i]) continue;
        total_weight += weights_[i];
        ++live;
    }
    if (live == 0) return;

    // (value << 32 | index) sorts by value, then index, as libmemcached's qsort does.
    std::vector<std::uint64_t> points;
    points.reserve(std::size_t{live} * 160);
    std::string name;
    for (std::size_t i = 0; i < names_.size(); ++i) {
        if (!live_servers[i]) continue;
        const std::uint32_t hashes = ketama_points(weights_[i], total_weight, live) / 4;
        for (std::uint32_t h = 0; h < hashes; ++h) {
            name.assign(names_[i]).append(1, '-').append(std::to_string(h));
            const md5_digest d = md5(name);
            for (int j = 0; j < 4; ++j) {
                points.push_back(std::uint64_t{load_le(d.data() + 4 * j)} << 32 | i);
            }
        }
    }
    std::sort(points.begin(), points.end());
    values_.resize(points.size());
    servers_.resize(points.size());
    for (std::size_t p = 0; p < points.size(); ++p) {
        values_[p] = static_cast<std::uint32_t>(points[p] >> 32);
        servers_[p] = static_cast<std::uint32_t>(points[p]);
    }
    index_buckets();
}

void ketama_placement::index_buckets() {
    // At least as many buckets as points (a power of two, so a bucket is the top bits of
    // a hash), at most 2^20 (4 MB, from 3,277 servers on).
    int bits = 1;
    while (bits < 20 && (std::size_t{1} << bits) < values_.size()) ++bits;
    bucket_shift_ = 32 - bits;
    const std::size_t buckets = std::size_t{1} << bits;
    bucket_first_.resize(buckets + 1);
    std::size_t p = 0;
    for (std::size_t b = 0; b < buckets; ++b) {
        const std::uint64_t start = std::uint64_t{b} << bucket_shift_;
        while (p < values_.size() && values_[p] < start) ++p;
        bucket_first_[b] = static_cast<std::uint32_t>(p);
    }
    bucket_first_[buckets] = static_cast<std::uint32_t>(values_.size());
}

std::size_t ketama_placement::server_for(std::string_view key) const noexcept {
    if (single_) return 0;
    if (values_.empty()) return none;
    return server_for_hash(md5_u32(key));
}

void ketama_placement::servers_for(std::span<const std::string_view> keys,
                                   std::span<std::size_t> out) const noexcept {
    if (single_ || values_.empty()) {
        std::fill_n(out.begin(), keys.size(), single_ ? 0 : none);
        return;
    }
    // The hashes of up to `chunk` keys at a time, on the stack (a multiple of md5.cpp's
    // 8 lanes, and more keys than a get_many usually holds).
    constexpr std::size_t chunk = 128;
    std::uint32_t hashes[chunk];
    for (std::size_t first = 0; first < keys.size(); first += chunk) {
        const std::size_t n = std::min(chunk, keys.size() - first);
        md5_u32_many(keys.subspan(first, n), {hashes, n});
        for (std::size_t i = 0; i < n; ++i) out[first + i] = server_for_hash(hashes[i]);
    }
}

std::size_t ketama_placement::server_for_hash(std::uint32_t h) const noexcept {
    // The answer, the first point at or after h, is in h's bucket or is the first point of
    // the next one: every point before bucket_first_[b] is below the bucket's start, every
    // point from bucket_first_[b + 1] on is at or above the next bucket's start. With at
    // least as many buckets as points, a bucket holds about one point.
    const std::uint32_t b = h >> bucket_shift_;
    std::size_t pos = bucket_first_[b];
    const std::size_t end = bucket_first_[b + 1];
    while (pos < end && values_[pos] < h) ++pos;
    if (pos == values_.size()) pos = 0;  // past the last point: wrap to the first
    return servers_[pos];
}

std::unique_ptr<placement> ketama_placement::without(std::span<const bool> alive) const {
    return std::unique_ptr<placement>(new ketama_placement(*this, live_mask(alive, names_.size())));
}

}  // namespace memcoro::detail
