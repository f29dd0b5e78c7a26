// The encoder's prevalidated entry points and meta_flag_line: exact bytes on the wire,
// the same bytes as the checking entry points give, and what they still refuse.
#include <memcoro/error.hpp>
#include <memcoro/protocol/encoder.hpp>

#include <doctest/doctest.h>

#include <sys/mman.h>

#include <cstdint>
#include <iterator>
#include <limits>
#include <string>
#include <string_view>
#include <vector>

using memcoro::error;
using namespace memcoro::protocol;
using namespace std::string_literals;
using namespace std::string_view_literals;

namespace {

std::string wire(request_encoder& enc) {
    std::string out;
    for (const chunk& c : enc.chunks()) out.append(c.data, c.size);
    CHECK(out.size() == enc.size());
    return out;
}

encoder_options with_prefix(std::string prefix) {
    encoder_options o;
    o.key_prefix = std::move(prefix);
    return o;
}

// The bytes of one prevalidated call on a fresh encoder, checked to equal those of the
// checking call on another: the two paths must never differ on valid input.
template <class Pre, class Checked>
std::string both(Pre&& pre, Checked&& checked, const encoder_options& o = {}) {
    request_encoder a(o);
    request_encoder b(o);
    REQUIRE_FALSE(pre(a));
    REQUIRE_FALSE(checked(b));
    const std::string out = wire(a);
    CHECK(out == wire(b));
    return out;
}

std::string meta_pre(meta_command cmd, std::string_view key, const meta_flag_line& flags,
                     std::string_view value = {}, const encoder_options& o = {}) {
    request_encoder enc(o);
    REQUIRE_FALSE(enc.meta(prevalidated, cmd, key, flags, value));
    return wire(enc);
}

}  // namespace

TEST_CASE("meta_flag_line: the text of the flags as they go on the wire") {
    meta_flag_line f;
    CHECK(f.text().empty());
    CHECK(f.count() == 0);
    f.add('v');
    f.add('M', 'E');
    f.add_number('T', std::int64_t{-1});
    f.add_number('C', std::numeric_limits<std::uint64_t>::max());
    f.add_number('O', std::uint32_t{7});
    f.add_number('N', std::numeric_limits<std::int64_t>::min());
    CHECK(f.text() == " v ME T-1 C18446744073709551615 O7 N-9223372036854775808");
    CHECK(f.count() == 6);
    CHECK_FALSE(f.base64());
    CHECK_FALSE(f.refused());
}

TEST_CASE("meta_flag_line: notes a repeated letter, too many flags, b with a token") {
    SUBCASE("a letter twice; case matters") {
        meta_flag_line f;
        f.add('v');
        f.add('V');
        CHECK_FALSE(f.refused());
        f.add_number('v', 1);
        CHECK(f.refused());
        CHECK(f.text() == " v V");  // the repeated flag is not written
    }
    SUBCASE("the longest line: max_flags flags of the longest number") {
        meta_flag_line f;
        const std::string letters = "ABCDEFGHIJKLMNOPQRSTUVWXYZ";
        constexpr meta_flag_line::letter all[] = {'A', 'B', 'C', 'D', 'E', 'F', 'G', 'H', 'I',
                                                   'J', 'K', 'L', 'M', 'N', 'O', 'P', 'Q', 'R'};
        static_assert(std::size(all) == meta_flag_line::max_flags + 1);
        std::string expected;
        for (std::size_t i = 0; i < meta_flag_line::max_flags; ++i) {
            f.add_number(all[i], std::numeric_limits<std::int64_t>::min());
            expected += " "s + letters[i] + "-9223372036854775808";
        }
        CHECK_FALSE(f.refused());
        CHECK(f.text() == expected);
        f.add(all[meta_flag_line::max_flags]);
        CHECK(f.refused());
        CHECK(f.count() == meta_flag_line::max_flags);
        CHECK(f.text() == expected);
    }
    SUBCASE("b is bare") {
        meta_flag_line bare;
        bare.add('b');
        CHECK(bare.base64());
        CHECK_FALSE(bare.refused());
        meta_flag_line token;
        token.add('b', 'x');
        CHECK(token.refused());
        meta_flag_line number;
        number.add_number('b', 1);
        CHECK(number.refused());
    }
}

