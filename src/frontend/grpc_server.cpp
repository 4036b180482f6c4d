#include "frontend/grpc_server.hpp"

#include <algorithm>

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>

#include "frontend/keyvalue_service.hpp"
#include "frontend/pubsub_service.hpp"

namespace prism::frontend {

namespace {

constexpr const char* keyvalue_service_name = "prism.v1.KeyValue";
constexpr const char* pubsub_service_name = "prism.v1.PubSub";

} // namespace

grpc_server::grpc_server(const std::string& listen,
                         std::shared_ptr<grpc::ServerCredentials> credentials,
                         uint64_t max_request_bytes,
                         uint32_t max_streams, caf::actor_system& sys,
                         session_directory& sessions,
                         std::shared_ptr<const authenticator> auth)
  : service_(std::make_unique<keyvalue_service>(sys, sessions, auth)),
    pubsub_(std::make_unique<pubsub_service>(sys, sessions,
                                             service_->draining(),
                                             service_->in_flight_counter(),
                                             auth)) {
  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  builder.AddListeningPort(listen, std::move(credentials), &port_);
  builder.SetMaxReceiveMessageSize(static_cast<int>(max_request_bytes));
  builder.AddChannelArgument(GRPC_ARG_MAX_CONCURRENT_STREAMS,
                             static_cast<int>(std::max<uint32_t>(max_streams, 1)));
  builder.RegisterService(service_.get());
  builder.RegisterService(pubsub_.get());
  server_ = builder.BuildAndStart();
  if (!server_ || port_ == 0)
    throw std::runtime_error("cannot listen for gRPC on " + listen
                             + ": the address is invalid, in use, or not "
                               "allowed (pick another with --listen)");
  set_serving(true);
}

grpc_server::~grpc_server() {
  if (server_)
    shutdown(std::chrono::milliseconds(0));
}

void grpc_server::set_serving(bool serving) {
  if (auto* health = server_->GetHealthCheckService()) {
    health->SetServingStatus(serving);
    health->SetServingStatus(keyvalue_service_name, serving);
    health->SetServingStatus(pubsub_service_name, serving);
  }
}

void grpc_server::begin_drain() {
  set_serving(false);
  service_->begin_drain();
}

int64_t grpc_server::in_flight() const {
  return service_->in_flight();
}

void grpc_server::shutdown(std::chrono::milliseconds grace) {
  if (!server_)
    return;
  set_serving(false);
  server_->Shutdown(std::chrono::system_clock::now() + grace);
  server_->Wait();
  server_.reset();
}

} // namespace prism::frontend
