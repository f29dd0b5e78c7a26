// One stream to one server, shared by every operation of a client: the only code
// that touches a socket.
//
// Operations queue up; whenever no write is under way, everything queued is encoded
// into one gather write. Each request registers the reply it expects, in wire order,
// and the reader matches replies to them in that order. A mutex guards the state, so
// operations may be started from any thread; user handlers always run with it released.
// An operation submitted while another thread holds the mutex is left for that thread
// to take in (submit), so that starting one never waits on a read being parsed.
// (A strand would do the same, but over a type-erased executor it allocates for every
// read and write: see bench/README.md.)
#pragma once

#include <array>
#include <atomic>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/generic/stream_protocol.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/circular_buffer.hpp>
#include <cstdint>
#include <memcoro/detail/operation.hpp>
#include <memcoro/options.hpp>
#include <memcoro/protocol/encoder.hpp>
#include <memcoro/protocol/parser.hpp>
#include <memory>
#include <mutex>
#include <optional>
#include <vector>

#include "address.hpp"
#include "connection_metrics.hpp"
#include "health_observer.hpp"
#include "log_record.hpp"

namespace memcoro::detail {

struct tls_setup;
class tls_session;
class tls_step_executor;
struct tls_handler;

class connection final : public std::enable_shared_from_this<connection>, private encode_context {
  public:
    using executor_type = boost::asio::any_io_executor;

    // `observer`, when given, hears of the server's failures and answers (a tier of
    // servers; a lone server has no one to fail over to, so it goes without). It must
    // outlive the connection, or at least its shutdown(): after that it is never called.
    // `tls`, when given, puts every stream of this connection under TLS.
    connection(boost::asio::any_io_executor ex, const client_options& options,
               server_address address, health_observer* observer = nullptr,
               std::shared_ptr<const tls_setup> tls = nullptr);
    ~connection() override;

    [[nodiscard]] executor_type get_executor() const noexcept { return executor_; }
    // The same, by reference: operations keep a pointer to it (they live no longer).
    [[nodiscard]] const executor_type& executor() const noexcept { return executor_; }
    [[nodiscard]] const client_options& options() const noexcept { return options_; }

    // Safe to call from any thread, and from within a handler this connection runs.

    // Takes charge of `op`: it is queued, written and answered, or completed with an
    // error; either way complete() is called exactly once and destroy() later.
    // `time_limit` counts from now (0: none) and becomes the operation's deadline.
    void submit(operation* op, std::chrono::milliseconds time_limit);

    // Cancels the operation with this id if it is still waiting. Stale ids are ignored.
    void cancel(std::uint64_t id, error_code ec);

    // Fails everything with error::shut_down, closes the socket and refuses new work.
    void shutdown();

    // Lets the next connect go ahead now, backoff or not: a dead server's probe must
    // reach it even though the connection is still backing off from its failures.
    void clear_backoff();

    // Operations submitted and not yet completed. Read without the lock: a hint for
    // choosing among the connections of a pool, exact only when nothing runs.
    [[nodiscard]] std::uint32_t in_flight() const noexcept {
        return in_flight_.load(std::memory_order_relaxed);
    }
    // Adds this connection's counters and queue depth to `out`; safe from any thread.
    void add_metrics(server_metrics& out) const noexcept {
        metrics_.add_to(out);
        out.queue_depth += in_flight();
    }
    // The connection whose completions this thread is running, if any (see settle).
    [[nodiscard]] static const connection* running_here() noexcept;
    // Whether a stream is open (connected, perhaps still probing), read under the lock.
    [[nodiscard]] bool is_open();
    // The last failure seen on this connection (note_failure), read under the lock.
    [[nodiscard]] std::optional<connection_failure> last_failure();

    // The wire protocol in use (meta until a probe says otherwise).
    [[nodiscard]] wire_mode mode() const noexcept override { return mode_; }

