#include "admin/debug_data.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <fstream>
#include <set>
#include <sstream>

#include <fmt/format.h>
#include <unistd.h>

#include "config/config.hpp"

namespace prism::admin {

namespace {

nlohmann::json optional_number(const std::optional<int64_t>& v) {
  return v ? nlohmann::json(*v) : nlohmann::json(nullptr);
}

/// The mailbox's fill as "17 of 64" or "1200 (unbounded)".
std::string depth_text(const actor_info& a) {
  if (a.mailbox_limit == 0)
    return fmt::format("{} (unbounded)", a.mailbox_depth);
  return fmt::format("{} of {}", a.mailbox_depth, a.mailbox_limit);
}

std::string label_of(const actor_info& a) {
  return a.name.empty() ? a.kind : a.kind + ":" + a.name;
}

void actor_warnings(const actor_info& a,
                    const std::map<uint64_t, uint64_t>& before,
                    std::vector<warning>& out) {
  auto label = label_of(a);
  auto previous = before.find(a.id);
  bool rejecting = previous != before.end() && a.rejected > previous->second;
  bool at_limit = a.mailbox_limit > 0 && a.mailbox_depth >= a.mailbox_limit;
  if (at_limit || rejecting) {
    auto refused = rejecting ? fmt::format(" and it refused {} messages "
                                           "since the previous read",
                                           a.rejected - previous->second)
                             : std::string{};
    out.push_back(
      {"mailbox_at_limit", "error", a.id, label,
       fmt::format("{} ({}) cannot keep up: its mailbox holds {}{}; look at "
                   "its handler time (GET /debug/actors/{}) and at what "
                   "floods it, or raise its mailbox limit",
                   label, a.id, depth_text(a), refused, a.id),
       std::nullopt});
  } else if (a.mailbox_limit > 0
               ? a.mailbox_depth * 100
                 > a.mailbox_limit * mailbox_growing_percent
               : a.mailbox_depth > mailbox_growing_unbounded_depth) {
    out.push_back(
      {"mailbox_growing", "warning", a.id, label,
       fmt::format("{} ({}) has {} messages waiting: it falls behind what it "
                   "is sent; look at its handler time (GET /debug/actors/{}) "
                   "before its mailbox fills and it refuses calls",
                   label, a.id, depth_text(a), a.id),
       std::nullopt});
  }
  if (a.handler_max_us > slow_handler_us)
    out.push_back(
      {"slow_handler", "warning", a.id, label,
       fmt::format("{} ({}) once took {} ms to handle one message (over {} "
                   "ms): everything queued behind it waited that long; find "
                   "the slow call in GET /debug/slowlog and what blocks the "
                   "handler",
                   label, a.id, a.handler_max_us / 1000,
                   slow_handler_us / 1000),
       std::nullopt});
  if (a.kind == "supervisor"
      && a.restarts_last_minute >= restart_loop_restarts_per_minute)
    out.push_back(
      {"restart_loop", "error", a.id, label,
       fmt::format("supervisor {} ({}) restarted its children {} times in "
                   "the last minute: a child keeps failing; its last failure "
                   "(GET /debug/tree) says why, fix that rather than wait for "
                   "the restarts to give up",
                   a.name, a.id, a.restarts_last_minute),
       std::nullopt});
}

void pool_warnings(const pool_report& p, std::vector<warning>& out) {
  if (p.circuit == "closed")
    return;
  std::optional<uint64_t> actor;
  if (p.actor != 0)
    actor = p.actor;
  out.push_back(
    {"circuit_open", "error", actor, "pool:" + p.backend,
     fmt::format("backend \"{}\" ({}): its circuit is {}, every call to it "
                 "fails at once while the gateway probes it; its pool's last "
                 "failure (GET /debug/actors/{}) says why: bring the backend "
                 "back or fix its settings",
                 p.backend, p.driver,
                 p.circuit == "open" ? "open" : "half open", p.actor),
     p.circuit_since_ms});
}

void lag_warnings(const subscription_lag_report& l, std::vector<warning>& out) {
  if (l.lag <= subscriber_behind_messages)
    return;
  out.push_back(
    {"subscriber_behind", "warning", std::nullopt,
     fmt::format("subscription:{}/{}/{}", l.ns, l.topic, l.subscription),
     fmt::format("subscription \"{}\" of topic \"{}\" in namespace \"{}\" is "
                 "{} messages behind (over {}): its readers consume slower "
                 "than it is published to; add readers or find the slow one",
                 l.subscription, l.topic, l.ns, l.lag,
                 subscriber_behind_messages),
     std::nullopt});
}

} // namespace

std::vector<warning> warning_history::evaluate(
  const std::vector<actor_info>& actors, const std::vector<pool_report>& pools,
  const std::vector<subscription_lag_report>& lags, int64_t now_ms) {
  std::vector<warning> out;
  std::lock_guard<std::mutex> guard{mutex_};
  for (auto& a : actors)
    actor_warnings(a, rejected_, out);
  for (auto& p : pools)
    pool_warnings(p, out);
  for (auto& l : lags)
    lag_warnings(l, out);
  // Remember what rising means next time, for the actors alive now only.
  rejected_.clear();
  for (auto& a : actors)
    rejected_[a.id] = a.rejected;
  std::map<std::string, int64_t> seen;
  for (auto& w : out) {
    auto key = w.kind + " " + w.subject;
    auto i = first_seen_.find(key);
    auto first = i == first_seen_.end() ? now_ms : i->second;
    seen[key] = first;
    if (!w.since_ms)
      w.since_ms = now_ms - first;
  }
  first_seen_ = std::move(seen);
  return out;
}

// --- /proc/self ---------------------------------------------------------------

bool read_proc_self(process_stats& out) {
  bool ok = true;
  // /proc/self/stat: the command may hold spaces and parentheses, so the
  // fields are counted from the last ')'. utime and stime are fields 14 and
  // 15, num_threads field 20 (1-based, proc(5)).
  std::ifstream stat{"/proc/self/stat"};
  std::string line;
  if (stat && std::getline(stat, line)) {
    auto close = line.rfind(')');
    std::istringstream rest{
      close == std::string::npos ? std::string{} : line.substr(close + 2)};
    std::vector<std::string> fields;
    for (std::string f; rest >> f;)
      fields.push_back(f);
    // fields[0] is field 3 (state).
    if (fields.size() > 17) {
      auto ticks = static_cast<double>(::sysconf(_SC_CLK_TCK));
      auto ms = [&](const std::string& f) {
        return static_cast<uint64_t>(std::stod(f) * 1000.0 / ticks);
      };
      out.cpu_user_ms = ms(fields[11]);
      out.cpu_system_ms = ms(fields[12]);
      out.threads = std::stoull(fields[17]);
    } else {
      ok = false;
    }
  } else {
    ok = false;
  }
  // /proc/self/status: "VmRSS:    12345 kB".
  std::ifstream status{"/proc/self/status"};
  bool rss = false;
  while (status && std::getline(status, line))
    if (line.rfind("VmRSS:", 0) == 0) {
      std::istringstream in{line.substr(6)};
      uint64_t kb = 0;
      if (in >> kb) {
        out.rss_bytes = kb * 1024;
        rss = true;
      }
      break;
    }
  return ok && rss;
}

// --- rendering ----------------------------------------------------------------

nlohmann::json pools_json(const std::vector<pool_report>& pools,
                          int64_t generated_at_ms) {
  auto list = nlohmann::json::array();
  for (auto& p : pools)
    list.push_back({{"backend", p.backend},
                    {"driver", p.driver},
                    {"actor", p.actor},
                    {"size", p.size},
                    {"active", p.active},
                    {"idle", p.idle},
                    {"down", p.down},
                    {"waiting", p.waiting},
                    {"max_pending", p.max_pending},
                    {"max_wait_ms", p.max_wait_ms},
                    {"served", p.served},
                    {"errors", p.errors},
                    {"reconnects", p.reconnects},
                    {"circuit", p.circuit},
                    {"circuit_since_ms", optional_number(p.circuit_since_ms)}});
  return {{"generated_at_ms", generated_at_ms}, {"pools", std::move(list)}};
}

double bucket_quantile_ms(
  const std::vector<std::pair<double, uint64_t>>& buckets, double q) {
  if (buckets.empty() || buckets.back().second == 0)
    return 0;
  auto total = buckets.back().second;
  auto rank = static_cast<uint64_t>(std::ceil(q * static_cast<double>(total)));
  rank = std::max<uint64_t>(rank, 1);
  double largest_finite = 0;
  for (auto& [upper_s, cumulative] : buckets) {
    if (std::isfinite(upper_s))
      largest_finite = upper_s;
    if (cumulative >= rank)
      return (std::isfinite(upper_s) ? upper_s : largest_finite) * 1000.0;
  }
  return largest_finite * 1000.0;
}

nlohmann::json namespaces_json(const std::vector<namespace_report>& namespaces,
                               int64_t generated_at_ms) {
  auto list = nlohmann::json::array();
  for (auto& n : namespaces) {
    uint64_t requests = 0;
    auto by_code = nlohmann::json::object();
    for (auto& [code, count] : n.totals.by_code) {
      requests += count;
      by_code[code] = count;
    }
    auto rejections = nlohmann::json::object();
    for (auto& [reason, count] : n.totals.rejections)
      rejections[reason] = count;
    auto buckets = nlohmann::json::array();
    for (auto& [upper_s, cumulative] : n.totals.buckets) {
      // +Inf has no JSON number: the last bucket's bound is null.
      auto upper_us = std::isfinite(upper_s)
        ? nlohmann::json(static_cast<uint64_t>(std::llround(upper_s * 1e6)))
        : nlohmann::json(nullptr);
      buckets.push_back({upper_us, cumulative});
    }
    list.push_back({{"name", n.name},
                    {"backend", n.backend},
                    {"api", n.api},
                    {"requests", requests},
                    {"by_code", std::move(by_code)},
                    {"rejections", std::move(rejections)},
                    {"latency_buckets_us", std::move(buckets)},
                    {"p50_ms", bucket_quantile_ms(n.totals.buckets, 0.5)},
                    {"p99_ms", bucket_quantile_ms(n.totals.buckets, 0.99)}});
  }
  return {{"generated_at_ms", generated_at_ms},
          {"namespaces", std::move(list)}};
}

nlohmann::json clients_json(const std::vector<client_report>& clients,
                            int64_t generated_at_ms) {
  auto sorted = clients;
  std::sort(sorted.begin(), sorted.end(),
            [](const client_report& a, const client_report& b) {
              return a.actor < b.actor;
            });
  auto list = nlohmann::json::array();
  for (auto& c : sorted)
    list.push_back({{"actor", c.actor},
                    {"peer", c.peer},
                    {"principal", c.principal},
                    {"started_at_ms", generated_at_ms - c.age_ms},
                    {"age_ms", c.age_ms},
                    {"in_flight", c.in_flight},
                    {"streams", c.streams},
                    {"calls", c.calls}});
  return {{"generated_at_ms", generated_at_ms}, {"clients", std::move(list)}};
}

nlohmann::json warnings_json(const std::vector<warning>& warnings,
                             int64_t generated_at_ms) {
  auto list = nlohmann::json::array();
  for (auto& w : warnings)
    list.push_back(
      {{"kind", w.kind},
       {"severity", w.severity},
       {"actor", w.actor ? nlohmann::json(*w.actor) : nlohmann::json(nullptr)},
       {"subject", w.subject},
       {"message", w.message},
       {"since_ms", optional_number(w.since_ms)}});
  return {{"generated_at_ms", generated_at_ms}, {"warnings", std::move(list)}};
}

nlohmann::json stats_json(const process_stats& s, int64_t generated_at_ms) {
  return {{"generated_at_ms", generated_at_ms},
          {"version", s.version},
          {"uptime_ms", s.uptime_ms},
          {"pid", s.pid},
          {"rss_bytes", s.rss_bytes},
          {"threads", s.threads},
          {"cpu_user_ms", s.cpu_user_ms},
          {"cpu_system_ms", s.cpu_system_ms},
          {"actors", s.actors},
          {"sessions", s.sessions},
          {"requests_in_flight", s.requests_in_flight},
          {"config_path", s.config_path},
          {"listen", s.listen},
          {"admin", s.admin}};
}

} // namespace prism::admin
