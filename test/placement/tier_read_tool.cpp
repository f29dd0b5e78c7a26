// Reads keys back through a memcoro client of a tier of running servers, for interop.py:
// what a Python client wrote, memcoro must find on the same servers.
//
//   tier_read_tool ketama|rendezvous|modula SERVER[=WEIGHT]... < lines
//
// Each input line is "<key> <value>" (neither has spaces). Prints "read N" when every key
// was found with its value; otherwise names each key missing or different, and exits 1.
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <charconv>
#include <exception>
#include <iostream>
#include <memcoro/memcoro.hpp>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace asio = boost::asio;

namespace {

bool parse_distribution(std::string_view name, memcoro::distribution& d) {
    if (name == "ketama") return d = memcoro::distribution::ketama, true;
    if (name == "rendezvous") return d = memcoro::distribution::rendezvous, true;
    if (name == "modula") return d = memcoro::distribution::modula, true;
    return false;
}

memcoro::server_spec parse_server(std::string_view arg) {
    std::uint32_t weight = 1;
    if (const auto eq = arg.rfind('='); eq != std::string_view::npos) {
        const auto w = arg.substr(eq + 1);
        std::from_chars(w.data(), w.data() + w.size(), weight);
        arg = arg.substr(0, eq);
    }
    return {std::string(arg), weight};
}

// Reads every key back, 100 to a get_many (each one a request per server), and counts
// the keys not found with the value written.
asio::awaitable<std::size_t> read_back(memcoro::client& mc,
                                       const std::vector<std::pair<std::string, std::string>>& kv) {
    std::size_t bad = 0;
    for (std::size_t at = 0; at < kv.size(); at += 100) {
        const std::size_t end = std::min(kv.size(), at + 100);
        std::vector<std::string_view> keys;
        for (std::size_t i = at; i < end; ++i) keys.push_back(kv[i].first);
        const auto hits = co_await mc.get_many(keys);
        std::size_t h = 0;
        for (std::size_t i = at; i < end; ++i) {
            if (h < hits.size() && hits[h].key() == kv[i].first) {
                if (hits[h].value() != kv[i].second) {
                    std::cout << "different: " << kv[i].first << "\n";
                    ++bad;
                }
                ++h;
            } else {
                std::cout << "missing: " << kv[i].first << "\n";
                ++bad;
            }
        }
    }
    co_return bad;
}

}  // namespace

int main(int argc, char** argv) {
    memcoro::client_options o;
    if (argc < 3 || !parse_distribution(argv[1], o.distribution)) {
        std::cerr << "usage: tier_read_tool ketama|rendezvous|modula SERVER[=WEIGHT]...\n";
        return 2;
    }
    for (int i = 2; i < argc; ++i) o.servers.push_back(parse_server(argv[i]));
    o.protocol = memcoro::wire_protocol::meta;
    o.op_timeout = std::chrono::seconds(10);

    std::vector<std::pair<std::string, std::string>> kv;
    for (std::string key, value; std::cin >> key >> value;) kv.emplace_back(key, value);

    asio::io_context ioc;
    memcoro::client mc(ioc.get_executor(), o);
    std::size_t bad = 0;
    std::exception_ptr failure;
    asio::co_spawn(ioc, read_back(mc, kv), [&](std::exception_ptr e, std::size_t n) {
        failure = e;
        bad = n;
        mc.close();
    });
    ioc.run();
    if (failure) {
        try {
            std::rethrow_exception(failure);
        } catch (const std::exception& e) {
            std::cerr << "tier_read_tool: " << e.what() << "\n";
            return 1;
        }
    }
    if (bad != 0) return 1;
    std::cout << "read " << kv.size() << "\n";
    return 0;
}
