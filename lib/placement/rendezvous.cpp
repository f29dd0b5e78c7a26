// pymemcache 3.5.2 HashClient's RendezvousHash (protocol.md 7): every node scores
// murmur3_32("<node>-<key>", seed 0); the highest score wins, a tie goes to the node
// whose name is larger. No weights, no virtual nodes: a lookup costs one hash per server.
#include "rendezvous.hpp"

#include <array>

namespace memcoro::detail {
namespace {

bool is_ascii(std::string_view s) noexcept {
    for (const char c : s) {
        if (static_cast<unsigned char>(c) >= 0x80) return false;
    }
    return true;
}

// Writes the code points of `s`, each reduced to its low byte, to `out` (room for
// s.size() bytes is enough) and returns how many; npos when `s` is not valid UTF-8.
// Overlong forms and surrogates are refused, as Python's decoder refuses them.
std::size_t low_bytes_of_code_points(std::string_view s, char* out) noexcept {
    constexpr auto invalid = std::string_view::npos;
    const auto* p = reinterpret_cast<const unsigned char*>(s.data());
    const unsigned char* end = p + s.size();
    std::size_t written = 0;
    while (p != end) {
        const unsigned lead = *p++;
        int more = 0;
        std::uint32_t cp = lead;
        std::uint32_t min = 0;
        if (lead >= 0x80) {
            if ((lead & 0xE0) == 0xC0) {
                more = 1, cp = lead & 0x1F, min = 0x80;
            } else if ((lead & 0xF0) == 0xE0) {
                more = 2, cp = lead & 0x0F, min = 0x800;
            } else if ((lead & 0xF8) == 0xF0) {
                more = 3, cp = lead & 0x07, min = 0x10000;
            } else {
                return invalid;
            }
        }
        if (end - p < more) return invalid;
        for (int i = 0; i < more; ++i, ++p) {
            if ((*p & 0xC0) != 0x80) return invalid;
            cp = cp << 6 | (*p & 0x3F);
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return invalid;
        out[written++] = static_cast<char>(cp & 0xFF);
    }
    return written;
}

}  // namespace

std::string rendezvous_name(const server_address& address) {
    if (address.is_unix) return address.path;
    return address.host + ':' + std::to_string(address.port);
}

std::string pymemcache_hash_bytes(std::string_view utf8) {
    std::string out(utf8.size(), '\0');
    const std::size_t n = low_bytes_of_code_points(utf8, out.data());
    if (n == std::string_view::npos) return std::string(utf8);
    out.resize(n);
    return out;
}

rendezvous_placement::rendezvous_placement(std::span<const placement_server> servers) {
    names_.reserve(servers.size());
    for (const auto& s : servers) names_.push_back(rendezvous_name(s.address));
    build(std::vector<bool>(servers.size(), true));
}

rendezvous_placement::rendezvous_placement(const rendezvous_placement& full,
                                           const std::vector<bool>& live)
    : names_(full.names_) {
    build(live);
}

void rendezvous_placement::build(const std::vector<bool>& live) {
    for (std::size_t i = 0; i < names_.size(); ++i) {
        if (!live[i]) continue;
        node n{.name = names_[i], .prefix = murmur3_32(0), .index = i};
        n.prefix.update(pymemcache_hash_bytes(names_[i]));
        n.prefix.update("-");
        live_.push_back(std::move(n));
    }
}

std::size_t rendezvous_placement::server_for(std::string_view key) const noexcept {
    if (live_.empty()) return none;
    // Keys are ASCII unless the user allows more bytes (protocol.md 1.2); only then is
    // the key converted, into a stack buffer: a valid key is at most 250 bytes (a longer
    // one, refused before it could reach a server, is hashed as it is).
    std::string_view hashed = key;
    std::array<char, 256> converted;
    if (!is_ascii(key) && key.size() <= converted.size()) {
        const std::size_t n = low_bytes_of_code_points(key, converted.data());
        if (n != std::string_view::npos) hashed = std::string_view(converted.data(), n);
    }

    const node* best = nullptr;
    std::uint32_t best_score = 0;
    for (const node& n : live_) {
        murmur3_32 m = n.prefix;
        m.update(hashed);
        const std::uint32_t score = m.finish();
        if (best == nullptr || score > best_score || (score == best_score && n.name > best->name)) {
            best = &n;
            best_score = score;
        }
    }
    return best->index;
}

std::unique_ptr<placement> rendezvous_placement::without(std::span<const bool> alive) const {
    return std::unique_ptr<placement>(
        new rendezvous_placement(*this, live_mask(alive, names_.size())));
}

}  // namespace memcoro::detail
