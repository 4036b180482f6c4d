// The NATS driver against a real nats-server with JetStream, started by
// scripts/test-servers (PRISM_TEST_NATS_URL). The driver is driven directly,
// without actors. Every test uses namespaces of its own, so streams never
// collide; the fault test starts a nats-server of its own, because it stops
// and restarts it while other tests may use the shared one.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <catch2/catch.hpp>
#include <nats/nats.h>

#include "config/config.hpp"
#include "drivers/nats/nats_driver.hpp"
#include "drivers/nats/nats_names.hpp"
#include "test_servers.hpp"

namespace {

using prism::test::private_nats;

using namespace std::chrono_literals;
using prism::status_code;
using prism::drivers::pubsub_driver;
using steady = std::chrono::steady_clock;
namespace model = prism::model;

std::string nats_url() {
  const char* value = std::getenv("PRISM_TEST_NATS_URL");
  if (value == nullptr || *value == '\0')
    FAIL("PRISM_TEST_NATS_URL is not set: run through scripts/dev test, or "
         "eval \"$(scripts/test-servers start nats)\" first");
  return value;
}

/// A name no other test (or earlier run against the same server) uses.
std::string unique_name(const std::string& what) {
  static std::atomic<int> counter{0};
  auto now = std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
               .count();
  return "t" + std::to_string(::getpid()) + "-"
    + std::to_string(now % 100000000) + "-" + what + "-"
    + std::to_string(++counter);
}

prism::config::backend nats_backend(const std::string& url, bool jetstream) {
  prism::config::backend b;
  b.name = "nats-test";
  b.type = prism::config::backend_type::nats;
  b.nats.url = url;
  b.nats.jetstream = jetstream;
  b.nats.subject_prefix = "prismtest";
  b.nats.stream_prefix = "PRISMTEST_";
  b.nats.connect_timeout_ms = 1000;
  b.max_pending = 4096;
  b.unavailable_after_ms = 10000;
  return b;
}

/// The state listener's reports.
class state_log {
public:
  pubsub_driver::state_listener listener() {
    return [this](bool up, const std::string& reason) {
      std::lock_guard<std::mutex> lock{mutex_};
      events_.emplace_back(up, reason);
      changed_.notify_all();
    };
  }

  /// Waits until the reports after the first `skip` include one with `up`.
  bool wait_for(bool up, std::chrono::milliseconds limit, size_t skip = 0) {
    std::unique_lock<std::mutex> lock{mutex_};
    return changed_.wait_for(lock, limit, [&] {
      for (size_t i = skip; i < events_.size(); ++i)
        if (events_[i].first == up)
          return true;
      return false;
    });
  }

  std::vector<std::pair<bool, std::string>> events() {
    std::lock_guard<std::mutex> lock{mutex_};
    return events_;
  }

private:
  std::mutex mutex_;
  std::condition_variable changed_;
  std::vector<std::pair<bool, std::string>> events_;
};

/// What one subscription received.
class inbox {
public:
  /// Acks every message and asks for one more, as the broker would.
  bool auto_ack = false;
  std::atomic<pubsub_driver::subscription*> sub{nullptr};
  /// Set by the test once the subscription object is destroyed; a callback
  /// after that is counted.
  std::atomic<bool> destroyed{false};
  std::atomic<int> late_callbacks{0};

  pubsub_driver::subscriber_events events() {
    pubsub_driver::subscriber_events ev;
    ev.ready = [this] {
      check_alive();
      std::lock_guard<std::mutex> lock{mutex_};
      ++ready_count_;
      changed_.notify_all();
    };
    ev.message = [this](model::message m) {
      check_alive();
      if (auto_ack)
        if (auto* s = sub.load()) {
          s->ack(m.tag);
          s->request(1);
        }
      std::lock_guard<std::mutex> lock{mutex_};
      if (ready_count_ == 0)
        ++message_before_ready_;
      messages_.push_back(std::move(m));
      changed_.notify_all();
    };
    ev.ended = [this](prism::status why) {
      check_alive();
      std::lock_guard<std::mutex> lock{mutex_};
      ended_ = std::move(why);
      changed_.notify_all();
    };
    ev.lag = [this](uint64_t n) {
      check_alive();
      std::lock_guard<std::mutex> lock{mutex_};
      lag_ = n;
      changed_.notify_all();
    };
    return ev;
  }

  /// Waits until the last lag reported is `n`.
  bool wait_lag(uint64_t n, std::chrono::milliseconds limit = 10s) {
    std::unique_lock<std::mutex> lock{mutex_};
    return changed_.wait_for(lock, limit, [&] { return lag_ == n; });
  }
  std::optional<uint64_t> lag() {
    std::lock_guard<std::mutex> lock{mutex_};
    return lag_;
  }

  bool wait_ready(std::chrono::milliseconds limit = 10s) {
    std::unique_lock<std::mutex> lock{mutex_};
    return changed_.wait_for(lock, limit, [&] {
      return ready_count_ > 0 || ended_;
    }) && ready_count_ > 0;
  }

  bool wait_ended(std::chrono::milliseconds limit = 10s) {
    std::unique_lock<std::mutex> lock{mutex_};
    return changed_.wait_for(lock, limit, [&] { return ended_.has_value(); });
  }

