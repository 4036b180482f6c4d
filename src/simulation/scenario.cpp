#include "simulation/scenario.hpp"

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <set>
#include <sstream>
#include <tuple>

#include <sys/stat.h>

#include "config/reload.hpp"
#include "config/stage_kinds.hpp"
#include "model/digest.hpp"
#include "model/status.hpp"
#include "simulation/yaml_checker.hpp"

namespace prism::simulation {

namespace {

using config::location;
using config::problem;
using yaml::checker;
using yaml::entry;
using yaml::find;
using yaml::join;
using yaml::quote;

/// Larger is not a scenario.
constexpr size_t scenario_bytes_max = 4u << 20;
constexpr uint32_t clients_max = 10000;
constexpr uint32_t keys_max = 100000;
constexpr int64_t duration_ms_max = 24 * 3600 * 1000;

const std::vector<std::string>& status_code_names() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> out;
    for (int c = 1; c <= 16; ++c)
      out.emplace_back(to_string(static_cast<status_code>(c)));
    return out;
  }();
  return names;
}

// --- gateway ---------------------------------------------------------------

/// The gateway section as a YAML text of its own, with every other line
/// blanked: the config checker then reports the scenario file's own lines
/// and columns.
std::string gateway_text(const std::string& text, int first_line,
                         int first_column, int end_line) {
  std::istringstream in(text);
  std::string line;
  std::string out;
  for (int n = 0; std::getline(in, line); ++n) {
    if (n < first_line || n >= end_line) {
      out += '\n';
      continue;
    }
    if (n == first_line)
      line.replace(0, std::min<size_t>(line.size(), first_column),
                   std::min<size_t>(line.size(), first_column), ' ');
    out += line + '\n';
  }
  return out;
}

/// `gateway: FILE`: the config file, relative to the scenario's directory.
void check_gateway_file(checker& c, const entry& e, scenario& out) {
  auto name = e.value.Scalar();
  auto scenario_file = c.at(e.key).file;
  auto path = name;
  if (!name.empty() && name.front() != '/') {
    auto slash = scenario_file.rfind('/');
    if (slash != std::string::npos)
      path = scenario_file.substr(0, slash + 1) + name;
  }
  auto result = config::load_file(path);
  if (!result.ok()) {
    c.report(c.at(e.value), "gateway",
             "the gateway config file " + quote(path) + " has problems",
             "they follow, with that file's lines");
    for (auto& p : result.problems) {
      p.field = p.field.empty() ? "gateway" : "gateway." + p.field;
      c.problems.push_back(std::move(p));
    }
    return;
  }
  out.gateway = std::move(*result.config);
  out.gateway_file = path;
}

/// The scenario's text with the line `gateway: FILE` replaced by the file's
/// config, indented under `gateway:`.
std::optional<std::string> inline_gateway(const std::string& text, int key_line,
                                          const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in)
    return std::nullopt;
  std::string config((std::istreambuf_iterator<char>(in)),
                     std::istreambuf_iterator<char>());
  std::istringstream lines(text);
  std::string line;
  std::string out;
  for (int n = 0; std::getline(lines, line); ++n) {
    if (n != key_line) {
      out += line + '\n';
      continue;
    }
    out += "# gateway: inlined from " + path + "\ngateway:\n";
    std::istringstream config_lines(config);
    std::string c;
    while (std::getline(config_lines, c))
      out += c.empty() ? "\n" : "  " + c + '\n';
  }
  return out;
}

void check_gateway(checker& c, const std::string& text, const YAML::Node& root,
                   const entry& e, scenario& out) {
  if (e.value.IsScalar() && !e.value.Scalar().empty()) {
    check_gateway_file(c, e, out);
    if (!out.gateway_file.empty())
      out.gateway_line = e.key.Mark().line;
    return;
  }
  if (!e.value.IsMap()) {
    c.report(c.at(e.key), "gateway",
             "expected the gateway config: a map with backends: and "
             "namespaces:, or the name of a config file",
             "the same YAML as config/prism.yaml, indented under gateway:, "
             "or gateway: FILE (relative to the scenario's directory)");
    return;
  }
  int key_line = e.key.Mark().line;
  int end_line = 1 << 30;
  for (auto it = root.begin(); it != root.end(); ++it) {
    int line = it->first.Mark().line;
    if (line > key_line && line < end_line)
      end_line = line;
  }
  auto mark = e.value.Mark();
  auto result = config::parse(
    gateway_text(text, mark.line, mark.column, end_line), c.at(e.key).file);
  for (auto& p : result.problems) {
    p.field = p.field.empty() ? "gateway" : "gateway." + p.field;
    c.problems.push_back(std::move(p));
  }
  if (!result.ok())
    return;
  out.gateway = std::move(*result.config);
}

// --- workload --------------------------------------------------------------

void check_mix(checker& c, const entry& e, op_mix& mix) {
  auto items = c.map(e.value, "workload.mix", c.at(e.key),
                     "a map of operation weights, e.g. {get: 50, set: 50}");
  const std::vector<std::string> names{
    "get", "set", "cas", "delete", "batch_set", "scan", "publish", "subscribe"};
  c.known_keys(items, "workload.mix", names);
  if (items.empty())
    return;
  mix = op_mix{0, 0, 0, 0, 0, 0};
  uint32_t* slots[] = {&mix.get,       &mix.set,  &mix.cas,     &mix.del,
                       &mix.batch_set, &mix.scan, &mix.publish, &mix.subscribe};
  for (size_t i = 0; i < names.size(); ++i)
    if (auto* v = find(items, names[i]))
      if (auto n = c.whole(*v, "workload.mix." + names[i], 0, 1000000))
        *slots[i] = static_cast<uint32_t>(*n);
  if (mix.total() == 0)
    c.report(c.at(e.value), "workload.mix", "every weight is 0",
             "give at least one operation a weight above 0");
}

