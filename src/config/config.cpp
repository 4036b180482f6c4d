// Loading a config: parse and load_file read the YAML, check_document hands
// each top-level section to its checks (sections.hpp), and every problem
// found is returned sorted by its place in the file. Also the config's
// summary line and the YAML spelling of its choices.

#include "config/config.hpp"
#include "config/stage_kinds.hpp"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <sstream>
#include <tuple>
#include <utility>

#include <sys/stat.h>

#include <yaml-cpp/yaml.h>

#include "config/checker.hpp"
#include "config/sections.hpp"
#include "config/text.hpp"
#include "config/yaml_documents.hpp"

namespace prism::config {

using namespace detail;

namespace {

const std::vector<std::string> root_keys
  = {"server", "audit", "auth", "backends", "namespaces"};

/// Values a section's source text may hold once its aliases are expanded.
/// Each `*name` repeats what its anchor holds, so aliases of aliases grow
/// exponentially with the length of the file; no real section comes near.
constexpr size_t source_values_max = 100000;

/// How deep a section's values may nest once its aliases are expanded. An
/// alias inside its own anchor (`a: &a [*a]`) nests without end.
constexpr size_t source_depth_max = 64;

/// Sets block style on `node` and everything in it; false once it has
/// visited `budget` values (an alias is visited as often as it is used) or
/// gone deeper than source_depth_max.
bool set_block_style(YAML::Node node, size_t& budget, size_t depth = 0) {
  if (budget == 0 || depth > source_depth_max)
    return false;
  --budget;
  node.SetStyle(YAML::EmitterStyle::Block);
  if (node.IsMap()) {
    for (auto it = node.begin(); it != node.end(); ++it)
      if (!set_block_style(it->second, budget, depth + 1))
        return false;
  } else if (node.IsSequence()) {
    for (auto it = node.begin(); it != node.end(); ++it)
      if (!set_block_style(*it, budget, depth + 1))
        return false;
  }
  return true;
}

/// A section's settings as text, for a reload to tell whether they changed:
/// the same whether the file wrote them in flow style ({a: 1}) or block.
/// Reports a section that expands past source_values_max values or
/// source_depth_max levels.
std::string source_text(checker& c, const entry& e, const std::string& field) {
  auto copy = YAML::Clone(e.value);
  size_t budget = source_values_max;
  if (!set_block_style(copy, budget)) {
    c.report(c.at_value(e), field,
             "holds more than " + std::to_string(source_values_max)
               + " values, or values nested more than "
               + std::to_string(source_depth_max)
               + " levels deep, once its aliases are expanded",
             "write the settings out instead of nesting aliases (*name) of "
             "aliases, or an alias inside its own anchor");
    return {};
  }
  return YAML::Dump(copy);
}

void check_document(checker& c, const YAML::Node& root, gateway_config& cfg) {
  location top = c.at(root);
  if (!root.IsMap()) {
    c.report(top, "",
             "the config must be a map of sections, got " + describe(root),
             "start with top-level keys: " + join(root_keys));
    return;
  }
  section s = c.open(root, "", top, "a map of sections");
  c.unknown_keys(
    s, root_keys,
    {{"listen", "it belongs under server:"},
     {"admin", "it belongs under server:"},
     {"scheduler", "it belongs under server:"},
     {"supervision",
      "it belongs under backends.<name>: (each backend has its own)"},
     {"circuit",
      "it belongs under backends.<name>: (each backend has its own)"}});

  if (const entry* e = s.find("server")) {
    check_server(c, *e, cfg.server);
    cfg.server_source = source_text(c, *e, "server");
  }
  if (const entry* e = s.find("audit")) {
    check_audit(c, *e, cfg.audit);
    cfg.audit_source = source_text(c, *e, "audit");
  }
  if (const entry* e = s.find("auth"))
    check_auth(c, *e, cfg.auth);
  check_client_certificates(c, s, cfg);

  std::map<std::string, backend_info> infos;
  // False when backends: is missing or not a map: then a namespace's backend
  // cannot be checked, and saying it is unknown would only add noise.
  bool backends_readable = false;
  const entry* backends_entry = s.find("backends");
  if (!backends_entry) {
    c.missing(s, "backends",
              "add a backends: map, e.g. backends: {mem: {type: memory}}");
  } else {
    section bs = c.open(backends_entry->value, "backends",
                        c.at(backends_entry->key),
                        "a map from backend name to its settings", "backend");
    backends_readable = bs.valid;
    if (bs.valid && bs.items.empty())
      c.report(c.at_value(*backends_entry), "backends", "no backends defined",
               "define at least one, e.g. mem: {type: memory}");
    for (const auto& e : bs.items) {
      bool known_type = false;
      backend b = check_backend(c, e, known_type);
      b.source = source_text(c, e, "backends." + e.name);
      infos[e.name] = {known_type, b.type};
      cfg.backends[e.name] = std::move(b);
    }
    check_audit_file(c, cfg);
  }

  const entry* namespaces_entry = s.find("namespaces");
  if (!namespaces_entry) {
    c.missing(
      s, "namespaces",
      "add a namespaces: map, e.g. namespaces: {default: {backend: mem}}");
  } else {
    section ns = c.open(
      namespaces_entry->value, "namespaces", c.at(namespaces_entry->key),
      "a map from namespace name to its settings", "namespace");
    if (ns.valid && ns.items.empty())
      c.report(c.at_value(*namespaces_entry), "namespaces",
               "no namespaces defined",
               "define at least one, e.g. default: {backend: mem}");
    for (const auto& e : ns.items)
      cfg.namespaces[e.name] = check_namespace(c, e, infos, backends_readable);
    check_access_names(c, ns, cfg);
  }
}

} // namespace

uint64_t gateway_config::max_request_bytes() const {
  uint64_t largest = 0;
  for (const auto& [name, ns] : namespaces)
    largest = std::max(largest, ns.max_value_bytes);
  return largest + defaults::message_overhead_bytes;
}

const std::vector<std::string>& known_stages() {
  static const std::vector<std::string> stages = [] {
    std::vector<std::string> names;
    for (const auto& row : stage_kinds)
      if (row.listed_in_middleware)
        names.emplace_back(row.name);
    return names;
  }();
  return stages;
}

load_result parse(const std::string& yaml_text, const std::string& file) {
  load_result result;
  checker c(file);
  try {
    YAML::Node root;
    std::optional<YAML::Mark> second;
    try {
      root = YAML::Load(yaml_text);
      second = second_document(yaml_text);
    } catch (const YAML::ParserException& e) {
      int line = e.mark.is_null() || e.mark.line < 0 ? 1 : e.mark.line + 1;
      int column = e.mark.is_null() || e.mark.column < 0 ? 1
                                                         : e.mark.column + 1;
      c.report(
        {file, line, column}, "", "YAML syntax error: " + e.msg,
        "check indentation (spaces, not tabs), ':' after keys, and closing quotes and brackets");
      result.problems = std::move(c.problems);
      return result;
    }
    if (second)
      c.report(
        {file, second->line + 1, second->column + 1}, "",
        "the file holds more than one YAML document",
        "keep one document: remove the '---' separator and what follows it");
    if (root.IsNull()) {
      c.report({file, 1, 1}, "", "the config is empty",
               "define at least backends: and namespaces:, see docs/CONFIG.md");
    } else {
      gateway_config cfg;
      check_document(c, root, cfg);
      if (c.problems.empty())
        result.config = std::move(cfg);
    }
  } catch (const std::exception& e) {
    c.report({file, 1, 1}, "",
             std::string{"cannot read the config: "} + e.what(), "");
  }
  result.problems = std::move(c.problems);
  std::stable_sort(result.problems.begin(), result.problems.end(),
                   [](const problem& a, const problem& b) {
                     return std::tie(a.where.line, a.where.column)
                       < std::tie(b.where.line, b.where.column);
                   });
  if (!result.problems.empty())
    result.config.reset();
  return result;
}

/// Larger is not a config (a device, a log, a database given by mistake).
constexpr size_t config_bytes_max = 64u << 20;

load_result load_file(const std::string& path) {
  auto unreadable = [&](const std::string& reason) {
    problem p;
    p.where.file = path;
    p.message = "cannot read config file " + quote(path) + ": " + reason;
    p.hint = "check the path and its permissions";
    load_result result;
    result.problems.push_back(std::move(p));
    return result;
  };
  struct stat info {};
  if (::stat(path.c_str(), &info) != 0)
    return unreadable(std::strerror(errno));
  if (S_ISDIR(info.st_mode))
    return unreadable(std::strerror(EISDIR));
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr)
    return unreadable(std::strerror(errno));
  std::string text;
  char buffer[65536];
  size_t n = 0;
  while ((n = std::fread(buffer, 1, sizeof buffer, f)) > 0) {
    text.append(buffer, n);
    if (text.size() > config_bytes_max) {
      std::fclose(f);
      return unreadable("it holds more than "
                        + std::to_string(config_bytes_max >> 20)
                        + " MiB (is it a config file?)");
    }
  }
  bool failed = std::ferror(f) != 0;
  int error = errno;
  std::fclose(f);
  if (failed)
    return unreadable(std::strerror(error));
  return parse(text, path);
}

