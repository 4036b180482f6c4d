#include "config/checker.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <limits>
#include <tuple>

#include "config/text.hpp"

namespace prism::config::detail {

section checker::open(const YAML::Node& node, const std::string& field,
                      location owner, const std::string& what,
                      const char* key_noun) {
  section s;
  s.field = field;
  s.where = owner;
  if (node.IsNull() || !node.IsDefined())
    return s;
  if (!node.IsMap()) {
    report(at(node), field, "expected " + what + ", got " + describe(node),
           "write it as indented \"name: value\" lines under "
             + quote(field.empty() ? "the file" : field + ":"));
    s.valid = false;
    return s;
  }
  if (node.size() > 0)
    s.where = at(node);
  for (auto it = node.begin(); it != node.end(); ++it) {
    // By value: the iterator hands out a temporary pair.
    YAML::Node key = it->first;
    YAML::Node value = it->second;
    if (!key.IsScalar()) {
      report(at(key), field,
             std::string{"a "} + key_noun + " must be a plain name, got "
               + describe(key),
             "write the name as plain text followed by ':'");
      continue;
    }
    std::string name = key.Scalar();
    if (const entry* first = s.find(name)) {
      report(at(key), s.path(name),
             "duplicate " + std::string{key_noun} + " " + quote(name),
             quote(name) + " is already set on line "
               + std::to_string(at(first->key).line) + "; remove one of them");
      continue;
    }
    s.items.push_back({key, value, name});
  }
  return s;
}

void checker::unknown_keys(const section& s,
                           const std::vector<std::string>& allowed,
                           const std::vector<misplaced>& moved) {
  for (const auto& e : s.items) {
    if (std::find(allowed.begin(), allowed.end(), e.name) != allowed.end())
      continue;
    std::string hint;
    for (const auto& m : moved)
      if (e.name == m.key)
        hint = m.hint;
    if (hint.empty()) {
      auto guess = closest(e.name, allowed);
      hint = guess.empty() ? "allowed keys here: " + join(allowed)
                           : "did you mean " + quote(guess) + "?";
    }
    report(at(e.key), s.path(e.name), "unknown key " + quote(e.name), hint);
  }
}

void checker::missing(const section& s, const std::string& key,
                      const std::string& hint) {
  if (s.valid)
    report(s.where, s.path(key), "missing required key " + quote(key), hint);
}

template <class T>
bool checker::number(const entry& e, const std::string& field, uint64_t min,
                     uint64_t max, T& out, const std::string& range_hint) {
  std::string range = std::to_string(min) + ".." + std::to_string(max);
  std::string hint = range_hint.empty() ? "use a whole number in " + range
                                        : range_hint;
  if (e.value.IsNull()) {
    report(at_value(e), field, "has no value; expected a whole number", hint);
    return false;
  }
  if (!e.value.IsScalar()) {
    report(at(e.value), field,
           "expected a whole number, got " + describe(e.value), hint);
    return false;
  }
  const std::string& text = e.value.Scalar();
  if (e.value.Tag() == "!") {
    report(at(e.value), field,
           "expected a whole number, got the quoted string " + quote(text),
           "remove the quotes");
    return false;
  }
  auto digits = [](const std::string& t) {
    return !t.empty() && std::all_of(t.begin(), t.end(), [](char c) {
      return std::isdigit(static_cast<unsigned char>(c));
    });
  };
  if (text.size() > 1 && text[0] == '-' && digits(text.substr(1))) {
    report(at(e.value), field, "must not be negative, got " + text, hint);
    return false;
  }
  if (!digits(text)) {
    report(at(e.value), field, "expected a whole number, got " + quote(text),
           "write digits only, no units or signs; " + hint);
    return false;
  }
  uint64_t value = 0;
  bool overflow = false;
  for (char c : text) {
    uint64_t d = static_cast<uint64_t>(c - '0');
    if (value > (std::numeric_limits<uint64_t>::max() - d) / 10) {
      overflow = true;
      break;
    }
    value = value * 10 + d;
  }
  if (overflow || value < min || value > max) {
    report(at(e.value), field, text + " is out of range " + range, hint);
    return false;
  }
  out = static_cast<T>(value);
  return true;
}

template bool checker::number(const entry&, const std::string&, uint64_t,
                              uint64_t, uint32_t&, const std::string&);
template bool checker::number(const entry&, const std::string&, uint64_t,
                              uint64_t, uint64_t&, const std::string&);
template bool checker::number(const entry&, const std::string&, uint64_t,
                              uint64_t, int32_t&, const std::string&);

bool checker::real(const entry& e, const std::string& field, double min,
                   double max, double& out, const std::string& range_hint) {
  std::string range = real_text(min) + ".." + real_text(max);
  std::string hint = range_hint.empty() ? "use a number in " + range
                                        : range_hint;
  if (e.value.IsNull()) {
    report(at_value(e), field, "has no value; expected a number", hint);
    return false;
  }
  if (!e.value.IsScalar()) {
    report(at(e.value), field, "expected a number, got " + describe(e.value),
           hint);
    return false;
  }
  const std::string& text = e.value.Scalar();
  if (e.value.Tag() == "!") {
    report(at(e.value), field,
           "expected a number, got the quoted string " + quote(text),
           "remove the quotes");
    return false;
  }
  std::string word = lower(text);
  if (!word.empty() && (word[0] == '-' || word[0] == '+'))
    word.erase(0, 1);
  if (word == "nan" || word == ".nan") {
    report(at(e.value), field,
           "expected a number, got " + quote(text) + " (not a number)", hint);
    return false;
  }
  if (word == "inf" || word == ".inf" || word == "infinity") {
    report(at(e.value), field, "must be a finite number, got " + quote(text),
           hint);
    return false;
  }
  if (text.size() > 1 && text[0] == '-' && plain_decimal(text.substr(1))) {
    report(at(e.value), field, "must not be negative, got " + text, hint);
    return false;
  }
  if (!plain_decimal(text)) {
    std::string how
      = "write digits with an optional '.', e.g. 2, 2.0 or 0.25: no quotes, units, signs or exponent";
    std::string head = text.substr(0, text.size() - 1);
    std::string comma = text;
    std::replace(comma.begin(), comma.end(), ',', '.');
    if (text.size() > 1 && text.back() == '%' && plain_decimal(head)) {
      double percent = 0;
      auto parsed = std::from_chars(head.data(), head.data() + head.size(),
                                    percent, std::chars_format::fixed);
      how = "write a fraction, not a percentage";
      if (parsed.ec == std::errc{})
        how += ": " + real_text(percent / 100) + " for " + text;
    } else if (exponent_form(text)) {
      how = "write it as a plain decimal, without an exponent";
    } else if (std::count(text.begin(), text.end(), ',') == 1
               && plain_decimal(comma)) {
      how = "use '.' as the decimal point: " + comma;
    }
    report(at(e.value), field, "expected a number, got " + quote(text),
           how + "; " + hint);
    return false;
  }
  double value = 0;
  const char* end = text.data() + text.size();
  auto [stop, error]
    = std::from_chars(text.data(), end, value, std::chars_format::fixed);
  if (error != std::errc{} || stop != end || !std::isfinite(value)
      || value < min || value > max) {
    report(at(e.value), field, text + " is out of range " + range, hint);
    return false;
  }
  out = value;
  return true;
}

bool checker::text(const entry& e, const std::string& field, std::string& out,
                   const std::string& hint) {
  if (e.value.IsNull()) {
    report(at_value(e), field, "must not be empty", hint);
    return false;
  }
  if (!e.value.IsScalar()) {
    report(at(e.value), field, "expected a string, got " + describe(e.value),
           hint);
    return false;
  }
  if (e.value.Scalar().empty()) {
    report(at(e.value), field, "must not be empty", hint);
    return false;
  }
  out = e.value.Scalar();
  return true;
}

bool checker::boolean(const entry& e, const std::string& field, bool& out,
                      const std::string& hint) {
  std::string text = e.value.IsScalar() ? e.value.Scalar() : std::string{};
  if (e.value.IsScalar() && e.value.Tag() != "!"
      && (text == "true" || text == "false")) {
    out = text == "true";
    return true;
  }
  report(at_value(e), field,
         "expected true or false, got "
           + (e.value.IsScalar() ? quote(text) : describe(e.value)),
         hint);
  return false;
}

int checker::choice(const entry& e, const std::string& field,
                    const std::string& noun,
                    const std::vector<std::string>& choices) {
  std::string options = "use one of: " + join(choices);
  if (e.value.IsNull()) {
    report(at_value(e), field, "has no value; expected a " + noun, options);
    return -1;
  }
  if (!e.value.IsScalar()) {
    report(at(e.value), field,
           "expected a " + noun + ", got " + describe(e.value), options);
    return -1;
  }
  const std::string& value = e.value.Scalar();
  for (size_t i = 0; i < choices.size(); ++i)
    if (choices[i] == value)
      return static_cast<int>(i);
  report(at(e.value), field, "unknown " + noun + " " + quote(value),
         did_you_mean(value, choices) + options);
  return -1;
}

bool checker::address(const entry& e, const std::string& field,
                      std::string& out, std::string& host, uint16_t& port) {
  const char* hint
    = "write host:port, e.g. 127.0.0.1:8980, [::1]:8980 or 0.0.0.0:8980 (port 0 picks a free port)";
  if (!text(e, field, out, hint))
    return false;
  auto why = host_port_error(out, host, port);
  if (!why.empty()) {
    report(at(e.value), field, "address " + quote(out) + " " + why, hint);
    return false;
  }
  return true;
}

bool after(const location& a, const location& b) {
  return std::tie(a.line, a.column) > std::tie(b.line, b.column);
}

std::vector<std::string> name_list(checker& c, const entry& e,
                                   const std::string& field, const char* what) {
  std::vector<std::string> out;
  if (!e.value.IsSequence()) {
    c.report(c.at_value(e), field,
             std::string{"expected a list of "} + what + ", got "
               + describe(e.value),
             "write a list, e.g. [alice, ops]");
    return out;
  }
  for (size_t i = 0; i < e.value.size(); ++i) {
    YAML::Node item = e.value[i];
    if (!item.IsScalar() || item.Scalar().empty()
        || !valid_name(item.Scalar(), 128))
      c.report(c.at(item.IsNull() ? e.value : item),
               field + "[" + std::to_string(i) + "]",
               std::string{"expected a name of "} + what + ", got "
                 + describe(item),
               std::string{"a name "} + name_rule);
    else
      out.push_back(item.Scalar());
  }
  return out;
}

} // namespace prism::config::detail
