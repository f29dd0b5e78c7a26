// get_many, gets_many and remove_many with every kind of key range (containers of
// strings, of views and of C strings, braced lists, spans, views over them) against a
// real memcached; and, at compile time, what is refused.
#include <doctest/doctest.h>

#include <array>
#include <boost/asio/deferred.hpp>
#include <boost/asio/io_context.hpp>
#include <cstddef>
#include <deque>
#include <forward_list>
#include <iterator>
#include <list>
#include <ranges>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "test_common.hpp"
#include "tier_common.hpp"

using namespace std::chrono_literals;
namespace asio = boost::asio;
using memcoro::error_code;
using memcoro::key_range;
using memcoro::test::all_modes;
using memcoro::test::memcached_server;
using memcoro::test::name_of;
using memcoro::test::options_for;
using memcoro::test::run_client;

namespace {

// ---- At compile time ------------------------------------------------------------------

// Ranges written out rather than taken from std::views, which clang 14 cannot compile
// with libstdc++ 12.

// A forward range whose elements f(v[i]) are made as they are read, as by
// std::views::transform.
template <class F>
struct made_on_the_fly {
    const std::vector<std::string>* v = nullptr;
    F f;

    struct iterator {
        using difference_type = std::ptrdiff_t;
        using value_type = std::invoke_result_t<const F&, const std::string&>;
        const made_on_the_fly* r = nullptr;
        std::size_t i = 0;
        value_type operator*() const { return r->f((*r->v)[i]); }
        iterator& operator++() {
            ++i;
            return *this;
        }
        iterator operator++(int) {
            auto before = *this;
            ++i;
            return before;
        }
        bool operator==(const iterator&) const = default;
    };
    [[nodiscard]] iterator begin() const { return {this, 0}; }
    [[nodiscard]] iterator end() const { return {this, v->size()}; }
};

struct to_view_fn {
    std::string_view operator()(const std::string& s) const { return s; }
};
struct to_string_fn {
    std::string operator()(const std::string& s) const { return s + "!"; }
};

// An input-only range that reads every element into the same string, as
// std::views::istream<std::string> does.
struct single_pass_strings {
    std::string current;

    struct iterator {
        using iterator_concept = std::input_iterator_tag;
        using difference_type = std::ptrdiff_t;
        using value_type = std::string;
        single_pass_strings* r = nullptr;
        std::string& operator*() const { return r->current; }
        iterator& operator++() { return *this; }
        void operator++(int) {}
        bool operator==(std::default_sentinel_t) const { return true; }
    };
    [[nodiscard]] iterator begin() { return {this}; }
    [[nodiscard]] std::default_sentinel_t end() const { return {}; }
};

static_assert(std::ranges::forward_range<made_on_the_fly<to_view_fn>>);
static_assert(std::ranges::input_range<single_pass_strings>);
static_assert(!std::ranges::forward_range<single_pass_strings>);

static_assert(key_range<std::vector<std::string>>);
static_assert(key_range<const std::vector<std::string>>);
static_assert(key_range<std::vector<std::string_view>>);
static_assert(key_range<std::span<const std::string_view>>);
static_assert(key_range<std::array<const char*, 3>>);
static_assert(key_range<std::list<std::string>>);
static_assert(key_range<std::forward_list<std::string>>);
static_assert(key_range<std::deque<std::string_view>>);
static_assert(key_range<const char* const[2]>);
static_assert(key_range<made_on_the_fly<to_view_fn>>);

static_assert(!key_range<std::vector<int>>);
static_assert(!key_range<std::vector<char>>);
static_assert(!key_range<std::string>, "one key is not a range of keys");
// Views of these would dangle: a string made per element, one element reused.
static_assert(std::convertible_to<std::string, std::string_view>);
static_assert(!key_range<made_on_the_fly<to_string_fn>>);
static_assert(!key_range<single_pass_strings>);

// The calls themselves, with the parameter orders in use.
template <class Keys>
concept get_many_takes = requires(memcoro::client& mc, Keys&& keys) {
    mc.get_many(std::forward<Keys>(keys));
    mc.get_many(std::forward<Keys>(keys), memcoro::call_options{}, asio::deferred);
};
template <class Keys>
concept gets_many_takes = requires(memcoro::client& mc, Keys&& keys) {
    mc.gets_many(std::forward<Keys>(keys), memcoro::call_options{});
};
template <class Keys>
concept remove_many_takes = requires(memcoro::client& mc, Keys&& keys) {
    mc.remove_many(std::forward<Keys>(keys), {.noreply = true}, asio::deferred);
};

static_assert(get_many_takes<std::vector<std::string>&>);
static_assert(get_many_takes<const std::list<std::string>&>);
static_assert(get_many_takes<std::vector<std::string>>);
static_assert(get_many_takes<std::span<const std::string_view>>);
static_assert(get_many_takes<std::initializer_list<std::string_view>>);  // a range too
static_assert(gets_many_takes<std::array<const char*, 2>&>);
static_assert(remove_many_takes<std::vector<std::string_view>&>);
static_assert(!get_many_takes<std::vector<int>&>);
static_assert(!gets_many_takes<std::vector<int>&>);
static_assert(!remove_many_takes<std::vector<int>&>);
static_assert(!get_many_takes<std::list<int>>);
static_assert(!get_many_takes<const char*>);
static_assert(!remove_many_takes<std::string>);
// Only a braced list makes braced_keys: a lone string is not a list of one key.
static_assert(!std::is_convertible_v<const char*, memcoro::braced_keys>);
static_assert(!std::is_convertible_v<std::string, memcoro::braced_keys>);

// ---- Against memcached -----------------------------------------------------------------

// Every range below asks for rk0, rk-none, rk2, rk3, in that order: three hits.
const std::vector<std::string> expected{"rk0", "rk2", "rk3"};

std::vector<std::string> keys_of(const std::vector<memcoro::item>& items) {
    std::vector<std::string> out;
    for (const auto& it : items) out.emplace_back(it.key());
    return out;
}

// Containers made outside the coroutine: g++ 12 rejects a coroutine that keeps the
// array of an initializer_list (`std::vector<std::string>{"a", "b"}`) across a co_await.
template <class Container, class... K>
Container make(K... keys) {
    Container c;
    (c.emplace_back(keys), ...);
    return c;
}

asio::awaitable<void> store_expected(memcoro::client& mc) {
    for (const auto& k : expected) CHECK(co_await mc.set(k, "v-" + k));
}

// get_many, gets_many, then remove_many of the same range (taken as an lvalue).
template <class Keys>
asio::awaitable<void> check_range(memcoro::client& mc, Keys& keys, std::string_view what) {
    INFO(what);
    co_await store_expected(mc);
    const auto hits = co_await mc.get_many(keys);
    CHECK(keys_of(hits) == expected);
    if (!hits.empty()) CHECK(hits.front().value() == "v-rk0");
    const auto with_cas = co_await mc.gets_many(keys, {});
    CHECK(keys_of(with_cas) == expected);
    for (const auto& it : with_cas) CHECK(it.cas() != 0);
    CHECK(co_await mc.remove_many(keys) == 3u);
    const auto after = co_await mc.get_many(keys);
    CHECK(after.empty());
}

}  // namespace

