// memcoro_bench: one benchmark scenario of shared/performance.md section 4 per run, against
// a memcached that already holds the data (run_suite.py preloads it with `raw_ceiling
// --mode load`). Prints one JSON line on stdout, the format every program of bench/suite
// shares, so that run_suite.py and det_counts.py treat all clients alike.
//
//     memcoro_bench --server 127.0.0.1:PORT --scenario S2 --depth 128 --ops 1000000
//
// Scenarios (keys are "v<valsize>:%08d", all hits):
//   S1  sequential get, 100 B, one coroutine
//   S2  --depth coroutines (default 128) on one client, each looping get 100 B
//   S3  get_many of 100 keys, one call at a time; ops are counted in keys
//   S4  set noreply 100 B, --depth coroutines (default 256) so that the sets batch
//   S5  --depth coroutines (default 128) set 100 B with reply
//   S6  get 100 KB with --depth coroutines (1 = sequential, the default; run_suite uses 16 too)
//   S7  get 1 MiB, sequential
//   S8  --conns clients (default 4) x --depth coroutines (default 128), get 100 B
//   S9  get_many of 100 keys over a tier (--server A,B,C,D), one call at a time; ops are keys
//   S10 --depth coroutines (default 512) on one client over a tier, each looping get 100 B
//   S11 --threads threads (default 2) run the io_context of one client with
//       --conns-per-server connections (default 2); --depth coroutines (default 512) get
//
// --server takes a comma-separated list: the client's `servers` (ketama, weight 1), and
// --server-pid the matching pids (the server CPU is their sum).
//
// --api into runs the get scenarios with get_into, --api meta with meta_get (the same
// `mg <key> v f` on the wire as get's, through the typed meta call).
//
// --tls-ca FILE talks TLS (client_options::tls) to every server, trusting the
// certificates of FILE and checking the name against the address's host (S13: the same
// scenarios over memcached's TLS listener). OpenSSL allocates with malloc, not operator
// new: its calls are counted apart (ssl_allocs) through CRYPTO_set_mem_functions.
// --has-tls only answers whether this build of memcoro has TLS (exit status 0 or 1).
//
// --metrics off runs without counting (client_options::metrics): S2 with and without
// shows what the counting costs the pipelined path.
//
// The measured phase follows a short warm-up on the same clients, so the connection is up,
// the protocol probed and every buffer and coroutine frame pool grown: the counts then
// describe the steady state. Allocations come from the counting operator new/delete below;
// they count only while the measured phase runs.
#include <execinfo.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/bind_executor.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <iterator>
#include <memcoro/memcoro.hpp>
#include <memory>
#include <new>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#if MEMCORO_BENCH_OPENSSL
#include <openssl/crypto.h>
#endif

#include "cli.hpp"
#include "measure.h"

namespace asio = boost::asio;

// ---- Counting allocator -----------------------------------------------------------------
//
// Every replaceable global operator new/delete is replaced, so nothing the library or Asio
// allocates through C++ escapes the count. Relaxed atomics: the bench runs one thread (two
// in S11), Asio may start a resolver thread, and a data race would make the counts lie.

