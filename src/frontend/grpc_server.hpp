#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <caf/actor_system.hpp>
#include <grpcpp/security/server_credentials.h>

#include "frontend/authenticator.hpp"
#include "session/session_directory.hpp"

namespace grpc {
class Server;
class ServerCompletionQueue;
} // namespace grpc

namespace prism::frontend {

class frontend_core;
class keyvalue_service;
class pubsub_service;
class health_service;

/// The gRPC listener: the KeyValue and PubSub services, gRPC health checking
/// (per service) and server reflection. `sys` must run on cq_scheduler:
/// `pollers` of its workers (0: one per four workers, at least one) poll the
/// services' completion queues, one each, from construction until
/// shutdown(); the other workers run actors and take work off the pollers
/// when these have more than they can run.
class grpc_server {
public:
  /// Starts listening on `listen` (host:port; port 0 picks one). Throws
  /// std::runtime_error naming the address when it cannot listen.
  /// `max_streams` caps the calls one client connection may have open at
  /// once (HTTP/2 SETTINGS_MAX_CONCURRENT_STREAMS): past it, the client's
  /// own gRPC library holds further calls, so a flood cannot pile up in the
  /// gateway's memory before any actor sees it.
  /// `credentials` secure the listener (see listener_credentials); `auth`
  /// (null: off) decides who is calling.
  grpc_server(const std::string& listen,
              std::shared_ptr<grpc::ServerCredentials> credentials,
              uint64_t max_request_bytes, uint32_t max_streams, size_t pollers,
              caf::actor_system& sys, session_directory& sessions,
              std::shared_ptr<const authenticator> auth = nullptr);
  ~grpc_server();

  int port() const noexcept { return port_; }

  /// Marks the services SERVING or NOT_SERVING for health checks.
  void set_serving(bool serving);

  /// Health goes NOT_SERVING and new calls are answered UNAVAILABLE; calls
  /// in flight go on.
  void begin_drain();

  /// Calls started and not yet answered.
  int64_t in_flight() const;

  /// Stops accepting calls, waits up to `grace` for running ones and
  /// detaches the completion queues from the scheduler's workers; before
  /// the actor system stops.
  void shutdown(std::chrono::milliseconds grace);

private:
  caf::actor_system& sys_;
  std::shared_ptr<frontend_core> core_;
  std::unique_ptr<keyvalue_service> service_;
  std::unique_ptr<pubsub_service> pubsub_;
  std::unique_ptr<health_service> health_;
  std::vector<std::unique_ptr<grpc::ServerCompletionQueue>> queues_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
};

} // namespace prism::frontend
