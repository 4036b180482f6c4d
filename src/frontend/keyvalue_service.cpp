#include "frontend/keyvalue_service.hpp"

#include <chrono>
#include <thread>

#include <spdlog/spdlog.h>

#include "config/defaults.hpp"
#include "frontend/cq_scheduler.hpp"
#include "frontend/request_metadata.hpp"
#include "kv/validate.hpp"

namespace prism::frontend {

namespace {

// --- results into responses ---------------------------------------------

void copy_item(v1::Item& out, kv::item&& in) {
  out.set_key(std::move(in.key));
  out.set_found(in.found);
  out.set_value(std::move(in.value));
  out.set_version(in.version);
}

void fill(v1::GetResponse& out, kv::result&& r) {
  auto& x = std::get<kv::get_result>(r);
  out.set_found(x.found);
  out.set_value(std::move(x.value));
  out.set_version(x.version);
}

void fill(v1::SetResponse& out, kv::result&& r) {
  out.set_version(std::get<kv::set_result>(r).version);
}

void fill(v1::DeleteResponse& out, kv::result&& r) {
  out.set_existed(std::get<kv::delete_result>(r).existed);
}

void fill(v1::ExistsResponse& out, kv::result&& r) {
  out.set_exists(std::get<kv::exists_result>(r).exists);
}

void fill(v1::BatchGetResponse& out, kv::result&& r) {
  auto& x = std::get<kv::batch_get_result>(r);
  out.mutable_items()->Reserve(static_cast<int>(x.items.size()));
  for (auto& item : x.items)
    copy_item(*out.add_items(), std::move(item));
}

void fill(v1::BatchSetResponse& out, kv::result&& r) {
  auto& x = std::get<kv::batch_set_result>(r);
  out.mutable_versions()->Reserve(static_cast<int>(x.versions.size()));
  for (auto v : x.versions)
    out.add_versions(v);
}

void fill(v1::BatchDeleteResponse& out, kv::result&& r) {
  out.set_deleted(std::get<kv::batch_delete_result>(r).deleted);
}

void fill(v1::ScanResponse& out, kv::result&& r) {
  auto& x = std::get<kv::scan_result>(r);
  out.mutable_items()->Reserve(static_cast<int>(x.items.size()));
  for (auto& item : x.items)
    copy_item(*out.add_items(), std::move(item));
  out.set_next_start_after(std::move(x.next_start_after));
}

// --- the RPCs: request and response types, how gRPC is asked for one, and
// the operation a request asks for ------------------------------------------

using async_service = v1::KeyValue::AsyncService;

struct get_rpc {
  using request = v1::GetRequest;
  using response = v1::GetResponse;
  static constexpr auto request_call = &async_service::RequestGet;
  static kv::operation operation(const request& r) {
    return kv::get_op{r.key()};
  }
};

struct set_rpc {
  using request = v1::SetRequest;
  using response = v1::SetResponse;
  static constexpr auto request_call = &async_service::RequestSet;
  static kv::operation operation(const request& r) {
    kv::set_op op{r.key(), r.value(), r.ttl_ms(), {}};
    if (r.has_if_version())
      op.if_version = r.if_version();
    return op;
  }
};

struct delete_rpc {
  using request = v1::DeleteRequest;
  using response = v1::DeleteResponse;
  static constexpr auto request_call = &async_service::RequestDelete;
  static kv::operation operation(const request& r) {
    return kv::delete_op{r.key()};
  }
};

struct exists_rpc {
  using request = v1::ExistsRequest;
  using response = v1::ExistsResponse;
  static constexpr auto request_call = &async_service::RequestExists;
  static kv::operation operation(const request& r) {
    return kv::exists_op{r.key()};
  }
};

struct batch_get_rpc {
  using request = v1::BatchGetRequest;
  using response = v1::BatchGetResponse;
  static constexpr auto request_call = &async_service::RequestBatchGet;
  static kv::operation operation(const request& r) {
    kv::batch_get_op op;
    op.keys.assign(r.keys().begin(), r.keys().end());
    return op;
  }
};

struct batch_set_rpc {
  using request = v1::BatchSetRequest;
  using response = v1::BatchSetResponse;
  static constexpr auto request_call = &async_service::RequestBatchSet;
  static kv::operation operation(const request& r) {
    kv::batch_set_op op;
    op.entries.reserve(static_cast<size_t>(r.entries_size()));
    for (auto& e : r.entries())
      op.entries.push_back(kv::entry{e.key(), e.value(), e.ttl_ms()});
    return op;
  }
};

struct batch_delete_rpc {
  using request = v1::BatchDeleteRequest;
  using response = v1::BatchDeleteResponse;
  static constexpr auto request_call = &async_service::RequestBatchDelete;
  static kv::operation operation(const request& r) {
    kv::batch_delete_op op;
    op.keys.assign(r.keys().begin(), r.keys().end());
    return op;
  }
};

struct scan_rpc {
  using request = v1::ScanRequest;
  using response = v1::ScanResponse;
  static constexpr auto request_call = &async_service::RequestScan;
  static kv::operation operation(const request& r) {
    return kv::scan_op{r.prefix(), r.start_after(), r.limit(),
                       r.keys_only()};
  }
};

/// Calls of each method that wait on each completion queue for a client to
/// send one. gRPC holds a call that finds none until one is requested, so
/// this only saves a burst of calls from waiting for each other's
/// re-request.
constexpr int waiting_calls_per_method = 8;

} // namespace

/// One unary RPC, from asking gRPC for it until its answer has gone out.
/// It deletes itself after its last event.
template <class Rpc>
class keyvalue_call final : public cq_event {
public:
  /// Asks gRPC for the next call of this method on `cq`, unless the queues
  /// are closed.
  static void request(keyvalue_service& service,
                      grpc::ServerCompletionQueue* cq) {
    keyvalue_service::queue_operation op{service};
    if (!op)
      return;
    auto* call = new keyvalue_call(service, cq);
    (service.async_.*Rpc::request_call)(&call->ctx_, &call->request_,
                                        &call->responder_, cq, cq, call);
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
    service_.dispatch(ctx_, request_.namespace_(), Rpc::operation(request_),
                      std::make_unique<completion>(this,
                                                   service_.in_flight_));
  }

private:
  /// Finishes the RPC with a call's outcome, from whichever thread
  /// completes the call.
  class completion final : public call_completion {
  public:
    completion(keyvalue_call* rpc,
               std::shared_ptr<std::atomic<int64_t>> in_flight)
      : rpc_(rpc), in_flight_(std::move(in_flight)) {
    }

