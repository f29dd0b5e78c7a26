// Completion handler adapters used by client.hpp's templates.
#pragma once

#include <memcoro/codec.hpp>
#include <memcoro/error.hpp>
#include <memcoro/item.hpp>

#include <boost/asio/associator.hpp>

#include <optional>
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
