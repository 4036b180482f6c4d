#pragma once

// The standard gRPC health service (grpc.health.v1.Health) on gRPC's
// asynchronous API, on the completion queues the CAF workers poll
// (frontend/cq_scheduler.hpp). gRPC's built-in one is a callback service,
// which would have gRPC start poller threads of its own next to the workers.
//
// Check answers the status set for a service name ("" is the server as a
// whole), NOT_FOUND for a name never set. Watch sends the status at once
// (SERVICE_UNKNOWN for a name never set) and then on every change, with at
// most one write in flight per stream and only the latest status after it.
//
// Lifetime, as for keyvalue_service:
//   server->Shutdown(deadline);   // cancels the open Watch streams
//   health.close();
//   each queue->Shutdown(), and drain it to the end (proceed for each event);
//   destroy the health_service only then.

#include <atomic>
#include <cstdint>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include <grpcpp/completion_queue.h>

#include "frontend/queue_guard.hpp"
#include "grpc/health/v1/health.grpc.pb.h"

namespace prism::frontend {

class health_service {
public:
  /// The server as a whole ("") starts SERVING, as with gRPC's built-in
  /// service; no other name has a status.
  health_service();

  health_service(const health_service&) = delete;
  health_service& operator=(const health_service&) = delete;

  /// What to register with the server builder.
  grpc::Service* grpc_service() noexcept { return &async_; }

  /// Starts taking calls on each of `cqs`, once the server is built.
  void start(const std::vector<grpc::ServerCompletionQueue*>& cqs);

  /// Sets the status of `service` ("" for the whole server) and tells the
  /// Watch streams on it. Any thread, any time; ignored after shutdown().
  void set_serving(const std::string& service, bool serving);

  /// Marks every service NOT_SERVING for good and ends the Watch streams
  /// (open and new ones) with CANCELLED once they have sent that status, so
  /// that the server's Shutdown need not wait its deadline out for them.
  /// Optional, before the server's Shutdown.
  void shutdown();

  /// Starts no further operation on the completion queues and returns once
  /// none is being started. Called after the server has shut down and before
  /// the queues do (an operation on a queue that is shut down is fatal).
  void close() noexcept;

private:
  class check_call;
  class watch_call;
  using serving_status = grpc::health::v1::HealthCheckResponse::ServingStatus;

  using queue_operation = queue_guard::operation;

  /// The status a Watch on `service` reports now; under `mutex_`.
  serving_status watched_status(const std::string& service) const;

  grpc::health::v1::Health::AsyncService async_;
  /// Guards the statuses, `shut_down_`, `watches_` and every Watch stream's
  /// state: health calls are rare, and one lock keeps a status change and
  /// the streams it wakes consistent.
  mutable std::mutex mutex_;
  std::map<std::string, serving_status> statuses_;
  bool shut_down_ = false;
  /// The Watch streams started and not yet done.
  std::set<watch_call*> watches_;
  queue_guard queues_;
};

} // namespace prism::frontend
