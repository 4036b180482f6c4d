#include "runtime/inspector.hpp"

#include <algorithm>
#include <chrono>
#include <unordered_set>

#include <caf/actor_cast.hpp>
#include <caf/actor_control_block.hpp>
#include <caf/exit_reason.hpp>
#include <caf/send.hpp>
#include <nlohmann/json.hpp>

namespace prism {

namespace detail {

struct inspector_core {
  mutable std::mutex mtx;
  std::unordered_map<uint64_t, actor_record_ptr> records;

  void deregister(const actor_record& record) {
    std::lock_guard<std::mutex> guard{mtx};
    auto i = records.find(record.id());
    if (i != records.end() && i->second.get() == &record)
      records.erase(i);
  }
};

} // namespace detail

namespace {

int64_t millis_between(caf::actor_clock::time_point from,
                       caf::actor_clock::time_point to) {
  if (to <= from)
    return 0;
  return std::chrono::duration_cast<std::chrono::milliseconds>(to - from)
    .count();
}

} // namespace

std::string_view to_string(actor_state state) noexcept {
  switch (state) {
    case actor_state::starting:
      return "starting";
    case actor_state::running:
      return "running";
    case actor_state::draining:
      return "draining";
    case actor_state::restarting:
      return "restarting";
    case actor_state::stopping:
      return "stopping";
    case actor_state::failed:
      return "failed";
  }
  return "unknown";
}

// --- actor_record ------------------------------------------------------------

actor_record::actor_record(uint64_t id, std::string kind, std::string name,
                           uint64_t parent, time_point started_at,
                           caf::actor_addr addr, actor_state state)
  : id_(id),
    kind_(std::move(kind)),
    name_(std::move(name)),
    parent_(parent),
    started_at_(started_at),
    addr_(std::move(addr)),
    state_(static_cast<uint8_t>(state)) {
  // nop
}

void actor_record::dequeued(uint64_t n) noexcept {
  auto depth = depth_.load(std::memory_order_relaxed);
  uint64_t next;
  do {
    next = depth > n ? depth - n : 0;
  } while (!depth_.compare_exchange_weak(depth, next,
                                         std::memory_order_relaxed));
}

void actor_record::record_failure(std::string reason, time_point at) {
  std::lock_guard<std::mutex> guard{failure_mtx_};
  failed_ = true;
  failure_reason_ = std::move(reason);
  failed_at_ = at;
}

std::optional<std::pair<std::string, actor_record::time_point>>
actor_record::last_failure() const {
  std::lock_guard<std::mutex> guard{failure_mtx_};
  if (!failed_)
    return std::nullopt;
  return std::make_pair(failure_reason_, failed_at_);
}

// --- inspector_registration ---------------------------------------------------

inspector_registration::inspector_registration(
  std::weak_ptr<detail::inspector_core> core, actor_record_ptr record) noexcept
  : core_(std::move(core)), record_(std::move(record)) {
  // nop
}

inspector_registration::inspector_registration(
  inspector_registration&& other) noexcept
  : core_(std::move(other.core_)), record_(std::move(other.record_)) {
  other.record_ = nullptr;
}

inspector_registration&
inspector_registration::operator=(inspector_registration&& other) noexcept {
  if (this != &other) {
    reset();
    core_ = std::move(other.core_);
    record_ = std::move(other.record_);
    other.record_ = nullptr;
  }
  return *this;
}

inspector_registration::~inspector_registration() {
  reset();
}

void inspector_registration::reset() noexcept {
  if (!record_)
    return;
  if (auto core = core_.lock())
    core->deregister(*record_);
  record_ = nullptr;
  core_.reset();
}

// --- inspector ----------------------------------------------------------------

inspector::inspector() : core_(std::make_shared<detail::inspector_core>()) {
  // nop
}

inspector::~inspector() = default;

actor_record_ptr inspector::register_actor(uint64_t id, std::string kind,
                                           std::string name, uint64_t parent,
                                           time_point started_at,
                                           caf::actor_addr addr,
                                           actor_state state) {
  auto record = std::make_shared<actor_record>(id, std::move(kind),
                                               std::move(name), parent,
                                               started_at, std::move(addr),
                                               state);
  std::lock_guard<std::mutex> guard{core_->mtx};
  core_->records[id] = record;
  return record;
}

inspector_registration inspector::enroll(uint64_t id, std::string kind,
                                         std::string name, uint64_t parent,
                                         time_point started_at,
                                         caf::actor_addr addr,
                                         actor_state state) {
  auto record = register_actor(id, std::move(kind), std::move(name), parent,
                               started_at, std::move(addr), state);
  return inspector_registration{core_, std::move(record)};
}

void inspector::deregister(const actor_record& record) {
  core_->deregister(record);
}

void inspector::deregister(uint64_t id) {
  std::lock_guard<std::mutex> guard{core_->mtx};
  core_->records.erase(id);
}

size_t inspector::size() const {
  std::lock_guard<std::mutex> guard{core_->mtx};
  return core_->records.size();
}

actor_record_ptr inspector::find(uint64_t id) const {
  std::lock_guard<std::mutex> guard{core_->mtx};
  auto i = core_->records.find(id);
  return i == core_->records.end() ? nullptr : i->second;
}

std::vector<actor_info> inspector::snapshot(time_point now) const {
  std::vector<actor_record_ptr> records;
  {
    std::lock_guard<std::mutex> guard{core_->mtx};
    records.reserve(core_->records.size());
    for (auto& entry : core_->records)
      records.push_back(entry.second);
  }
  // Read the counters outside the registry's lock: they are atomics.
  std::vector<actor_info> result;
  result.reserve(records.size());
  for (auto& record : records)
    result.push_back(snapshot_of(*record, now));
  std::sort(result.begin(), result.end(),
            [](const actor_info& a, const actor_info& b) { return a.id < b.id; });
  return result;
}

bool inspector::kill(uint64_t id, caf::actor_system&) {
  auto record = find(id);
  if (!record)
    return false;
  auto target = caf::actor_cast<caf::strong_actor_ptr>(record->address());
  if (!target)
    return false;
  caf::anon_send_exit(target, caf::exit_reason::kill);
  return true;
}

actor_info snapshot_of(const actor_record& record,
                    caf::actor_clock::time_point now) {
  actor_info info;
  info.id = record.id();
  info.kind = record.kind();
  info.name = record.name();
  info.parent = record.parent();
  info.state = std::string{to_string(record.state())};
  info.uptime_ms = millis_between(record.started_at(), now);
  info.mailbox_depth = record.mailbox_depth();
  info.mailbox_high_water = record.mailbox_high_water();
  info.mailbox_limit = record.mailbox_limit();
  info.admitted = record.admitted();
  info.rejected = record.rejected();
  info.handled = record.handled();
  info.restarts = record.restarts();
  if (auto failure = record.last_failure())
    info.last_failure = actor_info::failure{
      std::move(failure->first), millis_between(failure->second, now)};
  return info;
}

// --- JSON ---------------------------------------------------------------------

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
  std::sort(sorted.begin(), sorted.end(),
            [](const actor_info& a, const actor_info& b) { return a.id < b.id; });
  tree_builder tree{sorted, generated_at_ms, {}, std::vector<bool>(sorted.size())};
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

} // namespace prism
