// Reading meta reply flags. (Request flags are built in a protocol::meta_flag_line.)
#pragma once

#include <memcoro/protocol/encoder.hpp>

#include <charconv>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

namespace memcoro::detail {

// The value of a numeric return flag (f, c, t) of a meta reply, or `fallback`.
template <class Number>
[[nodiscard]] Number meta_number(std::string_view flags, char name, Number fallback = 0) noexcept {
    const auto token = protocol::find_meta_flag(flags, name);
    if (!token) return fallback;
    Number value{};
    const auto [end, ec] = std::from_chars(token->data(), token->data() + token->size(), value);
    return ec == std::errc{} && end == token->data() + token->size() ? value : fallback;
}

}  // namespace memcoro::detail
