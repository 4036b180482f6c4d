#include "frontend/grpc_server.hpp"

#include <algorithm>
#include <thread>

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/grpcpp.h>

#include "frontend/cq_scheduler.hpp"
#include "frontend/frontend_core.hpp"
#include "frontend/health_service.hpp"
#include "frontend/keyvalue_service.hpp"
#include "frontend/pubsub_service.hpp"

namespace prism::frontend {

namespace {

constexpr const char* keyvalue_service_name = "prism.v1.KeyValue";
constexpr const char* pubsub_service_name = "prism.v1.PubSub";

/// How long no call may have come in before the server shuts down.
constexpr auto quiet_before_shutdown = std::chrono::milliseconds(50);

} // namespace

grpc_server::grpc_server(const std::string& listen,
                         std::shared_ptr<grpc::ServerCredentials> credentials,
                         uint64_t max_request_bytes, uint32_t max_streams,
                         size_t pollers, caf::actor_system& sys,
                         session_directory& sessions,
                         std::shared_ptr<const authenticator> auth)
  : sys_(sys), core_(std::make_shared<frontend_core>(
                 sys, sessions, std::move(auth), max_request_bytes)),
    service_(std::make_unique<keyvalue_service>(core_)),
    pubsub_(std::make_unique<pubsub_service>(core_)),
    health_(std::make_unique<health_service>()) {
  if (!runs_cq_scheduler(sys))
    throw std::logic_error("the gRPC server needs an actor system on "
                           "cq_scheduler (use_cq_scheduler)");
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  builder.AddListeningPort(listen, std::move(credentials), &port_);
  builder.SetMaxReceiveMessageSize(static_cast<int>(max_request_bytes));
  // gRPC binds with SO_REUSEPORT by default: a second gateway (or the admin
  // listener) on the same address would share the port and take a part of
  // the connections instead of failing to start.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  builder.AddChannelArgument(
    GRPC_ARG_MAX_CONCURRENT_STREAMS,
    static_cast<int>(std::max<uint32_t>(max_streams, 1)));
  builder.RegisterService(service_->grpc_service());
  builder.RegisterService(pubsub_->grpc_service());
  builder.RegisterService(health_->grpc_service());
  auto workers = sys.scheduler().num_workers();
  pollers = pollers == 0 ? std::max<size_t>(1, workers / 4)
                         : std::min(pollers, workers);
  for (size_t i = 0; i < pollers; ++i)
    queues_.push_back(builder.AddCompletionQueue());
  server_ = builder.BuildAndStart();
  if (!server_ || port_ == 0)
    throw std::runtime_error("cannot listen for gRPC on " + listen
                             + ": the address is invalid, in use, or not "
                               "allowed (pick another with --listen)");
  std::vector<grpc::ServerCompletionQueue*> cqs;
  std::vector<grpc::CompletionQueue*> polled;
  for (auto& cq : queues_) {
    cqs.push_back(cq.get());
    polled.push_back(cq.get());
  }
  service_->start(cqs);
  pubsub_->start(cqs);
  health_->start(cqs);
  attach_completion_queues(sys, polled);
  set_serving(true);
}

grpc_server::~grpc_server() {
  if (server_)
    shutdown(std::chrono::milliseconds(0));
}

void grpc_server::set_serving(bool serving) {
  health_->set_serving("", serving);
  health_->set_serving(keyvalue_service_name, serving);
  health_->set_serving(pubsub_service_name, serving);
}

void grpc_server::begin_drain() {
  set_serving(false);
  core_->begin_drain();
}

int64_t grpc_server::in_flight() const {
  return core_->in_flight();
}

void grpc_server::shutdown(std::chrono::milliseconds grace) {
  if (!server_)
    return;
  // Everything NOT_SERVING, and the Watch streams end, so that the server's
  // Shutdown does not wait out the grace period for them.
  health_->shutdown();
  // A call whose request reaches gRPC after its Shutdown began is not
  // matched any more and ends CANCELLED, which clients do not retry. Calls
  // already on their way in (sent before their clients saw a refusal) are
  // let in first, and refused UNAVAILABLE while the gateway drains: the
  // server shuts down once none came for `quiet_before_shutdown`, or when
  // the grace period is over.
  auto until = std::chrono::steady_clock::now() + grace;
  while (core_->since_last_call() < quiet_before_shutdown
         && std::chrono::steady_clock::now() < until)
    std::this_thread::sleep_for(quiet_before_shutdown / 10);
  // The workers keep polling the queues while the server waits for the
  // calls in flight; then the queues end, and the workers drain them.
  server_->Shutdown(std::chrono::system_clock::now() + grace);
  server_->Wait();
  core_->close();
  health_->close();
  detach_completion_queues(sys_);
  server_.reset();
  queues_.clear();
}

} // namespace prism::frontend
