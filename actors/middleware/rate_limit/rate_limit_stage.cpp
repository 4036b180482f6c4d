#include "middleware/rate_limit/rate_limit_stage.hpp"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>
#include <prometheus/counter.h>

namespace prism {

double rate_limit_logic::bucket::refill(caf::actor_clock::time_point now) {
  if (!started) {
    started = true;
    tokens = limit.burst;
    last = now;
  } else if (now > last) {
    double seconds = std::chrono::duration<double>(now - last).count();
    tokens = std::min<double>(limit.burst, tokens + seconds * limit.rate);
    last = now;
  }
  return tokens;
}

rate_limit_logic::rate_limit_logic(const config::gateway_config& cfg,
                                   metrics_registry_ptr metrics)
  : metrics_(std::move(metrics)) {
  reconfigure(cfg);
}

void rate_limit_logic::reconfigure(const config::gateway_config& cfg) {
  limits_.clear();
  for (const auto& [name, ns] : cfg.namespaces)
    if (ns.namespace_rate.limited() || ns.principal_rate.limited())
      limits_[name] = {ns.namespace_rate, ns.principal_rate,
                       &metrics_->counter("prism_rate_limited_total",
                                          "Calls refused by a rate limit, by "
                                          "namespace.",
                                          {{"namespace", name}})};
  auto keep = [](bucket& b, const config::rate_limit& limit) {
    b.limit = limit;
    b.tokens = std::min<double>(b.tokens, limit.burst);
  };
  for (auto i = namespaces_.begin(); i != namespaces_.end();) {
    auto found = limits_.find(i->first);
    if (found == limits_.end() || !found->second.per_namespace.limited()) {
      i = namespaces_.erase(i);
    } else {
      keep(i->second, found->second.per_namespace);
      ++i;
    }
  }
  for (auto i = principals_.begin(); i != principals_.end();) {
    auto found = limits_.find(i->first.first);
    if (found == limits_.end() || !found->second.per_principal.limited()) {
      i = principals_.erase(i);
    } else {
      keep(i->second, found->second.per_principal);
      ++i;
    }
  }
}

status rate_limit_logic::on_request(kv_call& call) {
  const auto& ns = call.context.ns;
  auto found = limits_.find(ns);
  if (found == limits_.end())
    return {};
  auto now = call.context.received_at;
  bucket* whole = nullptr;
  bucket* own = nullptr;
  if (found->second.per_namespace.limited()) {
    whole = &namespaces_[ns];
    whole->limit = found->second.per_namespace;
  }
  if (found->second.per_principal.limited()) {
    own = &principals_[{ns, call.context.principal}];
    own->limit = found->second.per_principal;
  }
  // Both must have a token; take them only then. When one is empty, the
  // refusal names the bucket whose next token comes last.
  double wait_s = 0;
  bucket* empty = nullptr;
  for (bucket* b : {whole, own}) {
    if (b == nullptr || b->refill(now) >= 1)
      continue;
    double wait = (1 - b->tokens) / b->limit.rate;
    if (empty == nullptr || wait > wait_s) {
      wait_s = wait;
      empty = b;
    }
  }
  if (empty == nullptr) {
    if (whole)
      whole->tokens -= 1;
    if (own)
      own->tokens -= 1;
    return {};
  }
  found->second.limited->Increment();
  const bool whole_namespace = empty == whole;
  auto retry_ms
    = static_cast<uint32_t>(std::max(1.0, std::ceil(wait_s * 1000)));
  auto st = status::failure(
    status_code::resource_exhausted,
    fmt::format("rate limit of {} \"{}\" reached ({} requests/s, bursts of "
                "{}); retry in {} ms",
                whole_namespace ? "namespace" : "principal",
                whole_namespace ? ns : call.context.principal,
                empty->limit.rate, empty->limit.burst, retry_ms));
  st.retry_after_ms = retry_ms;
  st.reason = refusal::rate_limit;
  return st;
}

std::unique_ptr<stage_logic> make_rate_limit_stage(
  const config::gateway_config& cfg, const metrics_registry_ptr& metrics) {
  return std::make_unique<rate_limit_logic>(cfg, metrics);
}

} // namespace prism
