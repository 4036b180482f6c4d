#pragma once

// The checker that reads the maps of a config file and collects every
// problem it finds, with the parts of the file it reads: an entry (one key
// and its value) and a section (one map, its keys read once). Each section
// of the config has its own file of checks; they share what is here.

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include <yaml-cpp/yaml.h>

#include "config/config.hpp"

namespace prism::config::detail {

/// One key of a map with its value.
struct entry {
  YAML::Node key;
  YAML::Node value;
  std::string name;
};

/// A map in the file, its keys read once with duplicates reported.
struct section {
  /// Dotted path of the map, "" for the document.
  std::string field;
  /// Where to point for a missing key: the map, or its key when the map is empty.
  location where;
  /// First occurrence of every key, in file order.
  std::vector<entry> items;
  /// False when the node was not a map (already reported): do not report its
  /// missing keys on top.
  bool valid = true;

  const entry* find(const std::string& key) const {
    for (const auto& e : items)
      if (e.name == key)
        return &e;
    return nullptr;
  }

  std::string path(const std::string& key) const {
    return field.empty() ? key : field + "." + key;
  }
};

/// A key that belongs somewhere else, with the hint to give.
struct misplaced {
  std::string key;
  std::string hint;
};

class checker {
public:
  explicit checker(std::string file) : file_(std::move(file)) {}

  std::vector<problem> problems;

  location at(const YAML::Node& node) const {
    auto mark = node.Mark();
    if (mark.is_null() || mark.line < 0)
      return {file_, 1, 1};
    return {file_, mark.line + 1, mark.column + 1};
  }

  /// The value of an entry, or its key when the value is empty: yaml-cpp
  /// marks an empty value at the next token, which may be lines away.
  location at_value(const entry& e) const {
    return e.value.IsNull() ? at(e.key) : at(e.value);
  }

  void report(location where, std::string field, std::string message,
              std::string hint) {
    problems.push_back({std::move(where), std::move(field), std::move(message),
                        std::move(hint)});
  }

  /// Reads a map, reporting a wrong type, keys that are not names and
  /// duplicate keys. A missing (null) map is an empty, valid section.
  section open(const YAML::Node& node, const std::string& field, location owner,
               const std::string& what, const char* key_noun = "key");

  /// Reports every key of `s` not in `allowed`.
  void unknown_keys(const section& s, const std::vector<std::string>& allowed,
                    const std::vector<misplaced>& moved = {});

  /// Reports `key` missing from `s`, unless `s` was not a map.
  void missing(const section& s, const std::string& key,
               const std::string& hint);

  /// A whole number in [min, max]. Leaves `out` alone on a problem. Defined
  /// for uint32_t, uint64_t and int32_t.
  template <class T>
  bool number(const entry& e, const std::string& field, uint64_t min,
              uint64_t max, T& out, const std::string& range_hint = {});

  /// A real number in [min, max], written as a whole number or a decimal:
  /// 2, 2.0, 0.25. Leaves `out` alone on a problem.
  bool real(const entry& e, const std::string& field, double min, double max,
            double& out, const std::string& range_hint = {});

  /// A non-empty scalar string.
  bool text(const entry& e, const std::string& field, std::string& out,
            const std::string& hint);

  /// `true` or `false` (unquoted). Leaves `out` alone on a problem.
  bool boolean(const entry& e, const std::string& field, bool& out,
               const std::string& hint);

  /// One of `choices`; returns its index or -1 after reporting.
  int choice(const entry& e, const std::string& field, const std::string& noun,
             const std::vector<std::string>& choices);

  /// A listen address; returns false after reporting.
  bool address(const entry& e, const std::string& field, std::string& out,
               std::string& host, uint16_t& port);

private:
  std::string file_;
};

/// How a valid name is written, for hints.
inline constexpr const char* name_rule
  = "starts with a letter or digit, then letters, digits, '_', '.' or '-'";

/// True when `a` comes after `b` in the file.
bool after(const location& a, const location& b);

/// A list of names: principals or groups.
std::vector<std::string> name_list(checker& c, const entry& e,
                                   const std::string& field, const char* what);

} // namespace prism::config::detail
