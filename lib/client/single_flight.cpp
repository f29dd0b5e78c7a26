#include <memcoro/detail/single_flight.hpp>

namespace memcoro::detail {

void flight::publish(std::string_view bytes, std::uint32_t flags) {
    finish(cached_value{std::string(bytes), flags}, false);
}

void flight::fail(bool timed_out) {
    finish(std::nullopt, timed_out);
}

void flight::finish(std::optional<cached_value> value, bool timed_out) {
    {
        std::lock_guard lock(mutex_);
        if (finished_) return;
        finished_ = true;
        value_ = std::move(value);
        timed_out_ = timed_out;
    }
    done_.close();
}

std::optional<cached_value> flight::outcome() const {
    std::lock_guard lock(mutex_);
    return value_;
}

bool flight::timed_out() const {
    std::lock_guard lock(mutex_);
    return timed_out_;
}

std::pair<std::shared_ptr<flight>, bool> flight_table::join(
    const std::string& key, const boost::asio::any_io_executor& ex) {
    std::lock_guard lock(mutex_);
    auto [it, inserted] = flights_.try_emplace(key);
    if (inserted) {
        try {
            it->second = std::make_shared<flight>(ex);
        } catch (...) {
            flights_.erase(it);
            throw;
        }
    }
    return {it->second, inserted};
}

void flight_table::leave(const std::string& key, const flight* f) {
    std::lock_guard lock(mutex_);
    auto it = flights_.find(key);
    if (it != flights_.end() && it->second.get() == f) flights_.erase(it);
}

}  // namespace memcoro::detail
