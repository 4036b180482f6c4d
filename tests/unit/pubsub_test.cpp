// PubSub on the memory backend through the whole actor tree, on CAF's test
// coordinator: sessions start a subscription actor per stream, the topic
// broker delivers, subscriptions write one message at a time.

#include <algorithm>
#include <set>
#include <string>

#include <catch2/catch.hpp>

#include "pubsub/lag_board.hpp"
#include "runtime/metrics_registry.hpp"
#include "simulation/deterministic_gateway.hpp"

using namespace prism;
using prism::simulation::deterministic_gateway;
using prism::simulation::parse_config;
using prism::simulation::recording_sink;

namespace {

const char* pubsub_config = R"(
server:
  session_idle_timeout_ms: 1000
backends:
  mem: {type: memory}
namespaces:
  events: {backend: mem, pattern: pubsub}
  cache: {backend: mem}
)";

model::publish_op pub(std::string topic, std::string payload,
                      model::metadata md = {}) {
  return model::publish_op{std::move(topic), std::move(payload), std::move(md)};
}

model::subscribe_op sub(std::string topic, std::string name = {},
                        model::start_position start
                        = model::start_position::latest) {
  return model::subscribe_op{std::move(topic), std::move(name), start};
}

std::vector<std::string> payloads(const recording_sink& s) {
  std::vector<std::string> out;
  for (auto& m : s.received)
    out.push_back(m.payload);
  return out;
}

std::vector<std::string> numbered(int from, int to) {
  std::vector<std::string> out;
  for (int i = from; i < to; ++i)
    out.push_back("m" + std::to_string(i));
  return out;
}

actor_info find_actor(deterministic_gateway& g, const std::string& kind,
                      const std::string& name) {
  for (auto& a : g.actors().snapshot(g.system().clock().now()))
    if (a.kind == kind && a.name == name)
      return a;
  return {};
}

/// Publishes and checks the answer.
std::string publish(deterministic_gateway& g, const std::string& topic,
                    const std::string& payload, model::metadata md = {}) {
  auto out = g.call("events", pub(topic, payload, std::move(md)));
  INFO(to_string(out.status.code) << ": " << out.status.message);
  REQUIRE(out.status.ok());
  return std::get<model::publish_result>(out.value).message_id;
}

} // namespace

TEST_CASE("pubsub: a subscriber gets what is published to its topic, with "
          "id, metadata and time") {
  deterministic_gateway g{parse_config(pubsub_config)};
  auto s = g.subscribe("s1", "events", sub("orders"));
  g.run();
  REQUIRE(g.answer_of("s1"));
  CHECK(g.answer_of("s1")->status.ok());
  auto id = publish(g, "orders", std::string("\0\x01\xff", 3),
                    {{"source", "test"}, {"k", "v"}});
  publish(g, "other-topic", "not for s1");
  g.run();
  REQUIRE(s->received.size() == 1);
  auto& m = s->received[0];
  CHECK(m.topic == "orders");
  CHECK(m.payload == std::string("\0\x01\xff", 3));
  CHECK(m.metadata == model::metadata{{"source", "test"}, {"k", "v"}});
  CHECK(m.id == id);
  CHECK_FALSE(id.empty());
  CHECK(m.publish_time_ms == g.backend_clock_ms());
  CHECK_FALSE(s->finished);
}

TEST_CASE("pubsub: many messages arrive in order, unsubscribing stops "
          "delivery") {
  deterministic_gateway g{parse_config(pubsub_config)};
  auto s = g.subscribe("s1", "events", sub("t"));
  g.run();
  for (int i = 0; i < 50; ++i)
    publish(g, "t", "m" + std::to_string(i));
  g.run();
  CHECK(payloads(*s) == numbered(0, 50));
  s->cancel();
  g.run();
  REQUIRE(s->finished);
  CHECK(s->finished->code == status_code::cancelled);
  publish(g, "t", "after");
  g.run();
  CHECK(s->received.size() == 50);
  CHECK(find_actor(g, "subscription", "events/t").id == 0);
}

TEST_CASE("pubsub: fan-out to five subscribers on different connections") {
  deterministic_gateway g{parse_config(pubsub_config)};
  std::vector<std::shared_ptr<recording_sink>> subs;
  for (int i = 0; i < 5; ++i)
    subs.push_back(g.subscribe("s" + std::to_string(i), "events", sub("t"),
                               "client-" + std::to_string(i)));
  g.run();
  for (int i = 0; i < 10; ++i)
    publish(g, "t", "m" + std::to_string(i));
  g.run();
  for (auto& s : subs)
    CHECK(payloads(*s) == numbered(0, 10));
}

