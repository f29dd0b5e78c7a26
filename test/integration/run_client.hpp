// Runs a test body as a coroutine against a memcoro::client on its own io_context.
#pragma once

#include <memcoro/memcoro.hpp>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>

#include <chrono>
#include <exception>
#include <stdexcept>
#include <string>
#include <utility>

namespace memcoro::test {

namespace asio = boost::asio;

// A name for doctest's CAPTURE (which prints a char pointer as an address).
inline std::string name_of(wire_protocol p) {
    switch (p) {
        case wire_protocol::automatic: return "automatic";
        case wire_protocol::meta: return "meta";
        case wire_protocol::text: return "text";
        case wire_protocol::twemproxy: return "twemproxy";
    }
    return "?";
}

// Runs `body(client&)` (returning asio::awaitable<void>) on `ioc` to completion, then
// closes the client and stops `ioc`: a scripted server running on the same io_context
// would otherwise accept forever. What is left is destroyed with the io_context.
// Rethrows what the body threw (a failed REQUIRE included). Fails if it takes longer
// than `limit`.
template <class Body>
void run_client_on(asio::io_context& ioc, const client_options& options, Body body,
                   std::chrono::seconds limit = std::chrono::seconds(60)) {
    client mc(ioc.get_executor(), options);
    std::exception_ptr failure;
    bool done = false;
    asio::co_spawn(
        ioc, [&]() -> asio::awaitable<void> { co_await body(mc); },
        [&](std::exception_ptr e) {
            failure = e;
            done = true;
            mc.close();
            ioc.stop();
        });
    ioc.run_for(limit);
    if (failure) std::rethrow_exception(failure);
    if (!done) throw std::runtime_error("test body did not finish in time");
}

// The same on an io_context of its own.
template <class Body>
void run_client(const client_options& options, Body body,
                std::chrono::seconds limit = std::chrono::seconds(60)) {
    asio::io_context ioc;
    run_client_on(ioc, options, std::move(body), limit);
}

}  // namespace memcoro::test