    void complete(kv::outcome&& result) override {
      // Uncount first: once the client has its answer, the call must no
      // longer show as in flight. A drain that sees zero still lets this
      // Finish go out (the gRPC server's shutdown waits for it).
      in_flight_->fetch_sub(1, std::memory_order_acq_rel);
      rpc_->finish(std::move(result));
    }

  private:
    keyvalue_call* rpc_;
    std::shared_ptr<std::atomic<int64_t>> in_flight_;
  };

  keyvalue_call(keyvalue_service& service, grpc::ServerCompletionQueue* cq)
    : service_(service), cq_(cq), responder_(&ctx_) {
  }

  void finish(kv::outcome&& result) {
    keyvalue_service::queue_operation op{service_};
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
      fill(response_, std::move(result.value));
      responder_.Finish(response_, grpc::Status::OK, this);
      return;
    }
    if (result.status.retry_after_ms > 0)
      ctx_.AddTrailingMetadata(std::string(retry_after_header),
                               std::to_string(result.status.retry_after_ms));
    responder_.FinishWithError(
      grpc::Status(static_cast<grpc::StatusCode>(result.status.code),
                   std::move(result.status.message)),
      this);
  }

  keyvalue_service& service_;
  grpc::ServerCompletionQueue* cq_;
  grpc::ServerContext ctx_;
  typename Rpc::request request_;
  typename Rpc::response response_;
  grpc::ServerAsyncResponseWriter<typename Rpc::response> responder_;
  /// The call was handed on; its next event is the answer's.
  bool answered_ = false;
};

namespace {

template <class... Rpcs>
void request_calls(keyvalue_service& service,
                   grpc::ServerCompletionQueue* cq) {
  for (int i = 0; i < waiting_calls_per_method; ++i)
    (keyvalue_call<Rpcs>::request(service, cq), ...);
}

} // namespace

keyvalue_service::keyvalue_service(caf::actor_system& sys,
                                   session_directory& sessions,
                                   std::shared_ptr<const authenticator> auth)
  : sys_(sys),
    sessions_(sessions),
    auth_(std::move(auth)),
    in_flight_(std::make_shared<std::atomic<int64_t>>(0)) {
}

void keyvalue_service::begin_drain() noexcept {
  draining_.store(true, std::memory_order_seq_cst);
}

int64_t keyvalue_service::in_flight() const noexcept {
  return in_flight_->load(std::memory_order_acquire);
}

void keyvalue_service::start(
  const std::vector<grpc::ServerCompletionQueue*>& cqs) {
  for (auto* cq : cqs)
    request_calls<get_rpc, set_rpc, delete_rpc, exists_rpc, batch_get_rpc,
                  batch_set_rpc, batch_delete_rpc, scan_rpc>(*this, cq);
}

void keyvalue_service::close() noexcept {
  queues_open_.store(false, std::memory_order_seq_cst);
  // Operations that saw the queues open are being started; they take
  // microseconds.
  while (queue_operations_.load(std::memory_order_seq_cst) != 0)
    std::this_thread::yield();
}

keyvalue_service::queue_operation::queue_operation(
  keyvalue_service& service) noexcept
  : service_(service) {
  // Count first, then look: close() either sees the count or is seen here.
  service_.queue_operations_.fetch_add(1, std::memory_order_seq_cst);
  open_ = service_.queues_open_.load(std::memory_order_seq_cst);
}

keyvalue_service::queue_operation::~queue_operation() {
  service_.queue_operations_.fetch_sub(1, std::memory_order_seq_cst);
}

void keyvalue_service::dispatch(grpc::ServerContextBase& ctx,
                                const std::string& ns, kv::operation op,
                                std::unique_ptr<call_completion> completion) {
  auto rc = make_request_context(ctx, ns, sys_);
  // Count the call before looking at the drain flag: a drain that starts
  // after this point waits for it; one that started before is seen here.
  in_flight_->fetch_add(1, std::memory_order_seq_cst);
  if (draining_.load(std::memory_order_seq_cst)) {
    completion->complete(shutting_down());
    return;
  }
  if (auto st = authenticate(ctx, auth_.get(), rc); !st.ok()) {
    completion->complete(kv::outcome{std::move(st), {}});
    return;
  }
  auto rejection = kv::validate_request(ns, op);
  auto call = make_call(std::move(rc), std::move(op), std::move(completion));
  call->rejection = std::move(rejection);
  // One session per client connection and principal.
  auto client = session_key(call->context);
  sessions_.dispatch(client, std::move(call));
}

} // namespace prism::frontend