  bool wait_count(size_t n, std::chrono::milliseconds limit = 10s) {
    std::unique_lock<std::mutex> lock{mutex_};
    return changed_.wait_for(lock, limit,
                             [&] { return messages_.size() >= n; });
  }

  /// Waits until every payload in `wanted` has arrived.
  bool wait_payloads(const std::set<std::string>& wanted,
                     std::chrono::milliseconds limit) {
    std::unique_lock<std::mutex> lock{mutex_};
    return changed_.wait_for(lock, limit, [&] {
      std::set<std::string> have;
      for (auto& m : messages_)
        have.insert(m.payload);
      return std::includes(have.begin(), have.end(), wanted.begin(),
                           wanted.end());
    });
  }

  std::vector<model::message> messages() {
    std::lock_guard<std::mutex> lock{mutex_};
    return messages_;
  }
  std::vector<std::string> payloads() {
    std::vector<std::string> out;
    for (auto& m : messages())
      out.push_back(m.payload);
    return out;
  }
  std::optional<prism::status> ended() {
    std::lock_guard<std::mutex> lock{mutex_};
    return ended_;
  }
  int ready_count() {
    std::lock_guard<std::mutex> lock{mutex_};
    return ready_count_;
  }
  int messages_before_ready() {
    std::lock_guard<std::mutex> lock{mutex_};
    return message_before_ready_;
  }

private:
  std::optional<uint64_t> lag_;
  void check_alive() {
    if (destroyed.load())
      ++late_callbacks;
  }

  std::mutex mutex_;
  std::condition_variable changed_;
  int ready_count_ = 0;
  int message_before_ready_ = 0;
  std::vector<model::message> messages_;
  std::optional<prism::status> ended_;
};

/// A publish's outcome, once it comes.
class answer {
public:
  pubsub_driver::completion callback() {
    auto self = this;
    return [self](model::outcome o) {
      std::lock_guard<std::mutex> lock{self->mutex_};
      ++self->calls_;
      self->outcome_ = std::move(o);
      self->changed_.notify_all();
    };
  }
  std::optional<model::outcome> wait(std::chrono::milliseconds limit) {
    std::unique_lock<std::mutex> lock{mutex_};
    changed_.wait_for(lock, limit, [&] { return outcome_.has_value(); });
    return outcome_;
  }
  int calls() {
    std::lock_guard<std::mutex> lock{mutex_};
    return calls_;
  }

private:
  std::mutex mutex_;
  std::condition_variable changed_;
  std::optional<model::outcome> outcome_;
  int calls_ = 0;
};

model::publish_op message_op(const std::string& topic, std::string payload,
                             model::metadata metadata = {}) {
  model::publish_op op;
  op.topic = topic;
  op.payload = std::move(payload);
  op.metadata = std::move(metadata);
  return op;
}

std::string message_id(const model::outcome& o) {
  if (!o.status.ok())
    return {};
  return std::get<model::publish_result>(o.value).message_id;
}

/// Publishes and waits for the outcome (failing the test if none comes).
model::outcome publish_now(pubsub_driver& driver, const std::string& ns,
                           model::publish_op op,
                           prism::drivers::op_timeout timeout = 5s) {
  answer a;
  driver.publish(ns, op, timeout, a.callback());
  auto o = a.wait(15s);
  if (!o)
    FAIL("no answer to a publish within 15 s");
  return *o;
}

/// Publishes `payloads` back to back and checks every one was stored;
/// returns their ids in order.
std::vector<std::string> publish_all(pubsub_driver& driver,
                                     const std::string& ns,
                                     const std::string& topic,
                                     const std::vector<std::string>& payloads) {
  std::vector<std::unique_ptr<answer>> answers;
  for (auto& p : payloads) {
    answers.push_back(std::make_unique<answer>());
    driver.publish(ns, message_op(topic, p), 10s, answers.back()->callback());
  }
  std::vector<std::string> ids;
  for (size_t i = 0; i < answers.size(); ++i) {
    auto o = answers[i]->wait(15s);
    REQUIRE(o);
    INFO("publish " << payloads[i] << ": " << o->status.message);
    REQUIRE(o->status.ok());
    ids.push_back(message_id(*o));
  }
  return ids;
}

std::vector<std::string> numbered(const std::string& prefix, int from, int to) {
  std::vector<std::string> out;
  for (int i = from; i <= to; ++i)
    out.push_back(prefix + std::to_string(i));
  return out;
}

struct started_driver {
  std::unique_ptr<pubsub_driver> driver;
  state_log states;
};

std::unique_ptr<started_driver> connected_driver(bool jetstream,
                                                 std::string url = {}) {
  auto d = std::make_unique<started_driver>();
  d->driver = prism::drivers::make_nats_driver(
    nats_backend(url.empty() ? nats_url() : url, jetstream),
    prism::drivers::system_wall_clock());
  d->driver->start(d->states.listener());
  REQUIRE(d->states.wait_for(true, 10s));
  return d;
}

model::subscribe_op subscription_op(const std::string& topic,
                                    const std::string& name = {},
                                    model::start_position start
                                    = model::start_position::latest) {
  model::subscribe_op op;
  op.topic = topic;
  op.subscription = name;
  op.start = start;
  return op;
}

int64_t wall_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
           std::chrono::system_clock::now().time_since_epoch())
    .count();
}

