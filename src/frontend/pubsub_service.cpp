#include "frontend/pubsub_service.hpp"

#include <mutex>

#include "frontend/request_metadata.hpp"
#include "kv/validate.hpp"

namespace prism::frontend {

namespace {

grpc::Status to_grpc(const status& st) {
  return grpc::Status(static_cast<grpc::StatusCode>(st.code), st.message);
}

kv::metadata from_proto(const google::protobuf::Map<std::string, std::string>& md) {
  kv::metadata out;
  out.reserve(md.size());
  for (auto& [k, v] : md)
    out.emplace_back(k, v);
  return out;
}

// --- Publish ----------------------------------------------------------------

class publish_completion final : public call_completion {
public:
  publish_completion(grpc::CallbackServerContext* ctx,
                     grpc::ServerUnaryReactor* reactor,
                     v1::PublishResponse* response,
                     std::shared_ptr<std::atomic<int64_t>> in_flight)
    : ctx_(ctx),
      reactor_(reactor),
      response_(response),
      in_flight_(std::move(in_flight)) {
  }

  void complete(kv::outcome&& result) override {
    in_flight_->fetch_sub(1, std::memory_order_acq_rel);
    if (result.status.ok()) {
      if (auto* r = std::get_if<kv::publish_result>(&result.value)) {
        response_->set_message_id(std::move(r->message_id));
        reactor_->Finish(grpc::Status::OK);
      } else {
        reactor_->Finish(grpc::Status(grpc::StatusCode::INTERNAL,
                                      "the backend answered a Publish "
                                      "without a message id"));
      }
      return;
    }
    if (result.status.retry_after_ms > 0)
      ctx_->AddTrailingMetadata(std::string(retry_after_header),
                                std::to_string(result.status.retry_after_ms));
    reactor_->StartSendInitialMetadata();
    reactor_->Finish(to_grpc(result.status));
  }

private:
  grpc::CallbackServerContext* ctx_;
  grpc::ServerUnaryReactor* reactor_;
  v1::PublishResponse* response_;
  std::shared_ptr<std::atomic<int64_t>> in_flight_;
};

// --- Subscribe --------------------------------------------------------------

class subscribe_reactor;

/// The stream as the subscription actor sees it. Outlives the reactor (the
/// actor may still hold it); once the reactor is done, writes fail.
///
/// gRPC may run a reaction inline, so the reactor is called without the
/// lock held. That is safe because the reactor cannot go away (OnDone) before
/// Finish, and writes and Finish come one at a time: from the subscription
/// actor, or (on a failed Subscribe call) from its completion, before any
/// write.
class stream_sink final : public message_sink {
public:
  explicit stream_sink(grpc::CallbackServerContext* ctx) : ctx_(ctx) {}

  void attach(subscribe_reactor* r) {
    std::lock_guard<std::mutex> guard{mutex_};
    reactor_ = r;
  }

  void write(const kv::message& m, std::function<void(bool)> done) override;
  void finish(const status& st) override;
  void on_cancel(std::function<void()> fn) override;

  /// The subscription is in place: send the initial metadata now, so the
  /// client can tell. Called by the subscription actor before it writes.
  void subscribed() override;

  // From the reactor, on gRPC's threads.
  void write_done(bool ok);
  void cancelled();
  void detach();

private:
  std::mutex mutex_;
  grpc::CallbackServerContext* ctx_;
  subscribe_reactor* reactor_ = nullptr;
  bool finished_ = false;
  bool cancelled_ = false;
  v1::Message current_;
  std::function<void(bool)> pending_;
  std::function<void()> cancel_fn_;
};

class subscribe_reactor final : public grpc::ServerWriteReactor<v1::Message> {
public:
  explicit subscribe_reactor(std::shared_ptr<stream_sink> sink)
    : sink_(std::move(sink)) {
  }