TEST_CASE("prevalidated meta: exact bytes, with the same bytes as meta() with a flag list") {
    using mc = meta_command;
    const auto same = [](mc cmd, std::string_view key, const meta_flag_line& line,
                         std::vector<meta_flag> list, std::string_view value,
                         const encoder_options& o = {}) {
        return both([&](request_encoder& e) { return e.meta(prevalidated, cmd, key, line, value); },
                    [&](request_encoder& e) { return e.meta(cmd, key, list, value); }, o);
    };
    meta_flag_line get;  // what a get sends: value, client flags, opaque
    get.add('v');
    get.add('f');
    get.add_number('O', std::uint32_t{123456789});
    const std::vector<meta_flag> get_list = {{'v'}, {'f'}, {'O', "123456789"}};
    CHECK(same(mc::get, "foo", get, get_list, {}) == "mg foo v f O123456789\r\n");
    CHECK(same(mc::get, "foo", get, get_list, {}, with_prefix("app:")) ==
          "mg app:foo v f O123456789\r\n");

    meta_flag_line quiet;  // quiet mode, a TTL and a one-letter mode token
    quiet.add('q');
    quiet.add_number('T', std::int64_t{-1});
    quiet.add('M', 'E');
    const std::vector<meta_flag> quiet_list = {{'q'}, {'T', "-1"}, {'M', "E"}};
    CHECK(same(mc::set, "k", quiet, quiet_list, "a\0\r\n"s) == "ms k 4 q T-1 ME\r\na\0\r\n\r\n"s);
    CHECK(same(mc::set, "k", quiet, quiet_list, "") == "ms k 0 q T-1 ME\r\n\r\n");
    CHECK(same(mc::remove, "k", quiet, quiet_list, {}, with_prefix("p:")) ==
          "md p:k q T-1 ME\r\n");
    CHECK(same(mc::arithmetic, "n", quiet, quiet_list, {}) == "ma n q T-1 ME\r\n");

    const meta_flag_line none;
    CHECK(same(mc::get, "foo", none, {}, {}) == "mg foo\r\n");
    CHECK(same(mc::debug, "foo", none, {}, {}) == "me foo\r\n");

    // A value of copy_below bytes or more is referenced, not copied: three chunks.
    const std::string big(600, 'x');
    request_encoder enc;
    REQUIRE_FALSE(enc.meta(prevalidated, mc::set, "k", get, big));
    CHECK(wire(enc) == "ms k 600 v f O123456789\r\n" + big + "\r\n");
    REQUIRE(enc.chunks().size() == 3);
    CHECK(enc.chunks()[1].data == big.data());
}

TEST_CASE("prevalidated meta: base64 keys, prefix included") {
    using mc = meta_command;
    meta_flag_line b;
    b.add('b');
    b.add('v');
    CHECK(meta_pre(mc::get, "foo", b) == "mg Zm9v b v\r\n");
    CHECK(meta_pre(mc::get, "fo", b) == "mg Zm8= b v\r\n");
    CHECK(meta_pre(mc::get, "f", b) == "mg Zg== b v\r\n");
    CHECK(meta_pre(mc::get, "\x00\x01 \r\n\xff"s, b) == "mg AAEgDQr/ b v\r\n");
    CHECK(meta_pre(mc::get, "bcd", b, {}, with_prefix("a")) == "mg YWJjZA== b v\r\n");
    CHECK(meta_pre(mc::set, "foo", b, "1", with_prefix("p:")) == "ms cDpmb28= 1 b v\r\n1\r\n");
    meta_flag_line only_b;
    only_b.add('b');
    CHECK(meta_pre(mc::debug, "foo", only_b) == "me Zm9v b\r\n");

    // Still checked, because the caller's key rules do not cover it: the server's 250-byte
    // limit on the base64 text (186 raw bytes give 248, 187 give 252), and an empty key.
    request_encoder enc(with_prefix("p:"));
    CHECK_FALSE(enc.meta(prevalidated, mc::get, std::string(184, 'k'), b));
    const std::size_t before = enc.size();
    CHECK(enc.meta(prevalidated, mc::get, std::string(185, 'k'), b) == error::invalid_key);
    CHECK(enc.meta(prevalidated, mc::get, "", b) == error::invalid_key);
    CHECK(enc.size() == before);
}