/// What a PubSub workload takes beyond the KeyValue one, and which of the
/// two APIs the namespace's pattern allows.
void check_workload_api(checker& c, const std::vector<entry>& items,
                        const entry& ns, const config::namespace_config& cfg,
                        scenario& out) {
  const std::string field = "workload";
  auto& w = out.workload;
  static const std::vector<std::string> pubsub_keys{
    "topics", "subscribers_max", "subscriptions", "resubscribe_ms"};
  auto* mix = find(items, "mix");
  if (cfg.pattern == config::pattern::keyvalue) {
    for (auto& key : pubsub_keys)
      if (auto* v = find(items, key))
        c.report(c.at(v->key), field + "." + key,
                 "applies only to a pubsub namespace",
                 "name a pubsub namespace (kafka or nats backend) in "
                 "workload.namespace");
    if (mix && (w.mix.publish > 0 || w.mix.subscribe > 0))
      c.report(c.at(mix->key), field + ".mix",
               quote(w.ns)
                 + " is a keyvalue namespace: publish and subscribe "
                   "do not apply",
               "give them weight 0, or name a pubsub namespace");
    return;
  }
  auto backend = out.gateway.backends.find(cfg.backend);
  if (backend == out.gateway.backends.end())
    return; // the gateway has problems of its own
  if (backend->second.type != config::backend_type::kafka
      && backend->second.type != config::backend_type::nats) {
    c.report(c.at(ns.value), field + ".namespace",
             quote(w.ns) + " is a pubsub namespace on "
               + std::string(config::to_string(backend->second.type))
               + " backend " + quote(cfg.backend)
               + ", which cannot be simulated",
             "put the namespace on a kafka or nats backend");
    return;
  }
  w.pubsub = true;
  if (!mix) {
    w.mix = op_mix{0, 0, 0, 0, 0, 0};
    w.mix.publish = pubsub_publish_weight_default;
    w.mix.subscribe = pubsub_subscribe_weight_default;
  } else if (w.mix.total() != uint64_t{w.mix.publish} + w.mix.subscribe) {
    c.report(c.at(mix->key), field + ".mix",
             quote(w.ns)
               + " is a pubsub namespace: only publish and "
                 "subscribe apply",
             "give get, set, cas, delete, batch_set and scan weight 0");
  }
  auto number = [&](const char* key, int64_t min, int64_t max, uint32_t& slot) {
    if (auto* v = find(items, key))
      if (auto n = c.whole(*v, field + "." + key, min, max))
        slot = static_cast<uint32_t>(*n);
  };
  number("topics", 1, 1000, w.topics);
  number("subscribers_max", 0, 1000, w.subscribers_max);
  number("resubscribe_ms", 1, 600000, w.resubscribe_ms);
  if (auto* v = find(items, "subscriptions")) {
    auto kinds = c.map(v->value, field + ".subscriptions", c.at(v->key),
                       "weights of what a subscribe opens, e.g. {durable: 2, "
                       "shared: 1, ephemeral: 1}");
    c.known_keys(kinds, field + ".subscriptions",
                 {"durable", "shared", "ephemeral"});
    if (!kinds.empty()) {
      auto& sm = w.subscriptions;
      sm = subscription_mix{0, 0, 0};
      std::pair<const char*, uint32_t*> slots[]
        = {{"durable", &sm.durable},
           {"shared", &sm.shared},
           {"ephemeral", &sm.ephemeral}};
      for (auto& [name, slot] : slots)
        if (auto* k = find(kinds, name))
          if (auto n
              = c.whole(*k, field + ".subscriptions." + name, 0, 1000000))
            *slot = static_cast<uint32_t>(*n);
      if (sm.total() == 0)
        c.report(c.at(v->value), field + ".subscriptions", "every weight is 0",
                 "give at least one kind a weight above 0");
    }
  }
}

