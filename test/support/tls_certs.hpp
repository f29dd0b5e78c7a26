// Certificates for the TLS tests, made once per test process with the `openssl` command
// line (MEMCORO_OPENSSL may name the binary) in a private temporary directory that is
// removed at exit. Keys are EC P-256: generating all of them takes about 0.1 s.
//
// The directory is 0755 and every file in it 0644, keys included: memcached reads them
// as `nobody` when the tests run as root. They protect nothing.
#pragma once

#include <string>

namespace memcoro::test {

// Paths of PEM files. Every server certificate carries the names IP:127.0.0.1, IP:::1
// and DNS:localhost, and the extended key usage serverAuth; the client certificates
// carry clientAuth only, so a server certificate offered as a client's is refused.
struct tls_certs {
    std::string dir;

    // The authority the tests trust, and one they do not.
    std::string ca;
    std::string ca_key;
    std::string other_ca;
    std::string other_ca_key;

    // Signed by `ca`, valid from an hour ago for ten years.
    std::string server_cert;
    std::string server_key;
    // Signed by `ca`, valid only from two days ago to one day ago.
    std::string expired_cert;
    std::string expired_key;
    // Signed by `ca`, valid only from a year from now to two years from now.
    std::string not_yet_valid_cert;
    std::string not_yet_valid_key;
    // Signed by `other_ca`, otherwise like server_cert.
    std::string other_ca_server_cert;
    std::string other_ca_server_key;

    // Client certificates for mutual TLS, signed by `ca` and by `other_ca`.
    std::string client_cert;
    std::string client_key;
    std::string other_client_cert;
    std::string other_client_key;
};

// Made on the first call (thread-safe); later calls return the same files. Throws
// std::runtime_error, with openssl's output, when they cannot be made; the next call
// tries again.
[[nodiscard]] const tls_certs& test_certs();

// The `openssl` program test_certs() runs; throws when there is none.
[[nodiscard]] std::string openssl_program();

}  // namespace memcoro::test
