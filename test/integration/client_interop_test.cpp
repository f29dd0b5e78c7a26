// memcoro and other clients through the same server: what one writes, the other reads
// with the same bytes and flags. The other clients are pymemcache (Debian's
// python3-pymemcache, run by the system Python) and libmemcached's memccp/memccat;
// test/run.sh installs both.
#include "test_common.hpp"

#include <doctest/doctest.h>

#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

using namespace std::chrono_literals;
namespace asio = boost::asio;
namespace fs = std::filesystem;
using memcoro::test::all_modes;
using memcoro::test::memcached_server;
using memcoro::test::name_of;
using memcoro::test::options_for;
using memcoro::test::run_client;
using memcoro::test::value_of;

namespace {

// The system Python: `python3` on PATH may be another one, without pymemcache.
constexpr const char* system_python = "/usr/bin/python3";
constexpr const char* memccp_path = "/usr/bin/memccp";
constexpr const char* memccat_path = "/usr/bin/memccat";

// A private directory for scripts, data files and tool output, removed afterwards.
class temp_dir {
  public:
    temp_dir() {
        std::string pattern = (fs::temp_directory_path() / "memcoro-interop-XXXXXX").string();
        if (::mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
        path_ = pattern;
    }
    ~temp_dir() {
        std::error_code ignored;
        fs::remove_all(path_, ignored);
    }
    temp_dir(const temp_dir&) = delete;
    temp_dir& operator=(const temp_dir&) = delete;

    [[nodiscard]] const fs::path& path() const noexcept { return path_; }
    fs::path write(const std::string& name, std::string_view bytes) const {
        const fs::path file = path_ / name;
        std::ofstream out(file, std::ios::binary);
        out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
        if (!out) throw std::runtime_error("cannot write " + file.string());
        return file;
    }
    [[nodiscard]] std::string read(const std::string& name) const {
        std::ifstream in(path_ / name, std::ios::binary);
        return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
    }

  private:
    fs::path path_;
};

struct command_result {
    int status = -1;  // the exit status, or -1 when it did not exit normally
    std::string out;  // its stdout; stderr goes to the test's own
};

command_result run_command(const std::string& command) {
    command_result r;
    FILE* pipe = ::popen(command.c_str(), "r");
    if (pipe == nullptr) throw std::runtime_error("popen failed: " + command);
    char buf[65536];
    std::size_t n;
    while ((n = std::fread(buf, 1, sizeof buf, pipe)) > 0) r.out.append(buf, n);
    const int status = ::pclose(pipe);
    if (status != -1 && WIFEXITED(status)) r.status = WEXITSTATUS(status);
    return r;
}

std::string to_hex(std::string_view bytes) {
    static constexpr char digits[] = "0123456789abcdef";
    std::string out;
    for (const char c : bytes) {
        const auto b = static_cast<unsigned char>(c);
        out += digits[b >> 4];
        out += digits[b & 15];
    }
    return out.empty() ? "-" : out;  // never an empty field in a space-separated line
}

// pymemcache with a serde that passes (bytes, flags) through untouched, so the test
// controls exactly what goes on the wire. Commands read rows from a file:
//   set: key hex flags      get / get_many / gets: key      cas: key hex flags cas
//   incr: key delta
// and print one line per key.
constexpr const char* py_script = R"PY(
import sys
from pymemcache.client.base import Client

class Raw:
    def serialize(self, key, value):
        return value[0], value[1]
    def deserialize(self, key, value, flags):
        return value, flags

def unhex(h):
    return b"" if h == "-" else bytes.fromhex(h)

def hexed(b):
    return b.hex() if b else "-"

cmd, port, prefix, path = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
c = Client(("127.0.0.1", port), serde=Raw(), key_prefix=prefix.encode() if prefix != "-" else b"",
           connect_timeout=5, timeout=5)
rows = [line.split() for line in open(path) if line.strip()]
if cmd == "set":
    for key, value, flags in rows:
        if not c.set(key, (unhex(value), int(flags)), noreply=False):
            sys.exit("not stored: " + key)
        print(key, "STORED")
elif cmd == "get":
    for (key,) in rows:
        got = c.get(key)
        print(key, "MISS" if got is None else hexed(got[0]) + " " + str(got[1]))
elif cmd == "get_many":
    got = c.get_many([r[0] for r in rows])
    for (key,) in rows:
        print(key, "MISS" if key not in got else hexed(got[key][0]) + " " + str(got[key][1]))
elif cmd == "gets":
    for (key,) in rows:
        value, cas = c.gets(key)
        cas = cas.decode() if isinstance(cas, bytes) else str(cas)
        print(key, "MISS" if value is None else hexed(value[0]) + " " + str(value[1]) + " " + cas)
elif cmd == "cas":
    for key, value, flags, cas in rows:
        print(key, c.cas(key, (unhex(value), int(flags)), cas, noreply=False))
elif cmd == "incr":
    for key, delta in rows:
        print(key, c.incr(key, int(delta), noreply=False))
else:
    sys.exit("unknown command " + cmd)
)PY";

// Runs the pymemcache script: the output's lines, keyed by their first word.
std::map<std::string, std::string> pymemcache(const temp_dir& dir, const memcached_server& server,
                                              const std::string& cmd,
                                              const std::vector<std::string>& rows,
                                              const std::string& prefix = "-") {
    const fs::path script = dir.write("interop.py", py_script);
    std::string data;
    for (const auto& r : rows) data += r + "\n";
    const fs::path input = dir.write("rows-" + cmd + ".txt", data);
    const auto result =
        run_command(std::string(system_python) + " " + script.string() + " " + cmd + " " +
                    std::to_string(server.port()) + " " + prefix + " " + input.string());
    REQUIRE(result.status == 0);
    std::map<std::string, std::string> lines;
    std::istringstream in(result.out);
    std::string line;
    while (std::getline(in, line)) {
        const auto space = line.find(' ');
        if (space == std::string::npos) continue;
        lines[line.substr(0, space)] = line.substr(space + 1);
    }
    return lines;
}

bool pymemcache_available() {
    if (::access(system_python, X_OK) != 0) return false;
    return run_command(std::string(system_python) + " -c 'import pymemcache'").status == 0;
}

struct sample {
    std::string key;
    std::string value;
    std::uint32_t flags;
};

// Values that trip up careless clients: empty, every byte value, the protocol's own
// words and line ends, high bytes, and one larger than the read buffer.
std::vector<sample> samples(const std::string& prefix) {
    std::string all_bytes;
    for (int round = 0; round < 2; ++round) {
        for (int b = 0; b < 256; ++b) all_bytes += static_cast<char>(b);
    }
    std::string large;
    std::uint32_t x = 12345;
    for (int i = 0; i < 300 * 1024; ++i) {
        x = x * 1103515245u + 12345u;
        large += static_cast<char>(x >> 24);
    }
    return {
        {prefix + "empty", "", 0},
        {prefix + "bytes", all_bytes, 1},
        {prefix + "protocol", "a\r\nEND\r\nVALUE x 0 1\r\nSTORED\r\n\n\r", 4294967295u},
        {prefix + "utf8", "h\xc3\xa9llo w\xc3\xb6rld \xe2\x82\xac", 7},
        {prefix + "large", large, 12345},
    };
}

}  // namespace