void check_workload(checker& c, const entry& e, scenario& out) {
  const std::string field = "workload";
  auto items = c.map(e.value, field, c.at(e.key), "a map of workload settings");
  if (items.empty())
    return;
  c.known_keys(items, field,
               {"clients", "loop", "think_ms", "rate_per_s", "namespace",
                "keys", "distribution", "zipf_s", "deadline_ms", "batch_size",
                "scan_limit", "ttl_ms", "mix", "topics", "subscribers_max",
                "subscriptions", "resubscribe_ms"});
  auto& w = out.workload;
  auto number = [&](const char* key, int64_t min, int64_t max, uint32_t& slot) {
    if (auto* v = find(items, key))
      if (auto n = c.whole(*v, field + "." + key, min, max))
        slot = static_cast<uint32_t>(*n);
  };
  number("clients", 1, clients_max, w.clients);
  number("think_ms", 1, 600000, w.think_ms);
  number("keys", 1, keys_max, w.keys);
  number("deadline_ms", 0, 3600000, w.deadline_ms);
  number("batch_size", 1, 1000, w.batch_size);
  number("scan_limit", 1, 1000, w.scan_limit);
  number("ttl_ms", 0, 86400000, w.ttl_ms);
  if (auto* v = find(items, "ttl_ms"))
    w.ttl_where = c.at(v->key);
  if (auto* v = find(items, "loop"))
    if (auto word = c.choice(*v, field + ".loop", {"closed", "open"}))
      w.loop = *word == "open" ? loop_kind::open : loop_kind::closed;
  if (auto* v = find(items, "rate_per_s")) {
    if (auto x = c.real(*v, field + ".rate_per_s", 0.001, 1000))
      w.rate_per_s = *x;
    if (w.loop != loop_kind::open)
      c.report(c.at(v->key), field + ".rate_per_s",
               "applies only to loop: open", "set loop: open, or use think_ms");
  }
  if (auto* v = find(items, "distribution"))
    if (auto word = c.choice(*v, field + ".distribution", {"uniform", "zipf"}))
      w.distribution = *word == "zipf" ? key_distribution::zipf
                                       : key_distribution::uniform;
  if (auto* v = find(items, "zipf_s")) {
    if (auto x = c.real(*v, field + ".zipf_s", 0.01, 10))
      w.zipf_s = *x;
    if (w.distribution != key_distribution::zipf)
      c.report(c.at(v->key), field + ".zipf_s",
               "applies only to distribution: zipf");
  }
  if (auto* v = find(items, "mix"))
    check_mix(c, *v, w.mix);
  auto* ns = find(items, "namespace");
  if (!ns) {
    c.missing(c.at(e.key), field + ".namespace",
              "name the keyvalue namespace of gateway.namespaces the clients "
              "call");
    return;
  }
  auto name = c.text(*ns, field + ".namespace");
  if (!name)
    return;
  w.ns = *name;
  if (out.gateway.namespaces.empty())
    return; // the gateway has problems of its own
  auto i = out.gateway.namespaces.find(w.ns);
  if (i == out.gateway.namespaces.end()) {
    std::vector<std::string> names;
    for (auto& [n, cfg] : out.gateway.namespaces)
      names.push_back(n);
    c.report(c.at(ns->value), field + ".namespace",
             "no namespace " + quote(w.ns) + " in gateway.namespaces",
             "one of " + join(names));
  } else {
    check_workload_api(c, items, *ns, i->second, out);
  }
}

// --- faults ----------------------------------------------------------------

bool keyvalue_backend(const scenario& s, const std::string& name) {
  auto i = s.gateway.backends.find(name);
  return i != s.gateway.backends.end()
    && (i->second.type == config::backend_type::memory
        || i->second.type == config::backend_type::sqlite
        || i->second.type == config::backend_type::postgres);
}

bool serves_namespace(const scenario& s, const std::string& backend) {
  return std::any_of(s.gateway.namespaces.begin(), s.gateway.namespaces.end(),
                     [&](auto& ns) { return ns.second.backend == backend; });
}

bool pubsub_backend(const scenario& s, const std::string& name) {
  auto i = s.gateway.backends.find(name);
  return i != s.gateway.backends.end()
    && (i->second.type == config::backend_type::kafka
        || i->second.type == config::backend_type::nats);
}

/// A broker is named by its backend; a subscription by "ns/topic" or
/// "ns/topic/subscription".
std::string pubsub_actor_problem(const scenario& s, const std::string& kind,
                                 const std::string& name) {
  if (kind == "broker") {
    if (!pubsub_backend(s, name))
      return "no kafka or nats backend " + quote(name)
        + " in gateway.backends (a broker is named by its backend)";
    return {};
  }
  auto ns = name.substr(0, name.find('/'));
  auto i = s.gateway.namespaces.find(ns);
  if (name.find('/') == std::string::npos || i == s.gateway.namespaces.end()
      || i->second.pattern != config::pattern::pubsub)
    return "a subscription is named NAMESPACE/TOPIC or "
           "NAMESPACE/TOPIC/SUBSCRIPTION of a pubsub namespace, not "
      + quote(name);
  return {};
}

/// Why a backend fault of `kind` cannot target `name`, or "".
std::string backend_target_problem(const scenario& s, fault_kind kind,
                                   const std::string& name) {
  auto kind_name = std::string(info_of(kind).name);
  if (pubsub_backend(s, name)) {
    if (!acts_on_pubsub(kind)) {
      std::vector<std::string> kinds;
      for (auto& k : fault_kinds())
        if (acts_on_pubsub(k.kind))
          kinds.emplace_back(k.name);
      return kind_name + " acts on a keyvalue backend's connections; "
        + quote(name) + " is a pubsub backend, where it can be one of "
        + join(kinds);
    }
    auto& b = s.gateway.backends.at(name);
    if (kind == fault_kind::broker_duplicate
        && b.type == config::backend_type::nats && !b.nats.jetstream)
      return "backend " + quote(name)
        + " is core NATS (jetstream: false), which delivers at most once "
          "and never sends a message again; broker_duplicate needs kafka or "
          "nats with jetstream: true";
    return {};
  }
  if (!keyvalue_backend(s, name))
    return "no keyvalue backend " + quote(name)
      + " (nor a kafka or nats one) in gateway.backends";
  if (!acts_on_keyvalue(kind))
    return kind_name + " targets a kafka or nats backend; " + quote(name)
      + " is a keyvalue backend";
  return {};
}

