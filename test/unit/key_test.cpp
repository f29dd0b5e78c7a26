// Key rules (protocol.md 1.2).
#include <memcoro/error.hpp>
#include <memcoro/protocol/key.hpp>

#include <doctest/doctest.h>

#include <string>

using memcoro::error;
using memcoro::protocol::key_rules;
using memcoro::protocol::max_key_length;
using memcoro::protocol::validate_key;

namespace {

const key_rules high{.allow_high_bytes = true};

bool byte_is_printable(unsigned b) { return b >= 0x21 && b <= 0x7E; }

}  // namespace

TEST_CASE("validate_key: ordinary keys pass") {
    CHECK_FALSE(validate_key("foo"));
    CHECK_FALSE(validate_key("a"));
    CHECK_FALSE(validate_key("user:1/session-abc_DEF.~!{}[]|\\\"'`@#$%^&*()=+,;?<>"));
    CHECK_FALSE(validate_key("p:", "foo"));
}

TEST_CASE("validate_key: empty key") {
    CHECK(validate_key("") == error::invalid_key);
    CHECK(validate_key("", high) == error::invalid_key);
    // A prefix alone does not make an empty key valid.
    CHECK(validate_key("p:", "") == error::invalid_key);
    CHECK(validate_key("", "") == error::invalid_key);
}

TEST_CASE("validate_key: length counts the prefix") {
    CHECK(max_key_length == 250);
    CHECK_FALSE(validate_key(std::string(249, 'k')));
    CHECK_FALSE(validate_key(std::string(250, 'k')));
    CHECK(validate_key(std::string(251, 'k')) == error::invalid_key);
    CHECK(validate_key(std::string(1000, 'k')) == error::invalid_key);

    const std::string prefix = "app:";  // 4 bytes
    CHECK_FALSE(validate_key(prefix, std::string(245, 'k')));  // 249
    CHECK_FALSE(validate_key(prefix, std::string(246, 'k')));  // 250
    CHECK(validate_key(prefix, std::string(247, 'k')) == error::invalid_key);  // 251
    CHECK(validate_key(std::string(250, 'p'), "k") == error::invalid_key);
    CHECK_FALSE(validate_key(std::string(249, 'p'), "k"));

    // Length is checked even for high bytes.
    CHECK_FALSE(validate_key(std::string(250, '\xC3'), high));
    CHECK(validate_key(std::string(251, '\xC3'), high) == error::invalid_key);
}

TEST_CASE("validate_key: every byte value in every position, default rules") {
    for (unsigned b = 0; b < 256; ++b) {
        CAPTURE(b);
        const char ch = static_cast<char>(b);
        const bool ok = byte_is_printable(b);
        const std::string alone(1, ch);
        const std::string first = alone + "key";
        const std::string middle = "ke" + alone + "y";
        const std::string last = "key" + alone;
        CHECK(!validate_key(alone) == ok);
        CHECK(!validate_key(first) == ok);
        CHECK(!validate_key(middle) == ok);
        CHECK(!validate_key(last) == ok);
        // In the prefix as well.
        CHECK(!validate_key(alone, "key") == ok);
        CHECK(!validate_key("p" + alone + ":", "key") == ok);
        if (!ok) {
            CHECK(validate_key(middle) == error::invalid_key);
        }
    }
}

// Keys are checked several bytes at a time: a refused byte must be found at every
// position of every length, in whole words, in the overlapping last word and in the
// short forms, whatever the bytes around it.
TEST_CASE("validate_key: a refused byte at every position of keys of 1 to 40 bytes") {
    const unsigned char refused[] = {0x00, 0x01, 0x09, 0x0A, 0x0D, 0x1F, 0x20, 0x7F};
    const unsigned char high_bytes[] = {0x80, 0xA0, 0xC3, 0xFF};
    const unsigned char fine[] = {0x21, 0x30, 0x5A, 0x7E};
    for (std::size_t length = 1; length <= 40; ++length) {
        CAPTURE(length);
        for (const unsigned char filler : fine) {
            const std::string clean(length, static_cast<char>(filler));
            CHECK_FALSE(validate_key(clean));
            CHECK_FALSE(validate_key(clean, high));
            for (std::size_t at = 0; at < length; ++at) {
                CAPTURE(at);
                std::string key = clean;
                for (const unsigned char b : refused) {
                    key[at] = static_cast<char>(b);
                    CHECK(validate_key(key) == error::invalid_key);
                    CHECK(validate_key(key, high) == error::invalid_key);
                    CHECK(validate_key(key, "k") == error::invalid_key);  // in the prefix
                    CHECK(validate_key("k", key) == error::invalid_key);
                }
                for (const unsigned char b : high_bytes) {
                    key[at] = static_cast<char>(b);
                    CHECK(validate_key(key) == error::invalid_key);
                    CHECK_FALSE(validate_key(key, high));
                }
            }
        }
    }
}

TEST_CASE("validate_key: high bytes are opt-in, controls never pass") {
    for (unsigned b = 0; b < 256; ++b) {
        CAPTURE(b);
        const char ch = static_cast<char>(b);
        const bool ok = byte_is_printable(b) || b >= 0x80;
        const std::string middle = "ke" + std::string(1, ch) + "y";
        CHECK(!validate_key(middle, high) == ok);
        CHECK(!validate_key(std::string(1, ch) + ":", "key", high) == ok);
    }
    // The forbidden classes by name.
    for (const char* bad : {"a b", "a\tb", "a\rb", "a\nb", "a\r\n", " ", "\x01"}) {
        CHECK(validate_key(bad, high) == error::invalid_key);
    }
    CHECK(validate_key(std::string("a\0b", 3), high) == error::invalid_key);
    CHECK(validate_key("a\x7F", high) == error::invalid_key);
    CHECK(validate_key("a\x1F", high) == error::invalid_key);
    // UTF-8.
    CHECK(validate_key("caf\xC3\xA9") == error::invalid_key);
    CHECK_FALSE(validate_key("caf\xC3\xA9", high));
    CHECK(validate_key("\xFF") == error::invalid_key);
    CHECK_FALSE(validate_key("\xFF", high));
    CHECK_FALSE(validate_key("\x80", high));
}
