// The meaning of the meta fields O f c of protocol::event (reply.hpp), written the slow
// way for the parser tests and the fuzz target to check the parser against.
#pragma once

#include <memcoro/protocol/reply.hpp>

#include <charconv>
#include <optional>
#include <string_view>
#include <system_error>

namespace memcoro::test {

// The first occurrence of return flag `name` in a meta reply's flag text, if its token
// is a whole unsigned decimal that fits in T; nullopt otherwise.
template <class T>
std::optional<T> reference_flag(std::string_view text, char name) {
    const auto token = protocol::find_meta_flag(text, name);
    if (!token || token->empty()) {
        return std::nullopt;
    }
    T value{};
    const char* const end = token->data() + token->size();
    const auto [stop, ec] = std::from_chars(token->data(), end, value);
    if (ec != std::errc{} || stop != end) {
        return std::nullopt;
    }
    return value;
}

}  // namespace memcoro::test
