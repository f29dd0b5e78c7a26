// The program every consumer in test/consumers builds: run.sh copies it next to each
// consumer's build files. It stores a value and reads it back through memcoro, found the
// consumer's way (pkg-config, CMake, meson subproject), so a missing header, library or
// link dependency in what memcoro installs fails the build, and a broken library the run.
//
//   consumer HOST:PORT KEY    exits 0 when the value read back is the one stored

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <exception>
#include <iostream>
#include <memcoro/memcoro.hpp>
#include <optional>
#include <string>

namespace asio = boost::asio;
using namespace std::chrono_literals;

namespace {

asio::awaitable<void> set_then_get(memcoro::client& mc, std::string key, bool& ok) {
    const std::string value = "stored by " + key;
    const bool stored = co_await mc.set(key, value);
    const std::optional<memcoro::item> it = co_await mc.get(key);
    ok = stored && it && it->value() == value;
    if (!ok) {
        std::cerr << "consumer: stored " << stored << ", read back "
                  << (it ? std::string{it->value()} : std::string{"(a miss)"}) << '\n';
    }
}

}  // namespace

int main(int argc, char** argv) {
    if (argc != 3) {
        std::cerr << "usage: consumer HOST:PORT KEY\n";
        return 2;
    }
    asio::io_context ioc;
    memcoro::client mc{ioc.get_executor(),
                       memcoro::client_options{.server = argv[1], .op_timeout = 5s}};
    bool ok = false;
    asio::co_spawn(ioc, set_then_get(mc, argv[2], ok), [&](std::exception_ptr e) {
        if (e) {
            try {
                std::rethrow_exception(e);
            } catch (const std::exception& x) {
                std::cerr << "consumer: " << x.what() << '\n';
            }
        }
        mc.close();
    });
    ioc.run();
    return ok ? 0 : 1;
}
