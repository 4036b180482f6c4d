#include "runtime/inspector.hpp"

#include <algorithm>
#include <chrono>
#include <deque>
#include <map>
#include <mutex>
#include <unordered_map>
#include <utility>

#include <caf/actor_cast.hpp>
#include <caf/actor_control_block.hpp>
#include <caf/exit_reason.hpp>
#include <caf/send.hpp>

namespace prism {

namespace detail {

struct inspector_core {
  mutable std::mutex mtx;
  std::unordered_map<uint64_t, actor_record_ptr> records;
  /// Why actors that were killed ended, by kind and name, until an actor of
  /// the same kind and name (their supervisor's restart) registers and takes
  /// it as its last failure. Bounded: the oldest entry goes first.
  std::map<std::pair<std::string, std::string>,
           std::pair<std::string, caf::actor_clock::time_point>>
    killed;
  std::deque<std::pair<std::string, std::string>> killed_order;
  /// Taken after `mtx` when both are (a tap starts on the records matched
  /// under `mtx`, and a registering actor joins the taps under it).
  tap_board taps;
  /// The kind and name of the actors that deregistered last, by id, so that
  /// a supervisor that learns of a child's end after the child deregistered
  /// can still say why it ended to its restart. Bounded: the oldest goes.
  std::unordered_map<uint64_t, std::pair<std::string, std::string>> ended;
  std::deque<uint64_t> ended_order;

  void deregister(const actor_record& record);
  /// Remembers why the actor of `key` ended, for the next actor of the same
  /// kind and name to register. Call with `mtx` held.
  void remember_end_locked(std::pair<std::string, std::string> key,
                           std::string reason, caf::actor_clock::time_point at);
};

namespace {

/// Killed actors whose restart has not registered yet that the inspector
/// remembers (a kill whose actor is never restarted stays until then).
constexpr size_t killed_remembered_max = 256;

/// Deregistered actors whose kind and name the inspector remembers: a
/// supervisor's down message comes after its child deregistered, and many
/// sessions may end meanwhile.
constexpr size_t ended_remembered_max = 1024;

} // namespace

void inspector_core::deregister(const actor_record& record) {
  {
    std::lock_guard<std::mutex> guard{mtx};
    auto i = records.find(record.id());
    if (i == records.end() || i->second.get() != &record)
      return;
    records.erase(i);
    if (ended.emplace(record.id(), std::make_pair(record.kind(), record.name()))
          .second)
      ended_order.push_back(record.id());
    while (ended_order.size() > ended_remembered_max) {
      ended.erase(ended_order.front());
      ended_order.pop_front();
    }
  }
  if (record.tapped())
    taps.ended(record);
}

void inspector_core::remember_end_locked(
  std::pair<std::string, std::string> key, std::string reason,
  caf::actor_clock::time_point at) {
  if (killed.count(key) == 0)
    killed_order.push_back(key);
  killed[std::move(key)] = {std::move(reason), at};
  while (killed_order.size() > killed_remembered_max) {
    killed.erase(killed_order.front());
    killed_order.pop_front();
  }
}

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

inspector_registration& inspector_registration::operator=(
  inspector_registration&& other) noexcept {
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
  auto record = std::make_shared<actor_record>(
    id, std::move(kind), std::move(name), parent, started_at, std::move(addr),
    state);
  std::lock_guard<std::mutex> guard{core_->mtx};
  auto key = std::make_pair(record->kind(), record->name());
  if (auto i = core_->killed.find(key); i != core_->killed.end()) {
    record->record_failure(i->second.first, i->second.second);
    core_->killed.erase(i);
  }
  core_->records[id] = record;
  core_->taps.registered(record);
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
  if (auto record = find(id))
    core_->deregister(*record);
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

void inspector::visit(
  const std::function<void(const actor_record&)>& fn) const {
  std::vector<actor_record_ptr> records;
  {
    std::lock_guard<std::mutex> guard{core_->mtx};
    records.reserve(core_->records.size());
    for (auto& entry : core_->records)
      records.push_back(entry.second);
  }
  for (auto& record : records)
    fn(*record);
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
  std::sort(
    result.begin(), result.end(),
    [](const actor_info& a, const actor_info& b) { return a.id < b.id; });
  return result;
}

bool inspector::kill(uint64_t id, caf::actor_system& sys,
                     const std::string& by) {
  auto record = find(id);
  if (!record)
    return false;
  auto target = caf::actor_cast<caf::strong_actor_ptr>(record->address());
  if (!target)
    return false;
  auto reason = "killed by " + by;
  auto at = sys.clock().now();
  record->record_failure(reason, at);
  {
    // Before the exit goes out, so that the restart finds it.
    std::lock_guard<std::mutex> guard{core_->mtx};
    core_->remember_end_locked({record->kind(), record->name()},
                               std::move(reason), at);
  }
  caf::anon_send_exit(target, caf::exit_reason::kill);
  return true;
}

tap_board::start_result inspector::start_tap(const tap_target& target,
                                             uint64_t events_max,
                                             std::chrono::milliseconds duration,
                                             time_point now) {
  std::vector<actor_record_ptr> matched;
  // Held while the tap starts: an actor that registers meanwhile joins it
  // through taps.registered, after it is on the board.
  std::lock_guard<std::mutex> guard{core_->mtx};
  for (auto& entry : core_->records)
    if (target.matches(*entry.second))
      matched.push_back(entry.second);
  std::sort(matched.begin(), matched.end(),
            [](const actor_record_ptr& a, const actor_record_ptr& b) {
              return a->id() < b->id();
            });
  return core_->taps.start(target, matched, events_max, duration, now);
}

tap_board& inspector::taps() noexcept {
  return core_->taps;
}

void inspector::note_failed_exit(uint64_t id, std::string reason,
                                 time_point at) {
  actor_record_ptr record;
  std::pair<std::string, std::string> key;
  {
    std::lock_guard<std::mutex> guard{core_->mtx};
    if (auto i = core_->records.find(id); i != core_->records.end()) {
      record = i->second;
      key = {record->kind(), record->name()};
    } else if (auto e = core_->ended.find(id); e != core_->ended.end()) {
      key = e->second;
    } else {
      return; // never registered: nothing shows it
    }
    // A kill said who killed it: that says more than "kill".
    if (core_->killed.count(key) > 0)
      return;
    core_->remember_end_locked(key, reason, at);
  }
  if (record)
    record->record_failure(std::move(reason), at);
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
  info.restarts_last_minute
    = record.restarts_since(now - std::chrono::minutes(1));
  info.busy_us = record.busy_ns() / 1000;
  info.handler_max_us = record.work_max_ns() / 1000;
  auto histogram = record.work_histogram();
  uint64_t total = 0;
  for (auto n : histogram)
    total += n;
  // The upper bound of the bucket where the quantile falls (bucket i ends
  // at 2^i us), never above the largest duration seen.
  auto quantile = [&](double q) -> uint64_t {
    if (total == 0)
      return 0;
    auto rank = static_cast<uint64_t>(q * static_cast<double>(total - 1)) + 1;
    uint64_t seen = 0;
    for (size_t i = 0; i < histogram.size(); ++i) {
      seen += histogram[i];
      if (seen >= rank)
        return std::min<uint64_t>(uint64_t{1} << i, info.handler_max_us);
    }
    return info.handler_max_us;
  };
  info.handler_p50_us = quantile(0.5);
  info.handler_p99_us = quantile(0.99);
  if (auto failure = record.last_failure())
    info.last_failure = actor_info::failure{
      std::move(failure->first), millis_between(failure->second, now)};
  return info;
}

} // namespace prism
