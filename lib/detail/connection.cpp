// The connection's life and its queue: construction, submitting, cancelling, shutting
// down, and running completions (settle).
#include "connection.hpp"

#include <memcoro/error.hpp>

#include <boost/asio/post.hpp>

#include <algorithm>
#include <exception>
#include <utility>

namespace memcoro::detail {
namespace asio = boost::asio;

namespace {

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
                       server_address address, health_observer* observer,
                       std::shared_ptr<const tls_setup> tls)
    : executor_(ex),
      options_(options),
      address_(std::move(address)),
      observer_(observer),
      socket_(ex),
      resolver_(ex),
      timer_(ex),
      tls_setup_(std::move(tls)),
      encoder_(encoder_options_from(options)),
      parser_(parser_limits_from(options)),
      rbuf_(std::max<std::size_t>(options.read_buffer_size, 8 * 1024)),
      backoff_(options.reconnect_backoff) {
    rbuf_.reserve(rbuf_.max_size());
    if (!options.username.empty()) credentials_ = options.username + ' ' + options.password;
    // twemproxy: what a probe would have found out, so text without a probe.
    text_after_probe_closed_ = options.protocol == wire_protocol::twemproxy;
    mode_ = options.protocol == wire_protocol::text || text_after_probe_closed_ ? wire_mode::text
                                                                                : wire_mode::meta;
}

connection::~connection() {
    // Only reached once no handler holds the connection: the executor's context was
    // destroyed, or shutdown() ran and every handler has finished. Operations still
    // here never completed (their context went away); free each of them once.
    std::vector<operation*> left;
    for (auto* op = queue_head_; op != nullptr; op = op->next_) left.push_back(op);
    for (auto* op = incoming_.load(); op != nullptr; op = op->next_) left.push_back(op);
    for (auto* op : in_write_) left.push_back(op);
    for (std::size_t i = 0; i < expected_.size(); ++i) {
        if (expected_[i].op != nullptr) left.push_back(expected_[i].op);
    }
    for (auto* op = finished_head_; op != nullptr; op = op->next_finished_) left.push_back(op);
    std::sort(left.begin(), left.end());
    left.erase(std::unique(left.begin(), left.end()), left.end());
    for (auto* op : left) op->destroy();
}
// ---------------------------------------------------------------------------------
// Submitting and cancelling

void connection::submit(operation* op, std::chrono::milliseconds time_limit) {
    op->refs_ = 1;  // released once its handler has run
    const auto now = clock::now();
    if (time_limit.count() > 0) op->deadline_ = now + time_limit;
    op->started_ = now;
    if (!mutex_.try_lock()) {
        // Another thread holds the mutex, usually to read and parse a batch of replies:
        // rather than wait for it, leave the operation to it (release). Once pushed, the
        // operation may already be written, answered and freed.
        push_incoming(op);
        // Then the mutex is tried again: the holder may have released it before the
        // push, and with it its last look at incoming_. The fence pairs with release's.
        std::atomic_thread_fence(std::memory_order_seq_cst);
        if (!mutex_.try_lock()) return;
        op = nullptr;
    }
    lock_type lock(*this, /*from_user=*/true, std::adopt_lock);
    take_incoming();  // submitted before this one: they go first
    if (op != nullptr) admit(op);
    settle(lock, true);
}

void connection::push_incoming(operation* op) noexcept {
    operation* head = incoming_.load(std::memory_order_relaxed);
    do {
        op->next_ = head;
    } while (!incoming_.compare_exchange_weak(head, op, std::memory_order_release,
                                              std::memory_order_relaxed));
}

void connection::take_incoming() {
    if (incoming_.load(std::memory_order_relaxed) == nullptr) return;
    operation* newest_first = incoming_.exchange(nullptr, std::memory_order_acquire);
    operation* oldest_first = nullptr;
    while (newest_first != nullptr) {
        operation* next = newest_first->next_;
        newest_first->next_ = oldest_first;
        oldest_first = std::exchange(newest_first, next);
    }
    while (oldest_first != nullptr) {
        operation* next = oldest_first->next_;
        admit(oldest_first);
        oldest_first = next;
    }
}

void connection::admit(operation* op) {
    const auto now = op->started_;
    in_flight_.store(in_flight_.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
    entry_time_ = now;
    if (options_.metrics) metrics_.started(*op);
    last_activity_ = now;
    if (state_ == state::shut_down) {
        complete(op, error::shut_down);
    } else if (state_ == state::disconnected && in_backoff(now)) {
        // The failure that started the backoff went to the operations that waited for
        // it; these were never tried (last_failure() says why).
        complete(op, error::not_connected);
    } else {
        enqueue(op);
        arm_timer(op->deadline_);
    }
}

void connection::cancel(std::uint64_t id, error_code ec) {
    lock_type lock(*this, /*from_user=*/true);
    take_incoming();  // it may be among them
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
    lock_type lock(*this, /*from_user=*/true);
    if (state_ == state::shut_down) return;
    take_incoming();  // failed below with the rest of the queue
    close(error::shut_down);
    state_ = state::shut_down;
    observer_ = nullptr;  // its owner may go away now
    fail_queued(error::shut_down);
    timer_.cancel();
    ++timer_generation_;
    settle(lock, true);
}

void connection::clear_backoff() {
    lock_type lock(*this, /*from_user=*/true);
    backoff_until_ = {};
}

bool connection::is_open() {
    lock_type lock(*this, /*from_user=*/true);
    return state_ == state::securing || state_ == state::probing || state_ == state::ready;
}

std::optional<connection_failure> connection::last_failure() {
    lock_type lock(*this, /*from_user=*/true);
    if (!last_error_) return std::nullopt;
    return connection_failure{address_.text, last_error_, last_error_at_};
}

void connection::note_failure(error_code cause) noexcept {
    last_error_ = cause;
    last_error_at_ = std::chrono::system_clock::now();
    if (observer_) observer_->on_failure();
}

void connection::log(const log_record& record) {
    if (options_.logger) pending_logs_.push_back(record);
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
        if (!op->cancel_error_)
            op->cancel_error_ = ec ? ec : make_error_code(error::protocol_error);
        return;
    }
    op->phase_ = operation::phase::finished;
    in_flight_.store(in_flight_.load(std::memory_order_relaxed) - 1, std::memory_order_relaxed);
    op->finished_with_ = ec;
    op->next_finished_ = nullptr;
    if (finished_tail_ != nullptr) {
        finished_tail_->next_finished_ = op;
    } else {
        finished_head_ = op;
    }
    finished_tail_ = op;
}

void connection::unref(operation* op) noexcept {
    if (--op->refs_ == 0) op->destroy();
}

namespace {
// The connection whose completions this thread is running, if any: requests that those
// handlers start then wait for the settle() below them, which writes them all at once.
thread_local const connection* flushing_here = nullptr;
}  // namespace

const connection* connection::running_here() noexcept {
    return flushing_here;
}

// Tells the logger what was recorded, with the lock released as for completions (the
// logger is user code, and may take its time).
void connection::tell_logger(lock_type& lock) {
    std::vector<log_record> told;
    told.swap(pending_logs_);
    const connection* outer = std::exchange(flushing_here, this);
    lock.unlock();
    for (const auto& record : told) emit(options_.logger, address_.text, record);
    lock.lock();
    flushing_here = outer;
    // Kept for the next events (usually none ever arrive while these are told).
    if (pending_logs_.empty()) {
        told.clear();
        pending_logs_.swap(told);
    }
}

void connection::release(lock_type& lock) {
    for (;;) {
        lock.unlock();
        // The settle() further down this stack takes them in once it holds the mutex.
        if (flushing_here == this) return;
        // Pairs with submit's: either it sees the mutex held and this sees its push, or
        // it takes the mutex itself.
        std::atomic_thread_fence(std::memory_order_seq_cst);
        if (incoming_.load(std::memory_order_relaxed) == nullptr) return;
        if (!lock.try_lock()) return;  // its holder takes them in
        settle(lock, lock.from_user());
    }
}

void connection::settle(lock_type& lock, bool from_user) {
    if (flushing_here == this) return;  // the settle() further down this stack goes on
    for (;;) {
        take_incoming();
        if (state_ == state::disconnected && queue_head_ != nullptr) {
            if (in_backoff(clock::now())) {
                fail_queued(error::not_connected);
            } else {
                start_connect();
            }
        }
        // Inside a user's call the write goes through the event loop, so that the calls
        // of other handlers that run before it completes join the next write.
        if (state_ == state::ready) start_write(/*finish_inline=*/!from_user);
        if (!pending_logs_.empty()) {
            tell_logger(lock);
            continue;
        }
        if (finished_head_ == nullptr) {
            entry_time_ = {};  // a later entry point must not take it for its own
            return;
        }

        // Take the batch, and run it without the lock: handlers may start operations on
        // this connection, from this thread or another. An operation that nothing else
        // holds any more (no write, read or reply due) is freed as soon as its handler
        // returns: the handlers of a batch each start the next operation, which then
        // takes the memory of one finished before it, instead of the pool growing by a
        // batch's worth when the batch is larger than any before.
        operation* batch = std::exchange(finished_head_, nullptr);
        finished_tail_ = nullptr;
        const bool counting = options_.metrics;
        const auto now = counting ? batch_time() : clock::time_point{};
        for (auto* op = batch; op != nullptr; op = op->next_finished_) {
            op->last_ref_ = op->refs_ == 1;
            if (counting) metrics_.finished(*op, now);
        }
        const connection* outer = std::exchange(flushing_here, this);
        lock.unlock();
        operation* held = nullptr;  // the finished ones that others still hold
        for (operation* op = batch; op != nullptr;) {
            operation* next = op->next_finished_;
            try {
                op->complete(op->finished_with_, from_user);
            } catch (...) {
                // A handler that asio::dispatch ran right here threw. As for the handlers
                // the connection runs in place (completion::run_here_if_dispatchable),
                // the exception leaves through the executor's run() once this handler
                // has returned, and the connection's state stays whole.
                asio::post(executor_,
                           [e = std::current_exception()] { std::rethrow_exception(e); });
            }
            if (op->last_ref_) {
                op->destroy();
            } else {
                op->next_finished_ = std::exchange(held, op);
            }
            op = next;
        }
        lock.lock();
        flushing_here = outer;
        unref_list(held);
    }
}

// Drops the finished list's reference to each operation of `list`.
void connection::unref_list(operation* list) noexcept {
    while (list != nullptr) unref(std::exchange(list, list->next_finished_));
}

// The end of the durations of a batch of completions: the time this entry point already
// read (a read that brought their replies, a submit), else a reading of the clock. Taken
// once per batch; the next batch, after handlers have run, reads afresh.
clock::time_point connection::batch_time() noexcept {
    const auto known = std::exchange(entry_time_, clock::time_point{});
    return known != clock::time_point{} ? known : clock::now();
}

bool connection::in_backoff(clock::time_point now) const noexcept {
    return now < backoff_until_;
}

}  // namespace memcoro::detail