model::metadata sorted(model::metadata m) {
  std::sort(m.begin(), m.end());
  return m;
}

} // namespace

// --- JetStream ------------------------------------------------------------------------

TEST_CASE("nats_driver (JetStream): a message reaches a named and an ephemeral "
          "subscriber intact",
          "[nats]") {
  auto d = connected_driver(true);
  auto ns = unique_name("rt");
  inbox named, ephemeral;
  auto named_sub = d->driver->subscribe(
    ns, subscription_op("orders.eu", "billing"), named.events());
  auto ephemeral_sub = d->driver->subscribe(ns, subscription_op("orders.eu"),
                                            ephemeral.events());
  REQUIRE(named.wait_ready());
  REQUIRE(ephemeral.wait_ready());
  named_sub->request(10);

  const std::string payload("bin\0ary\0\xff\x01", 11);
  model::metadata metadata = {{"trace-id", "abc123"},
                              {"empty", ""},
                              {"multi line", "a\r\nb: 100% done "},
                              {"Nats-Expected-Stream", "not-a-control-header"},
                              {"caf\xc3\xa9", "\xc3\xa9t\xc3\xa9"}};
  auto before = wall_ms();
  auto o
    = publish_now(*d->driver, ns, message_op("orders.eu", payload, metadata));
  auto after = wall_ms();
  INFO(o.status.message);
  REQUIRE(o.status.ok());
  auto id = message_id(o);
  CHECK(id.rfind("PRISMTEST_" + ns + "-", 0) == 0);

  REQUIRE(named.wait_count(1));
  REQUIRE(ephemeral.wait_count(1));
  // An idle named subscriber is not behind by a pull request's wait.
  CHECK(wall_ms() - after < 500);
  for (auto* box : {&named, &ephemeral}) {
    auto m = box->messages().front();
    CHECK(m.topic == "orders.eu");
    CHECK(m.payload == payload);
    CHECK(sorted(m.metadata) == sorted(metadata));
    CHECK_FALSE(m.id.empty());
    CHECK(m.publish_time_ms >= before - 1000);
    CHECK(m.publish_time_ms <= after + 1000);
    CHECK(box->messages_before_ready() == 0);
  }
  auto m = named.messages().front();
  CHECK(m.id == id);
  CHECK(m.tag != 0);
  CHECK(ephemeral.messages().front().tag == 0);
  named_sub->ack(m.tag);
}

TEST_CASE(
  "nats_driver (JetStream): many messages from one publisher arrive in order",
  "[nats]") {
  auto d = connected_driver(true);
  auto ns = unique_name("order");
  inbox box;
  auto sub = d->driver->subscribe(ns, subscription_op("t", "s"), box.events());
  REQUIRE(box.wait_ready());
  sub->request(1000);
  auto payloads = numbered("m", 1, 300);
  auto ids = publish_all(*d->driver, ns, "t", payloads);
  REQUIRE(box.wait_count(payloads.size(), 15s));
  CHECK(box.payloads() == payloads);
  std::vector<std::string> received_ids;
  for (auto& m : box.messages())
    received_ids.push_back(m.id);
  CHECK(received_ids == ids);
}

TEST_CASE(
  "nats_driver (JetStream): a named subscription gets no more than its credit",
  "[nats]") {
  auto d = connected_driver(true);
  auto ns = unique_name("credit");
  inbox box;
  auto sub
    = d->driver->subscribe(ns, subscription_op("t", "slow"), box.events());
  REQUIRE(box.wait_ready());
  sub->request(3);
  auto payloads = numbered("c", 1, 10);
  publish_all(*d->driver, ns, "t", payloads);
  REQUIRE(box.wait_count(3));
  // A fourth would come within a fetch round or two if credit were ignored.
  CHECK_FALSE(box.wait_count(4, 1500ms));
  CHECK(box.payloads() == numbered("c", 1, 3));
  sub->request(7);
  REQUIRE(box.wait_count(10));
  CHECK(box.payloads() == payloads);
}

TEST_CASE(
  "nats_driver (JetStream): a named subscription reports as its lag what "
  "it has not acknowledged",
  "[nats]") {
  auto d = connected_driver(true);
  auto ns = unique_name("lag");
  inbox box;
  auto sub
    = d->driver->subscribe(ns, subscription_op("t", "slow"), box.events());
  REQUIRE(box.wait_ready());
  REQUIRE(box.wait_lag(0));
  publish_all(*d->driver, ns, "t", numbered("l", 1, 10));
  // Nothing fetched yet: all ten are pending on the consumer.
  REQUIRE(box.wait_lag(10));
  sub->request(4);
  REQUIRE(box.wait_count(4));
  // Delivered but not acknowledged still counts.
  CHECK_FALSE(box.wait_lag(6, 2500ms));
  for (auto& m : box.messages())
    sub->ack(m.tag);
  REQUIRE(box.wait_lag(6));
  sub->request(6);
  REQUIRE(box.wait_count(10));
  auto got = box.messages();
  for (size_t i = 4; i < got.size(); ++i)
    sub->ack(got[i].tag);
  REQUIRE(box.wait_lag(0));
}

