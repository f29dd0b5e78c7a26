// Checks the TLS test support itself (certificates, a TLS or authenticating memcached,
// the stalling proxy), so that a failing TLS test points at the client and not at the
// harness.
#include <doctest/doctest.h>
#include <sys/stat.h>

#include <chrono>
#include <stdexcept>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include "support/memcached_server.hpp"
#include "support/process.hpp"
#include "support/stalling_proxy.hpp"
#include "support/tls_certs.hpp"
#include "test_common.hpp"

using memcoro::test::memcached_auth;
using memcoro::test::memcached_server;
using memcoro::test::memcached_tls;
using memcoro::test::roundtrip_timeout;
using memcoro::test::stalling_proxy;
using memcoro::test::test_certs;
using namespace std::chrono_literals;

namespace {

// `openssl verify` of `cert` against `ca`, with `extra` arguments: {status, output}.
std::pair<int, std::string> verify(const std::string& ca, const std::string& cert,
                                   const std::vector<std::string>& extra = {}) {
    std::vector<std::string> args{memcoro::test::openssl_program(), "verify", "-CAfile", ca};
    args.insert(args.end(), extra.begin(), extra.end());
    args.push_back(cert);
    std::string output;
    const int status = memcoro::test::run_program(args, output);
    return {status, output};
}

unsigned mode_of(const std::string& path) {
    struct stat st {};
    REQUIRE(::stat(path.c_str(), &st) == 0);
    return st.st_mode & 07777;
}

std::string stat_setting(const memcached_server& server, const std::string& name) {
    return memcoro::test::raw_stat(server, name, "settings");
}

memcached_tls server_tls() {
    return {.cert = test_certs().server_cert, .key = test_certs().server_key};
}

}  // namespace

TEST_CASE("test certificates verify as their names say, and anyone can read them") {
    const auto& c = test_certs();
    CHECK(&test_certs() == &c);  // made once
    CHECK(mode_of(c.dir) == 0755);
    for (const std::string* f :
         {&c.ca, &c.ca_key, &c.other_ca, &c.other_ca_key, &c.server_cert, &c.server_key,
          &c.expired_cert, &c.expired_key, &c.not_yet_valid_cert, &c.not_yet_valid_key,
          &c.other_ca_server_cert, &c.other_ca_server_key, &c.client_cert, &c.client_key,
          &c.other_client_cert, &c.other_client_key}) {
        CAPTURE(*f);
        CHECK(mode_of(*f) == 0644);
    }

    const std::vector<std::string> server_purpose{"-purpose", "sslserver"};
    const std::vector<std::string> client_purpose{"-purpose", "sslclient"};
    CHECK(verify(c.ca, c.server_cert, server_purpose).first == 0);
    CHECK(verify(c.other_ca, c.other_ca_server_cert, server_purpose).first == 0);
    CHECK(verify(c.ca, c.client_cert, client_purpose).first == 0);
    CHECK(verify(c.other_ca, c.other_client_cert, client_purpose).first == 0);

    auto [status, out] = verify(c.ca, c.expired_cert);
    CHECK(status != 0);
    CHECK(out.find("certificate has expired") != std::string::npos);
    std::tie(status, out) = verify(c.ca, c.not_yet_valid_cert);
    CHECK(status != 0);
    CHECK(out.find("certificate is not yet valid") != std::string::npos);
    std::tie(status, out) = verify(c.ca, c.other_ca_server_cert);
    CHECK(status != 0);
    CHECK(out.find("unable to get local issuer certificate") != std::string::npos);
    CHECK(verify(c.ca, c.other_client_cert).first != 0);
    // A server certificate is no client's, nor the other way round.
    CHECK(verify(c.ca, c.server_cert, client_purpose).first != 0);
    CHECK(verify(c.ca, c.client_cert, server_purpose).first != 0);
}

TEST_CASE("a TLS memcached listens with TLS on port() and in plain text on plain_port()") {
    memcached_server server(memcached_server::options{.tls = server_tls()});
    CHECK(server.port() != 0);
    CHECK(server.plain_port() != 0);
    CHECK(server.plain_port() != server.port());
    CHECK(server.address() == "127.0.0.1:" + std::to_string(server.port()));
    CHECK(server.plain_address() == "127.0.0.1:" + std::to_string(server.plain_port()));

    CHECK(server.roundtrip("version\r\n", "\r\n").starts_with("VERSION "));
    CHECK(stat_setting(server, "ssl_enabled") == "yes");
    CHECK(stat_setting(server, "ssl_verify_mode") == "0");
    memcoro::test::flush(server);
    // The fixture's own exchanges kept off the TLS port.
    CHECK(memcoro::test::raw_stat(server, "ssl_handshake_errors") == "0");

    // Plain text on the TLS port is no TLS record: memcached drops the connection. (Its
    // ssl_handshake_errors counts that only sometimes: not a stat to test.)
    CHECK_THROWS((void)memcoro::test::roundtrip(server.port(), {}, "version\r\n", "\r\n", 2s));

    const auto tls_port = server.port();
    const auto plain_port = server.plain_port();
    server.restart();
    CHECK(server.port() == tls_port);
    CHECK(server.plain_port() == plain_port);
    CHECK(stat_setting(server, "ssl_enabled") == "yes");
}

TEST_CASE("a non-TLS memcached's plain port is its port") {
    memcached_server server;
    CHECK(server.plain_port() == server.port());
    CHECK(server.plain_address() == server.address());
}

