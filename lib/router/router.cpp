#include "router.hpp"

#include <algorithm>
#include <boost/asio/post.hpp>
#include <boost/system/system_error.hpp>
#include <memcoro/error.hpp>
#include <string>
#include <utility>

#include "../client/server_commands.hpp"
#include "../detail/tls_context.hpp"

namespace memcoro::detail {
namespace asio = boost::asio;

namespace {

[[noreturn]] void refuse(const std::string& why) {
    throw boost::system::system_error(make_error_code(error::invalid_argument),
                                      "memcoro::client: " + why);
}

std::string describe(std::size_t i, const std::string& address) {
    return "servers[" + std::to_string(i) + "] \"" + address + "\"";
}

bool same_server(const server_address& a, const server_address& b) {
    if (a.is_unix != b.is_unix) return false;
    return a.is_unix ? a.path == b.path : a.host == b.host && a.port == b.port;
}

// The servers the options name, checked: the list, or the one `server`.
std::vector<placement_server> servers_of(const client_options& o) {
    const bool server_set = o.server != client_options{}.server;
    if (!o.servers.empty() && server_set) refuse("set either server or servers, not both");
    std::vector<placement_server> out;
    if (o.servers.empty()) {
        if (o.server.empty()) refuse("no server: servers is empty and server is \"\"");
        out.push_back({o.server, {}, 1});
    } else {
        for (const auto& s : o.servers) out.push_back({s.address, {}, s.weight});
    }
    for (std::size_t i = 0; i < out.size(); ++i) {
        auto& s = out[i];
        if (const char* why = address_problem(s.text, s.address)) {
            const auto which = o.servers.empty() ? "server \"" + s.text + '"' : describe(i, s.text);
            refuse(which + ": malformed address: " + why);
        }
        if (s.weight == 0) refuse(describe(i, s.text) + ": weight 0");
        for (std::size_t j = 0; j < i; ++j) {
            if (same_server(out[j].address, s.address)) {
                refuse(describe(i, s.text) + ": the same server as " + describe(j, out[j].text));
            }
        }
    }
    return out;
}

// The authentication `set` carries "<username> <password>" as its data, which memcached
// 1.6.18 splits at spaces: neither may hold one, nor a line break (protocol.md 4).
void check_credentials(const client_options& o) {
    if (o.username.empty()) {
        if (!o.password.empty()) refuse("a password without a username");
        return;
    }
    const auto unfit = [](const std::string& s) {
        for (const unsigned char c : s) {
            if (c <= 0x20 || c == 0x7f) return true;
        }
        return false;
    };
    if (unfit(o.username)) refuse("the username may not contain a space or a control character");
    // Neither the password nor any of its bytes is named.
    if (unfit(o.password)) refuse("the password may not contain a space or a control character");
}

}  // namespace

// ---------------------------------------------------------------------------------
// server_node

server_node::server_node(std::size_t index, placement_server spec, std::weak_ptr<router> owner,
                         std::uint32_t failure_limit)
    : index_(index),
      spec_(std::move(spec)),
      owner_(std::move(owner)),
      failure_limit_(failure_limit) {}

// Under the lock of the connection that failed: only atomics here, and a post.
void server_node::on_failure() noexcept {
    const auto failures = failures_.fetch_add(1, std::memory_order_relaxed) + 1;
    if (failure_limit_ == 0 || failures < failure_limit_) return;
    if (dead_.exchange(true, std::memory_order_acq_rel)) return;  // already dead
    auto r = owner_.lock();
    if (!r) return;
    set_dead_until(clock::now() + r->options_.dead_timeout);
    r->live_generation_.fetch_add(1, std::memory_order_acq_rel);
    try {
        asio::post(r->executor_, [owner = owner_, i = index_] {
            if (auto r = owner.lock()) r->on_server_dead(i);
        });
    } catch (...) {
        // No memory to schedule its probe: leave it alive rather than dead for good; the
        // next failure tries again.
        dead_.store(false, std::memory_order_release);
    }
}

// ---------------------------------------------------------------------------------
// router

std::shared_ptr<router> router::make(asio::any_io_executor ex, const client_options& options) {
    auto r = std::make_shared<router>(std::move(ex), options);
    auto servers = servers_of(r->options_);
    const bool tier = servers.size() > 1;
    for (std::size_t i = 0; i < servers.size(); ++i) {
        r->nodes_.push_back(std::make_unique<server_node>(
            i, std::move(servers[i]), r->weak_from_this(), r->options_.failure_limit));
    }
    if (r->options_.connections_per_server == 0) refuse("connections_per_server is 0");
    check_credentials(r->options_);
    for (auto& node : r->nodes_) {
        // A server's own TLS options, else the client's; the files are loaded once per
        // server, and its connections share the context.
        const auto& own =
            r->options_.servers.empty() ? std::nullopt : r->options_.servers[node->index_].tls;
        const auto& tls = own ? own : r->options_.tls;
        const auto setup = tls ? make_tls_setup(*tls, node->spec_.address) : nullptr;
        for (std::size_t c = 0; c < r->options_.connections_per_server; ++c) {
            node->connections_.push_back(
                std::make_shared<connection>(r->executor_, r->options_, node->spec_.address,
                                             tier ? node.get() : nullptr, setup));
        }
    }
    if (tier) {
        std::vector<placement_server> specs;
        for (const auto& node : r->nodes_) specs.push_back(node->spec_);
        if (r->options_.custom_distribution) {
            r->placement_ = make_custom_placement(r->options_.custom_distribution, specs.size());
        } else {
            error_code ec;
            std::string why;
            r->placement_ = make_placement(r->options_.distribution, specs, ec, why);
            if (ec || !r->placement_) refuse(why.empty() ? "bad server list" : why);
        }
    } else if (r->options_.connections_per_server == 1) {
        r->single_ = &r->nodes_.front()->connections_.front();
    }
    return r;
}

router::router(asio::any_io_executor ex, const client_options& options)
    : executor_(std::move(ex)), options_(options) {}

router::~router() {
    shutdown();
}

std::size_t router::checked(std::string_view key, std::size_t placed) const {
    if (placed >= nodes_.size()) return placement::none;
    if (!nodes_[placed]->dead()) [[likely]] {
        return placed;
    }
    return instead_of_dead(key, placed);
}

std::size_t router::server_for(std::string_view key) const {
    if (nodes_.size() == 1) return 0;
    return checked(key, placement_->server_for(key));
}

void router::servers_for(std::span<const std::string_view> keys, std::span<std::size_t> out) const {
    if (nodes_.size() == 1) {
        std::fill_n(out.begin(), keys.size(), 0);
        return;
    }
    placement_->servers_for(keys, out);
    for (std::size_t i = 0; i < keys.size(); ++i) out[i] = checked(keys[i], out[i]);
}

std::size_t router::instead_of_dead(std::string_view key, std::size_t placed) const {
    const std::size_t to = options_.remap_dead_servers ? remapped(key) : placement::none;
    if (to == placement::none && options_.metrics) {
        nodes_[placed]->dead_refusals_.fetch_add(1, std::memory_order_relaxed);
    }
    return to;
}

std::size_t router::remapped(std::string_view key) const {
    std::lock_guard lock(mutex_);
    const auto generation = live_generation_.load(std::memory_order_acquire);
    if (!remapped_ || remapped_generation_ != generation) {
        const auto alive = std::make_unique<bool[]>(nodes_.size());
        for (std::size_t i = 0; i < nodes_.size(); ++i) alive[i] = !nodes_[i]->dead();
        remapped_ = placement_->without({alive.get(), nodes_.size()});
        remapped_generation_ = generation;
    }
    const std::size_t s = remapped_->server_for(key);
    // A server that died since the rebuild: the next call rebuilds.
    return s < nodes_.size() && !nodes_[s]->dead() ? s : placement::none;
}

const std::shared_ptr<connection>& router::pick(std::size_t server, const connection* avoid) const {
    const auto& conns = nodes_[server]->connections_;
    if (conns.size() == 1) return conns.front();
    // An operation started by a handler that one of this server's connections resumed
    // stays on that connection, however busy: its request joins the write that ends the
    // batch, and with several threads running the event loop the connection's coroutines
    // and memory stay with one thread. Moving it when another connection looked less busy
    // went wrong: that count belongs to another thread, read mid-batch, and swings from a
    // handful to twice its share. Such a rule moved 1 operation in 100 and cost S11 a
    // quarter of its throughput, and no rule measured beat never moving (bench/README.md,
    // S11, 2026-12-07). Every other operation takes the least busy connection, so one held
    // up by a large value gets other work only while it is the least busy.
    if (const connection* here = connection::running_here(); here != nullptr && here != avoid) {
        for (const auto& c : conns) {
            if (c.get() == here) return c;
        }
    }
    const std::shared_ptr<connection>* best = nullptr;
    std::uint32_t least = 0;
    for (const auto& c : conns) {
        if (c.get() == avoid) continue;
        const auto load = c->in_flight();
        if (best == nullptr || load < least) {
            best = &c;
            least = load;
        }
    }
    return best != nullptr ? *best : conns.front();
}

std::vector<server_status> router::status() const {
    std::vector<server_status> out;
    std::lock_guard lock(mutex_);
    for (const auto& node : nodes_) out.push_back(status_of(*node));
    return out;
}

client_metrics router::metrics() const {
    client_metrics out;
    out.enabled = options_.metrics;
    out.servers.reserve(nodes_.size());
    for (const auto& node : nodes_) {
        auto& s = out.servers.emplace_back();
        s.index = node->index_;
        s.address = node->spec_.text;
        for (const auto& c : node->connections_) c->add_metrics(s);
        s.errors[static_cast<std::size_t>(error::server_dead)] +=
            node->dead_refusals_.load(std::memory_order_relaxed);
        out.total += s;
    }
    return out;
}

server_status router::status_of(const server_node& node) const {
    server_status s;
    s.index = node.index_;
    s.address = node.spec_.text;
    s.health = !node.dead()    ? server_status::state::alive
               : node.probing_ ? server_status::state::probing
                               : server_status::state::dead;
    if (s.health != server_status::state::alive) s.dead_until = node.dead_until();
    s.consecutive_failures = node.failures_.load(std::memory_order_relaxed);
    for (const auto& c : node.connections_) {
        if (c->is_open()) ++s.open_connections;
        s.in_flight += c->in_flight();
        if (auto f = c->last_failure(); f && f->at >= s.last_error_at) {
            s.last_error = f->error;
            s.last_error_at = f->at;
        }
    }
    return s;
}

std::optional<connection_failure> router::last_failure() const {
    std::optional<connection_failure> latest;
    for (const auto& node : nodes_) {
        for (const auto& c : node->connections_) {
            auto f = c->last_failure();
            if (f && (!latest || f->at >= latest->at)) latest = std::move(f);
        }
    }
    return latest;
}

void router::shutdown() {
    {
        std::lock_guard lock(mutex_);
        shut_down_ = true;
        for (auto& node : nodes_) {
            if (node->probe_timer_) node->probe_timer_->cancel();
        }
    }
    for (auto& node : nodes_) {
        for (auto& c : node->connections_) c->shutdown();
    }
}

// ---------------------------------------------------------------------------------
// Dead servers and their probes

void router::on_server_dead(std::size_t index) {
    {
        std::lock_guard lock(mutex_);
        if (shut_down_) return;
        arm_probe(index);
    }
    notify(index);
}

void router::arm_probe(std::size_t index) {
    auto& node = *nodes_[index];
    if (!node.probe_timer_) node.probe_timer_ = std::make_unique<asio::steady_timer>(executor_);
    node.probe_timer_->expires_at(node.dead_until());
    node.probe_timer_->async_wait([owner = weak_from_this(), index](error_code ec) {
        if (ec) return;
        if (auto r = owner.lock()) r->start_probe(index);
    });
}

// One `version` on the server's first connection: it answers in both wire modes, and an
// answer is all that is asked. The connection may still be backing off from the failures
// that killed the server; the probe goes ahead regardless.
void router::start_probe(std::size_t index) {
    {
        std::lock_guard lock(mutex_);
        if (shut_down_ || !nodes_[index]->dead()) return;
        nodes_[index]->probing_ = true;
    }
    auto& c = nodes_[index]->connections_.front();
    c->clear_backoff();
    auto done = [owner = weak_from_this(), index](error_code ec, std::string) {
        if (auto r = owner.lock()) r->on_probe_done(index, !ec);
    };
    auto* op = make_operation<version_op>(
        completion<void(error_code, std::string)>(std::move(done), c->executor()), c->executor());
    c->submit(op, options_.connect_timeout + options_.op_timeout);
}

void router::on_probe_done(std::size_t index, bool answered) {
    auto& node = *nodes_[index];
    {
        std::lock_guard lock(mutex_);
        node.probing_ = false;
        if (shut_down_) return;
        if (!answered) {
            node.set_dead_until(clock::now() + options_.dead_timeout);
            arm_probe(index);
            return;
        }
        node.failures_.store(0, std::memory_order_relaxed);
        node.dead_.store(false, std::memory_order_release);
        live_generation_.fetch_add(1, std::memory_order_acq_rel);
    }
    notify(index);
}

void router::notify(std::size_t index) {
    if (!options_.on_server_state && !options_.logger) return;
    server_status s;
    {
        std::lock_guard lock(mutex_);
        s = status_of(*nodes_[index]);
    }
    if (options_.logger) {
        const bool back = s.health == server_status::state::alive;
        emit(options_.logger, s.address,
             {back ? log_kind::server_back : log_kind::server_dead,
              back ? error_code{} : s.last_error});
    }
    if (options_.on_server_state) options_.on_server_state(s);
}

}  // namespace memcoro::detail