namespace {

std::atomic<bool> g_counting{false};
std::atomic<std::uint64_t> g_allocs{0};
std::atomic<std::uint64_t> g_alloc_bytes{0};
std::atomic<std::uint64_t> g_frees{0};

// MEMCORO_BENCH_ALLOC_TRACE=N prints the call stacks of the first N counted allocations
// (operator new's and OpenSSL's) on stderr (resolve the "(+0x...)" offsets with `addr2line
// -Cfe memcoro_bench`): where the allocations per op come from. Off by default; it costs
// nothing then.
std::atomic<long> g_trace_left{0};
thread_local bool t_in_trace = false;

// `what`: "allocation", or OpenSSL's file:line of the call.
void trace_alloc(const char* what, std::size_t n) noexcept {
    if (g_trace_left.load(std::memory_order_relaxed) > 0 && !t_in_trace &&
        g_trace_left.fetch_sub(1, std::memory_order_relaxed) > 0) {
        // backtrace() may allocate with malloc, never with operator new; the flag
        // guards against recursion all the same.
        t_in_trace = true;
        void* frames[24];
        const int depth = backtrace(frames, 24);
        char head[256];
        const int len = std::snprintf(head, sizeof head, "--- %s of %zu bytes\n", what, n);
        if (len > 0) {
            (void)!write(2, head, std::min(static_cast<std::size_t>(len), sizeof head - 1));
        }
        backtrace_symbols_fd(frames, depth, 2);
        t_in_trace = false;
    }
}

void note_alloc(std::size_t n) noexcept {
    if (g_counting.load(std::memory_order_relaxed)) {
        g_allocs.fetch_add(1, std::memory_order_relaxed);
        g_alloc_bytes.fetch_add(n, std::memory_order_relaxed);
        trace_alloc("allocation", n);
    }
}

// OpenSSL's own allocations (malloc and realloc calls), counted while the measured phase
// runs: Asio's SSL stream and OpenSSL allocate records and buffers outside operator new.
std::atomic<std::uint64_t> g_ssl_allocs{0};

void note_free(void* p) noexcept {
    if (p != nullptr && g_counting.load(std::memory_order_relaxed)) {
        g_frees.fetch_add(1, std::memory_order_relaxed);
    }
}

[[gnu::noinline]] void* counted_alloc(std::size_t n) noexcept {
    note_alloc(n);
    return std::malloc(n == 0 ? 1 : n);
}

[[gnu::noinline]] void* counted_aligned_alloc(std::size_t n, std::align_val_t al) noexcept {
    note_alloc(n);
    const auto a = static_cast<std::size_t>(al);
    // aligned_alloc wants a size that is a multiple of the alignment.
    const std::size_t rounded = ((n == 0 ? 1 : n) + a - 1) / a * a;
    return std::aligned_alloc(a, rounded);
}

// Not inlined: GCC would otherwise see `new T` meet free() at the call site and warn
// (-Wmismatched-new-delete), which -Werror makes fatal.
[[gnu::noinline]] void counted_free(void* p) noexcept {
    note_free(p);
    std::free(p);
}

#if MEMCORO_BENCH_OPENSSL
void note_ssl_alloc(std::size_t n, const char* file, int line) noexcept {
    if (g_counting.load(std::memory_order_relaxed)) {
        g_ssl_allocs.fetch_add(1, std::memory_order_relaxed);
        if (g_trace_left.load(std::memory_order_relaxed) > 0) {
            char what[160];
            std::snprintf(what, sizeof what, "OpenSSL allocation at %s:%d",
                          file != nullptr ? file : "?", line);
            trace_alloc(what, n);
        }
    }
}
void* ssl_malloc(std::size_t n, const char* file, int line) {
    note_ssl_alloc(n, file, line);
    return std::malloc(n);
}
void* ssl_realloc(void* p, std::size_t n, const char* file, int line) {
    note_ssl_alloc(n, file, line);
    return std::realloc(p, n);
}
void ssl_free(void* p, const char*, int) {
    std::free(p);
}
#endif

// Routes OpenSSL's allocations through the counters above. It must run before OpenSSL
// allocates anything; false when it could not (or the build has no OpenSSL).
bool count_ssl_allocations() {
#if MEMCORO_BENCH_OPENSSL
    return CRYPTO_set_mem_functions(ssl_malloc, ssl_realloc, ssl_free) == 1;
#else
    return false;
#endif
}

}  // namespace

