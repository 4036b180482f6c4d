#include "runtime/slow_log.hpp"

#include "config/stage_kinds.hpp"
#include "runtime/call.hpp"

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

void slow_log::offer(const kv_call& call) {
  auto total = micros(call.completed_at - call.context.received_at);
  if (total < threshold_us_.load(std::memory_order_relaxed) || capacity_ == 0)
    return;
  slow_entry e;
  e.request_id = call.context.request_id;
  e.ns = call.context.ns;
  e.operation = std::string(model::operation_name(*call.operation));
  e.principal = call.context.principal;
  e.peer = call.context.peer;
  e.code = call.final_code;
  e.completed_at = call.completed_at;
  e.total_us = total;
  e.hops_dropped = call.hops.dropped();
  // Each span runs from one hop to the next: the session's own, then each
  // actor's (queueing in its mailbox included), the last one back to the
  // session's answer.
  std::string name = "session";
  auto from = call.context.received_at;
  for (auto& h : call.hops) {
    e.hops.push_back(slow_hop{std::move(name), micros(h.at - from)});
    name = hop_name(h, call.backend);
    from = h.at;
  }
  e.hops.push_back(slow_hop{std::move(name), micros(call.completed_at - from)});
  std::lock_guard<std::mutex> guard{mtx_};
  e.id = next_id_++;
  entries_.push_back(std::move(e));
  while (entries_.size() > capacity_)
    entries_.pop_front();
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
