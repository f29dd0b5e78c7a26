// Which of a multi-key call's keys go to which server, for a call fanned out over a tier
// (fanout.hpp): the keys grouped by server in one flat array, a counting sort.
#pragma once

#include <boost/container/small_vector.hpp>
#include <cstddef>
#include <cstring>
#include <span>
#include <string_view>

#include "../router/router.hpp"

namespace memcoro::detail {

// The parts of a call: each server that gets any of its keys, in ascending order, and
// how many keys it gets. Tables are inline up to a batch of 128 keys over 8 servers,
// which a get_many over a tier then builds with no allocation of its own (they were
// eight heap vectors, 8 of the 29 allocations of S9's get_many).
class key_split {
  public:
    key_split(const router& r, std::span<const std::string_view> keys) {
        // Placed together: ketama hashes the keys in SIMD lanes (placement.hpp).
        server_of_.resize(keys.size(), boost::container::default_init);
        r.servers_for(keys, server_of_);

        part_of_.assign(r.server_count(), 0);  // keys per server, then part per server
        std::size_t* count = part_of_.data();
        for (const auto s : server_of_) {
            if (s == placement::none) {
                ++dead_;
            } else {
                ++count[s];
            }
        }
        first_.push_back(0);
        for (std::size_t s = 0; s < part_of_.size(); ++s) {
            const std::size_t count = part_of_[s];
            part_of_[s] = servers_.size();
            if (count == 0) continue;
            servers_.push_back(s);
            first_.push_back(first_.back() + count);
        }
    }

    // The server of each part.
    [[nodiscard]] std::span<const std::size_t> servers() const noexcept { return servers_; }
    [[nodiscard]] std::size_t parts() const noexcept { return servers_.size(); }
    // Part p's keys are [first(p), first(p + 1)) of the grouped order; first(parts()) is
    // the number of keys whose server is live.
    [[nodiscard]] std::size_t first(std::size_t p) const noexcept { return first_[p]; }
    [[nodiscard]] std::size_t placed() const noexcept { return first_.back(); }
    // Keys whose server is dead.
    [[nodiscard]] std::size_t dead() const noexcept { return dead_; }

    // Calls `place(position, g)` for each placed key, in request order: g is its index in
    // the grouped order, where each part's keys are in request order.
    template <class Place>
    void group(Place place) const {
        boost::container::small_vector<std::size_t, 9> next(first_.begin(), first_.end() - 1);
        // Raw pointers: `place` stores std::size_t, which could alias the vectors' own
        // sizes and pointers, and they were read again for every key.
        const std::size_t* server_of = server_of_.data();
        const std::size_t* part_of = part_of_.data();
        std::size_t* at = next.data();
        const std::size_t n = server_of_.size();
        for (std::size_t i = 0; i < n; ++i) {
            const std::size_t s = server_of[i];
            if (s != placement::none) place(i, at[part_of[s]]++);
        }
    }

  private:
    boost::container::small_vector<std::size_t, 128> server_of_;  // per key
    boost::container::small_vector<std::size_t, 16> part_of_;     // per server
    boost::container::small_vector<std::size_t, 8> servers_;      // per part
    boost::container::small_vector<std::size_t, 9> first_;        // per part, and the end
    std::size_t dead_ = 0;
};

// A parent's copy of the placed keys in grouped order, and their request positions: a
// child's keys are one contiguous span of it, and the replies of a child are matched
// back to request positions through it. The caller's span is read only during the call.
// It lives in memory the parent provides (its own block, shared_block.hpp).
class grouped_keys {
  public:
    // The bytes of memory it needs, aligned as std::max_align_t.
    [[nodiscard]] static std::size_t bytes_for(const key_split& split,
                                               std::span<const std::string_view> keys) noexcept {
        std::size_t total = 0;
        for (const auto k : keys) total += k.size();
        return split.placed() * (sizeof(std::size_t) + sizeof(std::string_view)) + total;
    }

    grouped_keys(std::byte* memory, const key_split& split, std::span<const std::string_view> keys)
        : positions_(reinterpret_cast<std::size_t*>(memory)),
          views_(reinterpret_cast<std::string_view*>(positions_ + split.placed())),
          first_(split.parts() + 1) {
        char* at = reinterpret_cast<char*>(views_ + split.placed());
        split.group([&](std::size_t position, std::size_t g) {
            const auto k = keys[position];
            if (!k.empty()) std::memcpy(at, k.data(), k.size());
            positions_[g] = position;
            ::new (static_cast<void*>(views_ + g)) std::string_view(at, k.size());
            at += k.size();
        });
        for (std::size_t p = 0; p < first_.size(); ++p) first_[p] = split.first(p);
    }
    grouped_keys(const grouped_keys&) = delete;
    grouped_keys& operator=(const grouped_keys&) = delete;

    // Part p's keys and their request positions, in request order.
    [[nodiscard]] std::span<const std::string_view> keys(std::size_t p) const noexcept {
        return {views_ + first_[p], first_[p + 1] - first_[p]};
    }
    [[nodiscard]] std::span<const std::size_t> positions(std::size_t p) const noexcept {
        return {positions_ + first_[p], first_[p + 1] - first_[p]};
    }

    // Matches the replies of part p's child, which come in its request order, to request
    // positions. The key is compared, not trusted: a reply never answers a key the
    // caller did not ask for.
    class matcher {
      public:
        matcher(std::span<const std::string_view> asked, std::span<const std::size_t> positions)
            : asked_(asked), positions_(positions) {}
        // The request position of `key`, at or after the last match; none when it is not
        // there (and then for every later key too).
        std::size_t next(std::string_view key) noexcept {
            while (cursor_ < asked_.size() && asked_[cursor_] != key) ++cursor_;
            return cursor_ < asked_.size() ? positions_[cursor_++] : placement::none;
        }

      private:
        std::span<const std::string_view> asked_;
        std::span<const std::size_t> positions_;
        std::size_t cursor_ = 0;
    };
    [[nodiscard]] matcher match(std::size_t p) const noexcept { return {keys(p), positions(p)}; }

  private:
    std::size_t* positions_;
    std::string_view* views_;
    boost::container::small_vector<std::size_t, 9> first_;
};

}  // namespace memcoro::detail