  private:
    friend class tls_step_executor;
    friend struct tls_handler;

    // The connection's mutex, held. Its last release takes in what submit() left in
    // incoming_ meanwhile (release). `from_user`: held in a user's call (see settle).
    class lock_type {
      public:
        explicit lock_type(connection& c, bool from_user = false) : c_(c), from_user_(from_user) {
            lock();
        }
        // Takes charge of the mutex this thread already holds.
        lock_type(connection& c, bool from_user, std::adopt_lock_t) noexcept
            : c_(c), owns_(true), from_user_(from_user) {}
        lock_type(const lock_type&) = delete;
        lock_type& operator=(const lock_type&) = delete;
        ~lock_type() {
            if (owns_) c_.release(*this);
        }
        void lock() {
            c_.mutex_.lock();
            owns_ = true;
        }
        [[nodiscard]] bool try_lock() {
            owns_ = c_.mutex_.try_lock();
            return owns_;
        }
        void unlock() {
            owns_ = false;
            c_.mutex_.unlock();
        }
        [[nodiscard]] bool from_user() const noexcept { return from_user_; }

      private:
        connection& c_;
        bool owns_ = false;
        bool from_user_;
    };

    // securing: the TLS handshake. probing: authentication and the probe (start_probe).
    enum class state : std::uint8_t {
        disconnected,
        connecting,
        securing,
        probing,
        ready,
        shut_down
    };

    // One reply expected on the wire, in order.
    struct expected_reply {
        operation* op = nullptr;  // nullptr: the connection's own probe or fence
        protocol::reply_shape shape = protocol::reply_shape::none;
        std::uint32_t part = 0;
        std::uint32_t opaque = 0;
        bool quiet = false;  // may never come (expect_quiet_reply)
    };

    // encode_context
    protocol::request_encoder& encoder() noexcept override { return encoder_; }
    std::uint32_t next_opaque() const noexcept override {
        return mode_ == wire_mode::meta ? next_opaque_ : 0;
    }
    void expect_reply(protocol::reply_shape shape, std::uint32_t part) override {
        register_reply(shape, part, false);
    }
    void expect_quiet_reply(protocol::reply_shape shape, std::uint32_t part) override {
        register_reply(shape, part, true);
    }
    void register_reply(protocol::reply_shape shape, std::uint32_t part, bool quiet);
    // Appends to expected_, doubling its capacity when it is full: a circular_buffer
    // would otherwise overwrite its oldest entry. It never shrinks, so once it has
    // grown to the deepest pipeline seen, nothing allocates.
    void push_expected(const expected_reply& reply);
    void no_reply() noexcept override { unfenced_ = true; }
    peer_commands commands() const noexcept override {
        return text_after_probe_closed_ ? peer_commands::twemproxy : peer_commands::all;
    }
    std::uint32_t server_version() const noexcept override { return server_version_; }

    void start_connect();
    void connect_to(std::vector<boost::asio::generic::stream_protocol::endpoint> endpoints);
    void on_connected(error_code ec, std::uint64_t epoch);
    // The stream is open (and secured, with TLS): authenticate, probe, then serve.
    void begin_session();
    void fail_connect(error_code ec);
    // Whether a new stream is probed before it carries requests (its protocol or its
    // version is to be learned).
    [[nodiscard]] bool needs_probe() const noexcept;
    void start_probe();
    // One reply to the probe (version, then mn in automatic mode).
    [[nodiscard]] error_code on_probe_reply(const protocol::event& ev, protocol::reply_shape shape);
    void become_ready();

    // `finish_inline`: the write may complete within this call (see write_encoded).
    void start_write(bool finish_inline);
    void write_encoded(bool finish_inline);
    void drop_written(std::size_t n);
    void on_write(error_code ec, std::uint64_t epoch);
    // The write is over, whole or failed: the operations it carried move on.
    void finish_write(error_code ec);
    void encode_internal();

