// client::fetch's coroutine: read through the cache, compute on a miss, with stampede
// protection (README "Meta commands and stampede protection" walks through it).
//
// Across processes it rests on three meta flags of one `mg` (protocol.md 3.3):
// - N<t> (vivify): a miss creates an empty placeholder and hands this caller `win`; every
//   later reader sees `won_by_other` until the winner stores the value over it;
// - R<t> (recache): once the remaining ttl is below t, one reader gets `win` while the
//   others keep reading the value;
// - a stale item (meta_delete mark_stale) hands `win` to its first reader.
// The winner computes and stores with ms C<cas it read>, so a slow, older compute never
// overwrites a newer value. Within one process, fetches of a key share one flight
// (single_flight.hpp).
//
// A placeholder is told from a value by being empty with client flags 0: a cached empty
// value stored with flags 0 looks like one, and its readers wait for the recompute that
// `won_by_other` says is under way instead of taking it.
#pragma once

#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/deferred.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/experimental/parallel_group.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/system/system_error.hpp>
#include <chrono>
#include <exception>
#include <memcoro/codec.hpp>
#include <memcoro/detail/single_flight.hpp>
#include <memcoro/error.hpp>
#include <memcoro/meta.hpp>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <variant>

namespace memcoro::detail {

// T of a compute's asio::awaitable<T>.
template <class Awaitable>
struct awaited;
template <class T>
struct awaited<boost::asio::awaitable<T, boost::asio::any_io_executor>> {
    using type = T;
};

template <class T>
T decode_or_throw(std::string_view bytes, std::uint32_t flags) {
    T value{};
    if (!codec<T>::decode(bytes, flags, value)) {
        throw boost::system::system_error(make_error_code(error::bad_value));
    }
    return value;
}

// The fetch of one caller: its options turned into the requests it sends.
template <class Client>
class fetch_plan {
  public:
    using clock = std::chrono::steady_clock;

    fetch_plan(Client& mc, std::string key, const fetch_options& opts)
        : mc_(mc),
          key_(std::move(key)),
          opts_(opts),
          deadline_(clock::now() + opts.timeout),
          encoding_(opts.key_encoding.value_or(mc.options().key_encoding)),
          flight_key_((encoding_ == key_encoding::base64 ? 'b' : 't') + key_) {}

    [[nodiscard]] const std::string& key() const noexcept { return key_; }
    // The flight table's key: the encoding is part of what names an item.
    [[nodiscard]] const std::string& flight_key() const noexcept { return flight_key_; }
    [[nodiscard]] clock::time_point deadline() const noexcept { return deadline_; }

    // mg v c t N<hold> [R<stale_for + recache_before>]
    [[nodiscard]] mg_options read_options() const {
        mg_options o;
        o.cas = true;
        o.ttl = true;
        o.vivify_ttl = win_hold();
        const auto early = opts_.stale_for + opts_.recache_before;
        if (opts_.ttl.count() > 0 && early.count() > 0) o.recache_below = early;
        o.key_encoding = encoding_;
        return o;
    }

    // The item lives ttl + stale_for: the stale part is served while one caller recomputes.
    [[nodiscard]] ms_options store_options(std::uint32_t codec_flags,
                                           std::optional<std::uint64_t> over_cas) const {
        ms_options o;
        o.ttl = opts_.ttl.count() > 0 ? opts_.ttl + opts_.stale_for : std::chrono::seconds{0};
        o.flags = opts_.flags.value_or(codec_flags);
        o.key_encoding = encoding_;
        if (over_cas) {
            o.compare_cas = over_cas;
        } else {
            o.mode = set_mode::add;  // nothing to replace: never overwrite a newer value
        }
        return o;
    }

    // How long memcached holds a win: the fetch's timeout in whole seconds, plus one.
    [[nodiscard]] std::chrono::seconds win_hold() const {
        return std::chrono::ceil<std::chrono::seconds>(opts_.timeout) + std::chrono::seconds{1};
    }

    [[nodiscard]] static bool is_placeholder(const meta_item& it) noexcept {
        return !it.stale && it.value().empty() && it.flags() == 0;
    }

