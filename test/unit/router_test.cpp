// router::servers_for against router::server_for: the same server for every key with
// every server alive, and with one dead (its keys refused, or remapped), counting the
// same refusals. No server runs: nothing here connects.
#include <doctest/doctest.h>

#include <boost/asio/io_context.hpp>
#include <memcoro/error.hpp>
#include <router/router.hpp>
#include <string>
#include <vector>

namespace {

using memcoro::detail::placement;
using memcoro::detail::router;

memcoro::client_options tier(std::size_t servers, bool remap) {
    memcoro::client_options o;
    for (std::size_t i = 0; i < servers; ++i) {
        o.servers.push_back({.address = "127.0.0.1:" + std::to_string(21000 + i)});
    }
    o.failure_limit = 1;
    o.remap_dead_servers = remap;
    return o;
}

std::vector<std::string> numbered_keys(int count) {
    std::vector<std::string> out;
    for (int i = 0; i < count; ++i) out.push_back("user:" + std::to_string(i));
    return out;
}

std::uint64_t refusals(const router& r) {
    return r.metrics().total.errors_of(memcoro::error::server_dead);
}

// servers_for over `keys`, checked against server_for key by key; returns its answers.
std::vector<std::size_t> check_same(const router& r, const std::vector<std::string>& keys) {
    const std::vector<std::string_view> views(keys.begin(), keys.end());
    std::vector<std::size_t> batched(views.size(), 12345);
    r.servers_for(views, batched);
    std::size_t differ = 0;
    for (std::size_t i = 0; i < views.size(); ++i) {
        differ += batched[i] != r.server_for(views[i]) ? 1 : 0;
    }
    CHECK(differ == 0);
    return batched;
}

}  // namespace

TEST_CASE("router: servers_for gives what server_for gives, every server alive") {
    const auto keys = numbered_keys(1000);
    for (const std::size_t servers : {1, 2, 5}) {
        CAPTURE(servers);
        boost::asio::io_context io;
        const auto r = router::make(io.get_executor(), tier(servers, false));
        const auto placed = check_same(*r, keys);
        if (servers == 1) CHECK(placed == std::vector<std::size_t>(keys.size(), 0));
    }
}

TEST_CASE("router: servers_for with a dead server refuses or remaps as server_for does") {
    const auto keys = numbered_keys(1000);
    for (const bool remap : {false, true}) {
        CAPTURE(remap);
        boost::asio::io_context io;
        const auto r = router::make(io.get_executor(), tier(5, remap));
        const auto before = check_same(*r, keys);
        const auto on_dead = std::count(before.begin(), before.end(), std::size_t{2});
        REQUIRE(on_dead > 0);
        // What a connection of server 2 reports when it fails; at failure_limit 1 the
        // server is dead at once. (server() gives the node const; the node itself is not.)
        const_cast<memcoro::detail::server_node&>(r->server(2)).on_failure();
        REQUIRE(r->server(2).dead());

        const auto counted = refusals(*r);
        const auto after = check_same(*r, keys);
        CHECK(std::count(after.begin(), after.end(), std::size_t{2}) == 0);
        const auto refused = std::count(after.begin(), after.end(), placement::none);
        CHECK(refused == (remap ? 0 : on_dead));
        // check_same asked both ways: each refusal is counted once by each.
        CHECK(refusals(*r) - counted == 2 * static_cast<std::uint64_t>(refused));
    }
}
