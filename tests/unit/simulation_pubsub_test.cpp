// PubSub in `prism simulate`: the simulated Kafka and NATS backends keep
// what each promises (a retained log and durable named subscriptions that
// resume at their acknowledged position; core NATS keeping nothing), the
// PubSub scenarios are validated, each PubSub oracle fails on a history
// made wrong on purpose and holds on a good one, and a planted defect (a
// durable subscription that drops on reconnect) is caught by a short
// campaign.

#include <algorithm>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <spdlog/spdlog.h>

#include <catch2/catch.hpp>

#include "simulation/pubsub_oracles.hpp"
#include "simulation/report.hpp"
#include "simulation/runner.hpp"
#include "simulation/scenario.hpp"
#include "simulation/sim_broker.hpp"

using namespace prism;
using namespace prism::simulation;

namespace {

const bool quiet = (spdlog::set_level(spdlog::level::off), true);

// --- the simulated backend, driven by hand ----------------------------------

/// A simulated backend and one client of it, as the gateway's broker actor
/// would hold them; every callback is recorded.
struct broker_fixture {
  std::shared_ptr<drivers::manual_clock> clock
    = std::make_shared<drivers::manual_clock>();
  std::shared_ptr<sim_broker> broker;
  drivers::pubsub_driver_ptr client;
  std::vector<std::pair<bool, std::string>> states;
  std::vector<model::outcome> answers;

  explicit broker_fixture(pubsub_model model) {
    broker = std::make_shared<sim_broker>("bus", model, clock);
    client = broker->make_client();
    client->start([this](bool up, const std::string& why) {
      states.emplace_back(up, why);
    });
  }

  void publish(const std::string& topic, const std::string& payload,
               drivers::op_timeout timeout = drivers::no_timeout) {
    client->publish("ns", model::publish_op{topic, payload, {}}, timeout,
                    [this](model::outcome o) { answers.push_back(o); });
  }

  void pump() {
    while (broker->has_work())
      broker->pump();
  }
};

/// One subscriber: what it received, in order.
struct subscriber {
  std::unique_ptr<drivers::pubsub_driver::subscription> handle;
  std::vector<model::message> received;
  bool ready = false;

  subscriber(broker_fixture& f, const std::string& topic,
             const std::string& name) {
    drivers::pubsub_driver::subscriber_events events;
    events.ready = [this] {
      ready = true;
    };
    events.message = [this](model::message m) {
      received.push_back(m);
    };
    events.ended = [](prism::status) {
    };
    handle = f.client->subscribe("ns", model::subscribe_op{topic, name, {}},
                                 std::move(events));
  }

  std::vector<std::string> payloads() const {
    std::vector<std::string> out;
    for (auto& m : received)
      out.push_back(m.payload);
    return out;
  }
  /// Acknowledges everything received so far and asks for `n` more.
  void ack_all(uint32_t n = 0) {
    for (auto& m : received)
      handle->ack(m.tag);
    if (n)
      handle->request(n);
  }
};

using strings = std::vector<std::string>;

} // namespace

TEST_CASE("sim broker: callbacks run only when pumped, publishes in order") {
  broker_fixture f(pubsub_model::kafka);
  subscriber s(f, "t", "");
  f.publish("t", "a");
  CHECK(f.answers.empty());
  CHECK_FALSE(s.ready);
  f.pump();
  CHECK(s.ready);
  // The subscriber was made ready in the same pump, after the publish was
  // stored: an ephemeral subscriber from the end of the log misses it.
  REQUIRE(f.answers.size() == 1);
  CHECK(f.answers[0].status.ok());
  f.publish("t", "b");
  f.publish("t", "c");
  f.pump();
  CHECK(s.payloads() == strings{"b", "c"});
  CHECK(f.broker->stored() == 3);
}

