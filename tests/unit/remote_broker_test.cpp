// The broker of a Kafka or NATS backend through the whole actor tree, on
// CAF's test coordinator, with a fake client that the test answers for the
// backend: publishes carry the time left and come back with the backend's
// answer, subscriptions wait for the backend, named ones pass on credit and
// acknowledge only what reached the client, outages end streams after
// unavailable_after_ms and refuse at once until the backend is back.

#include <memory>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "fake_pubsub.hpp"
#include "simulation/deterministic_gateway.hpp"

using namespace prism;
using prism::simulation::deterministic_gateway;
using prism::simulation::parse_config;
using prism::simulation::recording_sink;
using prism::testing::fake_pubsub_backend;
using prism::testing::fake_pubsub_factory;

namespace {

const char* kafka_config = R"(
server:
  session_idle_timeout_ms: 1000
backends:
  bus:
    type: kafka
    brokers: 127.0.0.1:9
    max_pending: 2
    unavailable_after_ms: 500
    circuit: {probe_after_ms: 250}
namespaces:
  events: {backend: bus, pattern: pubsub, subscription_buffer: 4}
)";

model::publish_op pub(std::string topic, std::string payload,
                      model::metadata md = {}) {
  return model::publish_op{std::move(topic), std::move(payload), std::move(md)};
}

model::subscribe_op sub(std::string topic, std::string name = {}) {
  return model::subscribe_op{std::move(topic), std::move(name),
                             model::start_position::latest};
}

model::message msg(const std::string& payload, uint64_t tag) {
  model::message m;
  m.topic = "orders";
  m.payload = payload;
  m.id = "0-" + std::to_string(tag);
  m.tag = tag;
  return m;
}

struct fixture {
  std::shared_ptr<fake_pubsub_backend> bus
    = std::make_shared<fake_pubsub_backend>();
  deterministic_gateway g{
    parse_config(kafka_config), {}, fake_pubsub_factory(bus)};

  /// A subscriber stream whose backend subscription is ready.
  std::pair<std::shared_ptr<recording_sink>,
            std::shared_ptr<fake_pubsub_backend::subscription_record>>
  ready_subscriber(const std::string& id, const std::string& name = {}) {
    auto before = bus->subscriptions.size();
    auto s = g.subscribe(id, "events", sub("orders", name));
    g.run();
    REQUIRE(bus->subscriptions.size() == before + 1);
    auto rec = bus->subscriptions.back();
    rec->events.ready();
    g.run();
    REQUIRE(s->is_subscribed);
    return {s, rec};
  }
};

} // namespace

TEST_CASE("remote broker: a publish reaches the client with the time left, "
          "and the backend's answer goes back to the caller") {
  fixture f;
  REQUIRE(f.bus->clients_made == 1);
  f.g.submit("p1", "events", pub("orders", "x", {{"k", "v"}}), 2000);
  f.g.run();
  REQUIRE(f.bus->publishes.size() == 1);
  auto& p = f.bus->publishes.front();
  CHECK(p.ns == "events");
  CHECK(p.op.topic == "orders");
  CHECK(p.op.payload == "x");
  CHECK(p.op.metadata == model::metadata{{"k", "v"}});
  CHECK(p.timeout == std::chrono::milliseconds(2000));
  CHECK_FALSE(f.g.answer_of("p1")); // not before the backend answers
  f.bus->answer_publish(model::outcome::success(model::publish_result{"0-7"}));
  f.g.run();
  REQUIRE(f.g.answer_of("p1"));
  REQUIRE(f.g.answer_of("p1")->status.ok());
  CHECK(std::get<model::publish_result>(f.g.answer_of("p1")->value).message_id
        == "0-7");

  // A publish without a deadline gets no timeout; a refusal passes through.
  f.g.submit("p2", "events", pub("orders", "y"));
  f.g.run();
  REQUIRE(f.bus->publishes.size() == 1);
  CHECK(f.bus->publishes.front().timeout == drivers::no_timeout);
  f.bus->answer_publish(model::outcome::failure(status_code::unavailable,
                                                "the message was not stored"));
  f.g.run();
  REQUIRE(f.g.answer_of("p2"));
  CHECK(f.g.answer_of("p2")->status.code == status_code::unavailable);
  CHECK(f.g.answer_of("p2")->status.message == "the message was not stored");
}

