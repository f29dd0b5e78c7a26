// memcoro::item: the value and the key that multi-key reads store after it, through
// copies and moves (an item is moved several times on its way to the caller).
#include <memcoro/item.hpp>

#include <doctest/doctest.h>

#include <cstring>
#include <string>
#include <string_view>
#include <utility>

namespace {

memcoro::item make_item(std::string_view value, std::string_view key, std::uint32_t flags,
                        std::uint64_t cas) {
    memcoro::item it;
    it.set_meta(flags, cas);
    char* bytes = it.prepare(value.size(), key);
    if (!value.empty()) std::memcpy(bytes, value.data(), value.size());
    return it;
}

void check_item(const memcoro::item& it, std::string_view value, std::string_view key,
                std::uint32_t flags, std::uint64_t cas) {
    CHECK(it.value() == value);
    CHECK(it.bytes().size() == value.size());
    CHECK(it.key() == key);
    CHECK(it.flags() == flags);
    CHECK(it.cas() == cas);
}

}  // namespace

TEST_CASE("item: value and key survive copies and moves, inline and on the heap") {
    // Sizes around the inline capacity, with and without a key (only get_many sets one).
    const std::size_t inline_capacity = memcoro::detail::value_buffer::inline_capacity;
    for (std::size_t size : {std::size_t{0}, std::size_t{1}, inline_capacity - 13,
                             inline_capacity - 12, inline_capacity, inline_capacity + 1,
                             std::size_t{100000}}) {
        for (std::string_view key : {std::string_view{}, std::string_view{"k"},
                                     std::string_view{"a-key-of-13-b"}}) {
            CAPTURE(size);
            CAPTURE(key);
            std::string value(size, '\0');
            for (std::size_t i = 0; i < size; ++i) value[i] = static_cast<char>('a' + i % 26);

            memcoro::item original = make_item(value, key, 7, 42);
            check_item(original, value, key, 7, 42);

            memcoro::item copy = original;
            check_item(copy, value, key, 7, 42);
            check_item(original, value, key, 7, 42);

            memcoro::item moved = std::move(copy);
            check_item(moved, value, key, 7, 42);
            // Moved from: empty, not a dangling key or value.
            CHECK(copy.value().empty());  // NOLINT(bugprone-use-after-move)
            CHECK(copy.key().empty());    // NOLINT(bugprone-use-after-move)

            memcoro::item assigned = make_item("other", "other-key", 1, 2);
            assigned = std::move(moved);
            check_item(assigned, value, key, 7, 42);
            CHECK(moved.key().empty());  // NOLINT(bugprone-use-after-move)

            memcoro::item copy_assigned = make_item("x", {}, 0, 0);
            copy_assigned = assigned;
            check_item(copy_assigned, value, key, 7, 42);

            // Reused storage: a shorter value with no key leaves nothing of the old key.
            char* bytes = copy_assigned.prepare(3);
            std::memcpy(bytes, "xyz", 3);
            CHECK(copy_assigned.value() == "xyz");
            CHECK(copy_assigned.key().empty());
        }
    }
}
