// The Kafka driver against a real Kafka-protocol cluster: librdkafka's mock
// cluster run by prism-kafka-mock (scripts/test-servers start kafka), which
// exports PRISM_TEST_KAFKA_BOOTSTRAP and PRISM_TEST_KAFKA_CONTROL. The tests
// drive the driver directly, without actors. Callbacks run on driver
// threads and only record what they saw; every check happens on the test
// thread (Catch2's macros are not thread-safe), and every wait is for a
// condition with a deadline.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdlib>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "config/config.hpp"
#include "drivers/kafka/kafka_support.hpp"
#include "drivers/pubsub_driver.hpp"
#include "test_servers.hpp"

namespace {

using namespace std::chrono_literals;
using namespace prism;
using steady = std::chrono::steady_clock;
using drivers::pubsub_driver;

using prism::test::require_env;

/// A name no other test (or run against the same cluster) uses.
std::string unique_name(const std::string& prefix) {
  static int counter = 0;
  auto now = std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
               .count();
  return prefix + "-" + std::to_string(::getpid()) + "-" + std::to_string(now)
    + "-" + std::to_string(++counter);
}

/// Sends one command to the mock's control port; returns its answer line.
std::string control(const std::string& command) {
  return prism::test::kafka_control(command);
}

void require_control(const std::string& command) {
  INFO("control: " << command);
  REQUIRE(control(command) == "ok");
}

/// Brings every broker up again, without extra delay, however the test ends.
struct brokers_up_at_exit {
  ~brokers_up_at_exit() {
    control("up all");
    control("rtt all 0");
  }
};

// --- the driver ------------------------------------------------------------------------

constexpr int64_t publish_clock_ms = 1'700'000'000'123;

config::backend kafka_backend() {
  config::backend b;
  b.name = "kafka-test";
  b.type = config::backend_type::kafka;
  b.kafka.brokers = require_env("PRISM_TEST_KAFKA_BOOTSTRAP");
  b.kafka.topic_prefix = "prism.";
  b.kafka.properties = {
    // Notice a moved partition leader within a second.
    {"topic.metadata.refresh.interval.ms", "1000"},
    // Reconnect soon after brokers come back.
    {"reconnect.backoff.ms", "100"},
    {"reconnect.backoff.max.ms", "1000"},
    // A publish without a deadline gives up after this.
    {"message.timeout.ms", "5000"},
    // The mock waits session.timeout.ms - 1 s for members of a rebalance.
    {"session.timeout.ms", "6000"},
    {"heartbeat.interval.ms", "500"},
  };
  return b;
}

std::unique_ptr<pubsub_driver> make_driver(
  std::shared_ptr<drivers::wall_clock> clock = nullptr) {
  if (!clock)
    clock = std::make_shared<drivers::manual_clock>(publish_clock_ms);
  return drivers::make_pubsub_driver(kafka_backend(), clock);
}

/// The Kafka topic the driver uses for (ns, topic).
std::string kafka_topic(const std::string& ns, const std::string& topic) {
  return "prism." + ns + "." + topic;
}

/// Outcomes of publishes, recorded from driver threads.
class publishes {
public:
  /// Publishes and returns its index in outcomes().
  size_t publish(pubsub_driver& driver, const std::string& ns,
                 model::publish_op op, drivers::op_timeout timeout = 10s) {
    size_t index = 0;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      index = outcomes_.size();
      outcomes_.emplace_back();
      calls_.push_back(0);
    }
    driver.publish(ns, op, timeout, [this, index](model::outcome o) {
      std::lock_guard<std::mutex> lock(mutex_);
      if (++calls_[index] == 1)
        outcomes_[index] = std::move(o);
      done_.notify_all();
    });
    return index;
  }

  size_t publish(pubsub_driver& driver, const std::string& ns,
                 const std::string& topic, const std::string& payload,
                 model::metadata metadata = {},
                 drivers::op_timeout timeout = 10s) {
    return publish(driver, ns,
                   model::publish_op{topic, payload, std::move(metadata)},
                   timeout);
  }

  /// Waits until every publish so far was answered.
  bool wait_all(steady::duration timeout = 15s) {
    std::unique_lock<std::mutex> lock(mutex_);
    return done_.wait_for(lock, timeout, [this] {
      return std::all_of(outcomes_.begin(), outcomes_.end(),
                         [](const auto& o) { return o.has_value(); });
    });
  }

  model::outcome outcome(size_t index) {
    std::lock_guard<std::mutex> lock(mutex_);
    REQUIRE(outcomes_.at(index).has_value());
    return *outcomes_[index];
  }

