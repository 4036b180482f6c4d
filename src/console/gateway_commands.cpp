// pools, pool, ns, clients, warnings, config, log and stats: the gateway's
// own state, over the /debug endpoints of docs/ADMIN.md.

#include <algorithm>
#include <map>
#include <ostream>

#include "console/command_support.hpp"
#include "console/format.hpp"

namespace prism::console {

namespace {

using nlohmann::json;

constexpr uint64_t ns_window_ms_default = 1000;
constexpr uint64_t ns_window_ms_max = 600000;

std::string count(const json& object, const char* key) {
  return std::to_string(whole(object, key));
}

reply read(context& ctx, const std::string& name, const std::string& path,
           bool& ok) {
  auto answer = ctx.get(path);
  ok = answer.ok();
  if (!ok)
    ctx.fail(name, ctx.failure(answer, "GET", path));
  return answer;
}

// --- pools ------------------------------------------------------------------

std::string circuit_of(const json& pool) {
  auto circuit = text_of(pool, "circuit");
  if (circuit != "closed" && pool.contains("circuit_since_ms")
      && !pool["circuit_since_ms"].is_null())
    circuit += " for " + human_ms(number(pool, "circuit_since_ms"));
  return circuit;
}

} // namespace

outcome run_pools(context& ctx, const std::vector<std::string>& args) {
  if (!parse_args(ctx, "pools", args, {}, 0))
    return outcome::usage;
  bool ok = false;
  auto answer = read(ctx, "pools", "/debug/pools", ok);
  if (!ok)
    return outcome::failed;
  table t({{"BACKEND", table::align::left, true},
           {"DRIVER", table::align::left, false},
           {"SIZE", table::align::right, false},
           {"ACTIVE", table::align::right, false},
           {"IDLE", table::align::right, false},
           {"DOWN", table::align::right, false},
           {"WAITING", table::align::right, false},
           {"MAX WAIT", table::align::right, false},
           {"SERVED", table::align::right, false},
           {"ERRORS", table::align::right, false},
           {"RECONNECTS", table::align::right, false},
           {"CIRCUIT", table::align::left, false}});
  for (const auto& pool : answer.body["pools"])
    t.add({text_of(pool, "backend"), text_of(pool, "driver"),
           count(pool, "size"), count(pool, "active"), count(pool, "idle"),
           count(pool, "down"),
           count(pool, "waiting") + "/" + count(pool, "max_pending"),
           human_ms(number(pool, "max_wait_ms")), count(pool, "served"),
           count(pool, "errors"), count(pool, "reconnects"), circuit_of(pool)});
  auto& out = ctx.text();
  if (t.size() == 0)
    out << "no pools (no backend is configured)\n";
  else
    out << t.render(ctx.width)
        << "WAITING is calls waiting for a connection / the most that may "
           "wait; MAX WAIT is the oldest one's wait\n";
  return outcome::ok;
}

outcome run_pool(context& ctx, const std::vector<std::string>& args) {
  auto parsed = parse_args(ctx, "pool", args, {}, 1);
  if (!parsed)
    return outcome::usage;
  if (parsed->positional.empty())
    return ctx.usage("pool", "needs a backend name (`pools` lists them)");
  bool ok = false;
  auto answer = read(ctx, "pool", "/debug/pools", ok);
  if (!ok)
    return outcome::failed;
  const auto& wanted = parsed->positional[0];
  std::vector<std::string> names;
  for (const auto& pool : answer.body["pools"]) {
    names.push_back(text_of(pool, "backend"));
    if (names.back() != wanted)
      continue;
    fields f("pool " + wanted + " (" + text_of(pool, "driver") + ", actor "
             + count(pool, "actor") + ")");
    f.add("connections",
          count(pool, "size") + " (" + count(pool, "active") + " active, "
            + count(pool, "idle") + " idle, " + count(pool, "down") + " down)");
    f.add("waiting",
          count(pool, "waiting") + " of at most " + count(pool, "max_pending"));
    f.add("max wait",
          human_ms(number(pool, "max_wait_ms"))
            + " (the oldest call waiting now)");
    f.add("served", count(pool, "served"));
    f.add("errors", count(pool, "errors"));
    f.add("reconnects", count(pool, "reconnects"));
    f.add("circuit", circuit_of(pool));
    ctx.text() << f.render();
    return outcome::ok;
  }
  auto near = closest(wanted, names);
  return ctx.fail("pool",
                  "no pool for a backend \"" + wanted + "\""
                    + (near.empty() ? "" : "; did you mean " + near + "?")
                    + " (`pools` lists them)");
}

// --- ns ---------------------------------------------------------------------

namespace {

/// The latency under which `quantile` of the calls in the change of the
/// cumulative buckets from `was` to `now` fall, in ms; -1 without calls.
double quantile_ms(const json& was, const json& now, double quantile) {
  if (!now.is_array())
    return -1;
  std::vector<std::pair<double, double>> delta;
  for (size_t i = 0; i < now.size(); ++i) {
    const auto& bucket = now[i];
    if (!bucket.is_array() || bucket.size() < 2)
      continue;
    double upper = bucket[0].is_number() ? bucket[0].get<double>() : -1;
    double before = was.is_array() && i < was.size() && was[i].is_array()
        && was[i].size() >= 2 && was[i][1].is_number()
      ? was[i][1].get<double>()
      : 0;
    double cumulative = bucket[1].is_number() ? bucket[1].get<double>() : 0;
    delta.emplace_back(upper, cumulative - before);
  }
  if (delta.empty() || delta.back().second <= 0)
    return -1;
  double wanted = quantile * delta.back().second;
  for (const auto& [upper, cumulative] : delta)
    if (cumulative >= wanted)
      return upper < 0
        ? delta.size() > 1 ? (delta[delta.size() - 2].first / 1000) : -1
        : upper / 1000;
  return -1;
}

uint64_t sum_of(const json& object, bool skip_ok) {
  uint64_t total = 0;
  if (object.is_object())
    for (auto it = object.begin(); it != object.end(); ++it)
      if (it->is_number() && !(skip_ok && it.key() == "OK"))
        total += it->get<uint64_t>();
  return total;
}

std::string changes(const json& was, const json& now, bool skip_ok) {
  std::string text;
  if (!now.is_object())
    return text;
  for (auto it = now.begin(); it != now.end(); ++it) {
    if (!it->is_number() || (skip_ok && it.key() == "OK"))
      continue;
    auto before = was.is_object() && was.contains(it.key())
        && was[it.key()].is_number()
      ? was[it.key()].get<uint64_t>()
      : 0;
    auto change = it->get<uint64_t>() - std::min(before, it->get<uint64_t>());
    if (change > 0)
      text
        += (text.empty() ? "" : " ") + it.key() + " " + std::to_string(change);
  }
  return text;
}

std::string ms_cell(double ms) {
  return ms < 0 ? "-" : human_ms(ms);
}

} // namespace

outcome run_ns(context& ctx, const std::vector<std::string>& args) {
  auto parsed = parse_args(ctx, "ns", args, {"--window"}, 1);
  if (!parsed)
    return outcome::usage;
  auto window_ms = duration_flag(ctx, "ns", *parsed, "--window",
                                 ns_window_ms_default, ns_window_ms_max);
  if (!window_ms)
    return outcome::usage;
  bool ok = false;
  auto first = read(ctx, "ns", "/debug/namespaces", ok);
  if (!ok)
    return outcome::failed;
  std::string wanted = parsed->positional.empty() ? "" : parsed->positional[0];
  std::vector<std::string> names;
  for (const auto& ns : first.body["namespaces"])
    names.push_back(text_of(ns, "name"));
  if (!wanted.empty()
      && std::find(names.begin(), names.end(), wanted) == names.end()) {
    auto near = closest(wanted, names);
    return ctx.fail("ns",
                    "no namespace \"" + wanted + "\""
                      + (near.empty() ? "" : "; did you mean " + near + "?")
                      + " (`ns` lists them)");
  }
  ctx.sleep(std::chrono::milliseconds(*window_ms));
  if (ctx.interrupted())
    return outcome::ok;
  auto second = read(ctx, "ns", "/debug/namespaces", ok);
  if (!ok)
    return outcome::failed;
  double elapsed_ms = number(second.body, "generated_at_ms")
    - number(first.body, "generated_at_ms");
  if (elapsed_ms <= 0)
    elapsed_ms = static_cast<double>(*window_ms);
  std::map<std::string, const json*> before;
  for (const auto& ns : first.body["namespaces"])
    before[text_of(ns, "name")] = &ns;

  table t({{"NAMESPACE", table::align::left, true},
           {"BACKEND", table::align::left, false},
           {"API", table::align::left, false},
           {"REQ/S", table::align::right, false},
           {"P50", table::align::right, false},
           {"P99", table::align::right, false},
           {"ERRORS", table::align::left, true},
           {"REJECTED", table::align::left, true}});
  auto& out = ctx.text();
  for (const auto& ns : second.body["namespaces"]) {
    auto name = text_of(ns, "name");
    if (!wanted.empty() && name != wanted)
      continue;
    static const json none = json::object();
    auto it = before.find(name);
    const json& was = it == before.end() ? none : *it->second;
    double requests = number(ns, "requests") - number(was, "requests");
    double rate = std::max(0.0, requests) * 1000 / elapsed_ms;
    double p50
      = quantile_ms(was["latency_buckets_us"], ns["latency_buckets_us"], 0.5);
    double p99
      = quantile_ms(was["latency_buckets_us"], ns["latency_buckets_us"], 0.99);
    auto errors = changes(was["by_code"], ns["by_code"], true);
    auto rejected = changes(was["rejections"], ns["rejections"], false);
    if (wanted.empty()) {
      t.add({name, text_of(ns, "backend"), text_of(ns, "api"),
             human_number(rate), ms_cell(p50), ms_cell(p99),
             errors.empty() ? "-" : errors, rejected.empty() ? "-" : rejected});
      continue;
    }
    fields now("namespace " + name + " (" + text_of(ns, "api") + " on "
               + text_of(ns, "backend") + "), over the last "
               + human_ms(elapsed_ms));
    now.add("requests/s", human_number(rate));
    now.add("p50 / p99", ms_cell(p50) + " / " + ms_cell(p99));
    now.add("errors", errors.empty() ? "none" : errors);
    now.add("rejected", rejected.empty() ? "none" : rejected);
    fields total("since start");
    total.add("requests", count(ns, "requests"));
    // Without a call the percentiles say nothing.
    bool answered = whole(ns, "requests") > 0;
    auto since_start = [&](const char* key) {
      return ms_cell(answered && ns.contains(key) ? number(ns, key) : -1);
    };
    total.add("p50 / p99",
              since_start("p50_ms") + " / " + since_start("p99_ms"));
    std::string codes;
    if (ns["by_code"].is_object())
      for (auto c = ns["by_code"].begin(); c != ns["by_code"].end(); ++c)
        codes += (codes.empty() ? "" : " ") + c.key() + " " + c->dump();
    total.add("by code", codes.empty() ? "none" : codes);
    std::string reasons;
    if (ns["rejections"].is_object())
      for (auto r = ns["rejections"].begin(); r != ns["rejections"].end(); ++r)
        reasons += (reasons.empty() ? "" : " ") + r.key() + " " + r->dump();
    total.add("rejected", reasons.empty() ? "none" : reasons);
    total.add("errors", std::to_string(sum_of(ns["by_code"], true)));
    out << now.render() << total.render();
    return outcome::ok;
  }
  out << "over the last " << human_ms(elapsed_ms)
      << " (ERRORS: codes other than OK; REJECTED: calls refused, by "
         "reason)\n"
      << t.render(ctx.width);
  return outcome::ok;
}

// --- clients ----------------------------------------------------------------

outcome run_clients(context& ctx, const std::vector<std::string>& args) {
  if (!parse_args(ctx, "clients", args, {}, 0))
    return outcome::usage;
  bool ok = false;
  auto answer = read(ctx, "clients", "/debug/clients", ok);
  if (!ok)
    return outcome::failed;
  table t({{"ACTOR", table::align::right, false},
           {"PEER", table::align::left, true},
           {"PRINCIPAL", table::align::left, true},
           {"AGE", table::align::right, false},
           {"IN FLIGHT", table::align::right, false},
           {"STREAMS", table::align::right, false},
           {"CALLS", table::align::right, false}});
  for (const auto& c : answer.body["clients"]) {
    auto principal = text_of(c, "principal");
    t.add({count(c, "actor"), text_of(c, "peer"),
           principal.empty() ? "-" : principal, human_ms(number(c, "age_ms")),
           count(c, "in_flight"), count(c, "streams"), count(c, "calls")});
  }
  auto& out = ctx.text();
  if (t.size() == 0)
    out << "no client sessions\n";
  else
    out << t.render(ctx.width);
  return outcome::ok;
}

// --- warnings ---------------------------------------------------------------

outcome run_warnings(context& ctx, const std::vector<std::string>& args) {
  if (!parse_args(ctx, "warnings", args, {}, 0))
    return outcome::usage;
  bool ok = false;
  auto answer = read(ctx, "warnings", "/debug/warnings", ok);
  if (!ok)
    return outcome::failed;
  const auto& warnings = answer.body["warnings"];
  auto& out = ctx.text();
  if (!warnings.is_array() || warnings.empty()) {
    out << "no warnings\n";
    return outcome::ok;
  }
  table t({{"SEVERITY", table::align::left, false},
           {"KIND", table::align::left, false},
           {"SUBJECT", table::align::left, true},
           {"SINCE", table::align::right, false}});
  for (const auto& w : warnings) {
    auto subject = text_of(w, "subject");
    if (w.contains("actor") && w["actor"].is_number())
      subject += " (" + count(w, "actor") + ")";
    t.add({text_of(w, "severity"), text_of(w, "kind"), subject,
           w.contains("since_ms") && !w["since_ms"].is_null()
             ? human_ms(number(w, "since_ms"))
             : "-"});
  }
  // Each warning's sentence under its row: it is what to act on, so it is
  // never cut.
  auto lines = t.lines(ctx.width);
  out << lines[0] << "\n";
  for (size_t i = 0; i < warnings.size(); ++i)
    out << lines[i + 1] << "\n    " << text_of(warnings[i], "message") << "\n";
  out << warnings.size() << (warnings.size() == 1 ? " warning" : " warnings")
      << "\n";
  return outcome::ok;
}

// --- config -----------------------------------------------------------------

namespace {

void flatten(const json& value, const std::string& prefix, table& t) {
  if (value.is_object() && !value.empty()) {
    for (auto it = value.begin(); it != value.end(); ++it)
      flatten(*it, prefix.empty() ? it.key() : prefix + "." + it.key(), t);
    return;
  }
  if (value.is_array() && !value.empty()
      && std::any_of(value.begin(), value.end(),
                     [](const json& v) { return v.is_structured(); })) {
    for (size_t i = 0; i < value.size(); ++i)
      flatten(value[i], prefix + "[" + std::to_string(i) + "]", t);
    return;
  }
  t.add({prefix, value.is_string() ? value.get<std::string>() : value.dump()});
}

} // namespace

outcome run_config(context& ctx, const std::vector<std::string>& args) {
  if (!parse_args(ctx, "config", args, {}, 0))
    return outcome::usage;
  bool ok = false;
  auto answer = read(ctx, "config", "/debug/config", ok);
  if (!ok)
    return outcome::failed;
  table t({{"SETTING", table::align::left, false},
           {"VALUE", table::align::left, true}});
  auto body = answer.body;
  if (body.is_object())
    body.erase("generated_at_ms");
  // The settings may come under one "config" object: name them without it.
  if (body.is_object() && body.size() == 1 && body.contains("config"))
    body = json(body["config"]);
  flatten(body, "", t);
  ctx.text() << t.render(ctx.width);
  return outcome::ok;
}

// --- log --------------------------------------------------------------------

outcome run_log(context& ctx, const std::vector<std::string>& args) {
  auto parsed = parse_args(ctx, "log", args, {}, 2);
  if (!parsed)
    return outcome::usage;
  const auto& words = parsed->positional;
  if (words.empty()) {
    bool ok = false;
    auto answer = read(ctx, "log", "/debug/log", ok);
    if (!ok)
      return outcome::failed;
    ctx.text() << "log level: " << text_of(answer.body, "level") << "\n";
    return outcome::ok;
  }
  std::string levels;
  for (const auto& l : log_levels())
    levels += (levels.empty() ? "" : ", ") + l;
  if (words[0] != "level")
    return ctx.usage("log",
                     "unknown word \"" + words[0]
                       + "\"; use `log` or `log level LEVEL`");
  if (words.size() < 2) {
    return ctx.usage("log", "`log level` needs a level: " + levels);
  }
  const auto& level = words[1];
  if (std::find(log_levels().begin(), log_levels().end(), level)
      == log_levels().end())
    return ctx.usage("log",
                     "unknown level \"" + level + "\"; use one of " + levels);
  if (ctx.src.recorded())
    return ctx.fail("log", "a recorded run has no log level to set");
  auto path = "/debug/log/level/" + level;
  auto answer = ctx.post(path);
  if (!answer.ok())
    return ctx.fail("log", ctx.failure(answer, "POST", path));
  ctx.text() << "log level: " << text_of(answer.body, "level") << "\n";
  return outcome::ok;
}

// --- stats ------------------------------------------------------------------

outcome run_stats(context& ctx, const std::vector<std::string>& args) {
  if (!parse_args(ctx, "stats", args, {}, 0))
    return outcome::usage;
  bool ok = false;
  auto answer = read(ctx, "stats", "/debug/stats", ok);
  if (!ok)
    return outcome::failed;
  const auto& s = answer.body;
  fields f;
  f.add("version", text_of(s, "version"));
  f.add("pid", count(s, "pid"));
  f.add("uptime", human_ms(number(s, "uptime_ms")));
  f.add("memory", human_bytes(number(s, "rss_bytes")) + " resident");
  f.add("threads", count(s, "threads"));
  f.add("cpu",
        human_ms(number(s, "cpu_user_ms")) + " user, "
          + human_ms(number(s, "cpu_system_ms")) + " system");
  f.add("actors", count(s, "actors"));
  f.add("sessions", count(s, "sessions"));
  auto in_flight = whole(s, "requests_in_flight");
  f.add("in flight",
        std::to_string(in_flight)
          + (in_flight == 1 ? " request" : " requests"));
  f.add("config", text_of(s, "config_path"));
  f.add("listen", text_of(s, "listen"));
  f.add("admin", text_of(s, "admin"));
  ctx.text() << f.render();
  return outcome::ok;
}

} // namespace prism::console
