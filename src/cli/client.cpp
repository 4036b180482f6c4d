#include "cli/client.hpp"

#include <algorithm>
#include <charconv>
#include <cstdlib>
#include <limits>
#include <string_view>

#include <iostream>

#include <CLI/CLI.hpp>
#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>

#include "config/config.hpp"
#include "config/tls_files.hpp"
#include "model/status.hpp"

namespace prism::cli {

namespace {

std::string read_file(const std::string& path, const char* flag) {
  auto text = config::read_pem_file(path);
  if (!text)
    throw CLI::ValidationError(flag, "cannot read \"" + path + "\"");
  return std::move(*text);
}

} // namespace

void add_tls_options(CLI::App& cmd, tls_client_options& tls) {
  auto* ca = cmd.add_option("--tls-ca", tls.ca_file,
                            "Connect with TLS, trusting the CA in this PEM "
                            "file");
  cmd
    .add_option("--tls-cert", tls.cert_file,
                "Client certificate (PEM) for a gateway with auth.mode "
                "mtls")
    ->needs(ca);
  cmd.add_option("--tls-key", tls.key_file, "Private key (PEM) of --tls-cert")
    ->needs(ca);
  cmd
    .add_option("--tls-server-name", tls.server_name,
                "Name to verify the gateway's certificate against (default: "
                "the host of --target)")
    ->needs(ca);
}

std::shared_ptr<grpc::Channel> client_channel(const std::string& target,
                                              const tls_client_options& tls) {
  std::string host;
  uint16_t port = 0;
  if (!config::split_host_port(target, host, port) || port == 0)
    throw CLI::ValidationError("--target",
                               "\"" + target + "\" is not HOST:PORT");
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(-1);
  args.SetMaxSendMessageSize(-1);
  if (!tls.enabled())
    return grpc::CreateCustomChannel(target, grpc::InsecureChannelCredentials(),
                                     args);
  if (tls.cert_file.empty() != tls.key_file.empty())
    throw CLI::ValidationError(tls.cert_file.empty() ? "--tls-cert"
                                                     : "--tls-key",
                               "give --tls-cert and --tls-key together");
  grpc::SslCredentialsOptions ssl;
  ssl.pem_root_certs = read_file(tls.ca_file, "--tls-ca");
  if (!tls.cert_file.empty()) {
    ssl.pem_cert_chain = read_file(tls.cert_file, "--tls-cert");
    ssl.pem_private_key = read_file(tls.key_file, "--tls-key");
  }
  if (!tls.server_name.empty())
    args.SetSslTargetNameOverride(tls.server_name);
  return grpc::CreateCustomChannel(target, grpc::SslCredentials(ssl), args);
}

namespace {

/// Printable ASCII, and spaces when `spaces`: what a gRPC header value may
/// hold (the gateway keeps a request id only without spaces).
bool header_safe(std::string_view text, bool spaces = true) {
  const char lowest = spaces ? 0x20 : 0x21;
  return std::all_of(text.begin(), text.end(),
                     [lowest](char c) { return c >= lowest && c <= 0x7e; });
}

} // namespace

void add_credentials(grpc::ClientContext& ctx) {
  const char* token = std::getenv(token_variable);
  if (token == nullptr || *token == '\0')
    return;
  if (!header_safe(token))
    throw CLI::ValidationError(
      token_variable,
      "the token holds a line break or another character a header cannot "
      "carry (a file with Windows line endings leaves a \\r at its end); "
      "set it to the token alone");
  ctx.AddMetadata("authorization", std::string{"Bearer "} + token);
}

void check_unsigned(CLI::Option& opt) {
  opt.check(CLI::Validator(
    [](std::string& text) -> std::string {
      uint64_t value = 0;
      auto* end = text.data() + text.size();
      auto [at, ec] = std::from_chars(text.data(), end, value);
      if (text.empty() || ec != std::errc{} || at != end)
        return "\"" + text + "\" is not a whole number from 0 to "
          + std::to_string(std::numeric_limits<uint64_t>::max());
      return {};
    },
    "UINT"));
}

void check_request_id(CLI::Option& opt, size_t max_bytes) {
  opt.check(CLI::Validator(
    [max_bytes](std::string& text) -> std::string {
      if (text.size() > max_bytes)
        return "is " + std::to_string(text.size()) + " bytes long; at most "
          + std::to_string(max_bytes) + " are allowed";
      if (!header_safe(text, false))
        return "holds a space or a character a header cannot carry; use "
               "printable ASCII without spaces";
      return {};
    },
    "TEXT"));
}

int report_failure(const grpc::ClientContext& ctx, const grpc::Status& st) {
  std::string id = "?";
  auto& md = ctx.GetServerInitialMetadata();
  if (auto i = md.find("x-request-id"); i != md.end())
    id.assign(i->second.data(), i->second.size());
  std::cerr << to_string(static_cast<status_code>(st.error_code())) << ": "
            << st.error_message() << " (request id " << id << ")\n";
  return 1;
}

} // namespace prism::cli
