// The compiled half of memcoro::client: every start_* validates its input, builds the
// operation and hands it to the connection.
#include <atomic>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/system/system_error.hpp>
#include <limits>
#include <memcoro/client.hpp>

#include "../detail/address.hpp"
#include "../detail/connection.hpp"
#include "keyed.hpp"
#include "retrieval.hpp"
#include "server_commands.hpp"
#include "storage.hpp"

namespace memcoro {
namespace asio = boost::asio;
using detail::operation;

namespace {

std::atomic<std::uint64_t> next_operation_id{1};

// Installed in a handler's cancellation slot: forwards the cancellation to the
// connection, naming the operation by id, so that a cancellation that arrives after the
// operation is gone finds nothing and does nothing.
struct cancel_forwarder {
    cancel_forwarder(std::weak_ptr<detail::connection> c, std::uint64_t i)
        : connection(std::move(c)), id(i) {}

    std::weak_ptr<detail::connection> connection;
    std::uint64_t id;

    void operator()(asio::cancellation_type_t) const {
        if (auto c = connection.lock()) c->cancel(id, asio::error::operation_aborted);
    }
};

// memcached reads expiration times as signed 32-bit numbers (protocol.md 1.3).
bool ttl_fits(std::chrono::seconds ttl) {
    return ttl.count() >= std::numeric_limits<std::int32_t>::min() &&
           ttl.count() <= std::numeric_limits<std::int32_t>::max();
}

}  // namespace

client::client(executor_type ex, client_options options)
    : executor_(std::move(ex)), options_(std::move(options)) {
    detail::server_address address;
    if (auto ec = detail::parse_address(options_.server, address)) {
        throw boost::system::system_error(ec, "memcoro::client: bad server address");
    }
    connection_ = std::make_shared<detail::connection>(executor_, options_, std::move(address));
}

client::~client() {
    close();
}

void client::close() { connection_->shutdown(); }

namespace {

// The shared tail of every start_*: deadline, cancellation, submission. The slot is
// read from the handler before the handler moves into the operation.
void launch(const std::shared_ptr<detail::connection>& connection, operation* op,
            asio::cancellation_slot slot, const std::optional<std::chrono::milliseconds>& timeout,
            std::chrono::milliseconds default_timeout) {
    op->id_ = next_operation_id.fetch_add(1, std::memory_order_relaxed);
    if (slot.is_connected()) slot.template emplace<cancel_forwarder>(connection, op->id_);
    connection->submit(op, timeout.value_or(default_timeout));
}

// Builds an operation in the connection's memory. It completes on its handler's
// executor, or on the connection's when the handler has none of its own.
template <class Op, class Handler, class... Args>
Op* new_operation(detail::connection& c, Handler&& h, Args&&... args) {
    return detail::make_operation<Op>(c.pool(), std::forward<Handler>(h), c.executor(),
                                      std::forward<Args>(args)...);
}

error_code check_key(const client_options& o, std::string_view key) {
    return protocol::validate_key(o.key_prefix, key,
                                  {.allow_high_bytes = o.allow_high_bytes_in_keys});
}

error_code check_keys(const client_options& o, std::span<const std::string_view> keys) {
    if (keys.empty()) return error::invalid_argument;
    for (const auto k : keys) {
        if (auto ec = check_key(o, k)) return ec;
    }
    return {};
}

error_code check_value(const client_options& o, std::string_view value) {
    return value.size() > o.max_value_size ? make_error_code(error::value_too_large) : error_code{};
}

detail::store_request make_store_request(protocol::store_command cmd, const encoded& value,
                                         const store_options& opts) {
    detail::store_request req;
    req.cmd = cmd;
    req.value = value.bytes();
    req.flags = opts.flags.value_or(value.flags());
    req.ttl = opts.ttl.count();
    req.noreply = opts.noreply;
    return req;
}

}  // namespace

void client::start_retrieve(retrieve_kind kind, std::string_view key, std::chrono::seconds ttl,
                            const call_options& opts,
                            handler<void(error_code, std::optional<item>)> h) {
    error_code ec = check_key(options_, key);
    if (!ec && !ttl_fits(ttl)) ec = error::invalid_argument;
    if (ec) return detail::post_completion(std::move(h), executor_, ec, std::optional<item>{});
    auto slot = h.handler.get_cancellation_slot();
    auto* op = new_operation<detail::retrieve_op>(
        *connection_, std::move(h), static_cast<protocol::retrieve_command>(kind), key, ttl.count(),
        connection_->options().key_prefix);
    op->misses_on_error_ = options_.errors_as_misses;
    launch(connection_, op, slot, opts.timeout, options_.op_timeout);
}

void client::start_get_into(std::string_view key, detail::sink_maker sink,
                            handler<void(error_code, std::optional<value_info>)> h) {
    if (auto ec = check_key(options_, key)) {
        return detail::post_completion(std::move(h), executor_, ec, std::optional<value_info>{});
    }
    auto slot = h.handler.get_cancellation_slot();
    auto* op = new_operation<detail::get_into_op>(
        *connection_, std::move(h), key, connection_->options().key_prefix, sink);
    op->misses_on_error_ = options_.errors_as_misses;
    launch(connection_, op, slot, std::nullopt, options_.op_timeout);
}

void client::start_many(bool with_cas, std::span<const std::string_view> keys,
                        const call_options& opts, handler<void(error_code, std::vector<item>)> h) {
    if (auto ec = check_keys(options_, keys)) {
        return detail::post_completion(std::move(h), executor_, ec, std::vector<item>{});
    }
    auto slot = h.handler.get_cancellation_slot();
    auto* op = new_operation<detail::many_op>(*connection_, std::move(h), with_cas, keys,
                                              connection_->options().key_prefix,
                                              connection_->pool());
    op->misses_on_error_ = options_.errors_as_misses;
    launch(connection_, op, slot, opts.timeout, options_.op_timeout);
}

void client::start_store(store_kind kind, std::string_view key, encoded value,
                         const store_options& opts, handler<void(error_code, bool)> h) {
    error_code ec = check_key(options_, key);
    if (!ec) ec = check_value(options_, value.bytes());
    if (!ec && !ttl_fits(opts.ttl)) ec = error::invalid_argument;
    if (ec) return detail::post_completion(std::move(h), executor_, ec, false);
    const auto req = make_store_request(static_cast<protocol::store_command>(kind), value, opts);
    auto slot = h.handler.get_cancellation_slot();
    auto* op = new_operation<detail::store_op<bool>>(*connection_, std::move(h), key,
                                                     std::move(value), req);
    launch(connection_, op, slot, opts.timeout, options_.op_timeout);
}

void client::start_cas(std::string_view key, encoded value, std::uint64_t cas_unique,
                       const store_options& opts, handler<void(error_code, cas_result)> h) {
    error_code ec = check_key(options_, key);
    if (!ec) ec = check_value(options_, value.bytes());
    if (!ec && !ttl_fits(opts.ttl)) ec = error::invalid_argument;
    if (ec) return detail::post_completion(std::move(h), executor_, ec, cas_result::not_found);
    auto req = make_store_request(protocol::store_command::cas, value, opts);
    req.cas_unique = cas_unique;
    auto slot = h.handler.get_cancellation_slot();
    auto* op = new_operation<detail::store_op<cas_result>>(*connection_, std::move(h), key,
                                                           std::move(value), req);
    launch(connection_, op, slot, opts.timeout, options_.op_timeout);
}

void client::start_set_many(std::span<const key_value> items, const store_options& opts,
                            handler<void(error_code, std::vector<std::string>)> h) {
    error_code ec = items.empty() ? make_error_code(error::invalid_argument) : error_code{};
    for (const auto& kv : items) {
        if (ec) break;
        ec = check_key(options_, kv.key);
        if (!ec) ec = check_value(options_, kv.value);
    }
    if (!ec && !ttl_fits(opts.ttl)) ec = error::invalid_argument;
    if (ec) {
        return detail::post_completion(std::move(h), executor_, ec, std::vector<std::string>{});
    }
    const auto req = make_store_request(protocol::store_command::set, encoded::view({}), opts);
    auto slot = h.handler.get_cancellation_slot();
    auto* op = new_operation<detail::set_many_op>(*connection_, std::move(h), items, req);
    launch(connection_, op, slot, opts.timeout, options_.op_timeout);
}

void client::start_remove(std::string_view key, const call_options& opts,
                          handler<void(error_code, bool)> h) {
    if (auto ec = check_key(options_, key)) {
        return detail::post_completion(std::move(h), executor_, ec, false);
    }
    auto slot = h.handler.get_cancellation_slot();
    auto* op = new_operation<detail::remove_op>(*connection_, std::move(h), key, opts.noreply);
    launch(connection_, op, slot, opts.timeout, options_.op_timeout);
}

void client::start_remove_many(std::span<const std::string_view> keys, const call_options& opts,
                               handler<void(error_code, std::size_t)> h) {
    if (auto ec = check_keys(options_, keys)) {
        return detail::post_completion(std::move(h), executor_, ec, std::size_t{0});
    }
    auto slot = h.handler.get_cancellation_slot();
    auto* op = new_operation<detail::remove_many_op>(*connection_, std::move(h), keys,
                                                     opts.noreply, connection_->pool());
    launch(connection_, op, slot, opts.timeout, options_.op_timeout);
}

void client::start_arithmetic(bool up, std::string_view key, std::uint64_t delta,
                              const call_options& opts,
                              handler<void(error_code, std::optional<std::uint64_t>)> h) {
    if (auto ec = check_key(options_, key)) {
        return detail::post_completion(std::move(h), executor_, ec, std::optional<std::uint64_t>{});
    }
    auto slot = h.handler.get_cancellation_slot();
    auto* op = new_operation<detail::arithmetic_op>(*connection_, std::move(h), up, key, delta,
                                                    opts.noreply);
    launch(connection_, op, slot, opts.timeout, options_.op_timeout);
}

void client::start_touch(std::string_view key, std::chrono::seconds ttl, const call_options& opts,
                         handler<void(error_code, bool)> h) {
    error_code ec = check_key(options_, key);
    if (!ec && !ttl_fits(ttl)) ec = error::invalid_argument;
    if (ec) return detail::post_completion(std::move(h), executor_, ec, false);
    auto slot = h.handler.get_cancellation_slot();
    auto* op =
        new_operation<detail::touch_op>(*connection_, std::move(h), key, ttl.count(), opts.noreply);
    launch(connection_, op, slot, opts.timeout, options_.op_timeout);
}

void client::start_stats(std::string_view args, handler<void(error_code, stats_list)> h) {
    auto slot = h.handler.get_cancellation_slot();
    auto* op = new_operation<detail::stats_op>(*connection_, std::move(h), args);
    launch(connection_, op, slot, std::nullopt, options_.op_timeout);
}

void client::start_version(handler<void(error_code, std::string)> h) {
    auto slot = h.handler.get_cancellation_slot();
    auto* op = new_operation<detail::version_op>(*connection_, std::move(h));
    launch(connection_, op, slot, std::nullopt, options_.op_timeout);
}

void client::start_admin(admin_kind kind, std::uint64_t arg, const call_options& opts,
                         handler<void(error_code)> h) {
    if (kind == admin_kind::flush_all && arg > std::numeric_limits<std::int32_t>::max()) {
        return detail::post_completion(std::move(h), executor_,
                                       make_error_code(error::invalid_argument));
    }
    auto slot = h.handler.get_cancellation_slot();
    auto* op = new_operation<detail::admin_op>(
        *connection_, std::move(h), static_cast<detail::admin_command>(kind), arg, opts.noreply);
    launch(connection_, op, slot, opts.timeout, options_.op_timeout);
}

}  // namespace memcoro
