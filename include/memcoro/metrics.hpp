// What a client counts as it works (client::metrics()): operations by kind, hits and
// misses, errors by code, cancellations, connects, bytes, queue depth and a latency
// histogram, per server and in total. README "Errors, logs and metrics" shows how to
// read them, and bench/examples/metrics_endpoint.cpp serves them to Prometheus.
//
// The counters live in each connection and only ever grow (queue_depth is a gauge). They
// are counted under the lock the connection already holds, with no allocation and no
// locked instruction, and read without stopping anything: a snapshot taken while
// operations run is consistent per counter, not across counters.
#pragma once

#include <array>
#include <bit>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memcoro/error.hpp>
#include <string>
#include <string_view>
#include <vector>

namespace memcoro {

// What an operation is, as it is counted. One call is one operation, except that a
// multi-key call over several servers (get_many, set_many, remove_many) and a server
// command sent to every server count one operation per server they reach.
enum class operation_kind : std::uint8_t {
    get,  // get_into too
    gets,
    gat,
    gats,
    get_many,
    gets_many,
    set,
    add,
    replace,
    append,
    prepend,
    cas,
    set_many,
    remove,
    remove_many,
    incr,
    decr,
    touch,
    meta_get,
    meta_set,
    meta_delete,
    meta_arithmetic,
    stats,
    version,  // the probes of a dead server too (client_options::dead_timeout)
    admin,    // flush_all, verbosity, cache_memlimit, quit, shutdown
};
inline constexpr std::size_t operation_kinds = static_cast<std::size_t>(operation_kind::admin) + 1;

// The kind's name as the client's call spells it ("get", "meta_get", "remove"...).
[[nodiscard]] std::string_view to_string(operation_kind kind) noexcept;

// Slots of server_metrics::errors: one per memcoro::error value, and slot 0 for every
// error of another category (the system's, TLS's).
inline constexpr std::size_t error_slots = static_cast<std::size_t>(error::connect_timeout) + 1;
// The slot's name: "other" for 0, else the error's enumerator ("timeout", "server_error").
[[nodiscard]] std::string_view error_slot_name(std::size_t slot) noexcept;

// How long operations took from their start (the call) to their completion (when their
// handler is due), in fixed buckets whose bounds are powers of two nanoseconds: 2^14 ns
// (16.384 us), 2^15 ns (32.768 us) ... 2^30 ns (1.073741824 s), then everything longer.
// Powers of two, so that finding the bucket costs a shift and a bit scan.
struct latency_histogram {
    static constexpr std::size_t buckets = 18;
    // The upper bound of bucket `i` (inclusive) for i < buckets - 1; the last has none.
    [[nodiscard]] static constexpr std::chrono::nanoseconds upper_bound(std::size_t i) noexcept {
        return std::chrono::nanoseconds(std::int64_t{1} << (first_bound_log2 + i));
    }
    // The bucket a duration falls in.
    [[nodiscard]] static constexpr std::size_t bucket_of(std::chrono::nanoseconds d) noexcept {
        const auto ns = d.count() > 0 ? static_cast<std::uint64_t>(d.count()) : 1;
        const auto i = static_cast<std::size_t>(std::bit_width((ns - 1) >> first_bound_log2));
        return i < buckets - 1 ? i : buckets - 1;
    }
    static constexpr int first_bound_log2 = 14;

    std::array<std::uint64_t, buckets> counts{};  // per bucket (not cumulative)
    std::chrono::nanoseconds sum{0};              // of every duration counted

    [[nodiscard]] std::uint64_t count() const noexcept;
};

// One server's counters, or the sum of them all.
struct server_metrics {
    std::size_t index = 0;  // in client_options::servers (0 for the one `server`)
    std::string address;    // empty in client_metrics::total

    // Operations sent to this server (or completed before they could be: a backoff, a
    // command the peer cannot carry), by operation_kind. Bad input refused before a
    // byte is sent is not counted anywhere; a dead server's refusals are only in errors.
    std::array<std::uint64_t, operation_kinds> operations{};
    // Keys looked up by the retrieval calls that succeeded (get, gets, gat, gats,
    // get_into, meta_get and each key of get_many / gets_many): found, or not.
    std::uint64_t hits = 0;
    std::uint64_t misses = 0;
    // Operations that completed with an error, by error_slots; the truth whatever
    // errors_as_misses reports to the caller. errors[error::server_dead] counts the keys
    // refused at once because this server was marked dead.
    std::array<std::uint64_t, error_slots> errors{};
    // Operations the caller cancelled (asio::error::operation_aborted).
    std::uint64_t cancellations = 0;
    // Connects that went all the way (stream, TLS, login, probe), those after each
    // connection's first, and connects that failed.
    std::uint64_t connects = 0;
    std::uint64_t reconnects = 0;
    std::uint64_t connect_failures = 0;
    // Protocol bytes written and read (inside TLS: the plain text).
    std::uint64_t bytes_written = 0;
    std::uint64_t bytes_read = 0;
    // Operations started and not yet completed, queued or on the wire: now, not a total.
    std::uint64_t queue_depth = 0;
    // Every completed operation, whatever its outcome.
    latency_histogram latency{};

    [[nodiscard]] std::uint64_t operations_of(operation_kind k) const noexcept {
        return operations[static_cast<std::size_t>(k)];
    }
    [[nodiscard]] std::uint64_t errors_of(error e) const noexcept {
        return errors[static_cast<std::size_t>(e)];
    }
    [[nodiscard]] std::uint64_t timeouts() const noexcept { return errors_of(error::timeout); }
    [[nodiscard]] std::uint64_t total_operations() const noexcept;
    [[nodiscard]] std::uint64_t total_errors() const noexcept;

    // Adds `other`'s counters (not its index or address).
    server_metrics& operator+=(const server_metrics& other) noexcept;
};

// What client::metrics() returns.
struct client_metrics {
    // False when client_options::metrics is off: every counter is then 0 but
    // queue_depth.
    bool enabled = true;
    std::vector<server_metrics> servers;  // in client_options::servers order
    server_metrics total;                 // the sum of `servers`
};

}  // namespace memcoro
