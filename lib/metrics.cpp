// The names and sums of metrics.hpp; the counting itself is the connection's
// (detail/connection_metrics.hpp).
#include <array>
#include <memcoro/metrics.hpp>
#include <numeric>

namespace memcoro {

namespace {

// In the order of the enums.
// clang-format off
constexpr std::array<std::string_view, operation_kinds> kind_names{
    "get", "gets", "gat", "gats", "get_many", "gets_many",
    "set", "add", "replace", "append", "prepend", "cas", "set_many",
    "remove", "remove_many", "incr", "decr", "touch",
    "meta_get", "meta_set", "meta_delete", "meta_arithmetic",
    "stats", "version", "admin"};

constexpr std::array<std::string_view, error_slots> error_names{
    "other",
    "invalid_key", "value_too_large", "invalid_argument", "bad_value",
    "unknown_command", "client_error", "server_error",
    "protocol_error", "line_too_long", "reply_too_large", "reply_mismatch",
    "not_connected", "connection_closed", "timeout", "unresponsive", "shut_down", "server_dead",
    "unsupported_command", "auth_failed", "connect_timeout"};
// clang-format on
// Every name given: a missing one would be an empty view at the end.
static_assert(kind_names.back() == "admin" && error_names.back() == "connect_timeout" &&
              error_names[static_cast<std::size_t>(error::timeout)] == "timeout");

}  // namespace

std::string_view to_string(operation_kind kind) noexcept {
    const auto i = static_cast<std::size_t>(kind);
    return i < kind_names.size() ? kind_names[i] : "unknown";
}

std::string_view error_slot_name(std::size_t slot) noexcept {
    return slot < error_names.size() ? error_names[slot] : "other";
}

std::uint64_t latency_histogram::count() const noexcept {
    return std::accumulate(counts.begin(), counts.end(), std::uint64_t{0});
}

std::uint64_t server_metrics::total_operations() const noexcept {
    return std::accumulate(operations.begin(), operations.end(), std::uint64_t{0});
}

std::uint64_t server_metrics::total_errors() const noexcept {
    return std::accumulate(errors.begin(), errors.end(), std::uint64_t{0});
}

namespace {
template <class T, std::size_t N>
void add_each(std::array<T, N>& to, const std::array<T, N>& from) noexcept {
    for (std::size_t i = 0; i < N; ++i) to[i] += from[i];
}
}  // namespace

server_metrics& server_metrics::operator+=(const server_metrics& o) noexcept {
    add_each(operations, o.operations);
    hits += o.hits;
    misses += o.misses;
    add_each(errors, o.errors);
    cancellations += o.cancellations;
    connects += o.connects;
    reconnects += o.reconnects;
    connect_failures += o.connect_failures;
    bytes_written += o.bytes_written;
    bytes_read += o.bytes_read;
    queue_depth += o.queue_depth;
    add_each(latency.counts, o.latency.counts);
    latency.sum += o.latency.sum;
    return *this;
}

}  // namespace memcoro
