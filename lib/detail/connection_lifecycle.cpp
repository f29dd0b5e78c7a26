// The connection's stream over time: connecting and probing, deadlines and health
// checks, closing and backing off.
#include <algorithm>
#include <boost/asio/connect.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <memcoro/error.hpp>
#include <memcoro/tls.hpp>
#include <string>
#include <string_view>

#include "connection.hpp"

namespace memcoro::detail {
namespace asio = boost::asio;
using generic_endpoint = asio::generic::stream_protocol::endpoint;

namespace {

// The stream broke the protocol's rules (error.hpp groups them).
bool is_protocol_violation(error_code ec) noexcept {
    return ec == error::protocol_error || ec == error::line_too_long ||
           ec == error::reply_too_large || ec == error::reply_mismatch;
}

// The logger's words for what a ready stream speaks.
std::string_view protocol_phrase(wire_mode mode, bool twemproxy, bool tls) noexcept {
    if (mode == wire_mode::meta) return tls ? "meta protocol over TLS" : "meta protocol";
    if (twemproxy) {
        return tls ? "text protocol over TLS, twemproxy's commands only"
                   : "text protocol, twemproxy's commands only";
    }
    return tls ? "text protocol over TLS" : "text protocol";
}

}  // namespace

// ---------------------------------------------------------------------------------
// Connecting

void connection::start_connect() {
    state_ = state::connecting;
    if (text_after_probe_closed_) mode_ = wire_mode::text;
    // The stream may reach another server than the last one did (restarted, upgraded).
    server_version_ = 0;
    connect_deadline_ = clock::now() + options_.connect_timeout;
    arm_timer(connect_deadline_);

    if (address_.is_unix) {
        connect_to({generic_endpoint(asio::local::stream_protocol::endpoint(address_.path))});
        return;
    }
    error_code ec;
    const auto ip = asio::ip::make_address(address_.host, ec);
    if (!ec) {
        connect_to({generic_endpoint(asio::ip::tcp::endpoint(ip, address_.port))});
        return;
    }
    resolver_.async_resolve(
        address_.host, std::to_string(address_.port),
        [self = shared_from_this(), epoch = epoch_](
            error_code ec, const asio::ip::tcp::resolver::results_type& results) {
            lock_type lock(*self);
            if (epoch != self->epoch_) return;
            if (ec) {
                self->fail_connect(ec);  // host_not_found, ...
                self->settle(lock);
                return;
            }
            std::vector<generic_endpoint> endpoints;
            for (const auto& entry : results) endpoints.emplace_back(entry.endpoint());
            self->connect_to(std::move(endpoints));
        });
}

void connection::connect_to(std::vector<generic_endpoint> endpoints) {
    auto list = std::make_shared<std::vector<generic_endpoint>>(std::move(endpoints));
    asio::async_connect(
        socket_, *list,
        [self = shared_from_this(), epoch = epoch_, list](error_code ec, const generic_endpoint&) {
            self->on_connected(ec, epoch);
        });
}

void connection::on_connected(error_code ec, std::uint64_t epoch) {
    lock_type lock(*this);
    if (epoch != epoch_) return;
    if (ec) {
        fail_connect(ec);  // connection_refused, no such file or directory, ...
        settle(lock);
        return;
    }
    if (!address_.is_unix) {
        socket_.set_option(asio::ip::tcp::no_delay(options_.tcp_nodelay), ec);
        socket_.set_option(asio::socket_base::keep_alive(options_.keepalive), ec);
    }
    // Reads done outside the event loop (read_bodies_now) must never block.
    socket_.non_blocking(true, ec);
    if (tls_setup_) {
        start_handshake();  // begin_session() once it is done
    } else {
        begin_session();
    }
    settle(lock);
}

void connection::begin_session() {
    last_read_ = last_activity_ = clock::now();
    parser_.reset();
    rbuf_.clear();
    if (needs_probe()) {
        start_probe();
    } else {
        become_ready();
    }
    start_read();
}

// A connect that failed or timed out: operations waiting for it fail now with its cause,
// and the next attempt waits out a backoff that doubles up to its maximum.
void connection::fail_connect(error_code ec) {
    note_failure(ec);
    if (options_.metrics) metrics_.connect_failures.add();
    log({log_kind::connect_failed, ec});
    // Whatever hung up on an earlier probe is gone (a proxy accepts connections itself,
    // even with its backends down): what answers next is probed afresh. A memcached that
    // died during the probe is not taken for twemproxy for good.
    if (options_.protocol == wire_protocol::automatic) text_after_probe_closed_ = false;
    drop_stream(ec);
    start_backoff();
    fail_queued(ec);
}

bool connection::needs_probe() const noexcept {
    if (!credentials_.empty()) return true;
    switch (options_.protocol) {
        case wire_protocol::automatic:
            return !text_after_probe_closed_;
        case wire_protocol::meta:
            return true;
        case wire_protocol::text:
        case wire_protocol::twemproxy:
            break;
    }
    return false;
}

// The probe learns what the server is before any request goes out, because how those
// are encoded, and which meta flags they may carry, depend on the answer:
// - `version` gives the server's version (operations read it through
//   encode_context::server_version, to refuse a flag the server lacks);
// - in automatic mode, `mn` follows in the same write: MN on a server that speaks meta,
//   ERROR on one that does not (protocol.md 3.7). A peer that hangs up instead is taken
//   for twemproxy (on_read).
// In wire_protocol::meta mode the version alone is asked: one round trip per connect;
// in text and twemproxy modes nothing is.
// With credentials, the authentication `set` goes first, in the same write: memcached
// answers every other command CLIENT_ERROR until it has succeeded (protocol.md 4), and
// the operations queued meanwhile are written only once it has.
void connection::start_probe() {
    state_ = state::probing;
    encoder_.clear();
    if (!credentials_.empty()) {
        // The key is ignored; the data is "<user> <password>".
        (void)encoder_.store(protocol::store_command::set, "auth", credentials_, 0, 0, false);
        push_expected({nullptr, protocol::reply_shape::stored, 0, 0});
    }
    const bool asks_version =
        options_.protocol == wire_protocol::automatic || options_.protocol == wire_protocol::meta;
    if (asks_version) {
        (void)encoder_.version();
        push_expected({nullptr, protocol::reply_shape::version, 0, 0});
    }
    if (options_.protocol == wire_protocol::automatic) {
        (void)encoder_.meta(protocol::meta_command::noop, {}, {});
        push_expected({nullptr, protocol::reply_shape::meta, 0, 0});
    }
    parser_.expect(expected_.front().shape);
    write_encoded(/*finish_inline=*/true);  // from an I/O handler
}

error_code connection::on_probe_reply(const protocol::event& ev, protocol::reply_shape shape) {
    using protocol::event_kind;
    // A server that wants a login this client has not got answers everything so.
    if (ev.kind == event_kind::error && ev.which == protocol::error_line::client_error &&
        ev.text == "unauthenticated") {
        return error::auth_failed;
    }
    if (shape == protocol::reply_shape::stored) {
        if (ev.kind == event_kind::status && ev.word == protocol::status::stored) {
            if (expected_.size() == 1) become_ready();  // no probe follows (text mode)
            return {};
        }
        // CLIENT_ERROR authentication failure, or bad authentication token format.
        if (ev.kind == event_kind::error) return error::auth_failed;
        return error::protocol_error;
    }
    if (shape == protocol::reply_shape::version) {
        if (ev.kind == event_kind::version) {
            server_version_ = protocol::parse_server_version(ev.text);
        } else if (ev.kind != event_kind::error) {  // an error: the version stays unknown
            return error::protocol_error;
        }
        if (options_.protocol == wire_protocol::automatic) return {};  // mn's answer is next
    } else {
        if (ev.kind == event_kind::meta && ev.code == protocol::meta_code::mn) {
            mode_ = wire_mode::meta;
        } else if (ev.kind == event_kind::error) {
            mode_ = wire_mode::text;
        } else {
            return error::protocol_error;
        }
        // Before 1.6.10 the meta commands answer other codes (OK for HD, protocol.md
        // 3.2): such a server gets the text protocol even though it answers mn.
        constexpr std::uint32_t current_meta_codes = 10610;
        if (server_version_ != 0 && server_version_ < current_meta_codes) mode_ = wire_mode::text;
    }
    become_ready();
    return {};
}

void connection::become_ready() {
    state_ = state::ready;
    if (options_.metrics) metrics_.connects.add();
    // Only a connect that went all the way resets the backoff: one refused by TLS or
    // by the login after the TCP connect must keep doubling it.
    backoff_ = options_.reconnect_backoff;
    connect_deadline_ = clock::time_point::max();
    log({log_kind::connected, {}, {}, protocol_phrase(mode_, text_after_probe_closed_, secured())});
    if (options_.health_check_interval.count() > 0) {
        arm_timer(last_activity_ + options_.health_check_interval);
    }
}

// ---------------------------------------------------------------------------------
// Timeouts, health checks, closing

void connection::arm_timer(clock::time_point at) {
    if (at == clock::time_point::max() || at >= timer_expiry_) return;
    timer_expiry_ = at;
    timer_.expires_at(at);
    timer_.async_wait([self = shared_from_this(), generation = ++timer_generation_](error_code ec) {
        self->on_timer(ec, generation);
    });
}

void connection::on_timer(error_code ec, std::uint64_t generation) {
    lock_type lock(*this);
    if (generation != timer_generation_) return;  // re-armed or shut down since
    (void)ec;
    timer_expiry_ = clock::time_point::max();
    entry_time_ = clock::now();
    expire(entry_time_);
    settle(lock);
}

// Timeouts are cancellations that the clock sends: an operation past its deadline is
// cancelled with error::timeout exactly as a user's cancellation would. If one that
// was written has heard nothing since, the server has stopped answering and the
// connection is closed, failing the others too.
void connection::expire(clock::time_point now) {
    auto next = clock::time_point::max();

    if (state_ == state::connecting || state_ == state::securing || state_ == state::probing) {
        if (now >= connect_deadline_) {
            // The operations waiting for it fail as for any connect that did not
            // succeed: their own time may not be up, but there is no connection.
            fail_connect(state_ == state::securing ? make_error_code(tls_error::handshake_timeout)
                                                   : make_error_code(error::connect_timeout));
        } else {
            next = std::min(next, connect_deadline_);
        }
    }

    for (auto* op = queue_head_; op != nullptr;) {
        auto* following = op->next_;
        if (op->deadline_ <= now) {
            unlink(op);
            complete(op, error::timeout);
        } else {
            next = std::min(next, op->deadline_);
        }
        op = following;
    }
    for (auto* op : in_write_) {
        if (op->deadline_ <= now) {
            if (!op->cancel_error_) op->cancel_error_ = error::timeout;
        } else {
            next = std::min(next, op->deadline_);
        }
    }
    bool unresponsive = now >= health_deadline_;
    if (unresponsive) log({log_kind::health_check_failed, error::unresponsive});
    bool timed_out_unanswered = false;
    for (std::size_t i = 0; i < expected_.size(); ++i) {
        auto* op = expected_[i].op;
        if (op == nullptr || op->phase_ != operation::phase::written) continue;
        if (op->deadline_ <= now) {
            if (last_read_ <= op->written_at_) unresponsive = true;
            timed_out_unanswered = true;
            complete(op, error::timeout);
        } else {
            next = std::min(next, op->deadline_);
        }
    }
    // One failure per pass, however many requests it timed out: they share one cause.
    if (unresponsive) {
        close(error::unresponsive);  // counts the failure
    } else if (timed_out_unanswered) {
        note_failure(error::timeout);
    }
    next = std::min(next, health_deadline_);

    const bool idle = queue_head_ == nullptr && expected_.empty() && !writing_;
    if (state_ == state::ready && idle && options_.health_check_interval.count() > 0) {
        const auto due = last_activity_ + options_.health_check_interval;
        if (due <= now) {
            health_check_due_ = true;
            last_activity_ = now;
        } else {
            next = std::min(next, due);
        }
    }
    arm_timer(next);
}

// Ends the current stream. Operations waiting for replies fail with `ec`; those in the
// write under way fail when it completes; those still queued stay queued, to go out on
// the next connection.
void connection::close(error_code ec) {
    if (state_ == state::disconnected || state_ == state::shut_down) return;
    // The server hanging up after quit or shutdown is that command's answer.
    const bool asked_for =
        !expected_.empty() && expected_.front().shape == protocol::reply_shape::closes;
    if (ec != error::shut_down && !asked_for) {
        note_failure(ec);
        log({is_protocol_violation(ec) ? log_kind::protocol_violation : log_kind::disconnected,
             ec});
    }
    drop_stream(ec);
    // A server that stopped answering usually accepts connections still (the kernel
    // does that for it): wait before trying it again.
    if (ec == error::unresponsive) start_backoff();
}

// Forgets the socket and everything tied to it (a connection in progress, a probe).
void connection::drop_stream(error_code ec) {
    ++epoch_;
    error_code ignored;
    socket_.close(ignored);
    close_tls();
    resolver_.cancel();
    reading_ = false;
    state_ = state::disconnected;
    connect_deadline_ = clock::time_point::max();
    health_deadline_ = clock::time_point::max();
    health_check_due_ = false;
    unfenced_ = false;
    parser_.reset();
    rbuf_.clear();

    for (std::size_t i = 0; i < expected_.size(); ++i) {
        auto* op = expected_[i].op;
        if (op == nullptr) continue;
        --op->replies_due_;
        if (op->phase_ == operation::phase::written) complete(op, ec);
        unref(op);
    }
    expected_.clear();
    for (auto* op : in_write_) {
        if (!op->cancel_error_) op->cancel_error_ = ec;
    }
}

void connection::start_backoff() {
    backoff_until_ = clock::now() + backoff_;
    log({log_kind::backoff, {}, backoff_});
    backoff_ = std::min(backoff_ * 2, options_.reconnect_backoff_max);
}

}  // namespace memcoro::detail