/// Why an actor target cannot name an actor of this gateway, or "".
std::string actor_target_problem(const scenario& s, const std::string& target) {
  auto colon = target.find(':');
  auto kind = target.substr(0, colon);
  auto name = colon == std::string::npos ? "" : target.substr(colon + 1);
  if (kind != "session" && kind != "stage" && kind != "router" && kind != "pool"
      && kind != "connection" && kind != "broker" && kind != "subscription")
    return "unknown actor kind " + quote(kind)
      + "; use session, stage, router, pool, connection, broker or "
        "subscription, optionally with :name";
  if (colon != std::string::npos && name.empty())
    return "empty name after " + quote(kind + ":");
  if (name.empty())
    return {};
  if (kind == "broker" || kind == "subscription")
    return pubsub_actor_problem(s, kind, name);
  if (kind == "router")
    return "the router has no name; write router";
  if (kind == "stage") {
    if (!config::stage_kind_named(name))
      return "no stage kind " + quote(name);
    return {};
  }
  if (kind == "session") {
    auto prefix = std::string("client-");
    uint32_t n = 0;
    auto digits = name.substr(std::min(name.size(), prefix.size()));
    auto [end, ec]
      = std::from_chars(digits.data(), digits.data() + digits.size(), n);
    if (name.compare(0, prefix.size(), prefix) != 0 || digits.empty()
        || ec != std::errc{} || end != digits.data() + digits.size()
        || n >= s.workload.clients)
      return "no session " + quote(name)
        + "; the workload's clients are client-0" + ".. client-"
        + std::to_string(s.workload.clients - 1);
    return {};
  }
  auto hash = name.find('#');
  auto backend = name.substr(0, hash);
  if (!keyvalue_backend(s, backend))
    return "no keyvalue backend " + quote(backend) + " in gateway.backends";
  if (kind == "pool" && hash != std::string::npos)
    return "a pool is named by its backend alone, e.g. pool:" + backend;
  if (hash != std::string::npos) {
    uint32_t index = 0;
    auto digits = name.substr(hash + 1);
    auto [end, ec]
      = std::from_chars(digits.data(), digits.data() + digits.size(), index);
    auto count = s.gateway.backends.at(backend).connections;
    if (digits.empty() || ec != std::errc{}
        || end != digits.data() + digits.size() || index >= count)
      return "backend " + quote(backend) + " has connections #0..#"
        + std::to_string(count - 1);
  }
  return {};
}

/// A gateway config given inline as a parameter. Its problems carry the
/// parameter's place in the file and a field under it.
std::shared_ptr<const config::gateway_config> check_inline_config(
  checker& c, const entry& e, const std::string& field) {
  if (!e.value.IsMap()) {
    c.report(c.at(e.value), field,
             "expected a gateway config: a map with backends: and "
             "namespaces:");
    return nullptr;
  }
  YAML::Emitter yaml;
  yaml << e.value;
  auto result = config::parse(yaml.c_str(), c.at(e.key).file);
  for (auto& p : result.problems) {
    p.where = c.at(e.key);
    p.field = field + (p.field.empty() ? "" : "." + p.field);
    c.problems.push_back(std::move(p));
  }
  if (!result.ok())
    return nullptr;
  return std::make_shared<const config::gateway_config>(
    std::move(*result.config));
}

void check_params(checker& c, const fault_kind_info& info, const entry* params,
                  const std::string& field, location where, fault_spec& f) {
  std::vector<entry> items;
  if (params)
    items = c.map(params->value, field + ".params", c.at(params->key),
                  "a map of the fault's parameters");
  std::vector<std::string> names;
  for (auto& p : info.params)
    names.emplace_back(p.name);
  if (params && names.empty() && !items.empty())
    c.report(c.at(params->key), field + ".params",
             std::string(info.name) + " takes no parameters");
  else
    c.known_keys(items, field + ".params", names);
  for (auto& p : info.params) {
    std::string name{p.name};
    auto pfield = field + ".params." + name;
    param_value value;
    value.number = p.default_number.value_or(0);
    value.text = std::string(p.default_text);
    if (auto* v = find(items, name)) {
      switch (p.type) {
        case param_type::number:
          if (auto n = c.whole(*v, pfield, p.min, p.max))
            value.number = *n;
          break;
        case param_type::status_code:
          if (auto t = c.choice(*v, pfield, status_code_names()))
            value.text = *t;
          break;
        case param_type::choice:
          if (auto t = c.choice(*v, pfield, split_choices(p.choices)))
            value.text = *t;
          break;
        case param_type::gateway_config:
          value.config = check_inline_config(c, *v, pfield);
          if (value.config) {
            value.text = "namespaces:";
            for (auto& [ns, cfg] : value.config->namespaces)
              value.text += (value.text.back() == ':' ? "" : ",") + ns;
          }
          break;
      }
    } else if (p.required) {
      c.missing(params ? c.at(params->key) : where, pfield,
                std::string(p.help));
    }
    f.params[name] = value;
  }
}