TEST_CASE("pymemcache writes, memcoro reads the same bytes and flags") {
    if (!pymemcache_available()) {
        MESSAGE("skipped: /usr/bin/python3 with pymemcache is missing");
        return;
    }
    memcached_server server;
    temp_dir dir;
    for (auto mode : all_modes) {
        const std::string mode_name = name_of(mode);
        CAPTURE(mode_name);
        const auto items = samples("py2mc-" + mode_name + "-");
        std::vector<std::string> rows;
        for (const auto& s : items) {
            rows.push_back(s.key + " " + to_hex(s.value) + " " + std::to_string(s.flags));
        }
        const auto stored = pymemcache(dir, server, "set", rows);
        CHECK(stored.size() == items.size());

        run_client(options_for(server, mode),
                   [&items](memcoro::client& mc) -> asio::awaitable<void> {
                       for (const auto& s : items) {
                           CAPTURE(s.key);
                           auto it = co_await mc.get(s.key);
                           REQUIRE(it);
                           CHECK(it->value() == s.value);
                           CHECK(it->flags() == s.flags);
                           auto bytes = co_await mc.get<std::vector<std::byte>>(s.key);
                           REQUIRE(bytes);
                           CHECK(bytes->size() == s.value.size());
                       }
                       std::vector<std::string_view> keys;
                       for (const auto& s : items) keys.push_back(s.key);
                       auto hits = co_await mc.get_many(keys);
                       REQUIRE(hits.size() == items.size());
                       for (std::size_t i = 0; i < hits.size(); ++i) {
                           CHECK(hits[i].key() == items[i].key);
                           CHECK(hits[i].value() == items[i].value);
                           CHECK(hits[i].flags() == items[i].flags);
                       }
                   });
    }
}

