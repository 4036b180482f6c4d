#include "frontend/health_service.hpp"

#include <grpc/support/time.h>
#include <grpcpp/alarm.h>
#include <grpcpp/server_context.h>

#include "frontend/cq_scheduler.hpp"

namespace prism::frontend {

using grpc::health::v1::HealthCheckRequest;
using grpc::health::v1::HealthCheckResponse;

/// One Check call, from asking gRPC for it until its answer has gone out.
/// It deletes itself after its last event.
class health_service::check_call final : public cq_event {
public:
  /// Asks gRPC for the next Check call on `cq`, unless the queues are
  /// closed. One waiting call per queue is enough: gRPC holds a call that
  /// finds none until one is requested, and health checks are rare.
  static void request(health_service& service,
                      grpc::ServerCompletionQueue* cq) {
    queue_operation op{service.queues_};
    if (!op)
      return;
    auto* call = new check_call(service, cq);
    service.async_.RequestCheck(&call->ctx_, &call->request_, &call->responder_,
                                cq, cq, call);
  }

  void proceed(bool ok) override {
    // Not ok: the server shut down before a client sent this call. After
    // the answer: whether it went out or not, nothing is left to do.
    if (!ok || answered_) {
      delete this;
      return;
    }
    request(service_, cq_);
    answered_ = true;
    queue_operation op{service_.queues_};
    if (!op) {
      delete this;
      return;
    }
    std::unique_lock<std::mutex> guard(service_.mutex_);
    auto i = service_.statuses_.find(request_.service());
    if (i == service_.statuses_.end()) {
      guard.unlock();
      responder_.FinishWithError(
        grpc::Status(grpc::StatusCode::NOT_FOUND, "unknown service"), this);
      return;
    }
    response_.set_status(i->second);
    guard.unlock();
    responder_.Finish(response_, grpc::Status::OK, this);
  }

private:
  check_call(health_service& service, grpc::ServerCompletionQueue* cq)
    : service_(service), cq_(cq), responder_(&ctx_) {}

  health_service& service_;
  grpc::ServerCompletionQueue* cq_;
  grpc::ServerContext ctx_;
  HealthCheckRequest request_;
  HealthCheckResponse response_;
  grpc::ServerAsyncResponseWriter<HealthCheckResponse> responder_;
  /// The answer was started; the next event is its.
  bool answered_ = false;
};

/// One Watch stream, from asking gRPC for it until gRPC reports it done.
/// Its events: the call arriving, the call done (the client cancelled, or
/// the server ended it), a write, a wake-up after a status change (an alarm
/// due at once, which brings the change from whichever thread made it onto
/// the stream's own queue) and the Finish that shutdown() asks for. At most
/// one of each is pending at a time; the stream deletes itself once none
/// is. All its state is guarded by the service's mutex.
class health_service::watch_call {
public:
  /// Asks gRPC for the next Watch call on `cq`, unless the queues are
  /// closed.
  static void request(health_service& service,
                      grpc::ServerCompletionQueue* cq) {
    queue_operation op{service.queues_};
    if (!op)
      return;
    auto* call = new watch_call(service, cq);
    // Before the request, as gRPC requires. gRPC delivers this event only
    // for a call that arrives.
    call->ctx_.AsyncNotifyWhenDone(&call->done_);
    service.async_.RequestWatch(&call->ctx_, &call->request_, &call->writer_,
                                cq, cq, &call->started_);
  }

  const std::string& service_name() const { return request_.service(); }

  /// Makes the stream look at its service's status again, on its queue.
  /// Under the service's mutex.
  void wake() {
    // A write in flight looks again when it completes; an armed alarm
    // has yet to look.
    if (ended_ || writing_ || alarm_armed_)
      return;
    queue_operation op{service_.queues_};
    if (!op)
      return;
    alarm_armed_ = true;
    ++pending_;
    alarm_.Set(cq_, gpr_inf_past(GPR_CLOCK_MONOTONIC), &woken_);
  }

private:
  /// One kind of event of the stream.
  class event final : public cq_event {
  public:
    using handler = void (watch_call::*)(bool);

    event(watch_call* call, handler on) : call_(call), on_(on) {}

    void proceed(bool ok) override { call_->handle(on_, ok); }

  private:
    watch_call* call_;
    handler on_;
  };

