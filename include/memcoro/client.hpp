// memcoro::client: one memcached server or a tier of them, every command, as Asio async
// operations. A tier (client_options::servers) is described in README "Many servers".
//
//     asio::awaitable<void> handler(memcoro::client& mc) {
//         bool stored = co_await mc.set("greeting", "hello", {.ttl = 60s, .flags = 7});
//         std::optional<memcoro::item> it = co_await mc.get("greeting");
//         auto [ec, v] = co_await mc.get("k", asio::as_tuple(asio::deferred));
//     }
//
// Every operation below takes any Asio completion token as its last argument and
// defaults to asio::use_awaitable, so `co_await mc.get(k)` needs none. The completion
// signature is written next to each; with use_awaitable an error becomes a
// boost::system::system_error thrown at the co_await.
//
// For every operation:
// - Errors: bad input (error::invalid_key, value_too_large, invalid_argument) is
//   refused before a byte is sent and the connection is untouched. So is a command or
//   flag that this server or proxy cannot carry (twemproxy, text mode, a server version
//   too old for a meta option): error::unsupported_command is the one error for that,
//   whatever the reason, and the connection goes on. A miss, NOT_STORED, EXISTS and
//   NOT_FOUND are results, not errors.
// - Cancellation: the handler's cancellation slot is honoured for every cancellation
//   type. A request not yet written is removed and never sent; one already written
//   completes at once with boost::asio::error::operation_aborted, and its reply is
//   read and dropped when it comes, so the connection stays usable. One whose bytes
//   are in the write under way, or whose value is being read into its storage,
//   completes as soon as that write or read ends, so no buffer of the caller's is in
//   use once it has. The server may still carry out a written request.
// - Timeouts: `op_timeout` (client_options, or `timeout` in the call's options) is the
//   same cancellation, sent by a clock; the operation fails with error::timeout.
// - Keys: printable ASCII by default (client_options). With key_encoding::base64 any
//   bytes up to 186 with the prefix: every call then sends its meta form with the flag
//   b (a noreply call completes when written, and its reply is read and dropped), and
//   in text mode or through twemproxy fails with error::unsupported_command before a
//   byte is sent. Over many servers a key is placed by its own bytes either way.
// - Lifetimes: the client must outlive the operations it starts. Keys are copied when
//   the operation starts. A value passed as an lvalue is not copied: its bytes go to
//   the socket from where they are, and must stay valid and unchanged until the
//   operation completes (with co_await they do). A value passed as an rvalue (a
//   temporary std::string, say) is moved or copied into the operation. set_many's
//   values are views and follow the lvalue rule; the key ranges of get_many and
//   remove_many are read when the operation starts (see get_many).
// - Threads: operations may be started from any thread at once (the connection's
//   state is guarded by a mutex that no handler runs under, and an operation started
//   while another thread holds it is left to that thread rather than waiting). Over
//   one connection, the calls of one thread go out in the order it made them; with
//   connections_per_server above 1, two calls may take different connections, and a
//   read that must see a write needs that write made without noreply and completed.
//   Handlers run on their associated executor; a handler is never run inside the call
//   that started it. An exception thrown by a handler leaves through the run() of the
//   executor it ran on, as for any Asio handler, and the client goes on working: the
//   other handlers due are still called, and run() may be called again.
#pragma once

#include <boost/asio/any_completion_handler.hpp>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <chrono>
#include <cstdint>
#include <exception>
#include <functional>
#include <memcoro/codec.hpp>
#include <memcoro/detail/fetch.hpp>
#include <memcoro/detail/handlers.hpp>
#include <memcoro/detail/single_flight.hpp>
#include <memcoro/detail/value_sink.hpp>
#include <memcoro/error.hpp>
#include <memcoro/item.hpp>
#include <memcoro/keys.hpp>
#include <memcoro/meta.hpp>
#include <memcoro/metrics.hpp>
#include <memcoro/options.hpp>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace memcoro {

namespace detail {
class connection;
class router;
}

// Boost 1.81 has no default completion token: this is memcoro's.
using default_token = boost::asio::use_awaitable_t<>;

using error_code = boost::system::error_code;

using stats_list = std::vector<std::pair<std::string, std::string>>;

// One server's part of a call addressed to every server (stats_each, version_each).
template <class T>
struct server_result {
    std::size_t index = 0;  // in client_options::servers (0 for the one `server`)
    std::string address;
    error_code error;  // this server's failure; the others' results stand
    T value{};
};

