#include "address.hpp"

#include <sys/un.h>

#include <boost/asio/ip/address_v6.hpp>
#include <charconv>
#include <memcoro/error.hpp>

namespace memcoro::detail {
namespace {

// A host name's bytes (RFC 1123 letters, digits, '-' and '.', and '_', which some
// names carry) or an IPv4 address's. Anything else would only fail later, at the
// resolver, with a less helpful error.
bool host_name_like(std::string_view host) {
    for (const char c : host) {
        const bool fits = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                          (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_';
        if (!fits) return false;
    }
    return true;
}

bool ipv6_literal(std::string_view host) {
    boost::system::error_code ec;
    (void)boost::asio::ip::make_address_v6(std::string(host), ec);
    return !ec;
}

}  // namespace

const char* address_problem(std::string_view text, server_address& out) {
    out = {};
    out.text.assign(text);
    const bool unix_prefix = text.starts_with("unix:");
    if (unix_prefix) text.remove_prefix(5);
    if (unix_prefix || text.starts_with('/')) {
        if (text.empty()) return "the unix socket path is empty";
        // The connect's sockaddr_un holds the path and its terminating NUL.
        if (text.size() >= sizeof(sockaddr_un::sun_path)) return "the unix socket path is too long";
        out.is_unix = true;
        out.path.assign(text);
        return nullptr;
    }
    std::string_view host = text;
    std::string_view port;
    bool has_port = false;
    bool ipv6 = false;  // checked as an IPv6 address rather than as a host name
    if (text.starts_with('[')) {
        const auto close = text.find(']');
        if (close == std::string_view::npos) return "an IPv6 address without its closing ']'";
        host = text.substr(1, close - 1);
        const auto rest = text.substr(close + 1);
        if (!rest.empty()) {
            if (rest.front() != ':') return "only \":port\" may follow ']'";
            port = rest.substr(1);
            has_port = true;
        }
        ipv6 = true;
        if (!host.empty() && !ipv6_literal(host)) return "not an IPv6 address between '[' and ']'";
    } else if (const auto colon = text.rfind(':'); colon != std::string_view::npos) {
        if (text.find(':') == colon) {
            host = text.substr(0, colon);
            port = text.substr(colon + 1);
            has_port = true;
        } else {
            // More than one colon without brackets can only be a bare IPv6 address.
            if (!ipv6_literal(text)) return "more than one ':' and not an IPv6 address";
            ipv6 = true;
        }
    }
    if (host.empty()) return "the host is empty";
    if (!ipv6 && !host_name_like(host)) return "the host has a character no host name has";
    if (has_port) {
        unsigned value = 0;
        auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
        if (port.empty() || ec != std::errc{} || end != port.data() + port.size() || value == 0 ||
            value > 65535) {
            return "the port must be a number from 1 to 65535";
        }
        out.port = static_cast<std::uint16_t>(value);
    }
    out.host.assign(host);
    return nullptr;
}

boost::system::error_code parse_address(std::string_view text, server_address& out) {
    if (address_problem(text, out) != nullptr) return error::invalid_argument;
    return {};
}

}  // namespace memcoro::detail
