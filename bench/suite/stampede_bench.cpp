// stampede_bench: scenario S12 of the suite. Many callers ask at once for one key that has
// just expired, and each needs its value; computing it takes --compute-ms. Two ways to
// write that caller:
//
//   naive  get; on a miss compute, then set (what users of pymemcache or libmemcached
//          write: every caller that misses computes)
//   fetch  memcoro's fetch (one compute across every client)
//
// The compute stands for a query to a backend (a database behind a pool of connections)
// that serves --backend-slots queries at a time: what makes a stampede hurt is the queue
// of identical queries it piles onto that backend. --clients clients stand for as many processes
// (each has its own connection and its own in-process single flight); the --callers are spread over
// them. Each round stores the key with a 1 s ttl, waits until memcached has expired it, then starts
// every caller at once. One JSON line per round on stdout: computes, wall time until the last
// caller has its value, and the callers' latency percentiles.
//
//     stampede_bench --server 127.0.0.1:PORT --strategy fetch --callers 1000 --rounds 5
#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <exception>
#include <memcoro/memcoro.hpp>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "cli.hpp"

namespace asio = boost::asio;
using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;

namespace {

struct options {
    std::string server = "127.0.0.1:11211";
    std::string strategy = "fetch";
    int callers = 1000;
    int clients = 4;
    int compute_ms = 10;
    int backend_slots = 10;
    int rounds = 5;
};

[[noreturn]] void usage(const char* why) {
    std::fprintf(stderr,
                 "stampede_bench: %s\n"
                 "usage: stampede_bench [--server HOST:PORT] [--strategy naive|fetch]\n"
                 "         [--callers N] [--clients C] [--compute-ms MS] [--backend-slots S]\n"
                 "         [--rounds R]\n",
                 why);
    std::exit(2);
}

options parse_options(int argc, char** argv) {
    options o;
    bench_cli::args args(argc, argv, usage);
    for (std::string_view a; args.next(a);) {
        if (a == "--server")
            o.server = args.value();
        else if (a == "--strategy")
            o.strategy = args.value();
        else if (a == "--callers")
            o.callers = args.number<int>();
        else if (a == "--clients")
            o.clients = args.number<int>();
        else if (a == "--compute-ms")
            o.compute_ms = args.number<int>();
        else if (a == "--backend-slots")
            o.backend_slots = args.number<int>();
        else if (a == "--rounds")
            o.rounds = args.number<int>();
        else
            usage(("unknown option " + std::string(a)).c_str());
    }
    if (o.callers < 1 || o.clients < 1 || o.compute_ms < 0 || o.backend_slots < 1 || o.rounds < 1) {
        usage("counts must be >= 1 (the compute's time >= 0)");
    }
    if (o.strategy != "naive" && o.strategy != "fetch") usage("--strategy takes naive or fetch");
    return o;
}

asio::awaitable<void> sleep_for(std::chrono::milliseconds d) {
    asio::steady_timer t(co_await asio::this_coro::executor, d);
    co_await t.async_wait(asio::use_awaitable);
}

// The backend's pool: at most `slots` computes at once, the others queue in order. One
// thread runs everything, so plain counters do.
class backend_pool {
  public:
    explicit backend_pool(int slots) : free_(slots) {}

    asio::awaitable<void> acquire() {
        if (free_ > 0) {
            --free_;
            co_return;
        }
        asio::steady_timer turn(co_await asio::this_coro::executor, clock_type::time_point::max());
        queue_.push_back(&turn);
        // release() cancels it: the slot is handed over, not returned.
        co_await turn.async_wait(asio::as_tuple(asio::use_awaitable));
    }
    void release() {
        if (queue_.empty()) {
            ++free_;
            return;
        }
        queue_.front()->cancel();
        queue_.pop_front();
    }

  private:
    int free_;
    std::deque<asio::steady_timer*> queue_;
};

struct round_result {
    int computes = 0;
    int errors = 0;
    std::string first_error;
    std::vector<double> latency_ms;
    double wall_ms = 0;
};

class stampede {
  public:
    stampede(asio::io_context& ioc, const options& o) : o_(o), backend_(o.backend_slots) {
        memcoro::client_options co;
        co.server = o.server;
        co.protocol = memcoro::wire_protocol::meta;
        co.op_timeout = 5s;
        for (int i = 0; i < o.clients; ++i) {
            clients_.push_back(std::make_unique<memcoro::client>(ioc.get_executor(), co));
        }
    }

    asio::awaitable<int> run() {
        int failed = 0;
        for (int r = 0; r < o_.rounds; ++r) {
            const std::string key = "stampede:" + std::to_string(r);
            co_await expire(key);
            const round_result res = co_await one_round(key);
            print(r, res);
            failed += res.errors;
        }
        co_return failed == 0 ? 0 : 1;
    }

