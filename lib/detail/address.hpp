// The server address a client is given, split into what a connect needs.
#pragma once

#include <boost/system/error_code.hpp>

#include <cstdint>
#include <string>
#include <string_view>

namespace memcoro::detail {

struct server_address {
    bool is_unix = false;
    std::string host;  // without brackets for IPv6
    std::uint16_t port = 11211;
    std::string path;  // unix socket
    std::string text;  // as the options spell it, for messages
};

// Accepts "host", "host:port", "[v6]", "[v6]:port", a bare IPv6 address, "/path" and
// "unix:path". Returns why `text` is none of these (a phrase for an error message), or
// nullptr when it is one, with `out` set.
[[nodiscard]] const char* address_problem(std::string_view text, server_address& out);

// The same, as error::invalid_argument.
[[nodiscard]] boost::system::error_code parse_address(std::string_view text, server_address& out);

}  // namespace memcoro::detail