TEST_CASE("sim broker: a kafka named subscription is durable and "
          "at-least-once") {
  broker_fixture f(pubsub_model::kafka);
  auto first = std::make_unique<subscriber>(f, "t", "audit");
  f.pump();
  first->handle->request(2);
  for (auto p : {"m1", "m2", "m3"})
    f.publish("t", p);
  f.pump();
  // Credit for two: the third waits in the backend.
  CHECK(first->payloads() == strings{"m1", "m2"});
  first->handle->ack(first->received[0].tag);
  // m2 was sent, never acknowledged: it goes to the next member.
  first.reset();
  f.publish("t", "m4"); // published while nobody reads: retained
  f.pump();
  subscriber second(f, "t", "audit");
  f.pump();
  second.handle->request(10);
  f.pump();
  CHECK(second.payloads() == strings{"m2", "m3", "m4"});
  second.ack_all();
  CHECK(f.broker->backlog() == 0);
}

TEST_CASE("sim broker: core NATS keeps nothing and pushes without credit") {
  broker_fixture f(pubsub_model::nats_core);
  f.publish("t", "before");
  f.pump();
  subscriber named(f, "t", "workers");
  subscriber ephemeral(f, "t", "");
  f.pump();
  f.publish("t", "after");
  f.pump();
  // No credit was given, and core NATS pushes anyway; nothing published
  // before the subscribers were in place reaches them.
  CHECK(named.payloads() == strings{"after"});
  CHECK(ephemeral.payloads() == strings{"after"});
  CHECK(named.received[0].tag == 0);
  // A queue group without members loses what is published meanwhile.
  named.handle.reset();
  f.publish("t", "lost");
  f.pump();
  subscriber again(f, "t", "workers");
  f.pump();
  f.publish("t", "later");
  f.pump();
  CHECK(again.payloads() == strings{"later"});
}

TEST_CASE("sim broker: an outage holds publishes until their timeout and "
          "delivers nothing") {
  broker_fixture f(pubsub_model::jetstream);
  subscriber s(f, "t", "d");
  f.pump();
  s.handle->request(10);
  f.broker->set_down(true);
  f.pump();
  REQUIRE_FALSE(f.states.empty());
  CHECK_FALSE(f.states.back().first);
  f.publish("t", "late", std::chrono::milliseconds(50));
  f.publish("t", "waits");
  f.pump();
  CHECK(f.answers.empty());
  CHECK(f.broker->next_due_ms() == f.clock->now_ms() + 50);
  f.clock->advance_ms(50);
  f.broker->clock_moved();
  f.pump();
  REQUIRE(f.answers.size() == 1);
  CHECK(f.answers[0].status.code == status_code::deadline_exceeded);
  CHECK(s.received.empty());
  f.broker->set_down(false);
  f.pump();
  CHECK(f.states.back().first);
  REQUIRE(f.answers.size() == 2);
  CHECK(f.answers[1].status.ok());
  CHECK(s.payloads() == strings{"waits"});
}

TEST_CASE("sim broker: duplicates reach named subscriptions only, and the "
          "planted defect stops a durable one after an outage") {
  broker_fixture f(pubsub_model::kafka);
  subscriber named(f, "t", "d");
  subscriber ephemeral(f, "t", "");
  f.pump();
  named.handle->request(10);
  f.broker->set_duplicating(true);
  f.publish("t", "x");
  f.pump();
  CHECK(named.payloads() == strings{"x", "x"});
  CHECK(ephemeral.payloads() == strings{"x"});
  f.broker->set_duplicating(false);

  f.broker->plant_drops_on_reconnect(true);
  f.broker->set_down(true);
  f.pump();
  f.broker->set_down(false);
  f.publish("t", "y");
  f.pump();
  CHECK(named.payloads() == strings{"x", "x"});
  CHECK(ephemeral.payloads() == strings{"x", "y"});
  CHECK(f.broker->backlog() > 0);
}

// --- scenarios ---------------------------------------------------------------

