#pragma once

// The gRPC adapter of the PubSub API, on gRPC's asynchronous API and the
// completion queues the CAF workers poll, like the KeyValue one. Publish is
// a unary call (frontend/unary_call.hpp). Subscribe opens a server stream:
// the call travels the pipeline like any other (so stages see it), the
// client's session starts a subscription actor that writes to the stream
// through a `message_sink`, and the stream stays open until the client
// cancels or the gateway ends it.

#include <memory>
#include <vector>

#include <grpcpp/completion_queue.h>

#include "frontend/frontend_core.hpp"
#include "prism/v1/pubsub.grpc.pb.h"

namespace prism::frontend {

class pubsub_service {
public:
  explicit pubsub_service(std::shared_ptr<frontend_core> core);

  pubsub_service(const pubsub_service&) = delete;
  pubsub_service& operator=(const pubsub_service&) = delete;

  /// What to register with the server builder.
  grpc::Service* grpc_service() noexcept { return &async_; }

  /// Starts taking calls on each of `cqs`, once the server is built.
  void start(const std::vector<grpc::ServerCompletionQueue*>& cqs);

private:
  std::shared_ptr<frontend_core> core_;
  v1::PubSub::AsyncService async_;
};

} // namespace prism::frontend