  /// How often each completion ran (exactly once is the contract).
  std::vector<int> calls() {
    std::lock_guard<std::mutex> lock(mutex_);
    return calls_;
  }

  size_t size() {
    std::lock_guard<std::mutex> lock(mutex_);
    return outcomes_.size();
  }

private:
  std::mutex mutex_;
  std::condition_variable done_;
  std::vector<std::optional<model::outcome>> outcomes_;
  std::vector<int> calls_;
};

std::string id_of(const model::outcome& o) {
  REQUIRE(o.status.ok());
  REQUIRE(std::holds_alternative<model::publish_result>(o.value));
  return std::get<model::publish_result>(o.value).message_id;
}

/// Callbacks that run after their subscription was destroyed, across the run.
std::atomic<int> late_callbacks{0};

/// What one subscription received, recorded from driver threads.
class recorder {
public:
  pubsub_driver::subscriber_events events() {
    pubsub_driver::subscriber_events e;
    e.ready = [this] {
      check_alive();
      std::lock_guard<std::mutex> lock(mutex_);
      ++ready_calls_;
      changed_.notify_all();
    };
    e.message = [this](model::message m) {
      check_alive();
      std::lock_guard<std::mutex> lock(mutex_);
      if (ready_calls_ == 0)
        ++before_ready_;
      messages_.push_back(std::move(m));
      changed_.notify_all();
    };
    e.ended = [this](prism::status why) {
      check_alive();
      std::lock_guard<std::mutex> lock(mutex_);
      ended_.push_back(std::move(why));
      changed_.notify_all();
    };
    e.lag = [this](uint64_t n) {
      check_alive();
      std::lock_guard<std::mutex> lock(mutex_);
      lag_ = n;
      changed_.notify_all();
    };
    return e;
  }

  /// Waits until the last lag reported is `n`.
  bool wait_lag(uint64_t n, steady::duration timeout = 15s) {
    return wait([&] { return lag_ == n; }, timeout);
  }

  /// The subscription was destroyed: no callback may come any more.
  void subscription_gone() { gone_ = true; }

  /// A named subscription is ready once its group has assigned it the
  /// topic's partition. The local Kafka holds each rebalance of a group for
  /// session.timeout.ms - 1 s (5 s here), and a first join may take more
  /// than one round, so the deadline leaves room for several.
  bool wait_ready(steady::duration timeout = 60s) {
    return wait([this] { return ready_calls_ > 0 || !ended_.empty(); }, timeout)
      && ready_calls_ > 0;
  }
  bool wait_messages(size_t count, steady::duration timeout = 15s) {
    return wait([&] { return messages_.size() >= count; }, timeout);
  }
  bool wait_ended(steady::duration timeout = 15s) {
    return wait([this] { return !ended_.empty(); }, timeout);
  }

  std::vector<model::message> messages() {
    std::lock_guard<std::mutex> lock(mutex_);
    return messages_;
  }
  size_t count() {
    std::lock_guard<std::mutex> lock(mutex_);
    return messages_.size();
  }
  std::vector<prism::status> ended() {
    std::lock_guard<std::mutex> lock(mutex_);
    return ended_;
  }
  int ready_calls() {
    std::lock_guard<std::mutex> lock(mutex_);
    return ready_calls_;
  }
  int before_ready() {
    std::lock_guard<std::mutex> lock(mutex_);
    return before_ready_;
  }

private:
  template <class Predicate>
  bool wait(Predicate ready, steady::duration timeout) {
    std::unique_lock<std::mutex> lock(mutex_);
    return changed_.wait_for(lock, timeout, ready);
  }
  void check_alive() {
    if (gone_)
      ++late_callbacks;
  }

  std::mutex mutex_;
  std::condition_variable changed_;
  std::atomic<bool> gone_{false};
  int ready_calls_ = 0;
  int before_ready_ = 0;
  std::vector<model::message> messages_;
  std::vector<prism::status> ended_;
  std::optional<uint64_t> lag_;
};

/// Destroys a subscription and marks its recorder, so a late callback counts.
void unsubscribe(std::unique_ptr<pubsub_driver::subscription>& s, recorder& r) {
  s.reset();
  r.subscription_gone();
}

std::vector<std::string> payloads(const std::vector<model::message>& messages) {
  std::vector<std::string> out;
  for (const auto& m : messages)
    out.push_back(m.payload);
  return out;
}

std::vector<std::string> numbered(const std::string& prefix, int from, int to) {
  std::vector<std::string> out;
  for (int i = from; i < to; ++i)
    out.push_back(prefix + std::to_string(i));
  return out;
}

