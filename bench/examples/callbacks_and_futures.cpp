// callbacks_and_futures: memcoro from plain threaded code, without coroutines. An
// io_context runs on a background thread; the main thread starts operations and waits for
// them through asio::use_future, or passes a callback.
//
//   callbacks_and_futures --server 127.0.0.1:11211
//
// Prints one line per step ("ok ..." or "FAIL ...") and exits 1 if any step failed.
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>
#include <chrono>
#include <cstdint>
#include <future>
#include <iostream>
#include <memcoro/memcoro.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace asio = boost::asio;
using namespace std::chrono_literals;

int failures = 0;

void check(bool ok, std::string_view what) {
    std::cout << (ok ? "ok   " : "FAIL ") << what << '\n';
    failures += ok ? 0 : 1;
}

void steps(memcoro::client& mc) {
    // use_future: the completion's error_code becomes the future's exception, the rest its
    // value. The values are temporaries, moved into the operation: an lvalue's bytes would
    // have to stay untouched until the operation completes.
    std::future<bool> stored =
        mc.set("greeting", std::string("hello"), {.ttl = 60s}, asio::use_future);
    check(stored.get(), "set through a future");
    std::optional<memcoro::item> it = mc.get("greeting", asio::use_future).get();
    check(it && it->value() == "hello",
          "get through a future: " + std::string(it ? it->value() : "(a miss)"));

    try {
        mc.get("two words", asio::use_future).get();  // a space is not allowed in a key
        check(false, "a bad key throws from future::get");
    } catch (const boost::system::system_error& e) {
        check(e.code() == memcoro::error::invalid_key,
              "a bad key throws from future::get: " + e.code().message());
    }
    // A miss is a result, not an error. (Boost 1.81's as_tuple does not combine with
    // use_future, so an error reaches future code as an exception.)
    check(!mc.get("nothing-here", asio::use_future).get(), "a miss through a future");

    // Many operations started at once from this thread share one connection's writes.
    std::vector<std::string> names;
    std::vector<std::future<bool>> sets;
    for (int i = 0; i < 10; ++i) {
        names.push_back("square:" + std::to_string(i));
        sets.push_back(mc.set(names.back(), std::to_string(i * i), {.ttl = 60s}, asio::use_future));
    }
    bool all_stored = true;
    for (auto& f : sets) all_stored = f.get() && all_stored;
    check(all_stored, "10 sets in flight at once");
    const std::vector<std::string_view> keys(names.begin(), names.end());
    std::vector<memcoro::item> hits = mc.get_many(keys, {}, asio::use_future).get();
    check(hits.size() == 10 && hits[9].value() == "81", "get_many through a future");

    // Callbacks: the handler gets the error_code first, and runs on the io_context's thread,
    // never inside the call that started it. A promise hands the result to this thread.
    // Each step starts the next from its handler.
    std::promise<std::uint64_t> done;
    mc.set("hits", 41, {.ttl = 60s}, [&](memcoro::error_code ec1, bool) {
        if (ec1)
            return done.set_exception(std::make_exception_ptr(boost::system::system_error(ec1)));
        mc.incr("hits", 1, {}, [&](memcoro::error_code ec2, std::optional<std::uint64_t> n) {
            if (ec2)
                return done.set_exception(
                    std::make_exception_ptr(boost::system::system_error(ec2)));
            done.set_value(n.value_or(0));
        });
    });
    check(done.get_future().get() == 42, "set, then incr from the set's callback: 42");

    // The same with the error in the callback: nothing is thrown anywhere.
    std::promise<memcoro::error_code> refused;
    mc.set("way-too-long-" + std::string(250, 'k'), std::string("v"), {},
           [&](memcoro::error_code e, bool) { refused.set_value(e); });
    check(refused.get_future().get() == memcoro::error::invalid_key,
          "a bad key reaches the callback as its error_code");
}

int main(int argc, char** argv) {
    std::string server = "127.0.0.1:11211";
    if (argc == 3 && std::string_view(argv[1]) == "--server") {
        server = argv[2];
    } else if (argc != 1) {
        std::cerr << "usage: " << argv[0] << " [--server HOST:PORT]\n";
        return 2;
    }

    asio::io_context ioc;
    // The work guard keeps run() going while nothing is in flight.
    auto work = asio::make_work_guard(ioc);
    std::thread io_thread([&] { ioc.run(); });
    memcoro::client mc{ioc.get_executor(),
                       {.server = server, .key_prefix = "callbacks_and_futures:"}};
    try {
        steps(mc);
    } catch (const std::exception& e) {
        check(false, e.what());  // memcached unreachable, say: future::get threw
    }

    // close() fails anything still waiting and ends the client's background work; then
    // run() returns once the guard is gone.
    mc.close();
    work.reset();
    io_thread.join();
    std::cout << (failures == 0 ? "all passed" : "some FAILED") << '\n';
    return failures == 0 ? 0 : 1;
}
