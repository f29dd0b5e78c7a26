// Request encoding: exact bytes of every command (protocol.md 1.6-1.12, 3), validation,
// the zero-copy gather list, and batching.
#include <memcoro/error.hpp>
#include <memcoro/protocol/encoder.hpp>

#include <doctest/doctest.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <functional>
#include <limits>
#include <new>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

using memcoro::error;
using namespace memcoro::protocol;
using namespace std::string_literals;
using namespace std::string_view_literals;

// Counts every allocation made through the global operator new, so a test can show that a
// warmed-up encoder does not allocate, and can make the n-th allocation from now fail. It
// forwards to malloc and frees with free.
namespace {
std::size_t allocations = 0;
std::size_t fail_countdown = 0;  // 0: never fail

void* counted_allocation(std::size_t n) {
    ++allocations;
    if (fail_countdown != 0 && --fail_countdown == 0) {
        throw std::bad_alloc();
    }
    if (void* p = std::malloc(n == 0 ? 1 : n)) {
        return p;
    }
    throw std::bad_alloc();
}
}  // namespace

void* operator new(std::size_t n) { return counted_allocation(n); }
void* operator new[](std::size_t n) { return counted_allocation(n); }
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }

namespace {

std::string wire(request_encoder& enc) {
    std::string out;
    for (const chunk& c : enc.chunks()) {
        out.append(c.data, c.size);
    }
    return out;
}

bool points_into(const chunk& c, std::string_view mem) {
    const std::less<const char*> lt;
    return !lt(c.data, mem.data()) && lt(c.data, mem.data() + mem.size());
}

bool any_chunk_points_into(request_encoder& enc, std::string_view mem) {
    for (const chunk& c : enc.chunks()) {
        if (points_into(c, mem)) {
            return true;
        }
    }
    return false;
}

encoder_options with_prefix(std::string prefix) {
    encoder_options o;
    o.key_prefix = std::move(prefix);
    return o;
}

// The bytes one call produces on a fresh encoder.
template <class F>
std::string encode(F&& f, encoder_options options = {}) {
    request_encoder enc(std::move(options));
    const auto ec = f(enc);
    REQUIRE_FALSE(ec);
    CHECK(enc.size() == wire(enc).size());
    return wire(enc);
}

std::string meta_bytes(meta_command cmd, std::string_view key, std::vector<meta_flag> flags,
                       std::string_view value = {}, encoder_options options = {}) {
    return encode([&](request_encoder& e) { return e.meta(cmd, key, flags, value); },
                  std::move(options));
}

constexpr std::int64_t int32_min = std::numeric_limits<std::int32_t>::min();
constexpr std::int64_t int32_max = std::numeric_limits<std::int32_t>::max();

}  // namespace

TEST_CASE("store: exact bytes of each storage command") {
    auto st = [](store_command cmd, std::string_view key, std::string_view value,
                 std::uint32_t flags, std::int64_t exptime, bool noreply, std::uint64_t cas = 0,
                 encoder_options o = {}) {
        return encode(
            [&](request_encoder& e) {
                return e.store(cmd, key, value, flags, exptime, noreply, cas);
            },
            std::move(o));
    };
    using sc = store_command;
    CHECK(st(sc::set, "foo", "bar", 5, 0, false) == "set foo 5 0 3\r\nbar\r\n");
    CHECK(st(sc::set, "foo", "bar", 5, 0, true) == "set foo 5 0 3 noreply\r\nbar\r\n");
    CHECK(st(sc::add, "k", "v", 0, 30, false) == "add k 0 30 1\r\nv\r\n");
    CHECK(st(sc::replace, "k", "v", 0, 30, true) == "replace k 0 30 1 noreply\r\nv\r\n");
    CHECK(st(sc::append, "k", "xyz", 99, 0, false) == "append k 99 0 3\r\nxyz\r\n");
    CHECK(st(sc::prepend, "k", "xyz", 0, 0, true) == "prepend k 0 0 3 noreply\r\nxyz\r\n");
    CHECK(st(sc::cas, "foo", "bar", 1, 100, false, 12345) == "cas foo 1 100 3 12345\r\nbar\r\n");
    CHECK(st(sc::cas, "foo", "bar", 1, 100, true, 12345) ==
          "cas foo 1 100 3 12345 noreply\r\nbar\r\n");
    CHECK(st(sc::cas, "c", "", 0, 0, false, 18446744073709551615ull) ==
          "cas c 0 0 0 18446744073709551615\r\n\r\n");
    // The cas value belongs to cas only.
    CHECK(st(sc::set, "k", "v", 0, 0, false, 77) == "set k 0 0 1\r\nv\r\n");

    // Number edges (protocol.md 1.3, 1.4).
    CHECK(st(sc::set, "k", "v", 4294967295u, 0, false) == "set k 4294967295 0 1\r\nv\r\n");
    CHECK(st(sc::set, "k", "v", 0, -1, false) == "set k 0 -1 1\r\nv\r\n");
    CHECK(st(sc::set, "k", "v", 0, 2592000, false) == "set k 0 2592000 1\r\nv\r\n");
    CHECK(st(sc::set, "k", "v", 0, int32_max, false) == "set k 0 2147483647 1\r\nv\r\n");
    CHECK(st(sc::set, "k", "v", 0, int32_min, false) == "set k 0 -2147483648 1\r\nv\r\n");

    // Empty and binary values; the data block is sent as is.
    CHECK(st(sc::set, "k", "", 0, 0, false) == "set k 0 0 0\r\n\r\n");
    const std::string bin = "a\0b\r\nc"s;
    CHECK(st(sc::set, "k", bin, 0, 0, false) == "set k 0 0 6\r\n"s + bin + "\r\n");

    // The prefix goes before the key.
    CHECK(st(sc::set, "foo", "bar", 0, 0, false, 0, with_prefix("app:")) ==
          "set app:foo 0 0 3\r\nbar\r\n");
    CHECK(st(sc::cas, "foo", "bar", 2, 3, true, 4, with_prefix("app:")) ==
          "cas app:foo 2 3 3 4 noreply\r\nbar\r\n");
}

TEST_CASE("store: a large value is sent as its own chunk") {
    const std::string big(100000, 'x');
    const std::string out = encode([&](request_encoder& e) {
        return e.store(store_command::set, "big", big, 0, 0, false);
    });
    CHECK(out == "set big 0 0 100000\r\n" + big + "\r\n");
}

