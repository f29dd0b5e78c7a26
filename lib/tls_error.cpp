// The TLS error category and whether this build has TLS: both exist in every build, so
// that a program written against tls.hpp links whether or not memcoro was built with it.
#include <memcoro/tls.hpp>
#include <string>

namespace memcoro {
namespace {

class tls_error_category final : public boost::system::error_category {
  public:
    const char* name() const noexcept override { return "memcoro.tls"; }

    std::string message(int ev) const override {
        switch (static_cast<tls_error>(ev)) {
            case tls_error::certificate_expired:
                return "TLS: the server's certificate has expired";
            case tls_error::certificate_not_yet_valid:
                return "TLS: the server's certificate is not valid yet";
            case tls_error::unknown_issuer:
                return "TLS: the server's certificate is not issued by a trusted authority";
            case tls_error::name_mismatch:
                return "TLS: the server's certificate does not carry the name connected to";
            case tls_error::certificate_rejected:
                return "TLS: the server's certificate was refused";
            case tls_error::client_certificate_refused:
                return "TLS: the server refused this client's certificate, or its absence";
            case tls_error::not_tls:
                return "TLS: the server answered the handshake in plain text (not a TLS port)";
            case tls_error::handshake_failed:
                return "TLS: the handshake failed";
            case tls_error::handshake_timeout:
                return "TLS: the handshake did not finish within connect_timeout";
            case tls_error::server_requires_tls:
                return "the server reset the connection on the first plain-text request: is it a "
                       "TLS port (client_options::tls)?";
            case tls_error::not_built:
                return "TLS: this build of memcoro has no TLS (meson -Dtls)";
            case tls_error::bad_configuration:
                return "TLS: the configuration could not be loaded";
        }
        return "unknown memcoro.tls error";
    }
};

}  // namespace

const boost::system::error_category& tls_category() noexcept {
    static const tls_error_category instance;
    return instance;
}

bool tls_available() noexcept {
#if MEMCORO_HAS_TLS
    return true;
#else
    return false;
#endif
}

}  // namespace memcoro