/// Waits a little for what must NOT happen (more messages than `count`):
/// the only fixed wait in this file, for a negative check.
bool stays_at(recorder& r, size_t count, steady::duration window = 700ms) {
  return !r.wait_messages(count + 1, window);
}

model::subscribe_op ephemeral(const std::string& topic,
                              model::start_position start
                              = model::start_position::latest) {
  return model::subscribe_op{topic, "", start};
}

model::subscribe_op named(const std::string& topic, const std::string& name,
                          model::start_position start
                          = model::start_position::earliest) {
  return model::subscribe_op{topic, name, start};
}

} // namespace

// --- names and tags (no cluster needed) ------------------------------------------------

TEST_CASE("kafka_driver: Kafka names and ack tags", "[kafka]") {
  namespace k = drivers::kafka;
  CHECK(k::topic_name("prism.", "shop", "orders") == "prism.shop.orders");
  CHECK(k::group_id("prism.", "shop", "orders", "billing")
        == "prism.shop.orders.billing");
  CHECK_FALSE(k::topic_name_problem(std::string(249, 'a')).has_value());
  // A name longer than Kafka's 249 characters ends in a digest of the whole:
  // stable, within the limit, and different for topics that differ only
  // past the cut.
  const std::string ns(128, 'n');
  const auto long_a = k::topic_name("prism.", ns, std::string(248, 't') + "a");
  const auto long_b = k::topic_name("prism.", ns, std::string(248, 't') + "b");
  CHECK(long_a.size() == k::topic_name_max);
  CHECK(long_b.size() == k::topic_name_max);
  CHECK(long_a != long_b);
  CHECK(long_a == k::topic_name("prism.", ns, std::string(248, 't') + "a"));
  CHECK_FALSE(k::topic_name_problem(long_a).has_value());
  CHECK(long_a.rfind("prism." + ns + ".ttt", 0) == 0);
  auto too_long = k::topic_name_problem(std::string(250, 'a'));
  REQUIRE(too_long.has_value());
  CHECK(too_long->find("249") != std::string::npos);
  CHECK(k::topic_name_problem("prism.a b.c").has_value());
  CHECK_FALSE(k::topic_name_problem("prism.A-z_0.9").has_value());

  CHECK(k::message_id(3, 42) == "3-42");
  std::vector<std::pair<int32_t, int64_t>> positions
    = {{0, 0}, {1, 7}, {k::tag_partition_max, k::tag_offset_max}};
  for (auto [partition, offset] : positions) {
    auto tag = k::make_tag(partition, offset);
    CHECK(tag != 0); // 0 is the tag of ephemeral deliveries
    auto back = k::split_tag(tag);
    CHECK(back.partition == partition);
    CHECK(back.offset == offset);
  }
  CHECK(k::split_tag(0).partition == -1);
  CHECK_THROWS_AS(k::make_tag(65536, 0), std::out_of_range);
  CHECK_THROWS_AS(k::make_tag(0, -1), std::out_of_range);
}

TEST_CASE("kafka_driver: clients assume Kafka 0.11 when a broker does not say "
          "its version, unless properties say otherwise",
          "[kafka]") {
  namespace k = drivers::kafka;
  auto fallback_of = [](const k::properties& configured) {
    rd_kafka_conf_t* conf = k::make_config({}, configured, {});
    char value[64] = {};
    size_t size = sizeof value;
    auto res = rd_kafka_conf_get(conf, "broker.version.fallback", value, &size);
    rd_kafka_conf_destroy(conf);
    REQUIRE(res == RD_KAFKA_CONF_OK);
    return std::string(value);
  };
  CHECK(fallback_of({}) == "0.11.0");
  CHECK(fallback_of({{"broker.version.fallback", "2.8.0"}}) == "2.8.0");
}

// --- publish and ephemeral subscribers -------------------------------------------------

TEST_CASE(
  "kafka_driver: a message published after an ephemeral subscriber is ready "
  "reaches it whole",
  "[kafka]") {
  auto driver = make_driver();
  auto ns = unique_name("rt");
  recorder r;
  auto sub = driver->subscribe(ns, ephemeral("orders"), r.events());
  REQUIRE(r.wait_ready());

  const std::string payload("bin\0ary\0\xff payload", 18);
  model::metadata metadata
    = {{"trace", "abc"}, {"empty", ""}, {"bin", std::string("\0x", 2)}};
  publishes p;
  auto index = p.publish(*driver, ns, "orders", payload, metadata);
  REQUIRE(p.wait_all());
  auto id = id_of(p.outcome(index));
  CHECK_FALSE(id.empty());
  CHECK(id.find('-') != std::string::npos);

  REQUIRE(r.wait_messages(1));
  auto m = r.messages().at(0);
  CHECK(m.topic == "orders");
  CHECK(m.payload == payload);
  CHECK(m.metadata == metadata);
  CHECK(m.id == id);
  CHECK(m.publish_time_ms == publish_clock_ms);
  CHECK(m.tag == 0);
  CHECK(r.before_ready() == 0);
  CHECK(r.ready_calls() == 1);
  unsubscribe(sub, r);
  CHECK(late_callbacks == 0);
}

