#pragma once

// Certificates for TLS tests, made with the openssl command line in a
// directory of the test's: a CA, a server certificate for localhost and
// 127.0.0.1, client certificates signed by that CA, and client
// certificates signed by a CA the gateway does not trust.

#include <string>

namespace prism::test {

struct key_pair_files {
  std::string cert;
  std::string key;
};

class test_pki {
public:
  /// Makes the CA and the server certificate in `dir` (which must exist);
  /// throws with openssl's output when a command fails.
  explicit test_pki(std::string dir);

  const std::string& ca_cert() const { return ca_.cert; }
  const key_pair_files& server() const { return server_; }

  /// A client certificate with subject CN `common_name` (and a DNS subject
  /// alternative name `san` when not empty), signed by the trusted CA.
  key_pair_files client(const std::string& common_name,
                        const std::string& san = "");

  /// A client certificate signed by a second CA that nobody trusts.
  key_pair_files stranger(const std::string& common_name);

  /// A CA certificate the gateway does not trust (its key signs stranger()).
  const std::string& stranger_ca_cert() const { return stranger_ca_.cert; }

private:
  key_pair_files make_ca(const std::string& name);
  key_pair_files issue(const key_pair_files& ca, const std::string& name,
                       const std::string& subject, const std::string& san);

  std::string dir_;
  key_pair_files ca_;
  key_pair_files stranger_ca_;
  key_pair_files server_;
};

} // namespace prism::test