TEST_CASE("retrieve: exact bytes") {
    using rc = retrieve_command;
    const std::vector<std::string_view> abc = {"a", "b", "c"};
    CHECK(encode([](request_encoder& e) { return e.retrieve(rc::get, "foo"); }) ==
          "get foo\r\n");
    CHECK(encode([&](request_encoder& e) { return e.retrieve(rc::get, abc); }) ==
          "get a b c\r\n");
    CHECK(encode([&](request_encoder& e) { return e.retrieve(rc::gets, abc); }) ==
          "gets a b c\r\n");
    CHECK(encode([&](request_encoder& e) { return e.retrieve(rc::gat, abc, 100); }) ==
          "gat 100 a b c\r\n");
    CHECK(encode([&](request_encoder& e) { return e.retrieve(rc::gats, "a", -1); }) ==
          "gats -1 a\r\n");
    CHECK(encode([&](request_encoder& e) { return e.retrieve(rc::gat, "a"); }) == "gat 0 a\r\n");
    // get and gets carry no exptime.
    CHECK(encode([&](request_encoder& e) { return e.retrieve(rc::get, "a", 55); }) ==
          "get a\r\n");
    CHECK(encode([&](request_encoder& e) { return e.retrieve(rc::gets, abc); },
                 with_prefix("p:")) == "gets p:a p:b p:c\r\n");
    CHECK(encode([&](request_encoder& e) { return e.retrieve(rc::gat, abc, 7); },
                 with_prefix("p:")) == "gat 7 p:a p:b p:c\r\n");
    // A key requested twice is sent twice (protocol.md 1.7).
    const std::vector<std::string_view> twice = {"a", "a"};
    CHECK(encode([&](request_encoder& e) { return e.retrieve(rc::get, twice); }) ==
          "get a a\r\n");
}

TEST_CASE("retrieve: get lines may be long, gat lines may not") {
    // 8 keys of 250 bytes and one of 32: "gat 0" + 8*251 + 33 + CRLF = 2048 bytes.
    std::vector<std::string> storage(8, std::string(250, 'k'));
    storage.push_back(std::string(32, 'z'));
    std::vector<std::string_view> keys(storage.begin(), storage.end());
    request_encoder enc;
    REQUIRE_FALSE(enc.retrieve(retrieve_command::gat, keys, 0));
    CHECK(enc.size() == 2048);
    enc.clear();
    storage.back().push_back('z');
    keys.back() = storage.back();
    CHECK(enc.retrieve(retrieve_command::gat, keys, 0) == error::invalid_argument);
    CHECK(enc.retrieve(retrieve_command::gats, keys, 0) == error::invalid_argument);
    CHECK(enc.empty());

    // get and gets have no such limit: 601 keys (protocol.md 1.1).
    std::vector<std::string> many;
    for (int i = 0; i < 601; ++i) {
        many.push_back("key" + std::to_string(i));
    }
    const std::vector<std::string_view> many_views(many.begin(), many.end());
    std::string expected = "gets";
    for (const auto& k : many) {
        expected += " " + k;
    }
    expected += "\r\n";
    REQUIRE_FALSE(enc.retrieve(retrieve_command::gets, many_views));
    CHECK(wire(enc) == expected);
    CHECK(enc.size() > 2048);
}

TEST_CASE("delete, incr, decr, touch: exact bytes") {
    CHECK(encode([](request_encoder& e) { return e.remove("foo", false); }) == "delete foo\r\n");
    CHECK(encode([](request_encoder& e) { return e.remove("foo", true); }) ==
          "delete foo noreply\r\n");
    CHECK(encode([](request_encoder& e) { return e.remove("foo", true); }, with_prefix("n/")) ==
          "delete n/foo noreply\r\n");

    using ac = arithmetic_command;
    CHECK(encode([](request_encoder& e) { return e.arithmetic(ac::incr, "c", 5, false); }) ==
          "incr c 5\r\n");
    CHECK(encode([](request_encoder& e) { return e.arithmetic(ac::incr, "c", 0, true); }) ==
          "incr c 0 noreply\r\n");
    CHECK(encode([](request_encoder& e) {
              return e.arithmetic(ac::decr, "c", 18446744073709551615ull, false);
          }) == "decr c 18446744073709551615\r\n");
    CHECK(encode([](request_encoder& e) { return e.arithmetic(ac::decr, "c", 1, true); },
                 with_prefix("x")) == "decr xc 1 noreply\r\n");

    CHECK(encode([](request_encoder& e) { return e.touch("foo", 30, false); }) ==
          "touch foo 30\r\n");
    CHECK(encode([](request_encoder& e) { return e.touch("foo", -1, true); }) ==
          "touch foo -1 noreply\r\n");
    CHECK(encode([](request_encoder& e) { return e.touch("foo", 1, false); }, with_prefix("p")) ==
          "touch pfoo 1\r\n");
}

TEST_CASE("stats, flush_all, version, verbosity, cache_memlimit, quit, shutdown: exact bytes") {
    // None of these carries a key, so the prefix never shows up.
    const encoder_options p = with_prefix("app:");
    CHECK(encode([](request_encoder& e) { return e.stats(); }, p) == "stats\r\n");
    CHECK(encode([](request_encoder& e) { return e.stats(""); }) == "stats\r\n");
    CHECK(encode([](request_encoder& e) { return e.stats("   "); }) == "stats\r\n");
    CHECK(encode([](request_encoder& e) { return e.stats("items"); }, p) == "stats items\r\n");
    CHECK(encode([](request_encoder& e) { return e.stats("  detail   on "); }) ==
          "stats detail on\r\n");
    CHECK(encode([](request_encoder& e) { return e.stats("cachedump 1 10"); }) ==
          "stats cachedump 1 10\r\n");

    CHECK(encode([](request_encoder& e) { return e.flush_all(std::nullopt, false); }, p) ==
          "flush_all\r\n");
    CHECK(encode([](request_encoder& e) { return e.flush_all(std::nullopt, true); }) ==
          "flush_all noreply\r\n");
    CHECK(encode([](request_encoder& e) { return e.flush_all(0, false); }) == "flush_all 0\r\n");
    CHECK(encode([](request_encoder& e) { return e.flush_all(10, true); }) ==
          "flush_all 10 noreply\r\n");
    CHECK(encode([](request_encoder& e) { return e.flush_all(-5, false); }) ==
          "flush_all -5\r\n");

    CHECK(encode([](request_encoder& e) { return e.version(); }, p) == "version\r\n");
    CHECK(encode([](request_encoder& e) { return e.verbosity(1, false); }) == "verbosity 1\r\n");
    CHECK(encode([](request_encoder& e) { return e.verbosity(0, true); }) ==
          "verbosity 0 noreply\r\n");
    CHECK(encode([](request_encoder& e) { return e.cache_memlimit(64, false); }) ==
          "cache_memlimit 64\r\n");
    CHECK(encode([](request_encoder& e) { return e.cache_memlimit(4294967295u, true); }) ==
          "cache_memlimit 4294967295 noreply\r\n");
    CHECK(encode([](request_encoder& e) { return e.quit(); }, p) == "quit\r\n");
    CHECK(encode([](request_encoder& e) { return e.shutdown(false); }) == "shutdown\r\n");
    CHECK(encode([](request_encoder& e) { return e.shutdown(true); }) ==
          "shutdown graceful\r\n");
}