namespace {

/// A PubSub scenario on `backend_yaml` (the lines of backend "bus", indented
/// by six spaces); `faults` is its faults: section.
std::string pubsub_scenario(const std::string& backend_yaml,
                            const std::string& faults,
                            const std::string& workload_extra = "") {
  return "name: pubsub-test\n"
         "gateway:\n"
         "  backends:\n"
         "    bus:\n"
    + backend_yaml
    + "      unavailable_after_ms: 400\n"
      "      circuit: {probe_after_ms: 200}\n"
      "  namespaces:\n"
      "    events: {backend: bus, pattern: pubsub}\n"
      "duration_ms: 5000\n"
      "workload:\n"
      "  clients: 3\n"
      "  think_ms: 20\n"
      "  namespace: events\n"
      "  topics: 2\n"
      "  subscribers_max: 5\n"
      "  deadline_ms: 400\n"
    + workload_extra + faults
    + "oracles:\n"
      "  - answered_once\n"
      "  - no_lost_publish\n"
      "  - pubsub_order\n"
      "  - pubsub_duplicates\n"
      "  - mailbox_bounded\n"
      "  - supervision\n";
}

const std::string kafka_yaml = "      type: kafka\n"
                               "      brokers: [127.0.0.1:9092]\n"
                               "      partitions: 1\n";
const std::string core_nats_yaml = "      type: nats\n"
                                   "      url: nats://127.0.0.1:4222\n"
                                   "      jetstream: false\n";
const std::string outage = "faults:\n"
                           "  schedule:\n"
                           "    - {at_ms: 1500, kind: outage, target: bus, "
                           "duration_ms: 1000}\n";

scenario must_parse(const std::string& text) {
  auto r = parse_scenario(text, "test.yaml");
  INFO(format_problems(r.problems));
  REQUIRE(r.ok());
  return *r.value;
}

std::string problems_of(const std::string& text) {
  auto r = parse_scenario(text, "bad.yaml");
  CHECK_FALSE(r.ok());
  return format_problems(r.problems);
}

const oracle_result& verdict_of(const run_report& r, oracle_kind kind) {
  for (auto& v : r.verdicts)
    if (v.kind == kind)
      return v;
  FAIL("no verdict of " << info_of(kind).name);
  return r.verdicts.front();
}

} // namespace

TEST_CASE("pubsub scenarios are validated with the file, line and field") {
  // KeyValue operations on a pubsub namespace.
  auto mixed = pubsub_scenario(kafka_yaml, "", "  mix: {get: 1, publish: 1}\n");
  auto line
    = 1 + std::count(mixed.begin(), mixed.begin() + mixed.find("  mix:"), '\n');
  CHECK_THAT(problems_of(mixed),
             Catch::Contains("bad.yaml:" + std::to_string(line)
                             + ":3: workload.mix: \"events\" is a pubsub "
                               "namespace: only publish and subscribe apply"));
  // A fault that needs connections, on a pubsub backend.
  CHECK_THAT(
    problems_of(pubsub_scenario(kafka_yaml,
                                "faults:\n  schedule:\n    - {at_ms: 10, kind: "
                                "connection_crash, target: bus}\n")),
    Catch::Contains("faults.schedule[0].target: connection_crash "
                    "acts on a keyvalue backend's connections"));
  // Duplicates on an at-most-once backend.
  CHECK_THAT(
    problems_of(pubsub_scenario(core_nats_yaml,
                                "faults:\n  schedule:\n    - {at_ms: 10, kind: "
                                "broker_duplicate, target: bus, duration_ms: "
                                "10}\n")),
    Catch::Contains("is core NATS (jetstream: false), which delivers "
                    "at most once"));
  // Subscription kinds are weights.
  CHECK_THAT(problems_of(pubsub_scenario(kafka_yaml, "",
                                         "  subscriptions: {durable: x}\n")),
             Catch::Contains("workload.subscriptions.durable:"));
  // A pubsub namespace on a memory backend has no client to simulate.
  auto memory = pubsub_scenario("      type: memory\n", "");
  const std::string unavailable = "      unavailable_after_ms: 400\n";
  memory.erase(memory.find(unavailable), unavailable.size());
  CHECK_THAT(problems_of(memory), Catch::Contains("cannot be simulated"));
  // A slow subscriber on a KeyValue workload.
  CHECK_THAT(problems_of("name: kv\n"
                         "gateway:\n"
                         "  backends: {mem: {type: memory}}\n"
                         "  namespaces: {kv: {backend: mem}}\n"
                         "duration_ms: 1000\n"
                         "workload: {namespace: kv, topics: 2}\n"
                         "faults:\n"
                         "  schedule:\n"
                         "    - {at_ms: 10, kind: slow_subscriber, "
                         "duration_ms: 10}\n"),
             Catch::Contains("workload.topics: applies only to a pubsub "
                             "namespace")
               && Catch::Contains("slow_subscriber needs a PubSub workload"));
  // Kill targets name brokers by their backend.
  CHECK_THAT(problems_of(pubsub_scenario(
               kafka_yaml,
               "faults:\n  schedule:\n    - {at_ms: 10, kind: kill, target: "
               "broker:nope}\n")),
             Catch::Contains("no kafka or nats backend \"nope\""));
}

