// The PubSub API against the real binary, the same cases on each PubSub
// backend: memory, Kafka (the local mock cluster) and NATS with JetStream,
// the last two started by scripts/test-servers (PRISM_TEST_KAFKA_BOOTSTRAP,
// PRISM_TEST_NATS_URL). Every case gets its own topic prefix (Kafka) or
// subject and stream prefix (NATS), so runs against the same servers never
// see each other's messages.

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <map>
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

namespace {

const char* ns = "events";

/// A name no other case or run against the same servers uses.

/// One backend under test: the gateway config with namespace "events" on
/// it (plus `extra` settings of the namespace), and its topics.
struct backend_under_test {
  std::string name;
  std::string yaml;
  std::string kafka_prefix;

  backend_under_test(std::string backend, const std::string& extra = {})
    : name(std::move(backend)) {
    std::string bus;
    auto token = unique_token();
    if (name == "memory") {
      bus = "{type: memory}";
    } else if (name == "kafka") {
      kafka_prefix = "e2e" + token + ".";
      // The local Kafka waits session.timeout.ms - 1 s for the members of
      // a rebalance, even after a clean leave (librdkafka's default is 45 s).
      bus = fmt::format("{{type: kafka, brokers: \"{}\", topic_prefix: "
                        "\"{}\", unavailable_after_ms: 60000, properties: "
                        "{{session.timeout.ms: \"6000\"}}}}",
                        require_env("PRISM_TEST_KAFKA_BOOTSTRAP"),
                        kafka_prefix);
    } else {
      // "nats": with JetStream; "nats-core": core NATS only.
      bus = fmt::format("{{type: nats, url: \"{}\", subject_prefix: e2e{}, "
                        "stream_prefix: E2E{}_, unavailable_after_ms: 60000, "
                        "jetstream: {}}}",
                        require_env("PRISM_TEST_NATS_URL"), token, token,
                        name == "nats" ? "true" : "false");
    }
    yaml = fmt::format(R"(
audit:
  path: {{dir}}/audit.log
backends:
  bus: {}
namespaces:
  events: {{backend: bus, pattern: pubsub{}}}
)",
                       bus, extra);
  }

  /// Makes `topic` ready for a case that checks order: on Kafka one
  /// partition (the local Kafka creates topics with 4 on first use, whatever
  /// the gateway asks; Kafka orders per partition).
  void topic(const std::string& topic) const {
    if (name == "kafka")
      REQUIRE(kafka_control("topic " + kafka_prefix + ns + "." + topic + " 1")
              == "ok");
  }
};

/// Reads a stream on its own thread until it is cancelled.
class background_reader {
public:
  background_reader(const gateway_process& gw, const std::string& topic,
                    const std::string& name)
    : sub_(gw, ns, topic, name), thread_([this] {
        std::vector<prism::v1::Message> got;
        // One at a time, so that received() counts what the client has.
        for (size_t want = 1;; ++want) {
          sub_.drain_up_to(want, got);
          if (got.size() < want)
            break;
          received_ = got.size();
        }
        sub_.drain(got);
        std::lock_guard<std::mutex> guard{mutex_};
        done_ = true;
        final_ = std::move(got);
      }) {}
  ~background_reader() { stop(); }

  /// Messages the client has read so far.
  size_t received() const { return received_; }

  /// Cancels the stream and returns everything it read.
  std::vector<std::string> stop() {
    if (thread_.joinable()) {
      sub_.context().TryCancel();
      thread_.join();
    }
    std::lock_guard<std::mutex> guard{mutex_};
    return payloads(final_);
  }

private:
  subscriber sub_;
  std::mutex mutex_;
  bool done_ = false;
  std::atomic<size_t> received_{0};
  std::vector<prism::v1::Message> final_;
  std::thread thread_;
};

