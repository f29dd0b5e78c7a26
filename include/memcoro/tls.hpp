// TLS to the server (memcached -Z), and the errors a TLS connect can end with.
//
// TLS is built when meson finds OpenSSL (the `tls` option, `auto` by default);
// tls_available() says whether this build has it. A client asked for TLS by a build
// without it throws on construction rather than connect in plain text.
#pragma once

#include <boost/system/error_code.hpp>
#include <cstdint>
#include <memory>
#include <string>
#include <type_traits>

namespace boost::asio::ssl {
class context;
}  // namespace boost::asio::ssl

namespace memcoro {

enum class tls_version : std::uint8_t { tls1_2, tls1_3 };

// client_options::tls, or server_spec::tls for one server of a tier.
//
// By default the server's certificate chain is checked against `ca_file` (the system's
// trust store when empty) and its name against `server_name` (the address's host when
// empty: a DNS name, or an IP address matched against the certificate's IP entries).
// The name is also sent as SNI, unless it is an IP address.
struct tls_options {
    // PEM file of the certificate authorities to trust; empty: the system's store.
    std::string ca_file{};
    // false: any certificate is accepted, and anyone on the path can read and forge the
    // traffic. For tests against a throwaway certificate only.
    bool verify_peer = true;
    // The name the certificate must carry; empty: the host of the server's address.
    std::string server_name{};
    // Mutual TLS: this client's certificate chain and its private key (PEM files).
    std::string certificate_file{};
    std::string private_key_file{};
    tls_version min_version = tls_version::tls1_2;
    // A context the caller configured in full (trust, client certificate, versions,
    // ciphers, session cache): then ca_file, certificate_file, private_key_file and
    // min_version must be left empty. Each connection still checks the server's name
    // (server_name) and sends SNI, unless verify_peer is false. Shared by the
    // connections of every client it is given to; it must not be changed afterwards.
    std::shared_ptr<boost::asio::ssl::context> context{};
};

// Whether this build of memcoro has TLS (meson option `tls`).
[[nodiscard]] bool tls_available() noexcept;

// Why a TLS connect failed. The operations waiting for the connection complete with it,
// and client::last_failure() keeps it (those started during the backoff that follows
// get error::not_connected).
enum class tls_error {
    // The server's certificate was refused.
    certificate_expired = 1,    // its validity ended
    certificate_not_yet_valid,  // its validity has not begun
    unknown_issuer,             // it does not chain to a trusted authority
    name_mismatch,              // it does not carry the name (or IP) connected to
    certificate_rejected,       // refused for another reason (revoked, bad signature, ...)
    // The server refused this client: no client certificate, or one it does not trust
    // (mutual TLS). Over TLS 1.3 the server says so after the handshake, in its first
    // record, so this comes from the first read.
    client_certificate_refused,
    // The peer answered the handshake with something that is not TLS: most likely a
    // plain-text server.
    not_tls,
    // The handshake failed otherwise (no common version or cipher, a peer alert).
    handshake_failed,
    // The handshake did not finish within connect_timeout (a plain-text server waiting
    // for a command line, or one that stalled).
    handshake_timeout,
    // Without TLS: the server reset the connection on the first request, before any
    // reply, as memcached's TLS port does with plain text (the server may also have
    // crashed; a proxy that does not know the probe closes instead). Only the connect's
    // probe reads it this way (not in wire_protocol::text mode).
    server_requires_tls,
    // TLS was asked for, but this build has none (thrown on construction).
    not_built,
    // The configuration could not be loaded: a CA file, certificate or key that is
    // missing or malformed, or a key that does not match the certificate (thrown on
    // construction, with the file's name).
    bad_configuration,
};

[[nodiscard]] const boost::system::error_category& tls_category() noexcept;

[[nodiscard]] inline boost::system::error_code make_error_code(tls_error e) noexcept {
    return {static_cast<int>(e), tls_category()};
}

}  // namespace memcoro

template <>
struct boost::system::is_error_code_enum<memcoro::tls_error> : std::true_type {};
