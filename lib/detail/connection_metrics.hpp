// One connection's counters (memcoro/metrics.hpp). They change only under the
// connection's lock, so each change is a relaxed load and store (no locked
// instruction), and any thread may read them at any time.
#pragma once

#include <algorithm>
#include <array>
#include <atomic>
#include <boost/asio/error.hpp>
#include <cstdint>
#include <memcoro/detail/operation.hpp>
#include <memcoro/metrics.hpp>

namespace memcoro::detail {

class metric_counter {
  public:
    void add(std::uint64_t n = 1) noexcept {
        value_.store(value_.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
    }
    [[nodiscard]] std::uint64_t get() const noexcept {
        return value_.load(std::memory_order_relaxed);
    }

  private:
    std::atomic<std::uint64_t> value_{0};
};

struct connection_metrics {
    std::array<metric_counter, operation_kinds> operations;
    metric_counter hits;
    metric_counter misses;
    std::array<metric_counter, error_slots> errors;
    metric_counter cancellations;
    metric_counter connects;
    metric_counter connect_failures;
    metric_counter bytes_written;
    metric_counter bytes_read;
    std::array<metric_counter, latency_histogram::buckets> latency;
    metric_counter latency_ns;

    void started(const operation& op) noexcept {
        operations[static_cast<std::size_t>(op.kind_)].add();
    }

    // `op` finished with op.finished_with_; `now` is when its handler became due. On the
    // path of every operation: no branch but the outcome's.
    void finished(const operation& op, clock::time_point now) noexcept {
        if (op.finished_with_.failed()) [[unlikely]] {
            failed(op.finished_with_);
        } else {
            // Both 0 but for retrievals. Two counters rather than lookups and hits: each
            // is read on its own, and a difference of two could seem to go down.
            hits.add(op.hits_);
            misses.add(op.lookups_ - std::min(op.hits_, op.lookups_));
        }
        const auto took = std::chrono::duration_cast<std::chrono::nanoseconds>(now - op.started_);
        latency[latency_histogram::bucket_of(took)].add();
        latency_ns.add(static_cast<std::uint64_t>(std::max(took.count(), std::int64_t{0})));
    }

    void failed(error_code ec) noexcept {
        if (ec == boost::asio::error::operation_aborted) {
            cancellations.add();
            return;
        }
        const bool ours = ec.category() == error_category() && ec.value() > 0 &&
                          static_cast<std::size_t>(ec.value()) < error_slots;
        errors[ours ? static_cast<std::size_t>(ec.value()) : 0].add();
    }

    // Adds these counters to `out`.
    void add_to(server_metrics& out) const noexcept {
        for (std::size_t i = 0; i < operation_kinds; ++i) out.operations[i] += operations[i].get();
        out.hits += hits.get();
        out.misses += misses.get();
        for (std::size_t i = 0; i < error_slots; ++i) out.errors[i] += errors[i].get();
        out.cancellations += cancellations.get();
        const auto made = connects.get();
        out.connects += made;
        out.reconnects += made > 0 ? made - 1 : 0;
        out.connect_failures += connect_failures.get();
        out.bytes_written += bytes_written.get();
        out.bytes_read += bytes_read.get();
        for (std::size_t i = 0; i < latency_histogram::buckets; ++i) {
            out.latency.counts[i] += latency[i].get();
        }
        out.latency.sum += std::chrono::nanoseconds(latency_ns.get());
    }
};

}  // namespace memcoro::detail
