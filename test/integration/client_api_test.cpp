// The public API of memcoro::client against a real memcached: every kind of completion
// token, codecs (built in and user-defined), key_prefix, errors_as_misses, the multi-key
// calls and the server commands, in each wire mode.
#include "test_common.hpp"

#include <doctest/doctest.h>

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/bind_executor.hpp>
#include <boost/asio/deferred.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/multiple_exceptions.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_future.hpp>
#include <boost/system/system_error.hpp>

#include <algorithm>
#include <charconv>
#include <cstdint>
#include <fstream>
#include <future>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

using namespace std::chrono_literals;
namespace asio = boost::asio;
using memcoro::error_code;
using memcoro::test::all_modes;
using memcoro::test::memcached_server;
using memcoro::test::name_of;
using memcoro::test::options_for;
using memcoro::test::raw_get;
using memcoro::test::raw_set;
using memcoro::test::run_client;
using memcoro::test::value_of;

// ---- A user-defined type with its own codec ---------------------------------------

namespace {

struct point {
    int x = 0;
    int y = 0;
    bool operator==(const point&) const = default;
};

// "PT01": marks values written by codec<point>, so that a reader can tell them from any
// other bytes that happen to look like "x,y".
constexpr std::uint32_t point_flags = 0x50543031;

}  // namespace

template <>
struct memcoro::codec<point> {
    static encoded encode(const point& p) {
        const std::string text = std::to_string(p.x) + "," + std::to_string(p.y);
        return encoded::copy(text, point_flags);
    }
    static bool decode(std::string_view bytes, std::uint32_t flags, point& out) {
        if (flags != point_flags) return false;
        const auto comma = bytes.find(',');
        if (comma == std::string_view::npos) return false;
        const auto parse = [](std::string_view s, int& v) {
            const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
            return !s.empty() && ec == std::errc{} && end == s.data() + s.size();
        };
        return parse(bytes.substr(0, comma), out.x) && parse(bytes.substr(comma + 1), out.y);
    }
};

namespace {

// The error a co_await of `op` threw, or {} when it did not throw.
template <class Awaitable>
asio::awaitable<error_code> thrown_by(Awaitable op) {
    try {
        co_await std::move(op);
    } catch (const boost::system::system_error& e) {
        co_return e.code();
    } catch (const asio::multiple_exceptions& e) {
        try {
            std::rethrow_exception(e.first_exception());
        } catch (const boost::system::system_error& first) {
            co_return first.code();
        }
    }
    co_return error_code{};
}

// True while the process runs; false once it has exited (a zombie included).
bool process_alive(pid_t pid) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
    std::string line;
    if (!std::getline(in, line)) return false;
    const auto paren = line.rfind(')');  // the command name may contain spaces
    if (paren == std::string::npos || paren + 2 >= line.size()) return false;
    const char state = line[paren + 2];
    return state != 'Z' && state != 'X';
}

// Some containers have no IPv6 loopback; the test then has nothing to connect to.
bool ipv6_loopback_available() {
    const int fd = ::socket(AF_INET6, SOCK_STREAM, 0);
    if (fd < 0) return false;
    sockaddr_in6 addr{};
    addr.sin6_family = AF_INET6;
    addr.sin6_addr = in6addr_loopback;
    const bool ok = ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
    ::close(fd);
    return ok;
}

std::string stat_of(const memcoro::stats_list& list, std::string_view name) {
    for (const auto& [n, v] : list) {
        if (n == name) return v;
    }
    return "<absent>";
}

}  // namespace

// ---- Completion tokens ----------------------------------------------------------------

TEST_CASE("plain callbacks complete on the io_context, never inside the initiating call") {
    memcached_server server;
    for (auto mode : all_modes) {
        const std::string mode_name = name_of(mode);
        CAPTURE(mode_name);
        asio::io_context ioc;
        memcoro::client mc(ioc.get_executor(), options_for(server, mode));

        bool initiating = false;
        bool finished = false;
        std::optional<memcoro::item> hit;
        std::string version;
        error_code bad_key_ec;
        initiating = true;
        mc.set("cb-key", "cb-value", {.flags = 3}, [&](error_code ec, bool stored) {
            CHECK_FALSE(initiating);
            CHECK_FALSE(ec);
            CHECK(stored);
            CHECK(ioc.get_executor().running_in_this_thread());
            mc.get("cb-key", [&](error_code ec2, std::optional<memcoro::item> it) {
                CHECK_FALSE(ec2);
                hit = std::move(it);
                // Bad input completes through the executor too, not inside get().
                initiating = true;
                mc.get("bad key", [&](error_code ec3, std::optional<memcoro::item> it3) {
                    CHECK_FALSE(initiating);
                    CHECK_FALSE(it3);
                    bad_key_ec = ec3;
                    // A deferred operation launched with a callback.
                    mc.version(asio::deferred)([&](error_code ec4, std::string v) {
                        CHECK_FALSE(ec4);
                        version = std::move(v);
                        finished = true;
                        mc.close();
                    });
                });
                initiating = false;
            });
        });
        initiating = false;
        ioc.run_for(30s);

        REQUIRE(finished);
        REQUIRE(hit);
        CHECK(hit->value() == "cb-value");
        CHECK(hit->flags() == 3);
        CHECK(bad_key_ec == memcoro::error::invalid_key);
        CHECK(version.starts_with("1.6.18"));
    }
}