TEST_CASE("TLS settings reach memcached, and a server with a bad certificate still starts") {
    const auto& c = test_certs();
    memcached_server server(memcached_server::options{
        .tls = memcached_tls{.cert = c.expired_cert,
                             .key = c.expired_key,
                             .ca = c.ca,
                             .verify_mode = 2,
                             .min_version = 3},
        .auth = memcached_auth{.username = "alice", .password = "s3cret:x"}});
    // `stats settings` shows OpenSSL's SSL_VERIFY_* flags: modes 0, 1, 2, 3 read 0, 1, 3
    // (PEER | FAIL_IF_NO_PEER_CERT) and 7 (| CLIENT_ONCE).
    CHECK(stat_setting(server, "ssl_verify_mode") == "3");
    CHECK(stat_setting(server, "ssl_min_version") == "tlsv1.3");
    CHECK(stat_setting(server, "ssl_ca_cert") == c.ca);
    CHECK(stat_setting(server, "ssl_chain_cert") == c.expired_cert);
    server.restart();
    CHECK(stat_setting(server, "ssl_verify_mode") == "3");
    CHECK(stat_setting(server, "auth_enabled_ascii") != "");
    CHECK(server.unauthenticated_roundtrip("version\r\n", "\r\n") ==
          "CLIENT_ERROR unauthenticated\r\n");
}

TEST_CASE("an authenticating memcached: the fixture logs in, others are refused") {
    memcached_server server(
        memcached_server::options{.auth = memcached_auth{.username = "bob", .password = "pw"}});
    CHECK(server.roundtrip("version\r\n", "\r\n").starts_with("VERSION "));
    CHECK(server.roundtrip(memcoro::test::raw_set("k", "v"), "\r\n") == "STORED\r\n");
    CHECK(memcoro::test::raw_get(server, "k") == "VALUE k 0 1\r\nv\r\nEND\r\n");
    memcoro::test::flush(server);
    CHECK(server.unauthenticated_roundtrip("version\r\n", "\r\n") ==
          "CLIENT_ERROR unauthenticated\r\n");
    CHECK_THROWS_AS((void)memcoro::test::authenticated_roundtrip(server.port(), {}, "bob", "nope",
                                                                 "version\r\n", "\r\n", 2s),
                    memcoro::test::auth_rejected);
    try {
        (void)memcoro::test::authenticated_roundtrip(server.port(), {}, "bob", "nope",
                                                     "version\r\n", "\r\n", 2s);
    } catch (const memcoro::test::auth_rejected& e) {
        CHECK(e.reply() == "CLIENT_ERROR authentication failure\r\n");
    }
    server.restart();
    CHECK(server.roundtrip("version\r\n", "\r\n").starts_with("VERSION "));

    // Values memcached could never match are refused up front.
    CHECK_THROWS_AS(memcached_server(memcached_server::options{
                        .auth = memcached_auth{.username = "a:b", .password = "pw"}}),
                    std::invalid_argument);
    CHECK_THROWS_AS(memcached_server(memcached_server::options{
                        .auth = memcached_auth{.username = "a", .password = "p w"}}),
                    std::invalid_argument);
}

TEST_CASE("an authenticating unix-socket memcached") {
    memcached_server server(memcached_server::options{
        .unix_socket = true, .auth = memcached_auth{.username = "u", .password = "p"}});
    CHECK(server.roundtrip("version\r\n", "\r\n").starts_with("VERSION "));
    CHECK(server.unauthenticated_roundtrip("version\r\n", "\r\n") ==
          "CLIENT_ERROR unauthenticated\r\n");
}

TEST_CASE("a silent stalling proxy accepts, reads and never answers") {
    stalling_proxy proxy;
    CHECK(proxy.address() == "127.0.0.1:" + std::to_string(proxy.port()));
    CHECK(proxy.accepted() == 0);
    CHECK_THROWS_AS((void)memcoro::test::roundtrip(proxy.port(), {}, "version\r\n", "\r\n", 200ms),
                    roundtrip_timeout);
    CHECK_THROWS_AS((void)memcoro::test::roundtrip(proxy.port(), {}, "hello", "\r\n", 200ms),
                    roundtrip_timeout);
    CHECK(proxy.accepted() == 2);
    CHECK(proxy.client_bytes() == 14);
    CHECK(proxy.relayed_bytes() == 0);
}

TEST_CASE("a stalling proxy relays the first bytes of the server's answer, then stalls") {
    memcached_server server;
    stalling_proxy proxy(server.port(), 5);
    try {
        (void)memcoro::test::roundtrip(proxy.port(), {}, "version\r\n", "\r\n", 500ms);
        FAIL("the proxy passed the whole reply");
    } catch (const roundtrip_timeout& e) {
        CHECK(std::string(e.what()).ends_with("got: VERSI"));
    }
    // Whole replies while under the budget.
    stalling_proxy generous(server.port(), 1000);
    CHECK(memcoro::test::roundtrip(generous.port(), {}, "version\r\n", "\r\n", 2s)
              .starts_with("VERSION "));
    CHECK(proxy.accepted() == 1);
    CHECK(proxy.relayed_bytes() == 5);
    CHECK(proxy.upstream_failures() == 0);

    // No server behind it: the client is still kept waiting.
    const auto dead_port = memcoro::test::free_loopback_port();
    stalling_proxy orphan(dead_port, 5);
    CHECK_THROWS_AS((void)memcoro::test::roundtrip(orphan.port(), {}, "version\r\n", "\r\n", 200ms),
                    roundtrip_timeout);
    CHECK(orphan.upstream_failures() == 1);
}