  void OnWriteDone(bool ok) override { sink_->write_done(ok); }
  void OnCancel() override { sink_->cancelled(); }
  void OnDone() override {
    sink_->detach();
    delete this;
  }

private:
  std::shared_ptr<stream_sink> sink_;
};

void stream_sink::write(const kv::message& m, std::function<void(bool)> done) {
  std::unique_lock<std::mutex> lock{mutex_};
  if (!reactor_ || finished_) {
    lock.unlock();
    done(false);
    return;
  }
  current_.Clear();
  current_.set_topic(m.topic);
  current_.set_payload(m.payload);
  auto& md = *current_.mutable_metadata();
  for (auto& [k, v] : m.metadata)
    md[k] = v;
  current_.set_message_id(m.id);
  current_.set_publish_time_ms(m.publish_time_ms);
  pending_ = std::move(done);
  auto* r = reactor_;
  lock.unlock();
  r->StartWrite(&current_);
}

void stream_sink::write_done(bool ok) {
  std::function<void(bool)> done;
  {
    std::lock_guard<std::mutex> guard{mutex_};
    done = std::move(pending_);
    pending_ = nullptr;
  }
  if (done)
    done(ok);
}

void stream_sink::finish(const status& st) {
  subscribe_reactor* r = nullptr;
  {
    std::lock_guard<std::mutex> guard{mutex_};
    if (finished_ || !reactor_)
      return;
    finished_ = true;
    r = reactor_;
  }
  if (st.retry_after_ms > 0)
    ctx_->AddTrailingMetadata(std::string(retry_after_header),
                              std::to_string(st.retry_after_ms));
  r->Finish(to_grpc(st));
}

void stream_sink::subscribed() {
  subscribe_reactor* r = nullptr;
  {
    std::lock_guard<std::mutex> guard{mutex_};
    if (reactor_ && !finished_)
      r = reactor_;
  }
  if (r)
    r->StartSendInitialMetadata();
}

void stream_sink::on_cancel(std::function<void()> fn) {
  bool now = false;
  {
    std::lock_guard<std::mutex> guard{mutex_};
    cancel_fn_ = fn;
    now = cancelled_;
  }
  if (now)
    fn();
}

void stream_sink::cancelled() {
  std::function<void()> fn;
  {
    std::lock_guard<std::mutex> guard{mutex_};
    cancelled_ = true;
    fn = cancel_fn_;
  }
  if (fn)
    fn();
}

void stream_sink::detach() {
  std::function<void(bool)> done;
  std::function<void()> fn;
  {
    std::lock_guard<std::mutex> guard{mutex_};
    reactor_ = nullptr;
    done = std::move(pending_);
    pending_ = nullptr;
    // A stream that ends for any reason ends its subscription.
    if (!cancelled_) {
      cancelled_ = true;
      fn = cancel_fn_;
    }
  }
  if (done)
    done(false);
  if (fn)
    fn();
}

/// Answers the Subscribe call: an error ends the stream; OK leaves it open
/// to the subscription actor.
class subscribe_completion final : public call_completion {
public:
  explicit subscribe_completion(std::shared_ptr<stream_sink> sink)
    : sink_(std::move(sink)) {
  }

  void complete(kv::outcome&& result) override {
    if (!result.status.ok())
      sink_->finish(result.status);
  }

private:
  std::shared_ptr<stream_sink> sink_;
};

} // namespace

pubsub_service::pubsub_service(caf::actor_system& sys,
                               session_directory& sessions,
                               const std::atomic<bool>& draining,
                               std::shared_ptr<std::atomic<int64_t>> in_flight,
                               std::shared_ptr<const authenticator> auth)
  : sys_(sys),
    sessions_(sessions),
    auth_(std::move(auth)),
    draining_(draining),
    in_flight_(std::move(in_flight)) {
}

grpc::ServerUnaryReactor*
pubsub_service::Publish(grpc::CallbackServerContext* ctx,
                        const v1::PublishRequest* request,
                        v1::PublishResponse* response) {
  auto* r = ctx->DefaultReactor();
  auto rc = make_request_context(*ctx, request->namespace_(), sys_);
  in_flight_->fetch_add(1, std::memory_order_seq_cst);
  auto completion
    = std::make_unique<publish_completion>(ctx, r, response, in_flight_);
  if (draining_.load(std::memory_order_seq_cst)) {
    completion->complete(shutting_down());
    return r;
  }
  if (auto st = authenticate(*ctx, auth_.get(), rc); !st.ok()) {
    completion->complete(kv::outcome{std::move(st), {}});
    return r;
  }
  kv::operation op{kv::publish_op{request->topic(), request->payload(),
                                  from_proto(request->metadata())}};
  auto rejection = kv::validate_request(request->namespace_(), op);
  auto call = make_call(std::move(rc), std::move(op), std::move(completion));
  call->rejection = std::move(rejection);
  auto client = session_key(call->context);
  sessions_.dispatch(client, std::move(call));
  return r;
}

grpc::ServerWriteReactor<v1::Message>*
pubsub_service::Subscribe(grpc::CallbackServerContext* ctx,
                          const v1::SubscribeRequest* request) {
  auto sink = std::make_shared<stream_sink>(ctx);
  auto* reactor = new subscribe_reactor(sink);
  sink->attach(reactor);
  auto rc = make_request_context(*ctx, request->namespace_(), sys_);
  if (draining_.load(std::memory_order_seq_cst)) {
    sink->finish(shutting_down().status);
    return reactor;
  }
  if (auto st = authenticate(*ctx, auth_.get(), rc); !st.ok()) {
    sink->finish(st);
    return reactor;
  }
  kv::operation op{kv::subscribe_op{
    request->topic(), request->subscription(),
    request->start() == v1::EARLIEST ? kv::start_position::earliest
                                     : kv::start_position::latest}};
  auto rejection = kv::validate_request(request->namespace_(), op);
  auto call = make_call(std::move(rc), std::move(op),
                        std::make_unique<subscribe_completion>(sink));
  call->rejection = std::move(rejection);
  call->sink = sink;
  // The stream's deadline (if any) bounds the stream, not the subscribing.
  call->context.deadline = caf::actor_clock::time_point::max();
  auto client = session_key(call->context);
  sessions_.dispatch(client, std::move(call));
  return reactor;
}

} // namespace prism::frontend