TEST_CASE("a callback that throws: run() throws it, and the client goes on working") {
    memcached_server server;
    // Where the callbacks run decides how the exception leaves: on the io_context's own
    // executor the connection calls them in place and re-throws from run(); a strand of
    // their own gets them posted; on the strand the client itself runs on, they run
    // inside asio::dispatch, and the exception leaves through the connection's
    // completion loop.
    for (const std::string_view executor : {"io_context", "own strand", "client's strand"}) {
        for (auto mode : all_modes) {
            const std::string mode_name = name_of(mode);
            CAPTURE(mode_name);
            CAPTURE(executor);
            asio::io_context ioc;
            asio::any_io_executor client_executor = ioc.get_executor();
            asio::any_io_executor handler_executor = ioc.get_executor();
            if (executor == "own strand") handler_executor = asio::make_strand(ioc);
            if (executor == "client's strand") {
                client_executor = asio::make_strand(ioc);
                handler_executor = client_executor;
            }
            memcoro::client mc(client_executor, options_for(server, mode));
            auto bind = [&](auto handler) {
                return asio::bind_executor(handler_executor, std::move(handler));
            };

            // Several operations in one pipeline: the first handler throws while the
            // connection is still delivering the replies of the others.
            int completed = 0;
            mc.set("throw-key", "v", {}, bind([&](error_code ec, bool) {
                       CHECK_FALSE(ec);
                       ++completed;
                       throw std::runtime_error("from a handler");
                   }));
            std::optional<memcoro::item> second;
            std::optional<memcoro::item> third;
            mc.get("throw-key", bind([&](error_code ec, std::optional<memcoro::item> it) {
                       CHECK_FALSE(ec);
                       ++completed;
                       second = std::move(it);
                   }));
            mc.get("throw-key", bind([&](error_code ec, std::optional<memcoro::item> it) {
                       CHECK_FALSE(ec);
                       ++completed;
                       third = std::move(it);
                   }));
            bool thrown = false;
            try {
                ioc.run_for(30s);
            } catch (const std::runtime_error& e) {
                thrown = std::string(e.what()) == "from a handler";
            }
            CHECK(thrown);

            // The application caught it and runs the io_context again: later operations
            // work, and every other handler has run, before the exception or after it.
            ioc.restart();
            std::optional<memcoro::item> fourth;
            mc.get("throw-key", bind([&](error_code ec, std::optional<memcoro::item> it) {
                       CHECK_FALSE(ec);
                       ++completed;
                       fourth = std::move(it);
                       mc.close();
                   }));
            ioc.run_for(30s);
            CHECK(completed == 4);
            for (const auto* got : {&second, &third, &fourth}) {
                REQUIRE(*got);
                CHECK((*got)->value() == "v");
            }
        }
    }
}

TEST_CASE("asio::deferred: nothing happens until launched; continuations compose") {
    memcached_server server;
    for (auto mode : all_modes) {
        const std::string mode_name = name_of(mode);
        CAPTURE(mode_name);
        memcoro::test::flush(server);
        run_client(options_for(server, mode), [](memcoro::client& mc) -> asio::awaitable<void> {
            auto pending = mc.set("deferred-key", "later", {.flags = 11}, asio::deferred);
            // Not launched yet: the server has not seen the set.
            CHECK_FALSE(co_await mc.get("deferred-key"));
            CHECK(co_await std::move(pending));
            auto it = co_await mc.get("deferred-key");
            REQUIRE(it);
            CHECK(it->value() == "later");
            CHECK(it->flags() == 11);

            // A continuation that turns the item into its value.
            auto value_text =
                mc.get("deferred-key",
                       asio::deferred([](error_code ec, std::optional<memcoro::item> found) {
                           return asio::deferred.values(
                               ec, found ? std::string(found->value()) : std::string("<miss>"));
                       }));
            CHECK(co_await std::move(value_text) == "later");

            // A set chained to the get that reads it back, as one deferred operation.
            auto set_then_get =
                mc.set("chained", "links", {}, asio::deferred([&mc](error_code, bool) {
                           return mc.get("chained", asio::deferred);
                       }));
            auto chained = co_await std::move(set_then_get);
            REQUIRE(chained);
            CHECK(chained->value() == "links");

            // An error through a deferred operation is thrown at the co_await.
            CHECK(co_await thrown_by(mc.get("", asio::deferred)) == memcoro::error::invalid_key);
        });
    }
}

TEST_CASE("asio::use_future with the io_context on another thread") {
    memcached_server server;
    for (auto mode : all_modes) {
        const std::string mode_name = name_of(mode);
        CAPTURE(mode_name);
        asio::io_context ioc;
        auto work = asio::make_work_guard(ioc);
        std::thread runner([&] { ioc.run(); });
        {
            memcoro::client mc(ioc.get_executor(), options_for(server, mode));
            std::future<bool> stored =
                mc.set("fut", "future-value", {.flags = 5}, asio::use_future);
            CHECK(stored.get());
            std::future<std::optional<memcoro::item>> got = mc.get("fut", asio::use_future);
            auto it = got.get();
            REQUIRE(it);
            CHECK(it->value() == "future-value");
            CHECK(it->flags() == 5);

            CHECK(mc.set("fut-n", 41, {}, asio::use_future).get());
            CHECK(mc.incr("fut-n", 1, {}, asio::use_future).get() == 42u);
            CHECK(mc.get<int>("fut-n", asio::use_future).get() == 42);
            CHECK(mc.version(asio::use_future).get().starts_with("1.6.18"));

            // void(error_code) becomes std::future<void>.
            std::future<void> flushed = mc.flush_all(0s, {}, asio::use_future);
            flushed.get();
            CHECK_FALSE(mc.get("fut", asio::use_future).get());

            // An error becomes the future's exception.
            auto bad = mc.get("bad\nkey", asio::use_future);
            try {
                (void)bad.get();
                FAIL("a bad key did not fail");
            } catch (const boost::system::system_error& e) {
                CHECK(e.code() == memcoro::error::invalid_key);
            }
            // Two operations in flight at once from this thread.
            auto a = mc.set("fa", "1", {}, asio::use_future);
            auto b = mc.set("fb", "2", {}, asio::use_future);
            CHECK(a.get());
            CHECK(b.get());
            auto many =
                mc.get_many(std::vector<std::string_view>{"fa", "fb"}, {}, asio::use_future).get();
            REQUIRE(many.size() == 2);
            CHECK(many[0].value() == "1");
            CHECK(many[1].value() == "2");
            mc.close();
        }
        work.reset();
        runner.join();
    }
}