TEST_CASE("remote broker: at most max_pending publishes wait in the client, "
          "more are refused at once with a retry hint") {
  fixture f;
  f.g.submit("p1", "events", pub("orders", "1"));
  f.g.submit("p2", "events", pub("orders", "2"));
  f.g.submit("p3", "events", pub("orders", "3"));
  f.g.run();
  CHECK(f.bus->publishes.size() == 2);
  REQUIRE(f.g.answer_of("p3"));
  CHECK(f.g.answer_of("p3")->status.code == status_code::resource_exhausted);
  CHECK(f.g.answer_of("p3")->status.retry_after_ms > 0);
  CHECK_THAT(f.g.answer_of("p3")->status.message,
             Catch::Contains("max_pending"));
  f.bus->answer_publish(model::outcome::success(model::publish_result{"a"}));
  f.g.run();
  f.g.submit("p4", "events", pub("orders", "4"));
  f.g.run();
  CHECK(f.bus->publishes.size() == 2);
  CHECK_FALSE(f.g.answer_of("p4"));
}

TEST_CASE("remote broker: a stream is in place only once the backend says "
          "so, a named one passes on credit and acknowledges only what its "
          "client was sent") {
  fixture f;
  auto s = f.g.subscribe("s1", "events", sub("orders", "workers"));
  f.g.run();
  REQUIRE(f.g.answer_of("s1"));
  CHECK(f.g.answer_of("s1")->status.ok());
  REQUIRE(f.bus->subscriptions.size() == 1);
  auto rec = f.bus->subscriptions[0];
  CHECK(rec->ns == "events");
  CHECK(rec->op.topic == "orders");
  CHECK(rec->op.subscription == "workers");
  CHECK_FALSE(s->is_subscribed);
  CHECK(rec->credit == 0);

  rec->events.ready();
  f.g.run();
  CHECK(s->is_subscribed);
  CHECK(rec->credit == 4); // the namespace's subscription_buffer

  s->hold = true;
  rec->events.message(msg("a", 11));
  rec->events.message(msg("b", 12));
  rec->events.message(msg("c", 13));
  f.g.run();
  REQUIRE(s->received.size() == 1);
  CHECK(rec->acked.empty()); // "a" is still being written
  REQUIRE(s->release_one());
  f.g.run();
  CHECK(rec->acked == std::vector<uint64_t>{11});
  CHECK(rec->credit == 5);
  while (s->release_one())
    f.g.run();
  CHECK(rec->acked == std::vector<uint64_t>{11, 12, 13});
  CHECK(rec->credit == 7);
  std::vector<std::string> got;
  for (auto& m : s->received)
    got.push_back(m.payload);
  CHECK(got == std::vector<std::string>{"a", "b", "c"});
  CHECK(s->received[1].id == "0-12");
}

TEST_CASE("remote broker: an ephemeral stream is pushed and acknowledges "
          "nothing, cancelling it unsubscribes in the backend") {
  fixture f;
  auto [s, rec] = f.ready_subscriber("s1");
  CHECK(rec->op.subscription.empty());
  rec->events.message(msg("a", 0));
  rec->events.message(msg("b", 0));
  f.g.run();
  CHECK(s->received.size() == 2);
  CHECK(rec->acked.empty());
  CHECK_FALSE(rec->closed);
  s->cancel();
  f.g.run();
  CHECK(rec->closed);
  REQUIRE(s->finished);
  CHECK(s->finished->code == status_code::cancelled);
}

TEST_CASE("remote broker: a subscription the backend ends ends its stream "
          "with the backend's reason") {
  fixture f;
  auto [s, rec] = f.ready_subscriber("s1", "workers");
  rec->events.ended(status::failure(status_code::invalid_argument,
                                    "topic name too long for Kafka"));
  f.g.run();
  REQUIRE(s->finished);
  CHECK(s->finished->code == status_code::invalid_argument);
  CHECK(s->finished->message == "topic name too long for Kafka");
  CHECK(rec->closed);
}