void check_fault(checker& c, const YAML::Node& node, const std::string& field,
                 scenario& out) {
  auto items = c.map(node, field, c.at(node),
                     "a fault: {at_ms, kind, target, duration_ms, params}");
  if (items.empty())
    return;
  c.known_keys(items, field,
               {"at_ms", "kind", "target", "duration_ms", "params"});
  fault_spec f;
  f.where = c.at(node);
  auto* kind = find(items, "kind");
  if (!kind) {
    std::vector<std::string> kinds;
    for (auto& k : fault_kinds())
      kinds.emplace_back(k.name);
    c.missing(c.at(node), field + ".kind", "one of " + join(kinds));
    return;
  }
  std::vector<std::string> kinds;
  for (auto& k : fault_kinds())
    kinds.emplace_back(k.name);
  auto kind_name = c.choice(*kind, field + ".kind", kinds);
  if (!kind_name)
    return;
  f.kind = *fault_kind_named(*kind_name);
  auto& info = info_of(f.kind);
  bool timed = true;
  if (auto* v = find(items, "at_ms")) {
    if (auto n = c.whole(*v, field + ".at_ms", 0, out.duration_ms))
      f.at_ms = *n;
    else
      timed = false;
  } else {
    c.missing(c.at(node), field + ".at_ms",
              "the virtual ms after the start when the fault begins");
    timed = false;
  }
  auto* duration = find(items, "duration_ms");
  if (info.lasts) {
    if (!duration) {
      c.missing(c.at(node), field + ".duration_ms",
                std::string(info.name) + " lasts: say for how many virtual ms");
    } else if (auto n = c.whole(*duration, field + ".duration_ms", 1,
                                duration_ms_max)) {
      f.duration_ms = *n;
      if (timed && f.end_ms() > out.duration_ms)
        c.report(c.at(duration->value), field + ".duration_ms",
                 "the fault ends at " + std::to_string(f.end_ms())
                   + " ms, after the run's duration_ms "
                   + std::to_string(out.duration_ms),
                 "end it by duration_ms");
    }
  } else if (duration) {
    c.report(c.at(duration->key), field + ".duration_ms",
             std::string(info.name)
               + " happens at once; duration_ms does "
                 "not apply");
  }
  auto* target = find(items, "target");
  if (info.target == fault_target::workload) {
    if (target)
      c.report(c.at(target->key), field + ".target",
               std::string(info.name)
                 + " acts on the workload; it has no "
                   "target");
  } else if (!target) {
    c.missing(c.at(node), field + ".target",
              info.target == fault_target::backend
                ? "name a backend of gateway.backends (the workload's)"
                : "name an actor kind (session, stage, router, pool, "
                  "connection), optionally kind:name");
  } else if (auto t = c.text(*target, field + ".target")) {
    f.target = *t;
    if (info.target == fault_target::backend) {
      if (out.gateway.backends.empty()) {
        // The gateway has problems of its own.
      } else if (auto why = backend_target_problem(out, f.kind, f.target);
                 !why.empty()) {
        c.report(c.at(target->value), field + ".target", why);
      } else if (!serves_namespace(out, f.target)) {
        c.report(c.at(target->value), field + ".target",
                 "backend " + quote(f.target)
                   + " serves no namespace: nothing would call it",
                 "target the workload's backend");
      }
    } else if (!out.gateway.backends.empty()) {
      auto why = actor_target_problem(out, f.target);
      if (!why.empty())
        c.report(c.at(target->value), field + ".target", why);
    }
  }
  if (f.kind == fault_kind::slow_subscriber && !out.workload.ns.empty()
      && !out.workload.pubsub)
    c.report(c.at(kind->value), field + ".kind",
             "slow_subscriber needs a PubSub workload: nobody subscribes to "
             "keyvalue namespace "
               + quote(out.workload.ns),
             "name a pubsub namespace (kafka or nats backend) in "
             "workload.namespace");
  check_params(c, info, find(items, "params"), field, c.at(node), f);
  out.schedule.push_back(std::move(f));
}

/// Random backend faults strike the workload's backend: the kind must act
/// on it. Why it cannot, or "".
std::string random_kind_problem(const scenario& s, fault_kind kind) {
  if (s.workload.ns.empty() || s.gateway.namespaces.empty())
    return {};
  if (kind == fault_kind::slow_subscriber && !s.workload.pubsub)
    return "slow_subscriber needs a PubSub workload";
  if (info_of(kind).target != fault_target::backend)
    return {};
  auto ns = s.gateway.namespaces.find(s.workload.ns);
  if (ns == s.gateway.namespaces.end())
    return {};
  return backend_target_problem(s, kind, ns->second.backend);
}

