#include "exporters/common/testing/test_pki.h"

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <random>
#include <system_error>

namespace gw::exporters::testing {
namespace {

template <auto Free>
struct Deleter {
  template <class T>
  void operator()(T* p) const {
    Free(p);
  }
};
using KeyPtr = std::unique_ptr<EVP_PKEY, Deleter<EVP_PKEY_free>>;
using CertPtr = std::unique_ptr<X509, Deleter<X509_free>>;

[[noreturn]] void die(const char* what) {
  std::fprintf(stderr, "test_pki: %s failed\n", what);
  std::abort();
}

void check(bool ok, const char* what) {
  if (!ok) die(what);
}

KeyPtr newKey() {
  // P-256: quick to generate, accepted by every TLS 1.2/1.3 stack.
  KeyPtr key(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"));
  check(key != nullptr, "EVP_PKEY_Q_keygen");
  return key;
}

void addExtension(X509* cert, X509* issuer, int nid, const std::string& value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str());
  check(ext != nullptr, "X509V3_EXT_conf_nid");
  check(X509_add_ext(cert, ext, -1) == 1, "X509_add_ext");
  X509_EXTENSION_free(ext);
}

// An unsigned certificate for `subject_key`, valid from an hour ago for a
// day, issued by `issuer` (nullptr: self-issued).
CertPtr newCert(const std::string& common_name, EVP_PKEY* subject_key, X509* issuer) {
  CertPtr cert(X509_new());
  check(cert != nullptr, "X509_new");
  check(X509_set_version(cert.get(), X509_VERSION_3) == 1, "X509_set_version");
  static std::mt19937_64 serials{std::random_device{}()};
  check(ASN1_INTEGER_set_uint64(X509_get_serialNumber(cert.get()), serials() >> 1) == 1, "serial");
  check(X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600) != nullptr, "notBefore");
  check(X509_gmtime_adj(X509_getm_notAfter(cert.get()), 24 * 3600) != nullptr, "notAfter");
  X509_NAME* name = X509_get_subject_name(cert.get());
  check(X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
                                   reinterpret_cast<const unsigned char*>(common_name.c_str()), -1, -1, 0) == 1,
        "subject CN");
  check(X509_set_issuer_name(cert.get(), issuer ? X509_get_subject_name(issuer) : name) == 1, "issuer");
  check(X509_set_pubkey(cert.get(), subject_key) == 1, "X509_set_pubkey");
  return cert;
}

void writeCert(const std::string& path, X509* cert) {
  FILE* f = std::fopen(path.c_str(), "w");
  check(f != nullptr, "fopen certificate");
  check(PEM_write_X509(f, cert) == 1, "PEM_write_X509");
  std::fclose(f);
}

void writeKey(const std::string& path, EVP_PKEY* key) {
  FILE* f = std::fopen(path.c_str(), "w");
  check(f != nullptr, "fopen key");
  check(PEM_write_PrivateKey(f, key, nullptr, nullptr, 0, nullptr, nullptr) == 1, "PEM_write_PrivateKey");
  std::fclose(f);
}

}  // namespace

TestPki TestPki::generate(const std::vector<std::string>& subject_alt_names, const std::string& ca_name) {
  TestPki pki;
  std::string tmpl = (std::filesystem::temp_directory_path() / "gw-test-pki-XXXXXX").string();
  check(mkdtemp(tmpl.data()) != nullptr, "mkdtemp");
  pki.dir = tmpl;
  pki.ca_file = (pki.dir / "ca.pem").string();
  pki.cert_file = (pki.dir / "server.pem").string();
  pki.key_file = (pki.dir / "server.key").string();

  KeyPtr ca_key = newKey();
  CertPtr ca = newCert(ca_name, ca_key.get(), nullptr);
  addExtension(ca.get(), ca.get(), NID_basic_constraints, "critical,CA:TRUE");
  addExtension(ca.get(), ca.get(), NID_key_usage, "critical,keyCertSign,cRLSign");
  addExtension(ca.get(), ca.get(), NID_subject_key_identifier, "hash");
  check(X509_sign(ca.get(), ca_key.get(), EVP_sha256()) > 0, "X509_sign CA");

  KeyPtr server_key = newKey();
  CertPtr server = newCert("gateway test server", server_key.get(), ca.get());
  addExtension(server.get(), ca.get(), NID_basic_constraints, "critical,CA:FALSE");
  addExtension(server.get(), ca.get(), NID_key_usage, "critical,digitalSignature");
  addExtension(server.get(), ca.get(), NID_ext_key_usage, "serverAuth");
  addExtension(server.get(), ca.get(), NID_authority_key_identifier, "keyid:always");
  std::string san;
  for (const auto& name : subject_alt_names) san += (san.empty() ? "" : ",") + name;
  if (!san.empty()) addExtension(server.get(), ca.get(), NID_subject_alt_name, san);
  check(X509_sign(server.get(), ca_key.get(), EVP_sha256()) > 0, "X509_sign server");

  writeCert(pki.ca_file, ca.get());
  writeCert(pki.cert_file, server.get());
  writeKey(pki.key_file, server_key.get());
  return pki;
}

TestPki::TestPki(TestPki&& other) noexcept
    : dir(std::move(other.dir)),
      ca_file(std::move(other.ca_file)),
      cert_file(std::move(other.cert_file)),
      key_file(std::move(other.key_file)) {
  other.dir.clear();
}

TestPki::~TestPki() {
  if (dir.empty()) return;
  std::error_code ignored;
  std::filesystem::remove_all(dir, ignored);
}

}  // namespace gw::exporters::testing