TEST_CASE("prevalidated meta: what the flag line cannot know is refused") {
    using mc = meta_command;
    request_encoder enc;
    REQUIRE_FALSE(enc.version());
    const std::string before = wire(enc);
    const meta_flag_line none;

    meta_flag_line twice;
    twice.add('v');
    twice.add('v');
    CHECK(enc.meta(prevalidated, mc::get, "k", twice) == error::invalid_argument);

    // 17 flags for mg, md, ma; 16 for ms, whose datalen takes a token.
    meta_flag_line seventeen;
    constexpr meta_flag_line::letter letters[] = {'a', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j',
                                                  'k', 'l', 'm', 'n', 'o', 'p', 'r', 's'};
    for (const auto l : letters) seventeen.add(l);
    REQUIRE(seventeen.count() == 17);
    CHECK_FALSE(enc.meta(prevalidated, mc::get, "k", seventeen));
    CHECK(enc.meta(prevalidated, mc::set, "k", seventeen, "v") == error::invalid_argument);
    enc.clear();
    REQUIRE_FALSE(enc.version());

    // A value only with ms; me takes only b; mn goes through meta() with a flag list.
    CHECK(enc.meta(prevalidated, mc::get, "k", none, "v") == error::invalid_argument);
    meta_flag_line v;
    v.add('v');
    CHECK(enc.meta(prevalidated, mc::debug, "k", v) == error::invalid_argument);
    CHECK(enc.meta(prevalidated, mc::noop, "", none) == error::invalid_argument);
    CHECK(wire(enc) == before);
}

TEST_CASE("prevalidated text commands: exact bytes, the same as the checking ones") {
    using sc = store_command;
    using rc = retrieve_command;
    const encoder_options p = with_prefix("app:");
    const auto store = [](sc cmd, std::string_view key, std::string_view value, std::uint32_t flags,
                          std::int64_t exptime, bool noreply, std::uint64_t cas,
                          const encoder_options& o = {}) {
        return both(
            [&](request_encoder& e) {
                return e.store(prevalidated, cmd, key, value, flags, exptime, noreply, cas);
            },
            [&](request_encoder& e) {
                return e.store(cmd, key, value, flags, exptime, noreply, cas);
            },
            o);
    };
    const std::string hundred(100, 'v');
    CHECK(store(sc::set, "k", hundred, 0, 0, true, 0) ==
          "set k 0 0 100 noreply\r\n" + hundred + "\r\n");
    CHECK(store(sc::set, "foo", "bar", 5, 0, false, 77) == "set foo 5 0 3\r\nbar\r\n");
    CHECK(store(sc::cas, "foo", "bar", 4294967295u, std::numeric_limits<std::int32_t>::min(), true,
                18446744073709551615ull, p) ==
          "cas app:foo 4294967295 -2147483648 3 18446744073709551615 noreply\r\nbar\r\n");
    CHECK(store(sc::prepend, "k", "", 0, 30, false, 0) == "prepend k 0 30 0\r\n\r\n");

    const std::vector<std::string_view> keys = {"a", "bb"};
    CHECK(both([&](request_encoder& e) { return e.retrieve(prevalidated, rc::get, "foo"); },
               [&](request_encoder& e) { return e.retrieve(rc::get, "foo"); }, p) ==
          "get app:foo\r\n");
    CHECK(both([&](request_encoder& e) { return e.retrieve(prevalidated, rc::gats, keys, -1); },
               [&](request_encoder& e) { return e.retrieve(rc::gats, keys, -1); }) ==
          "gats -1 a bb\r\n");
    CHECK(both([&](request_encoder& e) { return e.retrieve(prevalidated, rc::gets, keys, 9); },
               [&](request_encoder& e) { return e.retrieve(rc::gets, keys, 9); }, p) ==
          "gets app:a app:bb\r\n");

    CHECK(both([](request_encoder& e) { return e.remove(prevalidated, "k", true); },
               [](request_encoder& e) { return e.remove("k", true); }, p) ==
          "delete app:k noreply\r\n");
    CHECK(both(
              [](request_encoder& e) {
                  return e.arithmetic(prevalidated, arithmetic_command::decr, "n",
                                      18446744073709551615ull, false);
              },
              [](request_encoder& e) {
                  return e.arithmetic(arithmetic_command::decr, "n", 18446744073709551615ull,
                                      false);
              }) == "decr n 18446744073709551615\r\n");
    CHECK(both([](request_encoder& e) { return e.touch(prevalidated, "k", -1, true); },
               [](request_encoder& e) { return e.touch("k", -1, true); }, p) ==
          "touch app:k -1 noreply\r\n");
}

