// The calls of memcoro::client that may span several servers: multi-key operations,
// which send one request per server at once (fanout.hpp), and the server commands,
// which address one server or every one.
#include <algorithm>
#include <memcoro/client.hpp>
#include <string>
#include <variant>

#include "../router/router.hpp"
#include "fanout.hpp"
#include "keyed.hpp"
#include "launch.hpp"
#include "retrieval.hpp"
#include "server_commands.hpp"
#include "storage.hpp"

namespace memcoro {
namespace asio = boost::asio;

namespace detail {
namespace {

// Groups the keys of a multi-key call by the server each goes to, in request order. Each
// key is placed once; the counts per server size every list before it is filled.
key_split split_keys(const router& r, std::span<const std::string_view> keys) {
    key_split out;
    std::vector<std::size_t> server_of(keys.size());
    std::vector<std::size_t> count(r.server_count(), 0);
    std::size_t parts = 0;
    for (std::size_t i = 0; i < keys.size(); ++i) {
        const std::size_t s = server_of[i] = r.server_for(keys[i]);
        if (s == placement::none) {
            out.dead.push_back(i);
        } else if (count[s]++ == 0) {
            ++parts;
        }
    }
    out.parts.reserve(parts);
    std::vector<std::size_t> part_of(r.server_count(), placement::none);
    for (std::size_t i = 0; i < keys.size(); ++i) {
        const std::size_t s = server_of[i];
        if (s == placement::none) continue;
        if (part_of[s] == placement::none) {
            part_of[s] = out.parts.size();
            out.parts.push_back({s, {}});
            out.parts.back().positions.reserve(count[s]);
        }
        out.parts[part_of[s]].positions.push_back(i);
    }
    return out;
}

// The caller's keys, copied: the caller's span is read only during the call, and the
// replies of each child are matched back to request positions through them.
class key_copies {
  public:
    explicit key_copies(std::span<const std::string_view> keys) {
        std::size_t total = 0;
        for (const auto k : keys) total += k.size();
        bytes_.reserve(total);
        views_.reserve(keys.size());
        for (const auto k : keys) {
            views_.emplace_back(bytes_.data() + bytes_.size(), k.size());
            bytes_.append(k);  // reserved: the views stay valid
        }
    }
    [[nodiscard]] std::span<const std::string_view> views() const noexcept { return views_; }

    // The position of `key` among `positions` (a child's keys, in order), at or after
    // `cursor`, which then moves past it: a child's results come in its request order.
    std::size_t find(const std::vector<std::size_t>& positions, std::string_view key,
                     std::size_t& cursor) const noexcept {
        while (cursor < positions.size() && views_[positions[cursor]] != key) ++cursor;
        return cursor < positions.size() ? positions[cursor++] : placement::none;
    }

  private:
    std::string bytes_;
    std::vector<std::string_view> views_;
};

std::vector<std::string_view> keys_at(std::span<const std::string_view> keys,
                                      const std::vector<std::size_t>& positions) {
    std::vector<std::string_view> out;
    out.reserve(positions.size());
    for (const auto p : positions) out.push_back(keys[p]);
    return out;
}

// get_many / gets_many: the hits of every child, back in request order. Each child's
// items stay in the vector it delivered; a table by request position says which child's
// item, if any, answers that key, so each item moves once, into the caller's vector.
class many_fanout final : public fanout<void(error_code, std::vector<item>), std::vector<item>> {
  public:
    many_fanout(completion<void(error_code, std::vector<item>)> h, asio::any_io_executor ex,
                const key_split& split, std::span<const std::string_view> keys, bool misses)
        : fanout(std::move(h), std::move(ex), split.parts.size()),
          keys_(keys),
          misses_(misses),
          results_(split.parts.size()),
          hit_at_(keys.size()) {
        positions_.reserve(split.parts.size());
        for (const auto& p : split.parts) positions_.push_back(p.positions);
    }

  private:
    // Child `child`'s item `index`; child none: no hit for that position.
    struct hit {
        std::size_t child = placement::none;
        std::size_t index = 0;
    };

    void absorb(std::size_t i, error_code ec, std::vector<item>&& items) override {
        if (ec) {
            if (!error_) error_ = as_reported(ec, misses_);
            return;
        }
        std::size_t cursor = 0;
        for (std::size_t j = 0; j < items.size(); ++j) {
            const std::size_t at = keys_.find(positions_[i], items[j].key(), cursor);
            if (at == placement::none) continue;
            hit_at_[at] = {i, j};
            ++hits_;
        }
        results_[i] = std::move(items);
    }
    void finish(completion<void(error_code, std::vector<item>)>& h,
                const asio::any_io_executor& ex) override {
        std::vector<item> out;
        if (!error_) {
            out.reserve(hits_);
            for (const auto& [child, index] : hit_at_) {
                if (child != placement::none) out.push_back(std::move(results_[child][index]));
            }
        }
        dispatch_completion(std::move(h), ex, error_, std::move(out));
    }

