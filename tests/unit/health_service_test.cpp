// The grpc.health.v1.Health service on a real gRPC server and channel: Check
// and Watch answer what set_serving set, a Watch stream follows changes made
// from other threads without ever repeating a status, and streams end when
// their client cancels, when the service shuts down and when the server
// does.
//
// The server's completion queues are polled by plain threads, one each, that
// hand every event to its cq_event as the CAF workers do. Every client call
// has a deadline, so a missing message fails the test instead of hanging it.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>
#include <grpcpp/grpcpp.h>

#include "frontend/cq_scheduler.hpp"
#include "frontend/health_service.hpp"
#include "grpc/health/v1/health.grpc.pb.h"

using namespace std::chrono_literals;
using grpc::health::v1::Health;
using grpc::health::v1::HealthCheckRequest;
using grpc::health::v1::HealthCheckResponse;
using prism::frontend::cq_event;

namespace {

constexpr auto wait_max = 10s;

std::chrono::system_clock::time_point deadline() {
  return std::chrono::system_clock::now() + wait_max;
}

/// A gRPC server with only the health service, on 127.0.0.1, its queues
/// polled by threads of its own.
class health_server {
public:
  explicit health_server(size_t queues = 2) {
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(),
                             &port_);
    builder.RegisterService(health.grpc_service());
    for (size_t i = 0; i < queues; ++i)
      queues_.push_back(builder.AddCompletionQueue());
    server_ = builder.BuildAndStart();
    REQUIRE(server_);
    REQUIRE(port_ != 0);
    std::vector<grpc::ServerCompletionQueue*> cqs;
    for (auto& cq : queues_)
      cqs.push_back(cq.get());
    health.start(cqs);
    for (auto* cq : cqs)
      pollers_.emplace_back([cq] {
        void* tag = nullptr;
        bool ok = false;
        // Next is false once the queue is shut down and drained.
        while (cq->Next(&tag, &ok))
          static_cast<cq_event*>(tag)->proceed(ok);
      });
  }

  ~health_server() { stop(std::chrono::system_clock::now()); }

  /// Shuts the server down in the order the gateway does; returns how long
  /// the server's Shutdown took.
  std::chrono::steady_clock::duration stop(
    std::chrono::system_clock::time_point grace_end) {
    if (!server_)
      return {};
    auto begin = std::chrono::steady_clock::now();
    server_->Shutdown(grace_end);
    auto took = std::chrono::steady_clock::now() - begin;
    health.close();
    for (auto& cq : queues_)
      cq->Shutdown();
    for (auto& poller : pollers_)
      poller.join();
    server_.reset();
    queues_.clear();
    return took;
  }

  std::unique_ptr<Health::Stub> stub() const {
    return Health::NewStub(
      grpc::CreateChannel("127.0.0.1:" + std::to_string(port_),
                          grpc::InsecureChannelCredentials()));
  }

  prism::frontend::health_service health;

private:
  int port_ = 0;
  std::vector<std::unique_ptr<grpc::ServerCompletionQueue>> queues_;
  std::unique_ptr<grpc::Server> server_;
  std::vector<std::thread> pollers_;
};

/// Check(`service`): the status, or the negated error code.
int check(Health::Stub& stub, const std::string& service) {
  grpc::ClientContext ctx;
  ctx.set_deadline(deadline());
  HealthCheckRequest request;
  request.set_service(service);
  HealthCheckResponse response;
  auto st = stub.Check(&ctx, request, &response);
  return st.ok() ? response.status() : -st.error_code();
}

/// A Watch stream on `service`.
class watch_stream {
public:
  watch_stream(Health::Stub& stub, const std::string& service) {
    ctx_.set_deadline(deadline());
    HealthCheckRequest request;
    request.set_service(service);
    reader_ = stub.Watch(&ctx_, request);
  }

  /// The next status, or -1 once the stream has ended.
  int next() {
    HealthCheckResponse response;
    return reader_->Read(&response) ? response.status() : -1;
  }

