#include "address.hpp"

#include <memcoro/error.hpp>

#include <charconv>

namespace memcoro::detail {

boost::system::error_code parse_address(std::string_view text, server_address& out) {
    out = {};
    if (text.starts_with("unix:")) text.remove_prefix(5);
    if (text.starts_with('/')) {
        out.is_unix = true;
        out.path.assign(text);
        return {};
    }
    std::string_view host = text;
    std::string_view port;
    if (text.starts_with('[')) {
        const auto close = text.find(']');
        if (close == std::string_view::npos) return error::invalid_argument;
        host = text.substr(1, close - 1);
        const auto rest = text.substr(close + 1);
        if (!rest.empty()) {
            if (rest.front() != ':') return error::invalid_argument;
            port = rest.substr(1);
        }
    } else if (const auto colon = text.rfind(':'); colon != std::string_view::npos) {
        // More than one colon without brackets is a bare IPv6 address.
        if (text.find(':') == colon) {
            host = text.substr(0, colon);
            port = text.substr(colon + 1);
        }
    }
    if (host.empty()) return error::invalid_argument;
    if (!port.empty()) {
        unsigned value = 0;
        auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
        if (ec != std::errc{} || end != port.data() + port.size() || value == 0 || value > 65535) {
            return error::invalid_argument;
        }
        out.port = static_cast<std::uint16_t>(value);
    }
    out.host.assign(host);
    return {};
}

}  // namespace memcoro::detail