TEST_CASE("stats: argument validation and the line limit") {
    request_encoder enc;
    for (const std::string& bad : {"a\tb"s, "items\r\n"s, "a\rb"s, "a\nb"s, "a\x01"s, "\x7F"s,
                                  "a\0b"s, "caf\xC3\xA9"s, "\x80"s, "\xFF"s}) {
        CAPTURE(bad);
        CHECK(enc.stats(bad) == error::invalid_argument);
    }
    CHECK(enc.empty());
    // "stats " + token + CRLF: 2040 bytes of token make a 2048-byte line.
    REQUIRE_FALSE(enc.stats(std::string(2040, 'a')));
    CHECK(enc.size() == 2048);
    enc.clear();
    CHECK(enc.stats(std::string(2041, 'a')) == error::invalid_argument);
    // Spaces that are dropped do not count.
    REQUIRE_FALSE(enc.stats("   " + std::string(2040, 'a') + "    "));
    CHECK(enc.size() == 2048);
}

TEST_CASE("meta: exact bytes of each meta command") {
    using mc = meta_command;
    CHECK(meta_bytes(mc::get, "foo", {}) == "mg foo\r\n");
    CHECK(meta_bytes(mc::get, "foo",
                     {{'s'}, {'v'}, {'f'}, {'t'}, {'c'}, {'k'}, {'O', "xyz"}, {'h'}, {'l'}}) ==
          "mg foo s v f t c k Oxyz h l\r\n");
    CHECK(meta_bytes(mc::get, "foo", {{'T', "100"}, {'t'}, {'v'}, {'q'}}) ==
          "mg foo T100 t v q\r\n");
    CHECK(meta_bytes(mc::set, "foo", {{'F', "42"}, {'T', "100"}, {'c'}, {'k'}, {'O', "9"}},
                     "baz") == "ms foo 3 F42 T100 c k O9\r\nbaz\r\n");
    CHECK(meta_bytes(mc::set, "foo", {}, "baz") == "ms foo 3\r\nbaz\r\n");
    CHECK(meta_bytes(mc::set, "foo", {{'q'}}) == "ms foo 0 q\r\n\r\n");
    CHECK(meta_bytes(mc::set, "foo", {{'M', "E"}}, "a\0\r\n"s) == "ms foo 4 ME\r\na\0\r\n\r\n"s);
    CHECK(meta_bytes(mc::remove, "foo", {{'C', "1"}, {'k'}, {'O', "5"}}) ==
          "md foo C1 k O5\r\n");
    CHECK(meta_bytes(mc::remove, "foo", {}) == "md foo\r\n");
    CHECK(meta_bytes(mc::arithmetic, "cnt", {{'N', "0"}, {'J', "10"}, {'v'}}) ==
          "ma cnt N0 J10 v\r\n");
    CHECK(meta_bytes(mc::arithmetic, "cnt", {{'M', "-"}, {'D', "18446744073709551615"}}) ==
          "ma cnt M- D18446744073709551615\r\n");
    CHECK(meta_bytes(mc::noop, "", {}) == "mn\r\n");
    CHECK(meta_bytes(mc::debug, "foo", {}) == "me foo\r\n");

    // With a prefix.
    const encoder_options p = with_prefix("app:");
    CHECK(meta_bytes(mc::get, "foo", {{'v'}}, {}, p) == "mg app:foo v\r\n");
    CHECK(meta_bytes(mc::set, "foo", {{'T', "-1"}}, "x", p) == "ms app:foo 1 T-1\r\nx\r\n");
    CHECK(meta_bytes(mc::remove, "foo", {{'q'}}, {}, p) == "md app:foo q\r\n");
    CHECK(meta_bytes(mc::arithmetic, "foo", {}, {}, p) == "ma app:foo\r\n");
    CHECK(meta_bytes(mc::debug, "foo", {}, {}, p) == "me app:foo\r\n");
    CHECK(meta_bytes(mc::noop, "", {}, {}, p) == "mn\r\n");
}

TEST_CASE("meta: base64 keys") {
    using mc = meta_command;
    CHECK(meta_bytes(mc::get, "foo", {{'b'}, {'v'}}) == "mg Zm9v b v\r\n");
    CHECK(meta_bytes(mc::get, "foo", {{'v'}, {'b'}}) == "mg Zm9v v b\r\n");
    CHECK(meta_bytes(mc::get, "fo", {{'b'}}) == "mg Zm8= b\r\n");
    CHECK(meta_bytes(mc::get, "f", {{'b'}}) == "mg Zg== b\r\n");
    CHECK(meta_bytes(mc::set, "foo", {{'b'}}, "1") == "ms Zm9v 1 b\r\n1\r\n");
    CHECK(meta_bytes(mc::remove, "foo", {{'b'}, {'q'}}) == "md Zm9v b q\r\n");
    CHECK(meta_bytes(mc::arithmetic, "foo", {{'b'}}) == "ma Zm9v b\r\n");
    CHECK(meta_bytes(mc::debug, "foo", {{'b'}}) == "me Zm9v b\r\n");

    // Any bytes, without the high-byte opt-in: the raw key is not subject to the byte rules.
    CHECK(meta_bytes(mc::get, "\x00\x01 \r\n\xff"s, {{'b'}}) == "mg AAEgDQr/ b\r\n");

    // The prefix is part of the encoded key, wherever the 3-byte groups split.
    CHECK(meta_bytes(mc::get, "foo", {{'b'}}, {}, with_prefix("p:")) == "mg cDpmb28= b\r\n");
    for (std::size_t split = 0; split < 6; ++split) {
        const std::string all = "foobar";
        CAPTURE(split);
        const encoder_options prefixed = with_prefix(all.substr(0, split));
        CHECK(meta_bytes(mc::get, all.substr(split), {{'b'}}, {}, prefixed) == "mg Zm9vYmFy b\r\n");
    }
    CHECK(meta_bytes(mc::get, "bcd", {{'b'}}, {}, with_prefix("a")) == "mg YWJjZA== b\r\n");
    // The prefix may hold any bytes too, then.
    CHECK(meta_bytes(mc::get, "\xff"s, {{'b'}}, {}, with_prefix("\x00\x01 \r\n"s)) ==
          "mg AAEgDQr/ b\r\n");
}

