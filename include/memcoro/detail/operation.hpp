// The connection's view of one user operation: how to put its request on the wire
// and how to take the replies to it. Concrete operations (lib/client/*) derive from
// it; the connection never knows their result types.
#pragma once

#include <memcoro/detail/operation_pool.hpp>
#include <memcoro/metrics.hpp>
#include <memcoro/protocol/encoder.hpp>
#include <memcoro/protocol/reply.hpp>

#include <boost/system/error_code.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <new>
#include <span>
#include <utility>

namespace memcoro::detail {

using error_code = boost::system::error_code;
using clock = std::chrono::steady_clock;

enum class wire_mode : std::uint8_t { meta, text };

// The commands the peer carries. twemproxy carries the classic key commands, version
// and quit, and hangs up on anything else (README, "Through twemproxy"), failing every
// request in flight: an operation it does not carry must not be written to it.
enum class peer_commands : std::uint8_t { all, twemproxy };

// What an operation is given to encode its request(s) with.
class encode_context {
public:
    virtual ~encode_context() = default;
    [[nodiscard]] virtual protocol::request_encoder& encoder() noexcept = 0;
    [[nodiscard]] virtual wire_mode mode() const noexcept = 0;
    // The opaque token the next request must carry in meta mode (0 in text mode).
    [[nodiscard]] virtual std::uint32_t next_opaque() const noexcept = 0;
    // Registers the reply to the request just encoded, for part `part` of the
    // operation, in wire order. Call it only once the request is encoded.
    virtual void expect_reply(protocol::reply_shape shape, std::uint32_t part) = 0;
    // The same for a quiet meta request (flag q), whose reply the server leaves out when
    // it has nothing to report (mg's miss). A reply to a later request of the same
    // operation passes it by, so the operation must close the batch with a request that
    // is always answered (mn), registered with expect_reply.
    virtual void expect_quiet_reply(protocol::reply_shape shape, std::uint32_t part) = 0;
    // Declares that a request just encoded gets no reply (noreply).
    virtual void no_reply() noexcept = 0;
    // What the peer carries. An operation that needs more returns
    // error::unsupported_command from encode before it encodes anything.
    [[nodiscard]] virtual peer_commands commands() const noexcept { return peer_commands::all; }
    // The server's version as major * 10000 + minor * 100 + patch (1.6.18 -> 10618), as
    // it said when the connection was made; 0 when unknown (not asked in text mode, or
    // an answer that names no version). An operation whose flags need a newer server
    // returns error::unsupported_command from encode.
    [[nodiscard]] virtual std::uint32_t server_version() const noexcept { return 0; }
};

class operation {
public:
    enum class phase : std::uint8_t {
        queued,    // waiting for a write; may still be removed
        writing,   // its bytes are in the write under way
        written,   // waiting for replies
        finished,  // its handler has been called; replies still due are dropped
    };

    // Appends the request(s). Input was validated when the operation started, so an
    // error here is a bug, or error::unsupported_command (nothing appended); the
    // operation then completes with it and the connection goes on.
    virtual error_code encode(encode_context& ctx) = 0;

    // An event of the reply to part `part`. Returns false when the reply does not
    // belong to this request (a VALUE for another key): the connection then closes,
    // because the stream can no longer be trusted. It is also called after the
    // operation finished (cancelled), so the check still happens; the operation must
    // then leave its result alone.
    virtual bool on_event(const protocol::event& ev, std::uint32_t part) = 0;

    // Where the rest of a value body currently being read for this operation should
    // go, `remaining` bytes. Empty: read it through the read buffer (on_event data).
    virtual std::span<char> body_target(std::size_t remaining) noexcept {
        (void)remaining;
        return {};
    }
    // `n` body bytes were written straight into the span body_target gave.
    virtual void body_filled(std::size_t n) noexcept { (void)n; }
    // True when its reply holds at most one value (get, get_into): while that reply is
    // the only one due, the connection reads little past its header into the read
    // buffer, so that most of a large body goes to body_target without a copy.
    [[nodiscard]] virtual bool expects_one_value() const noexcept { return false; }

    // Calls the handler with the result, or with `ec` and an empty result when set.
    // Called once. With an error it must not touch the result's storage: a body may
    // still be being read into it. `post`: never run the handler inline (the caller is
    // inside a user's call, perhaps the one that started this operation).
    virtual void complete(error_code ec, bool post) = 0;

    // Frees the operation (it knows its own allocator).
    virtual void destroy() noexcept = 0;

    // Records the first error a reply reported (an error line, a mismatch).
    void fail_with(error_code ec) noexcept {
        if (!error_) error_ = ec;
    }

    // Bookkeeping owned by the connection.
    phase phase_ = phase::queued;
    std::uint32_t refs_ = 0;         // the connection's references; destroyed at zero
    std::uint32_t replies_due_ = 0;  // registered replies not yet read
    bool no_reply_ = false;          // completes when its write completes
    std::uint64_t id_ = 0;           // names it to a cancellation that may come late
    clock::time_point deadline_ = clock::time_point::max();
    clock::time_point written_at_{};
    error_code error_;         // the first error its replies reported
    error_code cancel_error_;  // cancelled while its bytes were being written
    operation* next_ = nullptr;  // the queue of operations not yet written
    // Once finished: the list of handlers due, what this one is due with, and whether
    // that list is all that still holds it.
    operation* next_finished_ = nullptr;
    error_code finished_with_;
    bool last_ref_ = false;

    // What the metrics count (metrics.hpp): its kind, when it was submitted, and for a
    // retrieval the keys it looked up and how many of them were found.
    operation_kind kind_ = operation_kind::version;
    std::uint32_t lookups_ = 0;
    std::uint32_t hits_ = 0;
    clock::time_point started_{};

    // The size make_operation took from the operation pool, so destroy() can give it back.
    std::size_t alloc_size_ = 0;

protected:
    virtual ~operation() = default;

    // Ends the operation's life and returns its memory to the operation pool.
    void free_self() noexcept {
        const std::size_t size = alloc_size_;
        this->~operation();
        operation_pool::deallocate(this, size);
    }
};

// Builds an operation in memory from the operation pool.
template <class Op, class... Args>
Op* make_operation(Args&&... args) {
    void* memory = operation_pool::allocate(sizeof(Op));
    try {
        auto* op = ::new (memory) Op(std::forward<Args>(args)...);
        op->alloc_size_ = sizeof(Op);
        return op;
    } catch (...) {
        operation_pool::deallocate(memory, sizeof(Op));
        throw;
    }
}

}  // namespace memcoro::detail
