// Replies that arrive in pieces: a value's header, parts of its body and what follows
// it each in a read of their own, and the end of one reply in the same read as the
// start of the next. Values around the size at which the client stops reading through
// its buffer (16 KiB) must come back whole, whatever the storage (an item, a flat or a
// multi buffer) and wherever the pieces break.
#include "run_client.hpp"

#include <memcoro/client.hpp>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/streambuf.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/multi_buffer.hpp>

#include <doctest/doctest.h>

#include <memory>
#include <string>
#include <vector>

using namespace std::chrono_literals;
namespace asio = boost::asio;
namespace beast = boost::beast;
using asio::ip::tcp;

namespace {

// The pieces of the reply to one request line. "{O}" becomes the opaque the request
// carried (meta mode), "{O+1}" the one the request after it carries.
using pieced_reply = std::vector<std::string>;

// Answers the n-th request line with the n-th scripted reply (a `version` line, the
// client's probe, gets its answer outside the script), writing its pieces with a
// pause between them so that each arrives in a read of its own.
class dribbling_server {
public:
    dribbling_server(asio::any_io_executor ex, std::vector<pieced_reply> script)
        : acceptor_(ex, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)),
          script_(std::make_shared<std::vector<pieced_reply>>(std::move(script))) {
        asio::co_spawn(ex, serve(acceptor_, script_), asio::detached);
    }

    [[nodiscard]] std::string address() const {
        return "127.0.0.1:" + std::to_string(acceptor_.local_endpoint().port());
    }

private:
    static asio::awaitable<void> serve(tcp::acceptor& acceptor,
                                       std::shared_ptr<std::vector<pieced_reply>> script) {
        auto [ec, socket] = co_await acceptor.async_accept(asio::as_tuple(asio::use_awaitable));
        if (ec) co_return;
        socket.set_option(tcp::no_delay(true));
        asio::steady_timer pause(socket.get_executor());
        asio::streambuf in;
        for (std::size_t next = 0; next < script->size(); ++next) {
            auto [ec2, n] = co_await asio::async_read_until(socket, in, "\r\n",
                                                            asio::as_tuple(asio::use_awaitable));
            if (ec2) co_return;
            const std::string line(asio::buffers_begin(in.data()),
                                   asio::buffers_begin(in.data()) + static_cast<long>(n));
            in.consume(n);
            if (line == "version\r\n") {
                // The client's probe at connect (meta mode), outside the script.
                --next;
                auto [ec4, w] = co_await asio::async_write(
                    socket, asio::buffer(std::string_view("VERSION 1.6.18\r\n")),
                    asio::as_tuple(asio::use_awaitable));
                if (ec4) co_return;
                continue;
            }
            const auto o = line.find(" O");
            const std::string opaque =
                o == std::string::npos ? ""
                                       : line.substr(o + 2, line.find_first_of(" \r", o + 2) - o - 2);
            for (std::string piece : (*script)[next]) {
                for (auto at = piece.find("{O}"); at != std::string::npos; at = piece.find("{O}")) {
                    piece.replace(at, 3, opaque);
                }
                for (auto at = piece.find("{O+1}"); at != std::string::npos;
                     at = piece.find("{O+1}")) {
                    piece.replace(at, 5, std::to_string(std::stoul(opaque) + 1));
                }
                pause.expires_after(5ms);
                co_await pause.async_wait(asio::use_awaitable);
                auto [ec3, w] = co_await asio::async_write(socket, asio::buffer(piece),
                                                           asio::as_tuple(asio::use_awaitable));
                if (ec3) co_return;
            }
        }
        // Out of script: keep the connection open until the client is done.
        pause.expires_after(30s);
        co_await pause.async_wait(asio::as_tuple(asio::use_awaitable));
    }

    tcp::acceptor acceptor_;
    std::shared_ptr<std::vector<pieced_reply>> script_;
};

// Runs `body` against a client of a dribbling server playing `script`.
template <class Body>
void with_server(std::vector<pieced_reply> script, memcoro::wire_protocol p, Body body) {
    asio::io_context ioc;
    dribbling_server server(ioc.get_executor(), std::move(script));
    memcoro::client_options o;
    o.server = server.address();
    o.protocol = p;
    o.op_timeout = 5s;
    memcoro::test::run_client_on(ioc, o, std::move(body), 30s);
}

// A value whose bytes depend on their position, so a piece out of place shows.
std::string patterned(std::size_t size, unsigned seed) {
    std::string v(size, '\0');
    for (std::size_t i = 0; i < size; ++i) v[i] = static_cast<char>((seed + i * 131) % 251);
    return v;
}