TEST_CASE("meta: base64 key length is limited by the encoded text") {
    // The server checks 250 bytes on the base64 text: 186 raw bytes give 248, 187 give 252.
    std::string raw;
    for (int i = 0; i < 186; ++i) {
        raw.push_back(static_cast<char>(i));
    }
    const std::string b64 =
        "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKissLS4vMDEyMzQ1Njc4OTo7PD0+"
        "P0BBQkNERUZHSElKS0xNTk9QUVJTVFVWV1hZWltcXV5fYGFiY2RlZmdoaWprbG1ub3BxcnN0dXZ3eHl6e3x9fn+"
        "AgYKDhIWGh4iJiouMjY6PkJGSk5SVlpeYmZqbnJ2en6ChoqOkpaanqKmqq6ytrq+wsbKztLW2t7i5";
    REQUIRE(b64.size() == 248);
    CHECK(meta_bytes(meta_command::get, raw, {{'b'}}) == "mg " + b64 + " b\r\n");

    request_encoder enc;
    CHECK(enc.meta(meta_command::get, raw + "x", std::vector<meta_flag>{{'b'}}) ==
          error::invalid_key);
    CHECK(enc.meta(meta_command::get, "", std::vector<meta_flag>{{'b'}}) == error::invalid_key);
    CHECK(enc.meta(meta_command::set, std::string(250, 'k'), std::vector<meta_flag>{{'b'}}, "v") ==
          error::invalid_key);

    request_encoder pre(with_prefix("p:"));
    CHECK_FALSE(pre.meta(meta_command::get, std::string(184, 'k'), std::vector<meta_flag>{{'b'}}));
    CHECK(pre.meta(meta_command::get, std::string(185, 'k'), std::vector<meta_flag>{{'b'}}) ==
          error::invalid_key);
    // An empty key stays invalid even though the prefix would be something to encode.
    CHECK(pre.meta(meta_command::get, "", std::vector<meta_flag>{{'b'}}) == error::invalid_key);
    CHECK(pre.meta(meta_command::debug, "", std::vector<meta_flag>{{'b'}}) == error::invalid_key);
}

TEST_CASE("meta: flag validation") {
    using mc = meta_command;
    request_encoder enc;
    auto mg = [&](std::vector<meta_flag> flags) { return enc.meta(mc::get, "k", flags); };

    SUBCASE("flag names are ASCII letters") {
        for (unsigned b = 0; b < 256; ++b) {
            CAPTURE(b);
            const char c = static_cast<char>(b);
            const bool letter = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
            enc.clear();
            const auto ec = mg({{c}});
            if (letter) {
                CHECK_FALSE(ec);
                // 'b' turns the key into base64.
                CHECK(wire(enc) == (c == 'b' ? "mg aw== b\r\n"s : "mg k "s + c + "\r\n"));
            } else {
                CHECK(ec == error::invalid_argument);
                CHECK(enc.empty());
            }
        }
    }
    SUBCASE("each flag at most once; case matters") {
        CHECK(mg({{'v'}, {'v'}}) == error::invalid_argument);
        CHECK(mg({{'O', "1"}, {'k'}, {'O', "2"}}) == error::invalid_argument);
        CHECK(mg({{'b'}, {'b'}}) == error::invalid_argument);
        CHECK(enc.empty());
        CHECK_FALSE(mg({{'T', "1"}, {'t'}}));
        CHECK(wire(enc) == "mg k T1 t\r\n");
    }
    SUBCASE("tokens are printable bytes") {
        for (unsigned b = 0; b < 256; ++b) {
            CAPTURE(b);
            const std::string token = "1"s + static_cast<char>(b) + "2";
            enc.clear();
            const auto ec = mg({{'T', token}});
            if (b >= 0x21 && b <= 0x7E) {
                CHECK_FALSE(ec);
                CHECK(wire(enc) == "mg k T" + token + "\r\n");
            } else {
                CHECK(ec == error::invalid_argument);
                CHECK(enc.empty());
            }
        }
    }
    SUBCASE("opaque of at most 31 bytes") {
        CHECK_FALSE(mg({{'O', std::string(31, 'o')}}));
        CHECK(wire(enc) == "mg k O" + std::string(31, 'o') + "\r\n");
        enc.clear();
        CHECK(mg({{'O', std::string(32, 'o')}}) == error::invalid_argument);
        CHECK(enc.empty());
        // Other tokens have no such limit.
        CHECK_FALSE(mg({{'P', std::string(100, 'p')}}));
    }
    SUBCASE("b takes no token") {
        CHECK(mg({{'b', "1"}}) == error::invalid_argument);
        CHECK(enc.empty());
    }
    SUBCASE("flag counts: 17 for mg md ma, 16 for ms") {
        std::vector<meta_flag> flags;
        for (char c = 'a'; flags.size() < 18; ++c) {
            if (c != 'b') {
                flags.push_back({c});
            }
        }
        const std::span<const meta_flag> f17(flags.data(), 17);
        const std::span<const meta_flag> f16(flags.data(), 16);
        for (const mc cmd : {mc::get, mc::remove, mc::arithmetic}) {
            CAPTURE(static_cast<int>(cmd));
            CHECK_FALSE(enc.meta(cmd, "k", f17));
            CHECK(enc.meta(cmd, "k", flags) == error::invalid_argument);
        }
        CHECK_FALSE(enc.meta(mc::set, "k", f16, "v"));
        const std::size_t before = enc.size();
        CHECK(enc.meta(mc::set, "k", f17, "v") == error::invalid_argument);
        CHECK(enc.size() == before);
        CHECK(wire(enc) ==
              "mg k a c d e f g h i j k l m n o p q r\r\n"
              "md k a c d e f g h i j k l m n o p q r\r\n"
              "ma k a c d e f g h i j k l m n o p q r\r\n"
              "ms k 1 a c d e f g h i j k l m n o p q\r\nv\r\n");
    }
    SUBCASE("a value only with ms") {
        for (const mc cmd : {mc::get, mc::remove, mc::arithmetic, mc::debug, mc::noop}) {
            CAPTURE(static_cast<int>(cmd));
            CHECK(enc.meta(cmd, cmd == mc::noop ? "" : "k", {}, "v") == error::invalid_argument);
        }
        CHECK(enc.empty());
    }
    SUBCASE("me takes only b; mn takes nothing") {
        CHECK(enc.meta(mc::debug, "k", std::vector<meta_flag>{{'v'}}) == error::invalid_argument);
        CHECK(enc.meta(mc::debug, "k", std::vector<meta_flag>{{'b'}, {'k'}}) ==
              error::invalid_argument);
        CHECK(enc.meta(mc::debug, "k", std::vector<meta_flag>{{'b', "x"}}) ==
              error::invalid_argument);
        CHECK(enc.meta(mc::noop, "k", {}) == error::invalid_argument);
        CHECK(enc.meta(mc::noop, "", std::vector<meta_flag>{{'q'}}) == error::invalid_argument);
        CHECK(enc.empty());
    }
    SUBCASE("keys follow the key rules without b") {
        CHECK(enc.meta(mc::get, "a b", {}) == error::invalid_key);
        CHECK(enc.meta(mc::get, "", {}) == error::invalid_key);
        CHECK(enc.meta(mc::set, std::string(251, 'k'), {}, "v") == error::invalid_key);
        CHECK(enc.meta(mc::remove, "caf\xC3\xA9", {}) == error::invalid_key);
        CHECK(enc.meta(mc::debug, "a\nb", {}) == error::invalid_key);
        CHECK(enc.empty());
        CHECK_FALSE(enc.meta(mc::get, std::string(250, 'k'), {}));
    }
    SUBCASE("the command line stays within 2048 bytes") {
        // "mg k " + "P" + token + CRLF = 8 + token bytes.
        CHECK_FALSE(mg({{'P', std::string(2040, 'p')}}));
        CHECK(enc.size() == 2048);
        enc.clear();
        CHECK(mg({{'P', std::string(2041, 'p')}}) == error::invalid_argument);
        // "ms k 1 P" + token + CRLF: the datalen counts, the value does not.
        CHECK_FALSE(enc.meta(mc::set, "k", std::vector<meta_flag>{{'P', std::string(2038, 'p')}},
                             "v"));
        CHECK(enc.size() == 2048 + 3);
        enc.clear();
        CHECK(enc.meta(mc::set, "k", std::vector<meta_flag>{{'P', std::string(2039, 'p')}}, "v") ==
              error::invalid_argument);
        CHECK(enc.empty());
    }
}

