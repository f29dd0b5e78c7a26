// many_servers: one client over a tier of memcached servers, keys spread by ketama.
//
//   many_servers --servers 127.0.0.1:11211,127.0.0.1:11212,127.0.0.1:11213
//
// Stores 20 keys through the tier, shows which server each one landed on, reads them all
// back with one get_many, and shows what ketama does when a server leaves the list. Exits
// 1 if anything is not where it should be.
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <cstddef>
#include <exception>
#include <iostream>
#include <map>
#include <memcoro/memcoro.hpp>
#include <string>
#include <string_view>
#include <vector>

namespace asio = boost::asio;
using namespace std::chrono_literals;

// Which of `keys` one server holds, asked through a client of that server alone.
asio::awaitable<std::vector<std::string>> held_by(const std::string& address,
                                                  const std::string& prefix,
                                                  const std::vector<std::string_view>& keys) {
    // The executor first: g++ 12 mishandles a temporary (here the options) built in the
    // same expression as a co_await.
    const auto ex = co_await asio::this_coro::executor;
    memcoro::client one{ex, {.server = address, .key_prefix = prefix}};
    const std::vector<memcoro::item> hits = co_await one.get_many(keys);
    std::vector<std::string> held;
    for (const memcoro::item& it : hits) held.emplace_back(it.key());
    co_return held;
}

asio::awaitable<bool> run(std::vector<std::string> addresses) {
    const auto ex = co_await asio::this_coro::executor;
    // A prefix of this run's own, so that keys of earlier runs on the same servers do not
    // count. It goes on the wire only: ketama places the key without it.
    const auto run_id = std::chrono::system_clock::now().time_since_epoch().count();
    memcoro::client_options options{.key_prefix = "many_servers:" + std::to_string(run_id) + ':'};
    // The order of the list is part of the placement: every client of the tier (memcoro,
    // libmemcached, pylibmc, twemproxy with ketama) must list the servers alike.
    for (const auto& a : addresses) options.servers.push_back({.address = a, .weight = 1});
    options.distribution = memcoro::distribution::ketama;  // the default
    memcoro::client tier{ex, options};

    std::vector<std::string> names;
    std::vector<std::string> values;
    for (int i = 0; i < 20; ++i) {
        names.push_back("user:" + std::to_string(i));
        values.push_back("profile of " + names.back());
    }
    // key_value holds views: names and values keep the bytes until set_many completes.
    std::vector<memcoro::key_value> items;
    for (std::size_t i = 0; i < names.size(); ++i) items.push_back({names[i], values[i]});
    const std::vector<std::string_view> keys(names.begin(), names.end());

    // set_many and get_many split their keys by server and send one request to each, all
    // at once.
    const auto not_stored = co_await tier.set_many(items, {.ttl = 60s});
    bool ok = not_stored.empty();

    // The client does not say which server a key is on; each server does, when asked alone.
    std::map<std::string, std::size_t> owner;  // key -> index of the server holding it
    std::map<std::string, int> copies;
    for (std::size_t s = 0; s < addresses.size(); ++s) {
        std::cout << "server " << s << " (" << addresses[s] << "):";
        const std::vector<std::string> held =
            co_await held_by(addresses[s], options.key_prefix, keys);
        for (const auto& k : held) {
            std::cout << ' ' << k;
            owner[k] = s;
            ++copies[k];
        }
        std::cout << '\n';
    }
    for (const auto& k : names) ok = ok && copies[k] == 1;  // each key on exactly one server

    const std::vector<memcoro::item> hits = co_await tier.get_many(keys);
    ok = ok && hits.size() == keys.size();
    for (std::size_t i = 0; ok && i < hits.size(); ++i) {
        ok = hits[i].key() == keys[i] && hits[i].value() == "profile of " + names[i];
    }
    std::cout << "get_many through the tier: " << hits.size() << " of " << keys.size()
              << " hits, in request order\n";

    // Consistent hashing: a tier without the last server still finds every key that was
    // not on it. Only the keys of the server that left move (and miss, once).
    if (addresses.size() > 1) {
        memcoro::client_options smaller = options;
        smaller.servers.pop_back();
        memcoro::client rest{ex, smaller};
        const std::vector<memcoro::item> found = co_await rest.get_many(keys);
        for (const memcoro::item& it : found) {
            ok = ok && owner[std::string(it.key())] != addresses.size() - 1;
        }
        std::size_t expected = 0;
        for (const auto& k : names) expected += owner[k] != addresses.size() - 1 ? 1 : 0;
        ok = ok && found.size() == expected;
        std::cout << "without server " << addresses.size() - 1 << ": " << found.size() << " of "
                  << keys.size() << " keys still found, the others were on the server that left\n";
    }

    for (const memcoro::server_status& s : tier.server_status()) {
        std::cout << s.address << ": "
                  << (s.health == memcoro::server_status::state::alive ? "alive" : "dead") << ", "
                  << s.open_connections << " connection(s)\n";
    }
    co_return ok;
}

int main(int argc, char** argv) {
    std::vector<std::string> addresses;
    if (argc == 3 && std::string_view(argv[1]) == "--servers") {
        std::string_view list = argv[2];
        while (!list.empty()) {
            const auto comma = list.find(',');
            addresses.emplace_back(list.substr(0, comma));
            list = comma == std::string_view::npos ? "" : list.substr(comma + 1);
        }
    }
    if (addresses.empty()) {
        std::cerr << "usage: " << argv[0] << " --servers HOST:PORT[,HOST:PORT...]\n";
        return 2;
    }

    asio::io_context ioc;
    int status = 1;
    asio::co_spawn(ioc, run(addresses), [&](std::exception_ptr e, bool ok) {
        try {
            if (e) std::rethrow_exception(e);
        } catch (const std::exception& x) {
            std::cout << "error: " << x.what() << '\n';
        }
        status = !e && ok ? 0 : 1;
        std::cout << (status == 0 ? "all keys where ketama put them" : "FAILED") << '\n';
    });
    // Every client in run() closes when it goes out of scope, so run() returns then.
    ioc.run();
    return status;
}
