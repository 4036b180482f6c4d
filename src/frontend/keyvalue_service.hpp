#pragma once

// The gRPC adapter of the KeyValue API: translates each request into a call,
// hands it to the client's session and finishes the RPC when the session
// completes the call. It runs on gRPC's threads and holds no state of its own.

#include <atomic>
#include <memory>

#include <caf/actor_system.hpp>

#include "prism/v1/keyvalue.grpc.pb.h"
#include "frontend/authenticator.hpp"
#include "session/session_directory.hpp"

namespace prism::frontend {

class keyvalue_service final : public prism::v1::KeyValue::CallbackService {
public:
  /// `auth` (null: off) decides who is calling.
  keyvalue_service(caf::actor_system& sys, session_directory& sessions,
                   std::shared_ptr<const authenticator> auth = nullptr);

  using context = grpc::CallbackServerContext;
  using reactor = grpc::ServerUnaryReactor;

  reactor* Get(context* ctx, const v1::GetRequest* request,
               v1::GetResponse* response) override;
  reactor* Set(context* ctx, const v1::SetRequest* request,
               v1::SetResponse* response) override;
  reactor* Delete(context* ctx, const v1::DeleteRequest* request,
                  v1::DeleteResponse* response) override;
  reactor* Exists(context* ctx, const v1::ExistsRequest* request,
                  v1::ExistsResponse* response) override;
  reactor* BatchGet(context* ctx, const v1::BatchGetRequest* request,
                    v1::BatchGetResponse* response) override;
  reactor* BatchSet(context* ctx, const v1::BatchSetRequest* request,
                    v1::BatchSetResponse* response) override;
  reactor* BatchDelete(context* ctx, const v1::BatchDeleteRequest* request,
                       v1::BatchDeleteResponse* response) override;
  reactor* Scan(context* ctx, const v1::ScanRequest* request,
                v1::ScanResponse* response) override;

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
  template <class Response>
  reactor* start(context* ctx, const std::string& ns, kv::operation op,
                 Response* response);

  caf::actor_system& sys_;
  session_directory& sessions_;
  std::shared_ptr<const authenticator> auth_;
  std::atomic<bool> draining_{false};
  std::shared_ptr<std::atomic<int64_t>> in_flight_;
};

} // namespace prism::frontend