/// `publishers` threads each publish `per_publisher` messages "p<i>-<n>" to
/// `topic`; returns the first failure of each (empty when none).
std::vector<std::string> publish_concurrently(gateway_process& gw,
                                              const std::string& topic,
                                              int publishers,
                                              int per_publisher) {
  std::vector<std::string> failures(static_cast<size_t>(publishers));
  std::vector<std::thread> threads;
  for (int p = 0; p < publishers; ++p)
    threads.emplace_back([&gw, &failures, &topic, p, per_publisher] {
      // Connected first: these cases are about delivery, and a new channel's
      // first TCP connect can fail in the client when many start at once on
      // a loaded machine (seen: connect() reporting ENOENT), which gRPC
      // reports to a fail-fast call as UNAVAILABLE before the gateway ever
      // sees the connection. The channel retries the connect by itself.
      auto channel = gw.channel();
      if (!channel->WaitForConnected(std::chrono::system_clock::now() + 10s)) {
        failures[static_cast<size_t>(p)]
          = "the channel did not connect within 10 s";
        return;
      }
      auto stub = prism::v1::PubSub::NewStub(channel);
      for (int i = 0; i < per_publisher; ++i) {
        std::string id;
        auto st = try_publish(*stub, ns, topic,
                              "p" + std::to_string(p) + "-" + std::to_string(i),
                              {}, id);
        if (!st.ok() || id.empty()) {
          failures[static_cast<size_t>(p)] = fmt::format(
            "publish {}: code {} {}", i, static_cast<int>(st.error_code()),
            st.error_message());
          return;
        }
      }
    });
  for (auto& t : threads)
    t.join();
  return failures;
}

// --- the cases, each run on every backend ------------------------------------

void round_trip(const std::string& backend) {
  backend_under_test bus{backend};
  gateway_process gw{bus.yaml};
  gw.start();
  bus.topic("orders");
  subscriber sub{gw, ns, "orders"};
  auto stub = pubsub_stub(gw);
  std::string binary("\0\x01\xfe\xff", 4);
  auto id = publish(*stub, ns, "orders", binary, {{"source", "e2e"}});
  CHECK_FALSE(id.empty());
  auto first = sub.read(1)[0];
  CHECK(first.topic() == "orders");
  CHECK(first.payload() == binary);
  REQUIRE(first.metadata().count("source") == 1);
  CHECK(first.metadata().at("source") == "e2e");
  CHECK(first.message_id() == id);
  auto now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                  std::chrono::system_clock::now().time_since_epoch())
                  .count();
  CHECK(first.publish_time_ms() > now_ms - 60000);
  CHECK(first.publish_time_ms() <= now_ms + 1000);
  for (int i = 0; i < 100; ++i)
    publish(*stub, ns, "orders", "m" + std::to_string(i));
  CHECK(payloads(sub.read(100)) == numbered("m", 100));
  auto st = sub.cancel();
  CHECK(st.error_code() == grpc::StatusCode::CANCELLED);
  // Unsubscribed: the gateway lets go of the stream's subscription.
  CHECK(eventually(
    [&] {
      return find_actor(actor_list(gw), "subscription", "events/orders")
        .is_null();
    },
    10s));
}

void fan_out(const std::string& backend) {
  backend_under_test bus{backend};
  gateway_process gw{bus.yaml};
  gw.start();
  bus.topic("fan");
  std::vector<std::unique_ptr<subscriber>> subs;
  for (int i = 0; i < 5; ++i)
    subs.push_back(std::make_unique<subscriber>(gw, ns, "fan"));
  auto failures = publish_concurrently(gw, "fan", 10, 20);
  for (auto& f : failures)
    REQUIRE(f == "");
  for (auto& s : subs)
    check_complete_and_ordered(payloads(s->read(200)), 200);
}

void durable_concurrent(const std::string& backend) {
  backend_under_test bus{backend};
  gateway_process gw{bus.yaml};
  gw.start();
  bus.topic("ledger");
  subscriber durable{gw, ns, "ledger", "audit"};
  auto failures = publish_concurrently(gw, "ledger", 10, 20);
  for (auto& f : failures)
    REQUIRE(f == "");
  check_complete_and_ordered(payloads(durable.read(200)), 200);
}

/// prism_pubsub_lag of subscription "resume" to topic "jobs", or -1 when
/// /metrics has no such series.
double resume_lag(gateway_process& gw) {
  return metric_value(
    scrape_metrics(gw), "prism_pubsub_lag",
    {{"namespace", ns}, {"subscription", "resume"}, {"topic", "jobs"}});
}

