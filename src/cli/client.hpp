#pragma once

// What the command-line clients (`prism kv`, `prism pubsub`) share: a
// channel to the gateway and how a failed call is reported.

#include <memory>
#include <string>

#include <grpcpp/channel.h>
#include <grpcpp/client_context.h>
#include <grpcpp/support/status.h>

namespace CLI {
class App;
class Option;
} // namespace CLI

namespace prism::cli {

/// TLS towards a gateway with server.tls: the CA that signed its
/// certificate, and for auth.mode mtls this client's certificate and key.
struct tls_client_options {
  std::string ca_file;
  std::string cert_file;
  std::string key_file;
  /// The name to verify the gateway's certificate against, when it is not
  /// the host of --target.
  std::string server_name;
  bool enabled() const { return !ca_file.empty(); }
};

/// Adds --tls-ca, --tls-cert, --tls-key and --tls-server-name to `cmd`.
void add_tls_options(CLI::App& cmd, tls_client_options& tls);

/// A channel to `target` (HOST:PORT) without message size limits, over TLS
/// when `tls` is enabled; throws CLI::ValidationError naming --target when it
/// is not HOST:PORT, or the TLS flag whose file cannot be read.
std::shared_ptr<grpc::Channel> client_channel(const std::string& target,
                                              const tls_client_options& tls
                                              = {});

/// The environment variable whose token the clients send as
/// `authorization: Bearer <token>` (never a command-line flag, which other
/// users could read in the process list).
inline constexpr const char* token_variable = "PRISM_TOKEN";

/// Adds the credentials of PRISM_TOKEN to `ctx`, when it is set; throws
/// CLI::ValidationError when it holds a character a header cannot carry.
void add_credentials(grpc::ClientContext& ctx);

/// Makes `opt` (a uint64_t) refuse what is not a whole number from 0 to
/// 2^64-1: CLI11 would take "-1" and wrap it around.
void check_unsigned(CLI::Option& opt);

/// Makes `opt` refuse a request id the gateway would not keep: longer than
/// `max_bytes`, or with a space or a character a header cannot carry
/// (control characters, line breaks, non-ASCII).
void check_request_id(CLI::Option& opt, size_t max_bytes);

/// Prints "CODE: message (request id ...)" on stderr; returns exit code 1.
int report_failure(const grpc::ClientContext& ctx, const grpc::Status& st);

} // namespace prism::cli