TEST_CASE(
  "nats_driver (JetStream): a durable subscription resumes where it left off",
  "[nats]") {
  auto d = connected_driver(true);
  auto ns = unique_name("durable");
  {
    inbox first;
    auto sub
      = d->driver->subscribe(ns, subscription_op("t", "keep"), first.events());
    REQUIRE(first.wait_ready());
    sub->request(100);
    publish_all(*d->driver, ns, "t", numbered("d", 1, 10));
    REQUIRE(first.wait_count(10));
    // Acknowledge the first five only; destroying the subscription gives
    // the other five back.
    auto got = first.messages();
    for (int i = 0; i < 5; ++i)
      sub->ack(got[i].tag);
  }
  publish_all(*d->driver, ns, "t", numbered("d", 11, 15));
  // EARLIEST does not matter any more: the consumer exists and keeps its
  // position.
  inbox second;
  auto sub = d->driver->subscribe(
    ns, subscription_op("t", "keep", model::start_position::earliest),
    second.events());
  REQUIRE(second.wait_ready());
  sub->request(100);
  auto wanted = numbered("d", 6, 15);
  REQUIRE(second.wait_payloads({wanted.begin(), wanted.end()}, 15s));
  auto got = second.payloads();
  std::string order;
  for (auto& p : got)
    order += p + " ";
  INFO("received " << order);
  CHECK(std::set<std::string>(got.begin(), got.end())
        == std::set<std::string>(wanted.begin(), wanted.end()));
  // Nothing acknowledged came again, nothing twice.
  CHECK(got.size() == wanted.size());
}

TEST_CASE(
  "nats_driver (JetStream): two members of one subscription share the messages",
  "[nats]") {
  auto d = connected_driver(true);
  auto ns = unique_name("share");
  inbox a, b;
  a.auto_ack = b.auto_ack = true;
  auto sub_a
    = d->driver->subscribe(ns, subscription_op("t", "workers"), a.events());
  a.sub = sub_a.get();
  auto sub_b
    = d->driver->subscribe(ns, subscription_op("t", "workers"), b.events());
  b.sub = sub_b.get();
  REQUIRE(a.wait_ready());
  REQUIRE(b.wait_ready());
  sub_a->request(5);
  sub_b->request(5);
  auto payloads = numbered("w", 1, 60);
  publish_all(*d->driver, ns, "t", payloads);
  std::set<std::string> all;
  auto deadline = steady::now() + 15s;
  while (all.size() < payloads.size() && steady::now() < deadline) {
    a.wait_count(a.messages().size() + 1, 100ms);
    all.clear();
    for (auto& p : a.payloads())
      all.insert(p);
    for (auto& p : b.payloads())
      all.insert(p);
  }
  CHECK(all == std::set<std::string>(payloads.begin(), payloads.end()));
  INFO("a got " << a.messages().size() << ", b got " << b.messages().size());
  CHECK(a.messages().size() + b.messages().size() == payloads.size());
  CHECK(a.messages().size() > 0);
  CHECK(b.messages().size() > 0);
}

TEST_CASE(
  "nats_driver (JetStream): subscribers from EARLIEST replay the stream",
  "[nats]") {
  auto d = connected_driver(true);
  auto ns = unique_name("earliest");
  auto ids = publish_all(*d->driver, ns, "t", numbered("e", 1, 3));
  inbox ephemeral, named;
  auto ephemeral_sub = d->driver->subscribe(
    ns, subscription_op("t", "", model::start_position::earliest),
    ephemeral.events());
  auto named_sub = d->driver->subscribe(
    ns, subscription_op("t", "from-start", model::start_position::earliest),
    named.events());
  REQUIRE(ephemeral.wait_ready());
  REQUIRE(named.wait_ready());
  named_sub->request(100);
  REQUIRE(ephemeral.wait_count(3));
  REQUIRE(named.wait_count(3));
  CHECK(ephemeral.payloads() == numbered("e", 1, 3));
  CHECK(named.payloads() == numbered("e", 1, 3));
  std::vector<std::string> replayed_ids;
  for (auto& m : ephemeral.messages())
    replayed_ids.push_back(m.id);
  CHECK(replayed_ids == ids);
  // Then they follow the stream.
  publish_all(*d->driver, ns, "t", {"e4"});
  REQUIRE(ephemeral.wait_count(4));
  REQUIRE(named.wait_count(4));
  CHECK(ephemeral.payloads().back() == "e4");
  CHECK(named.payloads().back() == "e4");
}

TEST_CASE("nats_driver: a destroyed subscription delivers nothing more",
          "[nats]") {
  const bool jetstream = GENERATE(true, false);
  INFO((jetstream ? "JetStream" : "core NATS"));
  auto d = connected_driver(jetstream);
  auto ns = unique_name("stop");
  inbox named, ephemeral;
  auto named_sub
    = d->driver->subscribe(ns, subscription_op("t", "gone"), named.events());
  auto ephemeral_sub
    = d->driver->subscribe(ns, subscription_op("t"), ephemeral.events());
  REQUIRE(named.wait_ready());
  REQUIRE(ephemeral.wait_ready());
  named_sub->request(100);
  publish_all(*d->driver, ns, "t", {"s1"});
  REQUIRE(named.wait_count(1));
  REQUIRE(ephemeral.wait_count(1));

  named_sub.reset();
  named.destroyed = true;
  ephemeral_sub.reset();
  ephemeral.destroyed = true;

  inbox observer;
  auto observer_sub
    = d->driver->subscribe(ns, subscription_op("t"), observer.events());
  REQUIRE(observer.wait_ready());
  publish_all(*d->driver, ns, "t", numbered("s", 2, 5));
  REQUIRE(observer.wait_count(4));
  if (jetstream) {
    // The subscription's name kept them, and s1, which was delivered but
    // never acknowledged: its next member gets them all.
    inbox next;
    auto next_sub
      = d->driver->subscribe(ns, subscription_op("t", "gone"), next.events());
    REQUIRE(next.wait_ready());
    next_sub->request(100);
    REQUIRE(next.wait_count(5));
    auto got = next.payloads();
    auto wanted = numbered("s", 1, 5);
    CHECK(std::set<std::string>(got.begin(), got.end())
          == std::set<std::string>(wanted.begin(), wanted.end()));
  }
  CHECK(named.messages().size() == 1);
  CHECK(ephemeral.messages().size() == 1);
  CHECK(named.late_callbacks == 0);
  CHECK(ephemeral.late_callbacks == 0);
}

