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
#include <span>
#include <string>
#include <string_view>

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

// README "Many servers", compiled too (not run: its servers are examples).
asio::awaitable<void> many_servers(asio::any_io_executor ex, std::string_view profile,
                                   std::span<const std::string_view> keys) {
    memcoro::client mc{ex, memcoro::client_options{
        .servers = {{"10.0.0.1:11211"}, {"10.0.0.2:11211", 2}, {"/run/memcached.sock"}},
        .distribution = memcoro::distribution::ketama,  // ketama (default), rendezvous, modula
        .connections_per_server = 2,
        .failure_limit = 2,
        .dead_timeout = 30s,
        .remap_dead_servers = false,
    }};
    co_await mc.set("user:42", profile);           // goes to the key's server
    auto hits = co_await mc.get_many(keys);        // one request per server, all at once
    auto each = co_await mc.stats_each();          // every server's stats, named
    for (const auto& s : mc.server_status()) {
        std::cout << s.address << (s.health == memcoro::server_status::state::alive ? " up" : " down")
                  << ", " << s.in_flight << " in flight\n";
    }
    std::cout << hits.size() << " hits, " << each.size() << " servers\n";
}

// README "Meta commands and stampede protection", compiled too (not run).
asio::awaitable<std::string> render_home() {
    co_return std::string("<html>home</html>");
}

asio::awaitable<void> meta_and_fetch(memcoro::client& mc, std::string_view v) {
    auto it = co_await mc.meta_get("k", {.cas = true, .ttl = true});  // std::optional<meta_item>
    auto st = co_await mc.meta_set("k", v, {.mode = memcoro::set_mode::add, .ttl = 60s});
    auto md = co_await mc.meta_delete("k", {.mark_stale = true, .stale_ttl = 30s});
    auto n = co_await mc.meta_arithmetic("hits", {.vivify_ttl = 3600s, .initial = 0});
    std::string page = co_await mc.fetch("page:/home",
                                         {.ttl = 300s, .recache_before = 30s, .stale_for = 60s},
                                         [&]() -> asio::awaitable<std::string> {
                                             co_return co_await render_home();
                                         });
    std::cout << (it ? it->value() : "(a miss)") << ' ' << (st.status == memcoro::meta_status::ok)
              << ' ' << (md == memcoro::meta_status::ok) << ' ' << n.value.value_or(0) << ' '
              << page << '\n';
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
