#pragma once

// What the gRPC services of the API (KeyValue, PubSub) share: the drain
// flag, the calls in flight, the rule that nothing is started on a
// completion queue once it is closed, and how a request becomes a call that
// enters the client's session.
//
// The services use gRPC's asynchronous API on the completion queues that the
// CAF workers poll (frontend/cq_scheduler.hpp), so a request is taken in,
// handed on and, when its actors run on the same worker, answered on one
// thread, and gRPC starts no poller threads of its own for them.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include <caf/actor_system.hpp>
#include <grpcpp/server_context.h>

#include "frontend/authenticator.hpp"
#include "frontend/queue_guard.hpp"
#include "model/operation.hpp"
#include "session/session_directory.hpp"

namespace prism::frontend {

class frontend_core {
public:
  /// `auth` (null: off) decides who is calling. A BatchGet or Scan answer
  /// carries at most `answer_bytes_max` bytes of keys and values (the
  /// largest request the server accepts).
  frontend_core(caf::actor_system& sys, session_directory& sessions,
                std::shared_ptr<const authenticator> auth = nullptr,
                uint64_t answer_bytes_max = model::answer_bytes_default);

  frontend_core(const frontend_core&) = delete;
  frontend_core& operator=(const frontend_core&) = delete;

  /// An operation on the completion queues (see queue_guard).
  class queue_operation : public queue_guard::operation {
  public:
    explicit queue_operation(frontend_core& core) noexcept
      : queue_guard::operation(core.queues_) {}
  };

  /// Starts no further operation on the completion queues and returns once
  /// none is being started. Called after the server has shut down and before
  /// the queues do (an operation on a queue that is shut down is fatal); a
  /// call completed later is dropped, as its client is gone with the server.
  void close() noexcept;

  /// From now on, new calls are answered UNAVAILABLE at once; calls already
  /// started go on.
  void begin_drain() noexcept;

  /// How long ago the last call (unary or stream) came in, on the steady
  /// clock; a very long time before the first.
  std::chrono::steady_clock::duration since_last_call() const noexcept;

  /// Unary calls started and not yet answered (a stream has no end of its
  /// own and is not counted; the gateway ends it when it stops).
  int64_t in_flight() const noexcept;

  /// Counts a unary call in flight and uncounts it when answered, before
  /// the answer goes out.
  void count_answered() noexcept {
    in_flight_.fetch_sub(1, std::memory_order_acq_rel);
  }

  /// Turns a unary request into a call and hands it to the client's
  /// session; `completion` answers it (at once when the gateway drains or
  /// the caller is not authenticated). Counts it in flight.
  void dispatch(grpc::ServerContextBase& ctx, const std::string& ns,
                model::operation op,
                std::unique_ptr<call_completion> completion);

  /// The same for a Subscribe: the call carries `sink`, has no deadline of
  /// its own (the stream's bounds the stream) and is not counted; when it is
  /// refused, `sink` is finished with the reason.
  void dispatch_stream(grpc::ServerContextBase& ctx, const std::string& ns,
                       model::operation op, message_sink_ptr sink,
                       std::unique_ptr<call_completion> completion);

private:
  caf::actor_system& sys_;
  session_directory& sessions_;
  std::shared_ptr<const authenticator> auth_;
  uint64_t answer_bytes_max_;
  std::atomic<bool> draining_{false};
  std::atomic<int64_t> in_flight_{0};
  /// steady_clock ticks of the last dispatch.
  std::atomic<int64_t> last_call_{0};
  queue_guard queues_;
};

} // namespace prism::frontend
