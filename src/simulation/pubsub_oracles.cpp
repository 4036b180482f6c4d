#include "simulation/pubsub_oracles.hpp"

#include <map>
#include <set>
#include <string>
#include <tuple>

namespace prism::simulation {

namespace {

using subscription_key = std::pair<std::string, std::string>;

bool has_pubsub(const std::vector<kv_operation>& ops) {
  for (auto& op : ops)
    if (op.is_pubsub())
      return true;
  return false;
}

std::map<std::string, const kv_operation*> publishes_by_payload(
  const std::vector<kv_operation>& ops) {
  std::map<std::string, const kv_operation*> out;
  for (auto& op : ops)
    if (op.f == op_function::publish)
      out[op.value] = &op;
  return out;
}

std::string stream_name(const subscriber_stream& s) {
  return "stream s" + std::to_string(s.id) + " (" + s.topic
    + (s.named() ? ", subscription " + s.subscription : ", ephemeral") + ")";
}

std::string ms(int64_t t) {
  return std::to_string(t) + " ms";
}

/// A delivered message whose publish never happened or certainly failed.
std::string phantom(const std::vector<kv_operation>& ops,
                    const std::vector<delivery>& deliveries) {
  auto by_payload = publishes_by_payload(ops);
  for (auto& d : deliveries) {
    auto i = by_payload.find(d.payload);
    if (i == by_payload.end())
      return "message " + d.payload + " (id " + d.message_id
        + ") was delivered to stream s" + std::to_string(d.stream) + " at "
        + ms(d.time_ms) + ", but no client published it";
    if (classify(*i->second) == completion_type::fail)
      return "message " + d.payload + " was delivered to stream s"
        + std::to_string(d.stream) + " at " + ms(d.time_ms)
        + ", but its publish failed: " + describe(*i->second);
  }
  return {};
}

struct durable_subscription {
  uint64_t first_ready = 0;
  const subscriber_stream* first = nullptr;
  const subscriber_stream* open_at_end = nullptr;
  std::set<std::string> delivered;
};

} // namespace

oracle_result check_no_lost_publish(
  const std::vector<kv_operation>& ops,
  const std::vector<subscriber_stream>& streams,
  const std::vector<delivery>& deliveries, pubsub_model model) {
  const auto kind = oracle_kind::no_lost_publish;
  if (!has_pubsub(ops))
    return {kind, verdict::skipped, "no PubSub calls in this run", {}};
  if (auto why = phantom(ops, deliveries); !why.empty())
    return {kind, verdict::failed,
            "a message was delivered that no publish could have stored", why};
  if (model == pubsub_model::nats_core)
    return {kind,
            verdict::held,
            std::to_string(deliveries.size())
              + " deliveries, each of a publish that may have been stored "
                "(core NATS keeps no durable subscription to owe more)",
            {}};
  std::map<subscription_key, durable_subscription> subs;
  for (auto& s : streams) {
    if (!s.named() || s.ready_index == 0)
      continue;
    auto& d = subs[{s.topic, s.subscription}];
    if (!d.first || s.ready_index < d.first_ready) {
      d.first_ready = s.ready_index;
      d.first = &s;
    }
    if (s.end_index == 0)
      d.open_at_end = &s;
  }
  for (auto& d : deliveries)
    if (!d.subscription.empty()) {
      auto i = subs.find({d.topic, d.subscription});
      if (i != subs.end())
        i->second.delivered.insert(d.payload);
    }
  uint64_t checked = 0;
  uint64_t judged_subs = 0;
  for (auto& [key, d] : subs) {
    if (!d.open_at_end)
      continue;
    ++judged_subs;
    const kv_operation* first_missing = nullptr;
    uint64_t missing = 0;
    uint64_t owed = 0;
    for (auto& op : ops) {
      if (op.f != op_function::publish || op.key != key.first
          || op.code != status_code::ok || op.cancelled
          || op.invoke_index < d.first_ready)
        continue;
      ++owed;
      if (d.delivered.count(op.value) == 0) {
        ++missing;
        if (!first_missing)
          first_missing = &op;
      }
    }
    checked += owed;
    if (first_missing)
      return {kind, verdict::failed,
              "an acknowledged publish never reached a durable subscription",
              describe(*first_missing) + " never reached durable subscription "
                + key.second + " of " + key.first + ", in place since "
                + ms(d.first->ready_ms) + " (stream s"
                + std::to_string(d.first->id)
                + ") and open at the end (stream s"
                + std::to_string(d.open_at_end->id) + "); "
                + std::to_string(missing) + " of the " + std::to_string(owed)
                + " acknowledged publishes it was owed are missing"};
  }
  if (judged_subs == 0)
    return {kind,
            verdict::held,
            "every delivery was of a publish that may have been stored; no "
            "durable subscription was in place and open at the end to owe "
            "more",
            {}};
  return {kind,
          verdict::held,
          std::to_string(checked) + " acknowledged publishes owed to "
            + std::to_string(judged_subs)
            + " durable subscriptions, each delivered at least once",
          {}};
}

oracle_result check_pubsub_order(const std::vector<kv_operation>& ops,
                                 const std::vector<subscriber_stream>& streams,
                                 const std::vector<delivery>& deliveries,
                                 pubsub_model model,
                                 uint32_t kafka_partitions) {
  const auto kind = oracle_kind::pubsub_order;
  if (!has_pubsub(ops))
    return {kind, verdict::skipped, "no PubSub calls in this run", {}};
  if (model == pubsub_model::kafka && kafka_partitions > 1)
    return {kind,
            verdict::skipped,
            "Kafka spreads each topic over " + std::to_string(kafka_partitions)
              + " partitions and keeps order only within one",
            {}};
  auto by_payload = publishes_by_payload(ops);
  std::map<int64_t, const subscriber_stream*> stream_of;
  for (auto& s : streams)
    stream_of[s.id] = &s;
  struct progress {
    std::set<std::string> seen;
    /// The latest-called publish delivered so far.
    const kv_operation* latest = nullptr;
  };
  std::map<int64_t, progress> per_stream;
  uint64_t checked = 0;
  for (auto& d : deliveries) {
    auto s = stream_of.find(d.stream);
    if (s == stream_of.end() || s->second->shared)
      continue;
    auto p = by_payload.find(d.payload);
    if (p == by_payload.end())
      continue;
    auto& pr = per_stream[d.stream];
    if (!pr.seen.insert(d.payload).second)
      continue;
    ++checked;
    auto* op = p->second;
    if (pr.latest && op->code == status_code::ok
        && op->complete_index < pr.latest->invoke_index)
      return {kind, verdict::failed,
              "a stream received a topic's messages out of order",
              stream_name(*s->second) + " received " + pr.latest->value
                + " (published at " + ms(pr.latest->invoke_ms) + ") before "
                + op->value + ", which was acknowledged at "
                + ms(op->complete_ms) + ", before " + pr.latest->value
                + " was published"};
    if (!pr.latest || op->invoke_index > pr.latest->invoke_index)
      pr.latest = op;
  }
  return {kind,
          verdict::held,
          std::to_string(checked) + " first deliveries on "
            + std::to_string(per_stream.size())
            + " streams (shared subscriptions left out) in publish order",
          {}};
}

oracle_result check_pubsub_duplicates(
  const std::vector<subscriber_stream>& streams,
  const std::vector<delivery>& deliveries, pubsub_model model) {
  const auto kind = oracle_kind::pubsub_duplicates;
  if (streams.empty())
    return {kind, verdict::skipped, "no subscriber streams in this run", {}};
  std::map<int64_t, const subscriber_stream*> stream_of;
  for (auto& s : streams)
    stream_of[s.id] = &s;
  // Named subscriptions by (topic, name); ephemeral streams by their id.
  std::map<std::tuple<std::string, std::string, int64_t>,
           std::map<std::string, uint64_t>>
    counts;
  uint64_t allowed = 0;
  for (auto& d : deliveries) {
    bool named = !d.subscription.empty();
    auto key = std::make_tuple(d.topic, d.subscription, named ? -1 : d.stream);
    auto n = ++counts[key][d.payload];
    if (n < 2)
      continue;
    if (named && model != pubsub_model::nats_core) {
      ++allowed;
      continue;
    }
    auto s = stream_of.find(d.stream);
    auto where = s == stream_of.end() ? "stream s" + std::to_string(d.stream)
                                      : stream_name(*s->second);
    return {
      kind, verdict::failed,
      "a message was delivered twice where the backend delivers at "
      "most once",
      "message " + d.payload + " reached "
        + (named ? "subscription " + d.subscription + " of " + d.topic : where)
        + " " + std::to_string(n) + " times (the last at " + ms(d.time_ms)
        + " on stream s" + std::to_string(d.stream) + "); "
        + std::string(to_string(model))
        + (named ? " queue groups" : " ephemeral subscribers")
        + " are at-most-once"};
  }
  return {kind,
          verdict::held,
          std::to_string(deliveries.size()) + " deliveries to "
            + std::to_string(counts.size()) + " subscriptions; "
            + std::to_string(allowed)
            + " repeated on at-least-once subscriptions, none elsewhere",
          {}};
}

} // namespace prism::simulation
