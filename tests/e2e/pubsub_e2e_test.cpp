// The PubSub API against the real binary on the memory backend: a shared
// subscription's name resuming, errors, the stream ending on SIGTERM, and
// the CLI. The cases every backend shares are in
// pubsub_backends_e2e_test.cpp.

#include <atomic>
#include <chrono>
#include <csignal>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>
#include <grpcpp/grpcpp.h>

#include "gateway_process.hpp"
#include "pubsub_client.hpp"

using namespace prism::test;
using namespace std::chrono_literals;

namespace {

const char* pubsub_config = R"(
audit:
  path: {dir}/audit.log
backends:
  mem: {type: memory}
namespaces:
  events: {backend: mem, pattern: pubsub}
  cache: {backend: mem}
)";

/// This file's namespace.
const char* ns = "events";

} // namespace

TEST_CASE("PubSub: a shared subscription splits the messages, its name "
          "resumes where it left off",
          "[e2e][pubsub]") {
  gateway_process gw{pubsub_config};
  gw.start();
  auto stub = pubsub_stub(gw);
  auto a = std::make_unique<subscriber>(gw, ns, "jobs", "workers");
  auto b = std::make_unique<subscriber>(gw, ns, "jobs", "workers");
  for (int i = 0; i < 40; ++i)
    publish(*stub, ns, "jobs", "j" + std::to_string(i));
  // Round robin among members with room: 20 each.
  auto got_a = payloads(a->read(20));
  auto got_b = payloads(b->read(20));
  std::set<std::string> all(got_a.begin(), got_a.end());
  all.insert(got_b.begin(), got_b.end());
  CHECK(all.size() == 40);
  a->cancel();
  b->cancel();
  a.reset();
  b.reset();
  for (int i = 40; i < 50; ++i)
    publish(*stub, ns, "jobs", "j" + std::to_string(i));
  subscriber c{gw, ns, "jobs", "workers"};
  auto rest = payloads(c.read(10));
  std::vector<std::string> expected;
  for (int i = 40; i < 50; ++i)
    expected.push_back("j" + std::to_string(i));
  CHECK(rest == expected);
}

TEST_CASE("PubSub: wrong requests get clear errors", "[e2e][pubsub]") {
  gateway_process gw{pubsub_config};
  gw.start();
  auto stub = pubsub_stub(gw);
  auto call = [&](const std::string& ns, const std::string& topic) {
    grpc::ClientContext ctx;
    prism::v1::PublishRequest req;
    req.set_namespace_(ns);
    req.set_topic(topic);
    prism::v1::PublishResponse resp;
    return stub->Publish(&ctx, req, &resp);
  };
  auto kv_ns = call("cache", "t");
  CHECK(kv_ns.error_code() == grpc::StatusCode::FAILED_PRECONDITION);
  CHECK_THAT(kv_ns.error_message(), Catch::Contains("KeyValue API"));
  auto unknown = call("nope", "t");
  CHECK(unknown.error_code() == grpc::StatusCode::NOT_FOUND);
  auto bad = call("events", "no spaces");
  CHECK(bad.error_code() == grpc::StatusCode::INVALID_ARGUMENT);
  // A Subscribe that cannot be served ends its stream with the reason.
  grpc::ClientContext ctx;
  prism::v1::SubscribeRequest req;
  req.set_namespace_("cache");
  req.set_topic("t");
  auto reader = stub->Subscribe(&ctx, req);
  prism::v1::Message m;
  CHECK_FALSE(reader->Read(&m));
  auto st = reader->Finish();
  CHECK(st.error_code() == grpc::StatusCode::FAILED_PRECONDITION);
  // A start position the API does not define is refused, not read as LATEST.
  grpc::ClientContext odd_ctx;
  odd_ctx.set_deadline(std::chrono::system_clock::now()
                       + std::chrono::seconds(10));
  prism::v1::SubscribeRequest odd;
  odd.set_namespace_("events");
  odd.set_topic("t");
  odd.set_start(static_cast<prism::v1::StartPosition>(7));
  auto odd_reader = stub->Subscribe(&odd_ctx, odd);
  CHECK_FALSE(odd_reader->Read(&m));
  auto odd_status = odd_reader->Finish();
  CHECK(odd_status.error_code() == grpc::StatusCode::INVALID_ARGUMENT);
  CHECK(odd_status.error_message()
        == "start is neither LATEST (0) nor EARLIEST (1)");
}

