#pragma once

// The gRPC adapter of the KeyValue API: translates each request into a call,
// hands it to the client's session and finishes the RPC when the session
// completes the call. It uses gRPC's asynchronous API on completion queues
// that the CAF workers poll (frontend/cq_scheduler.hpp), so a request is
// taken in, handed on and, when its actors run on the same worker, answered
// on one thread. It holds no state of its own beyond the drain flag and the
// calls in flight.

#include <atomic>
#include <memory>
#include <vector>

#include <caf/actor_system.hpp>
#include <grpcpp/completion_queue.h>
#include <grpcpp/server_context.h>

#include "prism/v1/keyvalue.grpc.pb.h"
#include "frontend/authenticator.hpp"
#include "session/session_directory.hpp"

namespace prism::frontend {

template <class Rpc>
class keyvalue_call;

class keyvalue_service {
public:
  /// `auth` (null: off) decides who is calling.
  keyvalue_service(caf::actor_system& sys, session_directory& sessions,
                   std::shared_ptr<const authenticator> auth = nullptr);

  keyvalue_service(const keyvalue_service&) = delete;
  keyvalue_service& operator=(const keyvalue_service&) = delete;

  /// What to register with the server builder.
  grpc::Service* grpc_service() noexcept { return &async_; }

  /// Starts taking calls on each of `cqs`, once the server is built.
  void start(const std::vector<grpc::ServerCompletionQueue*>& cqs);

  /// Starts no further operation on the completion queues and returns once
  /// none is being started. Called after the server has shut down and before
  /// the queues do (an operation on a queue that is shut down is fatal); a
  /// call completed later is dropped, as its client is gone with the server.
  void close() noexcept;

  /// From now on, new calls are answered UNAVAILABLE at once; calls already
  /// started go on.
  void begin_drain() noexcept;

  /// Calls started and not yet answered.
  int64_t in_flight() const noexcept;

  /// The drain flag and in-flight counter, shared with the PubSub service so
  /// one drain covers both APIs.
  const std::atomic<bool>& draining() const noexcept { return draining_; }
  const std::shared_ptr<std::atomic<int64_t>>& in_flight_counter() const {
    return in_flight_;
  }

private:
  template <class Rpc>
  friend class keyvalue_call;

  /// While it lives, the completion queues stay open; false when they are
  /// closed, and then nothing may be started on them.
  class queue_operation {
  public:
    explicit queue_operation(keyvalue_service& service) noexcept;
    ~queue_operation();
    explicit operator bool() const noexcept { return open_; }

  private:
    keyvalue_service& service_;
    bool open_;
  };

  /// Turns a request into a call and hands it to the client's session;
  /// `completion` answers it.
  void dispatch(grpc::ServerContextBase& ctx, const std::string& ns,
                kv::operation op, std::unique_ptr<call_completion> completion);

  caf::actor_system& sys_;
  session_directory& sessions_;
  std::shared_ptr<const authenticator> auth_;
  v1::KeyValue::AsyncService async_;
  std::atomic<bool> draining_{false};
  std::shared_ptr<std::atomic<int64_t>> in_flight_;
  std::atomic<bool> queues_open_{true};
  /// Queue operations being started (see queue_operation).
  std::atomic<int64_t> queue_operations_{0};
};

} // namespace prism::frontend
