#pragma once

// The gRPC listener's transport security, from server.tls and auth.mode.

#include <memory>

#include <grpcpp/security/server_credentials.h>

#include "config/config.hpp"

namespace prism::frontend {

/// Plaintext when `tls` is off; otherwise TLS with the configured
/// certificate and key. With auth.mode mtls, clients are asked for a
/// certificate, and one that does not chain to `tls.client_ca_file` fails
/// the handshake; a client that sends none still connects, so its calls can
/// be answered UNAUTHENTICATED instead of failing as a broken connection.
/// Throws std::runtime_error naming a file that cannot be read.
std::shared_ptr<grpc::ServerCredentials> listener_credentials(
  const config::tls_options& tls, config::auth_mode mode);

} // namespace prism::frontend
