#pragma once

// The gRPC adapter of the PubSub API. Publish is a unary call like the
// KeyValue ones. Subscribe opens a server stream: the call travels the
// pipeline like any other (so stages see it), the client's session starts a
// subscription actor that writes to the stream through a `message_sink`, and
// the stream stays open until the client cancels or the gateway ends it.

#include <atomic>
#include <memory>

#include <caf/actor_system.hpp>

#include "prism/v1/pubsub.grpc.pb.h"
#include "frontend/authenticator.hpp"
#include "session/session_directory.hpp"

namespace prism::frontend {

class pubsub_service final : public prism::v1::PubSub::CallbackService {
public:
  /// `draining` and `in_flight` are the KeyValue service's, so that one drain
  /// covers both APIs (a stream is not counted in flight: it has no end of
  /// its own; the gateway ends it when it stops).
  pubsub_service(caf::actor_system& sys, session_directory& sessions,
                 const std::atomic<bool>& draining,
                 std::shared_ptr<std::atomic<int64_t>> in_flight,
                 std::shared_ptr<const authenticator> auth = nullptr);

  grpc::ServerUnaryReactor* Publish(grpc::CallbackServerContext* ctx,
                                    const v1::PublishRequest* request,
                                    v1::PublishResponse* response) override;

  grpc::ServerWriteReactor<v1::Message>*
  Subscribe(grpc::CallbackServerContext* ctx,
            const v1::SubscribeRequest* request) override;

private:
  caf::actor_system& sys_;
  session_directory& sessions_;
  std::shared_ptr<const authenticator> auth_;
  const std::atomic<bool>& draining_;
  std::shared_ptr<std::atomic<int64_t>> in_flight_;
};

} // namespace prism::frontend