    void close() {
        for (auto& c : clients_) c->close();
    }

  private:
    // Stores the key with a 1 s ttl (the value the callers would find before it
    // expired), then waits until memcached no longer has it.
    asio::awaitable<void> expire(const std::string& key) {
        auto& mc = *clients_.front();
        co_await mc.set(key, std::string("old value"), {.ttl = 1s});
        while (co_await mc.get(key)) co_await sleep_for(50ms);
    }

    asio::awaitable<std::string> compute(round_result& res) {
        ++res.computes;
        co_await backend_.acquire();
        co_await sleep_for(std::chrono::milliseconds(o_.compute_ms));
        backend_.release();
        co_return std::string(100, 'v');
    }

    asio::awaitable<std::string> naive(memcoro::client& mc, const std::string& key,
                                       round_result& res) {
        if (auto it = co_await mc.get(key)) co_return std::string(it->value());
        std::string value = co_await compute(res);
        co_await mc.set(key, value, {.ttl = 300s});
        co_return value;
    }

    // One caller; `key` and `res` outlive it (the round waits for every caller).
    asio::awaitable<std::string> call(memcoro::client& mc, const std::string& key,
                                      round_result& res) {
        if (o_.strategy == "naive") co_return co_await naive(mc, key, res);
        co_return co_await mc.fetch(key, {.ttl = 300s}, [this, &res] { return compute(res); });
    }

    asio::awaitable<round_result> one_round(const std::string& key) {
        round_result res;
        res.latency_ms.reserve(static_cast<std::size_t>(o_.callers));
        auto ex = co_await asio::this_coro::executor;
        asio::steady_timer all_done(ex, clock_type::time_point::max());
        int left = o_.callers;
        const auto t0 = clock_type::now();
        for (int i = 0; i < o_.callers; ++i) {
            auto& mc = *clients_[static_cast<std::size_t>(i % o_.clients)];
            asio::co_spawn(ex, call(mc, key, res),
                           [&, started = clock_type::now()](std::exception_ptr e, std::string v) {
                               if (e || v.size() != 100) {
                                   ++res.errors;
                                   if (res.first_error.empty()) {
                                       try {
                                           if (e) std::rethrow_exception(e);
                                           res.first_error = "wrong value";
                                       } catch (const std::exception& x) {
                                           res.first_error = x.what();
                                       }
                                   }
                               }
                               res.latency_ms.push_back(std::chrono::duration<double, std::milli>(
                                                            clock_type::now() - started)
                                                            .count());
                               if (--left == 0) all_done.cancel();
                           });
        }
        co_await all_done.async_wait(asio::as_tuple(asio::use_awaitable));
        res.wall_ms = std::chrono::duration<double, std::milli>(clock_type::now() - t0).count();
        co_return res;
    }

    void print(int round, round_result res) const {
        std::sort(res.latency_ms.begin(), res.latency_ms.end());
        auto pct = [&](double p) {
            if (res.latency_ms.empty()) return 0.0;
            const auto at = static_cast<std::size_t>(p * double(res.latency_ms.size() - 1));
            return res.latency_ms[at];
        };
        std::printf(
            "{\"client\":\"memcoro\",\"scenario\":\"S12\",\"strategy\":\"%s\","
            "\"round\":%d,\"callers\":%d,\"clients\":%d,\"compute_ms\":%d,\"backend_slots\":%d,"
            "\"computes\":%d,\"wall_ms\":%.2f,\"p50_ms\":%.2f,\"p99_ms\":%.2f,"
            "\"max_ms\":%.2f,\"errors\":%d",
            o_.strategy.c_str(), round, o_.callers, o_.clients, o_.compute_ms, o_.backend_slots,
            res.computes, res.wall_ms, pct(0.5), pct(0.99), pct(1.0), res.errors);
        if (!res.first_error.empty()) {
            std::string e;
            for (char c : res.first_error) {
                if (c == '"' || c == '\\') e += '\\';
                if (static_cast<unsigned char>(c) >= 0x20) e += c;
            }
            std::printf(",\"error\":\"%s\"", e.c_str());
        }
        std::printf("}\n");
        std::fflush(stdout);
    }

    const options& o_;
    backend_pool backend_;
    std::vector<std::unique_ptr<memcoro::client>> clients_;
};

}  // namespace

int main(int argc, char** argv) {
    const options o = parse_options(argc, argv);
    asio::io_context ioc(1);
    stampede s(ioc, o);
    int rc = 1;
    asio::co_spawn(ioc, s.run(), [&](std::exception_ptr e, int r) {
        if (e) {
            try {
                std::rethrow_exception(e);
            } catch (const std::exception& x) {
                std::fprintf(stderr, "stampede_bench: %s\n", x.what());
            }
        } else {
            rc = r;
        }
        s.close();
        ioc.stop();
    });
    ioc.run();
    return rc;
}
