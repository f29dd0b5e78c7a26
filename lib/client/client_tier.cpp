// The calls of memcoro::client that may span several servers: multi-key operations,
// which send one request per server at once (fanout.hpp), and the server commands,
// which address one server or every one.
#include <algorithm>
#include <boost/container/small_vector.hpp>
#include <memcoro/client.hpp>
#include <string>
#include <variant>

#include "../router/router.hpp"
#include "fanout.hpp"
#include "key_split.hpp"
#include "keyed.hpp"
#include "launch.hpp"
#include "retrieval.hpp"
#include "server_commands.hpp"
#include "shared_block.hpp"
#include "storage.hpp"

namespace memcoro {
namespace asio = boost::asio;

namespace detail {
namespace {

// get_many / gets_many: the hits of every child, back in request order. Each child's
// items stay in the vector it delivered; a table by request position points at the
// item, if any, that answers that key, so each item moves once, into the caller's
// vector. The keys and both tables live in the parent's own block (shared_block.hpp).
class many_fanout final : public fanout<void(error_code, std::vector<item>), std::vector<item>> {
  public:
    [[nodiscard]] static std::size_t bytes_for(const key_split& split,
                                               std::span<const std::string_view> keys) noexcept {
        return keys.size() * sizeof(item*) + grouped_keys::bytes_for(split, keys);
    }

    many_fanout(block_tail tail, completion<void(error_code, std::vector<item>)> h,
                asio::any_io_executor ex, const key_split& split,
                std::span<const std::string_view> keys, bool misses)
        : fanout(std::move(h), std::move(ex), split.parts()),
          hit_at_(reinterpret_cast<item**>(tail.get()), keys.size()),
          keys_(tail.get() + keys.size() * sizeof(item*), split, keys),
          misses_(misses),
          results_(split.parts()) {
        std::fill(hit_at_.begin(), hit_at_.end(), nullptr);
    }

    // Child i's keys, in request order.
    [[nodiscard]] std::span<const std::string_view> keys(std::size_t i) const noexcept {
        return keys_.keys(i);
    }

  private:
    void absorb(std::size_t i, error_code ec, std::vector<item>&& items) override {
        if (ec) {
            if (!error_) error_ = as_reported(ec, misses_);
            return;
        }
        auto match = keys_.match(i);
        for (auto& it : items) {
            const std::size_t at = match.next(it.key());
            if (at == placement::none) break;  // and so would every later item
            hit_at_[at] = &it;
            ++hits_;
        }
        results_[i] = std::move(items);  // the items stay where they are
    }
    void finish(completion<void(error_code, std::vector<item>)>& h,
                const asio::any_io_executor& ex) override {
        std::vector<item> out;
        if (!error_) {
            out.reserve(hits_);
            for (item* hit : hit_at_) {
                if (hit != nullptr) out.push_back(std::move(*hit));
            }
        }
        deliver_completion(h, ex, /*post=*/false, error_, std::move(out));
    }

    std::span<item*> hit_at_;  // per request position
    grouped_keys keys_;
    bool misses_;
    boost::container::small_vector<std::vector<item>, 8> results_;  // per child
    std::size_t hits_ = 0;
    error_code error_;
};

// set_many: the keys not stored, in request order.
class set_many_fanout final
    : public fanout<void(error_code, std::vector<std::string>), std::vector<std::string>> {
  public:
    set_many_fanout(block_tail tail, completion<void(error_code, std::vector<std::string>)> h,
                    asio::any_io_executor ex, const key_split& split,
                    std::span<const std::string_view> keys)
        : fanout(std::move(h), std::move(ex), split.parts()), keys_(tail.get(), split, keys) {}

    // The request positions of child i's items, in request order.
    [[nodiscard]] std::span<const std::size_t> positions(std::size_t i) const noexcept {
        return keys_.positions(i);
    }

  private:
    void absorb(std::size_t i, error_code ec, std::vector<std::string>&& refused) override {
        if (ec) {
            if (!error_) error_ = ec;
            return;
        }
        auto match = keys_.match(i);
        for (auto& k : refused) not_stored_.emplace_back(match.next(k), k);
    }
    void finish(completion<void(error_code, std::vector<std::string>)>& h,
                const asio::any_io_executor& ex) override {
        std::vector<std::string> out;
        if (!error_) {
            std::stable_sort(not_stored_.begin(), not_stored_.end(),
                             [](const auto& a, const auto& b) { return a.first < b.first; });
            for (auto& [at, k] : not_stored_) out.push_back(std::move(k));
        }
        deliver_completion(h, ex, /*post=*/false, error_, std::move(out));
    }

    grouped_keys keys_;
    std::vector<std::pair<std::size_t, std::string>> not_stored_;
    error_code error_;
};

// remove_many: how many keys existed, over every server.
class remove_many_fanout final : public fanout<void(error_code, std::size_t), std::size_t> {
  public:
    using fanout::fanout;

