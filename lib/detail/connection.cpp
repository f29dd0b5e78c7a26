#include "connection.hpp"

#include <memcoro/error.hpp>

#include <boost/asio/connect.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>

#include <algorithm>
#include <charconv>
#include <cstring>
#include <string>
#include <utility>

namespace memcoro::detail {
namespace asio = boost::asio;
using generic_endpoint = asio::generic::stream_protocol::endpoint;

namespace {

// Bodies at least this long that are not yet in the read buffer are read straight
// into the operation's own storage, skipping the copy out of the read buffer.
constexpr std::size_t direct_read_threshold = 16 * 1024;

// One write carries at most about this much, so a flood of large values cannot hold
// back the replies to the requests before them for long.
constexpr std::size_t max_write_bytes = 4 * 1024 * 1024;

protocol::encoder_options encoder_options_from(const client_options& o) {
    protocol::encoder_options e;
    e.key_prefix = o.key_prefix;
    e.keys.allow_high_bytes = o.allow_high_bytes_in_keys;
    e.max_value = o.max_value_size;
    return e;
}

protocol::parser_limits parser_limits_from(const client_options& o) {
    protocol::parser_limits l;
    l.max_value = o.max_value_size;
    return l;
}

}  // namespace

connection::connection(asio::any_io_executor ex, const client_options& options,
                       server_address address)
    : executor_(ex),
      options_(options),
      address_(std::move(address)),
      socket_(ex),
      resolver_(ex),
      timer_(ex),
      encoder_(encoder_options_from(options)),
      parser_(parser_limits_from(options)),
      backoff_(options.reconnect_backoff) {
    rbuf_capacity_ = std::max<std::size_t>(options.read_buffer_size, 8 * 1024);
    rbuf_ = std::make_unique_for_overwrite<char[]>(rbuf_capacity_);
    mode_ = options.protocol == wire_protocol::text ? wire_mode::text : wire_mode::meta;
    probed_ = options.protocol != wire_protocol::automatic;
}

connection::~connection() {
    // Only reached once no handler holds the connection: the executor's context was
    // destroyed, or shutdown() ran and every handler has finished. Operations still
    // here never completed (their context went away); free each of them once.
    std::vector<operation*> left;
    for (auto* op = queue_head_; op != nullptr; op = op->next_) left.push_back(op);
    for (auto* op : in_write_) left.push_back(op);
    for (std::size_t i = 0; i < expected_.size(); ++i) {
        if (expected_[i].op != nullptr) left.push_back(expected_[i].op);
    }
    for (const auto& [op, ec] : completions_) left.push_back(op);
    std::sort(left.begin(), left.end());
    left.erase(std::unique(left.begin(), left.end()), left.end());
    for (auto* op : left) op->destroy();
}

// ---------------------------------------------------------------------------------
// Submitting and cancelling

void connection::submit(operation* op) {
    lock_type lock(mutex_);
    op->refs_ = 1;  // released once its handler has run
    const auto now = clock::now();
    last_activity_ = now;
    if (state_ == state::shut_down) {
        complete(op, error::shut_down);
    } else if (state_ == state::disconnected && in_backoff(now)) {
        complete(op, error::not_connected);
    } else {
        enqueue(op);
        arm_timer(op->deadline_);
    }
    settle(lock, true);
}

void connection::cancel(std::uint64_t id, error_code ec) {
    lock_type lock(mutex_);
    for (auto* op = queue_head_; op != nullptr; op = op->next_) {
        if (op->id_ == id) {
            unlink(op);
            complete(op, ec);
            settle(lock, true);
            return;
        }
    }
    for (auto* op : in_write_) {
        // Its bytes may already be in the socket, and a value it references must stay
        // valid until the write completes: complete it then.
        if (op->id_ == id && !op->cancel_error_) op->cancel_error_ = ec;
    }
    for (std::size_t i = 0; i < expected_.size(); ++i) {
        auto* op = expected_[i].op;
        // Its reply will still come; it is read and dropped.
        if (op != nullptr && op->id_ == id && op->phase_ == operation::phase::written) {
            complete(op, ec);
        }
    }
    settle(lock, true);
}

void connection::shutdown() {
    lock_type lock(mutex_);
    if (state_ == state::shut_down) return;
    close(error::shut_down);
    state_ = state::shut_down;
    fail_queued(error::shut_down);
    timer_.cancel();
    ++timer_generation_;
    settle(lock, true);
}

void connection::enqueue(operation* op) noexcept {
    op->next_ = nullptr;
    op->phase_ = operation::phase::queued;
    if (queue_tail_ != nullptr) {
        queue_tail_->next_ = op;
    } else {
        queue_head_ = op;
    }
    queue_tail_ = op;
}

operation* connection::dequeue() noexcept {
    auto* op = queue_head_;
    if (op != nullptr) {
        queue_head_ = op->next_;
        if (queue_head_ == nullptr) queue_tail_ = nullptr;
        op->next_ = nullptr;
    }
    return op;
}

bool connection::unlink(operation* op) noexcept {
    operation* prev = nullptr;
    for (auto* cur = queue_head_; cur != nullptr; prev = cur, cur = cur->next_) {
        if (cur != op) continue;
        (prev != nullptr ? prev->next_ : queue_head_) = cur->next_;
        if (queue_tail_ == cur) queue_tail_ = prev;
        cur->next_ = nullptr;
        return true;
    }
    return false;
}

void connection::fail_queued(error_code ec) {
    while (auto* op = dequeue()) complete(op, ec);
}

void connection::complete(operation* op, error_code ec) {
    if (op->phase_ == operation::phase::finished) return;
    if (op == body_reader_) {
        // Its storage (perhaps the caller's own buffer) is being read into: the caller
        // must not get it back before that read has ended.
        if (!op->cancel_error_) op->cancel_error_ = ec ? ec : make_error_code(error::protocol_error);
        return;
    }
    op->phase_ = operation::phase::finished;
    completions_.emplace_back(op, ec);
}

void connection::unref(operation* op) noexcept {
    if (--op->refs_ == 0) op->destroy();
}

namespace {
// The connection whose completions this thread is running, if any: requests that those
// handlers start then wait for the settle() below them, which writes them all at once.
thread_local const connection* flushing_here = nullptr;
}  // namespace

void connection::settle(lock_type& lock, bool from_user) {
    if (flushing_here == this) return;  // the settle() further down this stack goes on
    for (;;) {
        if (state_ == state::disconnected && queue_head_ != nullptr) {
            if (in_backoff(clock::now())) {
                fail_queued(error::not_connected);
            } else {
                start_connect();
            }
        }
        if (state_ == state::ready) start_write();
        if (completions_.empty()) return;

        // Take the batch, and run it without the lock: handlers may start operations on
        // this connection, from this thread or another.
        std::vector<std::pair<operation*, error_code>> batch;
        batch.swap(completions_);
        completions_.swap(spare_);
        const connection* outer = std::exchange(flushing_here, this);
        lock.unlock();
        std::size_t i = 0;
        try {
            for (; i < batch.size(); ++i) batch[i].first->complete(batch[i].second, from_user);
        } catch (...) {
            // A handler that runs inline threw; the exception leaves through the
            // executor's run(), as Asio does for any handler. Keep the state whole so that
            // the connection goes on working if the application catches it.
            lock.lock();
            flushing_here = outer;
            unref(batch[i].first);
            completions_.insert(completions_.begin(),
                                batch.begin() + static_cast<std::ptrdiff_t>(i + 1), batch.end());
            throw;
        }
        lock.lock();
        flushing_here = outer;
        for (const auto& [op, ec] : batch) unref(op);
        batch.clear();
        if (spare_.capacity() < batch.capacity()) spare_.swap(batch);
    }
}

bool connection::in_backoff(clock::time_point now) const noexcept { return now < backoff_until_; }

// ---------------------------------------------------------------------------------
// Connecting

void connection::start_connect() {
    state_ = state::connecting;
    probed_ = options_.protocol != wire_protocol::automatic || text_after_probe_closed_;
    if (text_after_probe_closed_) mode_ = wire_mode::text;
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
            lock_type lock(self->mutex_);
            if (epoch != self->epoch_) return;
            if (ec) {
                self->fail_connect(error::not_connected);
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
    asio::async_connect(socket_, *list,
                        [self = shared_from_this(), epoch = epoch_, list](
                            error_code ec, const generic_endpoint&) {
                            self->on_connected(ec, epoch);
                        });
}

void connection::on_connected(error_code ec, std::uint64_t epoch) {
    lock_type lock(mutex_);
    if (epoch != epoch_) return;
    if (ec) {
        fail_connect(error::not_connected);
        settle(lock);
        return;
    }
    if (!address_.is_unix) {
        socket_.set_option(asio::ip::tcp::no_delay(options_.tcp_nodelay), ec);
        socket_.set_option(asio::socket_base::keep_alive(options_.keepalive), ec);
    }
    ++counters_.connects;
    backoff_ = options_.reconnect_backoff;
    last_read_ = last_activity_ = clock::now();
    parser_.reset();
    rbegin_ = rend_ = 0;
    if (probed_) {
        become_ready();
    } else {
        start_probe();
    }
    start_read();
    settle(lock);
}

// A connect that failed or timed out: operations waiting for it fail now, and the next
// attempt waits out a backoff that doubles up to its maximum.
void connection::fail_connect(error_code ec) {
    drop_stream(ec);
    start_backoff();
    fail_queued(ec);
}

// `mn` answers MN on a server that speaks meta and ERROR on one that does not
// (protocol.md 3.7). The probe goes out alone, before any request, because how those
// are encoded depends on the answer.
void connection::start_probe() {
    state_ = state::probing;
    encoder_.clear();
    (void)encoder_.meta(protocol::meta_command::noop, {}, {});
    expected_.push_back({nullptr, protocol::reply_shape::meta, 0, 0});
    parser_.expect(protocol::reply_shape::meta);
    write_encoded();
}

void connection::become_ready() {
    state_ = state::ready;
    connect_deadline_ = clock::time_point::max();
    if (options_.health_check_interval.count() > 0) {
        arm_timer(last_activity_ + options_.health_check_interval);
    }
}

// ---------------------------------------------------------------------------------
// Writing

void connection::expect_reply(protocol::reply_shape shape, std::uint32_t part) {
    const bool was_idle = expected_.empty();
    std::uint32_t opaque = 0;
    if (mode_ == wire_mode::meta) {
        opaque = next_opaque_;
        // Opaque tokens stay short (at most 9 digits); they only need to differ
        // between the requests in flight at once.
        next_opaque_ = next_opaque_ == 999'999'999 ? 1 : next_opaque_ + 1;
    }
    expected_.push_back({encoding_, shape, part, opaque});
    if (encoding_ != nullptr) {
        ++encoding_->replies_due_;
        ++encoding_->refs_;
    }
    if (was_idle) parser_.expect(shape);
}

// Internal requests: the fence after noreply requests (meta mode) and the health
// check. A noreply request that the server answers anyway (it never should: see
// protocol.md 2) would otherwise be taken for the reply of the next request; with a
// fence in between it arrives where MN is expected, and the connection is closed
// instead of handing anyone a wrong answer.
void connection::encode_internal() {
    encoding_ = nullptr;
    if (mode_ == wire_mode::meta) {
        (void)encoder_.meta(protocol::meta_command::noop, {}, {});
        expect_reply(protocol::reply_shape::meta, 0);
    } else {
        (void)encoder_.version();
        expect_reply(protocol::reply_shape::version, 0);
    }
    unfenced_ = false;
}

void connection::start_write() {
    if (writing_ || state_ != state::ready) return;
    if (queue_head_ == nullptr && !health_check_due_) return;

    encoder_.clear();
    in_write_.clear();
    const auto now = clock::now();
    if (health_check_due_) {
        health_check_due_ = false;
        encode_internal();
        const auto limit =
            options_.op_timeout.count() > 0 ? options_.op_timeout : options_.connect_timeout;
        health_deadline_ = now + limit;
        arm_timer(health_deadline_);
    }
    while (queue_head_ != nullptr && encoder_.size() < max_write_bytes) {
        auto* op = dequeue();
        if (!op->no_reply_ && unfenced_ && mode_ == wire_mode::meta) encode_internal();
        op->phase_ = operation::phase::writing;
        op->written_at_ = now;
        encoding_ = op;
        const error_code ec = op->encode(*this);
        encoding_ = nullptr;
        if (ec) {
            complete(op, ec);
            continue;
        }
        if (op->no_reply_) no_reply();
        ++op->refs_;  // held until on_write: a referenced value must outlive the write
        in_write_.push_back(op);
    }
    if (!encoder_.empty()) write_encoded();
}

// One gather write of everything encoded.
void connection::write_encoded() {
    write_buffers_.clear();
    for (const auto& c : encoder_.chunks()) write_buffers_.emplace_back(c.data, c.size);
    writing_ = true;
    ++counters_.writes;
    asio::async_write(socket_, write_buffers_,
                      [self = shared_from_this(), epoch = epoch_](error_code ec, std::size_t) {
                          self->on_write(ec, epoch);
                      });
}

void connection::on_write(error_code ec, std::uint64_t epoch) {
    lock_type lock(mutex_);
    if (ec && epoch == epoch_) close(error::connection_closed);
    // Still `writing_` while handlers may start operations: they queue for the next write.
    for (std::size_t i = 0; i < in_write_.size(); ++i) {
        auto* op = in_write_[i];
        if (op->cancel_error_) {
            complete(op, op->cancel_error_);
        } else if (op->phase_ == operation::phase::writing) {
            op->phase_ = operation::phase::written;
            // noreply completes once written; so does an operation whose replies all
            // came before this handler ran.
            if (op->no_reply_ || op->replies_due_ == 0) complete(op, op->error_);
        }
        unref(op);
    }
    in_write_.clear();
    writing_ = false;
    settle(lock);
}

// ---------------------------------------------------------------------------------
// Reading

void connection::start_read() {
    if (reading_ || (state_ != state::probing && state_ != state::ready)) return;

    const std::size_t remaining = parser_.body_remaining();
    if (remaining >= direct_read_threshold && rbegin_ == rend_ && !expected_.empty()) {
        auto* op = expected_.front().op;
        const auto target = op != nullptr ? op->body_target(remaining) : std::span<char>{};
        if (!target.empty()) {
            reading_ = true;
            body_reader_ = op;
            ++op->refs_;  // its storage is being written to
            asio::async_read(
                socket_, asio::buffer(target.data(), std::min(target.size(), remaining)),
                [self = shared_from_this(), epoch = epoch_](error_code ec, std::size_t n) {
                    self->on_body_read(ec, n, epoch);
                });
            return;
        }
    }

    if (rbegin_ == rend_) {
        rbegin_ = rend_ = 0;
    } else if (rbuf_capacity_ - rend_ < rbuf_capacity_ / 4) {
        // The parser's offsets are relative to the unconsumed bytes, so moving them
        // to the front is invisible to it.
        std::memmove(rbuf_.get(), rbuf_.get() + rbegin_, rend_ - rbegin_);
        rend_ -= rbegin_;
        rbegin_ = 0;
    }
    reading_ = true;
    socket_.async_read_some(
        asio::buffer(rbuf_.get() + rend_, rbuf_capacity_ - rend_),
        [self = shared_from_this(), epoch = epoch_](error_code ec, std::size_t n) {
            self->on_read(ec, n, epoch);
        });
}

void connection::on_read(error_code ec, std::size_t n, std::uint64_t epoch) {
    lock_type lock(mutex_);
    if (epoch != epoch_) return;
    reading_ = false;
    if (ec) {
        // A server that hangs up on `mn` (some proxies do) speaks text only.
        if (state_ == state::probing) text_after_probe_closed_ = true;
        close(error::connection_closed);
        settle(lock);
        return;
    }
    ++counters_.reads;
    rend_ += n;
    last_read_ = last_activity_ = clock::now();
    process_input();
    settle(lock);
    start_read();
}

void connection::on_body_read(error_code ec, std::size_t n, std::uint64_t epoch) {
    lock_type lock(mutex_);
    auto* op = body_reader_;
    body_reader_ = nullptr;
    if (op->cancel_error_) complete(op, op->cancel_error_);
    if (epoch == epoch_) {
        reading_ = false;
        if (ec) {
            close(error::connection_closed);
        } else {
            ++counters_.reads;
            op->body_filled(n);
            parser_.skip_body(n);
            last_read_ = last_activity_ = clock::now();
            process_input();
        }
    }
    unref(op);
    settle(lock);
    if (epoch == epoch_) start_read();
}

void connection::process_input() {
    while (state_ == state::probing || state_ == state::ready) {
        const std::string_view input(rbuf_.get() + rbegin_, rend_ - rbegin_);
        if (expected_.empty()) {
            // Bytes nobody asked for: the stream is not what we think it is.
            if (!input.empty()) close(error::protocol_error);
            return;
        }
        const auto r = parser_.parse(input);
        rbegin_ += r.consumed;
        if (r.ev.kind == protocol::event_kind::need_more) {
            if (r.consumed == 0) return;
            continue;
        }
        if (r.ev.kind == protocol::event_kind::failed) {
            close(static_cast<error>(r.ev.failure));
            return;
        }
        if (const error_code ec = deliver(r.ev)) {
            close(ec);
            return;
        }
        if (r.ev.complete) finish_reply();
    }
}

error_code connection::deliver(const protocol::event& ev) {
    const expected_reply& head = expected_.front();
    if (head.op == nullptr) return deliver_internal(ev);

    if (ev.kind == protocol::event_kind::meta && ev.code != protocol::meta_code::me) {
        // Every meta request carries its own opaque; a reply with another one (or none)
        // is someone else's.
        const auto token = protocol::find_meta_flag(ev.text, 'O');
        std::uint32_t opaque = 0;
        if (!token || std::from_chars(token->data(), token->data() + token->size(), opaque).ec !=
                          std::errc{} ||
            opaque != head.opaque) {
            return error::reply_mismatch;
        }
    }
    if (!head.op->on_event(ev, head.part)) return error::reply_mismatch;
    if (ev.kind == protocol::event_kind::error && !ev.in_sync) {
        // The operation keeps the server's error; the others cannot be trusted past it.
        finish_reply();
        return error::connection_closed;
    }
    return {};
}

error_code connection::deliver_internal(const protocol::event& ev) {
    if (state_ == state::probing) {
        if (ev.kind == protocol::event_kind::meta && ev.code == protocol::meta_code::mn) {
            mode_ = wire_mode::meta;
        } else if (ev.kind == protocol::event_kind::error) {
            mode_ = wire_mode::text;
        } else {
            return error::protocol_error;
        }
        probed_ = true;
        become_ready();
        return {};
    }
    const bool answered = (ev.kind == protocol::event_kind::meta &&
                           ev.code == protocol::meta_code::mn) ||
                          ev.kind == protocol::event_kind::version;
    if (!answered) return error::protocol_error;
    health_deadline_ = clock::time_point::max();
    return {};
}

void connection::finish_reply() {
    const expected_reply done = expected_.front();
    expected_.pop_front();
    parser_.expect(expected_.empty() ? protocol::reply_shape::none : expected_.front().shape);
    if (auto* op = done.op) {
        if (--op->replies_due_ == 0 && op->phase_ == operation::phase::written) {
            complete(op, op->error_);
        }
        unref(op);
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
    lock_type lock(mutex_);
    if (generation != timer_generation_) return;  // re-armed or shut down since
    (void)ec;
    timer_expiry_ = clock::time_point::max();
    expire(clock::now());
    settle(lock);
}

// Timeouts are cancellations that the clock sends: an operation past its deadline is
// cancelled with error::timeout exactly as a user's cancellation would. If one that
// was written has heard nothing since, the server has stopped answering and the
// connection is closed, failing the others too.
void connection::expire(clock::time_point now) {
    auto next = clock::time_point::max();

    if (state_ == state::connecting || state_ == state::probing) {
        if (now >= connect_deadline_) {
            // The operations waiting for it fail as for any connect that did not
            // succeed: their own time may not be up, but there is no connection.
            fail_connect(error::not_connected);
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
    for (std::size_t i = 0; i < expected_.size(); ++i) {
        auto* op = expected_[i].op;
        if (op == nullptr || op->phase_ != operation::phase::written) continue;
        if (op->deadline_ <= now) {
            if (last_read_ <= op->written_at_) unresponsive = true;
            complete(op, error::timeout);
        } else {
            next = std::min(next, op->deadline_);
        }
    }
    if (unresponsive) close(error::unresponsive);
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
    resolver_.cancel();
    reading_ = false;
    state_ = state::disconnected;
    connect_deadline_ = clock::time_point::max();
    health_deadline_ = clock::time_point::max();
    health_check_due_ = false;
    unfenced_ = false;
    parser_.reset();
    rbegin_ = rend_ = 0;

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
    backoff_ = std::min(backoff_ * 2, options_.reconnect_backoff_max);
}

}  // namespace memcoro::detail