void check_random(checker& c, const entry& e, scenario& out) {
  const std::string field = "faults.random";
  auto items = c.map(e.value, field, c.at(e.key),
                     "a map from fault kind to its rate per second");
  random_faults r;
  r.where = c.at(e.key);
  r.until_ms = out.duration_ms / 2;
  std::vector<std::string> known{"from_ms", "until_ms", "duration_ms"};
  for (auto& k : fault_kinds())
    known.emplace_back(k.name);
  c.known_keys(items, field, known);
  for (auto& item : items) {
    auto kind = fault_kind_named(item.name);
    if (!kind)
      continue;
    if (auto x = c.real(item, field + "." + item.name, 0, 1000))
      r.rate_per_s[*kind] = *x;
    if (auto why = random_kind_problem(out, *kind); !why.empty())
      c.report(c.at(item.key), field + "." + item.name, why);
  }
  if (auto* v = find(items, "from_ms"))
    if (auto n = c.whole(*v, field + ".from_ms", 0, out.duration_ms))
      r.from_ms = *n;
  if (auto* v = find(items, "until_ms"))
    if (auto n = c.whole(*v, field + ".until_ms", 0, out.duration_ms))
      r.until_ms = *n;
  if (auto* v = find(items, "duration_ms"))
    if (auto n = c.whole(*v, field + ".duration_ms", 1, duration_ms_max))
      r.duration_ms = *n;
  if (r.until_ms <= r.from_ms)
    c.report(c.at(e.key), field,
             "until_ms (" + std::to_string(r.until_ms)
               + ") must come after from_ms (" + std::to_string(r.from_ms)
               + ")");
  else if (r.until_ms + r.duration_ms > out.duration_ms)
    c.report(c.at(e.key), field,
             "a fault starting at until_ms " + std::to_string(r.until_ms)
               + " would last past duration_ms "
               + std::to_string(out.duration_ms),
             "lower until_ms or duration_ms");
  if (r.rate_per_s.empty() && !items.empty())
    c.report(c.at(e.key), field, "names no fault kind",
             "add kind: rate, e.g. latency: 0.5");
  out.random = std::move(r);
}

/// Each reload must be one the gateway takes while it runs (see
/// config::restart_needed), applied to the config in force at its time, and
/// must keep the workload's namespace (its calls would answer NOT_FOUND).
void check_reloads(checker& c, const scenario& out) {
  if (out.gateway.namespaces.empty())
    return; // the gateway has problems of its own
  std::vector<const fault_spec*> reloads;
  for (auto& f : out.schedule)
    if (f.kind == fault_kind::reload)
      reloads.push_back(&f);
  std::stable_sort(reloads.begin(), reloads.end(),
                   [](auto* a, auto* b) { return a->at_ms < b->at_ms; });
  std::set<std::string> pools;
  std::set<std::string> brokers;
  for (auto& [name, ns] : out.gateway.namespaces)
    (ns.pattern == config::pattern::keyvalue ? pools : brokers)
      .insert(ns.backend);
  const config::gateway_config* running = &out.gateway;
  for (auto* f : reloads) {
    auto& next = f->params.at("config").config;
    if (!next)
      continue;
    auto field = "faults.schedule (reload at " + std::to_string(f->at_ms)
      + " ms).params.config";
    for (auto& why : config::restart_needed(*running, *next, pools, brokers,
                                            out.gateway.max_request_bytes()))
      c.report(f->where, field, "the gateway would refuse it: " + why,
               "a reload changes namespaces, middleware, access rules and "
               "limits; keep the rest as the gateway started");
    auto ns = next->namespaces.find(out.workload.ns);
    auto pattern = out.workload.pubsub ? config::pattern::pubsub
                                       : config::pattern::keyvalue;
    if (!out.workload.ns.empty()
        && (ns == next->namespaces.end() || ns->second.pattern != pattern))
      c.report(f->where, field,
               "keeps no "
                 + std::string(out.workload.pubsub ? "pubsub" : "keyvalue")
                 + " namespace " + quote(out.workload.ns)
                 + ": the workload's calls would answer NOT_FOUND",
               "keep the workload's namespace");
    running = next.get();
  }
  if (out.random && out.random->rate_per_s.count(fault_kind::reload))
    c.report(out.random->where, "faults.random.reload",
             "a reload needs its config: schedule it",
             "list it under faults.schedule with params: {config: ...}");
}

void check_faults(checker& c, const entry& e, scenario& out) {
  auto items = c.map(e.value, "faults", c.at(e.key),
                     "a map with schedule: and/or random:");
  c.known_keys(items, "faults", {"schedule", "random"});
  if (auto* s = find(items, "schedule")) {
    if (!s->value.IsSequence()) {
      c.report(c.at(s->key), "faults.schedule", "expected a list of faults");
    } else {
      for (size_t i = 0; i < s->value.size(); ++i)
        check_fault(c, s->value[i],
                    "faults.schedule[" + std::to_string(i) + "]", out);
    }
  }
  if (auto* r = find(items, "random"))
    check_random(c, *r, out);
  check_reloads(c, out);
}

// --- oracles ---------------------------------------------------------------

void check_oracle(checker& c, const YAML::Node& node, const std::string& field,
                  std::set<oracle_kind>& seen, scenario& out) {
  std::vector<std::string> names;
  for (auto& o : oracles())
    names.emplace_back(o.name);
  std::string name;
  YAML::Node settings;
  YAML::Node name_node = node;
  if (node.IsScalar()) {
    name = node.Scalar();
  } else if (node.IsMap() && node.size() == 1) {
    // reset() rebinds; operator= would write into the node bound before.
    name_node.reset(node.begin()->first);
    name = name_node.Scalar();
    settings.reset(node.begin()->second);
  } else {
    c.report(c.at(node), field,
             "expected an oracle name, or name: {threshold: value}",
             "one of " + join(names));
    return;
  }
  auto kind = oracle_named(name);
  if (!kind) {
    c.report(c.at(name_node), field, "unknown oracle " + quote(name),
             "one of " + join(names));
    return;
  }
  if (!seen.insert(*kind).second) {
    c.report(c.at(name_node), field, "oracle " + quote(name) + " listed twice");
    return;
  }
  auto& info = info_of(*kind);
  oracle_spec o;
  o.kind = *kind;
  o.where = c.at(name_node);
  for (auto& t : info.thresholds)
    o.thresholds[std::string(t.name)] = t.default_value;
  if (settings.IsDefined() && !settings.IsNull()) {
    auto items = c.map(settings, field + "." + name, c.at(name_node),
                       "a map of thresholds");
    std::vector<std::string> known;
    for (auto& t : info.thresholds)
      known.emplace_back(t.name);
    if (known.empty() && !items.empty())
      c.report(c.at(name_node), field + "." + name,
               name + " has no thresholds");
    else
      c.known_keys(items, field + "." + name, known);
    for (auto& t : info.thresholds) {
      std::string tname{t.name};
      auto* v = find(items, tname);
      if (!v)
        continue;
      auto tfield = field + "." + name + "." + tname;
      if (t.whole) {
        if (auto n = c.whole(*v, tfield, static_cast<int64_t>(t.min),
                             static_cast<int64_t>(t.max)))
          o.thresholds[tname] = static_cast<double>(*n);
      } else if (auto x = c.real(*v, tfield, t.min, t.max)) {
        o.thresholds[tname] = *x;
      }
    }
  }
  out.oracles.push_back(std::move(o));
}