  /// How the stream ended; after next() returned -1.
  grpc::StatusCode finish() { return reader_->Finish().error_code(); }

  void cancel() { ctx_.TryCancel(); }

private:
  grpc::ClientContext ctx_;
  std::unique_ptr<grpc::ClientReader<HealthCheckResponse>> reader_;
};

constexpr int serving = HealthCheckResponse::SERVING;
constexpr int not_serving = HealthCheckResponse::NOT_SERVING;
constexpr int service_unknown = HealthCheckResponse::SERVICE_UNKNOWN;

} // namespace

TEST_CASE("Check answers the status set for a name, NOT_FOUND for others",
          "[health]") {
  health_server server;
  auto stub = server.stub();
  // The server as a whole starts SERVING, as with gRPC's own service.
  CHECK(check(*stub, "") == serving);
  server.health.set_serving("", false);
  CHECK(check(*stub, "") == not_serving);
  server.health.set_serving("", true);
  CHECK(check(*stub, "") == serving);
  CHECK(check(*stub, "x") == -grpc::StatusCode::NOT_FOUND);
  server.health.set_serving("prism.v1.KeyValue", false);
  CHECK(check(*stub, "prism.v1.KeyValue") == not_serving);
  server.health.set_serving("prism.v1.KeyValue", true);
  CHECK(check(*stub, "prism.v1.KeyValue") == serving);
  // More calls than waiting call slots, each answered.
  for (int i = 0; i < 20; ++i)
    REQUIRE(check(*stub, "prism.v1.KeyValue") == serving);
}

TEST_CASE("Watch sends the status at once, then each change", "[health]") {
  health_server server;
  auto stub = server.stub();
  server.health.set_serving("prism.v1.KeyValue", true);
  watch_stream known{*stub, "prism.v1.KeyValue"};
  CHECK(known.next() == serving);
  std::thread other{[&] {
    server.health.set_serving("prism.v1.KeyValue", false);
  }};
  other.join();
  CHECK(known.next() == not_serving);

  // A name without a status, then with one.
  watch_stream unknown{*stub, "prism.v1.PubSub"};
  CHECK(unknown.next() == service_unknown);
  // A change to another name, or to the same status, sends nothing: the
  // next message is the one after them.
  server.health.set_serving("prism.v1.KeyValue", true);
  server.health.set_serving("prism.v1.KeyValue", true);
  std::thread setter{[&] {
    server.health.set_serving("prism.v1.PubSub", true);
  }};
  setter.join();
  CHECK(unknown.next() == serving);
  CHECK(known.next() == serving);

  // Several streams on one name all follow it.
  std::vector<std::unique_ptr<watch_stream>> streams;
  for (int i = 0; i < 5; ++i) {
    streams.push_back(std::make_unique<watch_stream>(*stub, ""));
    REQUIRE(streams.back()->next() == serving);
  }
  server.health.set_serving("", false);
  for (auto& stream : streams)
    CHECK(stream->next() == not_serving);
}

TEST_CASE("A Watch stream under rapid changes never repeats a status and "
          "ends on the latest",
          "[health]") {
  health_server server;
  auto stub = server.stub();
  watch_stream stream{*stub, "flappy"};
  REQUIRE(stream.next() == service_unknown);
  // Another thread flips the status until the client has read this many
  // messages, so that changes keep coming while writes are in flight.
  constexpr int wanted = 200;
  std::atomic<int> messages{0};
  std::atomic<int64_t> changes{0};
  std::thread flapper{[&] {
    auto give_up = std::chrono::steady_clock::now() + wait_max / 2;
    for (bool on = true;
         messages.load() < wanted && std::chrono::steady_clock::now() < give_up;
         on = !on) {
      server.health.set_serving("flappy", on);
      ++changes;
    }
  }};
  int previous = service_unknown;
  for (int status; (status = stream.next()) != -1; previous = status) {
    CHECK(status != previous);
    CHECK((status == serving || status == not_serving));
    if (++messages == wanted) {
      // Ends the stream once it has sent the last status: NOT_SERVING,
      // then CANCELLED.
      flapper.join();
      server.health.shutdown();
    }
  }
  if (flapper.joinable())
    flapper.join();
  CHECK(messages.load() >= wanted);
  CHECK(previous == not_serving);
  CHECK(stream.finish() == grpc::StatusCode::CANCELLED);
  // Changes that came while a write was in flight went out as one.
  INFO("changes: " << changes.load() << ", messages: " << messages.load());
  CHECK(messages.load() <= changes.load() + 1);
}