TEST_CASE(
  "nats_driver (JetStream): a subscription whose consumer is deleted ends",
  "[nats]") {
  auto d = connected_driver(true);
  auto ns = unique_name("deleted");
  inbox box;
  auto sub
    = d->driver->subscribe(ns, subscription_op("t", "doomed"), box.events());
  REQUIRE(box.wait_ready());
  sub->request(10);
  publish_all(*d->driver, ns, "t", {"x1"});
  REQUIRE(box.wait_count(1));

  // Someone deletes the durable consumer on the server.
  natsConnection* nc = nullptr;
  REQUIRE(natsConnection_ConnectTo(&nc, nats_url().c_str()) == NATS_OK);
  jsCtx* js = nullptr;
  REQUIRE(natsConnection_JetStream(&js, nc, nullptr) == NATS_OK);
  auto stream = prism::drivers::nats_names::stream_name("PRISMTEST_", ns);
  auto durable = prism::drivers::nats_names::durable_name("t", "doomed");
  jsErrCode code{};
  natsStatus deleted
    = js_DeleteConsumer(js, stream.c_str(), durable.c_str(), nullptr, &code);
  jsCtx_Destroy(js);
  natsConnection_Destroy(nc);
  REQUIRE(deleted == NATS_OK);

  REQUIRE(box.wait_ended());
  auto why = box.ended();
  REQUIRE(why);
  CHECK(why->code == status_code::unavailable);
  CHECK(why->message.find(durable) != std::string::npos);
}

TEST_CASE("nats_driver (JetStream): a stream the driver creates gets the "
          "configured age and size limits",
          "[nats]") {
  auto b = nats_backend(nats_url(), true);
  b.nats.stream_max_age_ms = 3600000;
  b.nats.stream_max_bytes = 1 << 20;
  auto driver
    = prism::drivers::make_nats_driver(b, prism::drivers::system_wall_clock());
  state_log states;
  driver->start(states.listener());
  REQUIRE(states.wait_for(true, 10s));
  auto ns = unique_name("limits");
  REQUIRE(publish_now(*driver, ns, message_op("t", "x", {})).status.ok());

  natsConnection* nc = nullptr;
  REQUIRE(natsConnection_ConnectTo(&nc, nats_url().c_str()) == NATS_OK);
  jsCtx* js = nullptr;
  REQUIRE(natsConnection_JetStream(&js, nc, nullptr) == NATS_OK);
  auto stream = prism::drivers::nats_names::stream_name("PRISMTEST_", ns);
  jsStreamInfo* info = nullptr;
  jsErrCode code{};
  auto found = js_GetStreamInfo(&info, js, stream.c_str(), nullptr, &code);
  int64_t max_age = info != nullptr ? info->Config->MaxAge : -2;
  int64_t max_bytes = info != nullptr ? info->Config->MaxBytes : -2;
  jsStreamInfo_Destroy(info);
  jsCtx_Destroy(js);
  natsConnection_Destroy(nc);
  REQUIRE(found == NATS_OK);
  CHECK(max_age == int64_t{3600000} * 1000000);
  CHECK(max_bytes == int64_t{1} << 20);
}

TEST_CASE(
  "nats_driver: a topic NATS cannot name, or a message too large, is refused",
  "[nats]") {
  const bool jetstream = GENERATE(true, false);
  INFO((jetstream ? "JetStream" : "core NATS"));
  auto d = connected_driver(jetstream);
  auto ns = unique_name("invalid");
  auto o = publish_now(*d->driver, ns, message_op("a..b", "x"));
  CHECK(o.status.code == status_code::invalid_argument);
  // Larger than nats-server's default max_payload (1 MiB).
  o = publish_now(*d->driver, ns, message_op("t", std::string(2 << 20, 'x')));
  CHECK(o.status.code == status_code::invalid_argument);
  INFO(o.status.message);
  CHECK(o.status.message.find("max_payload") != std::string::npos);
  for (const char* name : {"", "named"}) {
    inbox box;
    auto sub = d->driver->subscribe(ns, subscription_op("trailing.", name),
                                    box.events());
    REQUIRE(box.wait_ended());
    CHECK(box.ended()->code == status_code::invalid_argument);
    CHECK(box.ready_count() == 0);
  }
}

// --- core NATS ------------------------------------------------------------------------