class client {
public:
    using executor_type = boost::asio::any_io_executor;

    template <class Sig>
    using handler = detail::completion<Sig>;

    // Connects lazily: the first operation on a connection opens it. Throws
    // boost::system::system_error (error::invalid_argument) for a malformed address or
    // server list; its what() names the bad entry.
    client(executor_type ex, client_options options);
    // Shuts down: operations still waiting complete with error::shut_down.
    ~client();
    client(const client&) = delete;
    client& operator=(const client&) = delete;

    [[nodiscard]] executor_type get_executor() const noexcept { return executor_; }
    [[nodiscard]] const client_options& options() const noexcept { return options_; }

    // Closes the connections and fails every waiting operation with error::shut_down;
    // later operations fail the same way. Ends all of the client's background work.
    void close();

    // Every server, in client_options::servers order: its address, whether it is alive
    // or dead (and until when), its open connections and operations in flight. Safe from
    // any thread; a snapshot, already old when it returns.
    [[nodiscard]] std::vector<memcoro::server_status> server_status() const;

    // What the client has counted so far (metrics.hpp), per server in
    // client_options::servers order and in total. Safe from any thread at any time,
    // while operations run: it stops nothing and takes no lock. The counters count from
    // the client's construction; client_options::metrics turns them off.
    [[nodiscard]] client_metrics metrics() const;

    // The latest failure of any server's: a connect that failed (its cause, as the
    // operations that waited for it got it), or a connection closed under its operations
    // (README "Errors, logs and metrics"). Kept once the server is back; nullopt when no
    // server ever failed. What operations that fail fast during the reconnect backoff
    // (error::not_connected) were not told. Safe from any thread.
    [[nodiscard]] std::optional<connection_failure> last_failure() const;

    // ---- Retrieval ------------------------------------------------------------

    // void(error_code, std::optional<item>): nullopt on a miss.
    template <boost::asio::completion_token_for<void(error_code, std::optional<item>)> Token =
                  default_token>
    auto get(std::string_view key, Token&& token = {}) {
        return retrieve(retrieve_kind::get, key, {}, {}, std::forward<Token>(token));
    }
    template <boost::asio::completion_token_for<void(error_code, std::optional<item>)> Token =
                  default_token>
    auto get(std::string_view key, const call_options& opts, Token&& token = {}) {
        return retrieve(retrieve_kind::get, key, {}, opts, std::forward<Token>(token));
    }

    // void(error_code, std::optional<T>): the value decoded by codec<T>; a value the
    // codec refuses fails with error::bad_value.
    template <decodable T,
              boost::asio::completion_token_for<void(error_code, std::optional<T>)> Token =
                  default_token>
    auto get(std::string_view key, Token&& token = {}) {
        return boost::asio::async_initiate<Token, void(error_code, std::optional<T>)>(
            [this](auto h, std::string_view k) {
                start_retrieve(retrieve_kind::get, k, {}, {},
                               {detail::decoding_handler<T, decltype(h)>{std::move(h)}, executor_});
            },
            token, key);
    }

    // void(error_code, std::optional<item>): the item carries its CAS unique.
    template <boost::asio::completion_token_for<void(error_code, std::optional<item>)> Token =
                  default_token>
    auto gets(std::string_view key, Token&& token = {}) {
        return retrieve(retrieve_kind::gets, key, {}, {}, std::forward<Token>(token));
    }

    // Get and touch: void(error_code, std::optional<item>); a hit gets the new ttl.
    template <boost::asio::completion_token_for<void(error_code, std::optional<item>)> Token =
                  default_token>
    auto gat(std::string_view key, std::chrono::seconds ttl, Token&& token = {}) {
        return retrieve(retrieve_kind::gat, key, ttl, {}, std::forward<Token>(token));
    }
    template <boost::asio::completion_token_for<void(error_code, std::optional<item>)> Token =
                  default_token>
    auto gats(std::string_view key, std::chrono::seconds ttl, Token&& token = {}) {
        return retrieve(retrieve_kind::gats, key, ttl, {}, std::forward<Token>(token));
    }

