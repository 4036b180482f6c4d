#include "frontend/tls.hpp"

#include <stdexcept>

#include <grpcpp/security/server_credentials.h>

#include "config/tls_files.hpp"

namespace prism::frontend {

namespace {

std::string read_pem(const std::string& path, const char* what) {
  auto text = config::read_pem_file(path);
  if (!text)
    throw std::runtime_error(std::string{"cannot read "} + what + " " + path);
  return std::move(*text);
}

} // namespace

std::shared_ptr<grpc::ServerCredentials> listener_credentials(
  const config::tls_options& tls, config::auth_mode mode) {
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
