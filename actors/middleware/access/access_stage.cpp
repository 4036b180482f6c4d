#include "middleware/access/access_stage.hpp"

#include <prometheus/counter.h>

namespace prism {

namespace {

/// The principals a list of principal and group names stands for.
std::set<std::string> expand(const config::auth_options& auth,
                             const std::vector<std::string>& names) {
  std::set<std::string> out;
  for (const auto& name : names) {
    if (auto g = auth.groups.find(name); g != auth.groups.end())
      out.insert(g->second.begin(), g->second.end());
    else
      out.insert(name);
  }
  return out;
}

} // namespace

std::set<std::string> readers_of(const config::gateway_config& cfg,
                                 const config::namespace_config& ns) {
  auto readers = expand(cfg.auth, ns.access.read);
  for (const auto* names : {&ns.access.write, &ns.access.admin}) {
    auto more = expand(cfg.auth, *names);
    readers.insert(more.begin(), more.end());
  }
  return readers;
}

access_logic::access_logic(const config::gateway_config& cfg,
                           metrics_registry_ptr metrics)
  : metrics_(std::move(metrics)) {
  reconfigure(cfg);
}

void access_logic::reconfigure(const config::gateway_config& cfg) {
  namespaces_.clear();
  for (const auto& [name, ns] : cfg.namespaces) {
    auto admins = expand(cfg.auth, ns.access.admin);
    auto writers = expand(cfg.auth, ns.access.write);
    writers.insert(admins.begin(), admins.end());
    auto readers = expand(cfg.auth, ns.access.read);
    readers.insert(writers.begin(), writers.end());
    auto& denied = metrics_->counter(
      "prism_access_denied_total",
      "Calls refused PERMISSION_DENIED, by namespace.", {{"namespace", name}});
    namespaces_[name] = rules{std::move(readers), std::move(writers), &denied};
  }
}

bool access_logic::allowed(const std::string& principal, const std::string& ns,
                           bool write) const {
  auto i = namespaces_.find(ns);
  if (i == namespaces_.end())
    return true;
  const auto& who = write ? i->second.writers : i->second.readers;
  return who.count(principal) > 0;
}

status access_logic::on_request(kv_call& call) {
  bool write = model::is_write(*call.operation);
  if (allowed(call.context.principal, call.context.ns, write))
    return {};
  // Only configured namespaces deny.
  namespaces_.at(call.context.ns).denied->Increment();
  return status::failure(
    status_code::permission_denied,
    "principal \"" + call.context.principal + "\" may not "
      + (write ? "write" : "read") + " namespace \"" + call.context.ns + "\" ("
      + std::string{model::operation_name(*call.operation)} + ")");
}

std::unique_ptr<stage_logic> make_access_stage(
  const config::gateway_config& cfg, const metrics_registry_ptr& metrics) {
  return std::make_unique<access_logic>(cfg, metrics);
}

} // namespace prism
