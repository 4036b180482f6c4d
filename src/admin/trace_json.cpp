#include "admin/trace_json.hpp"

#include <chrono>

#include <nlohmann/json.hpp>

#include "admin/actor_json.hpp"
#include "runtime/inspector.hpp"

namespace prism {

namespace {

/// Wall-clock milliseconds of `at` against the answer's `now`.
int64_t wall_ms_of(caf::actor_clock::time_point at,
                   caf::actor_clock::time_point now, int64_t generated_at_ms) {
  using namespace std::chrono;
  return generated_at_ms - duration_cast<milliseconds>(now - at).count();
}

nlohmann::json label_of(const slow_hop& hop, const inspector* actors) {
  if (!hop.label.empty())
    return hop.label;
  if (actors != nullptr && hop.actor != 0)
    if (auto record = actors->find(hop.actor))
      return record->kind() + ":" + record->name();
  return nullptr;
}

} // namespace

nlohmann::json to_json(const tap_view& tap, caf::actor_clock::time_point now,
                       int64_t generated_at_ms) {
  auto events = nlohmann::json::array();
  uint64_t last_seq = 0;
  for (auto& e : tap.events) {
    events.push_back({
      {"seq", e.seq},
      {"at_ms", wall_ms_of(e.at, now, generated_at_ms)},
      {"actor", e.actor},
      {"label", e.label},
      {"message", e.message},
      {"handler_us", e.handler_us},
    });
    last_seq = e.seq;
  }
  bool running = tap.stopped_by == tap_stop::none;
  return {
    {"generated_at_ms", generated_at_ms},
    {"tap", tap.tap},
    {"target", tap.target},
    {"actors", tap.actors},
    {"max", tap.events_max},
    {"for_ms", tap.duration.count()},
    {"state", running ? "running" : "stopped"},
    {"stopped_by",
     running ? nlohmann::json(nullptr)
             : nlohmann::json(to_string(tap.stopped_by))},
    {"events", std::move(events)},
    {"dropped", tap.dropped},
    {"last_seq", last_seq},
  };
}

nlohmann::json to_json_followed(const slow_entry& call, const char* source,
                                const inspector* actors,
                                caf::actor_clock::time_point now,
                                int64_t generated_at_ms) {
  auto entry = to_json(call, now, generated_at_ms);
  // The call began total_us before its answer; each hop began where the
  // spans before it end.
  int64_t answered_at_us = entry["at_ms"].get<int64_t>() * 1000;
  int64_t began_at_us = answered_at_us - call.total_us;
  int64_t offset_us = 0;
  auto events = nlohmann::json::array();
  for (auto& hop : call.hops) {
    events.push_back({
      {"at_ms", (began_at_us + offset_us) / 1000},
      {"offset_us", offset_us},
      {"us", hop.us},
      {"actor", hop.actor},
      {"label", label_of(hop, actors)},
      {"what", hop.name},
    });
    offset_us += hop.us;
  }
  if (!call.hops.empty())
    events.push_back({
      {"at_ms", answered_at_us / 1000},
      {"offset_us", call.total_us},
      {"us", 0},
      {"actor", call.hops.front().actor},
      {"label", label_of(call.hops.front(), actors)},
      {"what", "answered " + entry["code"].get<std::string>()},
    });
  return {
    {"generated_at_ms", generated_at_ms},
    {"request_id", call.request_id},
    {"state", "done"},
    {"source", source},
    {"call", std::move(entry)},
    {"events", std::move(events)},
  };
}

} // namespace prism