TEST_CASE("pubsub: a named subscription shares its messages among its "
          "members, and resumes where it left off") {
  deterministic_gateway g{parse_config(pubsub_config)};
  auto a = g.subscribe("a", "events", sub("jobs", "workers"), "client-a");
  auto b = g.subscribe("b", "events", sub("jobs", "workers"), "client-b");
  g.run();
  for (int i = 0; i < 20; ++i)
    publish(g, "jobs", "m" + std::to_string(i));
  g.run();
  // Each message went to exactly one member, and both got work.
  CHECK(a->received.size() + b->received.size() == 20);
  CHECK(a->received.size() >= 5);
  CHECK(b->received.size() >= 5);
  std::set<std::string> all;
  for (auto& s : {a, b})
    for (auto& p : payloads(*s))
      CHECK(all.insert(p).second);
  CHECK(all.size() == 20);

  // Everyone leaves; what is published meanwhile waits for the name.
  a->cancel();
  b->cancel();
  g.run();
  for (int i = 20; i < 30; ++i)
    publish(g, "jobs", "m" + std::to_string(i));
  auto c = g.subscribe("c", "events", sub("jobs", "workers"), "client-c");
  g.run();
  CHECK(payloads(*c) == numbered(20, 30));
}

TEST_CASE("pubsub: EARLIEST replays what the topic retains, LATEST only "
          "new messages") {
  deterministic_gateway g{parse_config(pubsub_config)};
  for (int i = 0; i < 3; ++i)
    publish(g, "t", "m" + std::to_string(i));
  auto early
    = g.subscribe("e", "events", sub("t", "", model::start_position::earliest));
  auto late = g.subscribe("l", "events", sub("t"), "client-2");
  g.run();
  publish(g, "t", "m3");
  g.run();
  CHECK(payloads(*early) == numbered(0, 4));
  CHECK(payloads(*late) == numbered(3, 4));
}

TEST_CASE("pubsub: a slow ephemeral subscriber drops its oldest messages "
          "and slows nobody, a slow named one holds the broker back and "
          "loses nothing") {
  deterministic_gateway g{parse_config(pubsub_config)};
  auto fast = g.subscribe("fast", "events", sub("t"), "client-fast");
  auto slow = g.subscribe("slow", "events", sub("t"), "client-slow");
  auto durable
    = g.subscribe("durable", "events", sub("t", "keep"), "client-durable");
  slow->hold = true;
  durable->hold = true;
  g.run();
  const int n = 300;
  for (int i = 0; i < n; ++i)
    publish(g, "t", "m" + std::to_string(i));
  g.run();
  CHECK(payloads(*fast) == numbered(0, n));
  // The slow one is writing m0 and buffers at most 256 more.
  CHECK(slow->received.size() == 1);
  while (slow->release_one())
    g.run();
  auto got = payloads(*slow);
  REQUIRE(got.size() == 1 + defaults::subscription_buffer_messages);
  CHECK(got.front() == "m0");
  // It kept the newest: the oldest waiting ones were dropped.
  CHECK(got.back() == "m" + std::to_string(n - 1));
  // The inspector shows the drops on the slow stream's subscription only
  // (two ephemeral subscriptions share the name "events/t").
  std::vector<uint64_t> drops;
  for (auto& a : g.actors().snapshot(g.system().clock().now()))
    if (a.kind == "subscription") {
      CHECK(a.mailbox_high_water <= defaults::subscription_buffer_messages);
      if (a.name == "events/t")
        drops.push_back(a.rejected);
    }
  std::sort(drops.begin(), drops.end());
  CHECK(
    drops
    == std::vector<uint64_t>{
      0,
      static_cast<uint64_t>(n - 1 - defaults::subscription_buffer_messages)});
  // The named subscription pulled only what it could buffer; the rest
  // waited in the topic and comes as it reads.
  while (durable->release_one())
    g.run();
  CHECK(payloads(*durable) == numbered(0, n));
}

