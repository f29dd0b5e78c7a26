// threaded_server: a line-protocol TCP server on a pool of threads that run one io_context
// and share one memcoro::client. It counts page hits in memcached.
//
//   threaded_server --server 127.0.0.1:11211 [--port 7000] [--threads 4]   serve until SIGINT
//   threaded_server --server 127.0.0.1:11211 --self-test   serve on an ephemeral port, hit it
//                                                          from 8 client threads, exit 0 or 1
//
// Protocol, one line each way: "hit <page>" -> "<page> <hits so far, this one included>",
// "count <page>" -> "<page> <hits so far>".
#include <algorithm>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/write.hpp>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <iostream>
#include <memcoro/memcoro.hpp>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace asio = boost::asio;
using asio::ip::tcp;
using namespace std::chrono_literals;

// incr fails on a missing key, so the first hit creates the counter with add. When two
// threads (or two processes) both miss, add lets only one of them create it, and the
// other goes round again and counts on top of it.
asio::awaitable<std::uint64_t> hit(memcoro::client& mc, const std::string& key) {
    for (;;) {
        if (auto n = co_await mc.incr(key, 1)) co_return *n;
        if (co_await mc.add(key, 1)) co_return 1;
    }
}

asio::awaitable<void> session(tcp::socket socket, memcoro::client& mc) {
    std::string in;
    try {
        for (;;) {
            const std::size_t n = co_await asio::async_read_until(socket, asio::dynamic_buffer(in),
                                                                  '\n', asio::use_awaitable);
            const std::string line = in.substr(0, n - 1);
            in.erase(0, n);
            std::string reply;
            if (line.starts_with("hit ")) {
                reply = line.substr(4) + ' ' + std::to_string(co_await hit(mc, line.substr(4)));
            } else if (line.starts_with("count ")) {
                // get<T> decodes the value with codec<T>: integers are stored as decimal text.
                auto count = co_await mc.get<std::uint64_t>(line.substr(6));
                reply = line.substr(6) + ' ' + std::to_string(count.value_or(0));
            } else {
                reply = "error: expected \"hit <page>\" or \"count <page>\"";
            }
            reply += '\n';
            co_await asio::async_write(socket, asio::buffer(reply), asio::use_awaitable);
        }
    } catch (const std::exception&) {
        // The peer hung up, or memcached failed: this session ends, the others go on.
    }
}

asio::awaitable<void> listen(tcp::acceptor& acceptor, asio::io_context& ioc, memcoro::client& mc) {
    for (;;) {
        // Each connection gets a strand of its own: its coroutine runs on any thread of
        // the pool, one step at a time, while other connections run in parallel.
        tcp::socket socket =
            co_await acceptor.async_accept(asio::make_strand(ioc), asio::use_awaitable);
        auto ex = socket.get_executor();
        asio::co_spawn(ex, session(std::move(socket), mc), asio::detached);
    }
}

// The self-test's clients are plain threads with blocking sockets: 8 of them hit one page
// 25 times each, at once. Every reply must be a different count, 1 to 200.
bool self_test(tcp::endpoint server, const std::string& page) {
    constexpr std::size_t clients = 8;
    constexpr std::size_t hits = 25;
    std::vector<std::vector<std::uint64_t>> seen(clients);
    std::vector<std::thread> threads;
    for (std::size_t c = 0; c < clients; ++c) {
        threads.emplace_back([&, c] {
            tcp::iostream s(server);
            s.expires_after(10s);
            std::string reply;
            for (std::size_t i = 0; i < hits; ++i) {
                s << "hit " << page << '\n' << std::flush;
                if (!std::getline(s, reply) || !reply.starts_with(page + ' ')) break;
                seen[c].push_back(std::stoull(reply.substr(page.size() + 1)));
            }
        });
    }
    for (auto& t : threads) t.join();

    std::vector<std::uint64_t> all;
    for (const auto& v : seen) all.insert(all.end(), v.begin(), v.end());
    std::sort(all.begin(), all.end());
    bool ok = all.size() == clients * hits;
    for (std::size_t i = 0; ok && i < all.size(); ++i) ok = all[i] == i + 1;
    std::cout << all.size() << " hits from " << clients << " threads, counts "
              << (ok ? "1 to 200, each once" : "WRONG") << '\n';

    tcp::iostream s(server);
    std::string reply;
    s << "count " << page << '\n' << std::flush;
    std::getline(s, reply);
    std::cout << "count " << page << " -> " << reply << '\n';
    return ok && reply == page + " 200";
}

int main(int argc, char** argv) {
    std::string server = "127.0.0.1:11211";
    unsigned short port = 0;  // 0: an ephemeral port, printed below
    unsigned threads = 4;
    bool testing = false;
    for (int i = 1; i < argc; ++i) {
        const std::string_view arg = argv[i];
        if (arg == "--server" && i + 1 < argc) {
            server = argv[++i];
        } else if (arg == "--port" && i + 1 < argc) {
            port = static_cast<unsigned short>(std::stoul(argv[++i]));
        } else if (arg == "--threads" && i + 1 < argc) {
            threads = static_cast<unsigned>(std::max(1UL, std::stoul(argv[++i])));
        } else if (arg == "--self-test") {
            testing = true;
        } else {
            std::cerr << "usage: " << argv[0]
                      << " [--server HOST:PORT] [--port N] [--threads N] [--self-test]\n";
            return 2;
        }
    }

    asio::io_context ioc;
    // One client for every thread: operations may start on any thread at once. Two
    // connections, so that the threads do not all queue on one connection's lock.
    memcoro::client mc{ioc.get_executor(), {.server = server, .connections_per_server = 2}};
    tcp::acceptor acceptor(ioc, {asio::ip::address_v4::loopback(), port});
    const tcp::endpoint local = acceptor.local_endpoint();
    std::cout << "listening on " << local << ", " << threads << " threads" << std::endl;
    asio::co_spawn(ioc, listen(acceptor, ioc, mc), asio::detached);

    // Stopping the io_context makes every thread's run() return; the coroutines still
    // waiting (the listener, open sessions) are destroyed with it.
    asio::signal_set signals(ioc, SIGINT, SIGTERM);
    signals.async_wait([&](boost::system::error_code, int) { ioc.stop(); });

    std::vector<std::thread> pool;  // asio::thread_pool would do the same
    for (unsigned i = 0; i < threads; ++i) pool.emplace_back([&] { ioc.run(); });

    int status = 0;
    if (testing) {
        // A page of this run's own: earlier runs on the same memcached left theirs at 200.
        const auto run_id = std::chrono::system_clock::now().time_since_epoch().count();
        status = self_test(local, "page-" + std::to_string(run_id)) ? 0 : 1;
        std::cout << (status == 0 ? "self-test passed" : "self-test FAILED") << '\n';
        ioc.stop();
    }
    for (auto& t : pool) t.join();
    return status;
}
