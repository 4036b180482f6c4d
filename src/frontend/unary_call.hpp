#pragma once

// One unary RPC of the API on gRPC's asynchronous API, from asking gRPC for
// it until its answer has gone out. `Rpc` says which:
//
//   struct get_rpc {
//     using service = v1::KeyValue::AsyncService;
//     using request = v1::GetRequest;
//     using response = v1::GetResponse;
//     static constexpr auto request_call = &service::RequestGet;
//     static model::operation operation(const request& r);
//     static void fill(response& out, model::result&& r);
//   };
//
// A call object asks for the next call of its method on its queue when its
// own arrives, hands the request to the frontend core, and finishes the RPC
// from whichever thread completes the call. It deletes itself after its last
// event; the core it holds outlives it.

#include <memory>
#include <optional>
#include <string>
#include <variant>

#include <grpcpp/completion_queue.h>
#include <grpcpp/server_context.h>
#include <grpcpp/support/async_unary_call.h>

#include "frontend/cq_scheduler.hpp"
#include "frontend/frontend_core.hpp"
#include "frontend/request_metadata.hpp"

namespace prism::frontend {

using frontend_core_ptr = std::shared_ptr<frontend_core>;

template <class Rpc>
class unary_call final : public cq_event, private deferred_work {
public:
  using service_type = typename Rpc::service;

  /// Asks gRPC for the next call of this method on `cq`, unless the queues
  /// are closed.
  static void request(frontend_core_ptr core, service_type& service,
                      grpc::ServerCompletionQueue* cq) {
    frontend_core::queue_operation op{*core};
    if (!op)
      return;
    auto* call = new unary_call(std::move(core), service, cq);
    (service.*Rpc::request_call)(&call->ctx_, &call->request_,
                                 &call->responder_, cq, cq, call);
  }

  void proceed(bool ok) override {
    // Not ok: the server shut down before a client sent this call. After
    // the answer: whether it went out or not, nothing is left to do.
    if (!ok || answered_) {
      delete this;
      return;
    }
    request(core_, service_, cq_);
    answered_ = true;
    core_->dispatch(ctx_, request_.namespace_(), Rpc::operation(request_),
                    std::make_unique<completion>(this));
  }

private:
  /// Finishes the RPC with a call's outcome.
  class completion final : public call_completion {
  public:
    explicit completion(unary_call* rpc) : rpc_(rpc) {}

    void complete(model::outcome&& result) override {
      // Uncount first: once the client has its answer, the call must no
      // longer show as in flight. A drain that sees zero still lets this
      // Finish go out (the gRPC server's shutdown waits for it).
      rpc_->core_->count_answered();
      rpc_->finish(std::move(result));
    }

    void complete_soon(model::outcome&& result) override {
      // On a worker, the answer goes out as the session's job ends, with
      // the others it completed in that run: answers written one after
      // another, after the actor's work, took less CPU per call, and the
      // client finds them together.
      rpc_->core_->count_answered();
      rpc_->pending_.emplace(std::move(result));
      if (!cq_work_stealing::defer(*rpc_))
        rpc_->run();
    }

  private:
    unary_call* rpc_;
  };

  unary_call(frontend_core_ptr core, service_type& service,
             grpc::ServerCompletionQueue* cq)
    : core_(std::move(core)), service_(service), cq_(cq), responder_(&ctx_) {}

  /// Finishes with the outcome complete_soon left.
  void run() override {
    auto result = std::move(*pending_);
    pending_.reset();
    finish(std::move(result));
  }

  void finish(model::outcome&& result) {
    frontend_core::queue_operation op{*core_};
    if (!op) {
      delete this;
      return;
    }
    if (result.status.ok()) {
      if (std::holds_alternative<std::monostate>(result.value)) {
        responder_.FinishWithError(grpc::Status(grpc::StatusCode::INTERNAL,
                                                "the backend answered "
                                                "without a result"),
                                   this);
        return;
      }
      Rpc::fill(response_, std::move(result.value));
      responder_.Finish(response_, grpc::Status::OK, this);
      return;
    }
    responder_.FinishWithError(finish_status(ctx_, std::move(result.status)),
                               this);
  }

  frontend_core_ptr core_;
  service_type& service_;
  grpc::ServerCompletionQueue* cq_;
  grpc::ServerContext ctx_;
  typename Rpc::request request_;
  typename Rpc::response response_;
  grpc::ServerAsyncResponseWriter<typename Rpc::response> responder_;
  /// The call was handed on; its next event is the answer's.
  bool answered_ = false;
  /// The outcome, from its completion until the answer is written.
  std::optional<model::outcome> pending_;
};

/// Calls of each method that wait on each completion queue for a client to
/// send one. gRPC holds a call that finds none until one is requested, so
/// this only saves a burst of calls from waiting for each other's
/// re-request.
inline constexpr int waiting_calls_per_method = 8;

/// Asks for `waiting_calls_per_method` calls of each of `Rpcs` on `cq`.
template <class... Rpcs, class Service>
void request_unary_calls(const frontend_core_ptr& core, Service& service,
                         grpc::ServerCompletionQueue* cq) {
  for (int i = 0; i < waiting_calls_per_method; ++i)
    (unary_call<Rpcs>::request(core, service, cq), ...);
}

} // namespace prism::frontend