TEST_CASE("as_tuple(use_awaitable) and as_tuple(deferred) report errors without throwing") {
    memcached_server server;
    for (auto mode : all_modes) {
        const std::string mode_name = name_of(mode);
        CAPTURE(mode_name);
        memcoro::test::flush(server);
        run_client(options_for(server, mode), [](memcoro::client& mc) -> asio::awaitable<void> {
            constexpr auto tuple_awaitable = asio::as_tuple(asio::use_awaitable);
            constexpr auto tuple_deferred = asio::as_tuple(asio::deferred);

            auto [set_ec, stored] = co_await mc.set("tk", "tv", {}, tuple_awaitable);
            CHECK_FALSE(set_ec);
            CHECK(stored);
            auto [get_ec, hit] = co_await mc.get("tk", tuple_awaitable);
            CHECK_FALSE(get_ec);
            REQUIRE(hit);
            CHECK(hit->value() == "tv");
            auto [miss_ec, miss] = co_await mc.get("no-such", tuple_deferred);
            CHECK_FALSE(miss_ec);
            CHECK_FALSE(miss);

            auto [bad_ec, bad] = co_await mc.get(std::string(251, 'k'), tuple_awaitable);
            CHECK(bad_ec == memcoro::error::invalid_key);
            CHECK_FALSE(bad);
            auto [bad2_ec, bad2] =
                co_await mc.set("k", std::string(2 << 20, 'v'), {}, tuple_deferred);
            CHECK(bad2_ec == memcoro::error::value_too_large);
            CHECK_FALSE(bad2);

            // A server refusal through a void(error_code) operation.
            auto [mem_ec] = co_await mc.cache_memlimit(1, {}, tuple_deferred);
            CHECK(mem_ec == memcoro::error::server_error);
            auto [flush_ec] = co_await mc.flush_all(0s, {}, tuple_awaitable);
            CHECK_FALSE(flush_ec);
            auto [after_ec, after] = co_await mc.get("tk", tuple_deferred);
            CHECK_FALSE(after_ec);
            CHECK_FALSE(after);

            auto [cas_ec, cas] = co_await mc.cas("absent", "x", 99, {}, tuple_awaitable);
            CHECK_FALSE(cas_ec);
            CHECK(cas == memcoro::cas_result::not_found);
        });
    }
}

TEST_CASE("awaitable operators: && runs operations together, || cancels the loser") {
    using namespace asio::experimental::awaitable_operators;
    memcached_server server;
    for (auto mode : all_modes) {
        const std::string mode_name = name_of(mode);
        CAPTURE(mode_name);
        memcoro::test::flush(server);
        run_client(
            options_for(server, mode), [&server](memcoro::client& mc) -> asio::awaitable<void> {
                const auto [s1, s2, s3] =
                    co_await (mc.set("op-a", "A") && mc.set("op-b", "B") && mc.set("op-c", "C"));
                CHECK((s1 && s2 && s3));
                auto [a, b] = co_await (mc.get("op-a") && mc.get("op-b"));
                REQUIRE(a);
                REQUIRE(b);
                CHECK(a->value() == "A");
                CHECK(b->value() == "B");

                // One failing operation fails the whole && and cancels the other; when that
                // one fails too, asio reports both, the left operand's first.
                CHECK(co_await thrown_by(mc.get("") && mc.get("op-c")) ==
                      memcoro::error::invalid_key);

                // The get wins against a long timer, which is then cancelled.
                asio::steady_timer slow(co_await asio::this_coro::executor, 30s);
                auto first = co_await (mc.get("op-c") || slow.async_wait(asio::use_awaitable));
                REQUIRE(first.index() == 0);
                REQUIRE(std::get<0>(first));
                CHECK(std::get<0>(first)->value() == "C");

                // Against a server that does not answer, the timer wins and the get is
                // cancelled after it was written; its late reply must not reach anyone else.
                server.pause();
                asio::steady_timer fast(co_await asio::this_coro::executor, 200ms);
                auto lost = co_await (mc.get("op-a") || fast.async_wait(asio::use_awaitable));
                CHECK(lost.index() == 1);
                server.resume();
                auto c = co_await mc.get("op-c");
                REQUIRE(c);
                CHECK(c->value() == "C");
                auto a2 = co_await mc.get("op-a");
                REQUIRE(a2);
                CHECK(a2->value() == "A");
            });
    }
}

// ---- Codecs -----------------------------------------------------------------------------

TEST_CASE("a user-defined type with its own codec") {
    memcached_server server;
    for (auto mode : all_modes) {
        const std::string mode_name = name_of(mode);
        CAPTURE(mode_name);
        memcoro::test::flush(server);
        // Values the codec must refuse, written behind the client's back.
        CHECK(server.roundtrip(raw_set("pt-no-marker", "3,4", 0), "\r\n") == "STORED\r\n");
        CHECK(server.roundtrip(raw_set("pt-garbage", "3;4", point_flags), "\r\n") == "STORED\r\n");
        CHECK(server.roundtrip(raw_set("pt-raw", "-7,8", point_flags), "\r\n") == "STORED\r\n");

        run_client(
            options_for(server, mode), [&server](memcoro::client& mc) -> asio::awaitable<void> {
                CHECK(co_await mc.set("pt", point{3, -4}));
                // On the wire: the codec's text and its flags marker.
                CHECK(raw_get(server, "pt") ==
                      "VALUE pt " + std::to_string(point_flags) + " 4\r\n3,-4\r\nEND\r\n");
                CHECK(co_await mc.get<point>("pt") == point{3, -4});
                CHECK(co_await mc.get<point>("pt-raw") == point{-7, 8});
                CHECK(co_await mc.get<point>("pt-missing") == std::nullopt);

                constexpr auto tuple = asio::as_tuple(asio::use_awaitable);
                auto [ec1, p1] = co_await mc.get<point>("pt-no-marker", tuple);
                CHECK(ec1 == memcoro::error::bad_value);
                CHECK_FALSE(p1);
                auto [ec2, p2] = co_await mc.get<point>("pt-garbage", tuple);
                CHECK(ec2 == memcoro::error::bad_value);
                CHECK_FALSE(p2);
                CHECK(co_await thrown_by(mc.get<point>("pt-garbage")) == memcoro::error::bad_value);

                // Flags given to the call replace the codec's: the codec then refuses the value.
                CHECK(co_await mc.set("pt-flags", point{1, 2}, {.flags = 9}));
                auto raw = co_await mc.get("pt-flags");
                REQUIRE(raw);
                CHECK(raw->flags() == 9);
                CHECK(raw->value() == "1,2");
                auto [ec3, p3] = co_await mc.get<point>("pt-flags", tuple);
                CHECK(ec3 == memcoro::error::bad_value);

                // The same type through add, replace and cas.
                CHECK(co_await mc.add("pt-add", point{5, 5}));
                CHECK_FALSE(co_await mc.add("pt-add", point{6, 6}));
                CHECK(co_await mc.replace("pt-add", point{7, 7}));
                auto with_cas = co_await mc.gets("pt-add");
                REQUIRE(with_cas);
                CHECK(co_await mc.cas("pt-add", point{8, 8}, with_cas->cas()) ==
                      memcoro::cas_result::stored);
                CHECK(co_await mc.get<point>("pt-add") == point{8, 8});

                // A refused decode leaves the client working.
                CHECK(co_await mc.get<point>("pt") == point{3, -4});
            });
    }
}

