// client_options::read_retries: a get whose connection failed before its reply came is
// sent again, on another connection of its server or, once that server is dead and
// remapping is on, on the server its key moved to. Only reads: a write whose reply was
// lost may have been carried out, and sending it again could apply it twice.
#include <boost/asio/error.hpp>
#include <memcoro/client.hpp>
#include <string>

#include "../router/router.hpp"
#include "launch.hpp"
#include "retrieval.hpp"

namespace memcoro {
namespace asio = boost::asio;

namespace detail {
namespace {

// The failures where the request may never have reached a working server: a stream
// that broke, a backoff, or a connect that failed (a timeout, or the socket's or the
// resolver's own error: the connection reports no other system error but the caller's
// cancellation).
bool connection_failed(error_code ec) {
    if (ec == error::connection_closed || ec == error::unresponsive || ec == error::not_connected ||
        ec == error::connect_timeout) {
        return true;
    }
    const auto& category = ec.category();
    const bool os = category == boost::system::system_category() ||
                    category == asio::error::get_netdb_category() ||
                    category == asio::error::get_addrinfo_category();
    return os && ec != asio::error::operation_aborted;
}

// The handler of each attempt: it decides whether to try again, and otherwise hands the
// outcome to the user's handler. It holds everything a new attempt needs, since the
// caller's key may be gone by then.
struct get_retry {
    std::shared_ptr<router> tier;  // held: the client's close() may complete this call
                                   // after the client itself is gone
    bool errors_as_misses;
    protocol::retrieve_command cmd;
    std::string key;
    std::int64_t ttl;
    clock::time_point deadline;  // max(): no time limit
    std::uint32_t retries_left;
    const connection* last = nullptr;  // where the previous attempt failed
    completion<void(error_code, std::optional<item>)> user;
    asio::any_io_executor fallback;

    void operator()(error_code ec, std::optional<item> it) {
        if (ec && connection_failed(ec) && retries_left > 0) {
            --retries_left;
            const std::size_t s = tier->server_for(key);
            if (s == placement::none) {
                ec = error::server_dead;
            } else if (deadline != clock::time_point::max() && clock::now() >= deadline) {
                ec = error::timeout;
            } else {
                start(tier->pick(s, last));
                return;
            }
        }
        dispatch_completion(std::move(user), fallback, as_reported(ec, errors_as_misses),
                            std::move(it));
    }

    void start(const std::shared_ptr<connection>& c) {
        last = c.get();
        using std::chrono::duration_cast;
        using std::chrono::milliseconds;
        // What is left of the call's time; at least 1 ms, since 0 would mean none.
        const auto limit =
            deadline == clock::time_point::max()
                ? milliseconds{0}
                : std::max(milliseconds{1}, duration_cast<milliseconds>(deadline - clock::now()));
        auto slot = user.handler.get_cancellation_slot();
        const std::string k = key;  // the operation copies it; *this is about to move
        const auto command = cmd;
        const auto t = ttl;
        auto* op = new_operation<retrieve_op>(
            *c, completion<void(error_code, std::optional<item>)>(std::move(*this), fallback),
            command, k, t, c->options().key_prefix, base64_keys(c->options()));
        launch(c, op, slot, limit, milliseconds{0});
    }
};

}  // namespace
}  // namespace detail

void client::start_retrieve_retrying(retrieve_kind kind, std::string_view key,
                                     std::chrono::seconds ttl, const call_options& opts,
                                     handler<void(error_code, std::optional<item>)> h,
                                     const std::shared_ptr<detail::connection>& first) {
    const auto limit = opts.timeout.value_or(options_.op_timeout);
    detail::get_retry retry{
        router_,
        options_.errors_as_misses,
        static_cast<protocol::retrieve_command>(kind),
        std::string(key),
        ttl.count(),
        limit.count() > 0 ? detail::clock::now() + limit : detail::clock::time_point::max(),
        options_.read_retries,
        nullptr,
        std::move(h),
        executor_};
    retry.start(first);
}

}  // namespace memcoro
