// memcoro's error codes and their category.
//
// Every failure an operation can report is one of these values, carried in a
// boost::system::error_code (the type Asio completion handlers use). Results the
// server gives on purpose (a miss, NOT_STORED, EXISTS, NOT_FOUND) are not errors.
#pragma once

#include <boost/system/error_code.hpp>

#include <type_traits>

namespace memcoro {

enum class error {
    // Bad input: refused before a byte is sent; the connection is untouched.
    invalid_key = 1,   // empty, longer than 250 bytes (prefix included), or a forbidden byte
    value_too_large,   // larger than the configured maximum item value
    invalid_argument,  // a number, flag or token that cannot go on the wire
    bad_value,         // a stored value that the requested type's codec cannot decode

    // The server answered with an error line (protocol.md 1.5).
    unknown_command,  // ERROR
    client_error,     // CLIENT_ERROR <text>
    server_error,     // SERVER_ERROR <text>, or a cache_memlimit refusal

    // The byte stream broke its rules.
    protocol_error,   // a reply that is malformed or was not expected
    line_too_long,    // a reply line longer than the configured bound
    reply_too_large,  // a value longer than the configured maximum
    reply_mismatch,   // a reply that does not belong to the request it answers

    // The connection.
    // The reconnect backoff after a failure is running: the operation was not tried.
    // The failure itself went to the operations that waited for it, and is kept by
    // client::last_failure().
    not_connected,
    connection_closed,  // the server closed the stream, or it was closed after an error
    timeout,            // the operation's time ran out
    unresponsive,       // the server stopped answering; the connection was closed
    shut_down,          // the client was closed while the operation waited
    server_dead,        // the key's server is marked dead (client_options::failure_limit)

    // Refused before a byte is sent: the server or proxy cannot carry this command or
    // flag, and the connection stays up. A proxy such as twemproxy
    // (wire_protocol::twemproxy, or found by the automatic probe) hangs up on a command
    // it does not know; a text-mode connection carries no meta command; a server older
    // than an option's version (meta.hpp) would answer CLIENT_ERROR.
    unsupported_command,

    // The server refused the username and password (client_options::username).
    auth_failed,

    // No connection within client_options::connect_timeout: the connect, or the probe
    // or login that follows it, got no answer in time. (An operation whose own time ran
    // out first gets error::timeout; a TLS handshake that stalls, tls_error.)
    connect_timeout,
};

[[nodiscard]] const boost::system::error_category& error_category() noexcept;

[[nodiscard]] inline boost::system::error_code make_error_code(error e) noexcept {
    return {static_cast<int>(e), error_category()};
}

}  // namespace memcoro

template <>
struct boost::system::is_error_code_enum<memcoro::error> : std::true_type {};