void check_oracles(checker& c, const entry* e, scenario& out) {
  if (!e) {
    for (auto& info : oracles()) {
      oracle_spec o;
      o.kind = info.kind;
      for (auto& t : info.thresholds)
        o.thresholds[std::string(t.name)] = t.default_value;
      out.oracles.push_back(std::move(o));
    }
    return;
  }
  if (!e->value.IsSequence()) {
    c.report(c.at(e->key), "oracles",
             "expected a list of oracles (name, or name: {thresholds})");
    return;
  }
  std::set<oracle_kind> seen;
  for (size_t i = 0; i < e->value.size(); ++i)
    check_oracle(c, e->value[i], "oracles[" + std::to_string(i) + "]", seen,
                 out);
}

/// The recovery oracle needs time after the last fault to measure.
void check_recovery_room(checker& c, const scenario& s) {
  auto* o = s.oracle(oracle_kind::recovery);
  if (!o)
    return;
  int64_t last_end = 0;
  for (auto& f : s.schedule)
    last_end = std::max(last_end, f.end_ms());
  if (s.random && !s.random->rate_per_s.empty())
    last_end = std::max(last_end, s.random->until_ms + s.random->duration_ms);
  auto within = static_cast<int64_t>(o->threshold("within_ms"));
  auto window = static_cast<int64_t>(o->threshold("window_ms"));
  if (window > within) {
    c.report(o->where, "oracles.recovery.window_ms",
             "the window (" + std::to_string(window)
               + " ms) must fit within within_ms (" + std::to_string(within)
               + " ms)");
    return;
  }
  if (last_end + within > s.duration_ms)
    c.report(o->where, "oracles.recovery.within_ms",
             "the last fault ends at " + std::to_string(last_end)
               + " ms, so recovery within " + std::to_string(within)
               + " ms needs duration_ms >= " + std::to_string(last_end + within)
               + " (it is " + std::to_string(s.duration_ms) + ")",
             "lengthen duration_ms, end the faults earlier or lower within_ms");
}

/// The linearizable and no_lost_writes oracles model a register without
/// expiry: a key that expires would look like a lost write. A workload that
/// writes with a TTL is judged only by the other oracles.
void check_ttl_oracles(checker& c, const scenario& s) {
  if (s.workload.ttl_ms == 0)
    return;
  for (auto kind : {oracle_kind::linearizable, oracle_kind::no_lost_writes})
    if (s.oracle(kind))
      c.report(s.workload.ttl_where, "workload.ttl_ms",
               "the " + std::string(info_of(kind).name)
                 + " oracle does not model TTL expiry",
               "leave ttl_ms at 0, or list only answered_once, "
               "mailbox_bounded and recovery under oracles:");
}

/// A memory namespace loses its data with the gateway process, which the
/// oracles would report as lost writes: a crash needs a durable one.
void check_crash_durability(checker& c, const scenario& s) {
  if (s.workload.ns.empty() || s.durable())
    return;
  auto refuse = [&](const config::location& where, const std::string& field) {
    c.report(where, field,
             "gateway_crash needs a durable workload namespace (sqlite or "
             "postgres backend): "
               + quote(s.workload.ns)
               + " keeps its data in the gateway's memory, which a crash "
                 "loses by design",
             "serve the workload's namespace from a sqlite or postgres "
             "backend");
  };
  for (auto& f : s.schedule)
    if (f.kind == fault_kind::gateway_crash)
      refuse(f.where,
             "faults.schedule (gateway_crash at " + std::to_string(f.at_ms)
               + " ms)");
  if (s.random && s.random->rate_per_s.count(fault_kind::gateway_crash))
    refuse(s.random->where, "faults.random.gateway_crash");
}