TEST_CASE("A Watch stream ends when its client cancels it", "[health]") {
  health_server server;
  auto stub = server.stub();
  {
    watch_stream stream{*stub, ""};
    REQUIRE(stream.next() == serving);
    stream.cancel();
    CHECK(stream.next() == -1);
    CHECK(stream.finish() == grpc::StatusCode::CANCELLED);
  }
  // Changes after the cancel reach no one and break nothing.
  server.health.set_serving("", false);
  server.health.set_serving("", true);
  CHECK(check(*stub, "") == serving);
  // With no stream open on the server, its Shutdown has nothing to wait
  // for: it returns long before its deadline.
  auto took = server.stop(deadline());
  CHECK(took < wait_max / 2);
}

TEST_CASE("shutdown() ends open and new Watch streams, and the server's "
          "Shutdown need not wait for them",
          "[health]") {
  health_server server;
  auto stub = server.stub();
  server.health.set_serving("prism.v1.KeyValue", true);
  watch_stream whole{*stub, ""};
  watch_stream named{*stub, "prism.v1.KeyValue"};
  REQUIRE(whole.next() == serving);
  REQUIRE(named.next() == serving);
  server.health.shutdown();
  CHECK(whole.next() == not_serving);
  CHECK(whole.next() == -1);
  CHECK(whole.finish() == grpc::StatusCode::CANCELLED);
  CHECK(named.next() == not_serving);
  CHECK(named.next() == -1);
  CHECK(named.finish() == grpc::StatusCode::CANCELLED);
  // Statuses stay NOT_SERVING; a new stream gets that and ends.
  server.health.set_serving("", true);
  CHECK(check(*stub, "") == not_serving);
  watch_stream late{*stub, "prism.v1.KeyValue"};
  CHECK(late.next() == not_serving);
  CHECK(late.next() == -1);
  CHECK(late.finish() == grpc::StatusCode::CANCELLED);
  auto took = server.stop(deadline());
  CHECK(took < wait_max / 2);
}

TEST_CASE("The server's Shutdown ends open Watch streams", "[health]") {
  std::vector<std::unique_ptr<watch_stream>> streams;
  {
    health_server server;
    auto stub = server.stub();
    for (int i = 0; i < 6; ++i) {
      streams.push_back(
        std::make_unique<watch_stream>(*stub, i % 2 ? "" : "unknown"));
      REQUIRE(streams.back()->next() == (i % 2 ? serving : service_unknown));
    }
    // A change racing the shutdown from another thread: whatever it
    // starts, it starts before close(), or not at all.
    std::atomic<bool> stop_flapping{false};
    std::thread flapper{[&] {
      for (bool on = false; !stop_flapping.load(); on = !on)
        server.health.set_serving("", on);
    }};
    // The streams hold the server's Shutdown until its deadline, which
    // cancels them.
    server.stop(std::chrono::system_clock::now() + 200ms);
    // After close(), changes start nothing on the queues.
    server.health.set_serving("unknown", true);
    stop_flapping = true;
    flapper.join();
  }
  for (auto& stream : streams) {
    int status;
    while ((status = stream->next()) != -1)
      CHECK((status == serving || status == not_serving));
    // Cancelled by the server, not ended by the client's deadline.
    auto code = stream->finish();
    CHECK(code != grpc::StatusCode::OK);
    CHECK(code != grpc::StatusCode::DEADLINE_EXCEEDED);
  }
}