TEST_CASE("a kafka pubsub run with an outage holds every oracle and replays "
          "byte for byte") {
  auto s = must_parse(pubsub_scenario(kafka_yaml, outage));
  auto a = run_scenario(s, 7);
  auto b = run_scenario(s, 7);
  CHECK(a.trace_text() == b.trace_text());
  for (auto& v : a.verdicts) {
    INFO(info_of(v.kind).name << ": " << v.summary << " " << v.counterexample);
    CHECK(v.outcome != verdict::failed);
  }
  CHECK(verdict_of(a, oracle_kind::no_lost_publish).outcome == verdict::held);
  CHECK_FALSE(a.deliveries.empty());
  // The outage ended the streams (unavailable_after_ms) and the
  // subscribers came back.
  auto resubscribed = std::count_if(a.ops.begin(), a.ops.end(),
                                    [](auto& op) { return op.resubscribe; });
  CHECK(resubscribed > 0);
  auto history = history_jsonl(a.ops, a.deliveries);
  CHECK_THAT(history, Catch::Contains("\"f\":\"deliver\""));
  CHECK_THAT(history, Catch::Contains("\"type\":\"invoke\",\"f\":\"publish\""));
}

TEST_CASE("slow_subscriber and broker_duplicate on JetStream: duplicates "
          "on named subscriptions only, nothing lost") {
  auto s = must_parse(pubsub_scenario(
    "      type: nats\n      url: nats://127.0.0.1:4222\n",
    "faults:\n  schedule:\n"
    "    - {at_ms: 1000, kind: slow_subscriber, duration_ms: 1500, params: "
    "{count: 3}}\n"
    "    - {at_ms: 1200, kind: broker_duplicate, target: bus, duration_ms: "
    "1000}\n"));
  auto r = run_scenario(s, 3);
  for (auto& v : r.verdicts) {
    INFO(info_of(v.kind).name << ": " << v.summary << " " << v.counterexample);
    CHECK(v.outcome != verdict::failed);
  }
  CHECK(std::count_if(r.trace.begin(), r.trace.end(),
                      [](auto& line) {
                        return line.find("sim bus duplicate")
                          != std::string::npos;
                      })
        > 0);
  CHECK(std::count_if(r.trace.begin(), r.trace.end(),
                      [](auto& line) {
                        return line.find("slow_subscriber")
                          != std::string::npos;
                      })
        > 0);
}

