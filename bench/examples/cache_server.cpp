// cache_server: a line-protocol TCP server whose handler caches a slow lookup in memcached
// with client::fetch (read through the cache, with stampede protection).
//
//   cache_server --server 127.0.0.1:11211 [--port 7000]   serve until SIGINT or SIGTERM
//   cache_server --server 127.0.0.1:11211 --self-test     serve on an ephemeral port, talk
//                                                         to itself over TCP, exit 0 or 1
//
// Protocol, one line each way: "user <id>" -> "user <id>: <name> (lookups: <n>)", where n
// counts the slow lookups this process has made so far.
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <chrono>
#include <csignal>
#include <exception>
#include <iostream>
#include <memcoro/memcoro.hpp>
#include <string>
#include <string_view>

namespace asio = boost::asio;
using asio::ip::tcp;
using namespace std::chrono_literals;
using namespace asio::experimental::awaitable_operators;

// Stands for a database query: slow, and worth caching. One thread runs everything, so a
// plain counter will do.
int lookups = 0;

asio::awaitable<std::string> slow_lookup(std::string id) {
    ++lookups;
    asio::steady_timer delay(co_await asio::this_coro::executor, 200ms);
    co_await delay.async_wait(asio::use_awaitable);
    co_return "name-of-" + id;
}

asio::awaitable<void> session(tcp::socket socket, memcoro::client& mc) {
    std::string in;
    for (;;) {
        auto [ec, n] = co_await asio::async_read_until(socket, asio::dynamic_buffer(in), '\n',
                                                       asio::as_tuple(asio::use_awaitable));
        if (ec) co_return;  // the peer hung up
        const std::string line = in.substr(0, n - 1);
        in.erase(0, n);

        std::string reply;
        if (line.starts_with("user ")) {
            const std::string id = line.substr(5);
            try {
                // A hit costs one round trip to memcached. On a miss, one caller runs the
                // lookup and stores its result; every other caller of this key (in this
                // process or another one sharing the cache) waits for that value instead
                // of querying the backend too. The lambda is named, not written inside the
                // co_await: g++ 12 frees the captures of a lambda temporary in a co_await
                // expression wrongly (a compiler bug).
                auto lookup = [id] { return slow_lookup(id); };
                const std::string name = co_await mc.fetch("user:" + id, {.ttl = 60s}, lookup);
                reply = "user " + id + ": " + name + " (lookups: " + std::to_string(lookups) + ")";
            } catch (const boost::system::system_error& e) {
                reply = "error: " + e.code().message();  // a bad key, memcached unreachable
            }
        } else {
            reply = "error: expected \"user <id>\"";
        }
        reply += '\n';
        co_await asio::async_write(socket, asio::buffer(reply), asio::use_awaitable);
    }
}

asio::awaitable<void> listen(tcp::acceptor& acceptor, memcoro::client& mc) {
    for (;;) {
        // One coroutine per connection; they share the client and its pipelined connection.
        tcp::socket socket = co_await acceptor.async_accept(asio::use_awaitable);
        asio::co_spawn(acceptor.get_executor(), session(std::move(socket), mc), asio::detached);
    }
}

// The self-test's client side: one connection, one line out, one line back.
asio::awaitable<std::string> ask(tcp::endpoint server, std::string line) {
    tcp::socket socket(co_await asio::this_coro::executor);
    co_await socket.async_connect(server, asio::use_awaitable);
    co_await asio::async_write(socket, asio::buffer(line + '\n'), asio::use_awaitable);
    std::string reply;
    co_await asio::async_read_until(socket, asio::dynamic_buffer(reply), '\n', asio::use_awaitable);
    reply.pop_back();
    std::cout << line << " -> " << reply << '\n';
    co_return reply;
}

asio::awaitable<bool> self_test(tcp::endpoint server) {
    // Three clients at once ask for a user nobody has cached yet: one lookup serves them all.
    auto [a, b, c] =
        co_await (ask(server, "user 42") && ask(server, "user 42") && ask(server, "user 42"));
    const std::string first = "user 42: name-of-42 (lookups: 1)";
    const std::string seven = co_await ask(server, "user 7");
    const std::string again = co_await ask(server, "user 42");       // cached now
    const std::string bad = co_await ask(server, "user two words");  // not a valid key
    const bool ok = a == first && b == first && c == first &&
                    seven == "user 7: name-of-7 (lookups: 2)" &&
                    again == "user 42: name-of-42 (lookups: 2)" && bad.starts_with("error: ");
    co_return ok;
}

int main(int argc, char** argv) {
    std::string server = "127.0.0.1:11211";
    unsigned short port = 0;  // 0: an ephemeral port, printed below
    bool testing = false;
    for (int i = 1; i < argc; ++i) {
        const std::string_view arg = argv[i];
        if (arg == "--server" && i + 1 < argc) {
            server = argv[++i];
        } else if (arg == "--port" && i + 1 < argc) {
            port = static_cast<unsigned short>(std::stoul(argv[++i]));
        } else if (arg == "--self-test") {
            testing = true;
        } else {
            std::cerr << "usage: " << argv[0] << " [--server HOST:PORT] [--port N] [--self-test]\n";
            return 2;
        }
    }

    asio::io_context ioc;
    // The self-test needs a cold cache: a prefix of its own keeps it apart from the keys of
    // earlier runs on the same memcached.
    const auto run_id = std::chrono::system_clock::now().time_since_epoch().count();
    memcoro::client mc{
        ioc.get_executor(),
        {.server = server,
         .key_prefix = testing ? "cache_server:" + std::to_string(run_id) + ':' : "cache_server:"}};
    tcp::acceptor acceptor(ioc, {asio::ip::address_v4::loopback(), port});
    std::cout << "listening on " << acceptor.local_endpoint() << std::endl;
    asio::co_spawn(ioc, listen(acceptor, mc), asio::detached);

    // Stopping the io_context makes run() return at once; the coroutines still waiting
    // (the listener, open sessions) are destroyed with it.
    asio::signal_set signals(ioc, SIGINT, SIGTERM);
    signals.async_wait([&](boost::system::error_code, int) { ioc.stop(); });

    int status = 0;
    if (testing) {
        asio::co_spawn(
            ioc, self_test(acceptor.local_endpoint()), [&](std::exception_ptr e, bool ok) {
                try {
                    if (e) std::rethrow_exception(e);
                } catch (const std::exception& x) {
                    std::cout << "error: " << x.what() << '\n';
                }
                status = !e && ok ? 0 : 1;
                std::cout << (status == 0 ? "self-test passed" : "self-test FAILED") << '\n';
                ioc.stop();
            });
    }
    ioc.run();
    return status;
}
