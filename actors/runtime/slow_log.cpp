#include "runtime/slow_log.hpp"

#include <algorithm>

#include "config/stage_kinds.hpp"
#include "runtime/call.hpp"
#include "runtime/inspector.hpp"

namespace prism {

namespace {

int64_t micros(caf::actor_clock::clock_type::duration d) {
  return std::chrono::duration_cast<std::chrono::microseconds>(d).count();
}

/// The name of the time spent from a hop until the next one.
std::string hop_name(const call_hop& h, const std::string& backend) {
  switch (h.kind) {
    case hop_kind::stage:
      return "stage:"
        + std::string(
               config::to_string(static_cast<config::stage_kind>(h.detail)));
    case hop_kind::router: return "router";
    case hop_kind::pool: return "pool wait:" + backend;
    case hop_kind::connection: return "backend:" + backend;
    case hop_kind::backend: return "reply";
  }
  return "?";
}

} // namespace

slow_log::slow_log(size_t capacity, std::chrono::microseconds threshold)
  : capacity_(capacity), threshold_us_(threshold.count()) {}

slow_entry entry_of(const kv_call& call, const inspector* actors) {
  slow_entry e;
  e.request_id = call.context.request_id;
  e.ns = call.context.ns;
  e.operation = std::string(model::operation_name(*call.operation));
  e.principal = call.context.principal;
  e.peer = call.context.peer;
  e.code = call.final_code;
  e.completed_at = call.completed_at;
  e.total_us = micros(call.completed_at - call.context.received_at);
  e.hops_dropped = call.hops.dropped();
  // Each span runs from one hop to the next: the session's own, then each
  // actor's (queueing in its mailbox included), the last one back to the
  // session's answer.
  std::string name = "session";
  uint64_t actor = call.session ? call.session.id() : 0;
  auto from = call.context.received_at;
  auto add = [&](int64_t us) {
    slow_hop h{std::move(name), us, actor, {}};
    if (actors != nullptr && actor != 0)
      if (auto record = actors->find(actor))
        h.label = record->kind() + ":" + record->name();
    e.hops.push_back(std::move(h));
  };
  for (auto& h : call.hops) {
    add(micros(h.at - from));
    name = hop_name(h, call.backend);
    actor = h.actor;
    from = h.at;
  }
  add(micros(call.completed_at - from));
  return e;
}

void slow_log::offer(const kv_call& call, const inspector* actors) {
  if (following_.load(std::memory_order_relaxed) != 0)
    record_follow(call, actors);
  auto total = micros(call.completed_at - call.context.received_at);
  if (total < threshold_us_.load(std::memory_order_relaxed) || capacity_ == 0)
    return;
  auto e = entry_of(call);
  std::lock_guard<std::mutex> guard{mtx_};
  e.id = next_id_++;
  entries_.push_back(std::move(e));
  while (entries_.size() > capacity_)
    entries_.pop_front();
}

std::optional<slow_entry> slow_log::find(const std::string& request_id) const {
  std::lock_guard<std::mutex> guard{mtx_};
  for (auto i = entries_.rbegin(); i != entries_.rend(); ++i)
    if (i->request_id == request_id)
      return *i;
  return std::nullopt;
}

void slow_log::record_follow(const kv_call& call, const inspector* actors) {
  {
    std::lock_guard<std::mutex> guard{follow_mtx_};
    auto i = std::find_if(
      follows_.begin(), follows_.end(), [&](const follow_entry& f) {
        return !f.call && f.request_id == call.context.request_id;
      });
    if (i == follows_.end())
      return;
  }
  // Named outside the lock: finding each hop's actor takes the inspector's.
  auto e = entry_of(call, actors);
  std::lock_guard<std::mutex> guard{follow_mtx_};
  for (auto& f : follows_)
    if (!f.call && f.request_id == call.context.request_id) {
      f.call = std::move(e);
      following_.fetch_sub(1, std::memory_order_relaxed);
      return;
    }
}

void slow_log::forget_follows(caf::actor_clock::time_point now) {
  while (!follows_.empty() && now - follows_.front().armed_at >= follow_kept) {
    if (!follows_.front().call)
      following_.fetch_sub(1, std::memory_order_relaxed);
    follows_.pop_front();
  }
}

void slow_log::follow(const std::string& request_id,
                      caf::actor_clock::time_point now) {
  std::lock_guard<std::mutex> guard{follow_mtx_};
  forget_follows(now);
  auto same = [&](const follow_entry& f) {
    return f.request_id == request_id;
  };
  if (auto i = std::find_if(follows_.begin(), follows_.end(), same);
      i != follows_.end()) {
    if (!i->call)
      following_.fetch_sub(1, std::memory_order_relaxed);
    follows_.erase(i);
  }
  while (follows_.size() >= follows_max) {
    if (!follows_.front().call)
      following_.fetch_sub(1, std::memory_order_relaxed);
    follows_.pop_front();
  }
  follows_.push_back(follow_entry{request_id, now, std::nullopt});
  following_.fetch_add(1, std::memory_order_relaxed);
}

std::optional<follow_entry> slow_log::followed(
  const std::string& request_id, caf::actor_clock::time_point now) {
  std::lock_guard<std::mutex> guard{follow_mtx_};
  forget_follows(now);
  for (auto& f : follows_)
    if (f.request_id == request_id)
      return f;
  return std::nullopt;
}

std::vector<slow_entry> slow_log::latest(size_t n) const {
  std::lock_guard<std::mutex> guard{mtx_};
  std::vector<slow_entry> out;
  for (auto i = entries_.rbegin(); i != entries_.rend() && out.size() < n; ++i)
    out.push_back(*i);
  return out;
}

void slow_log::reset() {
  std::lock_guard<std::mutex> guard{mtx_};
  entries_.clear();
}

uint64_t slow_log::recorded() const {
  std::lock_guard<std::mutex> guard{mtx_};
  return next_id_ - 1;
}

} // namespace prism
