// In-process single flight for fetch: concurrent fetches of one key in one client share
// one request to the server and one compute. The first becomes the flight's leader; the
// others wait for what it publishes.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/experimental/concurrent_channel.hpp>
#include <boost/system/error_code.hpp>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>

namespace memcoro::detail {

// A value as the cache holds it: its bytes and client flags.
struct cached_value {
    std::string bytes;
    std::uint32_t flags = 0;
};

// One key's fetch in flight. Its outcome is set once: a value for the waiters, or
// nothing (the leader failed: they try again, one of them leading).
class flight {
  public:
    explicit flight(const boost::asio::any_io_executor& ex) : done_(ex) {}

    // Sets the outcome and wakes every waiter; later calls do nothing. `timed_out`: the
    // leader ran out of time, and so have its waiters, which started with it.
    void publish(std::string_view bytes, std::uint32_t flags);
    void fail(bool timed_out = false);

    // Completes (with experimental::error::channel_closed) once the outcome is set,
    // at once if it already is. Waiters cancel it to stop waiting. Thread-safe.
    template <class Token>
    auto async_wait(Token&& token) {
        return done_.async_receive(std::forward<Token>(token));
    }

    // The published value; nullopt after fail() (or before any outcome).
    [[nodiscard]] std::optional<cached_value> outcome() const;
    // fail(true) was called.
    [[nodiscard]] bool timed_out() const;

  private:
    void finish(std::optional<cached_value> value, bool timed_out);

    mutable std::mutex mutex_;
    bool finished_ = false;
    bool timed_out_ = false;
    std::optional<cached_value> value_;
    // Nothing is ever sent on it: closing it is the signal, and a channel, unlike a timer,
    // may be closed from one thread while another starts waiting on it.
    boost::asio::experimental::concurrent_channel<void(boost::system::error_code)> done_;
};

// The flights of one client, by key.
class flight_table {
  public:
    // The flight of `key` and whether the caller leads it (there was none: the caller
    // must publish or fail it, and leave() it).
    std::pair<std::shared_ptr<flight>, bool> join(const std::string& key,
                                                  const boost::asio::any_io_executor& ex);
    // Takes `f` out of the table, so that fetches from now on start a flight of their own.
    void leave(const std::string& key, const flight* f);

  private:
    std::mutex mutex_;
    std::unordered_map<std::string, std::shared_ptr<flight>> flights_;
};

// The leader's hold on its flight: whatever way the leader leaves (a value, an exception,
// cancellation), the flight leaves the table and its waiters are woken.
class flight_lead {
  public:
    flight_lead(flight_table& table, std::string key, std::shared_ptr<flight> f)
        : table_(&table), key_(std::move(key)), flight_(std::move(f)) {}
    ~flight_lead() { fail(); }
    flight_lead(const flight_lead&) = delete;
    flight_lead& operator=(const flight_lead&) = delete;

    // The waiters take this value (the leader itself may go on to compute a newer one).
    void publish(std::string_view bytes, std::uint32_t flags) {
        if (done()) return;
        table_->leave(key_, flight_.get());
        flight_->publish(bytes, flags);
    }
    void fail(bool timed_out = false) noexcept {
        if (done()) return;
        table_->leave(key_, flight_.get());
        flight_->fail(timed_out);
    }

  private:
    bool done() noexcept { return std::exchange(done_, true); }

    flight_table* table_;
    std::string key_;
    std::shared_ptr<flight> flight_;
    bool done_ = false;
};

}  // namespace memcoro::detail
