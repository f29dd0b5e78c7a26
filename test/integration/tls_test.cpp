// TLS against real memcached processes with certificates made at test time
// (support/tls_certs.hpp): every command, concurrency, large values, each refusal with its
// own error, mutual TLS, and a handshake that stalls. A build without TLS checks that
// asking for it is refused.
#include <doctest/doctest.h>

#include <atomic>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/system/system_error.hpp>
#include <chrono>
#include <limits>
#include <memcoro/memcoro.hpp>
#include <string>
#include <thread>
#include <vector>

#include "support/constructor_refusal.hpp"
#include "support/stalling_proxy.hpp"
#include "support/tls_certs.hpp"
#include "test_common.hpp"

#if MEMCORO_TEST_TLS
#include <openssl/ssl.h>

#include <boost/asio/detached.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/stream.hpp>
#endif

namespace {

using namespace memcoro::test;
using namespace std::chrono_literals;
using memcoro::tls_error;
namespace asio = boost::asio;
using clock_type = std::chrono::steady_clock;

}  // namespace

#if MEMCORO_TEST_TLS

namespace {

constexpr auto tuple = asio::as_tuple(asio::use_awaitable);

memcoro::tls_options trusting_test_ca() {
    memcoro::tls_options t;
    t.ca_file = test_certs().ca;
    return t;
}

// A memcached with TLS on port() (and plain text on plain_port() for the fixture).
memcached_server::options tls_server(const std::string& cert, const std::string& key,
                                     std::vector<std::string> args = {}) {
    memcached_server::options o;
    o.args = std::move(args);
    o.tls = memcached_tls{.cert = cert, .key = key};
    return o;
}

memcoro::client_options tls_client(const memcached_server& server, memcoro::wire_protocol p,
                                   memcoro::tls_options tls = trusting_test_ca()) {
    auto o = options_for(server, p);
    o.tls = std::move(tls);
    return o;
}

// Every command the client has, once, with its result checked.
asio::awaitable<void> every_command(memcoro::client& mc, memcoro::wire_protocol mode) {
    CHECK(co_await mc.set("k", "v", {.ttl = 60s, .flags = 7}));
    auto it = co_await mc.get("k");
    REQUIRE(it);
    CHECK(it->value() == "v");
    CHECK(it->flags() == 7);
    auto g = co_await mc.gets("k");
    REQUIRE(g);
    CHECK(co_await mc.cas("k", "v2", g->cas()) == memcoro::cas_result::stored);
    CHECK_FALSE(co_await mc.add("k", "x"));
    CHECK(co_await mc.replace("k", "v3"));
    CHECK(co_await mc.append("k", "+"));
    CHECK(co_await mc.prepend("k", "-"));
    CHECK(value_of(co_await mc.get("k")) == "-v3+");
    CHECK(co_await mc.set("n", "10"));
    CHECK(co_await mc.incr("n", 5) == 15u);
    CHECK(co_await mc.decr("n", 3) == 12u);
    CHECK(co_await mc.touch("n", 100s));
    CHECK(value_of(co_await mc.gat("n", 100s)) == "12");
    const std::vector<memcoro::key_value> many{{"a", "1"}, {"b", "2"}};
    CHECK((co_await mc.set_many(many)).empty());
    const std::vector<std::string_view> keys{"a", "missing", "b"};
    auto hits = co_await mc.get_many(keys);
    REQUIRE(hits.size() == 2);
    CHECK(hits[0].value() == "1");
    CHECK(hits[1].value() == "2");
    CHECK(co_await mc.set("quiet", "q", {.noreply = true}));
    CHECK(value_of(co_await mc.get("quiet")) == "q");
    CHECK(co_await mc.remove("a"));
    CHECK(co_await mc.remove_many(keys) == 1u);
    CHECK_FALSE((co_await mc.version()).empty());
    CHECK_FALSE((co_await mc.stats()).empty());
    if (mode != memcoro::wire_protocol::text) {
        auto m = co_await mc.meta_get("k", {.cas = true, .ttl = true});
        REQUIRE(m);
        CHECK(m->value() == "-v3+");
        auto st = co_await mc.meta_set("mk", "mv", {.ttl = 30s});
        CHECK(st.status == memcoro::meta_status::ok);
        CHECK(co_await mc.meta_delete("mk") == memcoro::meta_status::ok);
        auto n = co_await mc.meta_arithmetic("n");
        CHECK(n.value == 13u);
    }
    co_await mc.flush_all();
    CHECK_FALSE(co_await mc.get("k"));
}

// A client context that stops at TLS 1.2: with it a connection can only be TLS 1.2.
std::shared_ptr<asio::ssl::context> tls12_only_context() {
    auto ctx = std::make_shared<asio::ssl::context>(asio::ssl::context::tls_client);
    ctx->load_verify_file(test_certs().ca);
    SSL_CTX_set_max_proto_version(ctx->native_handle(), TLS1_2_VERSION);
    return ctx;
}

// The error of one `get` on a client that has not connected yet, and how long it took.
struct first_failure {
    boost::system::error_code ec;
    clock_type::duration took{};
};

first_failure fail_first_get(const memcoro::client_options& o) {
    first_failure f;
    run_client(o, [&](memcoro::client& mc) -> asio::awaitable<void> {
        const auto start = clock_type::now();
        auto [ec, it] = co_await mc.get("k", tuple);
        f.took = clock_type::now() - start;
        f.ec = ec;
        CHECK_FALSE(it);
    });
    return f;
}

// Nothing a refused client asked for reached the server: no command was counted.
void check_nothing_sent(const memcached_server& server) {
    CHECK(raw_stat(server, "cmd_get") == "0");
    CHECK(raw_stat(server, "cmd_set") == "0");
}

}  // namespace