    // Gives up a win without waiting for the answer (the caller is leaving with an
    // error): a placeholder is deleted if it is still ours; a stale or recaching value
    // is marked stale again, which hands the win to its next reader.
    void give_up(const meta_item& won) const {
        md_options o;
        o.compare_cas = won.cas();
        o.mark_stale = !is_placeholder(won);
        o.key_encoding = encoding_;
        mc_.meta_delete(key_, o, boost::asio::detached);
    }

    Client& client() const noexcept { return mc_; }
    [[nodiscard]] bool base64_key() const noexcept { return encoding_ == key_encoding::base64; }

  private:
    Client& mc_;
    std::string key_;
    fetch_options opts_;
    clock::time_point deadline_;
    key_encoding encoding_;
    std::string flight_key_;  // computed once: a retrying waiter joins again
};

[[noreturn]] inline void throw_error(error e) {
    throw boost::system::system_error(make_error_code(e));
}

// Runs the compute, cancelled at the plan's deadline. (Not awaitable_operators' ||,
// which waits for a success: a compute that throws would wait for the deadline.) A
// compute that ignores cancellation still holds up only its own caller.
template <class T, class Client, class Compute>
boost::asio::awaitable<T> compute_in_time(const fetch_plan<Client>& plan, Compute& compute) {
    namespace asio = boost::asio;
    const auto ex = co_await asio::this_coro::executor;
    asio::steady_timer timer(ex, plan.deadline());
    auto [order, failure, value, timer_ec] =
        co_await asio::experimental::make_parallel_group(
            asio::co_spawn(ex, compute(), asio::deferred), timer.async_wait(asio::deferred))
            .async_wait(asio::experimental::wait_for_one(), asio::use_awaitable);
    (void)timer_ec;
    if (order[0] != 0) throw_error(error::timeout);
    if (failure) std::rethrow_exception(failure);
    co_return std::move(value);
}

// Stores what the winner computed over the item it won; a placeholder that expired
// meanwhile (NF) is added afresh. A store that fails gives the win up: the value is still
// the caller's, and nobody waits for a placeholder that will not be filled.
template <class Client>
boost::asio::awaitable<void> store_won(const fetch_plan<Client>& plan, const encoded& value,
                                       const meta_item* won) {
    auto& mc = plan.client();
    using boost::asio::as_tuple;
    using boost::asio::use_awaitable;
    std::optional<std::uint64_t> over;
    if (won != nullptr) over = won->cas();
    // The flags go in the options (store_options); the bytes are the encoded value's.
    auto [ec, r] =
        co_await mc.meta_set(plan.key(), value.bytes(), plan.store_options(value.flags(), over),
                             as_tuple(use_awaitable));
    if (!ec && r.status == meta_status::not_found && over) {
        std::tie(ec, r) = co_await mc.meta_set(plan.key(), value.bytes(),
                                               plan.store_options(value.flags(), std::nullopt),
                                               as_tuple(use_awaitable));
    }
    if (ec && won != nullptr) plan.give_up(*won);
}

// Without meta (a text-only server or proxy): single flight in this process only.
template <class T, class Client, class Compute>
boost::asio::awaitable<T> lead_text(const fetch_plan<Client>& plan, Compute& compute,
                                    flight_lead& lead) {
    auto& mc = plan.client();
    // A classic get sends keys as text: a base64 key needs meta, which this peer lacks.
    if (plan.base64_key()) throw_error(error::unsupported_command);
    auto hit = co_await mc.get(plan.key(), boost::asio::use_awaitable);
    if (hit) {
        lead.publish(hit->value(), hit->flags());
        co_return decode_or_throw<T>(hit->value(), hit->flags());
    }
    T value = co_await compute_in_time<T>(plan, compute);
    const encoded e = codec<T>::encode(value);
    lead.publish(e.bytes(), e.flags());
    const auto so = plan.store_options(e.flags(), std::nullopt);
    (void)co_await mc.set(plan.key(), e.bytes(), {.ttl = so.ttl, .flags = so.flags},
                          boost::asio::as_tuple(boost::asio::use_awaitable));
    co_return value;
}

// The leader of this process's flight for the key.
template <class T, class Client, class Compute>
boost::asio::awaitable<T> lead(const fetch_plan<Client>& plan, Compute& compute,
                               flight_lead& lead) {
    auto& mc = plan.client();
    using boost::asio::as_tuple;
    using boost::asio::use_awaitable;
    auto delay = std::chrono::milliseconds{2};
    for (;;) {
        auto [ec, hit] =
            co_await mc.meta_get(plan.key(), plan.read_options(), as_tuple(use_awaitable));
        if (ec == error::unsupported_command) {
            co_return co_await lead_text<T>(plan, compute, lead);
        }
        if (ec) throw boost::system::system_error(ec);
        if (!hit || hit->win) {
            // A miss with no placeholder (errors_as_misses turned an error into one), or a
            // win: this caller computes. A value already there (stale, or about to expire)
            // is what the others in this process read meanwhile.
            const bool current = hit && !fetch_plan<Client>::is_placeholder(*hit);
            if (current) lead.publish(hit->value(), hit->flags());
            std::optional<T> value;
            try {
                if (std::chrono::steady_clock::now() >= plan.deadline()) {
                    throw_error(error::timeout);
                }
                value.emplace(co_await compute_in_time<T>(plan, compute));
            } catch (...) {
                if (hit) plan.give_up(*hit);
                throw;
            }
            const encoded e = codec<T>::encode(*value);
            lead.publish(e.bytes(), e.flags());
            co_await store_won(plan, e, hit ? &*hit : nullptr);
            co_return std::move(*value);
        }
        if (!fetch_plan<Client>::is_placeholder(*hit)) {
            // A value, perhaps stale or being recomputed by another caller: it is served.
            lead.publish(hit->value(), hit->flags());
            co_return decode_or_throw<T>(hit->value(), hit->flags());
        }
        // Another caller is computing it: read again shortly, until the deadline.
        const auto now = std::chrono::steady_clock::now();
        if (now + delay > plan.deadline()) throw_error(error::timeout);
        boost::asio::steady_timer timer(co_await boost::asio::this_coro::executor, delay);
        co_await timer.async_wait(use_awaitable);
        delay = std::min(delay * 2, std::chrono::milliseconds{100});
    }
}

// One caller's fetch: it leads its process's flight for the key, or waits for that
// flight's value; if the leader fails, the waiters try again and one of them leads.
template <class T, class Client, class Compute>
boost::asio::awaitable<T> fetch_value(Client& mc, std::shared_ptr<flight_table> table,
                                      std::string key, fetch_options opts, Compute compute) {
    using namespace boost::asio::experimental::awaitable_operators;
    // memcached reads a ttl above 30 days as an absolute time: ttl + stale_for must stay
    // relative, or the item would expire at once.
    constexpr std::chrono::seconds relative_limit{60 * 60 * 24 * 30};
    if (opts.ttl.count() < 0 || opts.recache_before.count() < 0 || opts.stale_for.count() < 0 ||
        opts.ttl + opts.stale_for > relative_limit || opts.timeout.count() <= 0) {
        throw_error(error::invalid_argument);
    }
    const fetch_plan<Client> plan(mc, std::move(key), opts);
    const auto ex = co_await boost::asio::this_coro::executor;
    for (;;) {
        // A waiter whose leader failed tries again, unless its own time is up.
        if (std::chrono::steady_clock::now() >= plan.deadline()) throw_error(error::timeout);
        auto [f, leads] = table->join(plan.flight_key(), ex);
        if (leads) {
            flight_lead hold(*table, plan.flight_key(), std::move(f));
            try {
                co_return co_await lead<T>(plan, compute, hold);
            } catch (const boost::system::system_error& e) {
                // Its waiters joined at about the same time and have about as little time
                // left: they time out with it, rather than each start a compute that has
                // no time to finish. After any other failure they try again.
                if (e.code() == error::timeout) hold.fail(true);
                throw;
            }
        }
        boost::asio::steady_timer timer(ex, plan.deadline());
        auto woken = co_await (f->async_wait(boost::asio::as_tuple(boost::asio::use_awaitable)) ||
                               timer.async_wait(boost::asio::use_awaitable));
        if (woken.index() == 1 || f->timed_out()) throw_error(error::timeout);
        if (auto v = f->outcome()) co_return decode_or_throw<T>(v->bytes, v->flags);
    }
}

}  // namespace memcoro::detail