TEST_CASE(
  "nats_driver (core): a message reaches a named and an ephemeral subscriber",
  "[nats]") {
  auto d = connected_driver(false);
  auto ns = unique_name("core");
  inbox named, ephemeral;
  auto named_sub
    = d->driver->subscribe(ns, subscription_op("a.b", "q"), named.events());
  auto ephemeral_sub
    = d->driver->subscribe(ns, subscription_op("a.b"), ephemeral.events());
  REQUIRE(named.wait_ready());
  REQUIRE(ephemeral.wait_ready());
  const std::string payload("core\0bytes", 10);
  model::metadata metadata = {{"k", "v"}, {"empty", ""}};
  auto before = wall_ms();
  auto o = publish_now(*d->driver, ns, message_op("a.b", payload, metadata));
  auto after = wall_ms();
  INFO(o.status.message);
  REQUIRE(o.status.ok());
  REQUIRE(named.wait_count(1));
  REQUIRE(ephemeral.wait_count(1));
  for (auto* box : {&named, &ephemeral}) {
    auto m = box->messages().front();
    CHECK(m.topic == "a.b");
    CHECK(m.payload == payload);
    CHECK(sorted(m.metadata) == sorted(metadata));
    CHECK(m.id == message_id(o));
    CHECK(m.publish_time_ms >= before);
    CHECK(m.publish_time_ms <= after);
  }
}

TEST_CASE("nats_driver (core): members of a queue group share the messages",
          "[nats]") {
  auto d = connected_driver(false);
  auto ns = unique_name("queue");
  inbox a, b;
  auto sub_a
    = d->driver->subscribe(ns, subscription_op("t", "group"), a.events());
  auto sub_b
    = d->driver->subscribe(ns, subscription_op("t", "group"), b.events());
  REQUIRE(a.wait_ready());
  REQUIRE(b.wait_ready());
  auto payloads = numbered("q", 1, 60);
  publish_all(*d->driver, ns, "t", payloads);
  std::set<std::string> all;
  auto deadline = steady::now() + 10s;
  while (all.size() < payloads.size() && steady::now() < deadline) {
    a.wait_count(a.messages().size() + 1, 100ms);
    all.clear();
    for (auto& p : a.payloads())
      all.insert(p);
    for (auto& p : b.payloads())
      all.insert(p);
  }
  CHECK(all == std::set<std::string>(payloads.begin(), payloads.end()));
  CHECK(a.messages().size() + b.messages().size() == payloads.size());
  CHECK(a.messages().size() > 0);
  CHECK(b.messages().size() > 0);
  CHECK(prism::drivers::slow_consumer_drops(*d->driver) == 0);
}

TEST_CASE("nats_driver: destroying the driver answers every publish once, then "
          "calls nothing",
          "[nats]") {
  const bool jetstream = GENERATE(true, false);
  INFO((jetstream ? "JetStream" : "core NATS"));
  auto d = connected_driver(jetstream);
  auto ns = unique_name("teardown");
  inbox box;
  auto sub = d->driver->subscribe(ns, subscription_op("t", "s"), box.events());
  REQUIRE(box.wait_ready());
  sub->request(1000);

  struct tally {
    std::mutex mutex;
    std::map<int, int> calls;
    int ok = 0, unavailable = 0, other = 0;
    std::atomic<bool> driver_gone{false};
    std::atomic<int> late{0};
  };
  auto t = std::make_shared<tally>();
  const int count = 2000;
  for (int i = 0; i < count; ++i)
    d->driver->publish(ns, message_op("t", "p" + std::to_string(i)), 10s,
                       [t, i](model::outcome o) {
                         if (t->driver_gone.load())
                           ++t->late;
                         std::lock_guard<std::mutex> lock{t->mutex};
                         ++t->calls[i];
                         if (o.status.ok())
                           ++t->ok;
                         else if (o.status.code == status_code::unavailable)
                           ++t->unavailable;
                         else
                           ++t->other;
                       });
  // Some are stored, some are on their way, some still queued.
  d->driver.reset();
  t->driver_gone = true;
  box.destroyed = true;
  sub.reset();

  std::lock_guard<std::mutex> lock{t->mutex};
  INFO("ok " << t->ok << ", unavailable " << t->unavailable);
  CHECK(t->calls.size() == static_cast<size_t>(count));
  for (auto& [i, n] : t->calls)
    if (n != 1)
      FAIL("publish " << i << " answered " << n << " times");
  CHECK(t->other == 0);
  CHECK(t->late == 0);
  CHECK(box.late_callbacks == 0);
}

// --- no server ----------------------------------------------------------------------------

TEST_CASE(
  "nats_driver: an unreachable server is reported down and publishes fail fast",
  "[nats]") {
  // A loopback port nothing listens on.
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  REQUIRE(fd >= 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  socklen_t length = sizeof addr;
  REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &length) == 0);
  ::close(fd);
  auto url = "nats://127.0.0.1:" + std::to_string(ntohs(addr.sin_port));

  for (bool jetstream : {true, false}) {
    INFO((jetstream ? "JetStream" : "core NATS"));
    auto driver = prism::drivers::make_nats_driver(
      nats_backend(url, jetstream), prism::drivers::system_wall_clock());
    state_log states;
    driver->start(states.listener());
    REQUIRE(states.wait_for(false, 10s));
    CHECK(states.events().front().second.find("127.0.0.1")
          != std::string::npos);

    inbox box;
    auto sub = driver->subscribe("ns", subscription_op("t", "s"), box.events());
    auto started = steady::now();
    answer a;
    driver->publish("ns", message_op("t", "x"), 1s, a.callback());
    auto o = a.wait(3s);
    REQUIRE(o);
    CHECK((o->status.code == status_code::unavailable
           || o->status.code == status_code::deadline_exceeded));
    CHECK(steady::now() - started < 1500ms);
    CHECK(box.ready_count() == 0);
    // The driver goes away without waiting for a server.
    auto stopping = steady::now();
    sub.reset();
    driver.reset();
    CHECK(steady::now() - stopping < 3s);
    CHECK(a.calls() == 1);
  }
}