    // Appends the value to `buffer`, a DynamicBuffer_v1 such as beast::flat_buffer or
    // beast::multi_buffer: void(error_code, std::optional<value_info>), nullopt on a
    // miss. A large value is read from the socket straight into the buffer. The
    // buffer must outlive the operation; the operation completes (even when
    // cancelled) only once it no longer writes to it.
    template <class DynamicBuffer,
              boost::asio::completion_token_for<void(error_code, std::optional<value_info>)>
                  Token = default_token>
        requires boost::asio::is_dynamic_buffer_v1<DynamicBuffer>::value
    auto get_into(std::string_view key, DynamicBuffer& buffer, Token&& token = {}) {
        return boost::asio::async_initiate<Token, void(error_code, std::optional<value_info>)>(
            [this, &buffer](auto h, std::string_view k) {
                start_get_into(k, detail::make_sink_maker(buffer),
                               {std::move(h), executor_});
            },
            token, key);
    }

    // void(error_code, std::vector<item>): the hits, in request order, each with its
    // key(); misses are absent. One request on the wire (one classic get; with
    // key_encoding::base64, quiet `mg` lines closed by `mn`, and key() gives the bytes
    // asked for, not their base64).
    //
    // The keys of get_many, gets_many and remove_many: any key_range (keys.hpp), i.e.
    // any range of string-like keys, such as std::vector<std::string>,
    // std::vector<std::string_view>, a std::span of views, std::list<std::string> or
    // std::array<const char*, N>; or a braced list of up to 16 (braced_keys),
    // `co_await mc.get_many({"a", "b"})`. None (an empty list) is
    // error::invalid_argument. The keys are copied into the request when the operation
    // starts, and nothing refers to the range after that: it, and the strings its keys
    // view, need to live only until then. The operation starts within the call for a
    // callback or asio::use_future, so the range need not outlive the call; at the
    // co_await for asio::use_awaitable, so temporaries inside `co_await
    // mc.get_many(...)` live long enough; when launched for asio::deferred.
    // Cost: views in contiguous memory (a span or vector of std::string_view) go to the
    // request as they are; the views of other ranges are first gathered on the stack
    // (a heap block only beyond 128 keys).
    template <key_range Keys, boost::asio::completion_token_for<void(error_code, std::vector<item>)>
                                  Token = default_token>
    auto get_many(Keys&& keys, const call_options& opts = {}, Token&& token = {}) {
        return many(false, detail::key_arg(keys), opts, std::forward<Token>(token));
    }
    template <boost::asio::completion_token_for<void(error_code, std::vector<item>)> Token =
                  default_token>
    auto get_many(braced_keys keys, const call_options& opts = {}, Token&& token = {}) {
        return many(false, detail::key_arg(keys), opts, std::forward<Token>(token));
    }
    template <key_range Keys, boost::asio::completion_token_for<void(error_code, std::vector<item>)>
                                  Token = default_token>
    auto gets_many(Keys&& keys, const call_options& opts = {}, Token&& token = {}) {
        return many(true, detail::key_arg(keys), opts, std::forward<Token>(token));
    }
    template <boost::asio::completion_token_for<void(error_code, std::vector<item>)> Token =
                  default_token>
    auto gets_many(braced_keys keys, const call_options& opts = {}, Token&& token = {}) {
        return many(true, detail::key_arg(keys), opts, std::forward<Token>(token));
    }

    // ---- Storage ---------------------------------------------------------------
    // void(error_code, bool): true when stored (always true with noreply). The value
    // is anything with a codec<T>; opts.flags, when set, replace the codec's flags.

    template <class T,
              boost::asio::completion_token_for<void(error_code, bool)> Token = default_token>
        requires encodable<std::remove_cvref_t<T>>
    auto set(std::string_view key, T&& value, const store_options& opts = {},
             Token&& token = {}) {
        return store(store_kind::set, key, detail::encode_value(std::forward<T>(value)), opts, std::forward<Token>(token));
    }
    // Stores only if the key is absent.
    template <class T,
              boost::asio::completion_token_for<void(error_code, bool)> Token = default_token>
        requires encodable<std::remove_cvref_t<T>>
    auto add(std::string_view key, T&& value, const store_options& opts = {},
             Token&& token = {}) {
        return store(store_kind::add, key, detail::encode_value(std::forward<T>(value)), opts, std::forward<Token>(token));
    }
    // Stores only if the key is present.
    template <class T,
              boost::asio::completion_token_for<void(error_code, bool)> Token = default_token>
        requires encodable<std::remove_cvref_t<T>>
    auto replace(std::string_view key, T&& value, const store_options& opts = {},
                 Token&& token = {}) {
        return store(store_kind::replace, key, detail::encode_value(std::forward<T>(value)), opts,
                     std::forward<Token>(token));
    }
    // Adds bytes after / before an existing value; its flags and ttl stay.
    template <class T,
              boost::asio::completion_token_for<void(error_code, bool)> Token = default_token>
        requires encodable<std::remove_cvref_t<T>>
    auto append(std::string_view key, T&& value, const store_options& opts = {},
                Token&& token = {}) {
        return store(store_kind::append, key, detail::encode_value(std::forward<T>(value)), opts,
                     std::forward<Token>(token));
    }
    template <class T,
              boost::asio::completion_token_for<void(error_code, bool)> Token = default_token>
        requires encodable<std::remove_cvref_t<T>>
    auto prepend(std::string_view key, T&& value, const store_options& opts = {},
                 Token&& token = {}) {
        return store(store_kind::prepend, key, detail::encode_value(std::forward<T>(value)), opts,
                     std::forward<Token>(token));
    }

