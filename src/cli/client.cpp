#include "cli/client.hpp"

#include <cstdlib>

#include <iostream>

#include <CLI/CLI.hpp>
#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>

#include "config/config.hpp"
#include "kv/status.hpp"

namespace prism::cli {

std::shared_ptr<grpc::Channel> client_channel(const std::string& target) {
  std::string host;
  uint16_t port = 0;
  if (!config::split_host_port(target, host, port) || port == 0)
    throw CLI::ValidationError("--target",
                               "\"" + target + "\" is not HOST:PORT");
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(-1);
  args.SetMaxSendMessageSize(-1);
  return grpc::CreateCustomChannel(target, grpc::InsecureChannelCredentials(),
                                   args);
}

void add_credentials(grpc::ClientContext& ctx) {
  const char* token = std::getenv(token_variable);
  if (token != nullptr && *token != '\0')
    ctx.AddMetadata("authorization", std::string{"Bearer "} + token);
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
