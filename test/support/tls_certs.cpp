#include "support/tls_certs.hpp"

#include <sys/stat.h>

#include <chrono>
#include <cstdint>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <ratio>
#include <stdexcept>
#include <tuple>
#include <utility>
#include <vector>

#include "support/process.hpp"

namespace memcoro::test {
namespace {

using std::chrono::hours;

// A date as `openssl ca -startdate/-enddate` takes it, `offset` from now.
std::string asn1_time(std::chrono::system_clock::duration offset) {
    const std::time_t t =
        std::chrono::system_clock::to_time_t(std::chrono::system_clock::now() + offset);
    std::tm utc{};
    ::gmtime_r(&t, &utc);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y%m%d%H%M%SZ", &utc);
    return buf;
}

void write_file(const std::string& path, const std::string& text) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << text;
    if (!out.flush()) throw std::runtime_error("test_certs: cannot write " + path);
}

class generator {
  public:
    explicit generator(std::string dir)
        : dir_(std::move(dir)), work_(dir_ + "/work"), openssl_(openssl_program()) {
        std::filesystem::create_directory(work_);
        std::filesystem::create_directory(work_ + "/issued");
        write_file(work_ + "/index.txt", "");
        config_ = work_ + "/openssl.cnf";
        // One file for `req` and `ca`, so that the system's openssl.cnf plays no part.
        // `ca` keeps its database in work_; rand_serial spares a serial file, and
        // unique_subject = no lets the same subject be signed twice.
        write_file(config_,
                   "[req]\n"
                   "distinguished_name = req_dn\n"
                   "x509_extensions = ca_ext\n"
                   "[req_dn]\n"
                   "[ca_ext]\n"
                   "basicConstraints = critical,CA:TRUE\n"
                   "keyUsage = critical,keyCertSign,cRLSign\n"
                   "subjectKeyIdentifier = hash\n"
                   "[ca]\n"
                   "default_ca = test_ca\n"
                   "[test_ca]\n"
                   "database = " +
                       work_ +
                       "/index.txt\n"
                       "new_certs_dir = " +
                       work_ +
                       "/issued\n"
                       "rand_serial = yes\n"
                       "unique_subject = no\n"
                       "default_md = sha256\n"
                       "policy = any_name\n"
                       "[any_name]\n"
                       "commonName = supplied\n"
                       "[server_ext]\n"
                       "basicConstraints = critical,CA:FALSE\n"
                       "keyUsage = critical,digitalSignature\n"
                       "extendedKeyUsage = serverAuth\n"
                       "subjectAltName = IP:127.0.0.1,IP:::1,DNS:localhost\n"
                       "subjectKeyIdentifier = hash\n"
                       "authorityKeyIdentifier = keyid\n"
                       "[client_ext]\n"
                       "basicConstraints = critical,CA:FALSE\n"
                       "keyUsage = critical,digitalSignature\n"
                       "extendedKeyUsage = clientAuth\n"
                       "subjectKeyIdentifier = hash\n"
                       "authorityKeyIdentifier = keyid\n");
    }

    // A self-signed authority; returns {certificate, key}.
    std::pair<std::string, std::string> authority(const std::string& name,
                                                  const std::string& common_name) {
        const std::string cert = dir_ + "/" + name + ".pem";
        const std::string key = dir_ + "/" + name + ".key";
        run({openssl_, "req", "-config", config_, "-x509", "-newkey", "ec", "-pkeyopt",
             "ec_paramgen_curve:P-256", "-noenc", "-keyout", key, "-out", cert, "-days", "3650",
             "-subj", "/CN=" + common_name});
        return {cert, key};
    }

