// What every client::start_* shares: input checks, building an operation in a
// connection's memory, and starting it (deadline, cancellation, submission).
#pragma once

#include <boost/asio/cancellation_signal.hpp>
#include <chrono>
#include <cstdint>
#include <limits>
#include <memcoro/options.hpp>
#include <memcoro/protocol/key.hpp>
#include <memory>
#include <optional>
#include <span>
#include <string_view>
#include <utility>

#include "../detail/connection.hpp"
#include "basic_operation.hpp"
#include "storage.hpp"

namespace memcoro::detail {

// Gives an operation its id, installs the forwarder of a cancellation in its handler's
// slot (read before the handler moved into the operation) and submits it. Returns the id:
// once submitted, the operation may complete and be freed on another thread at any time.
std::uint64_t launch(const std::shared_ptr<connection>& c, operation* op,
                     asio::cancellation_slot slot,
                     const std::optional<std::chrono::milliseconds>& timeout,
                     std::chrono::milliseconds default_timeout);

// Builds an operation in the connection's memory. It completes on its handler's
// executor, or on the connection's when the handler has none of its own.
template <class Op, class Handler, class... Args>
Op* new_operation(connection& c, Handler&& h, Args&&... args) {
    return make_operation<Op>(std::forward<Handler>(h), c.executor(), std::forward<Args>(args)...);
}

// A key whose server is dead (and not remapped): the operation fails at once instead of
// waiting for a timeout; a retrieval with errors_as_misses completes as a miss.
template <class Sig, class Result>
void fail_dead(completion<Sig> h, const asio::any_io_executor& ex, Result empty, bool as_miss) {
    post_completion(std::move(h), ex, as_reported(make_error_code(error::server_dead), as_miss),
                    std::move(empty));
}

// memcached reads expiration times as signed 32-bit numbers (protocol.md 1.3).
[[nodiscard]] inline bool ttl_fits(std::chrono::seconds ttl) {
    return ttl.count() >= std::numeric_limits<std::int32_t>::min() &&
           ttl.count() <= std::numeric_limits<std::int32_t>::max();
}

// A key sent as `encoding` says (a call's own, or the client's).
[[nodiscard]] inline error_code check_key(const client_options& o, std::string_view key,
                                          key_encoding encoding) {
    return encoding == key_encoding::base64
               ? protocol::validate_binary_key(o.key_prefix, key)
               : protocol::validate_key(o.key_prefix, key,
                                        {.allow_high_bytes = o.allow_high_bytes_in_keys});
}

// A key of the classic calls, which go as the client's key_encoding says.
[[nodiscard]] inline error_code check_key(const client_options& o, std::string_view key) {
    return check_key(o, key, o.key_encoding);
}

// Whether the classic calls send their keys in base64, in meta commands only.
[[nodiscard]] inline bool base64_keys(const client_options& o) noexcept {
    return o.key_encoding == key_encoding::base64;
}

[[nodiscard]] inline error_code check_keys(const client_options& o,
                                           std::span<const std::string_view> keys) {
    if (keys.empty()) return error::invalid_argument;
    for (const auto k : keys) {
        if (auto ec = check_key(o, k)) return ec;
    }
    return {};
}

[[nodiscard]] inline error_code check_value(const client_options& o, std::string_view value) {
    return value.size() > o.max_value_size ? make_error_code(error::value_too_large) : error_code{};
}

[[nodiscard]] inline store_request make_store_request(protocol::store_command cmd,
                                                      const encoded& value,
                                                      const store_options& opts) {
    store_request req;
    req.cmd = cmd;
    req.value = value.bytes();
    req.flags = opts.flags.value_or(value.flags());
    req.ttl = opts.ttl.count();
    req.noreply = opts.noreply;
    return req;
}

}  // namespace memcoro::detail