TEST_CASE(
  "kafka_driver: an EARLIEST ephemeral subscriber sees messages published "
  "before it",
  "[kafka]") {
  auto driver = make_driver();
  auto ns = unique_name("early");
  publishes p;
  for (const auto& text : numbered("e", 0, 3))
    p.publish(*driver, ns, "log", text);
  REQUIRE(p.wait_all());
  for (size_t i = 0; i < 3; ++i)
    REQUIRE(p.outcome(i).status.ok());

  recorder r;
  auto sub = driver->subscribe(
    ns, ephemeral("log", model::start_position::earliest), r.events());
  REQUIRE(r.wait_ready());
  REQUIRE(r.wait_messages(3));
  auto seen = payloads(r.messages());
  std::sort(seen.begin(), seen.end());
  CHECK(seen == numbered("e", 0, 3));

  // A LATEST subscriber of the same topic sees none of them.
  recorder late;
  auto late_sub = driver->subscribe(ns, ephemeral("log"), late.events());
  REQUIRE(late.wait_ready());
  p.publish(*driver, ns, "log", "after");
  REQUIRE(p.wait_all());
  REQUIRE(late.wait_messages(1));
  CHECK(payloads(late.messages()) == std::vector<std::string>{"after"});
}

TEST_CASE("kafka_driver: many messages from one publisher arrive in order (one "
          "partition)",
          "[kafka]") {
  auto driver = make_driver();
  auto ns = unique_name("order");
  require_control("topic " + kafka_topic(ns, "seq") + " 1");
  recorder r;
  auto sub = driver->subscribe(ns, ephemeral("seq"), r.events());
  REQUIRE(r.wait_ready());

  const int count = 300;
  publishes p;
  for (const auto& text : numbered("m", 0, count))
    p.publish(*driver, ns, "seq", text);
  REQUIRE(p.wait_all());
  int64_t last_offset = -1;
  for (int i = 0; i < count; ++i) {
    auto id = id_of(p.outcome(static_cast<size_t>(i)));
    CHECK(id.rfind("0-", 0) == 0);
    auto offset = std::stoll(id.substr(2));
    CHECK(offset > last_offset);
    last_offset = offset;
  }
  REQUIRE(r.wait_messages(count));
  CHECK(payloads(r.messages()) == numbered("m", 0, count));
}

TEST_CASE("kafka_driver: the longest topic in the longest namespace has a "
          "Kafka topic of its own, and a character Kafka does not allow is "
          "INVALID_ARGUMENT",
          "[kafka]") {
  auto driver = make_driver();
  // 249 characters of topic in a namespace of 128: 384 with the prefix,
  // which Kafka would refuse as it is.
  auto ns = unique_name("long");
  ns += std::string(128 - ns.size(), 'n');
  const std::string topic = std::string(248, 't') + "z";
  recorder r;
  auto sub = driver->subscribe(
    ns, ephemeral(topic, model::start_position::earliest), r.events());
  REQUIRE(r.wait_ready());
  publishes p;
  auto index = p.publish(*driver, ns, topic, "long-way");
  REQUIRE(p.wait_all(5s));
  INFO(p.outcome(index).status.message);
  REQUIRE(p.outcome(index).status.ok());
  REQUIRE(r.wait_messages(1));
  CHECK(r.messages()[0].topic == topic);
  CHECK(r.messages()[0].payload == "long-way");

  // A character Kafka does not allow is refused, publish and subscribe.
  auto bad = p.publish(*driver, "ns", "a/b", "x");
  REQUIRE(p.wait_all(5s));
  CHECK(p.outcome(bad).status.code == status_code::invalid_argument);
  recorder refused;
  auto bad_sub = driver->subscribe(
    "ns", model::subscribe_op{"a/b", "", model::start_position::latest},
    refused.events());
  REQUIRE(refused.wait_ended(5s));
  REQUIRE(refused.ended().size() == 1);
  CHECK(refused.ended()[0].code == status_code::invalid_argument);
  CHECK(refused.ready_calls() == 0);
}

/// A subscription that destroys itself in its first message callback (a
/// named one acknowledges the message first).
struct self_destroying {
  std::mutex mutex;
  std::unique_ptr<pubsub_driver::subscription> handle;
  recorder seen;
  std::atomic<int> calls{0};