TEST_CASE("nats_driver: of a list of servers, the one that answers is used",
          "[nats]") {
  auto d = connected_driver(false, "nats://127.0.0.1:1, " + nats_url());
  auto ns = unique_name("list");
  inbox box;
  auto sub = d->driver->subscribe(ns, subscription_op("t"), box.events());
  REQUIRE(box.wait_ready());
  auto o = publish_now(*d->driver, ns, message_op("t", "x"));
  CHECK(o.status.ok());
  CHECK(box.wait_count(1));
}

TEST_CASE("nats_driver: describe() names the server without credentials",
          "[nats]") {
  auto b = nats_backend("nats://s3cret-token@127.0.0.1:1", true);
  auto driver
    = prism::drivers::make_nats_driver(b, prism::drivers::system_wall_clock());
  CHECK(driver->describe() == "nats nats://127.0.0.1:1");
  b.nats.token_env = "PRISM_TEST_NATS_TOKEN_THAT_IS_NOT_SET";
  CHECK_THROWS_AS(
    prism::drivers::make_nats_driver(b, prism::drivers::system_wall_clock()),
    std::runtime_error);
}

// --- faults -------------------------------------------------------------------------------

/// Publishes numbered messages, up to `window` at a time, until stopped,
/// and keeps every outcome. Callbacks run on driver threads, so it records
/// and never calls Catch2 macros; the test checks after stop().
class steady_publisher {
public:
  steady_publisher(pubsub_driver& driver, std::string ns, std::string topic,
                   int window)
    : driver_(driver), ns_(std::move(ns)), topic_(std::move(topic)),
      window_(window), state_(std::make_shared<state>()),
      thread_([this] { run(); }) {}
  ~steady_publisher() { stop(); }

  struct state {
    std::mutex mutex;
    std::condition_variable changed;
    int outstanding = 0;
    bool stop = false;
    bool restarted = false;
    std::vector<std::string> stored;
    int failed = 0;
    int failed_since_restart = 0;
    int stored_since_restart = 0;
    int answered_late = 0;
    int answered_twice = 0;
    std::string late_answers;
    std::map<std::string, int> failure_codes;
    std::set<std::string> answered;
  };

  /// Waits (with a limit) until `predicate(state)` holds.
  template <class P>
  bool wait_until(P predicate, std::chrono::milliseconds limit) {
    std::unique_lock<std::mutex> lock{state_->mutex};
    return state_->changed.wait_for(lock, limit,
                                    [&] { return predicate(*state_); });
  }

  void mark_restarted() {
    std::lock_guard<std::mutex> lock{state_->mutex};
    state_->restarted = true;
  }

  /// Stops publishing and waits for the answers still due; false when some
  /// never came.
  bool stop() {
    {
      std::lock_guard<std::mutex> lock{state_->mutex};
      state_->stop = true;
      state_->changed.notify_all();
    }
    if (thread_.joinable())
      thread_.join();
    return wait_until([](state& s) { return s.outstanding == 0; }, 10s);
  }

  std::shared_ptr<state> results() { return state_; }

private:
  void run() {
    auto st = state_;
    std::unique_lock<std::mutex> lock{st->mutex};
    int failures_seen = 0;
    for (int i = 1; !st->stop; ++i) {
      // Paces the publishes while NATS refuses them.
      if (st->failed > failures_seen) {
        failures_seen = st->failed;
        st->changed.wait_for(lock, 20ms, [&] { return st->stop; });
      }
      st->changed.wait(lock,
                       [&] { return st->stop || st->outstanding < window_; });
      if (st->stop)
        break;
      ++st->outstanding;
      auto payload = "f" + std::to_string(i);
      auto sent = steady::now();
      lock.unlock();
      driver_.publish(
        ns_, message_op(topic_, payload), 2s,
        [st, payload, sent](model::outcome o) {
          std::lock_guard<std::mutex> l{st->mutex};
          --st->outstanding;
          if (!st->answered.insert(payload).second)
            ++st->answered_twice;
          if (steady::now() - sent > 3s) {
            ++st->answered_late;
            st->late_answers += o.status.message + "; ";
          }
          if (o.status.ok()) {
            st->stored.push_back(payload);
            if (st->restarted)
              ++st->stored_since_restart;
          } else {
            ++st->failed;
            if (st->restarted)
              ++st->failed_since_restart;
            ++st->failure_codes[std::string(prism::to_string(o.status.code))];
          }
          st->changed.notify_all();
        });
      lock.lock();
    }
  }

