#include "admin_view.hpp"

#include <regex>
#include <sstream>

#include <catch2/catch.hpp>

namespace prism::test {

nlohmann::json admin_json(gateway_process& gw, const std::string& path) {
  auto r = http_get(gw.admin_port(), path);
  INFO("GET " << path << " -> " << r.status << " " << r.body);
  REQUIRE(r.status == 200);
  auto parsed = nlohmann::json::parse(r.body, nullptr, false);
  REQUIRE(parsed.is_object());
  REQUIRE(parsed.contains("actors"));
  return parsed;
}

nlohmann::json actor_list(gateway_process& gw) {
  return admin_json(gw, "/debug/actors")["actors"];
}

nlohmann::json find_actor(const nlohmann::json& actors, const std::string& kind,
                          const std::string& name) {
  for (const auto& a : actors)
    if (a["kind"] == kind && a["name"] == name)
      return a;
  return nullptr;
}

std::string pool_state(gateway_process& gw, const std::string& backend) {
  auto pool = find_actor(actor_list(gw), "pool", backend);
  return pool.is_null() ? "(not listed)" : pool["state"].get<std::string>();
}

std::vector<scraped_sample> parse_metrics(const std::string& text) {
  static const std::regex line_re(
    R"(^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)(\s+\S+)?\s*$)");
  static const std::regex label_re(
    R"re(([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)")re");
  std::vector<scraped_sample> samples;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    std::smatch m;
    if (line.empty() || line[0] == '#' || !std::regex_match(line, m, line_re))
      continue;
    scraped_sample s;
    s.name = m[1];
    std::string labels = m[3];
    for (std::sregex_iterator it(labels.begin(), labels.end(), label_re), end;
         it != end; ++it)
      s.labels[(*it)[1]] = (*it)[2];
    try {
      s.value = std::stod(m[4]);
    } catch (...) {
      continue;
    }
    samples.push_back(std::move(s));
  }
  return samples;
}

double metric_value(const std::vector<scraped_sample>& samples,
                    const std::string& name,
                    const std::map<std::string, std::string>& labels) {
  for (const auto& s : samples) {
    if (s.name != name)
      continue;
    bool match = true;
    for (const auto& [k, v] : labels) {
      auto it = s.labels.find(k);
      match = match && it != s.labels.end() && it->second == v;
    }
    if (match)
      return s.value;
  }
  return -1;
}

std::vector<scraped_sample> scrape_metrics(gateway_process& gw) {
  auto r = http_get(gw.admin_port(), "/metrics");
  INFO("GET /metrics -> " << r.status);
  REQUIRE(r.status == 200);
  return parse_metrics(r.body);
}

} // namespace prism::test