    void start_read();
    // `body`: the read prepared by prepare_body_read.
    template <typename Buffers>
    void initiate_read(const Buffers& buffers, bool body);
    void on_read(error_code ec, std::size_t n, std::uint64_t epoch);
    void read_done(lock_type& lock, error_code ec, std::size_t n, std::uint64_t epoch);
    void on_body_read(error_code ec, std::size_t n, std::uint64_t epoch);
    void body_read_done(lock_type& lock, error_code ec, std::size_t n, std::uint64_t epoch);
    operation* prepare_body_read(std::array<boost::asio::mutable_buffer, 2>& buffers);
    void body_read(operation* op, std::size_t n);
    void read_bodies_now();
    void process_input();
    [[nodiscard]] error_code deliver(const protocol::event& ev);
    [[nodiscard]] error_code deliver_internal(const protocol::event& ev);
    void finish_reply();
    // Takes the reply at the front off the list as read; the parser is not told.
    void drop_reply();

    void arm_timer(clock::time_point at);
    void on_timer(error_code ec, std::uint64_t generation);
    void expire(clock::time_point now);

    void close(error_code ec);
    void drop_stream(error_code ec);
    // A failure of the server's, for the router's health count and last_failure().
    void note_failure(error_code cause) noexcept;
    // Records an event for options_.logger, told by settle() once the lock is released.
    void log(const log_record& record);
    void tell_logger(lock_type& lock);
    void start_backoff();

    // TLS (connection_tls.cpp). Every operation on a TLS stream, and every step of one,
    // runs under the lock: OpenSSL's session is not safe to use from two threads.
    [[nodiscard]] bool secured() const noexcept { return tls_ != nullptr; }
    // Moves the connected socket under a new TLS session and starts its handshake.
    void start_handshake();
    void tls_read(boost::asio::mutable_buffer buffer, bool body);
    // A read that failed on a new session: the server's refusal of this client's
    // certificate (a tls_error), or empty.
    [[nodiscard]] static error_code tls_refusal(error_code ec);
    void tls_write();
    void close_tls() noexcept;
    // What a TLS operation's handler reports, for run_tls_step to act on.
    enum class tls_op : std::uint8_t { handshake, read, body_read, write };
    struct tls_result {
        tls_op op;
        error_code ec;
        std::size_t bytes;
        std::uint64_t epoch;
    };
    // Runs one step of a TLS operation (tls_step_executor), then, if that step ended
    // the operation, what its completion calls for.
    template <typename Step>
    void run_tls_step(Step&& step);
    void handshake_done(error_code ec, std::uint64_t epoch);

    // An operation submitted (at op->started_), under the lock: queued, or failed at once.
    void admit(operation* op);
    // Leaves `op` in incoming_ for the thread that holds the mutex.
    void push_incoming(operation* op) noexcept;
    // Admits what submit() left in incoming_, in the order it was submitted.
    void take_incoming();
    // Unlocks; then, if an operation was left in incoming_ and the mutex is free, takes
    // the mutex again and settles, until none is left or another thread holds it.
    void release(lock_type& lock);
    void enqueue(operation* op) noexcept;
    operation* dequeue() noexcept;
    bool unlink(operation* op) noexcept;
    void fail_queued(error_code ec);
    void complete(operation* op, error_code ec);
    void unref(operation* op) noexcept;
    void unref_list(operation* list) noexcept;
    // Every entry point ends with settle(), so user handlers run only once the state
    // is consistent, and requests that those handlers start go out in one write.
    // Runs the completions gathered so far, with the lock released, then starts
    // whatever they made due (a write, a reconnect); returns with the lock held.
    // `from_user`: called from a user's call (submit, cancel, shutdown), whose handlers
    // must not run inside that call, so they are posted rather than dispatched.
    void settle(lock_type& lock, bool from_user = false);
    [[nodiscard]] bool in_backoff(clock::time_point now) const noexcept;
    [[nodiscard]] clock::time_point batch_time() noexcept;

