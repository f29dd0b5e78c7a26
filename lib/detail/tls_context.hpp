// What a TLS connection needs from the options, made once per client (or per server with
// its own tls_options), and the reading of a failed handshake. Includes no OpenSSL
// header, so that the router builds without one.
#pragma once

#include <boost/system/error_code.hpp>
#include <memcoro/tls.hpp>
#include <memory>
#include <string>

#include "address.hpp"

struct ssl_st;  // OpenSSL's SSL

namespace memcoro::detail {

struct tls_setup {
    std::shared_ptr<boost::asio::ssl::context> context;
    bool verify_peer = true;
    // What the certificate must carry, and what SNI sends unless it is an IP address.
    std::string server_name;
    bool name_is_ip = false;
};

// Checks `options` and loads its files. Throws boost::system::system_error:
// tls_error::bad_configuration naming the file that failed, error::invalid_argument for
// options that contradict each other, or tls_error::not_built in a build without TLS.
[[nodiscard]] std::shared_ptr<const tls_setup> make_tls_setup(const tls_options& options,
                                                              const server_address& address);

// The rest are in TLS builds only.

// Sets a new session's name check and SNI.
void prepare_session(ssl_st* ssl, const tls_setup& setup);

// Why a handshake failed, as a tls_error (the verification result when it was the
// certificate that failed).
[[nodiscard]] boost::system::error_code classify_handshake_failure(boost::system::error_code ec,
                                                                   ssl_st* ssl);

// A read that failed on a new session (before the first reply): the server's alert
// refusing this client's certificate, which TLS 1.3 sends after the handshake, as
// tls_error::client_certificate_refused; anything else is not a TLS refusal (empty).
[[nodiscard]] boost::system::error_code classify_first_read_failure(boost::system::error_code ec);

}  // namespace memcoro::detail
