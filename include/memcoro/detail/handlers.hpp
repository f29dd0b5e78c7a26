// Completion handler adapters used by client.hpp's templates.
#pragma once

#include <memcoro/codec.hpp>
#include <memcoro/error.hpp>
#include <memcoro/item.hpp>

#include <boost/asio/any_completion_executor.hpp>
#include <boost/asio/any_completion_handler.hpp>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/associated_executor.hpp>
#include <boost/asio/associator.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>

#include <exception>

#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

namespace memcoro::detail {

// Turns the item a get produced into a T with codec<T>, then calls the user's handler.
// Its executor, allocator and cancellation slot are the user handler's (see the
// associator below), so cancellation and completion behave exactly as for get().
template <class T, class Handler>
struct decoding_handler {
    Handler handler;

    void operator()(boost::system::error_code ec, std::optional<item> it) {
        if (ec || !it) {
            std::move(handler)(ec, std::optional<T>{});
            return;
        }
        T value{};
        if (!codec<T>::decode(it->value(), it->flags(), value)) {
            std::move(handler)(make_error_code(error::bad_value), std::optional<T>{});
            return;
        }
        std::move(handler)(boost::system::error_code{}, std::optional<T>(std::move(value)));
    }
};

// Calls a handler once its executor runs this thread. The cancellation handler the
// operation installed in the handler's slot goes first: the operation is over, and a
// cancellation emitted from now on must not reach it.
template <class Sig, class... Args>
void call_handler(boost::asio::any_completion_handler<Sig>& handler, Args&&... args) {
    if (auto slot = handler.get_cancellation_slot(); slot.is_connected()) slot.clear();
    std::move(handler)(std::forward<Args>(args)...);
}

// A type-erased completion handler together with the executor it must complete on,
// found while the handler's type is still known. Held as an any_io_executor (which
// io_context executors and strands fit in without allocating), it spares the
// any_completion_executor that asking the type-erased handler would build, and
// allocate, at every completion. Handlers whose executor is of another kind keep
// asking the handler.
template <class Sig>
struct completion {
    template <class Handler>
    completion(Handler&& h, const boost::asio::any_io_executor& fallback)
        : executor(executor_of(h, fallback)), handler(std::forward<Handler>(h)) {
        if (!executor) other_executor = boost::asio::get_associated_executor(handler, fallback);
    }

    // Calls the handler right here, when asio::dispatch would have: its executor is an
    // io_context's and this thread is running that io_context. That spares wrapping the
    // handler and its arguments in a function object for a type-erased execute (a move
    // of each argument, and an item is up to 200 bytes). Returns false, touching
    // nothing, when dispatch would not run it inline.
    template <class... Args>
    bool run_here_if_dispatchable(Args&&... args) {
        if (!executor) return false;
        const auto* ex = executor->template target<boost::asio::io_context::executor_type>();
        if (ex == nullptr || !ex->running_in_this_thread()) return false;
        try {
            call_handler(handler, std::forward<Args>(args)...);
        } catch (...) {
            // io_context lets an exception from a handler it dispatched leave through
            // run(), after the handler that dispatched it has finished: so does this, and
            // the connection's own state is left whole.
            boost::asio::post(*ex, [e = std::current_exception()] { std::rethrow_exception(e); });
        }
        return true;
    }

    std::optional<boost::asio::any_io_executor> executor;
    // The handler's executor when it is of a kind any_io_executor cannot hold.
    std::optional<boost::asio::any_completion_executor> other_executor;
    boost::asio::any_completion_handler<Sig> handler;

private:
    template <class Handler>
    static std::optional<boost::asio::any_io_executor> executor_of(
        const Handler& h, const boost::asio::any_io_executor& fallback) {
        auto ex = boost::asio::get_associated_executor(h, fallback);
        if constexpr (std::is_convertible_v<decltype(ex), boost::asio::any_io_executor>) {
            return boost::asio::any_io_executor(std::move(ex));
        } else {
            return std::nullopt;
        }
    }
};

// The bytes to store for `value`. An lvalue's bytes are referenced where they are; an
// rvalue is about to disappear, so its bytes are moved (std::string) or copied into
// the encoded object, unless it is itself only a view of bytes that live elsewhere.
template <class T>
encoded encode_value(T&& value) {
    using V = std::remove_cvref_t<T>;
    constexpr bool is_view = std::is_same_v<V, std::string_view> || std::is_pointer_v<V> ||
                             std::is_same_v<V, std::span<const std::byte>>;
    if constexpr (std::is_rvalue_reference_v<T&&> && !is_view) {
        if constexpr (std::is_same_v<V, std::string>) {
            return encoded::own(std::move(value));
        } else {
            return codec<V>::encode(value).owning();
        }
    } else {
        return codec<V>::encode(value);
    }
}

}  // namespace memcoro::detail

template <template <class, class> class Associator, class T, class Handler, class Default>
struct boost::asio::associator<Associator, memcoro::detail::decoding_handler<T, Handler>,
                               Default> : Associator<Handler, Default> {
    static typename Associator<Handler, Default>::type get(
        const memcoro::detail::decoding_handler<T, Handler>& h) noexcept {
        return Associator<Handler, Default>::get(h.handler);
    }
    static auto get(const memcoro::detail::decoding_handler<T, Handler>& h,
                    const Default& d) noexcept -> decltype(Associator<Handler, Default>::get(h.handler, d)) {
        return Associator<Handler, Default>::get(h.handler, d);
    }
};