TEST_CASE("memcoro writes, pymemcache reads the same bytes and flags") {
    if (!pymemcache_available()) {
        MESSAGE("skipped: /usr/bin/python3 with pymemcache is missing");
        return;
    }
    memcached_server server;
    temp_dir dir;
    for (auto mode : all_modes) {
        const std::string mode_name = name_of(mode);
        CAPTURE(mode_name);
        const auto items = samples("mc2py-" + mode_name + "-");
        run_client(
            options_for(server, mode), [&items](memcoro::client& mc) -> asio::awaitable<void> {
                // Half one at a time, half in one set_many per flags value.
                for (std::size_t i = 0; i < items.size(); i += 2) {
                    CHECK(co_await mc.set(items[i].key, items[i].value, {.flags = items[i].flags}));
                }
                for (std::size_t i = 1; i < items.size(); i += 2) {
                    const std::vector<memcoro::key_value> one{{items[i].key, items[i].value}};
                    CHECK((co_await mc.set_many(one, {.flags = items[i].flags})).empty());
                }
            });
        std::vector<std::string> rows;
        for (const auto& s : items) rows.push_back(s.key);
        rows.push_back("mc2py-never-written");
        for (const auto* cmd : {"get", "get_many"}) {
            CAPTURE(cmd);
            const auto read = pymemcache(dir, server, cmd, rows);
            for (const auto& s : items) {
                CAPTURE(s.key);
                REQUIRE(read.count(s.key) == 1);
                CHECK(read.at(s.key) == to_hex(s.value) + " " + std::to_string(s.flags));
            }
            CHECK(read.at("mc2py-never-written") == "MISS");
        }
    }
}

