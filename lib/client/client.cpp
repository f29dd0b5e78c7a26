// The compiled half of memcoro::client: every start_* validates its input, builds the
// operation and hands it to the connection the router picks. Calls over several
// servers (multi-key, admin) are in client_tier.cpp.
#include <atomic>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/system/system_error.hpp>
#include <limits>
#include <memcoro/client.hpp>

#include "../router/router.hpp"
#include "keyed.hpp"
#include "launch.hpp"
#include "retrieval.hpp"
#include "server_commands.hpp"
#include "storage.hpp"

namespace memcoro {
namespace asio = boost::asio;
using detail::fail_dead;
using detail::operation;

namespace detail {
namespace {

std::atomic<std::uint64_t> next_operation_id{1};

// Installed in a handler's cancellation slot: forwards the cancellation to the
// connection, naming the operation by id, so that a cancellation that arrives after the
// operation is gone finds nothing and does nothing.
struct cancel_forwarder {
    cancel_forwarder(std::weak_ptr<connection> c, std::uint64_t i) : target(std::move(c)), id(i) {}

    std::weak_ptr<connection> target;
    std::uint64_t id;

    void operator()(asio::cancellation_type_t) const {
        if (auto c = target.lock()) c->cancel(id, asio::error::operation_aborted);
    }
};

}  // namespace

std::uint64_t launch(const std::shared_ptr<connection>& c, operation* op,
                     asio::cancellation_slot slot,
                     const std::optional<std::chrono::milliseconds>& timeout,
                     std::chrono::milliseconds default_timeout) {
    const std::uint64_t id = next_operation_id.fetch_add(1, std::memory_order_relaxed);
    op->id_ = id;
    if (slot.is_connected()) slot.template emplace<cancel_forwarder>(c, id);
    c->submit(op, timeout.value_or(default_timeout));
    return id;
}

}  // namespace detail

client::client(executor_type ex, client_options options)
    : executor_(std::move(ex)),
      options_(std::move(options)),
      router_(detail::router::make(executor_, options_)) {}

client::~client() {
    close();
}

void client::close() {
    router_->shutdown();
}

std::vector<server_status> client::server_status() const {
    return router_->status();
}

client_metrics client::metrics() const {
    return router_->metrics();
}

std::optional<connection_failure> client::last_failure() const {
    return router_->last_failure();
}

void client::start_retrieve(retrieve_kind kind, std::string_view key, std::chrono::seconds ttl,
                            const call_options& opts,
                            handler<void(error_code, std::optional<item>)> h) {
    error_code ec = detail::check_key(options_, key);
    if (!ec && !detail::ttl_fits(ttl)) ec = error::invalid_argument;
    if (ec) return detail::post_completion(std::move(h), executor_, ec, std::optional<item>{});
    const auto* c = router_->route(key);
    if (c == nullptr) {
        return fail_dead(std::move(h), executor_, std::optional<item>{}, options_.errors_as_misses);
    }
    if (options_.read_retries > 0 && !router_->single()) {
        return start_retrieve_retrying(kind, key, ttl, opts, std::move(h), *c);
    }
    auto slot = h.handler.get_cancellation_slot();
    auto* op = detail::new_operation<detail::retrieve_op>(
        **c, std::move(h), static_cast<protocol::retrieve_command>(kind), key, ttl.count(),
        (*c)->options().key_prefix, detail::base64_keys(options_));
    op->misses_on_error_ = options_.errors_as_misses;
    detail::launch(*c, op, slot, opts.timeout, options_.op_timeout);
}

void client::start_get_into(std::string_view key, detail::sink_maker sink,
                            handler<void(error_code, std::optional<value_info>)> h) {
    if (auto ec = detail::check_key(options_, key)) {
        return detail::post_completion(std::move(h), executor_, ec, std::optional<value_info>{});
    }
    const auto* c = router_->route(key);
    if (c == nullptr) {
        return fail_dead(std::move(h), executor_, std::optional<value_info>{},
                         options_.errors_as_misses);
    }
    auto slot = h.handler.get_cancellation_slot();
    auto* op = detail::new_operation<detail::get_into_op>(
        **c, std::move(h), key, (*c)->options().key_prefix, detail::base64_keys(options_), sink);
    op->misses_on_error_ = options_.errors_as_misses;
    detail::launch(*c, op, slot, std::nullopt, options_.op_timeout);
}

void client::start_store(store_kind kind, std::string_view key, encoded value,
                         const store_options& opts, handler<void(error_code, bool)> h) {
    error_code ec = detail::check_key(options_, key);
    if (!ec) ec = detail::check_value(options_, value.bytes());
    if (!ec && !detail::ttl_fits(opts.ttl)) ec = error::invalid_argument;
    if (ec) return detail::post_completion(std::move(h), executor_, ec, false);
    const auto* c = router_->route(key);
    if (c == nullptr) return fail_dead(std::move(h), executor_, false, false);
    auto req = detail::make_store_request(static_cast<protocol::store_command>(kind), value, opts);
    req.base64 = detail::base64_keys(options_);
    auto slot = h.handler.get_cancellation_slot();
    auto* op = detail::new_operation<detail::store_op<bool>>(**c, std::move(h), key,
                                                             std::move(value), req);
    detail::launch(*c, op, slot, opts.timeout, options_.op_timeout);
}

void client::start_cas(std::string_view key, encoded value, std::uint64_t cas_unique,
                       const store_options& opts, handler<void(error_code, cas_result)> h) {
    error_code ec = detail::check_key(options_, key);
    if (!ec) ec = detail::check_value(options_, value.bytes());
    if (!ec && !detail::ttl_fits(opts.ttl)) ec = error::invalid_argument;
    if (ec) return detail::post_completion(std::move(h), executor_, ec, cas_result::not_found);
    const auto* c = router_->route(key);
    if (c == nullptr) return fail_dead(std::move(h), executor_, cas_result::not_found, false);
    auto req = detail::make_store_request(protocol::store_command::cas, value, opts);
    req.cas_unique = cas_unique;
    req.base64 = detail::base64_keys(options_);
    auto slot = h.handler.get_cancellation_slot();
    auto* op = detail::new_operation<detail::store_op<cas_result>>(**c, std::move(h), key,
                                                                   std::move(value), req);
    detail::launch(*c, op, slot, opts.timeout, options_.op_timeout);
}

void client::start_remove(std::string_view key, const call_options& opts,
                          handler<void(error_code, bool)> h) {
    if (auto ec = detail::check_key(options_, key)) {
        return detail::post_completion(std::move(h), executor_, ec, false);
    }
    const auto* c = router_->route(key);
    if (c == nullptr) return fail_dead(std::move(h), executor_, false, false);
    auto slot = h.handler.get_cancellation_slot();
    auto* op = detail::new_operation<detail::remove_op>(**c, std::move(h), key, opts.noreply,
                                                        detail::base64_keys(options_));
    detail::launch(*c, op, slot, opts.timeout, options_.op_timeout);
}

void client::start_arithmetic(bool up, std::string_view key, std::uint64_t delta,
                              const call_options& opts,
                              handler<void(error_code, std::optional<std::uint64_t>)> h) {
    if (auto ec = detail::check_key(options_, key)) {
        return detail::post_completion(std::move(h), executor_, ec, std::optional<std::uint64_t>{});
    }
    const auto* c = router_->route(key);
    if (c == nullptr) {
        return fail_dead(std::move(h), executor_, std::optional<std::uint64_t>{}, false);
    }
    auto slot = h.handler.get_cancellation_slot();
    auto* op = detail::new_operation<detail::arithmetic_op>(
        **c, std::move(h), up, key, delta, opts.noreply, detail::base64_keys(options_));
    detail::launch(*c, op, slot, opts.timeout, options_.op_timeout);
}

void client::start_touch(std::string_view key, std::chrono::seconds ttl, const call_options& opts,
                         handler<void(error_code, bool)> h) {
    error_code ec = detail::check_key(options_, key);
    if (!ec && !detail::ttl_fits(ttl)) ec = error::invalid_argument;
    if (ec) return detail::post_completion(std::move(h), executor_, ec, false);
    const auto* c = router_->route(key);
    if (c == nullptr) return fail_dead(std::move(h), executor_, false, false);
    auto slot = h.handler.get_cancellation_slot();
    auto* op = detail::new_operation<detail::touch_op>(**c, std::move(h), key, ttl.count(),
                                                       opts.noreply, detail::base64_keys(options_));
    detail::launch(*c, op, slot, opts.timeout, options_.op_timeout);
}

}  // namespace memcoro