  private:
    void absorb(std::size_t, error_code ec, std::size_t&& found) override {
        if (ec && !error_) error_ = ec;
        total_ += found;
    }
    void finish(completion<void(error_code, std::size_t)>& h,
                const asio::any_io_executor& ex) override {
        deliver_completion(h, ex, /*post=*/false, error_, error_ ? std::size_t{0} : total_);
    }

    std::size_t total_ = 0;
    error_code error_;
};

// flush_all, verbosity, cache_memlimit to every server: the first error, if any.
class broadcast_fanout final : public fanout<void(error_code), std::monostate> {
  public:
    using fanout::fanout;

  private:
    void absorb(std::size_t, error_code ec, std::monostate&&) override {
        if (ec && !error_) error_ = ec;
    }
    void finish(completion<void(error_code)>& h, const asio::any_io_executor& ex) override {
        dispatch_completion(std::move(h), ex, error_);
    }

    error_code error_;
};

// stats_each, version_each: every server's answer or error, each naming its server.
template <class T>
class each_fanout final : public fanout<void(error_code, std::vector<server_result<T>>), T> {
    using base = fanout<void(error_code, std::vector<server_result<T>>), T>;

  public:
    each_fanout(completion<void(error_code, std::vector<server_result<T>>)> h,
                asio::any_io_executor ex, const router& r)
        : base(std::move(h), std::move(ex), r.server_count()) {
        for (std::size_t i = 0; i < r.server_count(); ++i) {
            results_.push_back({i, r.server(i).spec_.text, {}, {}});
        }
    }

  private:
    void absorb(std::size_t i, error_code ec, T&& value) override {
        results_[i].error = ec;
        if (!ec) results_[i].value = std::move(value);
    }
    void finish(completion<void(error_code, std::vector<server_result<T>>)>& h,
                const asio::any_io_executor& ex) override {
        dispatch_completion(std::move(h), ex, error_code{}, std::move(results_));
    }

