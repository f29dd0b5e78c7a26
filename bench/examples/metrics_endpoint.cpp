// metrics_endpoint: a client's metrics (client::metrics()) served to Prometheus.
//
//   metrics_endpoint --server 127.0.0.1:11211[,HOST:PORT...] --listen 127.0.0.1:9150
//                    [--for SECONDS]
//
// A workload coroutine keeps the client busy (sets, hits, misses) while a small HTTP/1.1
// endpoint answers `GET /metrics` with the counters in Prometheus' text exposition
// format (version 0.0.4): one series per server, which Prometheus sums as it is asked
// to. The client's log (client_options::logger: connects, disconnects and their causes)
// goes to stderr. Runs until killed, or for SECONDS. Exits 1 when the servers cannot be
// reached.
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <chrono>
#include <cstdio>
#include <exception>
#include <iostream>
#include <memcoro/memcoro.hpp>
#include <string>
#include <string_view>

namespace asio = boost::asio;
using asio::ip::tcp;
using namespace std::chrono_literals;

namespace {

// Appends one sample: `name{labels} value`.
void sample(std::string& out, std::string_view name, const std::string& labels,
            std::uint64_t value) {
    out.append(name).append("{").append(labels).append("} ").append(std::to_string(value));
    out += '\n';
}

void header(std::string& out, std::string_view name, std::string_view type, std::string_view help) {
    out.append("# HELP ").append(name).append(" ").append(help).append("\n");
    out.append("# TYPE ").append(name).append(" ").append(type).append("\n");
}

// The exposition of every server's counters.
std::string exposition(const memcoro::client_metrics& m) {
    std::string out;
    const auto server = [](const memcoro::server_metrics& s) {
        // Addresses hold no quote or backslash that would need escaping.
        return "server=\"" + s.address + "\"";
    };
    header(out, "memcoro_operations_total", "counter", "Operations by server and kind.");
    for (const auto& s : m.servers) {
        for (std::size_t k = 0; k < memcoro::operation_kinds; ++k) {
            const auto kind = memcoro::to_string(static_cast<memcoro::operation_kind>(k));
            sample(out, "memcoro_operations_total",
                   server(s) + ",kind=\"" + std::string(kind) + "\"", s.operations[k]);
        }
    }
    header(out, "memcoro_errors_total", "counter", "Operations that failed, by error.");
    for (const auto& s : m.servers) {
        for (std::size_t e = 0; e < memcoro::error_slots; ++e) {
            if (s.errors[e] == 0) continue;
            const auto code = memcoro::error_slot_name(e);
            sample(out, "memcoro_errors_total", server(s) + ",code=\"" + std::string(code) + "\"",
                   s.errors[e]);
        }
    }
    const struct {
        const char* name;
        const char* help;
        std::uint64_t memcoro::server_metrics::*field;
    } counters[] = {
        {"memcoro_hits_total", "Keys found.", &memcoro::server_metrics::hits},
        {"memcoro_misses_total", "Keys not found.", &memcoro::server_metrics::misses},
        {"memcoro_cancellations_total", "Operations cancelled.",
         &memcoro::server_metrics::cancellations},
        {"memcoro_reconnects_total", "Connects after the first.",
         &memcoro::server_metrics::reconnects},
        {"memcoro_connect_failures_total", "Connects that failed.",
         &memcoro::server_metrics::connect_failures},
        {"memcoro_written_bytes_total", "Bytes written.", &memcoro::server_metrics::bytes_written},
        {"memcoro_read_bytes_total", "Bytes read.", &memcoro::server_metrics::bytes_read},
    };
    for (const auto& c : counters) {
        header(out, c.name, "counter", c.help);
        for (const auto& s : m.servers) sample(out, c.name, server(s), s.*c.field);
    }
    header(out, "memcoro_queue_depth", "gauge", "Operations started and not completed.");
    for (const auto& s : m.servers) sample(out, "memcoro_queue_depth", server(s), s.queue_depth);

    const std::string_view h = "memcoro_operation_duration_seconds";
    header(out, h, "histogram", "Time from an operation's start to its completion.");
    for (const auto& s : m.servers) {
        std::uint64_t cumulative = 0;  // Prometheus' buckets count everything up to `le`
        for (std::size_t b = 0; b < memcoro::latency_histogram::buckets; ++b) {
            cumulative += s.latency.counts[b];
            char le[32] = "+Inf";
            if (b + 1 < memcoro::latency_histogram::buckets) {
                const auto bound = memcoro::latency_histogram::upper_bound(b);
                std::snprintf(le, sizeof le, "%.10g", static_cast<double>(bound.count()) / 1e9);
            }
            sample(out, std::string(h) + "_bucket", server(s) + ",le=\"" + le + "\"", cumulative);
        }
        char sum[64];
        std::snprintf(sum, sizeof sum, "%.9f",
                      std::chrono::duration<double>(s.latency.sum).count());
        out.append(h).append("_sum{").append(server(s)).append("} ").append(sum).append("\n");
        sample(out, std::string(h) + "_count", server(s), cumulative);
    }
    return out;
}

// One HTTP/1.1 exchange per connection: GET /metrics, or 404; then the connection closes.
asio::awaitable<void> serve(tcp::socket socket, const memcoro::client& mc) {
    try {
        std::string request;
        // Named first: g++ 12 mishandles temporaries built in a co_await expression.
        auto into = asio::dynamic_buffer(request, 8192);
        co_await asio::async_read_until(socket, into, "\r\n\r\n", asio::use_awaitable);
        const bool wanted = request.starts_with("GET /metrics ");
        const std::string body = wanted ? exposition(mc.metrics()) : "not found\n";
        std::string reply = wanted ? "HTTP/1.1 200 OK\r\n" : "HTTP/1.1 404 Not Found\r\n";
        reply += "Content-Type: text/plain; version=0.0.4\r\nConnection: close\r\n";
        reply += "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
        const auto out = asio::buffer(reply);
        co_await asio::async_write(socket, out, asio::use_awaitable);
    } catch (const std::exception&) {
        // A client that went away or sent too much: nothing to answer.
    }
}

asio::awaitable<void> listen(tcp::acceptor& acceptor, const memcoro::client& mc) {
    for (;;) {
        tcp::socket socket = co_await acceptor.async_accept(asio::use_awaitable);
        asio::co_spawn(acceptor.get_executor(), serve(std::move(socket), mc), asio::detached);
    }
}

// Keeps the numbers moving: a set, a hit and a miss every few milliseconds.
asio::awaitable<void> workload(memcoro::client& mc) {
    asio::steady_timer timer(co_await asio::this_coro::executor);
    for (std::uint64_t i = 0;; ++i) {
        const std::string key = "metrics_endpoint:" + std::to_string(i % 100);
        (void)co_await mc.set(key, "value");
        (void)co_await mc.get(key);
        (void)co_await mc.get("metrics_endpoint:absent");
        timer.expires_after(5ms);
        co_await timer.async_wait(asio::use_awaitable);
    }
}

}  // namespace