    executor_type executor_;
    std::mutex mutex_;
    // Operations submitted while another thread held mutex_, newest first, linked
    // through operation::next_; whoever next holds the mutex takes them in.
    std::atomic<operation*> incoming_{nullptr};
    client_options options_;
    server_address address_;
    health_observer* observer_;
    // Changed only under the lock, so a plain load and store (no locked instruction).
    std::atomic<std::uint32_t> in_flight_{0};
    // Counted when options_.metrics is on; changed under the lock, like in_flight_.
    connection_metrics metrics_;
    boost::asio::generic::stream_protocol::socket socket_;
    boost::asio::ip::tcp::resolver resolver_;
    boost::asio::steady_timer timer_;
    // TLS: what the options ask for, the session of the current stream (it holds the
    // socket while it lasts), and the result a handler left for run_tls_step.
    std::shared_ptr<const tls_setup> tls_setup_;
    std::shared_ptr<tls_session> tls_;
    std::optional<tls_result> tls_done_;
    // "user pass", the data of the authentication `set`; empty: none.
    std::string credentials_;
    // The last failure (note_failure) and when: client::last_failure().
    error_code last_error_;
    std::chrono::system_clock::time_point last_error_at_{};
    // Events for options_.logger not told yet (always empty without a logger).
    std::vector<log_record> pending_logs_;

    state state_ = state::disconnected;
    wire_mode mode_ = wire_mode::meta;
    // What the probe's `version` said (encode_context::server_version); 0: unknown.
    std::uint32_t server_version_ = 0;
    std::uint64_t epoch_ = 0;  // bumped by close(); handlers of an older socket stand down
    // A probe made the server hang up, or options say twemproxy: use text, and only
    // the commands twemproxy carries (commands()).
    bool text_after_probe_closed_ = false;
    // Operations whose handlers are due, in the order they finished, linked through
    // operation::next_finished_ so that finishing one never allocates.
    operation* finished_head_ = nullptr;
    operation* finished_tail_ = nullptr;

    // Writing.
    operation* queue_head_ = nullptr;  // not yet written, in order
    operation* queue_tail_ = nullptr;
    std::vector<operation*> in_write_;  // the operations of the write under way
    protocol::request_encoder encoder_;
    std::vector<boost::asio::const_buffer> write_buffers_;
    bool writing_ = false;
    bool unfenced_ = false;  // noreply requests were written since the last fence
    bool health_check_due_ = false;
    operation* encoding_ = nullptr;  // the operation whose requests are being encoded
    std::uint32_t next_opaque_ = 1;

    // Reading.
    boost::circular_buffer<expected_reply> expected_;
    protocol::response_parser parser_;
    // Bytes read and not yet parsed: data(). Its size is fixed at construction
    // (max_size() == capacity()), so it never reallocates: the room a read is given is
    // all of it but the unparsed bytes, which prepare() first moves to the front (the
    // parser's offsets count from the first unparsed byte, so it never notices).
    boost::beast::flat_buffer rbuf_;
    bool reading_ = false;
    operation* body_reader_ = nullptr;  // a body is being read straight into its storage
    std::size_t body_read_size_ = 0;    // how much of that read goes to the body
    std::size_t read_size_ = 0;         // the room the read under way was given

    // Time.
    clock::time_point connect_deadline_ = clock::time_point::max();
    clock::time_point last_read_{};
    clock::time_point last_activity_{};
    clock::time_point health_deadline_ = clock::time_point::max();
    clock::time_point backoff_until_{};
    std::chrono::milliseconds backoff_;
    std::uint64_t timer_generation_ = 0;
    clock::time_point timer_expiry_ = clock::time_point::max();
    // A time read by the entry point under way, that settle() may take as the end of its
    // completions (batch_time); time_point{}: none.
    clock::time_point entry_time_{};
};

}  // namespace memcoro::detail