  pubsub_driver::subscriber_events events(bool ack) {
    auto e = seen.events();
    e.message = [this, record = e.message, ack](model::message m) {
      ++calls;
      auto tag = m.tag;
      record(std::move(m));
      std::unique_ptr<pubsub_driver::subscription> mine;
      {
        std::lock_guard<std::mutex> lock(mutex);
        mine = std::move(handle);
      }
      if (mine && ack)
        mine->ack(tag);
      mine.reset(); // the subscription whose callback this is
    };
    return e;
  }
  void keep(std::unique_ptr<pubsub_driver::subscription> h) {
    std::lock_guard<std::mutex> lock(mutex);
    handle = std::move(h);
  }
  void request(uint32_t n) {
    std::lock_guard<std::mutex> lock(mutex);
    handle->request(n);
  }
};

TEST_CASE("kafka_driver: destroying a subscription, from any thread or its own "
          "callback, stops its delivery at once",
          "[kafka]") {
  auto driver = make_driver();
  auto ns = unique_name("stop");
  recorder witness, stopped, stopped_named;
  self_destroying plain, group;
  auto witness_sub = driver->subscribe(ns, ephemeral("t"), witness.events());
  auto sub = driver->subscribe(ns, ephemeral("t"), stopped.events());
  auto named_sub
    = driver->subscribe(ns, named("t", "n"), stopped_named.events());
  plain.keep(driver->subscribe(ns, ephemeral("t"), plain.events(false)));
  group.keep(driver->subscribe(ns, named("t", "g"), group.events(true)));
  for (auto* r : {&witness, &stopped, &stopped_named, &plain.seen, &group.seen})
    REQUIRE(r->wait_ready());
  named_sub->request(1000);
  group.request(1000);

  publishes p;
  p.publish(*driver, ns, "t", "before");
  REQUIRE(p.wait_all());
  for (auto* r : {&stopped, &stopped_named, &plain.seen, &group.seen})
    REQUIRE(r->wait_messages(1));

  unsubscribe(sub, stopped);
  unsubscribe(named_sub, stopped_named);
  for (const auto& text : numbered("after", 0, 20))
    p.publish(*driver, ns, "t", text);
  REQUIRE(p.wait_all());
  REQUIRE(witness.wait_messages(21));
  CHECK(stopped.count() == 1);
  CHECK(stopped_named.count() == 1);
  CHECK(plain.seen.count() == 1);
  CHECK(group.seen.count() == 1);
  CHECK(plain.calls == 1);
  CHECK(group.calls == 1);
  CHECK(late_callbacks == 0);
}

// --- named subscriptions ---------------------------------------------------------------

TEST_CASE("kafka_driver: a named subscription delivers no more than its credit",
          "[kafka]") {
  auto driver = make_driver();
  auto ns = unique_name("credit");
  recorder r;
  auto sub = driver->subscribe(ns, named("jobs", "workers"), r.events());
  REQUIRE(r.wait_ready());

  publishes p;
  for (const auto& text : numbered("j", 0, 10))
    p.publish(*driver, ns, "jobs", text);
  REQUIRE(p.wait_all());

  // No credit yet: nothing.
  CHECK(stays_at(r, 0));
  sub->request(3);
  REQUIRE(r.wait_messages(3));
  CHECK(stays_at(r, 3));

  sub->request(7);
  REQUIRE(r.wait_messages(10));
  CHECK(stays_at(r, 10));
  auto messages = r.messages();
  std::set<std::string> seen;
  std::set<uint64_t> tags;
  for (const auto& m : messages) {
    seen.insert(m.payload);
    tags.insert(m.tag);
    CHECK(m.tag != 0);
    CHECK(m.topic == "jobs");
    sub->ack(m.tag);
  }
  auto expected = numbered("j", 0, 10);
  CHECK(seen == std::set<std::string>(expected.begin(), expected.end()));
  CHECK(tags.size() == 10);
}