TEST_CASE("built-in codecs: strings, byte vectors, integers") {
    memcached_server server;
    for (auto mode : all_modes) {
        const std::string mode_name = name_of(mode);
        CAPTURE(mode_name);
        memcoro::test::flush(server);
        run_client(
            options_for(server, mode), [&server](memcoro::client& mc) -> asio::awaitable<void> {
                // Strings keep every byte, NUL and CRLF included.
                const std::string text("line one\r\nEND\r\n\0VALUE x 0 1\r\n", 29);
                CHECK(co_await mc.set("str", text));
                CHECK(co_await mc.get<std::string>("str") == text);
                const std::string_view view = "a string_view";
                CHECK(co_await mc.set("view", view));
                CHECK(co_await mc.get<std::string>("view") == std::string(view));
                CHECK(co_await mc.set("empty", std::string()));
                CHECK(co_await mc.get<std::string>("empty") == std::string());

                std::vector<std::byte> bytes;
                for (int round = 0; round < 4; ++round) {
                    for (int b = 0; b < 256; ++b) bytes.push_back(static_cast<std::byte>(b));
                }
                CHECK(co_await mc.set("bytes", bytes));
                CHECK(co_await mc.get<std::vector<std::byte>>("bytes") == bytes);
                CHECK(co_await mc.set("span", std::span<const std::byte>(bytes).subspan(250, 10)));
                const auto span_back = co_await mc.get<std::vector<std::byte>>("span");
                REQUIRE(span_back);
                CHECK(std::equal(span_back->begin(), span_back->end(), bytes.begin() + 250,
                                 bytes.begin() + 260));

                // Integers are decimal text, so incr/decr work on them.
                CHECK(co_await mc.set("int", 100));
                CHECK(raw_get(server, "int") == "VALUE int 0 3\r\n100\r\nEND\r\n");
                CHECK(co_await mc.get<int>("int") == 100);
                CHECK(co_await mc.decr("int", 1) == 99u);
                // The server shortened the number in place, leaving a space (protocol.md 1.9).
                CHECK(raw_get(server, "int") == "VALUE int 0 3\r\n99 \r\nEND\r\n");
                CHECK(co_await mc.get<int>("int") == 99);
                CHECK(co_await mc.get<long long>("int") == 99);

                CHECK(co_await mc.set("u64", std::numeric_limits<std::uint64_t>::max()));
                CHECK(co_await mc.incr("u64", 1) == 0u);  // wraps
                const auto padded = co_await mc.get("u64");
                REQUIRE(padded);
                CHECK(padded->value() == "0" + std::string(19, ' '));
                CHECK(co_await mc.get<std::uint64_t>("u64") == 0u);

                CHECK(co_await mc.set("neg", -42));
                CHECK(co_await mc.get<int>("neg") == -42);
                CHECK(co_await mc.set("short", std::int16_t{-300}));
                CHECK(co_await mc.get<std::int16_t>("short") == -300);

                // Text that is not a number of the asked type is refused.
                constexpr auto tuple = asio::as_tuple(asio::use_awaitable);
                CHECK(co_await mc.set("nan", "12abc"));
                auto [e1, v1] = co_await mc.get<int>("nan", tuple);
                CHECK(e1 == memcoro::error::bad_value);
                auto [e2, v2] = co_await mc.get<unsigned>("neg", tuple);
                CHECK(e2 == memcoro::error::bad_value);
                CHECK(co_await mc.set("big", 70000));
                auto [e3, v3] = co_await mc.get<std::int16_t>("big", tuple);
                CHECK(e3 == memcoro::error::bad_value);
                auto [e4, v4] = co_await mc.get<int>("empty", tuple);
                CHECK(e4 == memcoro::error::bad_value);
                CHECK(co_await mc.get<int>("int-missing") == std::nullopt);
            });
    }
}

// ---- key_prefix ---------------------------------------------------------------------------