TEST_CASE("get_many, gets_many, remove_many: every kind of key range") {
    memcached_server server;
    for (auto mode : all_modes) {
        const std::string mode_name = name_of(mode);
        CAPTURE(mode_name);
        memcoro::test::flush(server);
        run_client(options_for(server, mode), [](memcoro::client& mc) -> asio::awaitable<void> {
            auto strings = make<std::vector<std::string>>("rk0", "rk-none", "rk2", "rk3");
            co_await check_range(mc, strings, "std::vector<std::string>");
            const std::vector<std::string>& const_strings = strings;
            co_await check_range(mc, const_strings, "const std::vector<std::string>");
            std::vector<std::string_view> views(strings.begin(), strings.end());
            co_await check_range(mc, views, "std::vector<std::string_view>");
            std::span<const std::string_view> span(views);
            co_await check_range(mc, span, "std::span<const std::string_view>");
            std::array<const char*, 4> pointers{"rk0", "rk-none", "rk2", "rk3"};
            co_await check_range(mc, pointers, "std::array<const char*, 4>");
            std::list<std::string> list(strings.begin(), strings.end());
            co_await check_range(mc, list, "std::list<std::string>");
            const char* c_array[] = {"rk0", "rk-none", "rk2", "rk3"};
            co_await check_range(mc, c_array, "const char*[4]");
            made_on_the_fly<to_view_fn> as_views{&strings, {}};
            co_await check_range(mc, as_views, "std::string_view made on the fly");
            std::forward_list<std::string> unsized(strings.begin(), strings.end());
            co_await check_range(mc, unsized, "std::forward_list<std::string>: no size");

            // Braced lists, and temporaries, each alive until the end of the co_await.
            co_await store_expected(mc);
            CHECK(keys_of(co_await mc.get_many({"rk0", "rk-none", "rk2", "rk3"})) == expected);
            CHECK(keys_of(co_await mc.gets_many({"rk0", "rk-none", "rk2", "rk3"}, {})) == expected);
            CHECK(keys_of(co_await mc.get_many({strings[0], strings[1], strings[2], strings[3]},
                                               {.timeout = 5s})) == expected);
            CHECK(keys_of(co_await mc.get_many(
                      make<std::vector<std::string>>("rk0", "rk2", "rk3"))) == expected);
            CHECK(keys_of(co_await mc.gets_many(
                      make<std::list<std::string>>("rk0", "rk2", "rk3"))) == expected);
            CHECK(co_await mc.remove_many({"rk0", "rk-none"}) == 1u);
            CHECK(co_await mc.remove_many(make<std::vector<std::string>>("rk2", "rk3")) == 2u);
            CHECK(co_await mc.remove_many({"rk2"}, {.noreply = true}) == 0u);

            // Bad input as before, whatever the range: none, an empty key, a bad key.
            constexpr auto tuple = asio::as_tuple(asio::use_awaitable);
            auto [e1, r1] = co_await mc.get_many({}, {}, tuple);
            CHECK(e1 == memcoro::error::invalid_argument);
            auto [e2, r2] = co_await mc.gets_many(std::list<std::string>{}, {}, tuple);
            CHECK(e2 == memcoro::error::invalid_argument);
            auto [e3, r3] =
                co_await mc.remove_many(make<std::list<std::string>>("ok", ""), {}, tuple);
            CHECK(e3 == memcoro::error::invalid_key);
            auto [e4, r4] = co_await mc.get_many(std::array{"ok", "bad key"}, {}, tuple);
            CHECK(e4 == memcoro::error::invalid_key);
        });
    }
}