TEST_CASE("client_cancel closes subscriber streams mid-stream: they end "
          "CANCELLED, subscribe again, and nothing owed is lost") {
  auto s = must_parse(pubsub_scenario(
    "      type: nats\n      url: nats://127.0.0.1:4222\n",
    "faults:\n  schedule:\n"
    "    - {at_ms: 1500, kind: client_cancel, params: {count: 1, streams: "
    "3}}\n"));
  auto r = run_scenario(s, 4);
  for (auto& v : r.verdicts) {
    INFO(info_of(v.kind).name << ": " << v.summary << " " << v.counterexample);
    CHECK(v.outcome != verdict::failed);
  }
  REQUIRE(r.faults.size() == 1);
  CHECK_THAT(r.faults[0].outcome, Catch::StartsWith("cancelled streams s"));
  auto cancelled = std::count_if(
    r.streams.begin(), r.streams.end(), [](const subscriber_stream& st) {
      return st.end_code == status_code::cancelled
        && st.end_message.find("went away mid-stream") != std::string::npos;
    });
  CHECK(cancelled == 3);
  // Each one's client subscribed again under the same name.
  auto again
    = std::count_if(r.ops.begin(), r.ops.end(), [](const kv_operation& op) {
        return op.resubscribe && op.invoke_ms >= 1500;
      });
  CHECK(again >= 3);
}

TEST_CASE("the planted defect subscription_drops_on_reconnect fails "
          "no_lost_publish within 20 seeds, and without it all pass") {
  auto loaded = load_scenario(std::string(PRISM_SOURCE_DIR)
                              + "/simulations/pubsub-outage.yaml");
  INFO(format_problems(loaded.problems));
  REQUIRE(loaded.ok());
  auto& s = *loaded.value;
  run_options planted;
  planted.planted = {"subscription_drops_on_reconnect"};
  int failed_with = 0;
  std::string example;
  for (uint64_t seed = 1; seed <= 20; ++seed) {
    auto with = run_scenario(s, seed, planted);
    auto& v = verdict_of(with, oracle_kind::no_lost_publish);
    if (v.outcome == verdict::failed) {
      ++failed_with;
      example = v.counterexample;
    }
    auto without = run_scenario(s, seed);
    for (auto& w : without.verdicts) {
      INFO("seed " << seed << " " << info_of(w.kind).name << ": "
                   << w.counterexample);
      CHECK(w.outcome != verdict::failed);
    }
  }
  INFO(example);
  CHECK(failed_with > 0);
  CHECK_THAT(example, Catch::Contains("never reached durable subscription"));
}

// --- the oracles on hand-made histories ---------------------------------------

namespace {

struct pubsub_history {
  std::vector<kv_operation> ops;
  std::vector<subscriber_stream> streams;
  std::vector<delivery> deliveries;
  uint64_t index = 1;

  kv_operation& publish(const std::string& topic, const std::string& payload,
                        status_code code = status_code::ok) {
    kv_operation op;
    op.request_id = payload;
    op.f = op_function::publish;
    op.key = topic;
    op.value = payload;
    op.invoke_index = index++;
    op.invoke_ms = static_cast<int64_t>(op.invoke_index);
    op.code = code;
    op.complete_index = index++;
    op.complete_ms = static_cast<int64_t>(op.complete_index);
    ops.push_back(op);
    return ops.back();
  }
  subscriber_stream& stream(const std::string& topic, const std::string& name,
                            bool shared = false) {
    kv_operation op;
    op.request_id = "sub" + std::to_string(streams.size());
    op.f = op_function::subscribe;
    op.key = topic;
    op.value = name;
    op.invoke_index = index++;
    op.code = status_code::ok;
    op.complete_index = index++;
    ops.push_back(op);
    subscriber_stream s;
    s.id = static_cast<int64_t>(streams.size());
    s.topic = topic;
    s.subscription = name;
    s.shared = shared;
    s.request_id = op.request_id;
    s.ready_index = index++;
    streams.push_back(s);
    return streams.back();
  }
  void deliver(int64_t stream, const std::string& payload) {
    auto& s = streams[static_cast<size_t>(stream)];
    delivery d;
    d.index = index;
    index += 2;
    d.stream = s.id;
    d.topic = s.topic;
    d.subscription = s.subscription;
    d.payload = payload;
    deliveries.push_back(d);
  }
  void end(int64_t stream) {
    streams[static_cast<size_t>(stream)].end_index = index++;
  }
};

} // namespace

