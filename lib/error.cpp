#include <memcoro/error.hpp>

#include <string>

namespace memcoro {
namespace {

class category final : public boost::system::error_category {
public:
    const char* name() const noexcept override { return "memcoro"; }

    std::string message(int ev) const override {
        switch (static_cast<error>(ev)) {
            case error::invalid_key: return "invalid key";
            case error::value_too_large: return "value too large";
            case error::invalid_argument: return "invalid argument";
            case error::bad_value: return "value cannot be decoded as the requested type";
            case error::unknown_command: return "server replied ERROR";
            case error::client_error: return "server replied CLIENT_ERROR";
            case error::server_error: return "server replied SERVER_ERROR";
            case error::protocol_error: return "malformed or unexpected reply";
            case error::line_too_long: return "reply line too long";
            case error::reply_too_large: return "reply value larger than the configured maximum";
            case error::reply_mismatch: return "reply does not match its request";
            case error::not_connected:
                return "not connected (reconnect backoff)";
            case error::connection_closed: return "connection closed";
            case error::timeout: return "operation timed out";
            case error::unresponsive: return "server stopped answering; connection closed";
            case error::shut_down: return "client shut down";
            case error::server_dead:
                return "server marked dead after repeated failures";
            case error::unsupported_command:
                return "not supported by this server (a proxy such as twemproxy)";
            case error::auth_failed:
                return "the server refused the username and password";
            case error::connect_timeout:
                return "no connection to the server within connect_timeout";
        }
        return "unknown memcoro error";
    }
};

}  // namespace

const boost::system::error_category& error_category() noexcept {
    static const category instance;
    return instance;
}

}  // namespace memcoro
