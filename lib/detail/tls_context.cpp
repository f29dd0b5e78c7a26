#include "tls_context.hpp"

#include <boost/system/system_error.hpp>
#include <memcoro/error.hpp>

#if MEMCORO_HAS_TLS
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>

#include <boost/asio/error.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/error.hpp>
#endif

namespace memcoro::detail {
using boost::system::error_code;

namespace {

[[noreturn]] void refuse(error_code ec, const std::string& why) {
    throw boost::system::system_error(ec, "memcoro::client: tls: " + why);
}

}  // namespace

#if !MEMCORO_HAS_TLS

std::shared_ptr<const tls_setup> make_tls_setup(const tls_options&, const server_address&) {
    refuse(make_error_code(tls_error::not_built), "TLS is asked for");
}

#else

namespace asio = boost::asio;
namespace ssl = boost::asio::ssl;

namespace {

// Loads one file into the context; on failure throws, naming the option, the file and
// OpenSSL's reason.
template <typename Load>
void load(const char* option, const std::string& file, Load&& how) {
    error_code ec;
    how(ec);
    if (ec) {
        refuse(make_error_code(tls_error::bad_configuration),
               std::string(option) + " \"" + file + "\": " + ec.message());
    }
}

bool is_ip(const std::string& name) {
    error_code ec;
    (void)asio::ip::make_address(name, ec);
    return !ec;
}

}  // namespace

std::shared_ptr<const tls_setup> make_tls_setup(const tls_options& o,
                                                const server_address& address) {
    auto setup = std::make_shared<tls_setup>();
    setup->verify_peer = o.verify_peer;
    setup->server_name = o.server_name.empty() ? address.host : o.server_name;
    setup->name_is_ip = is_ip(setup->server_name);
    if (o.verify_peer && setup->server_name.empty()) {
        refuse(make_error_code(error::invalid_argument),
               "a unix socket has no host name to check: set tls_options::server_name");
    }
    if (o.certificate_file.empty() != o.private_key_file.empty()) {
        refuse(make_error_code(error::invalid_argument),
               "certificate_file and private_key_file go together");
    }

    if (o.context) {
        if (!o.ca_file.empty() || !o.certificate_file.empty() ||
            o.min_version != tls_version::tls1_2) {
            refuse(make_error_code(error::invalid_argument),
                   "with a context of your own, set its files and versions on it");
        }
        setup->context = o.context;
        return setup;
    }

    auto ctx = std::make_shared<ssl::context>(ssl::context::tls_client);
    ctx->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                     ssl::context::no_sslv3 | ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1);
    const int min = o.min_version == tls_version::tls1_3 ? TLS1_3_VERSION : TLS1_2_VERSION;
    SSL_CTX_set_min_proto_version(ctx->native_handle(), min);
    if (o.ca_file.empty()) {
        load("the system's trust store", "",
             [&](error_code& ec) { ctx->set_default_verify_paths(ec); });
    } else {
        load("ca_file", o.ca_file, [&](error_code& ec) { ctx->load_verify_file(o.ca_file, ec); });
    }
    if (!o.certificate_file.empty()) {
        load("certificate_file", o.certificate_file,
             [&](error_code& ec) { ctx->use_certificate_chain_file(o.certificate_file, ec); });
        load("private_key_file", o.private_key_file, [&](error_code& ec) {
            ctx->use_private_key_file(o.private_key_file, ssl::context::pem, ec);
        });
        if (SSL_CTX_check_private_key(ctx->native_handle()) != 1) {
            ERR_clear_error();
            refuse(make_error_code(tls_error::bad_configuration),
                   "private_key_file \"" + o.private_key_file +
                       "\" does not match certificate_file \"" + o.certificate_file + "\"");
        }
    }
    setup->context = std::move(ctx);
    return setup;
}