TEST_CASE("TLS: every command works over TLS 1.3 and TLS 1.2, in every wire mode") {
    memcached_server server(tls_server(test_certs().server_cert, test_certs().server_key));
    SUBCASE("TLS 1.3") {
        for (auto mode : all_modes) {
            CAPTURE(name_of(mode));
            auto tls = trusting_test_ca();
            tls.min_version = memcoro::tls_version::tls1_3;
            run_client(tls_client(server, mode, tls),
                       [&](memcoro::client& mc) { return every_command(mc, mode); });
        }
    }
    SUBCASE("TLS 1.2, through a context of the caller's") {
        for (auto mode : all_modes) {
            CAPTURE(name_of(mode));
            memcoro::tls_options tls;
            tls.context = tls12_only_context();
            run_client(tls_client(server, mode, tls),
                       [&](memcoro::client& mc) { return every_command(mc, mode); });
        }
    }
    SUBCASE("by host name: localhost is checked against the certificate's DNS name") {
        auto o = tls_client(server, memcoro::wire_protocol::meta);
        o.server = "localhost:" + std::to_string(server.port());
        run_client(o, [&](memcoro::client& mc) -> asio::awaitable<void> {
            CHECK(co_await mc.set("k", "v"));
            CHECK(value_of(co_await mc.get("k")) == "v");
        });
    }
}

TEST_CASE("TLS: 2,000 concurrent coroutines each get their own value") {
    memcached_server server(tls_server(test_certs().server_cert, test_certs().server_key));
    for (int threads : {1, 2}) {
        CAPTURE(threads);
        flush(server);
        asio::thread_pool pool(static_cast<std::size_t>(threads));
        auto o = tls_client(server, memcoro::wire_protocol::meta);
        o.connect_timeout = 30s;
        o.op_timeout = 30s;
        memcoro::client mc(pool.get_executor(), o);
        std::atomic<int> remaining{2000}, wrong{0}, errors{0};
        for (int i = 0; i < 2000; ++i) {
            asio::co_spawn(
                pool,
                [&, i]() -> asio::awaitable<void> {
                    const std::string key = "c" + std::to_string(i);
                    const std::string value =
                        std::string(static_cast<std::size_t>(i % 300), 'x') + "value-of-" + key;
                    auto [e1, s] = co_await mc.set(key, value, {}, tuple);
                    auto [e2, it] = co_await mc.get(key, tuple);
                    if (e1 || e2 || !s) ++errors;
                    if (value_of(it) != value) ++wrong;
                },
                [&](std::exception_ptr e) {
                    if (e) ++errors;
                    --remaining;
                });
        }
        const auto deadline = clock_type::now() + 120s;
        while (remaining > 0 && clock_type::now() < deadline) std::this_thread::sleep_for(5ms);
        mc.close();
        pool.join();
        CHECK(remaining == 0);
        CHECK(wrong == 0);
        CHECK(errors == 0);
    }
}