    // A certificate signed by `issuer` ({certificate, key}) with the extensions of
    // `section`, valid between the two offsets from now; returns {certificate, key}.
    // `openssl ca` because `openssl x509 -req` of OpenSSL 3.0 cannot set a start date.
    std::pair<std::string, std::string> leaf(const std::string& name,
                                             const std::pair<std::string, std::string>& issuer,
                                             const std::string& section,
                                             std::chrono::system_clock::duration not_before,
                                             std::chrono::system_clock::duration not_after) {
        const std::string cert = dir_ + "/" + name + ".pem";
        const std::string key = dir_ + "/" + name + ".key";
        const std::string csr = work_ + "/" + name + ".csr";
        run({openssl_, "req", "-config", config_, "-new", "-newkey", "ec", "-pkeyopt",
             "ec_paramgen_curve:P-256", "-noenc", "-keyout", key, "-out", csr, "-subj",
             "/CN=memcoro test " + name});
        run({openssl_,      "ca",
             "-config",     config_,
             "-batch",      "-notext",
             "-cert",       issuer.first,
             "-keyfile",    issuer.second,
             "-in",         csr,
             "-out",        cert,
             "-extensions", section,
             "-startdate",  asn1_time(not_before),
             "-enddate",    asn1_time(not_after)});
        return {cert, key};
    }

    // Leaves only the certificates and keys, each readable by anyone.
    void finish() {
        remove_tree(work_);
        for (const auto& entry : std::filesystem::directory_iterator(dir_)) {
            if (::chmod(entry.path().c_str(), 0644) != 0)
                throw_errno("chmod " + entry.path().string());
        }
        if (::chmod(dir_.c_str(), 0755) != 0) throw_errno("chmod " + dir_);
    }

  private:
    void run(const std::vector<std::string>& args) {
        std::string output;
        if (const int status = run_program(args, output); status != 0) {
            std::string cmd;
            for (const auto& a : args) cmd += (cmd.empty() ? "" : " ") + a;
            throw std::runtime_error("test_certs: `" + cmd + "` failed with status " +
                                     std::to_string(status) + ": " + output);
        }
    }

    std::string dir_;
    std::string work_;
    std::string openssl_;
    std::string config_;
};

tls_certs generate(const std::string& dir) {
    using days = std::chrono::duration<std::int64_t, std::ratio<86400>>;
    generator gen(dir);
    tls_certs c;
    c.dir = dir;
    const auto ca = gen.authority("ca", "memcoro test CA");
    const auto other_ca = gen.authority("other-ca", "memcoro other CA");
    std::tie(c.ca, c.ca_key) = ca;
    std::tie(c.other_ca, c.other_ca_key) = other_ca;
    // An hour back: a certificate must not look not-yet-valid to a clock a little behind.
    const auto now = -hours(1);
    const auto later = days(3650);
    std::tie(c.server_cert, c.server_key) = gen.leaf("server", ca, "server_ext", now, later);
    std::tie(c.expired_cert, c.expired_key) =
        gen.leaf("expired", ca, "server_ext", -days(2), -days(1));
    std::tie(c.not_yet_valid_cert, c.not_yet_valid_key) =
        gen.leaf("not-yet-valid", ca, "server_ext", days(365), days(730));
    std::tie(c.other_ca_server_cert, c.other_ca_server_key) =
        gen.leaf("other-ca-server", other_ca, "server_ext", now, later);
    std::tie(c.client_cert, c.client_key) = gen.leaf("client", ca, "client_ext", now, later);
    std::tie(c.other_client_cert, c.other_client_key) =
        gen.leaf("other-client", other_ca, "client_ext", now, later);
    gen.finish();
    return c;
}

// Owns the directory for the rest of the process.
struct cert_store {
    cert_store() : certs{} {
        std::string dir = make_temp_dir("memcoro-certs");
        try {
            certs = generate(dir);
        } catch (...) {
            remove_tree(dir);
            throw;
        }
    }
    ~cert_store() { remove_tree(certs.dir); }
    cert_store(const cert_store&) = delete;
    cert_store& operator=(const cert_store&) = delete;

    tls_certs certs;
};

}  // namespace

std::string openssl_program() {
    std::string path = find_program("openssl", "MEMCORO_OPENSSL");
    if (path.empty()) {
        throw std::runtime_error(
            "openssl not found on PATH (apt-get install openssl, or run test/run.sh; "
            "MEMCORO_OPENSSL may name the binary)");
    }
    return path;
}

const tls_certs& test_certs() {
    static const cert_store store;
    return store.certs;
}

}  // namespace memcoro::test
