// memcoro_demo: the client's main job, run by bench/run.sh. It shows how memcoro is used,
// then measures how fast one client goes.
//
//     memcoro_demo ADDRESS [--seconds N] [--protocol auto|meta|text]
//
// ADDRESS is "host:port" or a unix socket path. First a tour of the API: every line is
// the exact call that ran and what it returned. Then a throughput run: N coroutines share
// one client, and so one connection on which their requests are pipelined together, each
// looping over 1000 preloaded keys. Every value read is checked against the key it was
// read for; the program exits non-zero if one is wrong.
//
// Every key goes out with the prefix "memcoro-demo:", so the demo can run against a
// shared server without touching anyone else's keys.
#include <memcoro/memcoro.hpp>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <sys/resource.h>

#include <array>
#include <charconv>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <exception>
#include <iomanip>
#include <iostream>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

namespace asio = boost::asio;
using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;

// ---- A type of our own, stored through a custom codec ----------------------------------

struct point {
    int x = 0;
    int y = 0;
};

// A codec turns a point into bytes plus the 32-bit client flags memcached keeps beside
// them, and back. The flags mark the format, so that decoding refuses bytes some other
// writer stored under the key instead of misreading them.
template <>
struct memcoro::codec<point> {
    static constexpr std::uint32_t format_flags = 0x5054;  // "PT"

    static encoded encode(const point& p) {
        // The bytes are built here, so the encoded value must own them (copy, not view).
        const std::string text = std::to_string(p.x) + ',' + std::to_string(p.y);
        return encoded::copy(text, format_flags);
    }

    static bool decode(std::string_view bytes, std::uint32_t flags, point& out) {
        if (flags != format_flags) return false;
        const auto comma = bytes.find(',');
        if (comma == std::string_view::npos) return false;
        return parse(bytes.substr(0, comma), out.x) && parse(bytes.substr(comma + 1), out.y);
    }

private:
    static bool parse(std::string_view text, int& out) {
        const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
        return ec == std::errc{} && end == text.data() + text.size();
    }
};