TEST_CASE(
  "kafka_driver: a named subscription reports as its lag what it has not "
  "acknowledged",
  "[kafka]") {
  auto driver = make_driver();
  auto ns = unique_name("lag");
  recorder r;
  auto sub = driver->subscribe(ns, named("jobs", "workers"), r.events());
  REQUIRE(r.wait_ready());
  REQUIRE(r.wait_lag(0));

  publishes p;
  for (const auto& text : numbered("j", 0, 10))
    p.publish(*driver, ns, "jobs", text);
  REQUIRE(p.wait_all());
  // No credit: all ten wait on the cluster.
  REQUIRE(r.wait_lag(10));
  sub->request(4);
  REQUIRE(r.wait_messages(4));
  // Delivered but not acknowledged still counts.
  CHECK_FALSE(r.wait_lag(6, 2500ms));
  for (const auto& m : r.messages())
    sub->ack(m.tag);
  REQUIRE(r.wait_lag(6));
  sub->request(6);
  REQUIRE(r.wait_messages(10));
  auto messages = r.messages();
  for (size_t i = 4; i < messages.size(); ++i)
    sub->ack(messages[i].tag);
  REQUIRE(r.wait_lag(0));
}

TEST_CASE(
  "kafka_driver: a named subscription resumes where it was acknowledged",
  "[kafka]") {
  auto driver = make_driver();
  auto ns = unique_name("durable");
  require_control("topic " + kafka_topic(ns, "events") + " 1");

  publishes p;
  {
    recorder first;
    auto sub = driver->subscribe(ns, named("events", "audit"), first.events());
    REQUIRE(first.wait_ready());
    for (const auto& text : numbered("d", 0, 6))
      p.publish(*driver, ns, "events", text);
    REQUIRE(p.wait_all());
    sub->request(6);
    REQUIRE(first.wait_messages(6));
    auto got = first.messages();
    CHECK(payloads(got) == numbered("d", 0, 6));
    // d0..d2 acknowledged; d3..d5 delivered and never acknowledged.
    for (size_t i = 0; i < 3; ++i)
      sub->ack(got[i].tag);
    unsubscribe(sub, first);
  }
  for (const auto& text : numbered("d", 6, 10))
    p.publish(*driver, ns, "events", text);
  REQUIRE(p.wait_all());

  // Resubscribing with LATEST does not matter: the group has a position.
  recorder second;
  auto sub = driver->subscribe(
    ns, named("events", "audit", model::start_position::latest),
    second.events());
  REQUIRE(second.wait_ready());
  sub->request(100);
  REQUIRE(second.wait_messages(7));
  CHECK(stays_at(second, 7));
  CHECK(payloads(second.messages()) == numbered("d", 3, 10));
  CHECK(late_callbacks == 0);
}

TEST_CASE("kafka_driver: two members of one name split the messages",
          "[kafka]") {
  auto driver = make_driver();
  auto ns = unique_name("split");
  // Published before the group exists: a new group that starts at LATEST
  // never sees these.
  publishes p;
  for (const auto& text : numbered("old", 0, 3))
    p.publish(*driver, ns, "work", text);
  REQUIRE(p.wait_all());

  recorder a, b;
  const auto latest = model::start_position::latest;
  auto sub_a = driver->subscribe(ns, named("work", "pool", latest), a.events());
  auto sub_b = driver->subscribe(ns, named("work", "pool", latest), b.events());
  REQUIRE(a.wait_ready());
  REQUIRE(b.wait_ready());
  sub_a->request(100);
  sub_b->request(100);

  for (const auto& text : numbered("w", 0, 40))
    p.publish(*driver, ns, "work", text);
  REQUIRE(p.wait_all());

  // Acknowledge promptly, as a stream would after each write.
  std::set<uint64_t> acked;
  auto deadline = steady::now() + 15s;
  while (a.count() + b.count() < 40 && steady::now() < deadline) {
    a.wait_messages(a.count() + 1, 50ms);
    for (auto* pair : {&a, &b})
      for (const auto& m : pair->messages())
        if (acked.insert(m.tag).second)
          (pair == &a ? sub_a : sub_b)->ack(m.tag);
  }
  REQUIRE(a.count() + b.count() == 40);
  CHECK(stays_at(a, a.count(), 300ms));
  CHECK(stays_at(b, b.count(), 300ms));
  CHECK(a.count() > 0);
  CHECK(b.count() > 0);
  std::multiset<std::string> all;
  for (auto* r : {&a, &b})
    for (const auto& m : r->messages())
      all.insert(m.payload);
  auto expected = numbered("w", 0, 40);
  CHECK(all == std::multiset<std::string>(expected.begin(), expected.end()));
}