TEST_CASE("prevalidated retrieve: the key count and the gat line are still checked") {
    request_encoder enc;
    CHECK(enc.retrieve(prevalidated, retrieve_command::get, std::vector<std::string_view>{}) ==
          error::invalid_argument);
    // 2048 bytes at most for gat (protocol.md 1.1): "gat 0", 9 times " " + 226 bytes, and
    // CRLF make 2050; a get line may be longer.
    const std::string key(226, 'k');
    const std::vector<std::string_view> nine(9, key);
    CHECK(enc.retrieve(prevalidated, retrieve_command::gat, nine, 0) == error::invalid_argument);
    CHECK(enc.empty());
    CHECK_FALSE(enc.retrieve(prevalidated, retrieve_command::get, nine));
    CHECK(enc.size() == 3 + 9 * 227 + 2);
}

TEST_CASE("the checking entry points still refuse what they always refused") {
    request_encoder enc(with_prefix("p:"));
    meta_flag_line v;
    v.add('v');
    const std::vector<meta_flag> v_list = {{'v'}};
    const std::string long_key(249, 'k');  // 251 with the prefix
    for (const std::string_view bad : {"a b"sv, "a\r\nb"sv, ""sv, std::string_view(long_key)}) {
        CAPTURE(bad);
        CHECK(enc.store(store_command::set, bad, "v", 0, 0, true) == error::invalid_key);
        CHECK(enc.retrieve(retrieve_command::get, bad) == error::invalid_key);
        CHECK(enc.remove(bad, false) == error::invalid_key);
        CHECK(enc.arithmetic(arithmetic_command::incr, bad, 1, false) == error::invalid_key);
        CHECK(enc.touch(bad, 0, false) == error::invalid_key);
        CHECK(enc.meta(meta_command::get, bad, v_list) == error::invalid_key);
    }
    CHECK(enc.store(store_command::set, "k", "v", 0, std::int64_t{1} << 31, false) ==
          error::invalid_argument);
    encoder_options small;
    small.max_value = 3;
    request_encoder limited(small);
    CHECK(limited.store(store_command::set, "k", "four", 0, 0, false) == error::value_too_large);
    CHECK(limited.meta(meta_command::set, "k", v_list, "four") == error::value_too_large);
    CHECK(enc.empty());
    CHECK(limited.empty());
}

TEST_CASE("prevalidated: a value too long for the 32-bit <bytes> is refused unread") {
    // The caller's checks know max_value only; a longer <bytes> than the server parses
    // would make it read the value as commands. The value is address space that cannot
    // be read (PROT_NONE), so a refusal that touched it would crash.
    const std::size_t size = std::size_t{1} << 31;  // INT32_MAX + 1
    void* mem = mmap(nullptr, size, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    REQUIRE(mem != MAP_FAILED);
    const std::string_view huge(static_cast<const char*>(mem), size);
    encoder_options unlimited;
    unlimited.max_value = std::numeric_limits<std::size_t>::max();
    request_encoder enc(unlimited);
    meta_flag_line none;
    CHECK(enc.store(prevalidated, store_command::set, "k", huge, 0, 0, true) ==
          error::value_too_large);
    CHECK(enc.meta(prevalidated, meta_command::set, "k", none, huge) == error::value_too_large);
    CHECK(enc.store(store_command::set, "k", huge, 0, 0, true) == error::value_too_large);
    CHECK(enc.empty());
    munmap(mem, size);
}