TEST_CASE("pymemcache and memcoro agree on key prefixes, CAS uniques and counters") {
    if (!pymemcache_available()) {
        MESSAGE("skipped: /usr/bin/python3 with pymemcache is missing");
        return;
    }
    memcached_server server;
    temp_dir dir;
    for (auto mode : all_modes) {
        const std::string mode_name = name_of(mode);
        CAPTURE(mode_name);
        memcoro::test::flush(server);
        // pymemcache's key_prefix and memcoro's address the same items.
        pymemcache(dir, server, "set", {"shared " + to_hex("from-python") + " 3"}, "pfx:");
        CHECK(memcoro::test::raw_get(server, "pfx:shared") ==
              "VALUE pfx:shared 3 11\r\nfrom-python\r\nEND\r\n");
        auto options = options_for(server, mode);
        options.key_prefix = "pfx:";
        std::uint64_t cas = 0;
        run_client(options, [&cas](memcoro::client& mc) -> asio::awaitable<void> {
            auto it = co_await mc.gets("shared");
            REQUIRE(it);
            CHECK(it->value() == "from-python");
            CHECK(it->flags() == 3);
            cas = it->cas();
            CHECK(co_await mc.set("counter", 10));
            CHECK(co_await mc.set("mine", "from-memcoro", {.flags = 5}));
        });
        const auto seen = pymemcache(dir, server, "gets", {"shared", "mine"}, "pfx:");
        CHECK(seen.at("shared") == to_hex("from-python") + " 3 " + std::to_string(cas));
        CHECK(seen.at("mine").starts_with(to_hex("from-memcoro") + " 5 "));

        // pymemcache swaps with the unique memcoro read; memcoro's copy is then stale.
        const auto swapped =
            pymemcache(dir, server, "cas",
                       {"shared " + to_hex("swapped") + " 4 " + std::to_string(cas)}, "pfx:");
        CHECK(swapped.at("shared") == "True");
        const auto counted = pymemcache(dir, server, "incr", {"counter 5"}, "pfx:");
        CHECK(counted.at("counter") == "15");
        run_client(options, [cas](memcoro::client& mc) -> asio::awaitable<void> {
            CHECK(co_await mc.cas("shared", "late", cas) == memcoro::cas_result::exists);
            auto it = co_await mc.get("shared");
            CHECK(value_of(it) == "swapped");
            CHECK((it && it->flags() == 4));
            CHECK(co_await mc.incr("counter", 1) == 16u);
            CHECK(co_await mc.get<int>("counter") == 16);
        });
        CHECK(pymemcache(dir, server, "get", {"counter"}, "pfx:").at("counter") ==
              to_hex("16") + " 0");
    }
}

TEST_CASE("libmemcached's memccp writes, memcoro reads; memcoro writes, memccat reads") {
    if (::access(memccp_path, X_OK) != 0 || ::access(memccat_path, X_OK) != 0) {
        MESSAGE("skipped: memccp/memccat (libmemcached-tools) are missing");
        return;
    }
    memcached_server server;
    temp_dir dir;
    const std::string servers = " --servers=127.0.0.1:" + std::to_string(server.port()) + " ";
    for (auto mode : all_modes) {
        const std::string mode_name = name_of(mode);
        CAPTURE(mode_name);

        // memccp stores a file under its base name.
        const auto written = samples("lm2mc-" + mode_name + "-");
        for (const auto& s : written) {
            const fs::path file = dir.write(s.key, s.value);
            const auto r = run_command(std::string(memccp_path) + servers +
                                       "--flags=" + std::to_string(s.flags) + " " + file.string());
            CHECK(r.status == 0);
        }
        run_client(options_for(server, mode),
                   [&written](memcoro::client& mc) -> asio::awaitable<void> {
                       for (const auto& s : written) {
                           CAPTURE(s.key);
                           auto it = co_await mc.get(s.key);
                           REQUIRE(it);
                           CHECK(it->value() == s.value);
                           CHECK(it->flags() == s.flags);
                       }
                   });

        // memccat -F --file=PATH writes "<flags>\n" and the value's exact bytes.
        const auto ours = samples("mc2lm-" + mode_name + "-");
        run_client(options_for(server, mode),
                   [&ours](memcoro::client& mc) -> asio::awaitable<void> {
                       for (const auto& s : ours) {
                           CHECK(co_await mc.set(s.key, s.value, {.flags = s.flags}));
                       }
                       CHECK(co_await mc.set("mc2lm-removed", "x"));
                       CHECK(co_await mc.remove("mc2lm-removed"));
                   });
        for (const auto& s : ours) {
            CAPTURE(s.key);
            const std::string out = "out-" + s.key;
            const auto r = run_command(std::string(memccat_path) + servers +
                                       "-F --file=" + (dir.path() / out).string() + " " + s.key);
            CHECK(r.status == 0);
            CHECK(dir.read(out) == std::to_string(s.flags) + "\n" + s.value);
        }
        const auto missing =
            run_command(std::string(memccat_path) + servers + "mc2lm-removed" + " 2>/dev/null");
        CHECK(missing.status != 0);
        CHECK(missing.out.empty());
    }
}
