// Which connection an operation goes to: key placement over the servers, a pool of
// connections per server, and each server's health (alive, dead, probed, back).
//
// A client of one server with one connection has a router too, and pays a single branch
// for it: route() returns that connection without hashing or health checks, and the
// connection has no health observer, so it behaves exactly as a lone connection always did.
#pragma once

#include <atomic>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <cstddef>
#include <cstdint>
#include <memcoro/metrics.hpp>
#include <memcoro/options.hpp>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

#include "../detail/connection.hpp"
#include "../placement/placement.hpp"

namespace memcoro::detail {

class router;

// One server of the tier: its connections and what the router knows of its health. The
// health flags are atomics: routing reads them on every operation without a lock.
class server_node final : public health_observer {
  public:
    server_node(std::size_t index, placement_server spec, std::weak_ptr<router> owner,
                std::uint32_t failure_limit);

    void on_failure() noexcept override;
    void on_reply() noexcept override {
        if (failures_.load(std::memory_order_relaxed) != 0) {
            failures_.store(0, std::memory_order_relaxed);
        }
    }

    [[nodiscard]] bool dead() const noexcept { return dead_.load(std::memory_order_acquire); }
    [[nodiscard]] clock::time_point dead_until() const noexcept {
        return clock::time_point(clock::duration(dead_until_.load(std::memory_order_acquire)));
    }
    void set_dead_until(clock::time_point t) noexcept {
        dead_until_.store(t.time_since_epoch().count(), std::memory_order_release);
    }

    const std::size_t index_;
    const placement_server spec_;
    std::vector<std::shared_ptr<connection>> connections_;

  private:
    friend class router;

    std::weak_ptr<router> owner_;
    const std::uint32_t failure_limit_;
    std::atomic<std::uint32_t> failures_{0};
    std::atomic<bool> dead_{false};
    // Set where the server is marked dead, under a connection's lock, where the router's
    // mutex cannot be taken (status() takes them the other way round).
    std::atomic<clock::rep> dead_until_{0};
    // Keys refused at once because the server was dead (metrics: errors of server_dead).
    std::atomic<std::uint64_t> dead_refusals_{0};
    // Guarded by the router's mutex.
    bool probing_ = false;
    std::unique_ptr<boost::asio::steady_timer> probe_timer_;
};

class router : public std::enable_shared_from_this<router> {
  public:
    // Builds the tier from `options` (servers, or the one server). Throws
    // boost::system::system_error (error::invalid_argument) naming the bad entry.
    static std::shared_ptr<router> make(boost::asio::any_io_executor ex,
                                        const client_options& options);

    router(boost::asio::any_io_executor ex, const client_options& options);
    ~router();
    router(const router&) = delete;
    router& operator=(const router&) = delete;

    [[nodiscard]] std::size_t server_count() const noexcept { return nodes_.size(); }
    [[nodiscard]] bool single() const noexcept { return single_ != nullptr; }
    [[nodiscard]] const server_node& server(std::size_t i) const noexcept { return *nodes_[i]; }

    // The server a key's operation goes to: its own, or while it is dead and remapping
    // is on, the one the distribution remaps it to. placement::none: its server is dead
    // (or no live server takes it), and the operation fails with error::server_dead.
    [[nodiscard]] std::size_t server_for(std::string_view key) const;
    // server_for of each of `keys` into the same position of `out` (as long as `keys`),
    // placed together (placement::servers_for) for a multi-key call.
    void servers_for(std::span<const std::string_view> keys, std::span<std::size_t> out) const;

    // The connection of `server` for an operation: the one whose completion handler
    // starts it, if it is one of them; else the one with the fewest operations in flight.
    // Never `avoid` when the server has another.
    [[nodiscard]] const std::shared_ptr<connection>& pick(std::size_t server,
                                                          const connection* avoid = nullptr) const;

    // The connection for a key's operation, or nullptr when its server is dead.
    [[nodiscard]] const std::shared_ptr<connection>* route(std::string_view key) const {
        if (single_ != nullptr) [[likely]] {
            return single_;
        }
        const std::size_t s = server_for(key);
        return s == placement::none ? nullptr : &pick(s);
    }

    [[nodiscard]] std::vector<server_status> status() const;
    // Every server's counters and their sum; no lock taken.
    [[nodiscard]] client_metrics metrics() const;
    // The latest failure of any server's; safe from any thread.
    [[nodiscard]] std::optional<connection_failure> last_failure() const;

    // Fails every waiting operation with error::shut_down and stops the probes.
    void shutdown();

  private:
    friend class server_node;

    // On the executor, after a server's failures reached the limit.
    void on_server_dead(std::size_t index);
    void arm_probe(std::size_t index);
    void start_probe(std::size_t index);
    void on_probe_done(std::size_t index, bool answered);
    [[nodiscard]] server_status status_of(const server_node& node) const;  // under mutex_
    void notify(std::size_t index);
    // What server_for gives for `key` once the placement has given `placed`.
    [[nodiscard]] std::size_t checked(std::string_view key, std::size_t placed) const;
    // The same, when `placed` is dead.
    [[nodiscard]] std::size_t instead_of_dead(std::string_view key, std::size_t placed) const;
    [[nodiscard]] std::size_t remapped(std::string_view key) const;

    boost::asio::any_io_executor executor_;
    client_options options_;
    std::vector<std::unique_ptr<server_node>> nodes_;
    std::unique_ptr<placement> placement_;
    const std::shared_ptr<connection>* single_ = nullptr;

    mutable std::mutex mutex_;
    bool shut_down_ = false;
    // The placement with the dead servers left out, rebuilt when the set of dead servers
    // has changed since (remap_dead_servers only).
    std::atomic<std::uint64_t> live_generation_{0};
    mutable std::unique_ptr<placement> remapped_;
    mutable std::uint64_t remapped_generation_ = ~std::uint64_t{0};
};

}  // namespace memcoro::detail
