#include "frontend/tls.hpp"

#include <fstream>
#include <sstream>
#include <stdexcept>

#include <grpcpp/security/server_credentials.h>

namespace prism::frontend {

namespace {

std::string read_pem(const std::string& path, const char* what) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  if (in)
    text << in.rdbuf();
  if (!in || text.str().empty())
    throw std::runtime_error(std::string{"cannot read "} + what + " "
                             + path);
  return text.str();
}

} // namespace

std::shared_ptr<grpc::ServerCredentials>
listener_credentials(const config::tls_options& tls, config::auth_mode mode) {
  if (!tls.enabled())
    return grpc::InsecureServerCredentials();
  grpc::SslServerCredentialsOptions options;
  options.pem_key_cert_pairs.push_back(
    {read_pem(tls.key_file, "server.tls.key_file"),
     read_pem(tls.cert_file, "server.tls.cert_file")});
  if (mode == config::auth_mode::mtls) {
    options.pem_root_certs
      = read_pem(tls.client_ca_file, "server.tls.client_ca_file");
    options.client_certificate_request
      = GRPC_SSL_REQUEST_CLIENT_CERTIFICATE_AND_VERIFY;
  } else {
    options.client_certificate_request
      = GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE;
  }
  return grpc::SslServerCredentials(options);
}

} // namespace prism::frontend
