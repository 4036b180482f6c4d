// One entry of the namespaces: map: its pattern and backend, its limits,
// access rules, rate limits and middleware; and the check that access rules
// name principals and groups auth: defines.

#include <algorithm>
#include <cmath>

#include "config/checker.hpp"
#include "config/sections.hpp"
#include "config/stage_kinds.hpp"
#include "config/text.hpp"

namespace prism::config::detail {

namespace {

const std::vector<std::string> access_keys = {"read", "write", "admin"};
const std::vector<std::string> namespace_keys = {"pattern",
                                                 "backend",
                                                 "max_value_bytes",
                                                 "middleware",
                                                 "subscription_buffer",
                                                 "slow_subscriber",
                                                 "access",
                                                 "rate_limit",
                                                 "redact_keys",
                                                 "audit_required"};
const std::vector<std::string> rate_limit_keys
  = {"rate", "burst", "per_principal"};
const std::vector<std::string> bucket_keys = {"rate", "burst"};
const std::vector<std::string> slow_subscriber_policies
  = {"drop_oldest", "disconnect"};
const std::vector<std::string> patterns = {"keyvalue", "pubsub"};

bool serves_pubsub(backend_type t) {
  return t == backend_type::memory || t == backend_type::kafka
    || t == backend_type::nats;
}
bool serves_keyvalue(backend_type t) {
  return t != backend_type::kafka && t != backend_type::nats;
}

/// Reads pattern: (entry `v`). Leaves `out` alone and returns false on a
/// problem.
bool check_pattern(checker& c, const section& s, const entry& v, pattern& out) {
  int index = c.choice(v, s.path("pattern"), "pattern", patterns);
  bool pattern_ok = index >= 0;
  if (pattern_ok)
    out = static_cast<pattern>(index);
  return pattern_ok;
}

/// Reads backend: (entry `v`) of namespace `e`, whose map is `s`, and
/// reports a backend that is not defined, that cannot serve the namespace's
/// pattern, or whose topic names cannot hold the namespace's name.
/// `pattern_entry` is pattern: when it is set; `pattern_ok` is false when
/// it could not be read.
void check_namespace_backend(
  checker& c, const entry& e, const section& s, const entry& v,
  const entry* pattern_entry, bool pattern_ok,
  const std::map<std::string, backend_info>& backends, bool backends_readable,
  namespace_config& ns) {
  std::vector<std::string> names;
  for (const auto& [name, info] : backends)
    names.push_back(name);
  if (c.text(v, s.path("backend"), ns.backend, "name one of the backends")) {
    auto found = backends.find(ns.backend);
    if (found == backends.end()) {
      if (backends_readable)
        c.report(c.at(v.value), s.path("backend"),
                 "unknown backend " + quote(ns.backend),
                 names.empty()
                   ? "define it under backends:"
                   : "define it under backends: or use one of: " + join(names));
    } else if (pattern_ok && ns.pattern == pattern::pubsub
               && found->second.known_type
               && !serves_pubsub(found->second.type)) {
      c.report(
        c.at(pattern_entry->value), s.path("pattern"),
        "pattern pubsub needs a memory, kafka or nats backend, but backend "
          + quote(ns.backend) + " is "
          + std::string{to_string(found->second.type)}
          + ", which cannot serve pubsub",
        "point backend: at a memory, kafka or nats backend, or use pattern: keyvalue");
    } else if (found->second.known_type
               && (found->second.type == backend_type::kafka
                   || found->second.type == backend_type::nats)
               && e.name.find('.') != std::string::npos) {
      std::string dashed = e.name;
      std::replace(dashed.begin(), dashed.end(), '.', '-');
      c.report(
        c.at(e.key), s.field,
        "namespace name " + quote(e.name) + " has a '.', which a "
          + std::string{to_string(found->second.type)}
          + " backend cannot keep apart from its topic names (namespace \"a\" with topic \"b.c\" "
            "and namespace \"a.b\" with topic \"c\" would share one)",
        "rename it without '.', e.g. " + quote(dashed));
    } else if (pattern_ok && ns.pattern == pattern::keyvalue
               && found->second.known_type
               && !serves_keyvalue(found->second.type)) {
      c.report(
        pattern_entry ? c.at(pattern_entry->value) : c.at(v.value),
        s.path(pattern_entry ? "pattern" : "backend"),
        "backend " + quote(ns.backend) + " is "
          + std::string{to_string(found->second.type)}
          + ", which serves only pubsub namespaces, and this namespace is "
          + (pattern_entry ? "keyvalue" : "keyvalue (the default pattern)"),
        "add pattern: pubsub, or point backend: at a memory, sqlite or postgres backend");
    }
  }
}

/// Reads access: (entry `v`), the read, write and admin lists.
void check_access(checker& c, const section& s, const entry& v,
                  access_rules& out) {
  section as = c.open(v.value, s.path("access"), c.at(v.key),
                      "a map of read, write and admin lists");
  c.unknown_keys(as, access_keys);
  if (const entry* r = as.find("read"))
    out.read = name_list(c, *r, as.path("read"), "principals or groups");
  if (const entry* w = as.find("write"))
    out.write = name_list(c, *w, as.path("write"), "principals or groups");
  if (const entry* a = as.find("admin"))
    out.admin = name_list(c, *a, as.path("admin"), "principals or groups");
}

/// Reads the rate and burst of one token bucket from `b`.
void check_bucket(checker& c, const section& b, rate_limit& out) {
  const entry* rate = b.find("rate");
  if (rate == nullptr) {
    c.missing(b, "rate", "add rate: requests per second, e.g. rate: 100");
    return;
  }
  if (!c.real(*rate, b.path("rate"), 0.001, 1000000, out.rate,
              "use 0.001..1000000 requests per second"))
    return;
  // Default burst: one second's worth, at least 1.
  out.burst = static_cast<uint32_t>(std::max(1.0, std::ceil(out.rate)));
  if (const entry* burst = b.find("burst"))
    c.number(*burst, b.path("burst"), 1, 10000000, out.burst,
             "use 1..10000000 requests that may come at once");
}

/// Reads rate_limit: (entry `v`): the namespace's bucket and each
/// principal's.
void check_rate_limit(checker& c, const section& s, const entry& v,
                      namespace_config& ns) {
  section rs = c.open(v.value, s.path("rate_limit"), c.at(v.key),
                      "a map of rate, burst and per_principal");
  c.unknown_keys(rs, rate_limit_keys);
  if (rs.valid && (rs.find("rate") || rs.find("burst")))
    check_bucket(c, rs, ns.namespace_rate);
  if (const entry* p = rs.find("per_principal")) {
    section ps = c.open(p->value, rs.path("per_principal"), c.at(p->key),
                        "a map of rate and burst");
    c.unknown_keys(ps, bucket_keys);
    check_bucket(c, ps, ns.principal_rate);
  }
}

/// Reads middleware: (entry `v`), a list of known stages, each listed once.
/// Leaves `out` alone on a problem.
void check_middleware(checker& c, const section& s, const entry& v,
                      std::vector<std::string>& out) {
  std::string mfield = s.path("middleware");
  std::string stages = "known stages: " + join(known_stages());
  if (v.value.IsNull()) {
    c.report(
      c.at_value(v), mfield, "has no value; expected a list of stages",
      "write middleware: [] to run no stages, or leave the key out for [metrics, audit]");
  } else if (!v.value.IsSequence()) {
    c.report(c.at(v.value), mfield,
             "expected a list of stages, got " + describe(v.value),
             "write a list, e.g. middleware: [metrics, audit]");
  } else {
    std::vector<std::string> list;
    bool ok = true;
    for (size_t i = 0; i < v.value.size(); ++i) {
      const YAML::Node item = v.value[i];
      std::string ifield = mfield + "[" + std::to_string(i) + "]";
      if (!item.IsScalar()) {
        c.report(c.at(item.IsNull() ? v.value : item), ifield,
                 "expected a stage name, got " + describe(item), stages);
        ok = false;
        continue;
      }
      const std::string& stage = item.Scalar();
      const auto& known = known_stages();
      if (std::find(known.begin(), known.end(), stage) == known.end()) {
        c.report(c.at(item), ifield, "unknown middleware stage " + quote(stage),
                 did_you_mean(stage, known) + stages);
        ok = false;
      } else if (std::find(list.begin(), list.end(), stage) != list.end()) {
        c.report(c.at(item), ifield,
                 "middleware stage " + quote(stage) + " is listed twice",
                 "a stage runs once per request; remove the second "
                   + quote(stage));
        ok = false;
      } else {
        list.push_back(stage);
      }
    }
    if (ok)
      out = std::move(list);
  }
}

/// Reads audit_required: (entry `v`), which needs the audit stage in the
/// namespace's middleware.
void check_audit_required(checker& c, const section& s, const entry& v,
                          namespace_config& ns) {
  if (
    c.boolean(
      v, s.path("audit_required"), ns.audit_required,
      "write audit_required: true to refuse requests the audit log has no room for")
    && ns.audit_required
    && std::find(ns.middleware.begin(), ns.middleware.end(),
                 to_string(stage_kind::audit))
      == ns.middleware.end())
    c.report(
      c.at_value(v), s.path("audit_required"),
      "needs the audit stage, which this namespace's middleware does not list",
      "add audit to middleware:, or remove audit_required");
}

} // namespace

namespace_config check_namespace(
  checker& c, const entry& e,
  const std::map<std::string, backend_info>& backends, bool backends_readable) {
  namespace_config ns;
  ns.name = e.name;
  ns.where = c.at(e.key);
  std::string field = "namespaces." + e.name;
  if (!valid_name(e.name, defaults::namespace_name_bytes_max))
    c.report(c.at(e.key), field, "invalid namespace name " + quote(e.name),
             std::string{"a namespace name "} + name_rule + ", at most "
               + std::to_string(defaults::namespace_name_bytes_max)
               + " characters");

  section s
    = c.open(e.value, field, c.at(e.key), "a map of namespace settings");
  c.unknown_keys(
    s, namespace_keys,
    {{"type",
      "a namespace has no type: set backend: to a backend, whose type applies"}});

  const entry* pattern_entry = s.find("pattern");
  bool pattern_ok = pattern_entry == nullptr
    || check_pattern(c, s, *pattern_entry, ns.pattern);

  if (const entry* v = s.find("backend"))
    check_namespace_backend(c, e, s, *v, pattern_entry, pattern_ok, backends,
                            backends_readable, ns);
  else
    c.missing(
      s, "backend",
      "add backend: with the name of a backend defined under backends:");

  if (const entry* v = s.find("max_value_bytes"))
    c.number(*v, s.path(v->name), 1, defaults::value_bytes_max_ceiling,
             ns.max_value_bytes,
             "use 1.." + std::to_string(defaults::value_bytes_max_ceiling)
               + " bytes (at most 64 MiB)");

  if (const entry* v = s.find("subscription_buffer")) {
    if (pattern_ok && ns.pattern != pattern::pubsub)
      c.report(c.at(v->key), s.path(v->name),
               "subscription_buffer applies only to pubsub namespaces",
               "remove it, or set pattern: pubsub");
    else
      c.number(*v, s.path(v->name), 1, 65536, ns.subscription_buffer,
               "use 1..65536 messages per subscriber stream");
  }

  if (const entry* v = s.find("access"))
    check_access(c, s, *v, ns.access);

  if (const entry* v = s.find("redact_keys"))
    c.boolean(
      *v, s.path("redact_keys"), ns.redact_keys,
      "write redact_keys: true to keep keys out of the audit log (their SHA-256 is written instead)");

  if (const entry* v = s.find("rate_limit"))
    check_rate_limit(c, s, *v, ns);

  if (const entry* v = s.find("slow_subscriber")) {
    if (pattern_ok && ns.pattern != pattern::pubsub) {
      c.report(c.at(v->key), s.path(v->name),
               "slow_subscriber applies only to pubsub namespaces",
               "remove it, or set pattern: pubsub");
    } else {
      int index = c.choice(*v, s.path(v->name), "slow subscriber policy",
                           slow_subscriber_policies);
      if (index >= 0)
        ns.disconnect_slow_subscribers = index == 1;
    }
  }

  if (const entry* v = s.find("middleware"))
    check_middleware(c, s, *v, ns.middleware);

  // After middleware:, which decides whether there is an audit stage.
  if (const entry* v = s.find("audit_required"))
    check_audit_required(c, s, *v, ns);
  return ns;
}

void check_access_names(checker& c, const section& namespaces,
                        const gateway_config& cfg) {
  const auto& auth = cfg.auth;
  auto known = [&](const std::string& name) {
    return auth.mode == auth_mode::mtls || auth.token_hashes.count(name)
      || auth.groups.count(name);
  };
  for (const auto& e : namespaces.items) {
    auto found = cfg.namespaces.find(e.name);
    if (found == cfg.namespaces.end() || !e.value.IsMap() || !e.value["access"])
      continue;
    const auto& access = found->second.access;
    std::string field = "namespaces." + e.name + ".access";
    if (!auth.enabled()) {
      c.report(c.at(e.value["access"]), field,
               "access rules apply only with auth.mode token or mtls",
               "set auth: {mode: token, tokens: ...}, or remove access:");
      continue;
    }
    for (auto [list, kind] :
         {std::pair{&access.read, "read"}, std::pair{&access.write, "write"},
          std::pair{&access.admin, "admin"}})
      for (const auto& name : *list)
        if (!known(name))
          c.report(
            c.at(e.value["access"]), field + "." + kind,
            "unknown principal or group " + quote(name),
            "define it under auth.tokens:, auth.token_file or auth.groups:");
  }
}

} // namespace prism::config::detail