TEST_CASE("remote broker: a short outage ends nothing, one past "
          "unavailable_after_ms ends every stream and refuses at once until "
          "the backend is back") {
  fixture f;
  auto [named, named_rec] = f.ready_subscriber("s1", "workers");
  auto [eph, eph_rec] = f.ready_subscriber("s2");

  // Down for 300 ms of the 500 allowed, then back: nothing ends.
  f.bus->report(false, "all brokers down");
  f.g.run();
  f.g.advance_ms(300);
  f.bus->report(true);
  f.g.run();
  f.g.advance_ms(500);
  CHECK_FALSE(named->finished);
  CHECK_FALSE(eph->finished);

  // Down again: publishes still wait in the client meanwhile.
  f.bus->report(false, "all brokers down");
  f.g.run();
  f.g.submit("p1", "events", pub("orders", "during"), 5000);
  f.g.run();
  CHECK(f.bus->publishes.size() == 1);
  f.g.advance_ms(400);
  CHECK_FALSE(named->finished);
  f.g.advance_ms(100);
  REQUIRE(named->finished);
  REQUIRE(eph->finished);
  CHECK(named->finished->code == status_code::unavailable);
  CHECK_THAT(named->finished->message,
             Catch::Contains("\"bus\"") && Catch::Contains("all brokers down"));
  CHECK(named_rec->closed);
  CHECK(eph_rec->closed);

  f.g.submit("p2", "events", pub("orders", "refused"));
  auto s3 = f.g.subscribe("s3", "events", sub("orders"));
  f.g.run();
  REQUIRE(f.g.answer_of("p2"));
  CHECK(f.g.answer_of("p2")->status.code == status_code::unavailable);
  CHECK(f.g.answer_of("p2")->status.retry_after_ms == 250);
  CHECK(f.bus->publishes.size() == 1);
  REQUIRE(f.g.answer_of("s3"));
  CHECK(f.g.answer_of("s3")->status.code == status_code::unavailable);
  REQUIRE(s3->finished);

  // Back: served again; the publish that waited gets its answer.
  f.bus->report(true);
  f.g.run();
  f.g.submit("p3", "events", pub("orders", "after"));
  f.g.run();
  CHECK(f.bus->publishes.size() == 2);
  f.bus->answer_publish(model::outcome::success(model::publish_result{"0-1"}));
  f.g.run();
  REQUIRE(f.g.answer_of("p1"));
  CHECK(f.g.answer_of("p1")->status.ok());
  auto [again, again_rec] = f.ready_subscriber("s4");
  CHECK_FALSE(again->finished);
}

TEST_CASE("remote broker: a restarted broker ends its streams, makes a new "
          "client, and a publish the old client still answers reaches its "
          "caller") {
  fixture f;
  auto [s, rec] = f.ready_subscriber("s1", "workers");
  f.g.submit("p1", "events", pub("orders", "in flight"));
  f.g.run();
  REQUIRE(f.bus->publishes.size() == 1);
  auto old_publish = std::move(f.bus->publishes.front());
  f.bus->publishes.clear();

  actor_info broker;
  for (auto& a : f.g.actors().snapshot(f.g.system().clock().now()))
    if (a.kind == "broker" && a.name == "bus")
      broker = a;
  REQUIRE(broker.id != 0);
  REQUIRE(f.g.actors().kill(broker.id, f.g.system()));
  f.g.run();
  REQUIRE(s->finished);
  CHECK(s->finished->code == status_code::unavailable);
  CHECK(rec->closed);
  CHECK(f.bus->clients_destroyed == 1);

  // The old client answers late: the caller still gets it.
  old_publish.done(model::outcome::success(model::publish_result{"0-9"}));
  f.g.run();
  REQUIRE(f.g.answer_of("p1"));
  CHECK(f.g.answer_of("p1")->status.ok());

  f.g.advance_ms(100);
  CHECK(f.bus->clients_made == 2);
  f.g.submit("p2", "events", pub("orders", "new client"));
  f.g.run();
  CHECK(f.bus->publishes.size() == 1);
}

TEST_CASE("pubsub: slow_subscriber: disconnect ends a stream that falls a "
          "whole buffer behind, the others keep everything") {
  deterministic_gateway g{parse_config(R"(
backends:
  mem: {type: memory}
namespaces:
  events: {backend: mem, pattern: pubsub, subscription_buffer: 2,
           slow_subscriber: disconnect}
)")};
  auto slow = g.subscribe("slow", "events", sub("t"));
  auto fast = g.subscribe("fast", "events", sub("t"));
  g.run();
  slow->hold = true;
  for (int i = 0; i < 4; ++i) {
    auto out = g.call("events", pub("t", "m" + std::to_string(i)));
    REQUIRE(out.status.ok());
  }
  g.run();
  // One message in its stream, two buffered, the fourth does not fit.
  REQUIRE(slow->finished);
  CHECK(slow->finished->code == status_code::resource_exhausted);
  CHECK_THAT(slow->finished->message, Catch::Contains("slow_subscriber"));
  CHECK(fast->received.size() == 4);
  CHECK_FALSE(fast->finished);
}