TEST_CASE("TLS: a 1 MiB value round-trips, into an item and into a buffer") {
    memcached_server server(
        tls_server(test_certs().server_cert, test_certs().server_key, {"-I", "2m"}));
    auto o = tls_client(server, memcoro::wire_protocol::meta);
    o.max_value_size = 2 * 1024 * 1024;
    run_client(o, [&](memcoro::client& mc) -> asio::awaitable<void> {
        std::string big(1024 * 1024, '\0');
        for (std::size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>('a' + i % 23);
        CHECK(co_await mc.set("big", big));
        auto it = co_await mc.get("big");
        REQUIRE(it);
        CHECK(it->value() == big);
        boost::beast::flat_buffer buffer;
        auto info = co_await mc.get_into("big", buffer);
        REQUIRE(info);
        CHECK(std::string_view(static_cast<const char*>(buffer.data().data()), buffer.size()) ==
              big);
        // A noreply write of it, then a read: the stream stays in step.
        CHECK(co_await mc.set("big2", big, {.noreply = true}));
        CHECK(value_of(co_await mc.get("big2")) == big);
    });
}

TEST_CASE("TLS: each refusal has its own error, within connect_timeout, before anything is sent") {
    const auto& certs = test_certs();
    const auto check_refused = [](memcached_server& server, memcoro::client_options o,
                                  boost::system::error_code expected) {
        o.connect_timeout = 2s;
        const auto f = fail_first_get(o);
        CHECK(f.ec == expected);
        CHECK(f.took < 2s + 500ms);
        check_nothing_sent(server);
        // The message says why, and the code is in the TLS category.
        CHECK(f.ec.category() == memcoro::tls_category());
    };
    SUBCASE("a certificate from another authority") {
        memcached_server server(tls_server(certs.other_ca_server_cert, certs.other_ca_server_key));
        check_refused(server, tls_client(server, memcoro::wire_protocol::meta),
                      tls_error::unknown_issuer);
    }
    SUBCASE("no ca_file: the system's trust store, which does not hold the test CA") {
        memcached_server server(tls_server(certs.server_cert, certs.server_key));
        check_refused(server, tls_client(server, memcoro::wire_protocol::meta, {}),
                      tls_error::unknown_issuer);
    }
    SUBCASE("a name the certificate does not carry") {
        memcached_server server(tls_server(certs.server_cert, certs.server_key));
        auto tls = trusting_test_ca();
        tls.server_name = "cache.example.org";
        check_refused(server, tls_client(server, memcoro::wire_protocol::meta, tls),
                      tls_error::name_mismatch);
    }
    SUBCASE("an expired certificate") {
        memcached_server server(tls_server(certs.expired_cert, certs.expired_key));
        check_refused(server, tls_client(server, memcoro::wire_protocol::meta),
                      tls_error::certificate_expired);
    }
    SUBCASE("a certificate not valid yet") {
        memcached_server server(tls_server(certs.not_yet_valid_cert, certs.not_yet_valid_key));
        check_refused(server, tls_client(server, memcoro::wire_protocol::meta),
                      tls_error::certificate_not_yet_valid);
    }
    SUBCASE("a plain-text server when TLS is asked for") {
        memcached_server server;
        for (int attempt = 0; attempt < 3; ++attempt) {
            check_refused(server, tls_client(server, memcoro::wire_protocol::meta),
                          tls_error::not_tls);
        }
    }
    SUBCASE("a TLS server when plain text is asked for") {
        memcached_server server(tls_server(certs.server_cert, certs.server_key));
        for (auto mode : {memcoro::wire_protocol::meta, memcoro::wire_protocol::automatic}) {
            CAPTURE(name_of(mode));
            check_refused(server, options_for(server, mode), tls_error::server_requires_tls);
        }
    }
    SUBCASE("verify_peer = false accepts any certificate") {
        memcached_server server(tls_server(certs.expired_cert, certs.expired_key));
        memcoro::tls_options tls;
        tls.verify_peer = false;
        run_client(tls_client(server, memcoro::wire_protocol::meta, tls),
                   [&](memcoro::client& mc) -> asio::awaitable<void> {
                       CHECK(co_await mc.set("k", "v"));
                   });
    }
}

TEST_CASE("TLS: the refusal goes to the operation that waited; during the backoff, not_connected") {
    memcached_server server(
        tls_server(test_certs().other_ca_server_cert, test_certs().other_ca_server_key));
    // Relays everything: it only counts the connections (memcached does not count one
    // whose handshake failed).
    stalling_proxy relay(server.port(), std::numeric_limits<std::size_t>::max());
    auto o = tls_client(server, memcoro::wire_protocol::meta);
    o.server = relay.address();
    o.reconnect_backoff = 5s;
    run_client(o, [&](memcoro::client& mc) -> asio::awaitable<void> {
        auto [e1, r1] = co_await mc.get("k", tuple);
        CHECK(e1 == tls_error::unknown_issuer);
        auto [e2, r2] = co_await mc.get("k", tuple);  // within the backoff: not tried again
        CHECK(e2 == memcoro::error::not_connected);
        CHECK(relay.accepted() == 1);
        // The cause stays with the client.
        const auto failure = mc.last_failure();
        REQUIRE(failure);
        CHECK(failure->error == tls_error::unknown_issuer);
        CHECK(failure->server == relay.address());
    });
}

TEST_CASE("mutual TLS: a client certificate the server trusts is required") {
    const auto& certs = test_certs();
    auto opts = tls_server(certs.server_cert, certs.server_key);
    opts.tls->ca = certs.ca;
    opts.tls->verify_mode = 2;  // require
    memcached_server server(opts);
    // TLS 1.3 through the options' files; TLS 1.2 through a context of the caller's.
    const auto tls13 = [&](const std::string& cert, const std::string& key) {
        auto tls = trusting_test_ca();
        tls.min_version = memcoro::tls_version::tls1_3;
        tls.certificate_file = cert;
        tls.private_key_file = key;
        return tls_client(server, memcoro::wire_protocol::meta, tls);
    };
    const auto tls12 = [&](const std::string& cert, const std::string& key) {
        memcoro::tls_options tls;
        tls.context = tls12_only_context();
        if (!cert.empty()) {
            tls.context->use_certificate_chain_file(cert);
            tls.context->use_private_key_file(key, asio::ssl::context::pem);
        }
        return tls_client(server, memcoro::wire_protocol::meta, tls);
    };
    const auto works = [&](const memcoro::client_options& o) {
        run_client(o, [&](memcoro::client& mc) -> asio::awaitable<void> {
            CHECK(co_await mc.set("k", "v"));
            CHECK(value_of(co_await mc.get("k")) == "v");
        });
    };
    works(tls13(certs.client_cert, certs.client_key));
    works(tls12(certs.client_cert, certs.client_key));

    // Over TLS 1.3 the server refuses after the handshake, in its first record: the
    // connect fails all the same, with the refusal.
    CHECK(fail_first_get(tls13("", "")).ec == tls_error::client_certificate_refused);
    CHECK(fail_first_get(tls13(certs.other_client_cert, certs.other_client_key)).ec ==
          tls_error::client_certificate_refused);
    // Over TLS 1.2 it refuses in the handshake: an unknown authority by its own alert, a
    // missing certificate by the generic handshake_failure one.
    CHECK(fail_first_get(tls12(certs.other_client_cert, certs.other_client_key)).ec ==
          tls_error::client_certificate_refused);
    const auto missing = fail_first_get(tls12("", "")).ec;
    CHECK((missing == tls_error::client_certificate_refused ||
           missing == tls_error::handshake_failed));
}

TEST_CASE("TLS: a handshake that stalls is a timeout; the next operation tries again") {
    memcached_server server(tls_server(test_certs().server_cert, test_certs().server_key));
    // The server's first flight is cut after 100 bytes (its ServerHello is longer).
    for (std::size_t relayed : {std::size_t{0}, std::size_t{100}}) {
        CAPTURE(relayed);
        std::optional<stalling_proxy> proxy;
        if (relayed == 0) {
            proxy.emplace();
        } else {
            proxy.emplace(server.port(), relayed);
        }
        auto o = tls_client(server, memcoro::wire_protocol::meta);
        o.server = proxy->address();
        o.connect_timeout = 300ms;
        o.reconnect_backoff = 200ms;
        run_client(o, [&](memcoro::client& mc) -> asio::awaitable<void> {
            const auto start = clock_type::now();
            auto [e1, r1] = co_await mc.get("k", tuple);
            CHECK(e1 == tls_error::handshake_timeout);
            CHECK(clock_type::now() - start >= 250ms);
            CHECK(clock_type::now() - start < 2s);
            CHECK(proxy->accepted() == 1);
            auto [e2, r2] = co_await mc.get("k", tuple);  // within the backoff
            CHECK(e2 == memcoro::error::not_connected);
            CHECK(proxy->accepted() == 1);
            co_await sleep_for(250ms);
            auto [e3, r3] = co_await mc.get("k", tuple);  // after it: a new attempt
            CHECK(e3 == tls_error::handshake_timeout);
            CHECK(proxy->accepted() == 2);
        });
    }
}

TEST_CASE("TLS: an operation cancelled during the handshake completes at once") {
    stalling_proxy proxy;
    memcoro::client_options o;
    o.server = proxy.address();
    o.tls = trusting_test_ca();
    o.connect_timeout = 10s;
    run_client(o, [&](memcoro::client& mc) -> asio::awaitable<void> {
        asio::cancellation_signal signal;
        auto ex = co_await asio::this_coro::executor;
        asio::steady_timer timer(ex, 100ms);
        timer.async_wait(
            [&](boost::system::error_code) { signal.emit(asio::cancellation_type::all); });
        const auto start = clock_type::now();
        auto [ec, it] = co_await mc.get("k", asio::bind_cancellation_slot(signal.slot(), tuple));
        CHECK(ec == asio::error::operation_aborted);
        CHECK(clock_type::now() - start < 2s);
        CHECK(proxy.accepted() == 1);
    });
}

TEST_CASE("TLS: reconnects after a server restart, and the health check runs over TLS") {
    memcached_server server(tls_server(test_certs().server_cert, test_certs().server_key));
    auto o = tls_client(server, memcoro::wire_protocol::meta);
    o.health_check_interval = 100ms;
    run_client(o, [&](memcoro::client& mc) -> asio::awaitable<void> {
        CHECK(co_await mc.set("k", "v"));
        co_await sleep_for(350ms);  // idle: checked with mn over the session
        CHECK(value_of(co_await mc.get("k")) == "v");
        server.restart();
        // The old session is gone; the health check or the next request finds out, and
        // a request after that gets a new session.
        CHECK(co_await set_once_back(mc, "k2", "v2"));
        CHECK(value_of(co_await mc.get("k2")) == "v2");
    });
}

namespace {

// A TLS peer that notes the name (SNI) a client's hello carries, then refuses the
// handshake: memcached does not show what it was sent.
class sni_recorder {
  public:
    explicit sni_recorder(asio::io_context& ioc)
        : context_(asio::ssl::context::tls_server),
          acceptor_(ioc, asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)) {
        context_.use_certificate_chain_file(test_certs().server_cert);
        context_.use_private_key_file(test_certs().server_key, asio::ssl::context::pem);
        SSL_CTX_set_tlsext_servername_callback(context_.native_handle(), &sni_recorder::on_hello);
        SSL_CTX_set_tlsext_servername_arg(context_.native_handle(), this);
        asio::co_spawn(ioc, serve(), asio::detached);
    }
    [[nodiscard]] std::uint16_t port() const { return acceptor_.local_endpoint().port(); }
    [[nodiscard]] int hellos() const { return hellos_; }
    // The last hello's name; empty when it had none.
    [[nodiscard]] const std::string& name() const { return name_; }

  private:
    static int on_hello(SSL* ssl, int*, void* arg) {
        auto* self = static_cast<sni_recorder*>(arg);
        ++self->hellos_;
        const char* name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
        self->name_ = name != nullptr ? name : "";
        return SSL_TLSEXT_ERR_ALERT_FATAL;
    }
    asio::awaitable<void> serve() {
        for (;;) {
            auto [ec, socket] = co_await acceptor_.async_accept(tuple);
            if (ec) co_return;
            asio::ssl::stream<asio::ip::tcp::socket> stream(std::move(socket), context_);
            (void)co_await stream.async_handshake(asio::ssl::stream_base::server, tuple);
        }
    }

    asio::ssl::context context_;
    asio::ip::tcp::acceptor acceptor_;
    int hellos_ = 0;
    std::string name_;
};

}  // namespace

