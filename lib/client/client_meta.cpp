// The compiled half of the typed meta calls (client.hpp, meta.hpp): check the input,
// route by key as every keyed call does, build the operation (meta_calls.hpp), launch it.
#include <memcoro/client.hpp>

#include "../router/router.hpp"
#include "launch.hpp"
#include "meta_calls.hpp"

namespace memcoro {
using detail::fail_dead;

namespace {

// A ttl that is absent fits.
bool fits(const std::optional<std::chrono::seconds>& ttl) {
    return !ttl || detail::ttl_fits(*ttl);
}

}  // namespace

void client::start_meta_get(std::string_view key, const mg_options& opts,
                            handler<void(error_code, std::optional<meta_item>)> h) {
    const auto encoding = opts.key_encoding.value_or(options_.key_encoding);
    error_code ec = detail::check_key(options_, key, encoding);
    if (!ec && !(fits(opts.touch_ttl) && fits(opts.vivify_ttl) && fits(opts.recache_below))) {
        ec = error::invalid_argument;
    }
    if (ec) return detail::post_completion(std::move(h), executor_, ec, std::optional<meta_item>{});
    const auto* c = router_->route(key);
    if (c == nullptr) {
        return fail_dead(std::move(h), executor_, std::optional<meta_item>{},
                         options_.errors_as_misses);
    }
    auto slot = h.handler.get_cancellation_slot();
    auto* op = detail::new_operation<detail::meta_get_op>(
        **c, std::move(h), key, (*c)->options().key_prefix, opts, encoding == key_encoding::base64);
    op->misses_on_error_ = options_.errors_as_misses;
    detail::launch(*c, op, slot, opts.timeout, options_.op_timeout);
}

void client::start_meta_set(std::string_view key, encoded value, const ms_options& opts,
                            handler<void(error_code, ms_result)> h) {
    const auto encoding = opts.key_encoding.value_or(options_.key_encoding);
    error_code ec = detail::check_key(options_, key, encoding);
    if (!ec) ec = detail::check_value(options_, value.bytes());
    // I only ever applies to a compare-and-swap (protocol.md 3.4).
    if (!ec && (!detail::ttl_fits(opts.ttl) || (opts.invalidate && !opts.compare_cas))) {
        ec = error::invalid_argument;
    }
    if (ec) return detail::post_completion(std::move(h), executor_, ec, ms_result{});
    const auto* c = router_->route(key);
    if (c == nullptr) return fail_dead(std::move(h), executor_, ms_result{}, false);
    auto slot = h.handler.get_cancellation_slot();
    auto* op = detail::new_operation<detail::meta_set_op>(**c, std::move(h), key, std::move(value),
                                                          opts, encoding == key_encoding::base64);
    detail::launch(*c, op, slot, opts.timeout, options_.op_timeout);
}

void client::start_meta_delete(std::string_view key, const md_options& opts,
                               handler<void(error_code, meta_status)> h) {
    const auto encoding = opts.key_encoding.value_or(options_.key_encoding);
    error_code ec = detail::check_key(options_, key, encoding);
    // T is the stale item's ttl: without I the server would ignore it.
    if (!ec && (!fits(opts.stale_ttl) || (opts.stale_ttl && !opts.mark_stale))) {
        ec = error::invalid_argument;
    }
    if (ec) return detail::post_completion(std::move(h), executor_, ec, meta_status{});
    const auto* c = router_->route(key);
    if (c == nullptr) return fail_dead(std::move(h), executor_, meta_status{}, false);
    auto slot = h.handler.get_cancellation_slot();
    auto* op = detail::new_operation<detail::meta_delete_op>(**c, std::move(h), key, opts,
                                                             encoding == key_encoding::base64);
    detail::launch(*c, op, slot, opts.timeout, options_.op_timeout);
}

void client::start_meta_arithmetic(std::string_view key, const ma_options& opts,
                                   handler<void(error_code, ma_result)> h) {
    const auto encoding = opts.key_encoding.value_or(options_.key_encoding);
    error_code ec = detail::check_key(options_, key, encoding);
    // J is the value a vivified item starts with: without N nothing is created.
    if (!ec && (!fits(opts.vivify_ttl) || !fits(opts.touch_ttl) ||
                (opts.initial != 0 && !opts.vivify_ttl))) {
        ec = error::invalid_argument;
    }
    if (ec) return detail::post_completion(std::move(h), executor_, ec, ma_result{});
    const auto* c = router_->route(key);
    if (c == nullptr) return fail_dead(std::move(h), executor_, ma_result{}, false);
    auto slot = h.handler.get_cancellation_slot();
    auto* op = detail::new_operation<detail::meta_arithmetic_op>(**c, std::move(h), key, opts,
                                                                 encoding == key_encoding::base64);
    detail::launch(*c, op, slot, opts.timeout, options_.op_timeout);
}

}  // namespace memcoro