TEST_CASE("key_prefix: the server holds prefix + key; the limit counts both") {
    memcached_server server;
    for (auto mode : all_modes) {
        const std::string mode_name = name_of(mode);
        CAPTURE(mode_name);
        memcoro::test::flush(server);
        CHECK(server.roundtrip(raw_set("app:seeded", "from-raw", 5), "\r\n") == "STORED\r\n");
        CHECK(server.roundtrip(raw_set("seeded", "unprefixed", 0), "\r\n") == "STORED\r\n");
        auto options = options_for(server, mode);
        options.key_prefix = "app:";
        run_client(options, [&server](memcoro::client& mc) -> asio::awaitable<void> {
            CHECK(co_await mc.set("k", "v", {.flags = 2}));
            CHECK(raw_get(server, "app:k") == "VALUE app:k 2 1\r\nv\r\nEND\r\n");
            CHECK(raw_get(server, "k") == "END\r\n");

            auto seeded = co_await mc.get("seeded");
            REQUIRE(seeded);
            CHECK(seeded->value() == "from-raw");
            CHECK(seeded->flags() == 5);
            auto with_cas = co_await mc.gets("seeded");
            REQUIRE(with_cas);
            CHECK(with_cas->cas() != 0);
            CHECK(co_await mc.cas("seeded", "swapped", with_cas->cas()) ==
                  memcoro::cas_result::stored);
            CHECK(raw_get(server, "app:seeded") == "VALUE app:seeded 0 7\r\nswapped\r\nEND\r\n");
            CHECK(raw_get(server, "seeded") == "VALUE seeded 0 10\r\nunprefixed\r\nEND\r\n");

            CHECK(co_await mc.set("n", 7));
            CHECK(co_await mc.incr("n", 3) == 10u);
            CHECK(raw_get(server, "app:n") == "VALUE app:n 0 2\r\n10\r\nEND\r\n");
            CHECK(co_await mc.touch("n", 100s));
            CHECK(value_of(co_await mc.gat("n", 200s)) == "10");
            CHECK(co_await mc.append("k", "w"));
            CHECK(raw_get(server, "app:k") == "VALUE app:k 2 2\r\nvw\r\nEND\r\n");

            // Multi-key calls hand back the caller's keys, without the prefix.
            const std::vector<std::string_view> keys{"k", "seeded", "nope", "n"};
            auto hits = co_await mc.get_many(keys);
            REQUIRE(hits.size() == 3);
            CHECK(hits[0].key() == "k");
            CHECK(hits[1].key() == "seeded");
            CHECK(hits[2].key() == "n");
            const std::vector<memcoro::key_value> batch{{"m1", "x"}, {"m2", "y"}};
            CHECK((co_await mc.set_many(batch)).empty());
            CHECK(raw_get(server, "app:m2") == "VALUE app:m2 0 1\r\ny\r\nEND\r\n");
            const std::vector<std::string_view> batch_keys{"m1", "m2"};
            CHECK(co_await mc.remove_many(batch_keys) == 2u);
            CHECK(raw_get(server, "app:m1") == "END\r\n");

            CHECK(co_await mc.remove("k"));
            CHECK(raw_get(server, "app:k") == "END\r\n");

            // 4 + 246 = 250 bytes is the most a key may have.
            const std::string longest(246, 'L');
            CHECK(co_await mc.set(longest, "edge"));
            CHECK(raw_get(server, "app:" + longest) ==
                  "VALUE app:" + longest + " 0 4\r\nedge\r\nEND\r\n");
            CHECK(value_of(co_await mc.get(longest)) == "edge");
            const std::string too_long(247, 'L');
            constexpr auto tuple = asio::as_tuple(asio::use_awaitable);
            auto [e1, r1] = co_await mc.set(too_long, "x", {}, tuple);
            CHECK(e1 == memcoro::error::invalid_key);
            auto [e2, r2] = co_await mc.get(too_long, tuple);
            CHECK(e2 == memcoro::error::invalid_key);
            const std::vector<std::string_view> with_long{"k", too_long};
            auto [e3, r3] = co_await mc.get_many(with_long, {}, tuple);
            CHECK(e3 == memcoro::error::invalid_key);
            auto [e4, r4] = co_await mc.remove(too_long, {}, tuple);
            CHECK(e4 == memcoro::error::invalid_key);
            CHECK(value_of(co_await mc.get(longest)) == "edge");
        });
    }
}

// ---- errors_as_misses -------------------------------------------------------------------

TEST_CASE("errors_as_misses: reads of a stopped or hung server miss; writes still fail") {
    memcached_server server;
    for (auto mode : all_modes) {
        const std::string mode_name = name_of(mode);
        CAPTURE(mode_name);
        if (!server.running()) server.restart();
        auto options = options_for(server, mode);
        options.errors_as_misses = true;
        options.op_timeout = 2s;
        run_client(options, [&server](memcoro::client& mc) -> asio::awaitable<void> {
            CHECK(co_await mc.set("eam", "here"));
            CHECK(value_of(co_await mc.get("eam")) == "here");

            // Hung: the read times out, and that is a miss.
            server.pause();
            const auto started = std::chrono::steady_clock::now();
            CHECK_FALSE(co_await mc.get("eam", memcoro::call_options{.timeout = 300ms}));
            CHECK(std::chrono::steady_clock::now() - started < 1900ms);
            server.resume();

            server.stop();
            CHECK_FALSE(co_await mc.get("eam"));
            CHECK_FALSE(co_await mc.gets("eam"));
            CHECK_FALSE(co_await mc.gat("eam", 10s));
            const std::vector<std::string_view> two{"eam", "x"};
            CHECK((co_await mc.get_many(two)).empty());
            CHECK((co_await mc.gets_many(two)).empty());
            CHECK(co_await mc.get<int>("eam") == std::nullopt);

            // Writes and bad input still fail.
            const error_code set_ec = co_await thrown_by(mc.set("eam", "lost"));
            CHECK(set_ec);
            CHECK(set_ec != memcoro::error::invalid_key);
            CHECK(co_await thrown_by(mc.remove("eam")));
            CHECK(co_await thrown_by(mc.version()));
            CHECK(co_await thrown_by(mc.get("")) == memcoro::error::invalid_key);

            // Back again: after the reconnect backoff, everything works.
            server.restart();
            bool stored = false;
            for (int attempt = 0; attempt < 100 && !stored; ++attempt) {
                auto [ec, ok] =
                    co_await mc.set("eam", "again", {}, asio::as_tuple(asio::use_awaitable));
                stored = !ec && ok;
                if (!stored) co_await memcoro::test::sleep_for(100ms);
            }
            CHECK(stored);
            CHECK(value_of(co_await mc.get("eam")) == "again");
        });
    }
}

// ---- Multi-key calls ------------------------------------------------------------------------

