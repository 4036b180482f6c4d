#pragma once

// What the end-to-end tests read from a running gateway's admin API, and how
// they wait for a condition: poll it until it holds or a deadline passes.

#include <chrono>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "gateway_process.hpp"

namespace prism::test {

/// Polls `probe` every few milliseconds until it holds or `timeout` passes;
/// returns whether it held (the poll interval is not a race fix: the
/// condition decides).
template <class Probe>
bool eventually(Probe probe, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (probe())
      return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return probe();
}

/// GET `path` on the admin listener as JSON (an object with "actors");
/// fails the test otherwise.
nlohmann::json admin_json(gateway_process& gw, const std::string& path);

/// GET /debug/actors: the flat list.
nlohmann::json actor_list(gateway_process& gw);

/// The actor of `kind` named `name` in a flat list, or null.
nlohmann::json find_actor(const nlohmann::json& actors, const std::string& kind,
                          const std::string& name);

/// The state of the backend's pool, or "(not listed)".
std::string pool_state(gateway_process& gw, const std::string& backend);

/// One sample line of Prometheus text.
struct scraped_sample {
  std::string name;
  std::map<std::string, std::string> labels;
  double value = 0;
};

/// The sample lines of Prometheus text (comments and blank lines skipped).
std::vector<scraped_sample> parse_metrics(const std::string& text);

/// The value of the first sample named `name` that has these labels (among
/// others), or -1 when there is none.
double metric_value(const std::vector<scraped_sample>& samples,
                    const std::string& name,
                    const std::map<std::string, std::string>& labels);

/// GET /metrics, parsed; fails the test unless it answers 200.
std::vector<scraped_sample> scrape_metrics(gateway_process& gw);

} // namespace prism::test