TEST_CASE(
  "kafka_driver: a member that leaves hands its unacknowledged messages to the "
  "others",
  "[kafka]") {
  auto driver = make_driver();
  auto ns = unique_name("handover");
  recorder a, b;
  auto sub_a = driver->subscribe(ns, named("tasks", "team"), a.events());
  auto sub_b = driver->subscribe(ns, named("tasks", "team"), b.events());
  REQUIRE(a.wait_ready());
  REQUIRE(b.wait_ready());
  sub_a->request(5);

  publishes p;
  for (const auto& text : numbered("h", 0, 5))
    p.publish(*driver, ns, "tasks", text);
  REQUIRE(p.wait_all());
  REQUIRE(a.wait_messages(5));
  CHECK(b.count() == 0);
  sub_a->ack(a.messages().at(0).tag);

  unsubscribe(sub_a, a);
  sub_b->request(10);
  REQUIRE(b.wait_messages(4));
  CHECK(stays_at(b, 4));
  auto got = payloads(b.messages());
  std::sort(got.begin(), got.end());
  auto all = payloads(a.messages());
  std::sort(all.begin(), all.end());
  all.erase(std::find(all.begin(), all.end(), a.messages().at(0).payload));
  CHECK(got == all);
  CHECK(late_callbacks == 0);
}

// --- faults ----------------------------------------------------------------------------

/// The connection states one driver reported, in order.
class state_reports {
public:
  pubsub_driver::state_listener listener() {
    return [this](bool up, const std::string& reason) {
      std::lock_guard<std::mutex> lock(mutex_);
      reports_.emplace_back(up, reason);
      changed_.notify_all();
    };
  }
  bool wait(size_t count, steady::duration timeout = 15s) {
    std::unique_lock<std::mutex> lock(mutex_);
    return changed_.wait_for(lock, timeout,
                             [&] { return reports_.size() >= count; });
  }
  std::vector<std::pair<bool, std::string>> reports() {
    std::lock_guard<std::mutex> lock(mutex_);
    return reports_;
  }

private:
  std::mutex mutex_;
  std::condition_variable changed_;
  std::vector<std::pair<bool, std::string>> reports_;
};

TEST_CASE("kafka_driver: the state listener reports brokers down and back up",
          "[kafka]") {
  brokers_up_at_exit restore;
  auto running = make_driver();
  state_reports running_states;
  running->start(running_states.listener());
  REQUIRE(running_states.wait(1));
  CHECK(running_states.reports().at(0).first);

  require_control("down all");
  REQUIRE(running_states.wait(2));
  // A driver started during the outage first reports that it is down.
  auto late = make_driver();
  state_reports late_states;
  late->start(late_states.listener());
  REQUIRE(late_states.wait(1));

  require_control("up all");
  REQUIRE(running_states.wait(3));
  REQUIRE(late_states.wait(2));

  auto running_seen = running_states.reports();
  REQUIRE(running_seen.size() == 3);
  CHECK_FALSE(running_seen[1].first);
  CHECK_FALSE(running_seen[1].second.empty());
  CHECK(running_seen[2].first);
  auto late_seen = late_states.reports();
  REQUIRE(late_seen.size() == 2);
  CHECK_FALSE(late_seen[0].first);
  CHECK_FALSE(late_seen[0].second.empty());
  CHECK(late_seen[1].first);
  INFO("down because: " << running_seen[1].second << " / "
                        << late_seen[0].second);

  // Reports come on changes only: a steady cluster adds none.
  CHECK_FALSE(running_states.wait(4, 700ms));
}

TEST_CASE(
  "kafka_driver: a publish with a short timeout while all brokers are down "
  "fails in time",
  "[kafka]") {
  brokers_up_at_exit restore;
  auto driver = make_driver();
  auto ns = unique_name("down");
  publishes p;
  // The topic exists and the producer knows its leader before the outage.
  auto first = p.publish(*driver, ns, "t", "first");
  REQUIRE(p.wait_all());
  REQUIRE(p.outcome(first).status.ok());

  require_control("down all");
  auto known = p.publish(*driver, ns, "t", "while down", {}, 300ms);
  auto fresh = p.publish(*driver, ns, "never-used", "while down", {}, 300ms);
  auto started = steady::now();
  REQUIRE(p.wait_all(3s));
  auto took = steady::now() - started;
  CHECK(took < 1500ms);
  for (auto index : {known, fresh}) {
    auto o = p.outcome(index);
    INFO(o.status.message);
    CHECK((o.status.code == status_code::deadline_exceeded
           || o.status.code == status_code::unavailable));
    CHECK(o.status.message.find("stored") != std::string::npos);
  }
  for (int calls : p.calls())
    CHECK(calls == 1);

  // The cluster back, the same driver publishes again.
  require_control("up all");
  auto again = p.publish(*driver, ns, "t", "after");
  REQUIRE(p.wait_all());
  CHECK(p.outcome(again).status.ok());
}

