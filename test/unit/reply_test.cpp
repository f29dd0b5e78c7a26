// find_meta_flag: reading return flags out of a meta reply (protocol.md 3.1-3.3).
#include <memcoro/protocol/reply.hpp>

#include <doctest/doctest.h>

#include <optional>
#include <string_view>

using memcoro::protocol::find_meta_flag;
using namespace std::string_view_literals;

TEST_CASE("find_meta_flag: tokens, bare flags and absent flags") {
    const std::string_view flags = "c64 t30 kfoo O123 W";
    CHECK(find_meta_flag(flags, 'c') == "64"sv);
    CHECK(find_meta_flag(flags, 't') == "30"sv);
    CHECK(find_meta_flag(flags, 'k') == "foo"sv);
    CHECK(find_meta_flag(flags, 'O') == "123"sv);

    const auto w = find_meta_flag(flags, 'W');
    REQUIRE(w.has_value());
    CHECK(w->empty());

    CHECK_FALSE(find_meta_flag(flags, 'X').has_value());
    CHECK_FALSE(find_meta_flag(flags, 'Z').has_value());
    // Case matters: 'C' is not 'c', 'o' is not 'O'.
    CHECK_FALSE(find_meta_flag(flags, 'C').has_value());
    CHECK_FALSE(find_meta_flag(flags, 'o').has_value());
    // A letter inside a token is not a flag.
    CHECK_FALSE(find_meta_flag(flags, '6').has_value());
    CHECK_FALSE(find_meta_flag(flags, 'f').has_value());
    CHECK_FALSE(find_meta_flag(flags, ' ').has_value());
}

TEST_CASE("find_meta_flag: edges") {
    CHECK_FALSE(find_meta_flag("", 'c').has_value());
    CHECK_FALSE(find_meta_flag("   ", 'c').has_value());
    CHECK(find_meta_flag("c", 'c') == ""sv);
    CHECK(find_meta_flag("t-1", 't') == "-1"sv);
    // The returned view is inside the input.
    const std::string_view text = "s3 f0 t-1 c52 kfoo Oxyz h1 l0";
    const auto h = find_meta_flag(text, 'h');
    REQUIRE(h.has_value());
    CHECK(*h == "1"sv);
    CHECK(h->data() == text.data() + 25);
    CHECK(find_meta_flag(text, 'l') == "0"sv);
    // Extra spaces are tolerated.
    CHECK(find_meta_flag("  c64   t30  ", 't') == "30"sv);
    CHECK(find_meta_flag("  c64   t30  ", 'c') == "64"sv);
    // A binary key comes back as k<base64> with a bare b.
    CHECK(find_meta_flag("kAAEgDQr/ b", 'k') == "AAEgDQr/"sv);
    CHECK(find_meta_flag("kAAEgDQr/ b", 'b') == ""sv);
    // The first occurrence wins.
    CHECK(find_meta_flag("X W X1", 'X') == ""sv);
}

TEST_CASE("parse_server_version: VERSION texts as comparable numbers") {
    using memcoro::protocol::parse_server_version;
    CHECK(parse_server_version("1.6.18") == 10618u);
    CHECK(parse_server_version("1.6.27") == 10627u);
    CHECK(parse_server_version("1.5.9") == 10509u);
    CHECK(parse_server_version("1.6.21-dirty") == 10621u);
    CHECK(parse_server_version("1.6.10") > parse_server_version("1.6.9"));
    CHECK(parse_server_version("1.6.9") > parse_server_version("1.5.99"));
    // Unknown: nothing that reads as major.minor.patch.
    CHECK(parse_server_version("") == 0u);
    CHECK(parse_server_version("1.6") == 0u);
    CHECK(parse_server_version("1.6.") == 0u);
    CHECK(parse_server_version("v1.6.18") == 0u);
    CHECK(parse_server_version("1.-6.18") == 0u);
    CHECK(parse_server_version("1.6.100") == 0u);
    CHECK(parse_server_version("1.600.1") == 0u);
    CHECK(parse_server_version("99999999999.1.1") == 0u);
}