std::string header(memcoro::wire_protocol p, std::string_view key, std::size_t size,
                   std::string_view opaque = "{O}") {
    return p == memcoro::wire_protocol::meta
               ? "VA " + std::to_string(size) + " f7 O" + std::string(opaque) + "\r\n"
               : "VALUE " + std::string(key) + " 7 " + std::to_string(size) + "\r\n";
}

std::string trailer(memcoro::wire_protocol p) {
    return p == memcoro::wire_protocol::meta ? "\r\n" : "\r\nEND\r\n";
}

// The reply carrying `value`, cut at the given offsets into the whole reply text.
pieced_reply cut(const std::string& whole, std::vector<std::size_t> at) {
    pieced_reply pieces;
    std::size_t from = 0;
    for (const auto to : at) {
        pieces.push_back(whole.substr(from, to - from));
        from = to;
    }
    pieces.push_back(whole.substr(from));
    return pieces;
}

constexpr memcoro::wire_protocol both[] = {memcoro::wire_protocol::meta,
                                           memcoro::wire_protocol::text};

}  // namespace

TEST_CASE("a value whose reply comes in pieces is read whole into an item") {
    for (const auto p : both) {
        for (const std::size_t size : {16 * 1024 - 1, 16 * 1024, 16 * 1024 + 1, 100'000}) {
            CAPTURE(size);
            CAPTURE(p == memcoro::wire_protocol::meta);
            const auto value = patterned(size, static_cast<unsigned>(size));
            const auto h = header(p, "k", size);
            const auto whole = h + value + trailer(p);
            // Header alone; a few body bytes; most of the body; the last body byte and
            // the trailer split in two.
            const std::size_t body = h.size();
            std::vector<pieced_reply> script{
                cut(whole, {body, body + 10, body + size - 1, body + size + 1})};
            with_server(script, p, [&](memcoro::client& mc) -> asio::awaitable<void> {
                auto got = co_await mc.get("k");
                REQUIRE(got);
                CHECK(got->flags() == 7);
                CHECK(got->value() == value);
            });
        }
    }
}

TEST_CASE("get_into takes a value in pieces into flat and multi buffers") {
    for (const auto p : both) {
        CAPTURE(p == memcoro::wire_protocol::meta);
        const std::size_t size = 200'000;
        const auto value = patterned(size, 3);
        const auto whole = header(p, "k", size) + value + trailer(p);
        const std::size_t body = header(p, "k", size).size();
        // The header with part of the body, then the body in uneven pieces: the flat
        // buffer grows from 3 bytes, the multi buffer keeps its room in several blocks.
        const auto pieces = cut(whole, {body + 100, body + 70'000, body + 150'001});
        with_server({pieces, pieces}, p, [&](memcoro::client& mc) -> asio::awaitable<void> {
            beast::flat_buffer flat;
            flat.commit(asio::buffer_copy(flat.prepare(3), asio::buffer("abc", 3)));
            auto info = co_await mc.get_into("k", flat);
            REQUIRE(info);
            CHECK(info->size == size);
            CHECK(beast::buffers_to_string(flat.data()) == "abc" + value);

            beast::multi_buffer multi;
            auto info2 = co_await mc.get_into("k", multi);
            REQUIRE(info2);
            CHECK(beast::buffers_to_string(multi.data()) == value);
        });
    }
}

TEST_CASE("the end of one large reply and the start of the next share a read") {
    using namespace asio::experimental::awaitable_operators;
    for (const auto p : both) {
        CAPTURE(p == memcoro::wire_protocol::meta);
        const auto first = patterned(50'000, 1);
        const auto second = patterned(40'000, 2);
        const auto one = header(p, "a", first.size()) + first + trailer(p);
        const auto two = header(p, "b", second.size(), "{O+1}") + second + trailer(p);
        // Both replies answer the first request line, which the client sent together
        // with the second: the piece that ends the first value also carries the
        // second's header and the start of its body.
        const std::string both_replies = one + two;
        std::vector<pieced_reply> script{cut(both_replies, {100, one.size() + 500}), {}};
        with_server(script, p, [&](memcoro::client& mc) -> asio::awaitable<void> {
            auto [a, b] = co_await (mc.get("a") && mc.get("b"));
            REQUIRE(a);
            REQUIRE(b);
            CHECK(a->value() == first);
            CHECK(b->value() == second);
        });
    }
}