void durable_resume(const std::string& backend) {
  backend_under_test bus{backend};
  gateway_process gw{bus.yaml};
  gw.start();
  bus.topic("jobs");
  auto stub = pubsub_stub(gw);
  std::vector<std::string> seen;
  {
    subscriber first{gw, ns, "jobs", "resume"};
    for (int i = 0; i < 20; ++i)
      publish(*stub, ns, "jobs", "j" + std::to_string(i));
    seen = payloads(first.read(20));
    CHECK(seen == numbered("j", 20));
    // Everything written to the client: consumed, no lag.
    CHECK(eventually([&] { return resume_lag(gw) == 0; }, 15s));
    first.cancel();
  }
  // Published while the subscription has no member: kept for it. The memory
  // broker still measures the subscription's lag; a Kafka or NATS
  // subscription's series goes with its last stream in the gateway.
  for (int i = 20; i < 30; ++i)
    publish(*stub, ns, "jobs", "j" + std::to_string(i));
  double expected_lag = backend == "memory" ? 10 : -1;
  CHECK(eventually([&] { return resume_lag(gw) == expected_lag; }, 15s));
  subscriber again{gw, ns, "jobs", "resume"};
  // At least once: a message whose write was still in flight when the first
  // stream went away may come again; nothing after it is skipped.
  std::vector<std::string> rest;
  std::set<std::string> before(seen.begin(), seen.end());
  while (rest.size() < 10) {
    auto m = again.read(1)[0].payload();
    if (before.count(m) && rest.empty())
      continue;
    rest.push_back(m);
  }
  std::vector<std::string> expected;
  for (int i = 20; i < 30; ++i)
    expected.push_back("j" + std::to_string(i));
  CHECK(rest == expected);
  CHECK(eventually([&] { return resume_lag(gw) == 0; }, 15s));
}

void shared_subscription(const std::string& backend) {
  backend_under_test bus{backend, ", subscription_buffer: 8"};
  gateway_process gw{bus.yaml};
  gw.start();
  bus.topic("work");
  auto stub = pubsub_stub(gw);
  auto a = std::make_unique<background_reader>(gw, "work", "workers");
  auto b = std::make_unique<background_reader>(gw, "work", "workers");
  const int n = 200;
  for (int i = 0; i < n; ++i)
    publish(*stub, ns, "work", "w" + std::to_string(i));
  std::vector<std::string> got_a, got_b;
  // Read by one member or the other, each exactly once. Stop the readers
  // once the two clients hold as many messages as were published (what a
  // subscription actor has taken may still be on its way to the client).
  CHECK(eventually(
    [&] { return a->received() + b->received() >= static_cast<size_t>(n); },
    30s));
  got_a = a->stop();
  got_b = b->stop();
  INFO("a got " << got_a.size() << ", b got " << got_b.size());
  std::set<std::string> unique(got_a.begin(), got_a.end());
  unique.insert(got_b.begin(), got_b.end());
  CHECK(unique.size() == static_cast<size_t>(n));
  CHECK(got_a.size() + got_b.size() == static_cast<size_t>(n));
  CHECK_FALSE(got_a.empty());
  CHECK_FALSE(got_b.empty());
}