TEST_CASE("pubsub: wrong calls get clear answers") {
  deterministic_gateway g{parse_config(pubsub_config)};
  auto on_kv = g.call("cache", pub("t", "x"));
  CHECK(on_kv.status.code == status_code::failed_precondition);
  CHECK_THAT(on_kv.status.message, Catch::Contains("KeyValue API"));
  auto kv_on_pubsub = g.call("events", model::get_op{"k"});
  CHECK(kv_on_pubsub.status.code == status_code::failed_precondition);
  auto bad_topic = g.call("events", pub("a b", "x"));
  CHECK(bad_topic.status.code == status_code::invalid_argument);
  CHECK_THAT(bad_topic.status.message, Catch::Contains("topic"));
  auto empty_topic = g.call("events", pub("", "x"));
  CHECK(empty_topic.status.code == status_code::invalid_argument);
  auto too_large
    = g.call("events", pub("t", std::string(4 * 1024 * 1024 + 1, 'p')));
  CHECK(too_large.status.code == status_code::invalid_argument);
  CHECK_THAT(too_large.status.message,
             Catch::StartsWith("payload of 4194305 bytes exceeds"));
  auto odd = g.subscribe("odd", "events",
                         sub("t", {}, model::start_position::unknown));
  auto s = g.subscribe("nowhere", "missing", sub("t"));
  g.run();
  REQUIRE(g.answer_of("odd"));
  CHECK(g.answer_of("odd")->status.code == status_code::invalid_argument);
  CHECK(g.answer_of("odd")->status.message
        == "start is neither LATEST (0) nor EARLIEST (1)");
  CHECK(odd->received.empty());
  REQUIRE(g.answer_of("nowhere"));
  CHECK(g.answer_of("nowhere")->status.code == status_code::not_found);
  // The stream's subscription does not linger.
  CHECK(find_actor(g, "subscription", "missing/t").id == 0);
  REQUIRE(s->finished);
}

TEST_CASE("pubsub: when the broker is restarted its streams end UNAVAILABLE, "
          "a new subscription works") {
  deterministic_gateway g{parse_config(pubsub_config)};
  auto s = g.subscribe("s", "events", sub("t"));
  g.run();
  auto broker = find_actor(g, "broker", "mem");
  REQUIRE(broker.id != 0);
  REQUIRE(g.actors().kill(broker.id, g.system()));
  g.run();
  REQUIRE(s->finished);
  CHECK(s->finished->code == status_code::unavailable);
  g.advance_ms(100);
  REQUIRE(find_actor(g, "broker", "mem").id != 0);
  auto again = g.subscribe("s2", "events", sub("t"));
  g.run();
  publish(g, "t", "hello");
  g.run();
  CHECK(payloads(*again) == std::vector<std::string>{"hello"});
}

TEST_CASE("pubsub: a session with an open stream is not closed as idle") {
  deterministic_gateway g{parse_config(pubsub_config)};
  auto s = g.subscribe("s", "events", sub("t"));
  g.run();
  g.advance_ms(1000);
  g.advance_ms(1000);
  g.advance_ms(1000);
  publish(g, "t", "still here");
  g.run();
  CHECK(payloads(*s) == std::vector<std::string>{"still here"});
  CHECK_FALSE(s->finished);
}

TEST_CASE("pubsub: a memory topic retains its last 1000 messages, and a "
          "backend holds a bounded number of topics") {
  deterministic_gateway g{parse_config(pubsub_config)};
  const int n = static_cast<int>(defaults::memory_topic_retained_messages) + 5;
  for (int i = 0; i < n; ++i)
    publish(g, "t", "m" + std::to_string(i));
  // A named subscription from EARLIEST pulls everything retained.
  auto s = g.subscribe("s", "events",
                       sub("t", "reader", model::start_position::earliest));
  g.run();
  CHECK(payloads(*s) == numbered(5, n));
  // Topics: up to the limit, then refused (this one exists already).
  for (uint32_t i = 1; i < defaults::memory_topics_max; ++i)
    publish(g, "topic-" + std::to_string(i), "x");
  auto refused = g.call("events", pub("one-too-many", "x"));
  CHECK(refused.status.code == status_code::resource_exhausted);
  CHECK_THAT(refused.status.message, Catch::Contains("topics"));
  // Existing topics still work.
  publish(g, "t", "still");
  publish(g, "topic-1", "still");
}

