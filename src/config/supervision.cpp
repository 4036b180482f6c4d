// The supervision: and circuit: maps of a backend: how its supervisor
// restarts the connection actors, and how its circuit breaker probes it
// once the supervisor gives up.

#include "config/checker.hpp"
#include "config/sections.hpp"

namespace prism::config::detail {

namespace {

const std::vector<std::string> supervision_keys
  = {"strategy", "max_restarts", "period_ms", "backoff", "shutdown_timeout_ms"};
const std::vector<std::string> backoff_keys
  = {"min_ms", "max_ms", "multiplier", "jitter", "reset_after_ms"};
const std::vector<std::string> circuit_keys
  = {"probe_after_ms", "probe_max_ms"};
const std::vector<std::string> supervision_strategies
  = {"one_for_one", "one_for_all", "rest_for_one"};

/// Reports `low_key` above `high_key` in section `s`, at whichever of the two
/// comes later in the file (or at the one that is set), naming both values.
/// Call it only when both values were read without problems.
void check_order(checker& c, const section& s, const std::string& low_key,
                 uint32_t low, const std::string& high_key, uint32_t high,
                 const std::string& why) {
  if (low <= high)
    return;
  const entry* lo = s.find(low_key);
  const entry* hi = s.find(high_key);
  if (lo == nullptr && hi == nullptr)
    return;
  bool at_high = hi != nullptr
    && (lo == nullptr || after(c.at(hi->key), c.at(lo->key)));
  std::string low_text
    = std::to_string(low) + (lo != nullptr ? "" : ", its default");
  std::string high_text
    = std::to_string(high) + (hi != nullptr ? "" : ", its default");
  std::string message = at_high ? high_key + " (" + high_text
      + ") is less than " + low_key + " (" + low_text + ")"
                                : low_key + " (" + low_text
      + ") is greater than " + high_key + " (" + high_text + ")";
  const entry& where = at_high ? *hi : *lo;
  c.report(c.at_value(where), s.path(where.name), message,
           why + ": raise " + high_key + " to at least " + std::to_string(low)
             + ", or lower " + low_key + " to at most " + std::to_string(high));
}

void check_backoff(checker& c, const entry& e, const std::string& backend_field,
                   supervision_config& out) {
  section s = c.open(e.value, backend_field + ".supervision.backoff",
                     c.at(e.key), "a map of backoff settings");
  c.unknown_keys(s, backoff_keys,
                 misplaced_supervision_keys(backend_field, s.field));

  const char* ms_hour = "use 1..3600000 milliseconds (up to 1 hour)";
  bool min_ok = true;
  bool max_ok = true;
  if (const entry* v = s.find("min_ms"))
    min_ok
      = c.number(*v, s.path(v->name), 1, 3600000, out.backoff_min_ms, ms_hour);
  if (const entry* v = s.find("max_ms"))
    max_ok
      = c.number(*v, s.path(v->name), 1, 3600000, out.backoff_max_ms, ms_hour);
  if (min_ok && max_ok)
    check_order(c, s, "min_ms", out.backoff_min_ms, "max_ms",
                out.backoff_max_ms,
                "the longest restart delay cannot be shorter than the first");
  if (const entry* v = s.find("multiplier"))
    c.real(
      *v, s.path(v->name), 1.0, 10.0, out.backoff_multiplier,
      "use a number in 1.0..10.0: each restart delay is the previous one times this (1.0 keeps it at min_ms)");
  if (const entry* v = s.find("jitter"))
    c.real(
      *v, s.path(v->name), 0.0, 1.0, out.backoff_jitter,
      "use a fraction in 0.0..1.0: 0.2 spreads each delay by up to 20% either way (0.0 for none)");
  if (const entry* v = s.find("reset_after_ms"))
    c.number(*v, s.path(v->name), 1, 86400000, out.backoff_reset_after_ms,
             "use 1..86400000 milliseconds (up to 1 day)");
}

} // namespace

std::vector<misplaced> misplaced_supervision_keys(
  const std::string& backend_field, const std::string& here) {
  std::string supervision = backend_field + ".supervision";
  std::string backoff = supervision + ".backoff";
  std::string circuit = backend_field + ".circuit";
  std::vector<misplaced> out;
  auto under = [](const std::string& path) {
    return "it belongs under " + path + ":";
  };
  if (here != supervision) {
    for (const auto& k : supervision_keys)
      out.push_back({k, under(supervision)});
  }
  for (const auto& k : backoff_keys) {
    if (here == backoff)
      out.push_back({"backoff_" + k,
                     "write it as " + k
                       + " here: keys under backoff: have no backoff_ prefix"});
    else
      out.push_back(
        {"backoff_" + k, "write it as " + k + " under " + backoff + ":"});
    if (here == backoff)
      continue;
    if (here == circuit && k == "min_ms")
      out.push_back(
        {k,
         "did you mean \"probe_after_ms\"? the restart delay min_ms belongs under "
           + backoff + ":"});
    else if (here == circuit && k == "max_ms")
      out.push_back(
        {k,
         "did you mean \"probe_max_ms\"? the restart delay max_ms belongs under "
           + backoff + ":"});
    else
      out.push_back({k, under(backoff)});
  }
  if (here != circuit) {
    for (const auto& k : circuit_keys)
      out.push_back({k, under(circuit)});
  }
  return out;
}

void check_supervision(checker& c, const entry& e,
                       const std::string& backend_field,
                       supervision_config& out) {
  section s = c.open(e.value, backend_field + ".supervision", c.at(e.key),
                     "a map of supervision settings");
  c.unknown_keys(s, supervision_keys,
                 misplaced_supervision_keys(backend_field, s.field));

  if (const entry* v = s.find("strategy")) {
    int index = c.choice(*v, s.path(v->name), "supervision strategy",
                         supervision_strategies);
    if (index >= 0)
      out.strategy = static_cast<supervision_strategy>(index);
  }
  if (const entry* v = s.find("max_restarts"))
    c.number(*v, s.path(v->name), 0, 1000, out.max_restarts,
             "use 0..1000 restarts (0: the first failure gives up)");
  if (const entry* v = s.find("period_ms"))
    c.number(*v, s.path(v->name), 1, 3600000, out.period_ms,
             "use 1..3600000 milliseconds (up to 1 hour)");
  if (const entry* v = s.find("backoff"))
    check_backoff(c, *v, backend_field, out);
  if (const entry* v = s.find("shutdown_timeout_ms"))
    c.number(*v, s.path(v->name), 1, 600000, out.shutdown_timeout_ms,
             "use 1..600000 milliseconds (up to 10 minutes)");
}

void check_circuit(checker& c, const entry& e, const std::string& backend_field,
                   circuit_config& out) {
  section s = c.open(e.value, backend_field + ".circuit", c.at(e.key),
                     "a map of circuit settings");
  c.unknown_keys(s, circuit_keys,
                 misplaced_supervision_keys(backend_field, s.field));

  bool after_ok = true;
  bool max_ok = true;
  if (const entry* v = s.find("probe_after_ms"))
    after_ok = c.number(*v, s.path(v->name), 1, 3600000, out.probe_after_ms,
                        "use 1..3600000 milliseconds (up to 1 hour)");
  if (const entry* v = s.find("probe_max_ms"))
    max_ok = c.number(*v, s.path(v->name), 1, 86400000, out.probe_max_ms,
                      "use 1..86400000 milliseconds (up to 1 day)");
  if (after_ok && max_ok)
    check_order(
      c, s, "probe_after_ms", out.probe_after_ms, "probe_max_ms",
      out.probe_max_ms,
      "the longest wait between probes cannot be shorter than the first");
}

} // namespace prism::config::detail
