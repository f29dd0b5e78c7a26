// The connection's TLS: a session over the connected socket, its handshake, its reads and
// its writes.
//
// OpenSSL's session may not be used from two threads at once, and Asio's SSL stream runs
// the session in the continuations of its operations, which run on whichever thread
// completes the socket's I/O. The connection's lock already orders everything else it
// does (operations start from any thread), so the session's continuations take it too:
// each TLS operation's handler names tls_step_executor as its executor, which runs every
// step under the lock (run_tls_step). A handler that ends an operation only records its
// result; run_tls_step acts on it once the step is over, still under the lock, as the
// plain socket's handlers do after taking it. (A strand would serialize the session as
// well, but over a type-erased executor it allocates on every step: bench/README.md.)
#include "connection.hpp"

#if MEMCORO_HAS_TLS
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/write.hpp>
#include <utility>

#include "tls_context.hpp"
#endif

namespace memcoro::detail {

#if MEMCORO_HAS_TLS

namespace asio = boost::asio;

namespace {

// Past this, a write's staging buffer is let go once the write is over rather than kept
// for the next (a large value would otherwise pin its size for the connection's life).
constexpr std::size_t kept_staging_capacity = 1024 * 1024;

}  // namespace

class tls_session {
  public:
    tls_session(asio::generic::stream_protocol::socket&& socket, asio::ssl::context& context)
        : stream(std::move(socket), context) {}

    asio::ssl::stream<asio::generic::stream_protocol::socket> stream;
    // A write's bytes in one piece: the stream writes one buffer of a sequence at a time,
    // each then a record and a send of its own.
    std::vector<char> staging;
};

class tls_step_executor {
  public:
    explicit tls_step_executor(connection& c) noexcept : connection_(&c) {}

    [[nodiscard]] asio::execution_context& query(asio::execution::context_t) const noexcept {
        return asio::query(connection_->executor_, asio::execution::context);
    }
    // Steps run where the socket's I/O completed: a thread that runs the executor.
    static constexpr asio::execution::blocking_t query(asio::execution::blocking_t) noexcept {
        return asio::execution::blocking.possibly;
    }

    template <typename Step>
    void execute(Step&& step) const {
        connection_->run_tls_step(std::forward<Step>(step));
    }

    friend bool operator==(const tls_step_executor& a, const tls_step_executor& b) noexcept {
        return a.connection_ == b.connection_;
    }
    friend bool operator!=(const tls_step_executor& a, const tls_step_executor& b) noexcept {
        return !(a == b);
    }

  private:
    connection* connection_;
};

// The completion handler of every TLS operation: records the result for run_tls_step.
struct tls_handler {
    std::shared_ptr<connection> self;
    // The session outlives its operations: the stream's operations refer to it.
    std::shared_ptr<tls_session> session;
    connection::tls_op op;
    std::uint64_t epoch;

    using executor_type = tls_step_executor;
    [[nodiscard]] executor_type get_executor() const noexcept { return executor_type(*self); }

    void operator()(error_code ec, std::size_t bytes = 0) {
        self->tls_done_ = connection::tls_result{op, ec, bytes, epoch};
    }
};

template <typename Step>
void connection::run_tls_step(Step&& step) {
    // The step may destroy the handler that holds the last other reference.
    const auto keep = shared_from_this();
    lock_type lock(*this);
    std::forward<Step>(step)();
    if (!tls_done_) return;  // the operation goes on
    const tls_result done = *std::exchange(tls_done_, std::nullopt);
    switch (done.op) {
        case tls_op::handshake:
            handshake_done(done.ec, done.epoch);
            settle(lock);
            break;
        case tls_op::read:
            read_done(lock, done.ec, done.bytes, done.epoch);
            break;
        case tls_op::body_read:
            body_read_done(lock, done.ec, done.bytes, done.epoch);
            break;
        case tls_op::write: {
            if (tls_ && tls_->staging.capacity() > kept_staging_capacity) {
                std::vector<char>().swap(tls_->staging);
            }
            error_code ec = done.epoch == epoch_ ? done.ec : error_code{};
            // A server that refuses this client's certificate after a TLS 1.3 handshake
            // may reset the connection under the probe's write (about half the time
            // here): the read under way then gets its alert, which says why.
            if (state_ == state::probing) ec = {};
            finish_write(ec);
            settle(lock);
            break;
        }
    }
}

void connection::start_handshake() {
    state_ = state::securing;
    // The session takes the socket; socket_ is left closed, ready for the next connect.
    tls_ = std::make_shared<tls_session>(std::move(socket_), *tls_setup_->context);
    prepare_session(tls_->stream.native_handle(), *tls_setup_);
    tls_->stream.async_handshake(asio::ssl::stream_base::client,
                                 tls_handler{shared_from_this(), tls_, tls_op::handshake, epoch_});
}

void connection::handshake_done(error_code ec, std::uint64_t epoch) {
    if (epoch != epoch_) return;
    if (ec) {
        fail_connect(classify_handshake_failure(ec, tls_->stream.native_handle()));
        return;
    }
    begin_session();
}

void connection::tls_read(asio::mutable_buffer buffer, bool body) {
    tls_->stream.async_read_some(
        buffer,
        tls_handler{shared_from_this(), tls_, body ? tls_op::body_read : tls_op::read, epoch_});
}

void connection::tls_write() {
    auto& staging = tls_->staging;
    staging.clear();
    staging.reserve(encoder_.size());
    for (const auto& c : encoder_.chunks()) staging.insert(staging.end(), c.data, c.data + c.size);
    asio::async_write(tls_->stream, asio::buffer(staging),
                      tls_handler{shared_from_this(), tls_, tls_op::write, epoch_});
}

void connection::close_tls() noexcept {
    if (!tls_) return;
    // Its operations end with operation_aborted, as a stream of an older epoch.
    error_code ignored;
    tls_->stream.lowest_layer().close(ignored);
    tls_.reset();
}

error_code connection::tls_refusal(error_code ec) {
    return classify_first_read_failure(ec);
}

#else  // !MEMCORO_HAS_TLS

// Without TLS no connection has a tls_setup_ (make_tls_setup refuses to make one), so
// none of these is ever reached; they exist for the calls the shared code makes.
void connection::start_handshake() {}
void connection::tls_read(boost::asio::mutable_buffer, bool) {}
void connection::tls_write() {}
void connection::close_tls() noexcept {}
error_code connection::tls_refusal(error_code) {
    return {};
}

#endif  // MEMCORO_HAS_TLS

}  // namespace memcoro::detail