TEST_CASE("PubSub: SIGTERM ends open streams with UNAVAILABLE and the "
          "gateway exits 0",
          "[e2e][pubsub]") {
  gateway_process gw{pubsub_config};
  gw.start();
  subscriber sub{gw, ns, "t"};
  auto stub = pubsub_stub(gw);
  publish(*stub, ns, "t", "before");
  CHECK(payloads(sub.read(1)) == std::vector<std::string>{"before"});
  gw.signal(SIGTERM);
  std::vector<prism::v1::Message> rest;
  auto st = sub.drain(rest);
  CHECK(rest.empty());
  CHECK(st.error_code() == grpc::StatusCode::UNAVAILABLE);
  auto ended = gw.wait_for_exit(20s);
  CHECK(ended.exited);
  CHECK(ended.code == 0);
}

TEST_CASE("prism pubsub subscribe ends with exit 0 on SIGINT and on SIGTERM",
          "[e2e][pubsub][cli]") {
  gateway_process gw{pubsub_config};
  gw.start();
  auto target = "127.0.0.1:" + std::to_string(gw.grpc_port());
  auto published = run_prism(
    {"pubsub", "--target", target, "publish", "events", "signals", "first"});
  REQUIRE(published.status.code == 0);
  for (int sig : {SIGINT, SIGTERM, SIGINT, SIGTERM}) {
    INFO("signal " << sig);
    prism_child sub({"pubsub", "--target", target, "subscribe", "events",
                     "signals", "--earliest"});
    // Subscribed once the retained message is printed.
    auto until = std::chrono::steady_clock::now() + 10s;
    while (sub.out().find("\"payload\":\"first\"") == std::string::npos) {
      INFO("stderr: " << sub.err());
      REQUIRE(std::chrono::steady_clock::now() < until);
      std::this_thread::sleep_for(20ms);
    }
    sub.signal(sig);
    exit_status ended;
    INFO("stderr: " << sub.err());
    REQUIRE(sub.wait(10s, ended));
    CHECK(ended.exited);
    CHECK(ended.code == 0);
  }
}

TEST_CASE("prism pubsub: publish prints the id, subscribe prints JSON lines",
          "[e2e][pubsub][cli]") {
  gateway_process gw{pubsub_config};
  gw.start();
  auto target = "127.0.0.1:" + std::to_string(gw.grpc_port());
  auto published = run_prism({"pubsub", "--target", target, "publish", "events",
                              "greetings", "hello", "-m", "lang=en"});
  INFO(published.err);
  REQUIRE(published.status.exited);
  REQUIRE(published.status.code == 0);
  auto id = published.out.substr(0, published.out.find('\n'));
  CHECK_FALSE(id.empty());
  // The message is retained, so a subscriber from EARLIEST finds it.
  auto got = run_prism({"pubsub", "--target", target, "subscribe", "events",
                        "greetings", "--earliest", "-n", "1"});
  INFO(got.err);
  REQUIRE(got.status.code == 0);
  CHECK_THAT(got.out, Catch::Contains("\"payload\":\"hello\""));
  CHECK_THAT(got.out, Catch::Contains("\"lang\":\"en\""));
  CHECK_THAT(got.out, Catch::Contains("\"message_id\":\"" + id + "\""));
  auto wrong
    = run_prism({"pubsub", "--target", target, "publish", "cache", "t", "x"});
  CHECK(wrong.status.code == 1);
  CHECK_THAT(wrong.err, Catch::Contains("FAILED_PRECONDITION"));
  auto bad = run_prism({"pubsub", "--target", target, "publish", "events", "t",
                        "x", "-m", "nokey"});
  CHECK(bad.status.code != 0);
  CHECK_THAT(bad.err, Catch::Contains("--metadata"));
}