TEST_CASE("meta: ms checks the value size") {
    encoder_options o;
    o.max_value = 10;
    request_encoder enc(o);
    CHECK_FALSE(enc.meta(meta_command::set, "k", {}, std::string(10, 'v')));
    CHECK(enc.meta(meta_command::set, "k", {}, std::string(11, 'v')) == error::value_too_large);
    CHECK(wire(enc) == "ms k 10\r\nvvvvvvvvvv\r\n");
}

TEST_CASE("validation errors, one by one") {
    encoder_options o;
    o.max_value = 10;
    request_encoder enc(o);
    using sc = store_command;
    CHECK(enc.store(sc::set, "", "v", 0, 0, false) == error::invalid_key);
    CHECK(enc.store(sc::set, "a b", "v", 0, 0, false) == error::invalid_key);
    CHECK(enc.store(sc::set, std::string(251, 'k'), "v", 0, 0, false) == error::invalid_key);
    CHECK(enc.store(sc::set, "k", std::string(11, 'v'), 0, 0, false) == error::value_too_large);
    CHECK_FALSE(enc.store(sc::set, "k", std::string(10, 'v'), 0, 0, false));
    CHECK(enc.store(sc::set, "k", "v", 0, int32_max + 1, false) == error::invalid_argument);
    CHECK(enc.store(sc::set, "k", "v", 0, int32_min - 1, false) == error::invalid_argument);
    CHECK(enc.store(sc::cas, "k", "v", 0, std::numeric_limits<std::int64_t>::max(), false, 1) ==
          error::invalid_argument);
    CHECK(enc.store(sc::append, "k\r\n", "v", 0, 0, false) == error::invalid_key);

    CHECK(enc.retrieve(retrieve_command::get, std::span<const std::string_view>{}) ==
          error::invalid_argument);
    const std::vector<std::string_view> one_bad = {"a", "b c", "d"};
    CHECK(enc.retrieve(retrieve_command::get, one_bad) == error::invalid_key);
    CHECK(enc.retrieve(retrieve_command::gat, "a", int32_max + 1) == error::invalid_argument);
    CHECK(enc.retrieve(retrieve_command::gats, "a", int32_min - 1) == error::invalid_argument);

    CHECK(enc.remove("a\tb", false) == error::invalid_key);
    CHECK(enc.arithmetic(arithmetic_command::incr, "", 1, false) == error::invalid_key);
    CHECK(enc.touch("a b", 1, false) == error::invalid_key);
    CHECK(enc.touch("k", int32_max + 1, false) == error::invalid_argument);
    CHECK(enc.flush_all(int32_max + 1, false) == error::invalid_argument);
    CHECK(enc.flush_all(int32_min - 1, true) == error::invalid_argument);
    CHECK(enc.cache_memlimit(4294967296ull, false) == error::invalid_argument);

    CHECK(wire(enc) == "set k 0 0 10\r\nvvvvvvvvvv\r\n");
}

TEST_CASE("the key prefix counts toward the key rules") {
    request_encoder enc(with_prefix("app:"));  // 4 bytes
    CHECK_FALSE(enc.remove(std::string(246, 'k'), false));
    CHECK(enc.remove(std::string(247, 'k'), false) == error::invalid_key);
    CHECK(enc.remove("", false) == error::invalid_key);
    CHECK(enc.size() == std::string_view("delete app:\r\n").size() + 246);

    request_encoder bad_prefix(with_prefix("my app:"));
    CHECK(bad_prefix.store(store_command::set, "k", "v", 0, 0, false) == error::invalid_key);
    CHECK(bad_prefix.retrieve(retrieve_command::get, "k") == error::invalid_key);
    CHECK(bad_prefix.meta(meta_command::get, "k", {}) == error::invalid_key);
    CHECK(bad_prefix.empty());
    // With b the prefix is encoded with the key and may hold a space.
    CHECK_FALSE(bad_prefix.meta(meta_command::get, "k", std::vector<meta_flag>{{'b'}}));

    encoder_options high = with_prefix("caf\xC3\xA9:");
    CHECK(request_encoder(high).remove("k", false) == error::invalid_key);
    high.keys.allow_high_bytes = true;
    request_encoder utf8(high);
    CHECK_FALSE(utf8.remove("\xC3\xA9t\xC3\xA9", false));
    CHECK(wire(utf8) == "delete caf\xC3\xA9:\xC3\xA9t\xC3\xA9\r\n");
    CHECK(utf8.remove("a\x7F", false) == error::invalid_key);
}

