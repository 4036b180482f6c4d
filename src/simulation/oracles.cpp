#include "simulation/oracles.hpp"

#include <algorithm>
#include <cstdio>
#include <limits>
#include <optional>

namespace prism::simulation {

std::string_view to_string(verdict v) noexcept {
  switch (v) {
    case verdict::held: return "held";
    case verdict::failed: return "FAILED";
    case verdict::unknown: return "unknown";
    case verdict::skipped: return "skipped";
  }
  return "?";
}

namespace {

oracle_result failed(oracle_kind kind, std::string summary,
                     std::string counterexample) {
  return {kind, verdict::failed, std::move(summary), std::move(counterexample)};
}

constexpr uint64_t never = std::numeric_limits<uint64_t>::max();

uint64_t completed_at(const kv_operation& op) {
  return op.answered() ? op.complete_index : never;
}

bool allowed_code(const kv_operation& op, status_code code,
                  const std::set<status_code>& injected) {
  switch (code) {
    case status_code::ok:
    case status_code::unavailable:
    case status_code::deadline_exceeded:
    case status_code::resource_exhausted: return true;
    case status_code::failed_precondition:
      return op.f == op_function::cas || injected.count(code) > 0;
    default: return injected.count(code) > 0;
  }
}

} // namespace

// --- (a) -------------------------------------------------------------------

oracle_result check_answered_once(const std::vector<kv_operation>& ops,
                                  const std::map<std::string, int>& answers,
                                  const std::set<status_code>& injected) {
  const auto kind = oracle_kind::answered_once;
  std::set<std::string> submitted;
  for (auto& op : ops) {
    submitted.insert(op.request_id);
    auto i = answers.find(op.request_id);
    int n = i == answers.end() ? 0 : i->second;
    if (op.connection_lost) {
      if (n > 0)
        return failed(kind, "a call was answered by a gateway that crashed",
                      "answered " + std::to_string(n)
                        + " times after its gateway crashed: " + describe(op));
      continue;
    }
    if (n == 0 || !op.answered())
      return failed(kind, "a call was never answered",
                    "never answered: " + describe(op));
    if (n > 1)
      return failed(kind, "a call was answered more than once",
                    "answered " + std::to_string(n)
                      + " times: " + describe(op));
    if (!allowed_code(op, *op.code, injected))
      return failed(kind, "a call got a code its operation may not get",
                    std::string(to_string(*op.code)) + " (" + op.message
                      + "): " + describe(op));
  }
  for (auto& [id, n] : answers)
    if (submitted.count(id) == 0)
      return failed(kind, "an answer came for a call nobody made",
                    "answer to unknown request " + id);
  return {kind,
          verdict::held,
          std::to_string(ops.size())
            + " calls (final reads included), each answered once with an "
              "expected code",
          {}};
}

// --- (b) -------------------------------------------------------------------

namespace {

struct key_write {
  const kv_operation* op;
  std::string value;
  /// Known when acknowledged.
  std::optional<uint64_t> version;
  completion_type type;
};

/// Every write attempt per key (BatchSet entries split), and every delete.
struct key_activity {
  std::vector<key_write> writes;
  std::vector<const kv_operation*> deletes;
  const kv_operation* final_read = nullptr;
};

std::map<std::string, key_activity> activity_by_key(
  const std::vector<kv_operation>& ops) {
  std::map<std::string, key_activity> keys;
  for (auto& op : ops) {
    auto type = classify(op);
    switch (op.f) {
      case op_function::set:
      case op_function::cas: {
        std::optional<uint64_t> version;
        if (type == completion_type::ok)
          version = op.version;
        keys[op.key].writes.push_back({&op, op.value, version, type});
        break;
      }
      case op_function::batch_set:
        for (size_t i = 0; i < op.entries.size(); ++i) {
          std::optional<uint64_t> version;
          if (type == completion_type::ok && i < op.versions.size())
            version = op.versions[i];
          keys[op.entries[i].first].writes.push_back(
            {&op, op.entries[i].second, version, type});
        }
        break;
      case op_function::del:
        if (type != completion_type::fail)
          keys[op.key].deletes.push_back(&op);
        break;
      case op_function::get:
        // The last final read that succeeded is the one judged; a key
        // whose final reads all failed is listed without one.
        if (op.final_read) {
          auto& a = keys[op.key];
          if (type == completion_type::ok)
            a.final_read = &op;
        }
        break;
      case op_function::scan:
      case op_function::publish:
      case op_function::subscribe: break;
    }
  }
  return keys;
}

std::string lost_write_problem(const std::string& key, const key_activity& a) {
  const key_write* last = nullptr;
  for (auto& w : a.writes)
    if (w.version && (!last || *w.version > *last->version))
      last = &w;
  auto& read = *a.final_read;
  if (!last) {
    if (read.found) {
      for (auto& w : a.writes)
        if (w.value == read.read_value && w.type != completion_type::fail)
          return {};
      return "key " + key + " holds " + read.read_value
        + ", which no write that may have been applied wrote (" + describe(read)
        + ")";
    }
    return {};
  }
  // A delete acknowledged after the last acknowledged write ended.
  const kv_operation* later_delete = nullptr;
  bool delete_may_follow = false;
  for (auto* d : a.deletes) {
    if (completed_at(*d) >= last->op->invoke_index)
      delete_may_follow = true;
    if (classify(*d) == completion_type::ok
        && d->invoke_index > last->op->complete_index)
      later_delete = d;
  }
  auto acked = "the acknowledged " + describe(*last->op);
  if (!read.found) {
    if (delete_may_follow)
      return {};
    return "key " + key + " is missing at the end, but nothing deleted it "
      + "after " + acked + " (" + describe(read) + ")";
  }
  if (read.version < *last->version)
    return "key " + key + " holds " + read.read_value + " version "
      + std::to_string(read.version) + ", older than " + acked;
  if (read.version == *last->version) {
    if (read.read_value != last->value)
      return "key " + key + " holds " + read.read_value + " with the version "
        + std::to_string(read.version) + " of " + acked;
    if (later_delete)
      return "key " + key + " still holds " + read.read_value
        + " although the acknowledged " + describe(*later_delete)
        + " came after " + acked;
    return {};
  }
  for (auto& w : a.writes)
    if (w.value == read.read_value && w.type != completion_type::fail)
      return {};
  return "key " + key + " holds " + read.read_value
    + ", which no write that may have been applied wrote (" + describe(read)
    + ")";
}

} // namespace

oracle_result check_no_lost_writes(const std::vector<kv_operation>& ops,
                                   bool durable) {
  const auto kind = oracle_kind::no_lost_writes;
  if (!durable)
    return {kind,
            verdict::skipped,
            "the namespace is not durable (memory backend)",
            {}};
  auto keys = activity_by_key(ops);
  size_t checked = 0;
  for (auto& [key, a] : keys) {
    bool any_ack = std::any_of(a.writes.begin(), a.writes.end(),
                               [](auto& w) { return w.version.has_value(); });
    if (!a.final_read) {
      bool read_tried = std::any_of(ops.begin(), ops.end(), [&](auto& op) {
        return op.final_read && op.key == key;
      });
      if (any_ack)
        return failed(kind, "a key could not be read back",
                      "key " + key
                        + (read_tried ? ": no final read succeeded"
                                      : ": it was never read back"));
      continue;
    }
    ++checked;
    auto problem = lost_write_problem(key, a);
    if (!problem.empty())
      return failed(kind, "an acknowledged write was lost", problem);
  }
  return {kind,
          verdict::held,
          std::to_string(checked)
            + " keys read back, each with its last "
              "acknowledged write or a later one",
          {}};
}

// --- (d) -------------------------------------------------------------------

oracle_result check_mailbox_bounded(
  const std::map<std::string, mailbox_figures>& actors,
  uint64_t slack_messages) {
  const auto kind = oracle_kind::mailbox_bounded;
  std::string highest;
  double highest_share = -1;
  size_t gated = 0;
  for (auto& [label, m] : actors) {
    if (m.limit == 0)
      continue;
    ++gated;
    auto admit_max = m.limit + m.admission_allowance;
    if (m.admitted_high_water > admit_max)
      return failed(kind, "a mailbox gate admitted past its limit",
                    label + " admitted " + std::to_string(m.admitted_high_water)
                      + " requests at once; its limit allows "
                      + std::to_string(admit_max));
    auto depth_max = m.limit + m.reply_allowance + slack_messages;
    if (m.depth_max > depth_max)
      return failed(
        kind, "a mailbox held more than its limits allow",
        label + " held " + std::to_string(m.depth_max) + " messages; limit "
          + std::to_string(m.limit) + " + replies in flight "
          + std::to_string(m.reply_allowance) + " + slack "
          + std::to_string(slack_messages) + " = " + std::to_string(depth_max));
    auto share = static_cast<double>(m.admitted_high_water)
      / static_cast<double>(m.limit);
    if (share > highest_share) {
      highest_share = share;
      highest = label + " admitted " + std::to_string(m.admitted_high_water)
        + " of " + std::to_string(m.limit);
    }
  }
  return {kind,
          verdict::held,
          std::to_string(gated) + " gated mailboxes within their limits"
            + (highest.empty() ? "" : "; fullest: " + highest),
          {}};
}

// --- (e) -------------------------------------------------------------------

oracle_result check_recovery(const std::vector<kv_operation>& ops,
                             int64_t faults_end_ms,
                             const recovery_settings& settings) {
  const auto kind = oracle_kind::recovery;
  std::vector<std::pair<int64_t, bool>> calls;
  for (auto& op : ops)
    if (!op.final_read && op.invoke_ms >= faults_end_ms)
      calls.emplace_back(op.invoke_ms, succeeded(op));
  std::stable_sort(calls.begin(), calls.end(),
                   [](auto& a, auto& b) { return a.first < b.first; });
  auto last_start = faults_end_ms + settings.within_ms - settings.window_ms;
  double best = -1;
  std::string best_text;
  size_t lo = 0;
  size_t hi = 0;
  size_t ok_in = 0;
  while (lo < calls.size() && calls[lo].first <= last_start) {
    auto start = calls[lo].first;
    while (hi < calls.size() && calls[hi].first < start + settings.window_ms)
      ok_in += calls[hi++].second ? 1 : 0;
    auto count = hi - lo;
    auto rate = static_cast<double>(ok_in) / static_cast<double>(count);
    char text[160];
    std::snprintf(text, sizeof text, "%.0f%% (%zu of %zu) in %lld..%lld ms",
                  rate * 100, ok_in, count, static_cast<long long>(start),
                  static_cast<long long>(start + settings.window_ms));
    if (count >= settings.min_calls && rate >= settings.success_rate)
      return {kind,
              verdict::held,
              std::string(text) + ", "
                + std::to_string(start + settings.window_ms - faults_end_ms)
                + " ms after the faults ended at "
                + std::to_string(faults_end_ms) + " ms",
              {}};
    if (count >= settings.min_calls && rate > best) {
      best = rate;
      best_text = text;
    }
    while (lo < calls.size() && calls[lo].first == start)
      ok_in -= calls[lo++].second ? 1 : 0;
  }
  char want[64];
  std::snprintf(want, sizeof want, "%.0f%%", settings.success_rate * 100);
  return failed(
    kind, "no recovery within " + std::to_string(settings.within_ms) + " ms",
    "after the faults ended at " + std::to_string(faults_end_ms) + " ms, no "
      + std::to_string(settings.window_ms) + " ms window of at least "
      + std::to_string(settings.min_calls) + " calls reached " + want
      + " success within " + std::to_string(settings.within_ms) + " ms"
      + (best_text.empty() ? " (too few calls)"
                           : "; the best was " + best_text));
}

// --- (f) -------------------------------------------------------------------

oracle_result check_supervision(
  const std::vector<supervisor_figures>& sups,
  const std::map<std::string, uint64_t>& steady,
  const std::map<std::string, uint64_t>& settled) {
  const auto kind = oracle_kind::supervision;
  uint64_t restarts = 0;
  uint64_t escalated = 0;
  for (auto& s : sups) {
    restarts += s.restart_ms.size();
    if (s.ended)
      ++escalated;
    // The most restarts within one period: a sliding window over the times.
    size_t first = 0;
    for (size_t last = 0; last < s.restart_ms.size(); ++last) {
      while (s.restart_ms[last] - s.restart_ms[first] >= s.period_ms)
        ++first;
      auto in_period = static_cast<uint64_t>(last - first + 1);
      if (in_period > s.max_restarts && !s.ended)
        return failed(
          kind, "a supervisor restarted past its intensity",
          s.label + " restarted " + std::to_string(in_period)
            + " times between " + std::to_string(s.restart_ms[first]) + " and "
            + std::to_string(s.restart_ms[last]) + " ms (at most "
            + std::to_string(s.max_restarts) + " within "
            + std::to_string(s.period_ms) + " ms) and did not give up");
    }
  }
  std::string differences;
  std::set<std::string> kinds;
  for (auto& [k, n] : steady)
    kinds.insert(k);
  for (auto& [k, n] : settled)
    kinds.insert(k);
  auto count
    = [](const std::map<std::string, uint64_t>& m, const std::string& k) {
        auto i = m.find(k);
        return i == m.end() ? uint64_t{0} : i->second;
      };
  uint64_t total = 0;
  for (auto& k : kinds) {
    auto before = count(steady, k);
    auto after = count(settled, k);
    total += before;
    if (before != after)
      differences += (differences.empty() ? "" : ", ") + k + " "
        + std::to_string(before) + " -> " + std::to_string(after);
  }
  if (!differences.empty())
    return failed(kind, "the actor tree did not come back to its steady shape",
                  "live actors by kind, steady -> settled: " + differences);
  return {kind,
          verdict::held,
          std::to_string(sups.size()) + " supervisors, "
            + std::to_string(restarts) + " restarts within intensity"
            + (escalated ? ", " + std::to_string(escalated)
                   + " ended (gave up or stopped)"
                         : "")
            + "; " + std::to_string(total) + " actors back in the steady tree",
          {}};
}

} // namespace prism::simulation