    // Compare and swap: void(error_code, cas_result); cas_result::stored with noreply.
    template <class T,
              boost::asio::completion_token_for<void(error_code, cas_result)> Token =
                  default_token>
        requires encodable<std::remove_cvref_t<T>>
    auto cas(std::string_view key, T&& value, std::uint64_t cas_unique,
             const store_options& opts = {}, Token&& token = {}) {
        return boost::asio::async_initiate<Token, void(error_code, cas_result)>(
            [this](auto h, std::string_view k, encoded v, std::uint64_t c, store_options o) {
                start_cas(k, std::move(v), c, o, {std::move(h), executor_});
            },
            token, key, detail::encode_value(std::forward<T>(value)), cas_unique, opts);
    }

    // void(error_code, std::vector<std::string>): the keys that were not stored,
    // refused by the server's SERVER_ERROR (too large for its item size, out of memory)
    // included; none with noreply. One write carries them all.
    template <boost::asio::completion_token_for<void(error_code, std::vector<std::string>)> Token =
                  default_token>
    auto set_many(std::span<const key_value> items, const store_options& opts = {},
                  Token&& token = {}) {
        return boost::asio::async_initiate<Token, void(error_code, std::vector<std::string>)>(
            [this](auto h, std::span<const key_value> i, store_options o) {
                start_set_many(i, o, {std::move(h), executor_});
            },
            token, items, opts);
    }

    // ---- Other key commands ------------------------------------------------------

    // memcached's `delete`: void(error_code, bool), true when the key existed (always
    // true with noreply).
    template <boost::asio::completion_token_for<void(error_code, bool)> Token = default_token>
    auto remove(std::string_view key, const call_options& opts = {}, Token&& token = {}) {
        return boost::asio::async_initiate<Token, void(error_code, bool)>(
            [this](auto h, std::string_view k, call_options o) { start_remove(k, o, {std::move(h), executor_}); },
            token, key, opts);
    }

    // void(error_code, std::size_t): how many of the keys existed (0 with noreply).
    // The keys: any key_range, or a braced list, as for get_many.
    template <key_range Keys, boost::asio::completion_token_for<void(error_code, std::size_t)>
                                  Token = default_token>
    auto remove_many(Keys&& keys, const call_options& opts = {}, Token&& token = {}) {
        return remove_keys(detail::key_arg(keys), opts, std::forward<Token>(token));
    }
    template <
        boost::asio::completion_token_for<void(error_code, std::size_t)> Token = default_token>
    auto remove_many(braced_keys keys, const call_options& opts = {}, Token&& token = {}) {
        return remove_keys(detail::key_arg(keys), opts, std::forward<Token>(token));
    }

    // void(error_code, std::optional<std::uint64_t>): the new value; nullopt when the
    // key is missing (or with noreply). incr wraps at 2^64, decr stops at 0.
    template <boost::asio::completion_token_for<void(error_code, std::optional<std::uint64_t>)>
                  Token = default_token>
    auto incr(std::string_view key, std::uint64_t delta, const call_options& opts = {},
              Token&& token = {}) {
        return arithmetic(true, key, delta, opts, std::forward<Token>(token));
    }
    template <boost::asio::completion_token_for<void(error_code, std::optional<std::uint64_t>)>
                  Token = default_token>
    auto decr(std::string_view key, std::uint64_t delta, const call_options& opts = {},
              Token&& token = {}) {
        return arithmetic(false, key, delta, opts, std::forward<Token>(token));
    }

