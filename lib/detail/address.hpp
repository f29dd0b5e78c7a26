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
};

// Accepts "host", "host:port", "[v6]", "[v6]:port", "/path" and "unix:/path".
[[nodiscard]] boost::system::error_code parse_address(std::string_view text, server_address& out);

}  // namespace memcoro::detail
