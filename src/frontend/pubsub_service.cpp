#include "frontend/pubsub_service.hpp"

#include <mutex>
#include <optional>

#include <grpcpp/support/async_stream.h>

#include "frontend/pubsub_requests.hpp"
#include "frontend/unary_call.hpp"

namespace prism::frontend {

namespace {

using async_service = v1::PubSub::AsyncService;

struct publish_rpc {
  using service = async_service;
  using request = v1::PublishRequest;
  using response = v1::PublishResponse;
  static constexpr auto request_call = &async_service::RequestPublish;
  static model::operation operation(const request& r) {
    return to_operation(r);
  }
  static void fill(response& out, model::result&& r) {
    out.set_message_id(
      std::move(std::get<model::publish_result>(r).message_id));
  }
};

/// Answers the Subscribe call: an error ends the stream; OK leaves it open
/// to the subscription actor.
class subscribe_completion final : public call_completion {
public:
  explicit subscribe_completion(message_sink_ptr sink)
    : sink_(std::move(sink)) {}

  void complete(model::outcome&& result) override {
    if (!result.status.ok())
      sink_->finish(result.status);
  }

private:
  message_sink_ptr sink_;
};

/// One Subscribe stream, from asking gRPC for it until its last event. It is
/// the stream's message_sink too: the subscription actor writes through it
/// (from any thread), one message at a time.
///
/// Operations on the stream go one at a time (initial metadata, a write,
/// the finish): what comes while one is out waits for it. gRPC returns
/// every tag, so the stream keeps itself alive (`self_`) until the last of
/// its tags came back and the call is over; the actor may hold it longer,
/// and then writes fail.
class subscribe_stream final
  : public message_sink,
    public std::enable_shared_from_this<subscribe_stream> {
public:
  /// Asks gRPC for the next Subscribe on `cq`, unless the queues are
  /// closed.
  static void request(frontend_core_ptr core, async_service& service,
                      grpc::ServerCompletionQueue* cq) {
    frontend_core::queue_operation op{*core};
    if (!op)
      return;
    auto s = std::make_shared<subscribe_stream>(core, service, cq);
    s->self_ = s;
    // Only a call that starts (the request's tag comes back ok) delivers
    // this tag.
    s->ctx_.AsyncNotifyWhenDone(&s->done_event_);
    service.RequestSubscribe(&s->ctx_, &s->request_, &s->writer_, cq, cq,
                             &s->request_event_);
  }

  subscribe_stream(frontend_core_ptr core, async_service& service,
                   grpc::ServerCompletionQueue* cq)
    : core_(std::move(core)), service_(service), cq_(cq), writer_(&ctx_),
      request_event_(this, &subscribe_stream::on_request),
      op_event_(this, &subscribe_stream::on_operation),
      done_event_(this, &subscribe_stream::on_done) {}

  void write(const model::message& m, std::function<void(bool)> done) override {
    std::unique_lock<std::mutex> lock{mutex_};
    if (over_ || finish_.has_value() || pending_write_) {
      lock.unlock();
      done(false);
      return;
    }
    auto& out = next_;
    out.Clear();
    out.set_topic(m.topic);
    out.set_payload(m.payload);
    auto& md = *out.mutable_metadata();
    for (auto& [k, v] : m.metadata)
      md[k] = v;
    out.set_message_id(m.id);
    out.set_publish_time_ms(m.publish_time_ms);
    pending_write_ = std::move(done);
    auto failed = start_next();
    lock.unlock();
    if (failed)
      failed(false);
  }

  void finish(const status& st) override {
    std::unique_lock<std::mutex> lock{mutex_};
    if (over_ || finish_.has_value())
      return;
    finish_ = finish_status(ctx_, st);
    auto failed = start_next();
    lock.unlock();
    if (failed)
      failed(false);
  }

  void subscribed() override {
    std::unique_lock<std::mutex> lock{mutex_};
    if (over_ || finish_.has_value() || metadata_sent_)
      return;
    metadata_wanted_ = true;
    auto failed = start_next();
    lock.unlock();
    if (failed)
      failed(false);
  }

  void on_cancel(std::function<void()> fn) override {
    bool now = false;
    {
      std::lock_guard<std::mutex> guard{mutex_};
      cancel_fn_ = fn;
      now = cancelled_;
    }
    if (now)
      fn();
  }

private:
  enum class operation { none, metadata, write, finish };

  /// A tag on the queue that calls back into the stream.
  class event final : public cq_event {
  public:
    using handler = void (subscribe_stream::*)(bool);
    event(subscribe_stream* s, handler h) : stream_(s), handler_(h) {}
    void proceed(bool ok) override {
      // The stream may let go of itself in the handler.
      auto keep = stream_->shared_from_this();
      (stream_->*handler_)(ok);
    }

  private:
    subscribe_stream* stream_;
    handler handler_;
  };

  void on_request(bool ok) {
    if (!ok) {
      // The server shut down before a client sent this call: nothing more
      // comes for it.
      self_.reset();
      return;
    }
    {
      std::lock_guard<std::mutex> guard{mutex_};
      started_ = true;
    }
    request(core_, service_, cq_);
    auto me = shared_from_this();
    core_->dispatch_stream(ctx_, request_.namespace_(), to_operation(request_),
                           me, std::make_unique<subscribe_completion>(me));
  }

  void on_operation(bool ok) {
    std::function<void(bool)> written;
    std::function<void(bool)> failed;
    {
      std::lock_guard<std::mutex> guard{mutex_};
      auto done = current_;
      current_ = operation::none;
      if (done == operation::write)
        written = std::move(writing_);
      if (!ok)
        broken_ = true; // the stream is gone; a write that waits fails
      failed = start_next();
      release_if_done();
    }
    if (written)
      written(ok);
    if (failed)
      failed(false);
  }

  void on_done(bool) {
    std::function<void()> fn;
    std::function<void(bool)> failed;
    {
      std::lock_guard<std::mutex> guard{mutex_};
      over_ = true;
      // However the call ended (the client cancelled, the server finished
      // it or shut down), its subscription ends.
      if (!cancelled_) {
        cancelled_ = true;
        fn = cancel_fn_;
      }
      failed = start_next();
      release_if_done();
    }
    if (failed)
      failed(false);
    if (fn)
      fn();
  }

  /// Starts what waits when nothing is out; call with the lock held. A
  /// write that can no longer go out is returned, for the caller to fail
  /// once it has let go of the lock.
  [[nodiscard]] std::function<void(bool)> start_next() {
    if (current_ != operation::none || !started_)
      return nullptr;
    frontend_core::queue_operation op{*core_};
    bool open = op && !over_;
    if (pending_write_ && (!open || broken_)) {
      auto failed = std::move(pending_write_);
      pending_write_ = nullptr;
      return failed;
    }
    if (!open)
      return nullptr;
    if (pending_write_) {
      current_ = operation::write;
      writing_ = std::move(pending_write_);
      pending_write_ = nullptr;
      std::swap(sending_, next_);
      metadata_sent_ = true;
      writer_.Write(sending_, &op_event_);
    } else if (metadata_wanted_ && !metadata_sent_ && !finish_.has_value()
               && !broken_) {
      current_ = operation::metadata;
      metadata_sent_ = true;
      writer_.SendInitialMetadata(&op_event_);
    } else if (finish_.has_value() && !finish_started_) {
      current_ = operation::finish;
      finish_started_ = true;
      writer_.Finish(*finish_, &op_event_);
    }
    return nullptr;
  }

  /// Lets go of the stream's own reference once the call is over and no
  /// tag is out (the request's came back ok, so the done tag came too).
  void release_if_done() {
    if (over_ && current_ == operation::none)
      self_.reset();
  }

  frontend_core_ptr core_;
  async_service& service_;
  grpc::ServerCompletionQueue* cq_;
  grpc::ServerContext ctx_;
  v1::SubscribeRequest request_;
  grpc::ServerAsyncWriter<v1::Message> writer_;
  event request_event_;
  event op_event_;
  event done_event_;
  std::shared_ptr<subscribe_stream> self_;

  std::mutex mutex_;
  // Under mutex_:
  bool started_ = false;
  /// The call is over (its done tag came back).
  bool over_ = false;
  /// An operation failed: the stream cannot be written any more.
  bool broken_ = false;
  bool cancelled_ = false;
  bool metadata_wanted_ = false;
  bool metadata_sent_ = false;
  bool finish_started_ = false;
  operation current_ = operation::none;
  std::optional<grpc::Status> finish_;
  /// The message waiting to go out, and its callback.
  v1::Message next_;
  std::function<void(bool)> pending_write_;
  /// The message being written, and its callback.
  v1::Message sending_;
  std::function<void(bool)> writing_;
  std::function<void()> cancel_fn_;
};

} // namespace

pubsub_service::pubsub_service(frontend_core_ptr core)
  : core_(std::move(core)) {}

void pubsub_service::start(
  const std::vector<grpc::ServerCompletionQueue*>& cqs) {
  for (auto* cq : cqs) {
    request_unary_calls<publish_rpc>(core_, async_, cq);
    for (int i = 0; i < waiting_calls_per_method; ++i)
      subscribe_stream::request(core_, async_, cq);
  }
}

} // namespace prism::frontend
