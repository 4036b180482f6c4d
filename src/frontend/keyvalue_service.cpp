#include "frontend/keyvalue_service.hpp"

#include <chrono>

#include <spdlog/spdlog.h>

#include "config/defaults.hpp"
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

/// Finishes one unary RPC with a call's outcome.
template <class Response>
class unary_completion final : public call_completion {
public:
  unary_completion(grpc::CallbackServerContext* ctx,
                   grpc::ServerUnaryReactor* reactor, Response* response,
                   std::shared_ptr<std::atomic<int64_t>> in_flight)
    : ctx_(ctx),
      reactor_(reactor),
      response_(response),
      in_flight_(std::move(in_flight)) {
  }

  void complete(kv::outcome&& result) override {
    // Uncount first: once the client has its answer, the call must no longer
    // show as in flight. A drain that sees zero still lets this Finish go
    // out (the gRPC server's shutdown waits for it).
    in_flight_->fetch_sub(1, std::memory_order_acq_rel);
    finish(std::move(result));
  }

private:
  void finish(kv::outcome&& result) {
    if (result.status.ok()) {
      if (std::holds_alternative<std::monostate>(result.value)) {
        reactor_->Finish(grpc::Status(grpc::StatusCode::INTERNAL,
                                      "the backend answered without a "
                                      "result"));
        return;
      }
      fill(*response_, std::move(result.value));
      reactor_->Finish(grpc::Status::OK);
      return;
    }
    if (result.status.retry_after_ms > 0)
      ctx_->AddTrailingMetadata(std::string(retry_after_header),
                                std::to_string(result.status.retry_after_ms));
    // Send the headers (with x-request-id) on their own, so the client sees
    // them as initial metadata rather than folded into a trailers-only reply.
    reactor_->StartSendInitialMetadata();
    reactor_->Finish(
      grpc::Status(static_cast<grpc::StatusCode>(result.status.code),
                   std::move(result.status.message)));
  }

  grpc::CallbackServerContext* ctx_;
  grpc::ServerUnaryReactor* reactor_;
  Response* response_;
  std::shared_ptr<std::atomic<int64_t>> in_flight_;
};

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

template <class Response>
keyvalue_service::reactor*
keyvalue_service::start(context* ctx, const std::string& ns,
                        kv::operation op, Response* response) {
  auto* r = ctx->DefaultReactor();
  auto rc = make_request_context(*ctx, ns, sys_);
  // Count the call before looking at the drain flag: a drain that starts
  // after this point waits for it; one that started before is seen here.
  in_flight_->fetch_add(1, std::memory_order_seq_cst);
  auto completion
    = std::make_unique<unary_completion<Response>>(ctx, r, response,
                                                   in_flight_);
  if (draining_.load(std::memory_order_seq_cst)) {
    completion->complete(shutting_down());
    return r;
  }
  if (auto st = authenticate(*ctx, auth_.get(), rc); !st.ok()) {
    completion->complete(kv::outcome{std::move(st), {}});
    return r;
  }
  auto rejection = kv::validate_request(ns, op);
  auto call = make_call(std::move(rc), std::move(op), std::move(completion));
  call->rejection = std::move(rejection);
  // One session per client connection and principal.
  auto client = session_key(call->context);
  sessions_.dispatch(client, std::move(call));
  return r;
}

auto keyvalue_service::Get(context* ctx, const v1::GetRequest* request,
                           v1::GetResponse* response) -> reactor* {
  return start(ctx, request->namespace_(), kv::get_op{request->key()},
               response);
}

auto keyvalue_service::Set(context* ctx, const v1::SetRequest* request,
                           v1::SetResponse* response) -> reactor* {
  kv::set_op op{request->key(), request->value(), request->ttl_ms(), {}};
  if (request->has_if_version())
    op.if_version = request->if_version();
  return start(ctx, request->namespace_(), std::move(op), response);
}

auto keyvalue_service::Delete(context* ctx, const v1::DeleteRequest* request,
                              v1::DeleteResponse* response) -> reactor* {
  return start(ctx, request->namespace_(), kv::delete_op{request->key()},
               response);
}

auto keyvalue_service::Exists(context* ctx, const v1::ExistsRequest* request,
                              v1::ExistsResponse* response) -> reactor* {
  return start(ctx, request->namespace_(), kv::exists_op{request->key()},
               response);
}

auto keyvalue_service::BatchGet(context* ctx,
                                const v1::BatchGetRequest* request,
                                v1::BatchGetResponse* response) -> reactor* {
  kv::batch_get_op op;
  op.keys.assign(request->keys().begin(), request->keys().end());
  return start(ctx, request->namespace_(), std::move(op), response);
}

auto keyvalue_service::BatchSet(context* ctx,
                                const v1::BatchSetRequest* request,
                                v1::BatchSetResponse* response) -> reactor* {
  kv::batch_set_op op;
  op.entries.reserve(static_cast<size_t>(request->entries_size()));
  for (auto& e : request->entries())
    op.entries.push_back(kv::entry{e.key(), e.value(), e.ttl_ms()});
  return start(ctx, request->namespace_(), std::move(op), response);
}

auto keyvalue_service::BatchDelete(context* ctx,
                                   const v1::BatchDeleteRequest* request,
                                   v1::BatchDeleteResponse* response)
  -> reactor* {
  kv::batch_delete_op op;
  op.keys.assign(request->keys().begin(), request->keys().end());
  return start(ctx, request->namespace_(), std::move(op), response);
}

auto keyvalue_service::Scan(context* ctx, const v1::ScanRequest* request,
                            v1::ScanResponse* response) -> reactor* {
  kv::scan_op op{request->prefix(), request->start_after(), request->limit(),
                 request->keys_only()};
  return start(ctx, request->namespace_(), std::move(op), response);
}

} // namespace prism::frontend