TEST_CASE("an error leaves the earlier requests byte-identical") {
    encoder_options o;
    o.key_prefix = "p:";
    o.max_value = 4096;
    request_encoder enc(o);
    const std::string big(1000, 'B');
    REQUIRE_FALSE(enc.store(store_command::set, "a", "small", 1, 2, false));
    REQUIRE_FALSE(enc.store(store_command::set, "b", big, 0, 0, true));
    REQUIRE_FALSE(enc.meta(meta_command::get, "c", std::vector<meta_flag>{{'v'}, {'q'}}));
    const std::string before = wire(enc);
    const std::size_t size_before = enc.size();
    const std::size_t chunks_before = enc.chunks().size();
    REQUIRE(chunks_before == 3);

    const std::vector<std::string_view> one_bad = {"ok", "not ok"};
    const std::vector<meta_flag> dup = {{'v'}, {'v'}};
    const std::vector<meta_flag> b_flag = {{'b'}};
    struct attempt {
        const char* what;
        boost::system::error_code got;
        error want;
    };
    const error key = error::invalid_key;
    const error arg = error::invalid_argument;
    const error large = error::value_too_large;
    using sc = store_command;
    using rc = retrieve_command;
    using mc = meta_command;
    const std::span<const std::string_view> none;
    const attempt attempts[] = {
        {"store bad key", enc.store(sc::set, "x y", big, 0, 0, false), key},
        {"store empty key", enc.store(sc::cas, "", "v", 0, 0, false, 1), key},
        {"store long key", enc.store(sc::add, std::string(249, 'k'), "v", 0, 0, false), key},
        {"store too large", enc.store(sc::set, "k", std::string(4097, 'v'), 0, 0, false), large},
        {"store exptime", enc.store(sc::set, "k", big, 0, int32_max + 1, false), arg},
        {"retrieve none", enc.retrieve(rc::gets, none), arg},
        {"retrieve bad key", enc.retrieve(rc::get, one_bad), key},
        {"retrieve exptime", enc.retrieve(rc::gat, "k", int32_min - 1), arg},
        {"delete", enc.remove("\x01", true), key},
        {"incr", enc.arithmetic(arithmetic_command::incr, "a\rb", 1, false), key},
        {"touch key", enc.touch("", 1, false), key},
        {"touch exptime", enc.touch("k", int32_min - 1, true), arg},
        {"stats", enc.stats("items\r\nflush_all"), arg},
        {"stats long", enc.stats(std::string(3000, 's')), arg},
        {"flush_all", enc.flush_all(int32_max + 1, true), arg},
        {"cache_memlimit", enc.cache_memlimit(1ull << 40, false), arg},
        {"mg dup", enc.meta(mc::get, "k", dup), arg},
        {"mg key", enc.meta(mc::get, "k k", {}), key},
        {"mg value", enc.meta(mc::get, "k", {}, "v"), arg},
        {"ms too large", enc.meta(mc::set, "k", {}, std::string(4097, 'v')), large},
        {"ms b too long", enc.meta(mc::set, std::string(186, 'k'), b_flag, big), key},
        {"mn key", enc.meta(mc::noop, "k", {}), arg},
        {"me flag", enc.meta(mc::debug, "k", dup), arg},
    };
    for (const attempt& a : attempts) {
        CAPTURE(a.what);
        CHECK(a.got == a.want);
    }
    CHECK(enc.size() == size_before);
    CHECK(enc.chunks().size() == chunks_before);
    CHECK(wire(enc) == before);

    // The batch goes on normally afterwards and merges into the last chunk.
    REQUIRE_FALSE(enc.meta(meta_command::noop, "", {}));
    CHECK(enc.chunks().size() == chunks_before);
    CHECK(wire(enc) == before + "mn\r\n");
}

TEST_CASE("zero-copy: values of copy_below bytes or more are referenced in place") {
    request_encoder enc;  // copy_below = 512
    const std::string small(511, 's');
    const std::string large(512, 'L');

    REQUIRE_FALSE(enc.store(store_command::set, "s", small, 0, 0, false));
    auto chunks = enc.chunks();
    REQUIRE(chunks.size() == 1);
    CHECK_FALSE(points_into(chunks[0], small));
    CHECK(wire(enc) == "set s 0 0 511\r\n" + small + "\r\n");

    enc.clear();
    REQUIRE_FALSE(enc.store(store_command::set, "l", large, 0, 0, false));
    chunks = enc.chunks();
    REQUIRE(chunks.size() == 3);
    CHECK(std::string_view(chunks[0].data, chunks[0].size) == "set l 0 0 512\r\n");
    CHECK(chunks[1].data == large.data());
    CHECK(chunks[1].size == large.size());
    CHECK(std::string_view(chunks[2].data, chunks[2].size) == "\r\n");

    // The same for ms.
    enc.clear();
    REQUIRE_FALSE(enc.meta(meta_command::set, "l", std::vector<meta_flag>{{'q'}}, large));
    chunks = enc.chunks();
    REQUIRE(chunks.size() == 3);
    CHECK(std::string_view(chunks[0].data, chunks[0].size) == "ms l 512 q\r\n");
    CHECK(chunks[1].data == large.data());
    CHECK(std::string_view(chunks[2].data, chunks[2].size) == "\r\n");
    enc.clear();
    REQUIRE_FALSE(enc.meta(meta_command::set, "s", {}, small));
    CHECK(enc.chunks().size() == 1);
    CHECK_FALSE(any_chunk_points_into(enc, small));
}

