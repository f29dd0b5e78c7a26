// Server addresses: what parse_address accepts and how it splits it, what it refuses and
// why, and the client's constructor quoting a refused address in its exception.
#include "detail/address.hpp"

#include <doctest/doctest.h>

#include <boost/system/system_error.hpp>
#include <memcoro/client.hpp>
#include <memcoro/error.hpp>
#include <string>

#include "../support/constructor_refusal.hpp"

using memcoro::detail::address_problem;
using memcoro::detail::parse_address;
using memcoro::detail::server_address;

namespace {

struct good_address {
    const char* text;
    bool is_unix;
    const char* host_or_path;
    std::uint16_t port;
};

const good_address good[] = {
    {"127.0.0.1:11211", false, "127.0.0.1", 11211},
    {"127.0.0.1", false, "127.0.0.1", 11211},
    {"localhost:1", false, "localhost", 1},
    {"cache-1.example.com:65535", false, "cache-1.example.com", 65535},
    {"cache_2", false, "cache_2", 11211},
    {"[::1]:11212", false, "::1", 11212},
    {"[::1]", false, "::1", 11211},
    {"::1", false, "::1", 11211},
    {"2001:db8::7", false, "2001:db8::7", 11211},
    {"/tmp/memcached.sock", true, "/tmp/memcached.sock", 0},
    {"unix:/tmp/memcached.sock", true, "/tmp/memcached.sock", 0},
    {"unix:relative.sock", true, "relative.sock", 0},
};

struct bad_address {
    std::string text;
    const char* why;  // a part of the reason given
};

const bad_address bad[] = {
    {"bad:addr:x", "more than one ':'"},
    {"", "host is empty"},
    {":11211", "host is empty"},
    {"[]:11211", "host is empty"},
    {"127.0.0.1:0", "port"},
    {"127.0.0.1:65536", "port"},
    {"127.0.0.1:99999", "port"},
    {"127.0.0.1:", "port"},
    {"127.0.0.1:-1", "port"},
    {"127.0.0.1:12a", "port"},
    {"localhost:port", "port"},
    {"[::1", "closing ']'"},
    {"[::1:11211", "closing ']'"},
    {"[::1]11211", "only \":port\""},
    {"[::1]:", "port"},
    {"[::1]:70000", "port"},
    {"[not-v6]:11211", "not an IPv6 address"},
    {"unix:", "unix socket path is empty"},
    {"unix:/" + std::string(200, 'd'), "too long"},
    {"my host:11211", "character"},
    {"host/path:11211", "character"},
    {" localhost", "character"},
};

// The exception the client's constructor throws for `o`.
boost::system::system_error refusal(const memcoro::client_options& o) {
    auto e = memcoro::test::constructor_refusal(o);
    REQUIRE_MESSAGE(e, "the client accepted the options");
    return *e;
}

}  // namespace

TEST_CASE("addresses: the forms accepted, and what they are split into") {
    for (const auto& g : good) {
        CAPTURE(g.text);
        server_address a;
        CHECK(address_problem(g.text, a) == nullptr);
        CHECK_FALSE(parse_address(g.text, a));
        CHECK(a.text == g.text);
        CHECK(a.is_unix == g.is_unix);
        if (g.is_unix) {
            CHECK(a.path == g.host_or_path);
        } else {
            CHECK(a.host == g.host_or_path);
            CHECK(a.port == g.port);
        }
    }
}

TEST_CASE("addresses: malformed ones are refused, each with its reason") {
    for (const auto& b : bad) {
        CAPTURE(b.text);
        server_address a;
        const char* why = address_problem(b.text, a);
        REQUIRE(why != nullptr);
        CHECK(std::string(why).find(b.why) != std::string::npos);
        CHECK(parse_address(b.text, a) == memcoro::error::invalid_argument);
    }
}

TEST_CASE("addresses: the client's constructor refuses a malformed one, quoting it") {
    for (const auto& b : bad) {
        CAPTURE(b.text);
        memcoro::client_options one;
        one.server = b.text;
        const auto e = refusal(one);
        CHECK(e.code() == memcoro::error::invalid_argument);
        const std::string what = e.what();
        CHECK(what.find('"' + b.text + '"') != std::string::npos);
        if (!b.text.empty()) {  // "" is no server at all, said so
            CHECK(what.find(std::string("server \"") + b.text + "\": malformed address: ") !=
                  std::string::npos);
            CHECK(what.find(b.why) != std::string::npos);
        }

        memcoro::client_options tier;
        tier.servers = {{"127.0.0.1:11211"}, {b.text}};
        const std::string tier_what = refusal(tier).what();
        CHECK(tier_what.find("servers[1] \"" + b.text + "\": malformed address: ") !=
              std::string::npos);
    }
    // The good ones are taken (the client connects lazily: no server is needed).
    for (const auto& g : good) {
        CAPTURE(g.text);
        memcoro::client_options o;
        o.server = g.text;
        CHECK_FALSE(memcoro::test::constructor_refusal(o));
    }
}
