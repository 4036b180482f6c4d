#include "admin/actor_json.hpp"

#include <algorithm>
#include <unordered_map>
#include <unordered_set>

#include <nlohmann/json.hpp>

namespace prism {

nlohmann::json to_json(const actor_info& actor, int64_t generated_at_ms) {
  nlohmann::json failure = nullptr;
  if (actor.last_failure)
    failure = {
      {"reason", actor.last_failure->reason},
      {"at_ms", generated_at_ms - actor.last_failure->ago_ms},
      {"ago_ms", actor.last_failure->ago_ms},
    };
  return {
    {"id", actor.id},
    {"kind", actor.kind},
    {"name", actor.name},
    {"parent", actor.parent},
    {"state", actor.state},
    {"started_at_ms", generated_at_ms - actor.uptime_ms},
    {"uptime_ms", actor.uptime_ms},
    {"mailbox_depth", actor.mailbox_depth},
    {"mailbox_high_water", actor.mailbox_high_water},
    {"mailbox_limit", actor.mailbox_limit},
    {"admitted", actor.admitted},
    {"rejected", actor.rejected},
    {"handled", actor.handled},
    {"restarts", actor.restarts},
    {"busy_us", actor.busy_us},
    {"handler_us",
     {{"p50", actor.handler_p50_us},
      {"p99", actor.handler_p99_us},
      {"max", actor.handler_max_us}}},
    {"last_failure", std::move(failure)},
  };
}

nlohmann::json to_json_list(const std::vector<actor_info>& actors,
                            int64_t generated_at_ms) {
  auto list = nlohmann::json::array();
  for (auto& actor : actors)
    list.push_back(to_json(actor, generated_at_ms));
  return {
    {"generated_at_ms", generated_at_ms},
    {"count", actors.size()},
    {"actors", std::move(list)},
  };
}

namespace {

struct tree_builder {
  const std::vector<actor_info>& actors;
  int64_t generated_at_ms;
  std::unordered_map<uint64_t, std::vector<size_t>> children;
  std::vector<bool> placed;

  nlohmann::json node(size_t index) {
    placed[index] = true;
    auto result = to_json(actors[index], generated_at_ms);
    auto kids = nlohmann::json::array();
    auto i = children.find(actors[index].id);
    if (i != children.end())
      for (auto child : i->second)
        if (!placed[child])
          kids.push_back(node(child));
    result["children"] = std::move(kids);
    return result;
  }
};

} // namespace

nlohmann::json to_json_tree(const std::vector<actor_info>& actors,
                            int64_t generated_at_ms) {
  // Order by id whatever the input order, so the output is stable.
  std::vector<actor_info> sorted = actors;
  std::sort(
    sorted.begin(), sorted.end(),
    [](const actor_info& a, const actor_info& b) { return a.id < b.id; });
  tree_builder tree{
    sorted, generated_at_ms, {}, std::vector<bool>(sorted.size())};
  std::unordered_set<uint64_t> known;
  for (auto& actor : sorted)
    known.insert(actor.id);
  std::vector<size_t> roots;
  for (size_t i = 0; i < sorted.size(); ++i) {
    auto parent = sorted[i].parent;
    if (parent == 0 || parent == sorted[i].id || known.count(parent) == 0)
      roots.push_back(i);
    else
      tree.children[parent].push_back(i);
  }
  auto list = nlohmann::json::array();
  for (auto root : roots)
    list.push_back(tree.node(root));
  // Actors on a parent cycle are reachable from no root: show them as roots
  // rather than hide them.
  for (size_t i = 0; i < sorted.size(); ++i)
    if (!tree.placed[i])
      list.push_back(tree.node(i));
  return {
    {"generated_at_ms", generated_at_ms},
    {"count", sorted.size()},
    {"actors", std::move(list)},
  };
}

std::optional<nlohmann::json> to_json_one(const std::vector<actor_info>& actors,
                                          uint64_t id,
                                          int64_t generated_at_ms) {
  auto i = std::find_if(actors.begin(), actors.end(),
                        [id](const actor_info& a) { return a.id == id; });
  if (i == actors.end())
    return std::nullopt;
  auto actor = to_json(*i, generated_at_ms);
  std::vector<uint64_t> kids;
  for (auto& other : actors)
    if (other.parent == id && other.id != id)
      kids.push_back(other.id);
  std::sort(kids.begin(), kids.end());
  actor["children"] = kids;
  return nlohmann::json{
    {"generated_at_ms", generated_at_ms},
    {"actor", std::move(actor)},
  };
}

nlohmann::json to_json(const slow_entry& e, caf::actor_clock::time_point now,
                       int64_t generated_at_ms) {
  auto hops = nlohmann::json::array();
  for (auto& h : e.hops)
    hops.push_back({{"name", h.name}, {"us", h.us}});
  auto ago_ms = std::max<int64_t>(
    std::chrono::duration_cast<std::chrono::milliseconds>(now - e.completed_at)
      .count(),
    0);
  return {
    {"id", e.id},
    {"request_id", e.request_id},
    {"namespace", e.ns},
    {"operation", e.operation},
    {"principal", e.principal},
    {"peer", e.peer},
    {"code", std::string(to_string(e.code))},
    {"total_us", e.total_us},
    {"at_ms", generated_at_ms - ago_ms},
    {"ago_ms", ago_ms},
    {"hops", std::move(hops)},
    {"hops_dropped", e.hops_dropped},
  };
}

nlohmann::json to_json(const slow_log& log, caf::actor_clock::time_point now,
                       int64_t generated_at_ms) {
  auto entries = nlohmann::json::array();
  for (auto& e : log.latest(log.capacity()))
    entries.push_back(to_json(e, now, generated_at_ms));
  auto count = entries.size();
  return {
    {"generated_at_ms", generated_at_ms},
    {"threshold_ms", static_cast<double>(log.threshold().count()) / 1000.0},
    {"capacity", log.capacity()},
    {"recorded", log.recorded()},
    {"count", count},
    {"entries", std::move(entries)},
  };
}

} // namespace prism