TEST_CASE("zero-copy: copy_below is configurable") {
    encoder_options never;
    never.copy_below = 0;
    request_encoder ref(never);
    const std::string v = "v";
    REQUIRE_FALSE(ref.store(store_command::set, "k", v, 0, 0, false));
    REQUIRE(ref.chunks().size() == 3);
    CHECK(ref.chunks()[1].data == v.data());
    // An empty value adds no empty chunk.
    ref.clear();
    REQUIRE_FALSE(ref.store(store_command::set, "k", "", 0, 0, false));
    REQUIRE(ref.chunks().size() == 1);
    CHECK(wire(ref) == "set k 0 0 0\r\n\r\n");

    encoder_options always;
    always.copy_below = std::numeric_limits<std::size_t>::max();
    request_encoder copy(always);
    const std::string big(200000, 'b');
    REQUIRE_FALSE(copy.store(store_command::set, "k", big, 0, 0, false));
    CHECK(copy.chunks().size() == 1);
    CHECK_FALSE(any_chunk_points_into(copy, big));
    CHECK(wire(copy) == "set k 0 0 200000\r\n" + big + "\r\n");
}

TEST_CASE("chunks: command lines between referenced values merge into one chunk") {
    request_encoder enc;
    const std::string v1(600, '1');
    const std::string v2(700, '2');
    REQUIRE_FALSE(enc.store(store_command::set, "a", v1, 0, 0, false));
    REQUIRE_FALSE(enc.retrieve(retrieve_command::get, "a"));
    REQUIRE_FALSE(enc.store(store_command::set, "b", v2, 0, 0, true));
    const auto chunks = enc.chunks();
    REQUIRE(chunks.size() == 5);
    CHECK(std::string_view(chunks[0].data, chunks[0].size) == "set a 0 0 600\r\n");
    CHECK(chunks[1].data == v1.data());
    CHECK(std::string_view(chunks[2].data, chunks[2].size) ==
          "\r\nget a\r\nset b 0 0 700 noreply\r\n");
    CHECK(chunks[3].data == v2.data());
    CHECK(std::string_view(chunks[4].data, chunks[4].size) == "\r\n");
    std::size_t total = 0;
    for (const chunk& c : chunks) {
        CHECK(c.size > 0);
        total += c.size;
    }
    CHECK(total == enc.size());
}

TEST_CASE("chunks: still right after the line buffer has grown and moved") {
    request_encoder enc;
    const std::string big(4096, 'x');
    REQUIRE_FALSE(enc.store(store_command::set, "first", big, 0, 0, false));
    const std::string first_line(enc.chunks()[0].data, enc.chunks()[0].size);
    std::string expected = "set first 0 0 4096\r\n" + big + "\r\n";
    // Thousands of small requests make the line buffer reallocate many times.
    for (int i = 0; i < 5000; ++i) {
        const std::string key = "key" + std::to_string(i);
        REQUIRE_FALSE(enc.store(store_command::add, key, "val", 0, i, false));
        expected += "add " + key + " 0 " + std::to_string(i) + " 3\r\nval\r\n";
    }
    REQUIRE_FALSE(enc.store(store_command::set, "last", big, 0, 0, false));
    expected += "set last 0 0 4096\r\n" + big + "\r\n";
    const auto chunks = enc.chunks();
    REQUIRE(chunks.size() == 5);
    CHECK(std::string_view(chunks[0].data, chunks[0].size) == first_line);
    CHECK(chunks[1].data == big.data());
    CHECK(chunks[3].data == big.data());
    CHECK(wire(enc) == expected);
    CHECK(enc.size() == expected.size());
}

TEST_CASE("a batch of many different requests") {
    request_encoder enc(with_prefix("ns:"));
    std::string expected;
    std::vector<std::string> values;
    for (int i = 0; i < 50; ++i) {
        values.emplace_back(static_cast<std::size_t>(i) * 37, static_cast<char>('a' + i % 26));
    }
    for (int i = 0; i < 50; ++i) {
        // Built with append: GCC 12 warns falsely (-Wrestrict) about "literal" + to_string().
        const std::string key = std::string("k").append(std::to_string(i));
        const std::string& v = values[static_cast<std::size_t>(i)];
        const std::string n = std::to_string(i);
        REQUIRE_FALSE(enc.store(store_command::set, key, v, static_cast<std::uint32_t>(i), i,
                                i % 2 == 0));
        expected += "set ns:" + key + " " + n + " " + n + " " + std::to_string(v.size()) +
                    (i % 2 == 0 ? " noreply" : "") + "\r\n" + v + "\r\n";
        REQUIRE_FALSE(enc.retrieve(retrieve_command::gets, key));
        expected += "gets ns:" + key + "\r\n";
        REQUIRE_FALSE(enc.meta(meta_command::set, key,
                               std::vector<meta_flag>{{'T', n}, {'q'}, {'O', n}}, v));
        expected += "ms ns:" + key + " " + std::to_string(v.size()) + " T" + n + " q O" + n +
                    "\r\n" + v + "\r\n";
        REQUIRE_FALSE(enc.meta(meta_command::get, key, std::vector<meta_flag>{{'v'}, {'k'}}));
        expected += "mg ns:" + key + " v k\r\n";
        REQUIRE_FALSE(enc.arithmetic(arithmetic_command::incr, key, 1, true));
        expected += "incr ns:" + key + " 1 noreply\r\n";
    }
    REQUIRE_FALSE(enc.meta(meta_command::noop, "", {}));
    expected += "mn\r\n";
    CHECK(wire(enc) == expected);
    CHECK(enc.size() == expected.size());
    // Calling chunks() again gives the same list.
    CHECK(wire(enc) == expected);
}

TEST_CASE("clear forgets the requests and keeps the buffer") {
    request_encoder enc;
    CHECK(enc.empty());
    CHECK(enc.size() == 0);
    CHECK(enc.chunks().empty());
    REQUIRE_FALSE(enc.store(store_command::set, "k", std::string(300, 'v'), 0, 0, false));
    REQUIRE_FALSE(enc.version());
    const char* buffer = enc.chunks()[0].data;
    CHECK_FALSE(enc.empty());
    enc.clear();
    CHECK(enc.empty());
    CHECK(enc.size() == 0);
    CHECK(enc.chunks().empty());
    REQUIRE_FALSE(enc.version());
    REQUIRE(enc.chunks().size() == 1);
    CHECK(enc.chunks()[0].data == buffer);
    CHECK(wire(enc) == "version\r\n");
}