TEST_CASE("TLS: SNI carries the host name, or server_name; never an IP address") {
    struct case_ {
        std::string host;
        std::string server_name;
        std::string sent;
    };
    for (const auto& c : {case_{"localhost", "", "localhost"}, case_{"127.0.0.1", "", ""},
                          case_{"127.0.0.1", "cache.example.org", "cache.example.org"}}) {
        CAPTURE(c.host);
        CAPTURE(c.server_name);
        asio::io_context ioc;
        sni_recorder peer(ioc);
        auto tls = trusting_test_ca();
        tls.server_name = c.server_name;
        memcoro::client_options o;
        o.server = c.host + ":" + std::to_string(peer.port());
        o.tls = tls;
        run_client_on(ioc, o, [&](memcoro::client& mc) -> asio::awaitable<void> {
            auto [ec, it] = co_await mc.get("k", tuple);
            CHECK(ec == tls_error::handshake_failed);
        });
        CHECK(peer.hellos() == 1);
        CHECK(peer.name() == c.sent);
    }
}

TEST_CASE("TLS: a configuration that cannot be loaded is refused by the constructor") {
    const auto refused = [](const memcoro::client_options& o) {
        auto e = constructor_refusal(o);
        REQUIRE_MESSAGE(e, "the constructor accepted it");
        return *e;
    };
    memcoro::client_options o;
    o.server = "127.0.0.1:1";
    SUBCASE("a CA file that does not exist: named in the error") {
        o.tls = memcoro::tls_options{.ca_file = "/nonexistent/ca.pem"};
        const auto e = refused(o);
        CHECK(e.code() == tls_error::bad_configuration);
        CHECK(std::string(e.what()).find("/nonexistent/ca.pem") != std::string::npos);
    }
    SUBCASE("a key that does not match the certificate") {
        o.tls = trusting_test_ca();
        o.tls->certificate_file = test_certs().client_cert;
        o.tls->private_key_file = test_certs().server_key;
        CHECK(refused(o).code() == tls_error::bad_configuration);
    }
    SUBCASE("a certificate without its key") {
        o.tls = trusting_test_ca();
        o.tls->certificate_file = test_certs().client_cert;
        CHECK(refused(o).code() == memcoro::error::invalid_argument);
    }
    SUBCASE("a context of the caller's together with files") {
        o.tls = trusting_test_ca();
        o.tls->context = tls12_only_context();
        CHECK(refused(o).code() == memcoro::error::invalid_argument);
    }
    SUBCASE("a unix socket with no name to check") {
        o.server = "/tmp/memcached.sock";
        o.tls = trusting_test_ca();
        CHECK(refused(o).code() == memcoro::error::invalid_argument);
    }
}