void prepare_session(SSL* ssl, const tls_setup& setup) {
    // Asio asks OpenSSL to free a session's 16 KiB read and write buffers whenever they
    // are empty, that is after every record: two allocations a round trip. A connection
    // that lives long keeps them instead (bench/README.md, S13).
    SSL_clear_mode(ssl, SSL_MODE_RELEASE_BUFFERS);
    if (setup.verify_peer) {
        SSL_set_verify(ssl, SSL_VERIFY_PEER, nullptr);
        X509_VERIFY_PARAM* param = SSL_get0_param(ssl);
        X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
        if (setup.name_is_ip) {
            X509_VERIFY_PARAM_set1_ip_asc(param, setup.server_name.c_str());
        } else {
            X509_VERIFY_PARAM_set1_host(param, setup.server_name.data(), setup.server_name.size());
        }
    } else {
        SSL_set_verify(ssl, SSL_VERIFY_NONE, nullptr);
    }
    // SNI carries host names only (RFC 6066).
    if (!setup.name_is_ip && !setup.server_name.empty()) {
        SSL_set_tlsext_host_name(ssl, setup.server_name.c_str());
    }
}

namespace {

error_code from_verify_result(long result) {
    switch (result) {
        case X509_V_ERR_CERT_HAS_EXPIRED:
            return tls_error::certificate_expired;
        case X509_V_ERR_CERT_NOT_YET_VALID:
            return tls_error::certificate_not_yet_valid;
        case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
        case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
        case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
        case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
        case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
            return tls_error::unknown_issuer;
        case X509_V_ERR_HOSTNAME_MISMATCH:
        case X509_V_ERR_IP_ADDRESS_MISMATCH:
            return tls_error::name_mismatch;
        default:
            return tls_error::certificate_rejected;
    }
}

// The server's alerts that refuse a client certificate (or the lack of one).
bool refuses_client_certificate(int reason) {
    switch (reason) {
        case SSL_R_TLSV13_ALERT_CERTIFICATE_REQUIRED:
        case SSL_R_SSLV3_ALERT_BAD_CERTIFICATE:
        case SSL_R_SSLV3_ALERT_UNSUPPORTED_CERTIFICATE:
        case SSL_R_SSLV3_ALERT_CERTIFICATE_REVOKED:
        case SSL_R_SSLV3_ALERT_CERTIFICATE_EXPIRED:
        case SSL_R_SSLV3_ALERT_CERTIFICATE_UNKNOWN:
        case SSL_R_TLSV1_ALERT_UNKNOWN_CA:
        case SSL_R_TLSV1_ALERT_ACCESS_DENIED:
            return true;
        default:
            return false;
    }
}

}  // namespace

error_code classify_handshake_failure(error_code ec, SSL* ssl) {
    if (ec.category() == asio::error::get_ssl_category()) {
        const int reason = ERR_GET_REASON(static_cast<unsigned long>(ec.value()));
        if (reason == SSL_R_CERTIFICATE_VERIFY_FAILED) {
            return from_verify_result(SSL_get_verify_result(ssl));
        }
        if (refuses_client_certificate(reason)) return tls_error::client_certificate_refused;
        switch (reason) {
            // What OpenSSL makes of bytes that are no TLS record: a plain-text reply.
            case SSL_R_WRONG_VERSION_NUMBER:
            case SSL_R_UNKNOWN_PROTOCOL:
            case SSL_R_PACKET_LENGTH_TOO_LONG:
            case SSL_R_HTTP_REQUEST:
                return tls_error::not_tls;
            default:
                break;
        }
    }
    return tls_error::handshake_failed;
}

error_code classify_first_read_failure(error_code ec) {
    if (ec.category() == asio::error::get_ssl_category() &&
        refuses_client_certificate(ERR_GET_REASON(static_cast<unsigned long>(ec.value())))) {
        return tls_error::client_certificate_refused;
    }
    return {};
}

#endif  // MEMCORO_HAS_TLS

}  // namespace memcoro::detail
