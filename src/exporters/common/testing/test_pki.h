// Throwaway X.509 material for TLS tests, generated at test time with the
// OpenSSL 3 APIs (nothing checked into the tree, nothing that expires in the
// repository): a self-signed CA and a server certificate it signs, written
// as PEM files into a fresh temporary directory that is removed again.
//
// Test-only: linked as gw_exporter_testing.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

namespace gw::exporters::testing {

struct TestPki {
  std::filesystem::path dir;  // removed by the destructor
  std::string ca_file;        // PEM: the CA certificate (what a client trusts)
  std::string cert_file;      // PEM: the server certificate
  std::string key_file;       // PEM: the server's private key

  // A CA named `ca_name` and a server certificate for `subject_alt_names`,
  // each "IP:..." or "DNS:..." (e.g. {"IP:127.0.0.1", "DNS:localhost"}).
  // Aborts the test binary on an OpenSSL failure: there is nothing a test
  // could do without its certificates.
  static TestPki generate(const std::vector<std::string>& subject_alt_names,
                          const std::string& ca_name = "gateway test CA");

  TestPki() = default;
  TestPki(TestPki&& other) noexcept;
  TestPki& operator=(TestPki&&) = delete;
  TestPki(const TestPki&) = delete;
  ~TestPki();
};

}  // namespace gw::exporters::testing