    std::vector<server_result<T>> results_;
};

// Starts the parent's children: `make(index, connection)` builds child `index`'s
// operation. The user's cancellation reaches every child through the parent.
template <class Fanout, class Make>
void start_children(const std::shared_ptr<Fanout>& parent, const router& r,
                    std::span<const std::size_t> servers,
                    const std::optional<std::chrono::milliseconds>& timeout,
                    std::chrono::milliseconds default_timeout, Make make) {
    if (auto slot = parent->slot(); slot.is_connected()) {
        slot.template emplace<fanout_canceller<Fanout>>(parent);
    }
    for (std::size_t i = 0; i < servers.size(); ++i) {
        const auto& c = r.pick(servers[i]);
        operation* op = make(i, *c);
        parent->add_child(c, launch(c, op, {}, timeout, default_timeout));
    }
}

std::vector<std::size_t> every_server(const router& r) {
    std::vector<std::size_t> out(r.server_count());
    for (std::size_t i = 0; i < out.size(); ++i) out[i] = i;
    return out;
}

}  // namespace
}  // namespace detail

// ---------------------------------------------------------------------------------
// Multi-key operations

void client::start_many(bool with_cas, std::span<const std::string_view> keys,
                        const call_options& opts, handler<void(error_code, std::vector<item>)> h) {
    if (auto ec = detail::check_keys(options_, keys)) {
        return detail::post_completion(std::move(h), executor_, ec, std::vector<item>{});
    }
    auto one_request = [&](const std::shared_ptr<detail::connection>& c) {
        auto slot = h.handler.get_cancellation_slot();
        auto* op = detail::new_operation<detail::many_op>(*c, std::move(h), with_cas, keys,
                                                          c->options().key_prefix,
                                                          detail::base64_keys(options_));
        op->misses_on_error_ = options_.errors_as_misses;
        detail::launch(c, op, slot, opts.timeout, options_.op_timeout);
    };
    if (router_->single()) return one_request(*router_->route({}));

    const detail::key_split split(*router_, keys);
    if (split.dead() != 0 && !options_.errors_as_misses) {
        return detail::post_completion(std::move(h), executor_, make_error_code(error::server_dead),
                                       std::vector<item>{});
    }
    if (split.parts() == 0) {  // every key's server is dead: all misses
        return detail::post_completion(std::move(h), executor_, error_code{}, std::vector<item>{});
    }
    if (split.parts() == 1 && split.dead() == 0) {
        return one_request(router_->pick(split.servers().front()));
    }
    auto parent = detail::make_shared_with_tail<detail::many_fanout>(
        detail::many_fanout::bytes_for(split, keys), std::move(h), executor_, split, keys,
        options_.errors_as_misses);
    detail::start_children(
        parent, *router_, split.servers(), opts.timeout, options_.op_timeout,
        [&](std::size_t i, detail::connection& c) {
            return detail::new_operation<detail::many_op>(
                c,
                handler<void(error_code, std::vector<item>)>(parent->child_handler(i), executor_),
                with_cas, parent->keys(i), c.options().key_prefix, detail::base64_keys(options_));
        });
}

void client::start_set_many(std::span<const key_value> items, const store_options& opts,
                            handler<void(error_code, std::vector<std::string>)> h) {
    error_code ec = items.empty() ? make_error_code(error::invalid_argument) : error_code{};
    for (const auto& kv : items) {
        if (ec) break;
        ec = detail::check_key(options_, kv.key);
        if (!ec) ec = detail::check_value(options_, kv.value);
    }
    if (!ec && !detail::ttl_fits(opts.ttl)) ec = error::invalid_argument;
    if (ec) {
        return detail::post_completion(std::move(h), executor_, ec, std::vector<std::string>{});
    }
    auto req = detail::make_store_request(protocol::store_command::set, encoded::view({}), opts);
    req.base64 = detail::base64_keys(options_);
    auto one_request = [&](const std::shared_ptr<detail::connection>& c) {
        auto slot = h.handler.get_cancellation_slot();
        auto* op = detail::new_operation<detail::set_many_op>(*c, std::move(h), items, req);
        detail::launch(c, op, slot, opts.timeout, options_.op_timeout);
    };
    if (router_->single()) return one_request(*router_->route({}));

    boost::container::small_vector<std::string_view, 128> keys;
    keys.reserve(items.size());
    for (const auto& kv : items) keys.push_back(kv.key);
    const detail::key_split split(*router_, keys);
    if (split.dead() != 0) {  // nothing is written when part of it cannot be
        return detail::post_completion(std::move(h), executor_, make_error_code(error::server_dead),
                                       std::vector<std::string>{});
    }
    if (split.parts() == 1) return one_request(router_->pick(split.servers().front()));
    auto parent = detail::make_shared_with_tail<detail::set_many_fanout>(
        detail::grouped_keys::bytes_for(split, keys), std::move(h), executor_, split, keys);
    // Each child copies its keys when it is made: one buffer serves them all.
    boost::container::small_vector<key_value, 128> part;
    detail::start_children(parent, *router_, split.servers(), opts.timeout, options_.op_timeout,
                           [&](std::size_t i, detail::connection& c) {
                               part.clear();
                               for (const auto p : parent->positions(i)) part.push_back(items[p]);
                               return detail::new_operation<detail::set_many_op>(
                                   c,
                                   handler<void(error_code, std::vector<std::string>)>(
                                       parent->child_handler(i), executor_),
                                   std::span<const key_value>(part), req);
                           });
}

void client::start_remove_many(std::span<const std::string_view> keys, const call_options& opts,
                               handler<void(error_code, std::size_t)> h) {
    if (auto ec = detail::check_keys(options_, keys)) {
        return detail::post_completion(std::move(h), executor_, ec, std::size_t{0});
    }
    auto one_request = [&](const std::shared_ptr<detail::connection>& c,
                           std::span<const std::string_view> ks) {
        auto slot = h.handler.get_cancellation_slot();
        auto* op = detail::new_operation<detail::remove_many_op>(*c, std::move(h), ks, opts.noreply,
                                                                 detail::base64_keys(options_));
        detail::launch(c, op, slot, opts.timeout, options_.op_timeout);
    };
    if (router_->single()) return one_request(*router_->route({}), keys);

    const detail::key_split split(*router_, keys);
    if (split.dead() != 0) {
        return detail::post_completion(std::move(h), executor_, make_error_code(error::server_dead),
                                       std::size_t{0});
    }
    if (split.parts() == 1) return one_request(router_->pick(split.servers().front()), keys);
    auto parent =
        std::make_shared<detail::remove_many_fanout>(std::move(h), executor_, split.parts());
    // The keys in grouped order: each child copies its own span of them when it is made.
    boost::container::small_vector<std::string_view, 128> grouped(split.placed());
    split.group([&](std::size_t position, std::size_t g) { grouped[g] = keys[position]; });
    detail::start_children(
        parent, *router_, split.servers(), opts.timeout, options_.op_timeout,
        [&](std::size_t i, detail::connection& c) {
            const std::span<const std::string_view> part(grouped.data() + split.first(i),
                                                         split.first(i + 1) - split.first(i));
            return detail::new_operation<detail::remove_many_op>(
                c, handler<void(error_code, std::size_t)>(parent->child_handler(i), executor_),
                part, opts.noreply, detail::base64_keys(options_));
        });
}

// ---------------------------------------------------------------------------------
// Server commands

// The server a server command addresses: the one named, or the only one. nullopt: every
// server. A server out of range, or none for a command that `needs_one`, is
// error::invalid_argument.
std::optional<std::size_t> client::addressed_server(const call_options& opts, bool needs_one,
                                                    error_code& ec) const {
    std::optional<std::size_t> server = opts.server;
    if (!server && router_->server_count() == 1) server = 0;
    if (server ? *server >= router_->server_count() : needs_one) ec = error::invalid_argument;
    return server;
}

void client::start_stats(std::string_view args, const call_options& opts,
                         handler<void(error_code, stats_list)> h) {
    error_code ec;
    const auto server = addressed_server(opts, /*needs_one=*/true, ec);  // else stats_each
    if (ec) return detail::post_completion(std::move(h), executor_, ec, stats_list{});
    const auto& c = router_->pick(*server);
    auto slot = h.handler.get_cancellation_slot();
    auto* op = detail::new_operation<detail::stats_op>(*c, std::move(h), args);
    detail::launch(c, op, slot, opts.timeout, options_.op_timeout);
}

void client::start_version(const call_options& opts, handler<void(error_code, std::string)> h) {
    error_code ec;
    const auto server = addressed_server(opts, /*needs_one=*/true, ec);  // else version_each
    if (ec) return detail::post_completion(std::move(h), executor_, ec, std::string{});
    const auto& c = router_->pick(*server);
    auto slot = h.handler.get_cancellation_slot();
    auto* op = detail::new_operation<detail::version_op>(*c, std::move(h));
    detail::launch(c, op, slot, opts.timeout, options_.op_timeout);
}

void client::start_stats_each(std::string_view args, const call_options& opts,
                              handler<void(error_code, std::vector<server_result<stats_list>>)> h) {
    auto parent =
        std::make_shared<detail::each_fanout<stats_list>>(std::move(h), executor_, *router_);
    detail::start_children(
        parent, *router_, detail::every_server(*router_), opts.timeout, options_.op_timeout,
        [&](std::size_t i, detail::connection& c) {
            return detail::new_operation<detail::stats_op>(
                c, handler<void(error_code, stats_list)>(parent->child_handler(i), executor_),
                args);
        });
}

void client::start_version_each(
    const call_options& opts,
    handler<void(error_code, std::vector<server_result<std::string>>)> h) {
    auto parent =
        std::make_shared<detail::each_fanout<std::string>>(std::move(h), executor_, *router_);
    detail::start_children(
        parent, *router_, detail::every_server(*router_), opts.timeout, options_.op_timeout,
        [&](std::size_t i, detail::connection& c) {
            return detail::new_operation<detail::version_op>(
                c, handler<void(error_code, std::string)>(parent->child_handler(i), executor_));
        });
}

void client::start_admin(admin_kind kind, std::uint64_t arg, const call_options& opts,
                         handler<void(error_code)> h) {
    error_code ec;
    if (kind == admin_kind::flush_all && arg > std::numeric_limits<std::int32_t>::max()) {
        ec = error::invalid_argument;
    }
    const bool needs_one = kind == admin_kind::quit || kind == admin_kind::shutdown;
    const auto server = addressed_server(opts, needs_one, ec);
    if (ec) return detail::post_completion(std::move(h), executor_, ec);
    const auto cmd = static_cast<detail::admin_command>(kind);
    if (server) {
        const auto& c = router_->pick(*server);
        auto slot = h.handler.get_cancellation_slot();
        auto* op =
            detail::new_operation<detail::admin_op>(*c, std::move(h), cmd, arg, opts.noreply);
        detail::launch(c, op, slot, opts.timeout, options_.op_timeout);
        return;
    }
    auto parent = std::make_shared<detail::broadcast_fanout>(std::move(h), executor_,
                                                             router_->server_count());
    detail::start_children(parent, *router_, detail::every_server(*router_), opts.timeout,
                           options_.op_timeout, [&](std::size_t i, detail::connection& c) {
                               auto child = [p = parent->child_handler(i)](error_code e) mutable {
                                   p(e, std::monostate{});
                               };
                               return detail::new_operation<detail::admin_op>(
                                   c, handler<void(error_code)>(std::move(child), executor_), cmd,
                                   arg, opts.noreply);
                           });
}

}  // namespace memcoro
