#include "config/reload.hpp"

#include <algorithm>

namespace prism::config {

namespace {

const char* restart = "; restart the gateway to apply it";

} // namespace

std::vector<std::string> restart_needed(const gateway_config& running,
                                        const gateway_config& next,
                                        const std::set<std::string>& pools,
                                        const std::set<std::string>& brokers,
                                        uint64_t request_bytes_limit) {
  std::vector<std::string> out;
  auto changed = [&](bool differs, const std::string& what) {
    if (differs)
      out.push_back(what + " changed" + restart);
  };
  const auto& a = running.server;
  const auto& b = next.server;
  changed(a.listen != b.listen, "server.listen");
  changed(a.admin != b.admin, "server.admin");
  changed(a.tls.cert_file != b.tls.cert_file || a.tls.key_file != b.tls.key_file
            || a.tls.client_ca_file != b.tls.client_ca_file,
          "server.tls");
  // The rest of server: (limits, timeouts, scheduler) as a whole, once the
  // fields named above are the same.
  if (out.empty())
    changed(running.server_source != next.server_source,
            "server (its limits, timeouts or scheduler)");
  changed(running.audit_source != next.audit_source, "audit");
  changed(running.auth.mode != next.auth.mode, "auth.mode");
  changed(running.auth.principal_from != next.auth.principal_from,
          "auth.principal_from");
  for (const auto& [name, old] : running.backends) {
    auto now = next.backends.find(name);
    if (now != next.backends.end() && now->second.source != old.source)
      out.push_back("backends." + name + " changed" + restart);
  }
  for (const auto& [name, ns] : next.namespaces) {
    bool keyvalue = ns.pattern == pattern::keyvalue;
    const auto& running_set = keyvalue ? pools : brokers;
    if (running_set.count(ns.backend) == 0)
      out.push_back("namespace \"" + name + "\" needs backend \"" + ns.backend
                    + "\" to serve " + (keyvalue ? "keyvalue" : "pubsub")
                    + " calls, which it has not done since the gateway "
                      "started (nothing of it is running)"
                    + restart);
  }
  if (request_bytes_limit == 0)
    request_bytes_limit = running.max_request_bytes();
  if (next.max_request_bytes() > request_bytes_limit) {
    const auto& largest = *std::max_element(
      next.namespaces.begin(), next.namespaces.end(),
      [](const auto& a, const auto& b) {
        return a.second.max_value_bytes < b.second.max_value_bytes;
      });
    out.push_back(
      "namespaces." + largest.first + ".max_value_bytes "
      + std::to_string(largest.second.max_value_bytes)
      + " is more than the gRPC listener was started to take ("
      + std::to_string(request_bytes_limit - defaults::message_overhead_bytes)
      + " bytes of value per request)" + restart);
  }
  return out;
}

} // namespace prism::config