TEST_CASE("pubsub: what a departing member of a named subscription was sent "
          "but had not written goes to the next member, before anything new") {
  deterministic_gateway g{parse_config(pubsub_config)};
  auto first = g.subscribe("s1", "events", sub("t", "workers"));
  g.run();
  first->hold = true; // a slow reader: one write stays in flight
  for (int i = 0; i < 3; ++i)
    publish(g, "t", "m" + std::to_string(i));
  g.run();
  REQUIRE(first->release_one()); // m0 is written: consumed
  g.run();
  CHECK(payloads(*first) == numbered(0, 2)); // m1 in flight, m2 buffered
  first->cancel();
  g.run();
  publish(g, "t", "m3");
  auto second = g.subscribe("s2", "events", sub("t", "workers"));
  g.run();
  // m1 and m2 again (the first member never finished writing them), then m3.
  CHECK(payloads(*second) == numbered(1, 4));
}

namespace {

/// The value of `prism_pubsub_lag` for (events, topic, subscription) in the
/// gateway's /metrics, or -1 when it has no such series.
double lag_of(deterministic_gateway& g, const std::string& topic,
              const std::string& subscription) {
  auto text = g.metrics_text();
  auto series = "prism_pubsub_lag{namespace=\"events\",subscription=\""
    + subscription + "\",topic=\"" + topic + "\"} ";
  auto at = text.find(series);
  if (at == std::string::npos)
    return -1;
  return std::stod(text.substr(at + series.size()));
}

} // namespace

TEST_CASE("pubsub: a named subscription's lag on /metrics is what it has not "
          "consumed, with or without members") {
  deterministic_gateway g{parse_config(pubsub_config)};
  auto reader = g.subscribe("s1", "events", sub("t", "keep"));
  auto eph = g.subscribe("s2", "events", sub("t"));
  g.run();
  CHECK(lag_of(g, "t", "keep") == 0);
  reader->hold = true;
  for (int i = 0; i < 5; ++i)
    publish(g, "t", "m" + std::to_string(i));
  g.run();
  // All five went to the member (its buffer has room); none is written.
  CHECK(reader->received.size() == 1);
  CHECK(lag_of(g, "t", "keep") == 5);
  REQUIRE(reader->release_one());
  g.run();
  CHECK(lag_of(g, "t", "keep") == 4);
  while (reader->release_one())
    g.run();
  CHECK(payloads(*reader) == numbered(0, 5));
  CHECK(lag_of(g, "t", "keep") == 0);

  // Without a member the topic keeps its place and the lag grows.
  reader->cancel();
  g.run();
  for (int i = 5; i < 8; ++i)
    publish(g, "t", "m" + std::to_string(i));
  g.run();
  CHECK(lag_of(g, "t", "keep") == 3);
  auto again = g.subscribe("s3", "events", sub("t", "keep"));
  g.run();
  CHECK(payloads(*again) == numbered(5, 8));
  CHECK(lag_of(g, "t", "keep") == 0);
  // An ephemeral subscriber has no lag series; it shows in
  // prism_pubsub_buffered instead.
  CHECK(eph->received.size() == 8);
  CHECK(g.metrics_text().find("prism_pubsub_lag{namespace=\"events\","
                              "subscription=\"\"")
        == std::string::npos);
}

TEST_CASE("pubsub: the lag board reports the largest figure of a "
          "subscription's live entries, and forgets it with the last") {
  pubsub_lag_board board;
  auto render = [&] {
    return render_prometheus(board.report());
  };
  auto unset = board.track("ns", "t", "a");
  CHECK(render().find("prism_pubsub_lag{") == std::string::npos);
  auto first = board.track("ns", "t", "a");
  auto second = board.track("ns", "t", "a");
  auto other = board.track("ns", "u", "a");
  first->set(3);
  second->set(7);
  other->set(0);
  auto text = render();
  CHECK_THAT(text,
             Catch::Contains("prism_pubsub_lag{namespace=\"ns\","
                             "subscription=\"a\",topic=\"t\"} 7\n"));
  CHECK_THAT(text,
             Catch::Contains("prism_pubsub_lag{namespace=\"ns\","
                             "subscription=\"a\",topic=\"u\"} 0\n"));
  second.reset();
  CHECK_THAT(render(), Catch::Contains("topic=\"t\"} 3\n"));
  first.reset();
  unset.reset();
  other.reset();
  CHECK(render().find("prism_pubsub_lag{") == std::string::npos);
}