    // void(error_code, bool): true when the key existed and got the new ttl (always
    // true with noreply).
    template <boost::asio::completion_token_for<void(error_code, bool)> Token = default_token>
    auto touch(std::string_view key, std::chrono::seconds ttl, const call_options& opts = {},
               Token&& token = {}) {
        return boost::asio::async_initiate<Token, void(error_code, bool)>(
            [this](auto h, std::string_view k, std::chrono::seconds t, call_options o) {
                start_touch(k, t, o, {std::move(h), executor_});
            },
            token, key, ttl, opts);
    }

    // ---- Meta commands (meta.hpp; README "Meta commands and stampede protection") -----
    // Each sends one meta request with the flags its options ask for, routed by key as
    // get and set are. In wire_protocol::text mode, through twemproxy, or with an option
    // the server's version lacks (new_cas, drop_value: memcached 1.6.27; a server whose
    // version is unknown counts as lacking them), they fail with
    // error::unsupported_command before a byte is sent. Bad input is refused as for
    // every call, and so are options that make no sense together
    // (error::invalid_argument: ms invalidate without compare_cas, md stale_ttl without
    // mark_stale, ma initial != 0 without vivify_ttl). An error line from the server is
    // error::client_error / server_error / unknown_command; NS, EX and NF are results.

    // mg: void(error_code, std::optional<meta_item>), nullopt on a miss (EN). With
    // vivify_ttl a miss is a hit with an empty value and `win`. errors_as_misses applies
    // as to get.
    template <boost::asio::completion_token_for<void(error_code, std::optional<meta_item>)> Token =
                  default_token>
    auto meta_get(std::string_view key, const mg_options& opts = {}, Token&& token = {}) {
        return boost::asio::async_initiate<Token, void(error_code, std::optional<meta_item>)>(
            [this](auto h, std::string_view k, mg_options o) {
                start_meta_get(k, o, {std::move(h), executor_});
            },
            token, key, opts);
    }

    // ms: void(error_code, ms_result). The value is anything with a codec<T>, under the
    // lifetime rules of set().
    template <class T,
              boost::asio::completion_token_for<void(error_code, ms_result)> Token = default_token>
    requires encodable<std::remove_cvref_t<T>>
    auto meta_set(std::string_view key, T&& value, const ms_options& opts = {},
                  Token&& token = {}) {
        return boost::asio::async_initiate<Token, void(error_code, ms_result)>(
            [this](auto h, std::string_view k, encoded v, ms_options o) {
                start_meta_set(k, std::move(v), o, {std::move(h), executor_});
            },
            token, key, detail::encode_value(std::forward<T>(value)), opts);
    }

    // md: void(error_code, meta_status): ok when deleted (or marked stale).
    template <
        boost::asio::completion_token_for<void(error_code, meta_status)> Token = default_token>
    auto meta_delete(std::string_view key, const md_options& opts = {}, Token&& token = {}) {
        return boost::asio::async_initiate<Token, void(error_code, meta_status)>(
            [this](auto h, std::string_view k, md_options o) {
                start_meta_delete(k, o, {std::move(h), executor_});
            },
            token, key, opts);
    }

    // ma: void(error_code, ma_result): the new value when ok.
    template <boost::asio::completion_token_for<void(error_code, ma_result)> Token = default_token>
    auto meta_arithmetic(std::string_view key, const ma_options& opts = {}, Token&& token = {}) {
        return boost::asio::async_initiate<Token, void(error_code, ma_result)>(
            [this](auto h, std::string_view k, ma_options o) {
                start_meta_arithmetic(k, o, {std::move(h), executor_});
            },
            token, key, opts);
    }