void check_document(checker& c, const std::string& text, const YAML::Node& root,
                    scenario& out) {
  location top{c.at(root).file, 1, 1};
  auto items = c.map(root, "", top,
                     "a scenario: a map with name:, gateway:, "
                     "duration_ms:, workload:");
  if (items.empty())
    return;
  c.known_keys(items, "",
               {"name", "description", "gateway", "duration_ms", "workload",
                "faults", "oracles"});
  if (auto* v = find(items, "name")) {
    if (auto t = c.text(*v, "name"))
      out.name = *t;
  } else {
    c.missing(top, "name", "add name: a short name for the scenario");
  }
  if (auto* v = find(items, "description"))
    if (auto t = c.text(*v, "description"))
      out.description = *t;
  if (auto* v = find(items, "duration_ms")) {
    if (auto n = c.whole(*v, "duration_ms", 1, duration_ms_max))
      out.duration_ms = *n;
  } else {
    c.missing(top, "duration_ms", "how long the run lasts, in virtual ms");
  }
  if (auto* v = find(items, "gateway"))
    check_gateway(c, text, root, *v, out);
  else
    c.missing(top, "gateway", "the gateway config: backends: and namespaces:");
  if (auto* v = find(items, "workload"))
    check_workload(c, *v, out);
  else
    c.missing(top, "workload", "what the clients call: namespace:, clients:");
  if (auto* v = find(items, "faults"))
    check_faults(c, *v, out);
  check_oracles(c, find(items, "oracles"), out);
  check_recovery_room(c, out);
  check_ttl_oracles(c, out);
  check_crash_durability(c, out);
}

} // namespace

int64_t fault_spec::number(const std::string& name) const {
  auto i = params.find(name);
  return i == params.end() ? 0 : i->second.number;
}

const std::string& fault_spec::text(const std::string& name) const {
  static const std::string none;
  auto i = params.find(name);
  return i == params.end() ? none : i->second.text;
}

double oracle_spec::threshold(const std::string& name) const {
  auto i = thresholds.find(name);
  return i == thresholds.end() ? 0 : i->second;
}

bool scenario::durable() const {
  auto ns = gateway.namespaces.find(workload.ns);
  if (ns == gateway.namespaces.end())
    return false;
  auto b = gateway.backends.find(ns->second.backend);
  return b != gateway.backends.end()
    && (b->second.type == config::backend_type::sqlite
        || b->second.type == config::backend_type::postgres);
}

const oracle_spec* scenario::oracle(oracle_kind kind) const {
  for (auto& o : oracles)
    if (o.kind == kind)
      return &o;
  return nullptr;
}

scenario_result parse_scenario(const std::string& text,
                               const std::string& file) {
  scenario_result result;
  checker c(file);
  scenario s;
  s.file = file;
  s.text = text;
  s.sha256 = model::sha256_hex(text);
  try {
    YAML::Node root;
    try {
      root = YAML::Load(text);
    } catch (const YAML::ParserException& e) {
      int line = e.mark.is_null() || e.mark.line < 0 ? 1 : e.mark.line + 1;
      int column = e.mark.is_null() || e.mark.column < 0 ? 1
                                                         : e.mark.column + 1;
      c.report({file, line, column}, "", "YAML syntax error: " + e.msg,
               "check indentation (spaces, not tabs), ':' after keys, and "
               "closing quotes and brackets");
      result.problems = std::move(c.problems);
      return result;
    }
    if (root.IsNull())
      c.report({file, 1, 1}, "", "the scenario is empty",
               "see docs/SIMULATION.md for the format");
    else
      check_document(c, text, root, s);
  } catch (const std::exception& e) {
    c.report({file, 1, 1}, "",
             std::string("cannot read the scenario: ") + e.what());
  }
  result.problems = std::move(c.problems);
  std::stable_sort(result.problems.begin(), result.problems.end(),
                   [](const problem& a, const problem& b) {
                     return std::tie(a.where.line, a.where.column)
                       < std::tie(b.where.line, b.where.column);
                   });
  if (result.problems.empty() && !s.gateway_file.empty()) {
    auto inlined = inline_gateway(text, s.gateway_line, s.gateway_file);
    if (!inlined) {
      problem p;
      p.where = {file, s.gateway_line + 1, 1};
      p.field = "gateway";
      p.message = "cannot read the gateway config file " + quote(s.gateway_file)
        + " again";
      result.problems.push_back(std::move(p));
      return result;
    }
    s.text = std::move(*inlined);
    s.sha256 = model::sha256_hex(s.text);
  }
  if (result.problems.empty())
    result.value = std::move(s);
  return result;
}

scenario_result load_scenario(const std::string& path) {
  auto unreadable = [&](const std::string& reason) {
    problem p;
    p.where.file = path;
    p.message = "cannot read scenario file " + quote(path) + ": " + reason;
    p.hint = "check the path and its permissions";
    scenario_result result;
    result.problems.push_back(std::move(p));
    return result;
  };
  struct stat info {};
  if (::stat(path.c_str(), &info) != 0)
    return unreadable(std::strerror(errno));
  if (S_ISDIR(info.st_mode))
    return unreadable(std::strerror(EISDIR));
  std::ifstream in(path, std::ios::binary);
  if (!in)
    return unreadable(std::strerror(errno));
  std::string text;
  char buffer[65536];
  while (in.read(buffer, sizeof buffer) || in.gcount() > 0) {
    text.append(buffer, static_cast<size_t>(in.gcount()));
    if (text.size() > scenario_bytes_max)
      return unreadable("it holds more than "
                        + std::to_string(scenario_bytes_max >> 20)
                        + " MiB (is it a scenario?)");
  }
  if (in.bad())
    return unreadable(std::strerror(errno));
  return parse_scenario(text, path);
}

std::string format_problems(const std::vector<config::problem>& problems) {
  std::string out;
  for (auto& p : problems)
    out += config::format(p) + '\n';
  return out;
}

} // namespace prism::simulation