void* operator new(std::size_t n) {
    if (void* p = counted_alloc(n)) return p;
    throw std::bad_alloc();
}
void* operator new[](std::size_t n) {
    if (void* p = counted_alloc(n)) return p;
    throw std::bad_alloc();
}
void* operator new(std::size_t n, const std::nothrow_t&) noexcept {
    return counted_alloc(n);
}
void* operator new[](std::size_t n, const std::nothrow_t&) noexcept {
    return counted_alloc(n);
}
void* operator new(std::size_t n, std::align_val_t al) {
    if (void* p = counted_aligned_alloc(n, al)) return p;
    throw std::bad_alloc();
}
void* operator new[](std::size_t n, std::align_val_t al) {
    if (void* p = counted_aligned_alloc(n, al)) return p;
    throw std::bad_alloc();
}
void* operator new(std::size_t n, std::align_val_t al, const std::nothrow_t&) noexcept {
    return counted_aligned_alloc(n, al);
}
void* operator new[](std::size_t n, std::align_val_t al, const std::nothrow_t&) noexcept {
    return counted_aligned_alloc(n, al);
}
void operator delete(void* p) noexcept {
    counted_free(p);
}
void operator delete[](void* p) noexcept {
    counted_free(p);
}
void operator delete(void* p, std::size_t) noexcept {
    counted_free(p);
}
void operator delete[](void* p, std::size_t) noexcept {
    counted_free(p);
}
void operator delete(void* p, const std::nothrow_t&) noexcept {
    counted_free(p);
}
void operator delete[](void* p, const std::nothrow_t&) noexcept {
    counted_free(p);
}
void operator delete(void* p, std::align_val_t) noexcept {
    counted_free(p);
}
void operator delete[](void* p, std::align_val_t) noexcept {
    counted_free(p);
}
void operator delete(void* p, std::size_t, std::align_val_t) noexcept {
    counted_free(p);
}
void operator delete[](void* p, std::size_t, std::align_val_t) noexcept {
    counted_free(p);
}
void operator delete(void* p, std::align_val_t, const std::nothrow_t&) noexcept {
    counted_free(p);
}
void operator delete[](void* p, std::align_val_t, const std::nothrow_t&) noexcept {
    counted_free(p);
}

