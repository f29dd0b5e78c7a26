// The example in README.md, kept here so that it is compiled with the library and
// cannot drift away from the API. It expects a memcached on 127.0.0.1:11211.
#include <memcoro/memcoro.hpp>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>

#include <chrono>
#include <exception>
#include <iostream>
#include <optional>

namespace asio = boost::asio;
using namespace std::chrono_literals;

asio::awaitable<void> handler(memcoro::client& mc) {
    // A failure (bad input, a timeout, a lost connection) is thrown at the co_await as a
    // boost::system::system_error. A miss or a store the server refused is a result.
    bool stored = co_await mc.set("greeting", "hello", {.ttl = 60s, .flags = 7});
    std::optional<memcoro::item> it = co_await mc.get("greeting");
    std::cout << "stored: " << stored << ", read back: " << (it ? it->value() : "(a miss)")
              << '\n';

    // With as_tuple the error comes back as a value instead.
    auto [ec, visits] = co_await mc.incr("visits", 1, {}, asio::as_tuple(asio::use_awaitable));
    if (ec) {
        std::cout << "incr failed: " << ec.message() << '\n';
    } else if (visits) {
        std::cout << "visits: " << *visits << '\n';
    } else {
        co_await mc.add("visits", 1);  // incr needs an existing key: this is the first visit
        std::cout << "visits: 1\n";
    }
}

int main() {
    asio::io_context ioc;
    memcoro::client mc{ioc.get_executor(),
                       memcoro::client_options{.server = "127.0.0.1:11211", .op_timeout = 250ms}};
    int status = 0;
    asio::co_spawn(ioc, handler(mc), [&](std::exception_ptr e) {
        if (e) {
            try {
                std::rethrow_exception(e);
            } catch (const std::exception& x) {
                std::cerr << "error: " << x.what() << '\n';
                status = 1;
            }
        }
        mc.close();  // ends the client's background work (reads, timers): run() returns
    });
    ioc.run();
    return status;
}