TEST_CASE("get_many and gets_many: hits in request order with their keys") {
    memcached_server server;
    for (auto mode : all_modes) {
        const std::string mode_name = name_of(mode);
        CAPTURE(mode_name);
        memcoro::test::flush(server);
        run_client(options_for(server, mode), [](memcoro::client& mc) -> asio::awaitable<void> {
            for (int i = 0; i < 10; i += 2) {
                CHECK(co_await mc.set("gm" + std::to_string(i), "v" + std::to_string(i),
                                      {.flags = static_cast<std::uint32_t>(i)}));
            }
            const std::vector<std::string_view> keys{"gm4", "gm1", "gm0", "gm8",
                                                     "gm4", "gm9", "gm2"};
            auto hits = co_await mc.get_many(keys);
            const std::vector<std::string> expected{"gm4", "gm0", "gm8", "gm4", "gm2"};
            REQUIRE(hits.size() == expected.size());
            for (std::size_t i = 0; i < hits.size(); ++i) {
                CAPTURE(i);
                CHECK(hits[i].key() == expected[i]);
                CHECK(hits[i].value() == "v" + expected[i].substr(2));
                CHECK(hits[i].flags() ==
                      static_cast<std::uint32_t>(std::stoi(expected[i].substr(2))));
                CHECK(hits[i].cas() == 0);
            }

            auto with_cas = co_await mc.gets_many(keys);
            REQUIRE(with_cas.size() == expected.size());
            for (std::size_t i = 0; i < with_cas.size(); ++i) {
                CAPTURE(i);
                CHECK(with_cas[i].key() == expected[i]);
                auto single = co_await mc.gets(expected[i]);
                REQUIRE(single);
                CHECK(with_cas[i].cas() == single->cas());
                CHECK(with_cas[i].cas() != 0);
            }
            CHECK(co_await mc.cas("gm8", "new", with_cas[2].cas()) == memcoro::cas_result::stored);

            const std::vector<std::string_view> absent{"x1", "x2"};
            auto none = co_await mc.get_many(absent);
            CHECK(none.empty());
            auto [ec, empty] = co_await mc.get_many(std::span<const std::string_view>{}, {},
                                                    asio::as_tuple(asio::use_awaitable));
            CHECK(ec == memcoro::error::invalid_argument);

            // 500 keys of every length up to 250, with a miss between each two.
            std::vector<std::string> stored;
            for (int i = 0; i < 500; ++i) {
                std::string key = "many-" + std::to_string(i) + "-";
                key.resize(static_cast<std::size_t>(10 + (i * 37) % 241), 'k');
                stored.push_back(std::move(key));
            }
            std::vector<memcoro::key_value> batch;
            std::vector<std::string> values;
            values.reserve(stored.size());
            for (const auto& k : stored) values.push_back("val:" + k);
            for (std::size_t i = 0; i < stored.size(); ++i) batch.push_back({stored[i], values[i]});
            CHECK((co_await mc.set_many(batch)).empty());
            std::vector<std::string_view> asked;
            std::vector<std::string> misses;
            misses.reserve(stored.size());
            for (std::size_t i = 0; i < stored.size(); ++i) {
                asked.push_back(stored[i]);
                misses.push_back("absent-" + std::to_string(i));
                asked.push_back(misses.back());
            }
            auto all = co_await mc.get_many(asked);
            REQUIRE(all.size() == stored.size());
            for (std::size_t i = 0; i < all.size(); ++i) {
                CAPTURE(i);
                CHECK(all[i].key() == stored[i]);
                CHECK(all[i].value() == values[i]);
            }
            auto all_cas = co_await mc.gets_many(asked);
            CHECK(all_cas.size() == stored.size());
        });
    }
}

TEST_CASE("set_many stores every item; bad input refuses the whole batch before sending") {
    memcached_server server;
    for (auto mode : all_modes) {
        const std::string mode_name = name_of(mode);
        CAPTURE(mode_name);
        memcoro::test::flush(server);
        run_client(
            options_for(server, mode), [&server](memcoro::client& mc) -> asio::awaitable<void> {
                std::vector<std::string> keys;
                std::vector<std::string> values;
                for (int i = 0; i < 100; ++i) {
                    keys.push_back("sm-" + std::to_string(i));
                    values.push_back(std::string(static_cast<std::size_t>(i * 50), 'a' + i % 26));
                }
                std::vector<memcoro::key_value> batch;
                for (std::size_t i = 0; i < keys.size(); ++i) batch.push_back({keys[i], values[i]});
                CHECK((co_await mc.set_many(batch, {.flags = 77})).empty());
                std::vector<std::string_view> asked(keys.begin(), keys.end());
                auto hits = co_await mc.get_many(asked);
                REQUIRE(hits.size() == keys.size());
                for (std::size_t i = 0; i < hits.size(); ++i) {
                    CHECK(hits[i].value() == values[i]);
                    CHECK(hits[i].flags() == 77);
                }

                // One oversized value or bad key: nothing of the batch reaches the server.
                const std::string cmd_set = memcoro::test::raw_stat(server, "cmd_set");
                const std::string too_big(mc.options().max_value_size + 1, 'x');
                const std::vector<memcoro::key_value> with_big{
                    {"sm-new-1", "a"}, {"sm-new-2", too_big}, {"sm-new-3", "c"}};
                constexpr auto tuple = asio::as_tuple(asio::use_awaitable);
                auto [e1, r1] = co_await mc.set_many(with_big, {}, tuple);
                CHECK(e1 == memcoro::error::value_too_large);
                const std::vector<memcoro::key_value> with_bad_key{{"sm-new-1", "a"},
                                                                   {"bad key", "b"}};
                auto [e2, r2] = co_await mc.set_many(with_bad_key, {}, tuple);
                CHECK(e2 == memcoro::error::invalid_key);
                auto [e3, r3] =
                    co_await mc.set_many(std::span<const memcoro::key_value>{}, {}, tuple);
                CHECK(e3 == memcoro::error::invalid_argument);
                CHECK(memcoro::test::raw_stat(server, "cmd_set") == cmd_set);
                CHECK_FALSE(co_await mc.get("sm-new-1"));

                // noreply: nothing to report, and the values are there.
                const std::vector<memcoro::key_value> quiet{{"sm-q1", "q1"}, {"sm-q2", "q2"}};
                CHECK((co_await mc.set_many(quiet, {.noreply = true})).empty());
                CHECK(value_of(co_await mc.get("sm-q2")) == "q2");

                // A value within the client's limit that the server's item size cannot hold
                // (protocol.md 1.4): the server refuses it alone, and the call names it
                // among the keys not stored.
                const std::string server_too_big(mc.options().max_value_size, 'z');
                const std::vector<memcoro::key_value> mixed{
                    {"sm-m1", "one"}, {"sm-m2", server_too_big}, {"sm-m3", "three"}};
                auto [e4, r4] = co_await mc.set_many(mixed, {}, tuple);
                CHECK_FALSE(e4);
                CHECK(r4 == std::vector<std::string>{"sm-m2"});
                CHECK(value_of(co_await mc.get("sm-m1")) == "one");
                CHECK_FALSE(co_await mc.get("sm-m2"));
                CHECK(value_of(co_await mc.get("sm-m3")) == "three");
            });
    }
}

