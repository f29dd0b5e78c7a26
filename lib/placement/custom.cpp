// A distribution of the user's own (memcoro::key_distribution) behind the placement
// interface.
#include <vector>

#include "placement.hpp"

namespace memcoro::detail {
namespace {

class custom_placement final : public placement {
  public:
    custom_placement(std::shared_ptr<const key_distribution> f, std::size_t count,
                     std::vector<bool> alive)
        : f_(std::move(f)), count_(count), alive_(std::move(alive)) {}

    // An index the callable returns at or past the end of the list, or an exception it
    // throws, gives `none`: the router fails that operation rather than sending the key
    // to a server the user did not choose (clamping would do that silently).
    [[nodiscard]] std::size_t server_for(std::string_view key) const noexcept override {
        std::size_t index = none;
        try {
            index = (*f_)(key);
        } catch (...) {
            return none;
        }
        if (index >= count_) return none;
        if (alive_.empty() || alive_[index]) return index;
        // A dead server's keys go to the next live server in list order, wrapping.
        for (std::size_t step = 1; step < count_; ++step) {
            const std::size_t next = (index + step) % count_;
            if (alive_[next]) return next;
        }
        return none;
    }

    [[nodiscard]] std::unique_ptr<placement> without(std::span<const bool> alive) const override {
        return std::make_unique<custom_placement>(f_, count_, live_mask(alive, count_));
    }

  private:
    std::shared_ptr<const key_distribution> f_;  // shared with the placements of without
    std::size_t count_;
    std::vector<bool> alive_;  // empty when every server is up
};

}  // namespace

std::unique_ptr<placement> make_custom_placement(key_distribution f, std::size_t count) {
    return std::make_unique<custom_placement>(
        std::make_shared<const key_distribution>(std::move(f)), count, std::vector<bool>{});
}

}  // namespace memcoro::detail
