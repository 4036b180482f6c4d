// PubSub backends failing under the real binary: a Kafka broker going down
// and its partition's leadership moving while clients publish to a durable
// subscription, and the whole NATS server stopping and coming back under
// one. Every publish the gateway acknowledged reaches the durable
// subscriber; none is lost silently.

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>
#include <fmt/format.h>

#include "admin_view.hpp"
#include "gateway_process.hpp"
#include "pubsub_client.hpp"
#include "test_servers.hpp"

using namespace prism::test;
using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;

namespace {

const char* ns = "events";

std::string gateway_config(const std::string& bus) {
  return fmt::format(R"(
audit:
  path: {{dir}}/audit.log
backends:
  bus: {}
namespaces:
  events: {{backend: bus, pattern: pubsub}}
)",
                     bus);
}

/// One client publishing "n<i>" to a topic in a loop until stopped, keeping
/// what was acknowledged and how each failure ended. No Catch2 macro runs on
/// its thread.
class publisher {
public:
  struct failure {
    grpc::StatusCode code;
    std::string message;
    std::chrono::milliseconds took;
  };

  publisher(const gateway_process& gw, std::string topic,
            std::chrono::milliseconds timeout)
    : stub_(pubsub_stub(gw)), topic_(std::move(topic)), timeout_(timeout) {
    thread_ = std::thread([this] { run(); });
  }
  ~publisher() { stop(); }

  void stop() {
    stop_ = true;
    if (thread_.joinable())
      thread_.join();
  }

  size_t acknowledged_count() {
    std::lock_guard<std::mutex> guard{mutex_};
    return acknowledged_.size();
  }
  std::vector<std::string> acknowledged() {
    std::lock_guard<std::mutex> guard{mutex_};
    return acknowledged_;
  }
  std::vector<failure> failures() {
    std::lock_guard<std::mutex> guard{mutex_};
    return failures_;
  }

private:
  void run() {
    for (int i = 0; !stop_; ++i) {
      auto payload = "n" + std::to_string(i);
      std::string id;
      auto began = steady::now();
      auto st = try_publish(*stub_, ns, topic_, payload, {}, id, timeout_);
      auto took = std::chrono::duration_cast<std::chrono::milliseconds>(
        steady::now() - began);
      std::lock_guard<std::mutex> guard{mutex_};
      if (st.ok())
        acknowledged_.push_back(payload);
      else
        failures_.push_back({st.error_code(), st.error_message(), took});
    }
  }

  pubsub_stub_ptr stub_;
  std::string topic_;
  std::chrono::milliseconds timeout_;
  std::atomic<bool> stop_{false};
  std::mutex mutex_;
  std::vector<std::string> acknowledged_;
  std::vector<failure> failures_;
  std::thread thread_;
};

/// Waits until `pub` has `more` acknowledged publishes beyond `from`.
bool acknowledged_beyond(publisher& pub, size_t from, size_t more,
                         std::chrono::milliseconds timeout) {
  return eventually([&] { return pub.acknowledged_count() >= from + more; },
                    timeout);
}

/// Every publish that failed said UNAVAILABLE or DEADLINE_EXCEEDED within
/// its own deadline (3 s) and some scheduling slack: none hung.
void expect_fast_failures(publisher& pub) {
  for (auto& f : pub.failures()) {
    INFO(static_cast<int>(f.code)
         << " after " << f.took.count() << " ms: " << f.message);
    CHECK((f.code == grpc::StatusCode::UNAVAILABLE
           || f.code == grpc::StatusCode::DEADLINE_EXCEEDED));
    CHECK(f.took < 4s);
  }
}

/// Reads the durable stream until it has seen every acknowledged payload
/// (duplicates allowed: at least once), and checks nothing acknowledged is
/// missing.
void expect_all_received(subscriber& durable,
                         const std::vector<std::string>& acknowledged) {
  std::set<std::string> missing(acknowledged.begin(), acknowledged.end());
  std::vector<prism::v1::Message> got;
  size_t total = 0;
  while (!missing.empty()) {
    got.clear();
    durable.drain_up_to(1, got);
    if (got.empty())
      break; // the stream ended (its deadline): what is missing is reported
    ++total;
    missing.erase(got[0].payload());
  }
  INFO("received " << total << " messages; " << missing.size() << " of "
                   << acknowledged.size()
                   << " acknowledged publishes missing, e.g. "
                   << (missing.empty() ? std::string{"-"} : *missing.begin()));
  CHECK(missing.empty());
}

} // namespace

TEST_CASE("Kafka: a broker going down and leadership moving while clients "
          "publish loses no acknowledged message, and failures are fast",
          "[e2e][pubsub][kafka][faults]") {
  auto prefix = "e2e" + unique_token() + ".";
  gateway_process gw{gateway_config(
    fmt::format("{{type: kafka, brokers: \"{}\", topic_prefix: \"{}\", "
                "unavailable_after_ms: 60000}}",
                require_env("PRISM_TEST_KAFKA_BOOTSTRAP"), prefix))};
  gw.start();
  auto topic = prefix + ns + ".pay";
  REQUIRE(kafka_control("topic " + topic + " 1") == "ok");
  REQUIRE(kafka_control("leader " + topic + " 0 1") == "ok");
  subscriber durable{gw, ns, "pay", "ledger", prism::v1::LATEST, 120s};

  // Restore the cluster whatever happens below.
  struct restore {
    ~restore() {
      kafka_control("rtt 1 0");
      kafka_control("up 1");
    }
  } restore_cluster;

  publisher pub{gw, "pay", 3s};
  REQUIRE(acknowledged_beyond(pub, 0, 20, 30s));
  // The leader slows down, then goes down with publishes in flight; its
  // partition's leadership moves to broker 2.
  REQUIRE(kafka_control("rtt 1 300") == "ok");
  REQUIRE(kafka_control("down 1") == "ok");
  auto at_down = pub.acknowledged_count();
  REQUIRE(kafka_control("leader " + topic + " 0 2") == "ok");
  // Publishing goes on through the new leader.
  REQUIRE(acknowledged_beyond(pub, at_down, 20, 30s));
  REQUIRE(kafka_control("up 1") == "ok");
  REQUIRE(kafka_control("rtt 1 0") == "ok");
  pub.stop();

  expect_fast_failures(pub);
  expect_all_received(durable, pub.acknowledged());
}

TEST_CASE("NATS: the server stopping and coming back under a durable "
          "subscription: publishes fail fast meanwhile, the stream resumes by "
          "itself, and no acknowledged message is lost",
          "[e2e][pubsub][nats][faults]") {
  private_nats nats;
  auto token = unique_token();
  gateway_process gw{gateway_config(fmt::format(
    "{{type: nats, url: \"{}\", subject_prefix: f{}, stream_prefix: F{}_, "
    "unavailable_after_ms: 60000}}",
    nats.url(), token, token))};
  gw.start();
  subscriber durable{gw, ns, "pay", "ledger", prism::v1::LATEST, 120s};

  publisher pub{gw, "pay", 3s};
  REQUIRE(acknowledged_beyond(pub, 0, 20, 30s));
  nats.stop_server();
  // While it is down, publishes are refused (and not hanging): wait for a
  // few refusals.
  CHECK(eventually([&] { return pub.failures().size() >= 3; }, 30s));
  auto at_restart = pub.acknowledged_count();
  nats.start_server();
  REQUIRE(acknowledged_beyond(pub, at_restart, 20, 30s));
  pub.stop();

  expect_fast_failures(pub);
  // The same stream (not a new one) carries on with everything acknowledged.
  expect_all_received(durable, pub.acknowledged());
}