  watch_call(health_service& service, grpc::ServerCompletionQueue* cq)
    : service_(service), cq_(cq), writer_(&ctx_) {}

  void handle(event::handler on, bool ok) {
    bool last = false;
    {
      std::lock_guard<std::mutex> guard(service_.mutex_);
      (this->*on)(ok);
      last = --pending_ == 0;
    }
    if (last)
      delete this;
  }

  void on_started(bool ok) {
    // Not ok: the server shut down before a client sent this call, and the
    // done event never comes.
    if (!ok) {
      --pending_;
      return;
    }
    request(service_, cq_);
    // Had another thread polled this queue, the done event could have come
    // first.
    if (ended_)
      return;
    service_.watches_.insert(this);
    send_latest();
  }

  void on_done(bool) {
    ended_ = true;
    service_.watches_.erase(this);
  }

  void on_written(bool ok) {
    writing_ = false;
    // Not ok: the stream is broken (cancelled); the done event follows.
    if (!ok) {
      ended_ = true;
      return;
    }
    send_latest();
  }

  void on_woken(bool) {
    alarm_armed_ = false;
    send_latest();
  }

  void on_finished(bool) {}

  /// Writes the service's status if it is not the one last written; after
  /// shutdown(), finishes the stream once it has.
  void send_latest() {
    if (ended_ || writing_)
      return;
    auto status = service_.watched_status(request_.service());
    bool fresh = status != sent_;
    if (!fresh && !service_.shut_down_)
      return;
    // Closed: the server is gone, and its Shutdown cancelled this call,
    // whose done event is on its way.
    queue_operation op{service_.queues_};
    if (!op)
      return;
    ++pending_;
    if (fresh) {
      writing_ = true;
      sent_ = status;
      response_.set_status(status);
      writer_.Write(response_, &written_);
      return;
    }
    ended_ = true;
    writer_.Finish(
      grpc::Status(grpc::StatusCode::CANCELLED, "the server is shutting down"),
      &finished_);
  }

  health_service& service_;
  grpc::ServerCompletionQueue* cq_;
  grpc::ServerContext ctx_;
  HealthCheckRequest request_;
  HealthCheckResponse response_;
  grpc::ServerAsyncWriter<HealthCheckResponse> writer_;
  grpc::Alarm alarm_;
  event started_{this, &watch_call::on_started};
  event done_{this, &watch_call::on_done};
  event written_{this, &watch_call::on_written};
  event woken_{this, &watch_call::on_woken};
  event finished_{this, &watch_call::on_finished};
  /// Events pending; the arrival and the done event from the start, as the
  /// latter may come first.
  int pending_ = 2;
  bool writing_ = false;
  bool alarm_armed_ = false;
  /// Nothing more is started on the stream: it is done, broken or finished.
  bool ended_ = false;
  /// The status last written; UNKNOWN, which is never watched, before
  /// the first.
  serving_status sent_ = HealthCheckResponse::UNKNOWN;
};

health_service::health_service() {
  statuses_.emplace("", HealthCheckResponse::SERVING);
}

void health_service::start(
  const std::vector<grpc::ServerCompletionQueue*>& cqs) {
  for (auto* cq : cqs) {
    check_call::request(*this, cq);
    watch_call::request(*this, cq);
  }
}

void health_service::set_serving(const std::string& service, bool serving) {
  auto status = serving ? HealthCheckResponse::SERVING
                        : HealthCheckResponse::NOT_SERVING;
  std::lock_guard<std::mutex> guard(mutex_);
  if (shut_down_)
    return;
  auto [i, added] = statuses_.try_emplace(service, status);
  if (!added) {
    if (i->second == status)
      return;
    i->second = status;
  }
  for (auto* watch : watches_)
    if (watch->service_name() == service)
      watch->wake();
}

void health_service::shutdown() {
  std::lock_guard<std::mutex> guard(mutex_);
  if (shut_down_)
    return;
  shut_down_ = true;
  for (auto& entry : statuses_)
    entry.second = HealthCheckResponse::NOT_SERVING;
  for (auto* watch : watches_)
    watch->wake();
}

void health_service::close() noexcept {
  queues_.close();
}

health_service::serving_status health_service::watched_status(
  const std::string& service) const {
  auto i = statuses_.find(service);
  return i == statuses_.end() ? HealthCheckResponse::SERVICE_UNKNOWN
                              : i->second;
}

} // namespace prism::frontend
