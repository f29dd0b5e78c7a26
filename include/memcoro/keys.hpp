// What get_many, gets_many and remove_many take as their keys: a key_range, or a
// braced list (braced_keys).
#pragma once

#include <array>
#include <boost/container/small_vector.hpp>
#include <concepts>
#include <cstddef>
#include <memory>
#include <optional>
#include <ranges>
#include <span>
#include <string_view>
#include <type_traits>
#include <utility>

namespace memcoro {

namespace detail {

template <class R>
using key_reference_t = std::ranges::range_reference_t<R&>;

// Elements that stay where they are while the range is walked on.
template <class R>
concept stable_elements = std::ranges::forward_range<R&> && std::is_reference_v<key_reference_t<R>>;

// Whether a view of each element can be kept while the range is walked on: the client
// gathers the views of all the keys before it copies them. An element that is itself a
// view (std::string_view, const char*) points at bytes it does not own, and an lvalue
// of a forward range stays where it is; but a std::string made on the fly (a transform)
// dies at once, and an input-only range (std::views::istream) reuses one element.
template <class R>
concept viewable_keys = std::same_as<std::remove_cvref_t<key_reference_t<R>>, std::string_view> ||
    std::is_pointer_v<std::remove_cvref_t<key_reference_t<R>>> || stable_elements<R>;

// Keys already laid out as views in contiguous memory: passed on as they are.
template <class R>
concept views_in_place = std::ranges::contiguous_range<R&> && std::ranges::sized_range<R&> &&
    std::same_as<std::ranges::range_value_t<R&>, std::string_view>;

}  // namespace detail

// Any range of string-like keys: std::vector<std::string>, std::vector<std::string_view>,
// std::span<const std::string_view>, std::array<const char*, N>, std::list<std::string>,
// a C array, a view over any of these; each element converts to std::string_view.
// Refused, because the client would keep views of elements that are gone: a range
// that makes a std::string per element (a transform returning std::string), and an
// input-only range of owning elements (std::views::istream<std::string>).
template <class R>
concept key_range = std::ranges::input_range<R&> &&
    std::convertible_to<detail::key_reference_t<R>, std::string_view> && detail::viewable_keys<R>;

// A braced list of up to 16 keys, as in `co_await mc.get_many({"a", "b"})`; for more,
// a std::array or a std::vector. Each element is anything that converts to
// std::string_view. An aggregate rather than std::initializer_list: g++ 11 and 12 reject
// an initializer_list whose array lives across a co_await ("array used as initializer"),
// which is where `co_await mc.get_many({...})` puts it; and the views of a braced list
// are copied into the call (detail::key_array), so the list need not outlive it.
// Nothing but a braced list converts to it: `mc.get_many("a")` does not compile.
struct braced_keys {
    static constexpr std::size_t capacity = 16;
    std::array<std::optional<std::string_view>, capacity> keys;
};

namespace detail {

// The keys of a braced list, as the call carries them.
struct key_array {
    std::array<std::string_view, braced_keys::capacity> views;
    std::size_t size = 0;
};

inline key_array key_arg(const braced_keys& keys) noexcept {
    key_array out;
    for (const auto& k : keys.keys) {
        if (k) out.views[out.size++] = *k;
    }
    return out;
}

// What a multi-key call hands to its initiation: a span when the keys are views in
// contiguous memory (no copy at all), else a pointer to the caller's range, read when
// the operation starts.
template <key_range R>
auto key_arg(R& keys) noexcept {
    if constexpr (views_in_place<R>) {
        return std::span<const std::string_view>(std::ranges::data(keys), std::ranges::size(keys));
    } else {
        return std::addressof(keys);
    }
}

// Calls f(std::span<const std::string_view>) with the views of the keys. The views of
// a range that holds none (std::vector<std::string>, std::list, const char*) are
// gathered on the stack: 128 of them (2 KiB) cover the batches of the benchmark suite
// (S3 and S9 ask for 100 keys) with no allocation; a larger batch allocates once.
template <class F>
void with_key_views(std::span<const std::string_view> keys, F&& f) {
    std::forward<F>(f)(keys);
}
template <class F>
void with_key_views(const key_array& keys, F&& f) {
    std::forward<F>(f)(std::span<const std::string_view>(keys.views.data(), keys.size));
}
template <class R, class F>
void with_key_views(R* keys, F&& f) {
    boost::container::small_vector<std::string_view, 128> views;
    if constexpr (std::ranges::sized_range<R&>) {
        views.reserve(static_cast<std::size_t>(std::ranges::size(*keys)));
    }
    for (auto&& k : *keys) views.emplace_back(static_cast<std::string_view>(k));
    std::forward<F>(f)(std::span<const std::string_view>(views.data(), views.size()));
}

}  // namespace detail
}  // namespace memcoro