TEST_CASE("a key range is read when the operation starts, and not after") {
    memcached_server server;
    asio::io_context ioc;
    memcoro::client mc(ioc.get_executor(), options_for(server, memcoro::wire_protocol::meta));
    for (const auto* k : {"lt1", "lt2"}) {
        REQUIRE(server.roundtrip(memcoro::test::raw_set(k, "x"), "\r\n") == "STORED\r\n");
    }

    std::vector<std::string> hits;
    std::size_t removed = 0;
    std::vector<std::string> deferred_hits;
    int pending = 2;
    auto finish = [&] {
        if (--pending == 0) mc.close();
    };
    {
        // A callback starts the operation within the call: the strings may change and
        // go as soon as it returns.
        std::list<std::string> keys{"lt1", "lt-none", "lt2"};
        mc.get_many(keys, {}, [&](error_code ec, std::vector<memcoro::item> items) {
            CHECK_FALSE(ec);
            hits = keys_of(items);
            finish();
        });
        for (auto& k : keys) k.assign(k.size(), 'X');
    }
    // A braced list is carried by the call: it may go before the launch.
    std::vector<std::string> braced_hits;
    ++pending;
    auto deferred_braced = mc.get_many({"lt2", "lt-none"}, {}, asio::deferred);
    std::move(deferred_braced)([&](error_code ec, std::vector<memcoro::item> items) {
        CHECK_FALSE(ec);
        braced_hits = keys_of(items);
        finish();
    });
    // asio::deferred starts it when launched: the range must live until then.
    std::vector<std::string> later{"lt2"};
    auto deferred_get = mc.get_many(later, {}, asio::deferred);
    later.front() = "lt1";
    std::move(deferred_get)([&](error_code ec, std::vector<memcoro::item> items) {
        CHECK_FALSE(ec);
        deferred_hits = keys_of(items);
        std::vector<std::string> gone{"lt1", "lt2"};
        mc.remove_many(gone, {}, [&](error_code ec2, std::size_t n) {
            CHECK_FALSE(ec2);
            removed = n;
            finish();
        });
        gone.clear();
    });
    ioc.run_for(30s);

    REQUIRE(pending == 0);
    CHECK(hits == std::vector<std::string>{"lt1", "lt2"});
    CHECK(deferred_hits == std::vector<std::string>{"lt1"});
    CHECK(braced_hits == std::vector<std::string>{"lt2"});
    CHECK(removed == 2u);
}

TEST_CASE("key ranges over a tier, beyond the views kept on the stack") {
    memcoro::test::tier t(3);
    run_client(t.options(), [](memcoro::client& mc) -> asio::awaitable<void> {
        // 300 keys: more than the 128 views gathered on the stack, spread over 3 servers.
        std::vector<std::string> keys;
        for (int i = 0; i < 300; ++i) keys.push_back("tier-range-" + std::to_string(i));
        std::vector<memcoro::key_value> batch;
        for (const auto& k : keys) batch.push_back({k, k});
        CHECK((co_await mc.set_many(batch)).empty());

        const std::list<std::string> asked(keys.begin(), keys.end());
        const auto hits = co_await mc.get_many(asked);
        CHECK(keys_of(hits) == keys);
        const auto with_cas = co_await mc.gets_many(keys);
        CHECK(with_cas.size() == keys.size());
        CHECK(co_await mc.remove_many(asked) == keys.size());
        CHECK((co_await mc.get_many(keys)).empty());
    });
}
