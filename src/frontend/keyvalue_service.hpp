#pragma once

// The gRPC adapter of the KeyValue API: each RPC becomes a call that the
// frontend core hands to the client's session, and the RPC is finished when
// the session completes the call (frontend/unary_call.hpp). It runs on
// gRPC's asynchronous API, on the completion queues the CAF workers poll.

#include <vector>

#include <grpcpp/completion_queue.h>

#include "frontend/frontend_core.hpp"
#include "prism/v1/keyvalue.grpc.pb.h"

namespace prism::frontend {

class keyvalue_service {
public:
  explicit keyvalue_service(std::shared_ptr<frontend_core> core);

  keyvalue_service(const keyvalue_service&) = delete;
  keyvalue_service& operator=(const keyvalue_service&) = delete;

  /// What to register with the server builder.
  grpc::Service* grpc_service() noexcept { return &async_; }

  /// Starts taking calls on each of `cqs`, once the server is built.
  void start(const std::vector<grpc::ServerCompletionQueue*>& cqs);

private:
  std::shared_ptr<frontend_core> core_;
  v1::KeyValue::AsyncService async_;
};

} // namespace prism::frontend