TEST_CASE(
  "kafka_driver: publishes across a leader move either succeed and are readable "
  "or fail UNAVAILABLE",
  "[kafka]") {
  brokers_up_at_exit restore;
  auto driver = make_driver();
  auto ns = unique_name("failover");
  auto topic = kafka_topic(ns, "t");
  require_control("topic " + topic + " 1");
  require_control("leader " + topic + " 0 1");

  publishes p;
  const int per_phase = 15;
  for (const auto& text : numbered("a", 0, per_phase))
    p.publish(*driver, ns, "t", text, {}, drivers::no_timeout);
  REQUIRE(p.wait_all());

  // The leader goes down while publishes are in flight (it answers slowly);
  // leadership moves.
  require_control("rtt 1 500");
  for (const auto& text : numbered("b", 0, per_phase))
    p.publish(*driver, ns, "t", text, {}, drivers::no_timeout);
  require_control("down 1");
  for (const auto& text : numbered("c", 0, per_phase))
    p.publish(*driver, ns, "t", text, {}, drivers::no_timeout);
  require_control("leader " + topic + " 0 2");
  for (const auto& text : numbered("d", 0, per_phase))
    p.publish(*driver, ns, "t", text, {}, drivers::no_timeout);
  REQUIRE(p.wait_all(20s));
  require_control("up 1");

  std::set<std::string> confirmed;
  std::vector<std::string> texts;
  for (const auto* prefix : {"a", "b", "c", "d"})
    for (const auto& text : numbered(prefix, 0, per_phase))
      texts.push_back(text);
  int failed = 0;
  for (size_t i = 0; i < texts.size(); ++i) {
    auto o = p.outcome(i);
    INFO(texts[i] << ": " << o.status.message);
    if (o.status.ok()) {
      confirmed.insert(texts[i]);
    } else {
      CHECK(o.status.code == status_code::unavailable);
      ++failed;
    }
  }
  INFO("failed publishes: " << failed);
  // Publishes after the move are delivered by the new leader.
  for (const auto& text : numbered("d", 0, per_phase))
    CHECK(confirmed.count(text) == 1);

  recorder r;
  auto sub = driver->subscribe(
    ns, ephemeral("t", model::start_position::earliest), r.events());
  REQUIRE(r.wait_ready());
  REQUIRE(r.wait_messages(confirmed.size()));
  // A duplicate (or a failed publish that was stored after all) would come
  // right behind; give it a moment.
  r.wait_messages(confirmed.size() + 1, 300ms);
  std::multiset<std::string> read;
  for (const auto& m : r.messages())
    read.insert(m.payload);
  // Every confirmed publish is there; with the idempotent producer, once.
  for (const auto& text : confirmed)
    CHECK(read.count(text) == 1);
}

TEST_CASE(
  "kafka_driver: destroying the driver with publishes in flight and live "
  "subscriptions answers every publish once",
  "[kafka]") {
  brokers_up_at_exit restore;
  auto ns = unique_name("teardown");
  publishes p;
  recorder ephemeral_r, named_r;
  std::unique_ptr<pubsub_driver::subscription> ephemeral_sub, named_sub;
  auto started = steady::now();
  {
    auto driver = make_driver();
    ephemeral_sub = driver->subscribe(ns, ephemeral("t"), ephemeral_r.events());
    named_sub = driver->subscribe(ns, named("t", "n"), named_r.events());
    REQUIRE(ephemeral_r.wait_ready());
    named_sub->request(1000);
    p.publish(*driver, ns, "t", "delivered");
    REQUIRE(p.wait_all());
    REQUIRE(ephemeral_r.wait_messages(1));
    // Brokers answer so slowly that the driver's shutdown flush cannot wait
    // for what is in flight.
    require_control("rtt all 4000");
    started = steady::now();
    for (const auto& text : numbered("x", 0, 200))
      p.publish(*driver, ns, "t", text, {}, drivers::no_timeout);
  }
  auto took = steady::now() - started;
  CHECK(took < 15s);
  // The driver is gone: every publish was answered exactly once.
  REQUIRE(p.wait_all(0s));
  for (int calls : p.calls())
    CHECK(calls == 1);
  for (size_t i = 0; i < p.size(); ++i) {
    auto o = p.outcome(i);
    if (!o.status.ok()) {
      INFO(o.status.message);
      CHECK(o.status.code == status_code::unavailable);
    }
  }
  auto seen = ephemeral_r.count();
  auto seen_named = named_r.count();
  // Subscriptions outliving the driver are inert and safe to destroy.
  named_sub->request(10);
  named_sub->ack(12345);
  unsubscribe(ephemeral_sub, ephemeral_r);
  unsubscribe(named_sub, named_r);
  CHECK(ephemeral_r.count() == seen);
  CHECK(named_r.count() == seen_named);
  CHECK(late_callbacks == 0);
}