TEST_CASE("no_lost_publish: an acknowledged publish owed to a durable "
          "subscription that never arrives fails") {
  pubsub_history h;
  h.stream("t", "d");
  h.publish("t", "p1");
  h.publish("t", "p2");
  h.deliver(0, "p1");
  auto bad = check_no_lost_publish(h.ops, h.streams, h.deliveries,
                                   pubsub_model::kafka);
  CHECK(bad.outcome == verdict::failed);
  CHECK_THAT(bad.counterexample,
             Catch::Contains("p2")
               && Catch::Contains("durable subscription d"));
  h.deliver(0, "p2");
  CHECK(
    check_no_lost_publish(h.ops, h.streams, h.deliveries, pubsub_model::kafka)
      .outcome
    == verdict::held);
  // A subscription that ended and never came back is owed nothing.
  h.publish("t", "p3");
  h.end(0);
  CHECK(
    check_no_lost_publish(h.ops, h.streams, h.deliveries, pubsub_model::kafka)
      .outcome
    == verdict::held);
  // A message whose publish was refused cannot be delivered.
  pubsub_history phantom;
  phantom.stream("t", "");
  phantom.publish("t", "x", status_code::resource_exhausted);
  phantom.deliver(0, "x");
  auto ghost = check_no_lost_publish(
    phantom.ops, phantom.streams, phantom.deliveries, pubsub_model::nats_core);
  CHECK(ghost.outcome == verdict::failed);
  CHECK_THAT(ghost.counterexample, Catch::Contains("its publish failed"));
}

TEST_CASE("pubsub_order: a stream that gets a later publish first fails, "
          "except on shared subscriptions and Kafka partitions") {
  pubsub_history h;
  h.stream("t", "");
  h.stream("t", "s", true);
  h.publish("t", "first");
  h.publish("t", "second");
  h.deliver(0, "second");
  h.deliver(0, "first");
  h.deliver(1, "second");
  h.deliver(1, "first");
  auto bad = check_pubsub_order(h.ops, h.streams, h.deliveries,
                                pubsub_model::jetstream, 1);
  CHECK(bad.outcome == verdict::failed);
  CHECK_THAT(bad.counterexample, Catch::Contains("stream s0"));
  CHECK(
    check_pubsub_order(h.ops, h.streams, h.deliveries, pubsub_model::kafka, 3)
      .outcome
    == verdict::skipped);
  pubsub_history good;
  good.stream("t", "");
  good.publish("t", "first");
  good.publish("t", "second");
  good.deliver(0, "first");
  good.deliver(0, "second");
  good.deliver(0, "first"); // a redelivery is not a first delivery
  CHECK(check_pubsub_order(good.ops, good.streams, good.deliveries,
                           pubsub_model::kafka, 1)
          .outcome
        == verdict::held);
}

TEST_CASE("pubsub_duplicates: at-least-once only on kafka and JetStream "
          "named subscriptions") {
  pubsub_history h;
  h.stream("t", "d");
  h.stream("t", "");
  h.publish("t", "m");
  h.deliver(0, "m");
  h.deliver(0, "m");
  h.deliver(1, "m");
  CHECK(check_pubsub_duplicates(h.streams, h.deliveries, pubsub_model::kafka)
          .outcome
        == verdict::held);
  auto core
    = check_pubsub_duplicates(h.streams, h.deliveries, pubsub_model::nats_core);
  CHECK(core.outcome == verdict::failed);
  CHECK_THAT(core.counterexample, Catch::Contains("at-most-once"));
  h.deliver(1, "m");
  auto ephemeral
    = check_pubsub_duplicates(h.streams, h.deliveries, pubsub_model::kafka);
  CHECK(ephemeral.outcome == verdict::failed);
  CHECK_THAT(ephemeral.counterexample, Catch::Contains("stream s1"));
}