TEST_CASE("no allocation once the buffers have grown") {
    request_encoder enc(with_prefix("app:"));
    const std::string big(10000, 'x');
    const std::vector<std::string_view> keys = {"a", "bb", "ccc"};
    const std::vector<meta_flag> flags = {{'b'}, {'v'}, {'T', "30"}, {'O', "opaque"}};
    meta_flag_line line;
    line.add('v');
    line.add_number('O', 123);
    auto batch = [&] {
        for (int i = 0; i < 20; ++i) {
            (void)enc.store(store_command::cas, "key", big, 4294967295u, int32_min, true,
                            18446744073709551615ull);
            (void)enc.store(store_command::set, "key", "small", 1, 2, false);
            (void)enc.retrieve(retrieve_command::gats, keys, -1);
            (void)enc.meta(meta_command::set, "key", flags, big);
            (void)enc.meta(meta_command::get, "key", flags);
            (void)enc.stats("  detail   dump ");
            (void)enc.flush_all(-2147483647, true);
            (void)enc.remove("bad key", false);  // refused, appends nothing
            (void)enc.meta(prevalidated, meta_command::set, "key", line, big);
            (void)enc.store(prevalidated, store_command::set, "key", "small", 0, 0, true);
        }
        (void)enc.chunks();
    };
    batch();
    const std::size_t warm_size = enc.size();
    enc.clear();
    const std::size_t before = allocations;
    batch();
    const std::size_t during = allocations - before;
    CHECK(during == 0);
    CHECK(enc.size() == warm_size);
}

TEST_CASE("a request whose allocation throws is removed again") {
    const std::string big(5000, 'x');
    std::vector<std::string> storage;
    for (int i = 0; i < 300; ++i) {
        storage.push_back(std::string(40, 'k') + std::to_string(i));
    }
    const std::vector<std::string_view> keys(storage.begin(), storage.end());
    const std::vector<meta_flag> flags = {{'T', "30"}};
    int threw = 0;
    bool completed = false;
    // Fail the 1st, 2nd, ... allocation of the call until the call no longer allocates
    // that many times.
    for (std::size_t n = 1; !completed && n < 100; ++n) {
        CAPTURE(n);
        request_encoder enc;
        REQUIRE_FALSE(enc.store(store_command::set, "a", big, 0, 0, false));
        REQUIRE_FALSE(enc.version());
        const std::string before = wire(enc);
        const std::size_t chunks_before = enc.chunks().size();
        bool failed = false;
        fail_countdown = n;
        try {
            (void)enc.retrieve(retrieve_command::gets, keys);
            (void)enc.meta(meta_command::set, "b", flags, big);
        } catch (const std::bad_alloc&) {
            failed = true;
        }
        fail_countdown = 0;
        if (failed) {
            ++threw;
            // Whatever finished before the throw stays; the request that threw is gone.
            const std::string after = wire(enc);
            const std::string gets_line = "gets " + [&] {
                std::string joined;
                for (const auto& k : storage) {
                    joined += (joined.empty() ? "" : " ") + k;
                }
                return joined;
            }() + "\r\n";
            const bool only_before = after == before;
            const bool with_gets = after == before + gets_line;
            CHECK((only_before || with_gets));
            CHECK(enc.size() == after.size());
            if (only_before) {
                CHECK(enc.chunks().size() == chunks_before);
            }
            // And the encoder still works.
            REQUIRE_FALSE(enc.meta(meta_command::noop, "", {}));
            CHECK(wire(enc) == after + "mn\r\n");
        } else {
            completed = true;
        }
    }
    CHECK(completed);
    CHECK(threw >= 2);
}

TEST_CASE("reply shapes") {
    for (const store_command c : {store_command::set, store_command::add, store_command::replace,
                                  store_command::append, store_command::prepend,
                                  store_command::cas}) {
        CHECK(shape_of(c) == reply_shape::stored);
    }
    CHECK(shape_of(meta_command::get) == reply_shape::meta);
    CHECK(shape_of(meta_command::remove) == reply_shape::meta);
    CHECK(shape_of(meta_command::arithmetic) == reply_shape::meta);
    CHECK(shape_of(meta_command::noop) == reply_shape::meta);
    CHECK(shape_of(meta_command::debug) == reply_shape::meta);
    CHECK(shape_of(meta_command::set) == reply_shape::meta_set);

    CHECK(stats_shape("") == reply_shape::stats);
    CHECK(stats_shape("   ") == reply_shape::stats);
    CHECK(stats_shape("items") == reply_shape::stats);
    CHECK(stats_shape("settings") == reply_shape::stats);
    CHECK(stats_shape("slabs") == reply_shape::stats);
    CHECK(stats_shape("sizes") == reply_shape::stats);
    CHECK(stats_shape("cachedump 1 10") == reply_shape::stats);
    CHECK(stats_shape("reset") == reply_shape::reset);
    CHECK(stats_shape("  reset  ") == reply_shape::reset);
    CHECK(stats_shape("resets") == reply_shape::stats);
    CHECK(stats_shape("RESET") == reply_shape::stats);
    CHECK(stats_shape("detail on") == reply_shape::ok);
    CHECK(stats_shape(" detail   off ") == reply_shape::ok);
    CHECK(stats_shape("detail dump") == reply_shape::stats);
    CHECK(stats_shape("detail") == reply_shape::stats);  // CLIENT_ERROR usage: ...
    CHECK(stats_shape("detail onn") == reply_shape::stats);
    CHECK(stats_shape("detailon") == reply_shape::stats);
    CHECK(stats_shape("sizes_enable") == reply_shape::stat_line);
    CHECK(stats_shape(" sizes_disable ") == reply_shape::stat_line);
    CHECK(stats_shape("sizes_enabled") == reply_shape::stats);
    // The server looks only at the first token (and the second after "detail").
    CHECK(stats_shape("reset now") == reply_shape::reset);
    CHECK(stats_shape("sizes_enable x") == reply_shape::stat_line);
    CHECK(stats_shape("detail on x") == reply_shape::ok);
    CHECK(stats_shape("items reset") == reply_shape::stats);
    CHECK(stats_shape("items on") == reply_shape::stats);
    CHECK(stats_shape("on detail") == reply_shape::stats);
}

TEST_CASE("options are kept") {
    encoder_options o;
    o.key_prefix = "pre:";
    o.max_value = 77;
    o.copy_below = 9;
    o.keys.allow_high_bytes = true;
    const request_encoder enc(o);
    CHECK(enc.options().key_prefix == "pre:");
    CHECK(enc.options().max_value == 77);
    CHECK(enc.options().copy_below == 9);
    CHECK(enc.options().keys.allow_high_bytes);
}