    // ---- fetch: read through the cache with stampede protection -----------------------
    //
    //     std::string page = co_await mc.fetch("page:/home", {.ttl = 300s},
    //         [&]() -> asio::awaitable<std::string> { co_return co_await render_home(); });
    //
    // Returns the cached value decoded by codec<T>, where asio::awaitable<T> is what
    // `compute` (called with no arguments) returns. On a miss exactly one caller in the
    // whole tier computes and stores the value; the others wait for it. fetch_options
    // (meta.hpp) adds early recompute before expiry and serving a stale value while one
    // caller recomputes it; detail/fetch.hpp and the README say how.
    // - Completion: void(std::exception_ptr, T); with use_awaitable a failure is thrown:
    //   the compute's own exception (to its own caller only: the waiters then try again,
    //   and one of them computes), a boost::system::system_error for the cache's errors
    //   (error::timeout once fetch_options::timeout has passed, error::bad_value for a
    //   cached value codec<T> refuses). A computed value the cache cannot store is still
    //   returned.
    // - Concurrency: fetches of one key in this client share one request and one
    //   compute. Across clients and processes the meta flags N, R and W arbitrate; in
    //   text mode (no meta) only the first holds, and each process computes once.
    // - Cancellation: the token's cancellation slot (terminal) cancels the fetch, and the
    //   compute when it runs; its win is given up.
    // - Threads and lifetimes: the fetch runs on the client's executor, and so does the
    //   compute. The client must outlive it; `compute` is moved into it.
    template <class Compute,
              class T = typename detail::awaited<std::invoke_result_t<Compute&>>::type,
              boost::asio::completion_token_for<void(std::exception_ptr, T)> Token = default_token>
    requires decodable<T> && encodable<T>
    auto fetch(std::string_view key, const fetch_options& opts, Compute compute,
               Token&& token = {}) {
        return boost::asio::co_spawn(
            executor_,
            detail::fetch_value<T>(*this, flights_, std::string(key), opts, std::move(compute)),
            std::forward<Token>(token));
    }

    // ---- Server commands -----------------------------------------------------------

    // `stats [args]`: void(error_code, stats_list), name/value pairs in server order.
    // Also takes "settings", "items", "slabs", "sizes", "conns", "reset" (an empty
    // list), "detail on|off|dump", "sizes_enable|sizes_disable", "cachedump <c> <n>".
    // With several servers, name one in opts.server (else error::invalid_argument), or
    // use stats_each.
    template <boost::asio::completion_token_for<void(error_code, stats_list)> Token =
                  default_token>
    auto stats(std::string_view args = {}, Token&& token = {}) {
        return stats(args, call_options{}, std::forward<Token>(token));
    }
    template <boost::asio::completion_token_for<void(error_code, stats_list)> Token = default_token>
    auto stats(std::string_view args, const call_options& opts, Token&& token = {}) {
        return boost::asio::async_initiate<Token, void(error_code, stats_list)>(
            [this](auto h, std::string_view a, call_options o) {
                start_stats(a, o, {std::move(h), executor_});
            },
            token, args, opts);
    }
    // `stats [args]` on every server at once: void(error_code,
    // std::vector<server_result<stats_list>>), one entry per server in list order, each
    // with its own error; the call itself fails only for bad input.
    template <
        boost::asio::completion_token_for<void(error_code, std::vector<server_result<stats_list>>)>
            Token = default_token>
    auto stats_each(std::string_view args = {}, const call_options& opts = {}, Token&& token = {}) {
        return boost::asio::async_initiate<Token, void(error_code,
                                                       std::vector<server_result<stats_list>>)>(
            [this](auto h, std::string_view a, call_options o) {
                start_stats_each(a, o, {std::move(h), executor_});
            },
            token, args, opts);
    }

    // void(error_code, std::string): the server's version, e.g. "1.6.18". With several
    // servers, name one in opts.server, or use version_each.
    template <boost::asio::completion_token_for<void(error_code, std::string)> Token =
                  default_token>
    auto version(Token&& token = {}) {
        return version(call_options{}, std::forward<Token>(token));
    }
    template <
        boost::asio::completion_token_for<void(error_code, std::string)> Token = default_token>
    auto version(const call_options& opts, Token&& token = {}) {
        return boost::asio::async_initiate<Token, void(error_code, std::string)>(
            [this](auto h, call_options o) {
                start_version(o, {std::move(h), executor_});
            },
            token, opts);
    }
    // void(error_code, std::vector<server_result<std::string>>): every server's version.
    template <
        boost::asio::completion_token_for<void(error_code, std::vector<server_result<std::string>>)>
            Token = default_token>
    auto version_each(const call_options& opts = {}, Token&& token = {}) {
        return boost::asio::async_initiate<Token, void(error_code,
                                                       std::vector<server_result<std::string>>)>(
            [this](auto h, call_options o) {
                start_version_each(o, {std::move(h), executor_});
            },
            token, opts);
    }

    // flush_all, verbosity and cache_memlimit reach every server at once unless
    // opts.server names one; the call fails with the first server's error, if any.