    key_copies keys_;
    bool misses_;
    std::vector<std::vector<std::size_t>> positions_;
    std::vector<std::vector<item>> results_;  // per child
    std::vector<hit> hit_at_;                 // per request position
    std::size_t hits_ = 0;
    error_code error_;
};

// set_many: the keys not stored, in request order.
class set_many_fanout final
    : public fanout<void(error_code, std::vector<std::string>), std::vector<std::string>> {
  public:
    set_many_fanout(completion<void(error_code, std::vector<std::string>)> h,
                    asio::any_io_executor ex, const key_split& split,
                    std::span<const std::string_view> keys)
        : fanout(std::move(h), std::move(ex), split.parts.size()), keys_(keys) {
        for (const auto& p : split.parts) positions_.push_back(p.positions);
    }

  private:
    void absorb(std::size_t i, error_code ec, std::vector<std::string>&& refused) override {
        if (ec) {
            if (!error_) error_ = ec;
            return;
        }
        std::size_t cursor = 0;
        for (auto& k : refused) not_stored_.emplace_back(keys_.find(positions_[i], k, cursor), k);
    }
    void finish(completion<void(error_code, std::vector<std::string>)>& h,
                const asio::any_io_executor& ex) override {
        std::vector<std::string> out;
        if (!error_) {
            std::stable_sort(not_stored_.begin(), not_stored_.end(),
                             [](const auto& a, const auto& b) { return a.first < b.first; });
            for (auto& [at, k] : not_stored_) out.push_back(std::move(k));
        }
        dispatch_completion(std::move(h), ex, error_, std::move(out));
    }

    key_copies keys_;
    std::vector<std::vector<std::size_t>> positions_;
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
        dispatch_completion(std::move(h), ex, error_, error_ ? std::size_t{0} : total_);
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
                    const std::vector<std::size_t>& servers,
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

std::vector<std::size_t> servers_of(const key_split& split) {
    std::vector<std::size_t> out;
    out.reserve(split.parts.size());
    for (const auto& p : split.parts) out.push_back(p.server);
    return out;
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
                                                          detail::base64_keys(options_), c->pool());
        op->misses_on_error_ = options_.errors_as_misses;
        detail::launch(c, op, slot, opts.timeout, options_.op_timeout);
    };
    if (router_->single()) return one_request(*router_->route({}));

    const auto split = detail::split_keys(*router_, keys);
    if (!split.dead.empty() && !options_.errors_as_misses) {
        return detail::post_completion(std::move(h), executor_, make_error_code(error::server_dead),
                                       std::vector<item>{});
    }
    if (split.parts.empty()) {  // every key's server is dead: all misses
        return detail::post_completion(std::move(h), executor_, error_code{}, std::vector<item>{});
    }
    if (split.parts.size() == 1 && split.dead.empty()) {
        return one_request(router_->pick(split.parts.front().server));
    }
    auto parent = std::make_shared<detail::many_fanout>(std::move(h), executor_, split, keys,
                                                        options_.errors_as_misses);
    detail::start_children(
        parent, *router_, detail::servers_of(split), opts.timeout, options_.op_timeout,
        [&](std::size_t i, detail::connection& c) {
            const auto part = detail::keys_at(keys, split.parts[i].positions);
            return detail::new_operation<detail::many_op>(
                c,
                handler<void(error_code, std::vector<item>)>(parent->child_handler(i), executor_),
                with_cas, std::span<const std::string_view>(part), c.options().key_prefix,
                detail::base64_keys(options_), c.pool());
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

    std::vector<std::string_view> keys;
    keys.reserve(items.size());
    for (const auto& kv : items) keys.push_back(kv.key);
    const auto split = detail::split_keys(*router_, keys);
    if (!split.dead.empty()) {  // nothing is written when part of it cannot be
        return detail::post_completion(std::move(h), executor_, make_error_code(error::server_dead),
                                       std::vector<std::string>{});
    }
    if (split.parts.size() == 1) return one_request(router_->pick(split.parts.front().server));
    auto parent = std::make_shared<detail::set_many_fanout>(std::move(h), executor_, split, keys);
    detail::start_children(parent, *router_, detail::servers_of(split), opts.timeout,
                           options_.op_timeout, [&](std::size_t i, detail::connection& c) {
                               std::vector<key_value> part;
                               for (const auto p : split.parts[i].positions)
                                   part.push_back(items[p]);
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
        auto* op = detail::new_operation<detail::remove_many_op>(
            *c, std::move(h), ks, opts.noreply, detail::base64_keys(options_), c->pool());
        detail::launch(c, op, slot, opts.timeout, options_.op_timeout);
    };
    if (router_->single()) return one_request(*router_->route({}), keys);

    const auto split = detail::split_keys(*router_, keys);
    if (!split.dead.empty()) {
        return detail::post_completion(std::move(h), executor_, make_error_code(error::server_dead),
                                       std::size_t{0});
    }
    if (split.parts.size() == 1) {
        return one_request(router_->pick(split.parts.front().server), keys);
    }
    auto parent =
        std::make_shared<detail::remove_many_fanout>(std::move(h), executor_, split.parts.size());
    detail::start_children(
        parent, *router_, detail::servers_of(split), opts.timeout, options_.op_timeout,
        [&](std::size_t i, detail::connection& c) {
            const auto part = detail::keys_at(keys, split.parts[i].positions);
            return detail::new_operation<detail::remove_many_op>(
                c, handler<void(error_code, std::size_t)>(parent->child_handler(i), executor_),
                std::span<const std::string_view>(part), opts.noreply,
                detail::base64_keys(options_), c.pool());
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