std::string format(const problem& p) {
  std::string out = p.where.file;
  if (p.where.line > 0)
    out += ":" + std::to_string(p.where.line) + ":"
      + std::to_string(p.where.column);
  out += ": ";
  if (!p.field.empty())
    out += p.field + ": ";
  out += p.message;
  if (!p.hint.empty())
    out += " (hint: " + p.hint + ")";
  return out;
}

std::string summary(const gateway_config& cfg) {
  std::ostringstream out;
  out << "config OK: " << cfg.namespaces.size()
      << (cfg.namespaces.size() == 1 ? " namespace (" : " namespaces (");
  bool first = true;
  for (const auto& [name, ns] : cfg.namespaces) {
    if (!first)
      out << ", ";
    first = false;
    out << name << "->" << ns.backend;
    auto b = cfg.backends.find(ns.backend);
    if (b != cfg.backends.end())
      out << " " << to_string(b->second.type);
    if (ns.pattern == pattern::pubsub)
      out << " pubsub";
  }
  out << "), " << cfg.backends.size()
      << (cfg.backends.size() == 1 ? " backend" : " backends") << ", listen "
      << cfg.server.listen << ", admin " << cfg.server.admin;
  return out.str();
}

bool split_host_port(const std::string& text, std::string& host,
                     uint16_t& port) {
  std::string h;
  uint16_t p = 0;
  if (!host_port_error(text, h, p).empty())
    return false;
  host = std::move(h);
  port = p;
  return true;
}

std::string_view to_string(backend_type type) noexcept {
  switch (type) {
    case backend_type::sqlite: return "sqlite";
    case backend_type::postgres: return "postgres";
    case backend_type::kafka: return "kafka";
    case backend_type::nats: return "nats";
    default: return "memory";
  }
}

std::string_view to_string(config::pattern p) noexcept {
  return p == pattern::pubsub ? "pubsub" : "keyvalue";
}

std::string_view to_string(sqlite_synchronous mode) noexcept {
  return mode == sqlite_synchronous::normal ? "normal" : "full";
}

std::string_view to_string(supervision_strategy s) noexcept {
  switch (s) {
    case supervision_strategy::one_for_all: return "one_for_all";
    case supervision_strategy::rest_for_one: return "rest_for_one";
    default: return "one_for_one";
  }
}

} // namespace prism::config