    // Invalidates every item, now or after `delay`: void(error_code).
    template <boost::asio::completion_token_for<void(error_code)> Token = default_token>
    auto flush_all(std::chrono::seconds delay = {}, const call_options& opts = {},
                   Token&& token = {}) {
        return admin(admin_kind::flush_all, static_cast<std::uint64_t>(delay.count()), opts,
                     std::forward<Token>(token));
    }
    // void(error_code)
    template <boost::asio::completion_token_for<void(error_code)> Token = default_token>
    auto verbosity(std::uint32_t level, const call_options& opts = {}, Token&& token = {}) {
        return admin(admin_kind::verbosity, level, opts, std::forward<Token>(token));
    }
    // Sets the server's memory limit in megabytes: void(error_code); a refusal
    // (MEMLIMIT_TOO_SMALL, MEMLIMIT_ADJUST_FAILED) is error::server_error.
    template <boost::asio::completion_token_for<void(error_code)> Token = default_token>
    auto cache_memlimit(std::uint64_t megabytes, const call_options& opts = {},
                        Token&& token = {}) {
        return admin(admin_kind::cache_memlimit, megabytes, opts, std::forward<Token>(token));
    }
    // Asks the server to close this connection: void(error_code). The next operation
    // reconnects. With several servers, opts.server names which.
    template <boost::asio::completion_token_for<void(error_code)> Token = default_token>
    auto quit(Token&& token = {}) {
        return admin(admin_kind::quit, 0, {}, std::forward<Token>(token));
    }
    template <boost::asio::completion_token_for<void(error_code)> Token = default_token>
    auto quit(const call_options& opts, Token&& token = {}) {
        return admin(admin_kind::quit, 0, opts, std::forward<Token>(token));
    }
    // Stops the server (it must run with -A, else error::unknown_command):
    // void(error_code). With several servers, opts.server names which.
    template <boost::asio::completion_token_for<void(error_code)> Token = default_token>
    auto shutdown(bool graceful = false, Token&& token = {}) {
        return admin(admin_kind::shutdown, graceful ? 1 : 0, {}, std::forward<Token>(token));
    }
    template <boost::asio::completion_token_for<void(error_code)> Token = default_token>
    auto shutdown(bool graceful, const call_options& opts, Token&& token = {}) {
        return admin(admin_kind::shutdown, graceful ? 1 : 0, opts, std::forward<Token>(token));
    }

private:
    enum class retrieve_kind : std::uint8_t { get, gets, gat, gats };
    enum class store_kind : std::uint8_t { set, add, replace, append, prepend };
    enum class admin_kind : std::uint8_t { flush_all, verbosity, cache_memlimit, quit, shutdown };

    template <class Token>
    auto retrieve(retrieve_kind kind, std::string_view key, std::chrono::seconds ttl,
                  const call_options& opts, Token&& token) {
        return boost::asio::async_initiate<Token, void(error_code, std::optional<item>)>(
            [this](auto h, retrieve_kind kd, std::string_view k, std::chrono::seconds t,
                   call_options o) { start_retrieve(kd, k, t, o, {std::move(h), executor_}); },
            token, kind, key, ttl, opts);
    }
    // `keys` is what detail::key_arg made: a span of views, or a pointer to the
    // caller's range, whose views are gathered only once the operation starts.
    template <class Keys, class Token>
    auto many(bool with_cas, Keys keys, const call_options& opts, Token&& token) {
        return boost::asio::async_initiate<Token, void(error_code, std::vector<item>)>(
            [this](auto h, bool c, Keys k, call_options o) {
                detail::with_key_views(k, [&](std::span<const std::string_view> views) {
                    start_many(c, views, o, {std::move(h), executor_});
                });
            },
            token, with_cas, keys, opts);
    }
    template <class Keys, class Token>
    auto remove_keys(Keys keys, const call_options& opts, Token&& token) {
        return boost::asio::async_initiate<Token, void(error_code, std::size_t)>(
            [this](auto h, Keys k, call_options o) {
                detail::with_key_views(k, [&](std::span<const std::string_view> views) {
                    start_remove_many(views, o, {std::move(h), executor_});
                });
            },
            token, keys, opts);
    }
    template <class Token>
    auto store(store_kind kind, std::string_view key, encoded value, const store_options& opts,
               Token&& token) {
        return boost::asio::async_initiate<Token, void(error_code, bool)>(
            [this](auto h, store_kind kd, std::string_view k, encoded v, store_options o) {
                start_store(kd, k, std::move(v), o, {std::move(h), executor_});
            },
            token, kind, key, std::move(value), opts);
    }
    template <class Token>
    auto arithmetic(bool up, std::string_view key, std::uint64_t delta, const call_options& opts,
                    Token&& token) {
        return boost::asio::async_initiate<Token, void(error_code, std::optional<std::uint64_t>)>(
            [this](auto h, bool u, std::string_view k, std::uint64_t d, call_options o) {
                start_arithmetic(u, k, d, o, {std::move(h), executor_});
            },
            token, up, key, delta, opts);
    }
    template <class Token>
    auto admin(admin_kind kind, std::uint64_t arg, const call_options& opts, Token&& token) {
        return boost::asio::async_initiate<Token, void(error_code)>(
            [this](auto h, admin_kind kd, std::uint64_t a, call_options o) {
                start_admin(kd, a, o, {std::move(h), executor_});
            },
            token, kind, arg, opts);
    }