TEST_CASE("remove_many counts the keys that existed") {
    memcached_server server;
    for (auto mode : all_modes) {
        const std::string mode_name = name_of(mode);
        CAPTURE(mode_name);
        memcoro::test::flush(server);
        run_client(options_for(server, mode), [](memcoro::client& mc) -> asio::awaitable<void> {
            for (int i = 1; i <= 5; ++i) CHECK(co_await mc.set("rm" + std::to_string(i), "x"));
            const std::vector<std::string_view> keys{"rm1",   "nope1", "rm2", "rm3",
                                                     "nope2", "rm4",   "rm5", "rm1"};
            CHECK(co_await mc.remove_many(keys) == 5u);
            CHECK(co_await mc.remove_many(keys) == 0u);
            CHECK((co_await mc.get_many(keys)).empty());

            const std::vector<std::string_view> quiet{"rq1", "rq2"};
            for (const auto k : quiet) CHECK(co_await mc.set(k, "x"));
            CHECK(co_await mc.remove_many(quiet, {.noreply = true}) == 0u);
            CHECK_FALSE(co_await mc.get("rq1"));
            CHECK_FALSE(co_await mc.get("rq2"));
            const std::vector<std::string_view> with_empty{"ok", ""};
            auto [ec, n] =
                co_await mc.remove_many(with_empty, {}, asio::as_tuple(asio::use_awaitable));
            CHECK(ec == memcoro::error::invalid_key);
        });
    }
}

// ---- Server commands ------------------------------------------------------------------------

TEST_CASE("stats in its forms") {
    memcached_server server;
    for (auto mode : all_modes) {
        const std::string mode_name = name_of(mode);
        CAPTURE(mode_name);
        memcoro::test::flush(server);
        run_client(
            options_for(server, mode), [&server](memcoro::client& mc) -> asio::awaitable<void> {
                auto general = co_await mc.stats();
                REQUIRE_FALSE(general.empty());
                CHECK(general.front().first == "pid");
                CHECK(stat_of(general, "pid") == std::to_string(server.pid()));
                CHECK(stat_of(general, "version") == "1.6.18");
                CHECK(stat_of(general, "rusage_user").find('.') != std::string::npos);

                auto settings = co_await mc.stats("settings");
                CHECK(stat_of(settings, "item_size_max") == "1048576");
                CHECK(stat_of(settings, "maxconns") != "<absent>");

                CHECK(co_await mc.set("st", "v"));
                CHECK(co_await mc.get("st"));
                CHECK(std::stoi(stat_of(co_await mc.stats(), "get_hits")) >= 1);
                CHECK((co_await mc.stats("reset")).empty());
                CHECK(stat_of(co_await mc.stats(), "get_hits") == "0");

                CHECK_FALSE((co_await mc.stats("items")).empty());
                CHECK_FALSE((co_await mc.stats("slabs")).empty());
                CHECK(stat_of(co_await mc.stats("slabs"), "active_slabs") != "<absent>");
                CHECK_FALSE((co_await mc.stats("conns")).empty());

                // One line and no END (protocol.md 1.11).
                auto enabled = co_await mc.stats("sizes_enable");
                REQUIRE(enabled.size() == 1);
                CHECK(enabled[0] == std::pair<std::string, std::string>{"sizes_status", "enabled"});
                CHECK(co_await mc.set("sized", std::string(1000, 's')));  // counted from now on
                auto sizes = co_await mc.stats("sizes");
                CHECK(stat_of(sizes, "sizes_status") == "<absent>");
                CHECK_FALSE(sizes.empty());
                auto disabled = co_await mc.stats("sizes_disable");
                REQUIRE(disabled.size() == 1);
                CHECK(disabled[0] ==
                      std::pair<std::string, std::string>{"sizes_status", "disabled"});
                CHECK(stat_of(co_await mc.stats("sizes"), "sizes_status") == "disabled");

                CHECK((co_await mc.stats("detail on")).empty());
                // Traffic on the prefix "user", through a connection of its own.
                CHECK(server.roundtrip(raw_set("user:1", "u"), "\r\n") == "STORED\r\n");
                (void)raw_get(server, "user:1");
                (void)raw_get(server, "user:2");
                auto dump = co_await mc.stats("detail dump");
                const std::string user = stat_of(dump, "user");
                CHECK(user.find("get 2") != std::string::npos);
                CHECK(user.find("hit 1") != std::string::npos);
                CHECK(user.find("set 1") != std::string::npos);
                CHECK((co_await mc.stats("detail off")).empty());

                // ITEM lines; which items show depends on the server's LRU maintainer (it
                // lists the cold LRU only), so only their shape is certain.
                auto dumped = co_await mc.stats("cachedump 1 100");
                for (const auto& [key, rest] : dumped) CHECK(rest.starts_with("["));

                // Forms the server refuses are errors; the client goes on.
                constexpr auto tuple = asio::as_tuple(asio::use_awaitable);
                auto [e1, r1] = co_await mc.stats("no_such_group", tuple);
                CHECK(e1 == memcoro::error::unknown_command);
                auto [e2, r2] = co_await mc.stats("detail", tuple);
                CHECK(e2 == memcoro::error::client_error);
                // Arguments that would smuggle in another command never reach the server.
                auto [e3, r3] = co_await mc.stats("items\r\nflush_all", tuple);
                CHECK(e3 == memcoro::error::invalid_argument);
                CHECK(value_of(co_await mc.get("st")) == "v");
            });
    }
}