TEST_CASE("TLS: a server of a tier has its own TLS options") {
    const auto& certs = test_certs();
    memcached_server tls_one(tls_server(certs.server_cert, certs.server_key));
    memcached_server plain_one;
    memcoro::client_options o;
    o.servers = {{.address = tls_one.address(), .tls = trusting_test_ca()},
                 {.address = plain_one.address()}};
    o.op_timeout = 10s;
    o.connect_timeout = 10s;
    run_client(o, [&](memcoro::client& mc) -> asio::awaitable<void> {
        for (int i = 0; i < 40; ++i) {
            const std::string key = "t" + std::to_string(i);
            CHECK(co_await mc.set(key, key));
            CHECK(value_of(co_await mc.get(key)) == key);
        }
    });
    // Both servers took keys: one over TLS, the other in plain text.
    CHECK(raw_stat(tls_one, "curr_items") != "0");
    CHECK(raw_stat(plain_one, "curr_items") != "0");
}

#else  // !MEMCORO_TEST_TLS

TEST_CASE("TLS: a build without TLS refuses to be asked for it") {
    CHECK_FALSE(memcoro::tls_available());
    asio::io_context ioc;
    memcoro::client_options o;
    o.server = "127.0.0.1:1";
    o.tls = memcoro::tls_options{};
    try {
        memcoro::client mc(ioc.get_executor(), o);
        FAIL("a client asked for TLS was made without it");
    } catch (const boost::system::system_error& e) {
        CHECK(e.code() == tls_error::not_built);
    }
}

#endif  // MEMCORO_TEST_TLS