namespace {

using clock_type = std::chrono::steady_clock;

// ---- Options -----------------------------------------------------------------------------

struct options {
    std::string server = "127.0.0.1:11211";  // or "HOST:PORT,HOST:PORT,...": a tier
    std::string scenario = "S1";
    int depth = 0;          // 0: the scenario's default
    int conns = 0;          // 0: the scenario's default
    std::uint64_t ops = 0;  // 0: the scenario's default (unless --seconds)
    double seconds = 0;
    std::int64_t warmup = -1;  // -1: automatic
    std::size_t valsize = 0;   // 0: the scenario's
    std::size_t keys = 0;      // 0: 1000 for 100 B values, 100 for large ones
    std::size_t batch = 100;   // S3: keys per get_many
    memcoro::wire_protocol protocol = memcoro::wire_protocol::automatic;
    std::string protocol_name = "auto";
    // The call of the get scenarios (S1 S2 S6 S7 S8 S10 S11): "item" (get), "into"
    // (get_into a reused buffer) or "meta" (meta_get, the typed mg).
    std::string api = "item";
    std::string server_pids;           // "PID" or "PID,PID,...": the server CPU is their sum
    int threads = 0;                   // 0: the scenario's (2 for S11, else 1)
    std::size_t conns_per_server = 0;  // 0: the scenario's (2 for S11, else 1)
    std::int64_t op_timeout_ms = -1;   // -1: the library's default
    std::string tls_ca;                // non-empty: TLS, trusting this CA file
    bool ssl_counted = false;          // OpenSSL's allocations go through ssl_malloc
    bool metrics = true;               // client_options::metrics
};

[[noreturn]] void usage(const char* why) {
    std::fprintf(stderr,
                 "memcoro_bench: %s\n"
                 "usage: memcoro_bench [--server HOST:PORT[,HOST:PORT...]] [--scenario S1..S11]\n"
                 "         [--depth D] [--conns C] [--conns-per-server N] [--threads T]\n"
                 "         [--ops N | --seconds T] [--warmup N] [--valsize B] [--keys K]\n"
                 "         [--batch K] [--protocol meta|text|auto] [--api item|into|meta]\n"
                 "         [--server-pid PID[,PID...]] [--op-timeout-ms MS] [--tls-ca FILE]\n"
                 "         [--metrics on|off]\n"
                 "       memcoro_bench --has-tls\n",
                 why);
    std::exit(2);
}

options parse_options(int argc, char** argv) {
    options o;
    bench_cli::args args(argc, argv, usage);
    for (std::string_view a; args.next(a);) {
        if (a == "--server")
            o.server = args.value();
        else if (a == "--scenario")
            o.scenario = args.value();
        else if (a == "--depth")
            o.depth = args.number<int>();
        else if (a == "--conns")
            o.conns = args.number<int>();
        else if (a == "--ops")
            o.ops = args.number<std::uint64_t>();
        else if (a == "--seconds")
            o.seconds = std::stod(std::string(args.value()));
        else if (a == "--warmup")
            o.warmup = args.number<std::int64_t>();
        else if (a == "--valsize")
            o.valsize = args.number<std::size_t>();
        else if (a == "--keys")
            o.keys = args.number<std::size_t>();
        else if (a == "--batch")
            o.batch = args.number<std::size_t>();
        else if (a == "--server-pid")
            o.server_pids = args.value();
        else if (a == "--threads")
            o.threads = args.number<int>();
        else if (a == "--conns-per-server")
            o.conns_per_server = args.number<std::size_t>();
        else if (a == "--op-timeout-ms")
            o.op_timeout_ms = args.number<std::int64_t>();
        else if (a == "--api")
            o.api = args.value();
        else if (a == "--tls-ca")
            o.tls_ca = args.value();
        else if (a == "--metrics") {
            const std::string_view v = args.value();
            if (v != "on" && v != "off") usage("--metrics takes on or off");
            o.metrics = v == "on";
        } else if (a == "--has-tls")
            std::exit(memcoro::tls_available() ? 0 : 1);
        else if (a == "--protocol") {
            o.protocol_name = args.value();
            if (o.protocol_name == "meta")
                o.protocol = memcoro::wire_protocol::meta;
            else if (o.protocol_name == "text")
                o.protocol = memcoro::wire_protocol::text;
            else if (o.protocol_name == "auto")
                o.protocol = memcoro::wire_protocol::automatic;
            else
                usage("--protocol takes meta, text or auto");
        } else if (a == "--help" || a == "-h")
            usage("help");
        else
            usage(("unknown option " + std::string(a)).c_str());
    }
    // Scenario defaults: performance.md section 4.
    struct defaults {
        const char* name;
        int depth;
        int conns;
        std::uint64_t ops;
        std::size_t valsize;
        int threads = 1;
        std::size_t conns_per_server = 1;
    };
    static constexpr defaults table[] = {
        {"S1", 1, 1, 20'000, 100},
        {"S2", 128, 1, 1'000'000, 100},
        {"S3", 1, 1, 2'000'000, 100},
        {"S4", 256, 1, 1'000'000, 100},
        {"S5", 128, 1, 500'000, 100},
        {"S6", 1, 1, 10'000, 102'400},
        {"S7", 1, 1, 3'000, 1'048'576},
        {"S8", 128, 4, 1'000'000, 100},
        {"S9", 1, 1, 1'000'000, 100},
        {"S10", 512, 1, 1'000'000, 100},
        {"S11", 512, 1, 1'000'000, 100, 2, 2},
    };
    const defaults* d = nullptr;
    for (const auto& t : table) {
        if (o.scenario == t.name) d = &t;
    }
    if (d == nullptr) usage("--scenario takes S1 .. S11");
    if (o.depth == 0) o.depth = d->depth;
    if (o.conns == 0) o.conns = d->conns;
    if (o.ops == 0 && o.seconds <= 0) o.ops = d->ops;
    if (o.valsize == 0) o.valsize = d->valsize;
    if (o.keys == 0) o.keys = o.valsize <= 1024 ? 1000 : 100;
    if (o.threads == 0) o.threads = d->threads;
    if (o.conns_per_server == 0) o.conns_per_server = d->conns_per_server;
    if (o.depth < 1 || o.conns < 1 || o.batch < 1 || o.keys < 1 || o.threads < 1) {
        usage("counts must be >= 1");
    }
    if (o.api != "item" && o.api != "into" && o.api != "meta") {
        usage("--api takes item, into or meta");
    }
    // S1 and S7 are sequential by definition; S3 issues one get_many at a time.
    if (o.scenario == "S1" || o.scenario == "S7") o.depth = 1;
    return o;
}

// ---- Measurement helpers -----------------------------------------------------------------

long context_switches() {
    rusage ru{};
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_nvcsw + ru.ru_nivcsw;
}

// ---- The run ------------------------------------------------------------------------------

// Work shared by the coroutines of a phase: they take operations one at a time from here,
// so the total is exact however the scheduler interleaves them. (With several threads,
// each coroutine has one of its own: a cache line each, or two coroutines that resume on
// different threads would pass one line back and forth for every operation.)
struct alignas(64) phase_state {
    std::uint64_t target = 0;  // operations (calls) to issue; 0 with a deadline
    clock_type::time_point deadline = clock_type::time_point::max();
    bool timed = false;
    std::uint64_t issued = 0;
    std::uint64_t misses = 0;
    std::uint64_t errors = 0;
    std::uint64_t value_bytes = 0;
    std::string first_error;
    bool stop = false;

    // Hands out the index of the next operation, or nothing when the phase is over.
    std::optional<std::uint64_t> claim() {
        if (stop) return std::nullopt;
        if (timed) {
            // Reading the clock every call would add to the cost per op; every 64th call
            // is precise enough for runs of a second or more.
            if ((issued & 63) == 0 && clock_type::now() >= deadline) {
                stop = true;
                return std::nullopt;
            }
        } else if (issued >= target) {
            return std::nullopt;
        }
        return issued++;
    }

    void fail(std::string_view what) {
        ++errors;
        if (first_error.empty()) first_error = what;
        stop = true;  // one failure spoils the figure; end the phase quickly
    }
};

// The message of a coroutine's exception.
std::string what(const std::exception_ptr& e) {
    try {
        std::rethrow_exception(e);
    } catch (const std::exception& x) {
        return x.what();
    } catch (...) {
        return "unknown exception";
    }
}

class bench {
  public:
    bench(asio::io_context& ioc, const options& o)
        : o_(o), work_ex_(ioc.get_executor()), strand_(asio::make_strand(ioc)) {
        for (std::size_t i = 0; i < o.keys; ++i) {
            char buf[64];
            const int n = std::snprintf(buf, sizeof buf, "v%zu:%08zu", o.valsize, i);
            keys_.emplace_back(buf, static_cast<std::size_t>(n));
        }
        key_views_.assign(keys_.begin(), keys_.end());
        value_.assign(o.valsize, 'x');
        memcoro::client_options co;
        if (o.server.find(',') == std::string::npos) {
            co.server = o.server;
        } else {
            for (std::size_t at = 0; at <= o.server.size();) {
                const std::size_t end = std::min(o.server.find(',', at), o.server.size());
                co.servers.push_back({o.server.substr(at, end - at)});
                at = end + 1;
            }
        }
        servers_ = co.servers.empty() ? 1 : co.servers.size();
        co.connections_per_server = o.conns_per_server;
        co.protocol = o.protocol;
        // Large values must fit: the library refuses values above max_value_size.
        co.max_value_size = std::max<std::size_t>(co.max_value_size, o.valsize);
        if (o.op_timeout_ms >= 0) co.op_timeout = std::chrono::milliseconds(o.op_timeout_ms);
        if (!o.tls_ca.empty()) co.tls = memcoro::tls_options{.ca_file = o.tls_ca};
        co.metrics = o.metrics;
        clients_.reserve(static_cast<std::size_t>(o.conns));
        for (int i = 0; i < o.conns; ++i) {
            clients_.push_back(std::make_unique<memcoro::client>(ioc.get_executor(), co));
        }
    }

    // Runs the warm-up and the measured phase, prints the JSON line. Returns the exit code.
    asio::awaitable<int> run() {
        // Warm-up: enough operations for every coroutine to go round a few times.
        std::uint64_t warm = 0;
        if (o_.warmup >= 0) {
            warm = static_cast<std::uint64_t>(o_.warmup);
        } else {
            const std::uint64_t workers = std::uint64_t(o_.depth) * std::uint64_t(o_.conns);
            warm = std::max<std::uint64_t>(workers * 4, o_.ops / 20);
            warm = std::min<std::uint64_t>(warm, 200'000);
            if (o_.seconds > 0) warm = std::min<std::uint64_t>(warm, 20'000);
        }
        phase_state w;
        w.target = std::max<std::uint64_t>(warm / calls_per_op_unit(), 1);
        co_await run_phase(w);
        co_await fence();
        if (w.errors != 0) {
            std::fprintf(stderr, "memcoro_bench: warm-up failed: %s\n", w.first_error.c_str());
            co_return 1;
        }

        phase_state m;
        if (o_.seconds > 0) {
            m.timed = true;
        } else {
            m.target = std::max<std::uint64_t>(o_.ops / calls_per_op_unit(), 1);
        }
        const double server0 = servers_cpu_seconds(o_.server_pids.c_str());
        const long csw0 = context_switches();
        const double cpu0 = cpu_seconds();
        const auto t0 = clock_type::now();
        if (m.timed) {
            m.deadline = t0 + std::chrono::duration_cast<clock_type::duration>(
                                  std::chrono::duration<double>(o_.seconds));
        }
        g_allocs = 0;
        g_alloc_bytes = 0;
        g_frees = 0;
        g_ssl_allocs = 0;
        g_counting = true;
        co_await run_phase(m);
        // noreply sets complete when written: one round trip makes sure the server has
        // handled them all before the clock stops. Every scenario does it, so it is a
        // constant that det_counts.py's two-length difference removes.
        co_await fence();
        g_counting = false;
        const auto t1 = clock_type::now();
        const double cpu1 = cpu_seconds();
        const long csw1 = context_switches();
        const double server1 = servers_cpu_seconds(o_.server_pids.c_str());

        const std::uint64_t ops = m.issued * calls_per_op_unit();
        const double secs = std::chrono::duration<double>(t1 - t0).count();
        const double per = ops ? 1.0 / double(ops) : 0.0;
        std::string line;
        line.reserve(1024);
        auto add = [&](const char* fmt, auto... args) {
            char buf[256];
            const int n = std::snprintf(buf, sizeof buf, fmt, args...);
            line.append(buf, static_cast<std::size_t>(std::max(n, 0)));
        };
        add("{\"client\":\"memcoro\",\"scenario\":\"%s\",\"mode\":\"%s\",\"protocol\":\"%s\"",
            o_.scenario.c_str(), mode_name(), o_.protocol_name.c_str());
        add(",\"api\":\"%s\",\"conns\":%d,\"depth\":%d,\"valsize\":%zu,\"keys\":%zu",
            o_.api.c_str(), o_.conns, o_.depth, o_.valsize, o_.keys);
        add(",\"servers\":%zu,\"conns_per_server\":%zu,\"threads\":%d", servers_,
            o_.conns_per_server, o_.threads);
        add(",\"tls\":%s,\"metrics\":%s", o_.tls_ca.empty() ? "false" : "true",
            o_.metrics ? "true" : "false");
        add(",\"unit\":\"%s\",\"ops\":%llu,\"secs\":%.6f,\"ops_per_s\":%.1f", many() ? "key" : "op",
            static_cast<unsigned long long>(ops), secs, secs > 0 ? double(ops) / secs : 0.0);
        add(",\"cpu_us_per_op\":%.4f", (cpu1 - cpu0) * 1e6 * per);
        if (server0 >= 0 && server1 >= 0) {
            add(",\"server_cpu_us_per_op\":%.4f", (server1 - server0) * 1e6 * per);
        } else {
            line += ",\"server_cpu_us_per_op\":null";
        }
        add(",\"mb_per_s\":%.2f", secs > 0 ? double(m.value_bytes) / secs / 1e6 : 0.0);
        add(",\"allocs\":%llu,\"allocs_per_op\":%.4f,\"alloc_bytes_per_op\":%.1f",
            static_cast<unsigned long long>(g_allocs.load()), double(g_allocs.load()) * per,
            double(g_alloc_bytes.load()) * per);
        add(",\"frees_per_op\":%.4f,\"ctxsw_per_op\":%.5f", double(g_frees.load()) * per,
            double(csw1 - csw0) * per);
        if (!o_.tls_ca.empty() && o_.ssl_counted) {
            add(",\"ssl_allocs\":%llu,\"ssl_allocs_per_op\":%.4f",
                static_cast<unsigned long long>(g_ssl_allocs.load()),
                double(g_ssl_allocs.load()) * per);
        } else if (!o_.tls_ca.empty()) {
            line += ",\"ssl_allocs\":null,\"ssl_allocs_per_op\":null";
        }
        add(",\"misses\":%llu,\"errors\":%llu", static_cast<unsigned long long>(m.misses),
            static_cast<unsigned long long>(m.errors));
        if (!m.first_error.empty()) {
            std::string e;
            for (char c : m.first_error) {
                if (c == '"' || c == '\\') e += '\\';
                if (static_cast<unsigned char>(c) >= 0x20) e += c;
            }
            line += ",\"error\":\"" + e + "\"";
        }
        line += "}\n";
        std::fputs(line.c_str(), stdout);
        std::fflush(stdout);
        co_return m.errors == 0 ? 0 : 1;
    }

    void close() {
        for (auto& c : clients_) c->close();
    }

    [[nodiscard]] asio::any_io_executor home() const { return strand_; }

  private:
    // S3 and S9 call get_many, and count its keys as operations.
    [[nodiscard]] bool many() const { return o_.scenario == "S3" || o_.scenario == "S9"; }

    // get_many counts its keys as operations; every other scenario one op per call.
    [[nodiscard]] std::uint64_t calls_per_op_unit() const { return many() ? o_.batch : 1; }

    enum class work : std::uint8_t { get, get_into, meta_get, get_many, set_noreply, set };
    [[nodiscard]] work work_kind() const {
        if (many()) return work::get_many;
        if (o_.scenario == "S4") return work::set_noreply;
        if (o_.scenario == "S5") return work::set;
        if (o_.api == "meta") return work::meta_get;
        return o_.api == "into" ? work::get_into : work::get;
    }

    [[nodiscard]] const char* mode_name() const {
        if (many()) return "get_many";
        if (o_.scenario == "S4") return "set_noreply";
        if (o_.scenario == "S5") return "set";
        if (o_.api == "meta") return "meta_get";
        return o_.api == "into" ? "get_into" : "get";
    }

    // Starts depth coroutines on each client and waits until all have finished.
    asio::awaitable<void> run_phase(phase_state& st) {
        if (o_.threads > 1) {
            co_await run_threaded_phase(st);
            co_return;
        }
        auto ex = co_await asio::this_coro::executor;
        asio::steady_timer all_done(ex, clock_type::time_point::max());
        std::size_t alive = 0;
        for (auto& c : clients_) {
            for (int d = 0; d < o_.depth; ++d) {
                ++alive;
                asio::co_spawn(ex, worker(*c, st), [&](std::exception_ptr e) {
                    if (e) st.fail(what(e));
                    if (--alive == 0) all_done.cancel();
                });
            }
        }
        co_await all_done.async_wait(asio::as_tuple(asio::use_awaitable));
    }

    // With several threads (S11) the coroutines resume on either thread, so each takes
    // its operations from a phase_state of its own: a share of the target, from its own
    // first index. Their counts join the phase's on the strand this phase runs on, which
    // also serializes the count of coroutines still running and the timer's cancel.
    asio::awaitable<void> run_threaded_phase(phase_state& st) {
        asio::steady_timer all_done(strand_, clock_type::time_point::max());
        const std::size_t workers = clients_.size() * static_cast<std::size_t>(o_.depth);
        std::vector<phase_state> parts(workers);
        std::size_t alive = workers;
        for (std::size_t w = 0; w < workers; ++w) {
            auto& part = parts[w];
            part.timed = st.timed;
            part.deadline = st.deadline;
            part.issued = st.target / workers * w;
            part.target = w + 1 == workers ? st.target : st.target / workers * (w + 1);
            const std::uint64_t first = part.issued;
            auto& mc = *clients_[w % clients_.size()];
            asio::co_spawn(work_ex_, worker(mc, part),
                           asio::bind_executor(strand_, [&, first](std::exception_ptr e) {
                               if (e) part.fail(what(e));
                               st.issued += part.issued - first;
                               st.misses += part.misses;
                               st.errors += part.errors;
                               st.value_bytes += part.value_bytes;
                               if (st.first_error.empty()) st.first_error = part.first_error;
                               if (--alive == 0) all_done.cancel();
                           }));
        }
        co_await all_done.async_wait(asio::as_tuple(asio::use_awaitable));
    }

    // One round trip on every client (every server of a tier): everything written before
    // it has been handled.
    asio::awaitable<void> fence() {
        for (auto& c : clients_) {
            if (servers_ == 1) {
                co_await c->version();
                continue;
            }
            for (const auto& r : co_await c->version_each()) {
                if (r.error) throw boost::system::system_error(r.error, "version_each");
            }
        }
    }

    asio::awaitable<void> worker(memcoro::client& mc, phase_state& st) {
        const std::string_view value = value_;
        const memcoro::store_options noreply{.noreply = true};
        const memcoro::store_options reply{};
        // get_into appends to this buffer; it is reused, so after the warm-up it needs no
        // allocation of its own.
        std::string into;
        const std::size_t batches = std::max<std::size_t>(key_views_.size() / o_.batch, 1);
        // Decided once: comparing the scenario's name per call would add to the
        // instructions per op that det_counts.py reports as the library's.
        const work w = work_kind();
        while (auto i = st.claim()) {
            const std::string_view key = keys_[*i % keys_.size()];
            if (w == work::get_many) {
                const std::size_t first = (*i % batches) * o_.batch;
                const std::size_t n = std::min(o_.batch, key_views_.size() - first);
                std::vector<memcoro::item> got = co_await mc.get_many(
                    std::span<const std::string_view>(key_views_.data() + first, n));
                st.misses += n - got.size();
                for (const auto& it : got) st.value_bytes += it.value().size();
            } else if (w == work::set_noreply) {
                // A noreply set completes once the write that carries it is done. While
                // one write is under way, the other coroutines' sets queue up, and the
                // connection sends everything queued in one gather write: with --depth
                // coroutines (256 by default) the sets go out in batches of up to that
                // many, as raw_ceiling's batches of 1024 and libmemcached's
                // BUFFER_REQUESTS do. One coroutine would pay a write per set.
                co_await mc.set(key, value, noreply);
            } else if (w == work::set) {
                if (!co_await mc.set(key, value, reply)) st.fail("set: not stored");
            } else if (w == work::get_into) {
                into.clear();
                auto buf = asio::dynamic_buffer(into);
                std::optional<memcoro::value_info> info = co_await mc.get_into(key, buf);
                if (!info)
                    ++st.misses;
                else
                    st.value_bytes += info->size;
            } else if (w == work::meta_get) {
                std::optional<memcoro::meta_item> it = co_await mc.meta_get(key);
                if (!it)
                    ++st.misses;
                else
                    st.value_bytes += it->value().size();
            } else {
                std::optional<memcoro::item> it = co_await mc.get(key);
                if (!it)
                    ++st.misses;
                else
                    st.value_bytes += it->value().size();
            }
        }
    }

    const options& o_;
    asio::any_io_executor work_ex_;                         // the coroutines' (the io_context's)
    asio::strand<asio::io_context::executor_type> strand_;  // run()'s, with several threads
    std::size_t servers_ = 1;
    std::vector<std::string> keys_;
    std::vector<std::string_view> key_views_;
    std::string value_;
    std::vector<std::unique_ptr<memcoro::client>> clients_;
};

}  // namespace

int main(int argc, char** argv) {
    options o = parse_options(argc, argv);
    // Before the client makes its SSL context: OpenSSL's first allocation fixes its
    // allocator.
    if (!o.tls_ca.empty()) o.ssl_counted = count_ssl_allocations();
    if (const char* trace = std::getenv("MEMCORO_BENCH_ALLOC_TRACE")) {
        g_trace_left = std::atol(trace);
    }
    // One thread runs everything; the hint lets Asio skip the locking a shared context needs.
    // S11 runs the same io_context on --threads threads; run() then stays on a strand.
    asio::io_context ioc(o.threads);
    // The clients refuse options they cannot serve (TLS in a build without it, a CA file
    // that does not load): say why rather than abort.
    std::optional<bench> made;
    try {
        made.emplace(ioc, o);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "memcoro_bench: %s\n", e.what());
        return 1;
    }
    bench& b = *made;
    int rc = 1;
    auto home = o.threads > 1 ? b.home() : asio::any_io_executor(ioc.get_executor());
    asio::co_spawn(home, b.run(), [&](std::exception_ptr e, int r) {
        if (e) {
            std::fprintf(stderr, "memcoro_bench: %s\n", what(e).c_str());
        } else {
            rc = r;
        }
        // The clients' connections keep reads pending: close them so that run() returns.
        b.close();
        ioc.stop();
    });
    std::vector<std::thread> more;
    for (int t = 1; t < o.threads; ++t) more.emplace_back([&ioc] { ioc.run(); });
    ioc.run();
    for (auto& t : more) t.join();
    return rc;
}
