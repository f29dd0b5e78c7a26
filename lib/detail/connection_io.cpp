// The connection's stream in use: gather writes out, replies in and to their requests.
#include <algorithm>
#include <array>
#include <boost/asio/write.hpp>
#include <memcoro/error.hpp>
#include <memcoro/tls.hpp>
#include <span>

#include "connection.hpp"

namespace memcoro::detail {
namespace asio = boost::asio;

namespace {

// The most a read takes into the read buffer while the only reply due is a single
// value (see start_read): enough for the header and body of a typical value.
constexpr std::size_t first_read_limit = 16 * 1024;

// At most this many reads follow a full one before the event loop gets its turn.
constexpr int max_reads_now = 8;

// One write carries at most about this much, so a flood of large values cannot hold
// back the replies to the requests before them for long.
constexpr std::size_t max_write_bytes = 4 * 1024 * 1024;

}  // namespace

// ---------------------------------------------------------------------------------
// Writing

void connection::push_expected(const expected_reply& reply) {
    if (expected_.full())
        expected_.set_capacity(std::max<std::size_t>(64, expected_.capacity() * 2));
    expected_.push_back(reply);
}

void connection::register_reply(protocol::reply_shape shape, std::uint32_t part, bool quiet) {
    const bool was_idle = expected_.empty();
    std::uint32_t opaque = 0;
    if (mode_ == wire_mode::meta) {
        opaque = next_opaque_;
        // Opaque tokens stay short (at most 9 digits); they only need to differ
        // between the requests in flight at once.
        next_opaque_ = next_opaque_ == 999'999'999 ? 1 : next_opaque_ + 1;
    }
    push_expected({encoding_, shape, part, opaque, quiet});
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

void connection::start_write(bool finish_inline) {
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
        // A noreply operation that registered its replies all the same (a meta request
        // standing in for a text noreply, which completes when written) needs no fence:
        // its replies are read and dropped.
        if (op->no_reply_ && op->replies_due_ == 0) no_reply();
        ++op->refs_;  // held until on_write: a referenced value must outlive the write
        in_write_.push_back(op);
    }
    if (!encoder_.empty()) write_encoded(finish_inline);
}

// One gather write of everything encoded. (Over TLS, one write through the session:
// tls_write.) With `finish_inline` it is first tried right
// here on the non-blocking socket: the kernel almost always takes it whole, and then the
// write is over without a completion posted through the event loop (which cost a handler
// and an epoll_wait of its own per write). What the socket has no room for goes out with
// async_write. Without it (a write started inside a user's call) the write always
// completes through the event loop: until then, operations that other handlers start
// queue up and share the next write, instead of going out one write each.
void connection::write_encoded(bool finish_inline) {
    writing_ = true;
    if (secured()) {
        tls_write();
        return;
    }
    write_buffers_.clear();
    for (const auto& c : encoder_.chunks()) write_buffers_.emplace_back(c.data, c.size);
    error_code ec;
    std::size_t written = finish_inline ? socket_.write_some(write_buffers_, ec) : 0;
    if (ec == asio::error::would_block || ec == asio::error::try_again) {
        ec = {};
        written = 0;
    }
    if (ec || written == encoder_.size()) {
        finish_write(ec);
        return;
    }
    drop_written(written);
    // A span, not the vector: async_write keeps a copy of the buffer sequence it is given,
    // and a vector's copy allocates.
    asio::async_write(socket_, std::span<const asio::const_buffer>(write_buffers_),
                      [self = shared_from_this(), epoch = epoch_](error_code ec, std::size_t) {
                          self->on_write(ec, epoch);
                      });
}

// Takes the first `n` bytes, already written, off write_buffers_.
void connection::drop_written(std::size_t n) {
    auto first = write_buffers_.begin();
    while (n > 0 && n >= first->size()) {
        n -= first->size();
        ++first;
    }
    if (n > 0) *first += n;
    write_buffers_.erase(write_buffers_.begin(), first);
}

void connection::on_write(error_code ec, std::uint64_t epoch) {
    lock_type lock(*this);
    // An error of a stream already replaced concerns nobody.
    finish_write(epoch == epoch_ ? ec : error_code{});
    settle(lock);
}

void connection::finish_write(error_code ec) {
    if (ec) close(error::connection_closed);
    if (!ec && options_.metrics) metrics_.bytes_written.add(encoder_.size());
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
}

// ---------------------------------------------------------------------------------
// Reading

void connection::start_read() {
    if (reading_ || (state_ != state::probing && state_ != state::ready)) return;

    std::array<asio::mutable_buffer, 2> buffers;
    if (auto* op = prepare_body_read(buffers)) {
        reading_ = true;
        body_reader_ = op;
        ++op->refs_;  // its storage is being written to
        initiate_read(buffers, /*body=*/true);
        return;
    }

    read_size_ = rbuf_.max_size() - rbuf_.size();
    if (rbuf_.size() == 0 && expected_.size() == 1 && expected_.front().op != nullptr &&
        expected_.front().op->expects_one_value()) {
        // The only reply due carries one value, perhaps a large one. Bytes read into the
        // buffer past its header are copied out again; bytes left in the socket go
        // straight into the value's storage on the next read. A small value still
        // comes whole in this read.
        read_size_ = std::min(read_size_, first_read_limit);
    }
    reading_ = true;
    initiate_read(rbuf_.prepare(read_size_), /*body=*/false);
}

template <typename Buffers>
void connection::initiate_read(const Buffers& buffers, bool body) {
    if (secured()) {
        // A TLS session reads into the first buffer only, whatever follows it.
        tls_read(*asio::buffer_sequence_begin(buffers), body);
        return;
    }
    socket_.async_read_some(
        buffers, [self = shared_from_this(), epoch = epoch_, body](error_code ec, std::size_t n) {
            if (body) {
                self->on_body_read(ec, n, epoch);
            } else {
                self->on_read(ec, n, epoch);
            }
        });
}

// When the rest of a value body can go straight into its operation's storage: the
// operation, with `buffers` set to read it. One read takes the rest of the body and,
// when the operation's storage holds all of that rest, whatever follows it (the body's
// CRLF, END, the next replies) into the read buffer, which must be empty: the body is
// not copied, and the few bytes after it need no read of their own.
operation* connection::prepare_body_read(std::array<asio::mutable_buffer, 2>& buffers) {
    const std::size_t remaining = parser_.body_remaining();
    if (remaining == 0 || rbuf_.size() != 0 || expected_.empty()) return nullptr;
    auto* op = expected_.front().op;
    const auto target = op != nullptr ? op->body_target(remaining) : std::span<char>{};
    if (target.empty()) return nullptr;
    body_read_size_ = std::min(target.size(), remaining);
    read_size_ = body_read_size_ + (body_read_size_ == remaining ? rbuf_.max_size() : 0);
    buffers = {asio::buffer(target.data(), body_read_size_),
               rbuf_.prepare(read_size_ - body_read_size_)};
    return op;
}

// `n` bytes of a read prepared by prepare_body_read arrived.
void connection::body_read(operation* op, std::size_t n) {
    const std::size_t body = std::min(n, body_read_size_);
    op->body_filled(body);
    parser_.skip_body(body);
    rbuf_.commit(n - body);
    last_read_ = last_activity_ = entry_time_ = clock::now();
    if (options_.metrics) metrics_.bytes_read.add(n);
    process_input();
}

// A read filled all the room it had, so more has probably arrived. When it is the
// rest of a body that goes straight into its operation's storage, it is read here
// rather than through the event loop, which would first poll for events once more
// (asio runs its reactor before a handler whose read completed at once). Stops at
// the first read that leaves room: the socket is then drained. A bounded number of
// reads, so that a stream of large values cannot keep the thread from other work.
void connection::read_bodies_now() {
    // A TLS session cannot be read from outside the event loop: a record half read on
    // a non-blocking socket would be lost.
    if (secured()) return;
    std::array<asio::mutable_buffer, 2> buffers;
    for (int reads = 0; reads < max_reads_now; ++reads) {
        if (state_ != state::probing && state_ != state::ready) return;
        auto* op = prepare_body_read(buffers);
        if (op == nullptr) return;
        error_code ec;
        const std::size_t n = socket_.receive(buffers, 0, ec);  // the socket is non-blocking
        if (ec == asio::error::would_block || ec == asio::error::try_again) return;
        if (ec) {
            close(error::connection_closed);
            return;
        }
        body_read(op, n);
        if (n < read_size_) return;
    }
}

void connection::on_read(error_code ec, std::size_t n, std::uint64_t epoch) {
    lock_type lock(*this);
    read_done(lock, ec, n, epoch);
}

void connection::read_done(lock_type& lock, error_code ec, std::size_t n, std::uint64_t epoch) {
    if (epoch != epoch_) return;
    reading_ = false;
    if (ec) {
        if (state_ == state::probing && secured()) {
            // Over TLS 1.3 a server that refuses this client's certificate says so
            // after the handshake: a connect that failed, not a stream that broke.
            const error_code refused = tls_refusal(ec);
            fail_connect(refused ? refused : make_error_code(error::connection_closed));
            settle(lock);
            return;
        }
        if (state_ == state::probing && ec == asio::error::connection_reset) {
            // memcached's TLS port resets a plain-text connection without a word (a
            // proxy that does not carry the probe closes it instead, below).
            fail_connect(tls_error::server_requires_tls);
            settle(lock);
            return;
        }
        if (state_ == state::probing && options_.protocol == wire_protocol::automatic) {
            // A server that hangs up on `mn` (some proxies do) speaks text only. (In
            // meta mode the probe is `version` alone, which any server answers.)
            text_after_probe_closed_ = true;
        }
        close(error::connection_closed);
        settle(lock);
        return;
    }
    rbuf_.commit(n);
    last_read_ = last_activity_ = entry_time_ = clock::now();
    if (options_.metrics) metrics_.bytes_read.add(n);
    if (observer_) observer_->on_reply();
    const bool filled = n == read_size_;
    process_input();
    if (filled) read_bodies_now();
    settle(lock);
    start_read();
}

void connection::on_body_read(error_code ec, std::size_t n, std::uint64_t epoch) {
    lock_type lock(*this);
    body_read_done(lock, ec, n, epoch);
}

void connection::body_read_done(lock_type& lock, error_code ec, std::size_t n,
                                std::uint64_t epoch) {
    auto* op = body_reader_;
    body_reader_ = nullptr;
    if (op->cancel_error_) complete(op, op->cancel_error_);
    if (epoch == epoch_) {
        reading_ = false;
        if (ec) {
            close(error::connection_closed);
        } else {
            const bool filled = n == read_size_;
            body_read(op, n);
            if (filled) read_bodies_now();
        }
    }
    unref(op);
    settle(lock);
    if (epoch == epoch_) start_read();
}

void connection::process_input() {
    while (state_ == state::probing || state_ == state::ready) {
        const auto unparsed = rbuf_.data();
        const std::string_view input(static_cast<const char*>(unparsed.data()), unparsed.size());
        if (expected_.empty()) {
            // Bytes nobody asked for: the stream is not what we think it is.
            if (!input.empty()) close(error::protocol_error);
            return;
        }
        const auto r = parser_.parse(input);
        rbuf_.consume(r.consumed);
        if (r.ev.kind == protocol::event_kind::need_more) {
            if (r.consumed == 0) return;
            continue;
        }
        if (r.ev.kind == protocol::event_kind::failed) {
            close(static_cast<error>(r.ev.failure));
            return;
        }
        if (const error_code ec = deliver(r.ev)) {
            // A probe or login that went wrong is a connect that failed: the next
            // attempt waits out a backoff rather than hammering the server.
            if (state_ == state::probing) {
                fail_connect(ec);
            } else {
                close(ec);
            }
            return;
        }
        if (r.ev.complete) finish_reply();
    }
}

error_code connection::deliver(const protocol::event& ev) {
    const bool meta = ev.kind == protocol::event_kind::meta && ev.code != protocol::meta_code::me;
    // MN carries no opaque either; every other meta reply echoes its request's.
    const bool has_opaque = meta && ev.code != protocol::meta_code::mn;
    if (meta) {
        // A quiet request the server did not answer: this reply is a later one's. The
        // batch of quiet requests ends with one that is always answered (mn), so the
        // list never runs dry here. An error line carries no opaque and goes to the
        // front one: whichever quiet request it answers, it is the same operation's.
        while (expected_.front().quiet && expected_.size() > 1 &&
               (!has_opaque || ev.opaque != expected_.front().opaque)) {
            drop_reply();
        }
    }
    const expected_reply& head = expected_.front();
    if (head.op == nullptr) return deliver_internal(ev);

    // Every meta request carries its own opaque; a reply with another one (or none,
    // or one that is not a number) is someone else's. An operation that sent `mn`
    // takes MN itself, and no other operation takes it.
    if (has_opaque && ev.opaque != head.opaque) return error::reply_mismatch;
    if (!head.op->on_event(ev, head.part)) return error::reply_mismatch;
    if (ev.kind == protocol::event_kind::error && !ev.in_sync) {
        // The operation keeps the server's error; the others cannot be trusted past it.
        finish_reply();
        return error::connection_closed;
    }
    return {};
}

error_code connection::deliver_internal(const protocol::event& ev) {
    if (state_ == state::probing) return on_probe_reply(ev, expected_.front().shape);
    const bool answered =
        (ev.kind == protocol::event_kind::meta && ev.code == protocol::meta_code::mn) ||
        ev.kind == protocol::event_kind::version;
    if (!answered) return error::protocol_error;
    health_deadline_ = clock::time_point::max();
    return {};
}

void connection::finish_reply() {
    drop_reply();
    parser_.expect(expected_.empty() ? protocol::reply_shape::none : expected_.front().shape);
}

void connection::drop_reply() {
    const expected_reply done = expected_.front();
    expected_.pop_front();
    if (auto* op = done.op) {
        if (--op->replies_due_ == 0 && op->phase_ == operation::phase::written) {
            complete(op, op->error_);
        }
        unref(op);
    }
}

}  // namespace memcoro::detail