namespace {

// ---- Printing results --------------------------------------------------------------------

// A completion token that hands back (error_code, result) instead of throwing, for the
// calls whose error we want to show.
constexpr auto no_throw = asio::as_tuple(asio::use_awaitable);

std::string in_quotes(std::string_view text) {
    std::string out = "\"";
    out += text.size() <= 40 ? text : text.substr(0, 37);
    out += text.size() <= 40 ? "\"" : "...\"";
    return out;
}

std::string describe(bool b) { return b ? "true" : "false"; }
std::string describe(std::size_t n) { return std::to_string(n); }
std::string describe(const std::string& s) { return in_quotes(s); }
std::string describe(int n) { return std::to_string(n); }
std::string describe(const point& p) {
    return "point{" + std::to_string(p.x) + ", " + std::to_string(p.y) + "}";
}

std::string describe(memcoro::cas_result r) {
    switch (r) {
        case memcoro::cas_result::stored: return "cas_result::stored";
        case memcoro::cas_result::exists: return "cas_result::exists";
        case memcoro::cas_result::not_found: return "cas_result::not_found";
    }
    return "?";
}

std::string describe(const memcoro::item& it) {
    std::string out;
    if (!it.key().empty()) out += std::string(it.key()) + "=";
    out += in_quotes(it.value());
    if (it.flags() != 0) out += " flags=" + std::to_string(it.flags());
    if (it.cas() != 0) out += " cas=" + std::to_string(it.cas());
    return out;
}

std::string describe(const std::vector<memcoro::item>& items) {
    std::string out = std::to_string(items.size()) + " hits:";
    for (const auto& it : items) {
        // Appended piece by piece: `" " + describe(it)` trips a false -Wrestrict in
        // g++ 12 at -O3 (GCC bug 105329).
        out += ' ';
        out += describe(it);
    }
    return out;
}

std::string describe(const std::vector<std::string>& keys) {
    if (keys.empty()) return "{} (every key stored)";
    std::string out = "not stored:";
    for (const auto& k : keys) out += " " + k;
    return out;
}

template <class T>
std::string describe(const std::optional<T>& v) {
    return v ? describe(*v) : "nullopt";
}

std::string describe(const std::optional<memcoro::item>& v) {
    return v ? "hit " + describe(*v) : "nullopt (a miss)";
}

std::string describe(const std::optional<std::uint64_t>& v) {
    return v ? std::to_string(*v) : "nullopt (no such key)";
}

template <class T>
std::string describe(const std::tuple<memcoro::error_code, T>& result) {
    const auto& [ec, value] = result;
    if (ec) return "error: " + ec.message() + " (" + ec.category().name() + ")";
    return describe(value);
}

std::string stat(const memcoro::stats_list& stats, std::string_view name) {
    for (const auto& [k, v] : stats) {
        if (k == name) return v;
    }
    return "?";
}

template <class T>
T show(std::string_view call, T result) {
    std::cout << "  " << std::left << std::setw(62) << call << " -> " << describe(result)
              << '\n';
    return result;
}

// Prints the expression exactly as written here, then its result: what is printed is
// what ran. Yields the result, so `auto x = SHOW(co_await ...)` works.
#define SHOW(...) show(#__VA_ARGS__, __VA_ARGS__)

void section(std::string_view title) { std::cout << '\n' << title << '\n'; }

// ---- The tour ----------------------------------------------------------------------------

asio::awaitable<void> tour(memcoro::client& mc) {
    // A shared server may still hold the keys of an earlier run, and add() below wants
    // "fresh" absent.
    const std::array<std::string_view, 7> tour_keys{"greeting", "fresh", "counter", "quiet",
                                                     "origin", "a", "b"};
    co_await mc.remove_many(tour_keys);

    section("Connect (lazily, on the first operation) and ask the server's version:");
    SHOW(co_await mc.version());

    section("set and get: client flags and a ttl are stored with the value; a miss is "
            "nullopt, not an error");
    SHOW(co_await mc.set("greeting", "hello", {.ttl = 60s, .flags = 7}));
    SHOW(co_await mc.get("greeting"));
    SHOW(co_await mc.get("no-such-key"));

    section("gets and cas: the second cas carries a stale unique and loses");
    const auto read = SHOW(co_await mc.gets("greeting"));
    const std::uint64_t unique = read ? read->cas() : 0;
    SHOW(co_await mc.cas("greeting", "hi", unique));
    SHOW(co_await mc.cas("greeting", "hey", unique));
    SHOW(co_await mc.get("greeting"));

    section("add, replace, append, prepend: false means the server said NOT_STORED");
    SHOW(co_await mc.add("greeting", "again"));
    SHOW(co_await mc.add("fresh", "new"));
    SHOW(co_await mc.replace("fresh", "newer"));
    SHOW(co_await mc.replace("no-such-key", "x"));
    SHOW(co_await mc.append("fresh", "-tail"));
    SHOW(co_await mc.prepend("fresh", "head-"));
    SHOW(co_await mc.get("fresh"));

    section("incr and decr: integers are stored as decimal text; decr stops at 0");
    SHOW(co_await mc.set("counter", 10));
    SHOW(co_await mc.incr("counter", 5));
    SHOW(co_await mc.decr("counter", 20));
    SHOW(co_await mc.incr("no-such-key", 1));

    section("touch and gat: a new ttl for an existing key; gat also reads it");
    SHOW(co_await mc.touch("fresh", 100s));
    SHOW(co_await mc.touch("no-such-key", 100s));
    SHOW(co_await mc.gat("fresh", 200s));

    section("Many keys, one request or one write: hits come in request order with their key");
    const std::vector<memcoro::key_value> pairs{{"a", "1"}, {"b", "2"}};
    SHOW(co_await mc.set_many(pairs));
    const std::array<std::string_view, 3> keys{"a", "no-such-key", "b"};
    SHOW(co_await mc.get_many(keys));
    SHOW(co_await mc.remove_many(keys));

    section("noreply: completes once written, without waiting for the server");
    SHOW(co_await mc.set("quiet", "shh", {.noreply = true}));
    SHOW(co_await mc.get("quiet"));

    section("Typed reads: codec<T> decodes the value; bytes it refuses are an error");
    SHOW(co_await mc.get<int>("counter"));
    SHOW(co_await mc.get<int>("greeting", no_throw));

    section("A custom codec (memcoro::codec<point>, at the top of this file):");
    SHOW(co_await mc.set("origin", point{3, 4}));
    SHOW(co_await mc.get("origin"));
    SHOW(co_await mc.get<point>("origin"));
    SHOW(co_await mc.get<point>("greeting", no_throw));

    section("Bad input is an error, refused before a byte is sent:");
    SHOW(co_await mc.get("two words", no_throw));
    SHOW(co_await mc.set(std::string(300, 'k'), "v", {}, no_throw));

    section("stats: name/value pairs, as the server sends them");
    const auto stats = co_await mc.stats();
    std::cout << "  co_await mc.stats() -> " << stats.size() << " pairs, among them:\n";
    for (const auto name : {"curr_items", "total_items", "cmd_get", "get_hits", "get_misses",
                            "curr_connections"}) {
        std::cout << "    " << std::left << std::setw(18) << name << stat(stats, name) << '\n';
    }

    co_await mc.remove_many(tour_keys);
}

// ---- Throughput ------------------------------------------------------------------------

constexpr std::size_t key_count = 1000;
constexpr std::size_t value_size = 100;

// The keys read in the throughput run and their values. Each value names its key, so a
// reply handed to the wrong request cannot go unnoticed.
struct data_set {
    std::vector<std::string> keys;
    std::vector<std::string> values;