int main(int argc, char** argv) {
    std::string servers;
    std::string listen_at = "127.0.0.1:9150";
    long seconds = 0;
    for (int i = 1; i + 1 < argc; i += 2) {
        const std::string_view a = argv[i];
        if (a == "--server")
            servers = argv[i + 1];
        else if (a == "--listen")
            listen_at = argv[i + 1];
        else if (a == "--for")
            seconds = std::stol(argv[i + 1]);
    }
    if (servers.empty()) {
        std::cerr << "usage: metrics_endpoint --server HOST:PORT[,...] [--listen HOST:PORT] "
                     "[--for SECONDS]\n";
        return 2;
    }
    memcoro::client_options options;
    for (std::size_t at = 0; at <= servers.size();) {
        const auto end = std::min(servers.find(',', at), servers.size());
        options.servers.push_back({servers.substr(at, end - at)});
        at = end + 1;
    }
    // What the client tells an operator, one line each: the logger runs on the client's
    // executor with no lock of the client's held, so it could also read the metrics.
    options.logger = [](const memcoro::log_event& e) {
        std::clog << "memcoro " << memcoro::to_string(e.level) << ": " << e.message << '\n';
    };
    const auto colon = listen_at.rfind(':');
    const tcp::endpoint endpoint(
        asio::ip::make_address(listen_at.substr(0, colon)),
        static_cast<unsigned short>(std::stoi(listen_at.substr(colon + 1))));

    asio::io_context ioc;
    memcoro::client mc(ioc.get_executor(), options);
    tcp::acceptor acceptor(ioc, endpoint);
    int status = 0;
    asio::co_spawn(
        ioc,
        [&]() -> asio::awaitable<void> {
            // Refuse to serve numbers of a client that reaches no server, and serve
            // none before a get has been counted: the acceptor listens already, and a
            // scrape that came early waits in its backlog until listen() accepts it.
            co_await mc.set("metrics_endpoint:start", "1");
            (void)co_await mc.get("metrics_endpoint:start");
            std::cout << "serving http://" << listen_at << "/metrics" << std::endl;
            asio::co_spawn(ioc, workload(mc), asio::detached);
            co_await listen(acceptor, mc);
        },
        [&](std::exception_ptr e) {
            if (!e) return;
            try {
                std::rethrow_exception(e);
            } catch (const std::exception& ex) {
                std::cerr << "metrics_endpoint: " << ex.what() << "\n";
            }
            status = 1;
            ioc.stop();
        });
    if (seconds > 0) {
        ioc.run_for(std::chrono::seconds(seconds));
    } else {
        ioc.run();
    }
    return status;
}