  pubsub_driver& driver_;
  const std::string ns_;
  const std::string topic_;
  const int window_;
  std::shared_ptr<state> state_;
  std::thread thread_;
};

TEST_CASE(
  "nats_driver (JetStream, fault): a restarted server loses no acknowledged "
  "message",
  "[nats][fault]") {
  private_nats server;
  auto d = connected_driver(true, server.url());
  auto ns = unique_name("fault");
  inbox box;
  box.auto_ack = true;
  auto sub
    = d->driver->subscribe(ns, subscription_op("t", "durable"), box.events());
  box.sub = sub.get();
  REQUIRE(box.wait_ready());
  sub->request(20);
  // Ephemeral subscribers ride the restart too: a core subscription (it
  // misses what is published while NATS is down) and an ordered consumer
  // from EARLIEST (it misses nothing stored).
  inbox live, replay;
  auto live_sub = d->driver->subscribe(ns, subscription_op("t"), live.events());
  auto replay_sub = d->driver->subscribe(
    ns, subscription_op("t", "", model::start_position::earliest),
    replay.events());
  REQUIRE(live.wait_ready());
  REQUIRE(replay.wait_ready());

  // Publishes keep going, up to 16 in flight, while the server stops and
  // comes back.
  using state = steady_publisher::state;
  steady_publisher publisher(*d->driver, ns, "t", 16);
  REQUIRE(
    publisher.wait_until([](state& s) { return s.stored.size() >= 100; }, 10s));

  server.stop_server();
  REQUIRE(d->states.wait_for(false, 10s));
  size_t reports_before_restart = d->states.events().size();
  REQUIRE(publisher.wait_until([](state& s) { return s.failed >= 20; }, 5s));
  {
    // A publish while NATS is down: refused within about its timeout.
    answer a;
    auto sent = steady::now();
    d->driver->publish(ns, message_op("t", "while-down"), 1s, a.callback());
    auto o = a.wait(5s);
    REQUIRE(o);
    CHECK((o->status.code == status_code::unavailable
           || o->status.code == status_code::deadline_exceeded));
    CHECK(steady::now() - sent < 2s);
  }

  server.start_server();
  publisher.mark_restarted();
  REQUIRE(d->states.wait_for(true, 15s, reports_before_restart));
  REQUIRE(publisher.wait_until(
    [](state& s) { return s.stored_since_restart >= 100; }, 15s));
  CHECK(publisher.stop()); // every publish answered
  // The core subscriber gets what is published after the restart.
  size_t live_before = live.messages().size();
  publish_all(*d->driver, ns, "t", {"after-restart"});
  REQUIRE(live.wait_payloads({"after-restart"}, 10s));
  CHECK(live.messages().size() > live_before);

  auto results = publisher.results();
  std::set<std::string> wanted;
  {
    std::lock_guard<std::mutex> lock{results->mutex};
    wanted.insert(results->stored.begin(), results->stored.end());
    INFO("stored " << results->stored.size() << ", failed " << results->failed);
    INFO("answered late: " << results->late_answers);
    CHECK(results->answered_late == 0);
    CHECK(results->answered_twice == 0);
    for (auto& [code, n] : results->failure_codes) {
      INFO(code << ": " << n);
      CHECK((code == "UNAVAILABLE" || code == "DEADLINE_EXCEEDED"));
    }
  }
  if (!box.wait_payloads(wanted, 25s)) {
    std::set<std::string> have;
    for (auto& p : box.payloads())
      have.insert(p);
    std::vector<std::string> missing;
    std::set_difference(wanted.begin(), wanted.end(), have.begin(), have.end(),
                        std::back_inserter(missing));
    std::string list;
    for (auto& m : missing)
      list += m + " ";
    FAIL("acknowledged as stored but never received: " << list);
  }
  if (!replay.wait_payloads(wanted, 25s))
    FAIL("the ordered consumer from EARLIEST missed stored messages");
  auto events = d->states.events();
  REQUIRE(events.size() >= 3);
  CHECK(events[0].first);
  CHECK_FALSE(events[1].first);
  CHECK(events.back().first);
  CHECK_FALSE(box.ended());
  CHECK_FALSE(live.ended());
  CHECK_FALSE(replay.ended());
}

TEST_CASE("nats_driver (JetStream, fault): a publish whose deadline runs out "
          "before the acknowledgment is DEADLINE_EXCEEDED, never UNAVAILABLE",
          "[nats][fault]") {
  private_nats server;
  auto d = connected_driver(true, server.url());
  auto ns = unique_name("deadline");
  REQUIRE(publish_now(*d->driver, ns, message_op("t", "first")).status.ok());

  SECTION("the server does not answer (SIGSTOP), 300 ms deadlines") {
    server.pause_server();
    for (int i = 0; i < 5; ++i) {
      auto o = publish_now(*d->driver, ns, message_op("t", "held"), 300ms);
      INFO(o.status.message);
      CHECK(o.status.code == status_code::deadline_exceeded);
    }
    server.resume_server();
  }
  SECTION("a healthy server, deadlines of 1 and 2 ms") {
    for (int i = 0; i < 100; ++i) {
      auto o = publish_now(*d->driver, ns, message_op("t", "quick"),
                           std::chrono::milliseconds(1 + i % 2));
      INFO(o.status.message);
      CHECK((o.status.ok() || o.status.code == status_code::deadline_exceeded));
    }
  }
}
