#include "test_pki.hpp"

#include <fstream>
#include <stdexcept>

#include "test_servers.hpp"

namespace prism::test {

namespace {

void run(const std::string& command) {
  auto [status, output] = shell(command + " 2>&1");
  if (status != 0)
    throw std::runtime_error("openssl failed (" + std::to_string(status)
                             + "): " + command + "\n" + output);
}

/// P-256 keys: quick to make, and every TLS stack here takes them.
const char* new_key = "-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes";

} // namespace

test_pki::test_pki(std::string dir) : dir_(std::move(dir)) {
  ca_ = make_ca("ca");
  stranger_ca_ = make_ca("stranger-ca");
  server_ = issue(ca_, "server", "/CN=localhost", "DNS:localhost,IP:127.0.0.1");
}

key_pair_files test_pki::make_ca(const std::string& name) {
  key_pair_files ca{dir_ + "/" + name + ".crt", dir_ + "/" + name + ".key"};
  run(std::string{"openssl req -x509 "} + new_key + " -keyout " + ca.key
      + " -out " + ca.cert + " -days 2 -subj '/CN=prism test " + name + "'");
  return ca;
}

key_pair_files test_pki::issue(const key_pair_files& ca,
                               const std::string& name,
                               const std::string& subject,
                               const std::string& san) {
  key_pair_files out{dir_ + "/" + name + ".crt", dir_ + "/" + name + ".key"};
  std::string csr = dir_ + "/" + name + ".csr";
  run(std::string{"openssl req "} + new_key + " -keyout " + out.key + " -out "
      + csr + " -subj '" + subject + "'");
  std::string ext = dir_ + "/" + name + ".ext";
  {
    std::ofstream f(ext);
    if (!san.empty())
      f << "subjectAltName=" << san << "\n";
  }
  run("openssl x509 -req -in " + csr + " -CA " + ca.cert + " -CAkey " + ca.key
      + " -CAcreateserial -days 2 -out " + out.cert + " -extfile " + ext);
  return out;
}

key_pair_files test_pki::client(const std::string& common_name,
                                const std::string& san) {
  return issue(ca_, "client-" + common_name, "/CN=" + common_name,
               san.empty() ? "" : "DNS:" + san);
}

key_pair_files test_pki::stranger(const std::string& common_name) {
  return issue(stranger_ca_, "stranger-" + common_name, "/CN=" + common_name,
               "");
}

} // namespace prism::test