TEST_CASE("version, verbosity, flush_all (now and delayed), cache_memlimit") {
    memcached_server server;
    for (auto mode : all_modes) {
        const std::string mode_name = name_of(mode);
        CAPTURE(mode_name);
        memcoro::test::flush(server);
        run_client(
            options_for(server, mode), [&server](memcoro::client& mc) -> asio::awaitable<void> {
                const std::string v = co_await mc.version();
                CHECK(v.starts_with("1.6.18"));

                co_await mc.verbosity(1);
                co_await mc.verbosity(0, {.noreply = true});
                CHECK(co_await mc.set("vb", "still-in-sync"));
                CHECK(value_of(co_await mc.get("vb")) == "still-in-sync");

                co_await mc.cache_memlimit(64);
                CHECK(memcoro::test::raw_stat(server, "maxbytes", "settings") ==
                      std::to_string(64 << 20));
                CHECK(co_await thrown_by(mc.cache_memlimit(1)) == memcoro::error::server_error);
                CHECK(memcoro::test::raw_stat(server, "maxbytes", "settings") ==
                      std::to_string(64 << 20));
                CHECK(value_of(co_await mc.get("vb")) == "still-in-sync");

                const std::vector<std::string_view> flushed{"f1", "f2", "f3"};
                for (const auto k : flushed) CHECK(co_await mc.set(k, "x"));
                co_await mc.flush_all();
                CHECK((co_await mc.get_many(flushed)).empty());
                CHECK_FALSE(co_await mc.gets("f1"));

                // Delayed: still there now, gone within a few seconds. The server's clock
                // ticks once a second, so 3 s leaves room for the first check.
                CHECK(co_await mc.set("fd", "x"));
                co_await mc.flush_all(3s);
                CHECK(co_await mc.get("fd"));
                bool gone = false;
                for (int i = 0; i < 70 && !gone; ++i) {
                    co_await memcoro::test::sleep_for(100ms);
                    gone = !(co_await mc.get("fd"));
                }
                CHECK(gone);
                // noreply flush, then a fence that sees it.
                CHECK(co_await mc.set("fq", "x"));
                co_await mc.flush_all(0s, {.noreply = true});
                CHECK_FALSE(co_await mc.get("fq"));
            });
    }
}

TEST_CASE("quit: the server closes the connection and the next operation reconnects") {
    memcached_server server;
    for (auto mode : all_modes) {
        const std::string mode_name = name_of(mode);
        CAPTURE(mode_name);
        memcoro::test::flush(server);
        run_client(
            options_for(server, mode), [&server](memcoro::client& mc) -> asio::awaitable<void> {
                CHECK(co_await mc.set("q", "kept"));
                const int before = std::stoi(memcoro::test::raw_stat(server, "total_connections"));
                co_await mc.quit();
                // Right away: the connection the quit went out on must not take this one.
                auto [ec, it] = co_await mc.get("q", asio::as_tuple(asio::use_awaitable));
                CHECK_FALSE(ec);
                CHECK(value_of(it) == "kept");
                // The get came through a new connection (the raw stats add one each).
                const int after = std::stoi(memcoro::test::raw_stat(server, "total_connections"));
                CHECK(after - before >= 2);

                auto [quit_ec] = co_await mc.quit(asio::as_tuple(asio::use_awaitable));
                CHECK_FALSE(quit_ec);
                co_await memcoro::test::sleep_for(200ms);  // the close has certainly arrived
                CHECK(co_await mc.set("q2", "after-quit"));
                CHECK(value_of(co_await mc.get("q2")) == "after-quit");
            });
    }
}

TEST_CASE("shutdown stops a server started with -A; without -A it is refused") {
    memcached_server::options with_a;
    with_a.args = {"-A"};
    memcached_server server(with_a);
    memcached_server plain;
    for (auto mode : all_modes) {
        for (bool graceful : {false, true}) {
            const std::string mode_name = name_of(mode);
            CAPTURE(mode_name);
            CAPTURE(graceful);
            if (!server.running()) server.restart();
            run_client(options_for(server, mode),
                       [&, graceful](memcoro::client& mc) -> asio::awaitable<void> {
                           CHECK(co_await mc.set("s", "x"));
                           co_await mc.shutdown(graceful);
                       });
            // The process exits (it stays a zombie until the fixture reaps it).
            bool gone = false;
            for (int i = 0; i < 100 && !gone; ++i) {
                gone = !process_alive(server.pid());
                if (!gone) std::this_thread::sleep_for(50ms);
            }
            CHECK(gone);
            CHECK_THROWS_AS((void)server.roundtrip("version\r\n", "\r\n", 500ms),
                            std::runtime_error);
            server.stop();  // reaps it
        }

        run_client(options_for(plain, mode), [](memcoro::client& mc) -> asio::awaitable<void> {
            CHECK(co_await thrown_by(mc.shutdown()) == memcoro::error::unknown_command);
            CHECK(co_await thrown_by(mc.shutdown(true)) == memcoro::error::unknown_command);
            CHECK(co_await mc.set("alive", "yes"));
            CHECK(value_of(co_await mc.get("alive")) == "yes");
        });
        CHECK(plain.roundtrip("version\r\n", "\r\n").starts_with("VERSION 1.6.18"));
    }
}

TEST_CASE("an IPv6 loopback address: [::1]:port") {
    if (!ipv6_loopback_available()) {
        MESSAGE("skipped: this machine has no ::1");
        return;
    }
    // A second -l adds a listener: the fixture's own 127.0.0.1 one stays.
    memcached_server server(std::vector<std::string>{"-l", "::1"});
    for (auto mode : all_modes) {
        const std::string mode_name = name_of(mode);
        CAPTURE(mode_name);
        auto options = options_for(server, mode);
        options.server = "[::1]:" + std::to_string(server.port());
        run_client(options, [&server](memcoro::client& mc) -> asio::awaitable<void> {
            CHECK(co_await mc.set("v6", "over-ipv6", {.flags = 6}));
            CHECK(value_of(co_await mc.get("v6")) == "over-ipv6");
            // The same server, seen from 127.0.0.1.
            CHECK(raw_get(server, "v6") == "VALUE v6 6 9\r\nover-ipv6\r\nEND\r\n");
            // And this client's connection really is an IPv6 one.
            bool on_ipv6 = false;
            const auto conns = co_await mc.stats("conns");
            for (const auto& [name, value] : conns) {
                if (name.ends_with(":addr") && value.starts_with("tcp6:")) on_ipv6 = true;
            }
            CHECK(on_ipv6);
        });
    }
}