    // The compiled side (lib/client/*.cpp): validate, build the operation, hand it to
    // the connection.
    void start_retrieve(retrieve_kind kind, std::string_view key, std::chrono::seconds ttl,
                        const call_options& opts,
                        handler<void(error_code, std::optional<item>)> h);
    void start_get_into(std::string_view key, detail::sink_maker sink,
                        handler<void(error_code, std::optional<value_info>)> h);
    void start_many(bool with_cas, std::span<const std::string_view> keys,
                    const call_options& opts, handler<void(error_code, std::vector<item>)> h);
    void start_store(store_kind kind, std::string_view key, encoded value,
                     const store_options& opts, handler<void(error_code, bool)> h);
    void start_cas(std::string_view key, encoded value, std::uint64_t cas_unique,
                   const store_options& opts, handler<void(error_code, cas_result)> h);
    void start_set_many(std::span<const key_value> items, const store_options& opts,
                        handler<void(error_code, std::vector<std::string>)> h);
    void start_remove(std::string_view key, const call_options& opts,
                      handler<void(error_code, bool)> h);
    void start_remove_many(std::span<const std::string_view> keys, const call_options& opts,
                           handler<void(error_code, std::size_t)> h);
    void start_arithmetic(bool up, std::string_view key, std::uint64_t delta,
                          const call_options& opts,
                          handler<void(error_code, std::optional<std::uint64_t>)> h);
    void start_touch(std::string_view key, std::chrono::seconds ttl, const call_options& opts,
                     handler<void(error_code, bool)> h);
    void start_stats(std::string_view args, const call_options& opts,
                     handler<void(error_code, stats_list)> h);
    void start_version(const call_options& opts, handler<void(error_code, std::string)> h);
    void start_stats_each(std::string_view args, const call_options& opts,
                          handler<void(error_code, std::vector<server_result<stats_list>>)> h);
    void start_version_each(const call_options& opts,
                            handler<void(error_code, std::vector<server_result<std::string>>)> h);
    void start_retrieve_retrying(retrieve_kind kind, std::string_view key, std::chrono::seconds ttl,
                                 const call_options& opts,
                                 handler<void(error_code, std::optional<item>)> h,
                                 const std::shared_ptr<detail::connection>& first);
    [[nodiscard]] std::optional<std::size_t> addressed_server(const call_options& opts,
                                                              bool needs_one, error_code& ec) const;
    void start_admin(admin_kind kind, std::uint64_t arg, const call_options& opts,
                     handler<void(error_code)> h);
    void start_meta_get(std::string_view key, const mg_options& opts,
                        handler<void(error_code, std::optional<meta_item>)> h);
    void start_meta_set(std::string_view key, encoded value, const ms_options& opts,
                        handler<void(error_code, ms_result)> h);
    void start_meta_delete(std::string_view key, const md_options& opts,
                           handler<void(error_code, meta_status)> h);
    void start_meta_arithmetic(std::string_view key, const ma_options& opts,
                               handler<void(error_code, ma_result)> h);

    executor_type executor_;
    client_options options_;
    std::shared_ptr<detail::router> router_;
    // fetch's flights in this process, by key.
    std::shared_ptr<detail::flight_table> flights_ = std::make_shared<detail::flight_table>();
};

}  // namespace memcoro