void slow_subscriber(const std::string& backend) {
  backend_under_test bus{backend, ", subscription_buffer: 128"};
  gateway_process gw{bus.yaml};
  gw.start();
  bus.topic("feed");
  // The slow client never reads until the end; the fast one reads all.
  // 1000 messages of 16 KiB are more than HTTP/2 flow control lets the
  // transport hold for a stream that is not read (a few MiB) plus the
  // buffer, so the slow stream's subscription has to drop. The buffer holds
  // a whole fetch of a Kafka consumer (1 MiB), which arrives at once.
  subscriber slow{gw, ns, "feed"};
  subscriber fast{gw, ns, "feed"};
  std::string big(16384, 'x');
  auto stub = pubsub_stub(gw);
  const int n = 1000;
  // The fast reader runs on its own thread and uses no Catch2 macro.
  std::vector<std::string> fast_got;
  std::thread reader([&] {
    std::vector<prism::v1::Message> got;
    fast.drain_up_to(static_cast<size_t>(n), got);
    for (auto& m : got)
      fast_got.push_back(m.payload().substr(0, m.payload().find(':')));
  });
  for (int i = 0; i < n; ++i)
    publish(*stub, ns, "feed", std::to_string(i) + ":" + big);
  reader.join();
  INFO("the fast subscriber got " << fast_got.size() << " of " << n);
  CHECK(fast_got == numbered("", n));
  // Both subscriptions are handed every message (the slow one's backend
  // consumer may still be catching up), and the slow stream's never held
  // more than its buffer: what did not fit was dropped and counted.
  std::vector<nlohmann::json> subs;
  bool all_handed = eventually(
    [&] {
      subs.clear();
      for (auto& actor : actor_list(gw))
        if (actor["kind"] == "subscription" && actor["name"] == "events/feed")
          subs.push_back(actor);
      return subs.size() == 2
        && std::all_of(subs.begin(), subs.end(), [&](auto& s) {
               return s["admitted"].template get<uint64_t>()
                 == static_cast<uint64_t>(n);
             });
    },
    30s);
  CHECK(all_handed);
  REQUIRE(subs.size() == 2);
  for (auto& s : subs)
    CHECK(s["mailbox_high_water"].get<uint64_t>() <= 128);
  uint64_t dropped
    = subs[0]["rejected"].get<uint64_t>() + subs[1]["rejected"].get<uint64_t>();
  INFO("dropped for the slow subscriber: " << dropped);
  CHECK(dropped > 0);
  // /metrics says the same.
  auto metrics = http_get(gw.admin_port(), "/metrics").body;
  CHECK_THAT(metrics,
             Catch::Contains("prism_pubsub_streams{namespace=\"events\"} 2\n"));
  CHECK_THAT(metrics,
             Catch::Contains("prism_pubsub_dropped{namespace=\"events\"} "
                             + std::to_string(dropped) + "\n"));
  slow.cancel();
}

} // namespace

#define PUBSUB_ON_EACH_BACKEND(title, fn)                                      \
  TEST_CASE("PubSub on memory: " title, "[e2e][pubsub][memory]") {             \
    fn("memory");                                                              \
  }                                                                            \
  TEST_CASE("PubSub on Kafka: " title, "[e2e][pubsub][kafka]") {               \
    fn("kafka");                                                               \
  }                                                                            \
  TEST_CASE("PubSub on NATS: " title, "[e2e][pubsub][nats]") {                 \
    fn("nats");                                                                \
  }

PUBSUB_ON_EACH_BACKEND("publish and subscribe with metadata, ids and binary "
                       "payloads, in order, cancelling unsubscribes",
                       round_trip)
PUBSUB_ON_EACH_BACKEND("fan-out to five subscribers from ten concurrent "
                       "publishers",
                       fan_out)
PUBSUB_ON_EACH_BACKEND("a durable subscriber gets every message of ten "
                       "concurrent publishers",
                       durable_concurrent)
PUBSUB_ON_EACH_BACKEND("a durable subscription resumes where it left off",
                       durable_resume)
PUBSUB_ON_EACH_BACKEND("members of a shared subscription split the messages",
                       shared_subscription)
PUBSUB_ON_EACH_BACKEND("a slow subscriber does not slow the others and holds "
                       "at most its buffer",
                       slow_subscriber)

// Core NATS keeps nothing: the cases without a durable subscription.
TEST_CASE("PubSub on core NATS: publish and subscribe with metadata, ids and "
          "binary payloads, in order, cancelling unsubscribes",
          "[e2e][pubsub][nats]") {
  round_trip("nats-core");
}
TEST_CASE("PubSub on core NATS: fan-out to five subscribers from ten "
          "concurrent publishers",
          "[e2e][pubsub][nats]") {
  fan_out("nats-core");
}
TEST_CASE("PubSub on core NATS: members of a queue group split the messages",
          "[e2e][pubsub][nats]") {
  shared_subscription("nats-core");
}
TEST_CASE("PubSub on core NATS: a slow subscriber does not slow the others "
          "and holds at most its buffer",
          "[e2e][pubsub][nats]") {
  slow_subscriber("nats-core");
}