    data_set() {
        for (std::size_t i = 0; i < key_count; ++i) {
            std::ostringstream key;
            key << "bench:" << std::setw(4) << std::setfill('0') << i;
            keys.push_back(key.str());
            std::string value = "value-of-" + keys.back();
            value.resize(value_size, '.');
            values.push_back(std::move(value));
        }
    }
};

struct tally {
    std::uint64_t ops = 0;
    // A get that missed or returned another key's value; a set that was not stored.
    std::uint64_t wrong = 0;
};

asio::awaitable<void> get_loop(memcoro::client& mc, const data_set& data, std::size_t first,
                               clock_type::time_point stop, tally& t) {
    for (std::size_t i = first % key_count; clock_type::now() < stop; i = (i + 1) % key_count) {
        const std::optional<memcoro::item> it = co_await mc.get(data.keys[i]);
        ++t.ops;
        if (!it || it->value() != data.values[i]) ++t.wrong;
    }
}

asio::awaitable<void> set_loop(memcoro::client& mc, const data_set& data, std::size_t first,
                               clock_type::time_point stop, tally& t) {
    for (std::size_t i = first % key_count; clock_type::now() < stop; i = (i + 1) % key_count) {
        // The value is not copied: data outlives the call, as it must.
        const bool stored = co_await mc.set(data.keys[i], data.values[i]);
        ++t.ops;
        if (!stored) ++t.wrong;
    }
}

// Runs make_worker(0) ... make_worker(count - 1) concurrently and returns once all have
// finished, rethrowing the first exception one of them threw.
template <class MakeWorker>
asio::awaitable<void> run_concurrently(std::size_t count, MakeWorker make_worker) {
    const auto ex = co_await asio::this_coro::executor;
    // Never expires: cancelling it is how the last worker wakes us.
    asio::steady_timer all_done(ex, clock_type::time_point::max());
    std::size_t running = count;
    std::exception_ptr failure;
    for (std::size_t i = 0; i < count; ++i) {
        // One thread runs the io_context, so the counters need no lock.
        asio::co_spawn(ex, make_worker(i), [&](std::exception_ptr e) {
            if (e && !failure) failure = e;
            if (--running == 0) all_done.cancel();
        });
    }
    if (running > 0) co_await all_done.async_wait(no_throw);
    if (failure) std::rethrow_exception(failure);
}

// User plus system CPU time of this process (the client only: the server is another).
std::chrono::microseconds cpu_time() {
    rusage usage{};
    getrusage(RUSAGE_SELF, &usage);
    const auto to_us = [](timeval tv) {
        return std::chrono::seconds(tv.tv_sec) + std::chrono::microseconds(tv.tv_usec);
    };
    return to_us(usage.ru_utime) + to_us(usage.ru_stime);
}

enum class workload { get, set };

// One row of the table. Returns the number of wrong results.
asio::awaitable<std::uint64_t> measure(memcoro::client& mc, const data_set& data, workload w,
                                       std::size_t coroutines, std::chrono::seconds duration) {
    tally t;
    const auto cpu_before = cpu_time();
    const auto start = clock_type::now();
    const auto stop = start + duration;
    co_await run_concurrently(coroutines, [&](std::size_t i) {
        // Spread the starting points so the coroutines do not all read the same key.
        const std::size_t first = i * 7;
        return w == workload::get ? get_loop(mc, data, first, stop, t)
                                  : set_loop(mc, data, first, stop, t);
    });
    const std::chrono::duration<double> elapsed = clock_type::now() - start;
    const auto cpu = cpu_time() - cpu_before;

    const double ops_per_second = static_cast<double>(t.ops) / elapsed.count();
    const double cpu_per_op =
        t.ops == 0 ? 0.0 : static_cast<double>(cpu.count()) / static_cast<double>(t.ops);
    std::cout << "  " << std::left << std::setw(5) << (w == workload::get ? "get" : "set")
              << std::right << std::setw(10) << coroutines << std::setw(12) << t.ops
              << std::setw(12) << std::fixed << std::setprecision(0) << ops_per_second
              << std::setw(14) << std::setprecision(2) << cpu_per_op << std::setw(8) << t.wrong
              << '\n';
    co_return t.wrong;
}

// Returns the number of wrong results over every row.
asio::awaitable<std::uint64_t> throughput(memcoro::client& mc, std::chrono::seconds duration) {
    const data_set data;
    std::vector<memcoro::key_value> items;
    for (std::size_t i = 0; i < key_count; ++i) items.push_back({data.keys[i], data.values[i]});
    const auto not_stored = co_await mc.set_many(items);
    if (!not_stored.empty()) throw std::runtime_error("preloading: some keys were not stored");

    section("Throughput: one client, N coroutines, " + std::to_string(key_count) + " keys of " +
            std::to_string(value_size) + "-byte values, " + std::to_string(duration.count()) +
            " s a row");
    std::cout << "  " << std::left << std::setw(5) << "op" << std::right << std::setw(10)
              << "coroutines" << std::setw(12) << "ops" << std::setw(12) << "ops/s"
              << std::setw(14) << "CPU us/op" << std::setw(8) << "wrong" << '\n';
    std::uint64_t wrong = 0;
    for (const std::size_t n : {1, 16, 128, 1024}) {
        wrong += co_await measure(mc, data, workload::get, n, duration);
    }
    wrong += co_await measure(mc, data, workload::set, 128, duration);

    std::vector<std::string_view> keys(data.keys.begin(), data.keys.end());
    co_await mc.remove_many(keys);
    co_return wrong;
}

// ---- Command line ------------------------------------------------------------------------

struct arguments {
    std::string server;
    std::chrono::seconds seconds{3};
    memcoro::wire_protocol protocol = memcoro::wire_protocol::automatic;
};

std::optional<arguments> parse_arguments(int argc, char** argv) {
    arguments args;
    for (int i = 1; i < argc; ++i) {
        const std::string_view arg = argv[i];
        const bool has_value = i + 1 < argc;
        if (arg == "--seconds" && has_value) {
            const std::string_view text = argv[++i];
            unsigned n = 0;
            const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
            if (ec != std::errc{} || end != text.data() + text.size() || n == 0) {
                return std::nullopt;
            }
            args.seconds = std::chrono::seconds(n);
        } else if (arg == "--protocol" && has_value) {
            const std::string_view name = argv[++i];
            if (name == "auto") {
                args.protocol = memcoro::wire_protocol::automatic;
            } else if (name == "meta") {
                args.protocol = memcoro::wire_protocol::meta;
            } else if (name == "text") {
                args.protocol = memcoro::wire_protocol::text;
            } else {
                return std::nullopt;
            }
        } else if (args.server.empty() && !arg.starts_with("-")) {
            args.server = arg;
        } else {
            return std::nullopt;
        }
    }
    if (args.server.empty()) return std::nullopt;
    return args;
}

std::string_view name_of(memcoro::wire_protocol p) {
    switch (p) {
        case memcoro::wire_protocol::automatic: return "auto";
        case memcoro::wire_protocol::meta: return "meta";
        case memcoro::wire_protocol::text: return "text";
        case memcoro::wire_protocol::twemproxy: return "twemproxy";
    }
    return "?";
}

// The tour, then the throughput run, on one client. Returns the exit status.
int run(const arguments& args) {
    asio::io_context ioc;
    memcoro::client mc{ioc.get_executor(),
                       memcoro::client_options{.server = args.server,
                                               .protocol = args.protocol,
                                               .key_prefix = "memcoro-demo:"}};
    std::cout << "memcoro demo: server " << args.server << ", protocol " << name_of(args.protocol)
              << ", key prefix \"" << mc.options().key_prefix << "\"\n";

    int exit_code = 0;
    asio::co_spawn(
        ioc,
        [&]() -> asio::awaitable<void> {
            co_await tour(mc);
            const std::uint64_t wrong = co_await throughput(mc, args.seconds);
            if (wrong != 0) {
                std::cout << "\nFAILED: " << wrong << " wrong results\n";
                exit_code = 1;
            }
        },
        [&](std::exception_ptr failure) {
            if (failure) {
                try {
                    std::rethrow_exception(failure);
                } catch (const std::exception& e) {
                    std::cout << "\nFAILED: " << e.what() << std::endl;
                }
                exit_code = 1;
            }
            // Ends the connection's background work (reads, timers), so run() returns.
            mc.close();
        });
    ioc.run();
    return exit_code;
}

}  // namespace

int main(int argc, char** argv) {
    const auto args = parse_arguments(argc, argv);
    if (!args) {
        std::cerr << "usage: " << argv[0]
                  << " host:port|/socket/path [--seconds N] [--protocol auto|meta|text]\n";
        return 2;
    }
    try {
        return run(*args);
    } catch (const std::exception& e) {  // a malformed address, from the client's constructor
        std::cerr << "memcoro_demo: " << e.what() << '\n';
        return 2;
    }
}
