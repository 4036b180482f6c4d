#pragma once

// What the command-line clients (`prism kv`, `prism pubsub`) share: a
// channel to the gateway and how a failed call is reported.

#include <memory>
#include <string>

#include <grpcpp/channel.h>
#include <grpcpp/client_context.h>
#include <grpcpp/support/status.h>

namespace prism::cli {

/// A channel to `target` (HOST:PORT) without message size limits; throws
/// CLI::ValidationError naming --target when it is not HOST:PORT.
std::shared_ptr<grpc::Channel> client_channel(const std::string& target);

/// The environment variable whose token the clients send as
/// `authorization: Bearer <token>` (never a command-line flag, which other
/// users could read in the process list).
inline constexpr const char* token_variable = "PRISM_TOKEN";

/// Adds the credentials of PRISM_TOKEN to `ctx`, when it is set.
void add_credentials(grpc::ClientContext& ctx);

/// Prints "CODE: message (request id ...)" on stderr; returns exit code 1.
int report_failure(const grpc::ClientContext& ctx, const grpc::Status& st);

} // namespace prism::cli
