#pragma once

// A PubSub client for the end-to-end tests: publish (with or without Catch2
// checks) and one open Subscribe stream at a time per `subscriber`.

#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "gateway_process.hpp"
#include "prism/v1/pubsub.grpc.pb.h"

namespace prism::test {

using pubsub_stub_ptr = std::unique_ptr<prism::v1::PubSub::Stub>;

pubsub_stub_ptr pubsub_stub(const gateway_process& gw);

/// One Publish call; uses no Catch2 macro, so any thread may call it
/// (Catch2's assertion state is not thread-safe).
grpc::Status try_publish(prism::v1::PubSub::Stub& stub, const std::string& ns,
                         const std::string& topic, const std::string& payload,
                         const std::map<std::string, std::string>& md,
                         std::string& message_id,
                         std::chrono::milliseconds timeout
                         = std::chrono::seconds(10),
                         const std::string& token = {});

/// Publishes and requires success; only from the test's own thread.
std::string publish(prism::v1::PubSub::Stub& stub, const std::string& ns,
                    const std::string& topic, const std::string& payload,
                    const std::map<std::string, std::string>& md = {});

/// One open Subscribe stream; the constructor returns once the gateway says
/// the subscription is in place (its initial metadata arrived).
class subscriber {
public:
  /// The stream ends DEADLINE_EXCEEDED after `lifetime`, so a test that
  /// waits for a message that never comes fails instead of hanging.
  subscriber(const gateway_process& gw, const std::string& ns,
             const std::string& topic, const std::string& name = {},
             prism::v1::StartPosition start = prism::v1::LATEST,
             std::chrono::milliseconds lifetime = std::chrono::seconds(60),
             const std::string& token = {});
  ~subscriber();

  subscriber(const subscriber&) = delete;
  subscriber& operator=(const subscriber&) = delete;

  /// Reads `n` messages (fails the test if the stream ends first).
  std::vector<prism::v1::Message> read(size_t n);
  /// Cancels and returns how the stream ended.
  grpc::Status cancel();
  /// Reads until `n` messages came or the stream ended; no Catch2 macro, so
  /// another thread may call it.
  void drain_up_to(size_t n, std::vector<prism::v1::Message>& got);
  /// Reads until the stream ends; returns its status and what came.
  grpc::Status drain(std::vector<prism::v1::Message>& got);

  grpc::ClientContext& context() { return ctx_; }

private:
  pubsub_stub_ptr stub_;
  grpc::ClientContext ctx_;
  std::unique_ptr<grpc::ClientReader<prism::v1::Message>> reader_;
};

std::vector<std::string> payloads(const std::vector<prism::v1::Message>& ms);

/// Checks that `got` holds each of `expected` messages "p<i>-<n>" (as
/// concurrent publishers send them) exactly once, each publisher's in order.
void check_complete_and_ordered(const std::vector<std::string>& got,
                                size_t expected);

/// prefix0, prefix1, ... prefix(n-1).
std::vector<std::string> numbered(const std::string& prefix, int n);

} // namespace prism::test
