#pragma once

// Reading a YAML document the way the config loader does: every problem is
// collected with its file, line, column, dotted field and a hint, instead of
// stopping at the first. The scenario parser is built on it.

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <yaml-cpp/yaml.h>

#include "config/config.hpp"

namespace prism::simulation::yaml {

using config::location;
using config::problem;

inline std::string quote(const std::string& text) {
  return "\"" + text + "\"";
}

inline std::string join(const std::vector<std::string>& words) {
  std::string out;
  for (auto& w : words)
    out += (out.empty() ? "" : ", ") + w;
  return out;
}

struct entry {
  std::string name;
  YAML::Node key;
  YAML::Node value;
};

class checker {
public:
  explicit checker(std::string file) : file_(std::move(file)) {}

  location at(const YAML::Node& node) const {
    auto mark = node.Mark();
    if (mark.is_null() || mark.line < 0)
      return {file_, 0, 0};
    return {file_, mark.line + 1, mark.column + 1};
  }

  void report(location where, std::string field, std::string message,
              std::string hint = {}) {
    problem p;
    p.where = std::move(where);
    p.field = std::move(field);
    p.message = std::move(message);
    p.hint = std::move(hint);
    problems.push_back(std::move(p));
  }

  /// The entries of a map; reports (and gives nothing) when `node` is not
  /// one. Duplicate keys are reported, the first kept.
  std::vector<entry> map(const YAML::Node& node, const std::string& field,
                         location where, const std::string& what) {
    std::vector<entry> out;
    if (!node.IsMap()) {
      report(node.IsDefined() && !node.IsNull() ? at(node) : where, field,
             "expected " + what);
      return out;
    }
    std::set<std::string> seen;
    for (auto it = node.begin(); it != node.end(); ++it) {
      auto name = it->first.IsScalar() ? it->first.Scalar() : std::string{};
      if (!seen.insert(name).second) {
        report(at(it->first), path(field, name), "duplicate key " + quote(name),
               "keep one");
        continue;
      }
      out.push_back({name, it->first, it->second});
    }
    return out;
  }

  /// Reports the keys of `entries` not in `known`.
  void known_keys(const std::vector<entry>& entries, const std::string& field,
                  const std::vector<std::string>& known) {
    for (auto& e : entries)
      if (std::find(known.begin(), known.end(), e.name) == known.end())
        report(at(e.key), path(field, e.name), "unknown key " + quote(e.name),
               "the keys here are " + join(known));
  }

  void missing(location where, const std::string& field,
               const std::string& hint) {
    report(std::move(where), field, "missing", hint);
  }

  std::optional<int64_t> whole(const entry& e, const std::string& field,
                               int64_t min, int64_t max) {
    std::string text = e.value.IsScalar() ? e.value.Scalar() : "";
    int64_t n = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
    auto range = std::to_string(min) + ".." + std::to_string(max);
    if (text.empty() || ec != std::errc{} || end != text.data() + text.size()) {
      report(at(e.value), field, "expected a whole number " + range);
      return std::nullopt;
    }
    if (n < min || n > max) {
      report(at(e.value), field, "must be " + range);
      return std::nullopt;
    }
    return n;
  }

  std::optional<double> real(const entry& e, const std::string& field,
                             double min, double max) {
    std::string text = e.value.IsScalar() ? e.value.Scalar() : "";
    errno = 0;
    char* end = nullptr;
    double x = std::strtod(text.c_str(), &end);
    std::ostringstream range;
    range << min << ".." << max;
    if (text.empty() || errno != 0 || end != text.c_str() + text.size()
        || !std::isfinite(x)) {
      report(at(e.value), field, "expected a number " + range.str());
      return std::nullopt;
    }
    if (x < min || x > max) {
      report(at(e.value), field, "must be " + range.str());
      return std::nullopt;
    }
    return x;
  }

  std::optional<std::string> text(const entry& e, const std::string& field) {
    if (!e.value.IsScalar() || e.value.Scalar().empty()) {
      report(at(e.value), field, "expected a non-empty text");
      return std::nullopt;
    }
    return e.value.Scalar();
  }

  std::optional<std::string> choice(const entry& e, const std::string& field,
                                    const std::vector<std::string>& choices) {
    auto value = text(e, field);
    if (!value)
      return std::nullopt;
    if (std::find(choices.begin(), choices.end(), *value) == choices.end()) {
      report(at(e.value), field,
             quote(*value) + " is not one of " + join(choices));
      return std::nullopt;
    }
    return value;
  }

  static std::string path(const std::string& field, const std::string& key) {
    return field.empty() ? key : field + "." + key;
  }

  std::vector<problem> problems;

private:
  std::string file_;
};

inline const entry* find(const std::vector<entry>& entries,
                         const std::string& name) {
  for (auto& e : entries)
    if (e.name == name)
      return &e;
  return nullptr;
}

} // namespace prism::simulation::yaml
