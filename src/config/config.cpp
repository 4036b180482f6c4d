#include "config/config.hpp"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <set>
#include <sstream>
#include <tuple>
#include <utility>

#include <arpa/inet.h>
#include <sys/stat.h>

#include <libpq-fe.h>
#include <librdkafka/rdkafka.h>

#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/yaml.h>

#include "config/tls_files.hpp"

namespace prism::config {

namespace {

// --- small text helpers -----------------------------------------------------

std::string quote(const std::string& text) { return "\"" + text + "\""; }

std::string join(const std::vector<std::string>& words, const char* sep = ", ") {
  std::string out;
  for (const auto& w : words) {
    if (!out.empty())
      out += sep;
    out += w;
  }
  return out;
}

/// "a", "a or b", "a, b or c".
std::string join_words(const std::vector<std::string>& words) {
  if (words.size() < 2)
    return join(words);
  std::vector<std::string> head(words.begin(), words.end() - 1);
  return join(head) + " or " + words.back();
}

std::string lower(std::string text) {
  for (auto& c : text)
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return text;
}

/// Levenshtein distance, ignoring case.
size_t edit_distance(const std::string& a, const std::string& b) {
  auto x = lower(a);
  auto y = lower(b);
  std::vector<size_t> prev(y.size() + 1);
  std::vector<size_t> cur(y.size() + 1);
  for (size_t j = 0; j <= y.size(); ++j)
    prev[j] = j;
  for (size_t i = 1; i <= x.size(); ++i) {
    cur[0] = i;
    for (size_t j = 1; j <= y.size(); ++j) {
      size_t subst = prev[j - 1] + (x[i - 1] == y[j - 1] ? 0 : 1);
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, subst});
    }
    std::swap(prev, cur);
  }
  return prev[y.size()];
}

/// The choice `word` was most likely meant to be, or "" when none is close.
std::string closest(const std::string& word, const std::vector<std::string>& choices) {
  std::string best;
  size_t best_distance = std::numeric_limits<size_t>::max();
  for (const auto& choice : choices) {
    size_t d = edit_distance(word, choice);
    size_t allowed = std::max<size_t>(1, std::min<size_t>(3, choice.size() / 3));
    bool prefix = word.size() >= 4 && word.size() < choice.size()
                  && lower(choice).compare(0, word.size(), lower(word)) == 0;
    if ((d <= allowed || prefix) && d < best_distance) {
      best = choice;
      best_distance = d;
    }
  }
  return best;
}

/// "did you mean "x"? " when a choice is close, else "".
std::string did_you_mean(const std::string& word, const std::vector<std::string>& choices) {
  auto guess = closest(word, choices);
  return guess.empty() ? std::string{} : "did you mean " + quote(guess) + "? ";
}

/// How a node looks to a person: "a map", "a list", "the value "abc"".
std::string describe(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Map:
      return "a map";
    case YAML::NodeType::Sequence:
      return "a list";
    case YAML::NodeType::Scalar:
      return "the value " + quote(node.Scalar());
    default:
      return "nothing";
  }
}

bool valid_name(const std::string& name, size_t max_length) {
  if (name.empty() || name.size() > max_length)
    return false;
  auto alnum = [](char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0; };
  if (!alnum(name[0]))
    return false;
  return std::all_of(name.begin(), name.end(),
                     [&](char c) { return alnum(c) || c == '_' || c == '.' || c == '-'; });
}

/// Why `text` is not a valid "host:port", or "" when it is.
std::string host_port_error(const std::string& text, std::string& host, uint16_t& port) {
  if (text.empty())
    return "is empty";
  std::string port_text;
  if (text[0] == '[') {
    auto close = text.find(']');
    if (close == std::string::npos)
      return "has no closing ']' after the IPv6 host";
    host = text.substr(1, close - 1);
    if (close + 1 >= text.size() || text[close + 1] != ':')
      return "has no port after the host";
    port_text = text.substr(close + 2);
    if (host.empty())
      return "has an empty host";
    bool ok = std::all_of(host.begin(), host.end(), [](char c) {
      return std::isxdigit(static_cast<unsigned char>(c)) || c == ':' || c == '.' || c == '%';
    });
    if (!ok || host.find(':') == std::string::npos)
      return "has an invalid IPv6 host " + quote(host);
  } else {
    auto colon = text.rfind(':');
    if (colon == std::string::npos)
      return "has no port";
    host = text.substr(0, colon);
    port_text = text.substr(colon + 1);
    if (host.empty())
      return "has an empty host";
    if (host.find(':') != std::string::npos)
      return "has an IPv6 host without brackets";
    bool ok = std::all_of(host.begin(), host.end(), [](char c) {
      return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' || c == '_';
    });
    if (!ok || host.front() == '-' || host.front() == '.')
      return "has an invalid host " + quote(host);
    // Digits and dots: an IPv4 address in one of the forms the resolver
    // takes (127.0.0.1, 127.1, 010.0.0.1), so not 999.1.1.1. Digits alone
    // may also be a host name.
    bool numeric = std::all_of(host.begin(), host.end(), [](char c) {
      return std::isdigit(static_cast<unsigned char>(c)) || c == '.';
    });
    in_addr ipv4{};
    if (numeric && host.find('.') != std::string::npos && ::inet_aton(host.c_str(), &ipv4) == 0)
      return "has an invalid IPv4 address " + quote(host) + " (four numbers of 0..255)";
  }
  if (port_text.empty())
    return "has an empty port";
  if (port_text.size() > 5
      || !std::all_of(port_text.begin(), port_text.end(),
                      [](char c) { return std::isdigit(static_cast<unsigned char>(c)); })) {
    bool digits = std::all_of(port_text.begin(), port_text.end(),
                              [](char c) { return std::isdigit(static_cast<unsigned char>(c)); });
    if (digits)
      return "has port " + port_text + ", above 65535";
    return "has port " + quote(port_text) + ", which is not a number";
  }
  unsigned long value = std::stoul(port_text);
  if (value > 65535)
    return "has port " + port_text + ", above 65535";
  port = static_cast<uint16_t>(value);
  return {};
}

/// A real number for messages, always with a decimal point: "1.0", "0.25".
std::string real_text(double value) {
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%g", value);
  std::string out = buffer;
  if (out.find_first_of(".en") == std::string::npos)
    out += ".0";
  return out;
}

/// Digits with at most one '.', and at least one digit: "2", "2.0", ".5".
bool plain_decimal(const std::string& text) {
  bool digit = false;
  bool point = false;
  for (char c : text) {
    if (std::isdigit(static_cast<unsigned char>(c))) {
      digit = true;
    } else if (c == '.' && !point) {
      point = true;
    } else {
      return false;
    }
  }
  return digit;
}

/// A plain decimal followed by an exponent: "1e3", "2.5E-1".
bool exponent_form(const std::string& text) {
  auto e = text.find_first_of("eE");
  if (e == std::string::npos || !plain_decimal(text.substr(0, e)))
    return false;
  std::string rest = text.substr(e + 1);
  if (!rest.empty() && (rest[0] == '+' || rest[0] == '-'))
    rest.erase(0, 1);
  return !rest.empty() && std::all_of(rest.begin(), rest.end(),
                                      [](char c) { return std::isdigit(static_cast<unsigned char>(c)); });
}

bool wildcard_host(const std::string& host) {
  return host == "0.0.0.0" || host == "::" || host.empty();
}

// --- documents in a stream --------------------------------------------------

/// Notes whether a document holds anything but a null root, and where.
class document_probe final : public YAML::EventHandler {
public:
  bool empty = true;
  YAML::Mark start;

  void OnDocumentStart(const YAML::Mark& mark) override {
    empty = true;
    start = mark;
  }
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark&, YAML::anchor_t) override {}
  void OnAlias(const YAML::Mark& mark, YAML::anchor_t) override { content(mark); }
  void OnScalar(const YAML::Mark& mark, const std::string&, YAML::anchor_t, const std::string&) override {
    content(mark);
  }
  void OnSequenceStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t,
                       YAML::EmitterStyle::value) override {
    content(mark);
  }
  void OnSequenceEnd() override {}
  void OnMapStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t, YAML::EmitterStyle::value) override {
    content(mark);
  }
  void OnMapEnd() override {}

private:
  void content(const YAML::Mark& mark) {
    if (empty)
      start = mark;
    empty = false;
  }
};

/// Where a second, non-empty document starts, if there is one. Throws
/// YAML::ParserException on a syntax error past the first document.
/// YAML::LoadAll is not used: yaml-cpp 0.7 loops forever in it on some
/// malformed input (e.g. ",#"), producing null documents without end.
std::optional<YAML::Mark> second_document(const std::string& text) {
  std::istringstream in(text);
  YAML::Parser parser(in);
  document_probe probe;
  // The first document was already read by YAML::Load; look at most at a few
  // more, stopping at the first empty one.
  for (int index = 0; index < 4 && parser.HandleNextDocument(probe); ++index) {
    if (probe.empty)
      return std::nullopt;
    if (index >= 1)
      return probe.start;
  }
  return std::nullopt;
}

// --- the checker ------------------------------------------------------------

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

  std::string path(const std::string& key) const { return field.empty() ? key : field + "." + key; }
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
  location at_value(const entry& e) const { return e.value.IsNull() ? at(e.key) : at(e.value); }

  void report(location where, std::string field, std::string message, std::string hint) {
    problems.push_back({std::move(where), std::move(field), std::move(message), std::move(hint)});
  }

  /// Reads a map, reporting a wrong type, keys that are not names and
  /// duplicate keys. A missing (null) map is an empty, valid section.
  section open(const YAML::Node& node, const std::string& field, location owner,
               const std::string& what, const char* key_noun = "key") {
    section s;
    s.field = field;
    s.where = owner;
    if (node.IsNull() || !node.IsDefined())
      return s;
    if (!node.IsMap()) {
      report(at(node), field, "expected " + what + ", got " + describe(node),
             "write it as indented \"name: value\" lines under " + quote(field.empty() ? "the file" : field + ":"));
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
        report(at(key), field, std::string{"a "} + key_noun + " must be a plain name, got " + describe(key),
               "write the name as plain text followed by ':'");
        continue;
      }
      std::string name = key.Scalar();
      if (const entry* first = s.find(name)) {
        report(at(key), s.path(name), "duplicate " + std::string{key_noun} + " " + quote(name),
               quote(name) + " is already set on line " + std::to_string(at(first->key).line)
                 + "; remove one of them");
        continue;
      }
      s.items.push_back({key, value, name});
    }
    return s;
  }

  /// Reports every key of `s` not in `allowed`.
  void unknown_keys(const section& s, const std::vector<std::string>& allowed,
                    const std::vector<misplaced>& moved = {}) {
    for (const auto& e : s.items) {
      if (std::find(allowed.begin(), allowed.end(), e.name) != allowed.end())
        continue;
      std::string hint;
      for (const auto& m : moved)
        if (e.name == m.key)
          hint = m.hint;
      if (hint.empty()) {
        auto guess = closest(e.name, allowed);
        hint = guess.empty() ? "allowed keys here: " + join(allowed) : "did you mean " + quote(guess) + "?";
      }
      report(at(e.key), s.path(e.name), "unknown key " + quote(e.name), hint);
    }
  }

  void missing(const section& s, const std::string& key, const std::string& hint) {
    if (s.valid)
      report(s.where, s.path(key), "missing required key " + quote(key), hint);
  }

  /// A whole number in [min, max]. Leaves `out` alone on a problem.
  template <class T>
  bool number(const entry& e, const std::string& field, uint64_t min, uint64_t max, T& out,
              const std::string& range_hint = {}) {
    std::string range = std::to_string(min) + ".." + std::to_string(max);
    std::string hint = range_hint.empty() ? "use a whole number in " + range : range_hint;
    if (e.value.IsNull()) {
      report(at_value(e), field, "has no value; expected a whole number", hint);
      return false;
    }
    if (!e.value.IsScalar()) {
      report(at(e.value), field, "expected a whole number, got " + describe(e.value), hint);
      return false;
    }
    const std::string& text = e.value.Scalar();
    if (e.value.Tag() == "!") {
      report(at(e.value), field, "expected a whole number, got the quoted string " + quote(text),
             "remove the quotes");
      return false;
    }
    auto digits = [](const std::string& t) {
      return !t.empty()
             && std::all_of(t.begin(), t.end(), [](char c) { return std::isdigit(static_cast<unsigned char>(c)); });
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

  /// A real number in [min, max], written as a whole number or a decimal:
  /// 2, 2.0, 0.25. Leaves `out` alone on a problem.
  bool real(const entry& e, const std::string& field, double min, double max, double& out,
            const std::string& range_hint = {}) {
    std::string range = real_text(min) + ".." + real_text(max);
    std::string hint = range_hint.empty() ? "use a number in " + range : range_hint;
    if (e.value.IsNull()) {
      report(at_value(e), field, "has no value; expected a number", hint);
      return false;
    }
    if (!e.value.IsScalar()) {
      report(at(e.value), field, "expected a number, got " + describe(e.value), hint);
      return false;
    }
    const std::string& text = e.value.Scalar();
    if (e.value.Tag() == "!") {
      report(at(e.value), field, "expected a number, got the quoted string " + quote(text), "remove the quotes");
      return false;
    }
    std::string word = lower(text);
    if (!word.empty() && (word[0] == '-' || word[0] == '+'))
      word.erase(0, 1);
    if (word == "nan" || word == ".nan") {
      report(at(e.value), field, "expected a number, got " + quote(text) + " (not a number)", hint);
      return false;
    }
    if (word == "inf" || word == ".inf" || word == "infinity") {
      report(at(e.value), field, "must be a finite number, got " + quote(text), hint);
      return false;
    }
    if (text.size() > 1 && text[0] == '-' && plain_decimal(text.substr(1))) {
      report(at(e.value), field, "must not be negative, got " + text, hint);
      return false;
    }
    if (!plain_decimal(text)) {
      std::string how = "write digits with an optional '.', e.g. 2, 2.0 or 0.25: no quotes, units, signs or exponent";
      std::string head = text.substr(0, text.size() - 1);
      std::string comma = text;
      std::replace(comma.begin(), comma.end(), ',', '.');
      if (text.size() > 1 && text.back() == '%' && plain_decimal(head)) {
        double percent = 0;
        auto parsed = std::from_chars(head.data(), head.data() + head.size(), percent, std::chars_format::fixed);
        how = "write a fraction, not a percentage";
        if (parsed.ec == std::errc{})
          how += ": " + real_text(percent / 100) + " for " + text;
      } else if (exponent_form(text)) {
        how = "write it as a plain decimal, without an exponent";
      } else if (std::count(text.begin(), text.end(), ',') == 1 && plain_decimal(comma)) {
        how = "use '.' as the decimal point: " + comma;
      }
      report(at(e.value), field, "expected a number, got " + quote(text), how + "; " + hint);
      return false;
    }
    double value = 0;
    const char* end = text.data() + text.size();
    auto [stop, error] = std::from_chars(text.data(), end, value, std::chars_format::fixed);
    if (error != std::errc{} || stop != end || !std::isfinite(value) || value < min || value > max) {
      report(at(e.value), field, text + " is out of range " + range, hint);
      return false;
    }
    out = value;
    return true;
  }

  /// A non-empty scalar string.
  bool text(const entry& e, const std::string& field, std::string& out, const std::string& hint) {
    if (e.value.IsNull()) {
      report(at_value(e), field, "must not be empty", hint);
      return false;
    }
    if (!e.value.IsScalar()) {
      report(at(e.value), field, "expected a string, got " + describe(e.value), hint);
      return false;
    }
    if (e.value.Scalar().empty()) {
      report(at(e.value), field, "must not be empty", hint);
      return false;
    }
    out = e.value.Scalar();
    return true;
  }

  /// `true` or `false` (unquoted). Leaves `out` alone on a problem.
  bool boolean(const entry& e, const std::string& field, bool& out, const std::string& hint) {
    std::string text = e.value.IsScalar() ? e.value.Scalar() : std::string{};
    if (e.value.IsScalar() && e.value.Tag() != "!" && (text == "true" || text == "false")) {
      out = text == "true";
      return true;
    }
    report(at_value(e), field, "expected true or false, got " + (e.value.IsScalar() ? quote(text) : describe(e.value)),
           hint);
    return false;
  }

  /// One of `choices`; returns its index or -1 after reporting.
  int choice(const entry& e, const std::string& field, const std::string& noun,
             const std::vector<std::string>& choices) {
    std::string options = "use one of: " + join(choices);
    if (e.value.IsNull()) {
      report(at_value(e), field, "has no value; expected a " + noun, options);
      return -1;
    }
    if (!e.value.IsScalar()) {
      report(at(e.value), field, "expected a " + noun + ", got " + describe(e.value), options);
      return -1;
    }
    const std::string& value = e.value.Scalar();
    for (size_t i = 0; i < choices.size(); ++i)
      if (choices[i] == value)
        return static_cast<int>(i);
    report(at(e.value), field, "unknown " + noun + " " + quote(value), did_you_mean(value, choices) + options);
    return -1;
  }

  /// A listen address; returns false after reporting.
  bool address(const entry& e, const std::string& field, std::string& out, std::string& host, uint16_t& port) {
    const char* hint = "write host:port, e.g. 127.0.0.1:8980, [::1]:8980 or 0.0.0.0:8980 (port 0 picks a free port)";
    if (!text(e, field, out, hint))
      return false;
    auto why = host_port_error(out, host, port);
    if (!why.empty()) {
      report(at(e.value), field, "address " + quote(out) + " " + why, hint);
      return false;
    }
    return true;
  }

private:
  std::string file_;
};

const std::vector<std::string> root_keys = {"server", "audit", "auth", "backends", "namespaces"};
const std::vector<std::string> auth_keys = {"mode", "principal_from", "tokens", "token_file", "groups", "admins"};
const std::vector<std::string> auth_modes = {"none", "token", "mtls"};
const std::vector<std::string> principal_sources = {"cn", "san"};
const std::vector<std::string> tls_keys = {"cert_file", "key_file", "client_ca_file"};
const std::vector<std::string> access_keys = {"read", "write", "admin"};
const std::vector<std::string> server_keys = {"listen",           "admin",
                                              "session_idle_timeout_ms", "session_max_in_flight",
                                              "session_mailbox_limit", "stage_mailbox_limit",
                                              "router_mailbox_limit",
                                              "drain_timeout_ms", "scheduler", "tls"};
const std::vector<std::string> scheduler_keys = {"max_throughput", "threads", "pollers"};
const std::vector<std::string> audit_keys = {"path"};
/// Keys every backend allows, whatever its type.
const std::vector<std::string> common_backend_keys = {"type", "max_pending", "mailbox_limit", "circuit"};
/// Keys of the backends that hold KeyValue data through connection actors.
const std::vector<std::string> connection_keys = {"connections", "ttl_sweep_interval_ms", "supervision"};
const std::vector<std::string> sqlite_only_keys = {"path", "synchronous", "busy_timeout_ms"};
const std::vector<std::string> memory_only_keys = {"topic_retained_messages", "topic_retained_bytes",
                                                   "max_topics"};
const std::vector<std::string> postgres_only_keys = {"dsn",           "password_env",         "password_file",
                                                     "connect_timeout_ms", "statement_timeout_ms", "idle_timeout_ms",
                                                     "max_lifetime_ms"};
const std::vector<std::string> kafka_only_keys = {"brokers", "topic_prefix", "partitions", "replication_factor",
                                                  "properties", "unavailable_after_ms"};
const std::vector<std::string> nats_only_keys = {"url",           "jetstream",          "subject_prefix",
                                                 "stream_prefix", "stream_max_age_ms", "stream_max_bytes",
                                                 "connect_timeout_ms", "token_env",  "unavailable_after_ms"};

/// The keys a backend of `type` allows.
std::vector<std::string> backend_keys(backend_type type) {
  std::vector<std::string> keys = common_backend_keys;
  auto add = [&](const std::vector<std::string>& more) { keys.insert(keys.end(), more.begin(), more.end()); };
  switch (type) {
    case backend_type::memory:
      add(connection_keys);
      add(memory_only_keys);
      break;
    case backend_type::sqlite:
      add(connection_keys);
      add(sqlite_only_keys);
      break;
    case backend_type::postgres:
      add(connection_keys);
      add(postgres_only_keys);
      break;
    case backend_type::kafka:
      add(kafka_only_keys);
      break;
    case backend_type::nats:
      add(nats_only_keys);
      break;
  }
  return keys;
}

constexpr backend_type all_backend_types[] = {backend_type::memory, backend_type::sqlite, backend_type::postgres,
                                              backend_type::kafka, backend_type::nats};

const std::vector<std::string> supervision_keys = {"strategy", "max_restarts", "period_ms", "backoff",
                                                   "shutdown_timeout_ms"};
const std::vector<std::string> backoff_keys = {"min_ms", "max_ms", "multiplier", "jitter", "reset_after_ms"};
const std::vector<std::string> circuit_keys = {"probe_after_ms", "probe_max_ms"};
const std::vector<std::string> supervision_strategies = {"one_for_one", "one_for_all", "rest_for_one"};
const std::vector<std::string> namespace_keys = {"pattern",      "backend",
                                                 "max_value_bytes", "middleware",
                                                 "subscription_buffer", "slow_subscriber",
                                                 "access", "rate_limit", "redact_keys",
                                                 "audit_required"};
const std::vector<std::string> rate_limit_keys = {"rate", "burst", "per_principal"};
const std::vector<std::string> bucket_keys = {"rate", "burst"};
const std::vector<std::string> slow_subscriber_policies = {"drop_oldest", "disconnect"};
const std::vector<std::string> backend_types = {"memory", "sqlite", "postgres", "kafka", "nats"};
const std::vector<std::string> patterns = {"keyvalue", "pubsub"};
const std::vector<std::string> synchronous_modes = {"normal", "full"};

const char* name_rule = "starts with a letter or digit, then letters, digits, '_', '.' or '-'";

/// server.tls: a certificate and its key, both or neither, and the CA that
/// client certificates must chain to; each file is read and checked now so a
/// problem is reported here rather than when the listener starts.
void check_tls(checker& c, const entry& e, const std::string& field, tls_options& out) {
  section s = c.open(e.value, field, c.at(e.key), "a map of TLS settings");
  c.unknown_keys(s, tls_keys,
                 {{"ca_file", "did you mean client_ca_file?"}, {"cert", "did you mean cert_file?"},
                  {"key", "did you mean key_file?"}});
  auto file = [&](const char* key, std::string& value, auto problem_of) {
    const entry* v = s.find(key);
    if (!v || !c.text(*v, s.path(key), value, "give the path of a PEM file"))
      return false;
    if (auto why = problem_of(value); !why.empty()) {
      c.report(c.at(v->value), s.path(key), why, "give a readable PEM file (paths are relative to the working "
                                                 "directory)");
      return false;
    }
    return true;
  };
  bool cert_ok = file("cert_file", out.cert_file, certificate_file_problem);
  bool key_ok = file("key_file", out.key_file, private_key_file_problem);
  file("client_ca_file", out.client_ca_file, certificate_file_problem);
  if (s.find("cert_file") && !s.find("key_file"))
    c.missing(s, "key_file", "give the certificate's private key: key_file: server.key");
  if (s.find("key_file") && !s.find("cert_file"))
    c.missing(s, "cert_file", "give the server's certificate: cert_file: server.crt");
  if (!s.find("cert_file") && !s.find("key_file") && s.valid)
    c.report(s.where, field, "TLS needs the server's certificate and key",
             "set cert_file: and key_file:, or remove tls:");
  if (cert_ok && key_ok)
    if (auto why = key_pair_problem(out.cert_file, out.key_file); !why.empty())
      c.report(c.at(s.find("key_file")->value), s.path("key_file"), why,
               "give the key the certificate was issued for");
}

void check_server(checker& c, const entry& e, server_options& out) {
  section s = c.open(e.value, "server", c.at(e.key), "a map of server settings");
  c.unknown_keys(s, server_keys,
                 {{"max_throughput", "it belongs under server.scheduler:"},
                  {"threads", "it belongs under server.scheduler:"},
                  {"mailbox_limit", "a pool's mailbox_limit belongs under backends.<name>:; here use "
                                    "session_mailbox_limit, stage_mailbox_limit or router_mailbox_limit"},
                  {"supervision", "it belongs under backends.<name>: (each backend has its own)"},
                  {"circuit", "it belongs under backends.<name>: (each backend has its own)"}});

  std::string listen_host, admin_host;
  uint16_t listen_port = 0, admin_port = 0;
  bool listen_ok = false, admin_ok = false;
  if (const entry* v = s.find("listen"))
    listen_ok = c.address(*v, s.path("listen"), out.listen, listen_host, listen_port);
  else
    listen_ok = split_host_port(out.listen, listen_host, listen_port);
  if (const entry* v = s.find("admin"))
    admin_ok = c.address(*v, s.path("admin"), out.admin, admin_host, admin_port);
  else
    admin_ok = split_host_port(out.admin, admin_host, admin_port);

  if (listen_ok && admin_ok && listen_port != 0 && listen_port == admin_port
      && (lower(listen_host) == lower(admin_host) || wildcard_host(listen_host) || wildcard_host(admin_host))) {
    const entry* where = s.find("admin") ? s.find("admin") : s.find("listen");
    std::string other = where->name == "admin" ? "listen" : "admin";
    std::string next = listen_port < 65535 ? std::to_string(listen_port + 1) : std::to_string(listen_port - 1);
    std::string host = where->name == "admin" ? admin_host : listen_host;
    if (host.find(':') != std::string::npos)
      host = "[" + host + "]";
    c.report(c.at_value(*where), s.path(where->name),
             "admin listener " + out.admin + " collides with the gRPC listener " + out.listen,
             "give " + where->name + " a different port than " + other + ", e.g. " + host + ":" + next);
  }

  if (const entry* v = s.find("session_idle_timeout_ms"))
    c.number(*v, s.path(v->name), 1000, 86400000, out.session_idle_timeout_ms,
             "use 1000..86400000 milliseconds (1 second to 1 day)");

  if (const entry* v = s.find("session_max_in_flight"))
    c.number(*v, s.path(v->name), 1, 1000000, out.session_max_in_flight,
             "use 1..1000000 requests");

  if (const entry* v = s.find("session_mailbox_limit"))
    c.number(*v, s.path(v->name), 1, 1000000, out.session_mailbox_limit,
             "use 1..1000000 requests");

  if (const entry* v = s.find("stage_mailbox_limit"))
    c.number(*v, s.path(v->name), 1, 1000000, out.stage_mailbox_limit,
             "use 1..1000000 requests");

  if (const entry* v = s.find("router_mailbox_limit"))
    c.number(*v, s.path(v->name), 1, 1000000, out.router_mailbox_limit,
             "use 1..1000000 requests");

  if (const entry* v = s.find("drain_timeout_ms"))
    c.number(*v, s.path(v->name), 0, 3600000, out.drain_timeout_ms,
             "use 0..3600000 milliseconds (up to 1 hour)");

  if (const entry* v = s.find("tls"))
    check_tls(c, *v, s.path("tls"), out.tls);

  if (const entry* v = s.find("scheduler")) {
    section sched = c.open(v->value, s.path("scheduler"), c.at(v->key), "a map of scheduler settings");
    c.unknown_keys(sched, scheduler_keys);
    if (const entry* t = sched.find("max_throughput"))
      c.number(*t, sched.path(t->name), 1, 100000, out.scheduler_max_throughput);
    if (const entry* t = sched.find("threads"))
      c.number(*t, sched.path(t->name), 0, 64, out.scheduler_threads,
               "use 0 (one thread per core) or a thread count from 1 to 64");
    if (const entry* t = sched.find("pollers"))
      c.number(*t, sched.path(t->name), 0, 64, out.scheduler_pollers,
               "use 0 (one per four threads, at least one) or a count from 1 "
               "to 64 (more than `threads` counts as all of them)");
  }
}

bool sha256_hex(const std::string& text) {
  return text.size() == 64 && std::all_of(text.begin(), text.end(), [](char ch) {
           return std::isdigit(static_cast<unsigned char>(ch)) || (ch >= 'a' && ch <= 'f');
         });
}

const char* token_hash_hint = "give the SHA-256 of the token as 64 lowercase hex digits, never the token itself: "
                              "printf %s \"$TOKEN\" | sha256sum";

/// A list of names: principals or groups.
std::vector<std::string> name_list(checker& c, const entry& e, const std::string& field, const char* what) {
  std::vector<std::string> out;
  if (!e.value.IsSequence()) {
    c.report(c.at_value(e), field, std::string{"expected a list of "} + what + ", got " + describe(e.value),
             "write a list, e.g. [alice, ops]");
    return out;
  }
  for (size_t i = 0; i < e.value.size(); ++i) {
    YAML::Node item = e.value[i];
    if (!item.IsScalar() || item.Scalar().empty() || !valid_name(item.Scalar(), 128))
      c.report(c.at(item.IsNull() ? e.value : item), field + "[" + std::to_string(i) + "]",
               std::string{"expected a name of "} + what + ", got " + describe(item),
               std::string{"a name "} + name_rule);
    else
      out.push_back(item.Scalar());
  }
  return out;
}

/// Reads `token_file`: lines "<principal> <sha256 hex>", '#' comments.
void read_token_file(checker& c, const entry& e, const std::string& field, auth_options& out) {
  std::error_code ec;
  if (std::filesystem::is_directory(out.token_file, ec)) {
    c.report(c.at(e.value), field, "cannot read token file " + quote(out.token_file) + ": it is a directory",
             "give a readable file of lines \"<principal> <sha256 of its token>\"");
    return;
  }
  std::ifstream in(out.token_file);
  if (!in) {
    c.report(c.at(e.value), field, "cannot read token file " + quote(out.token_file) + ": " + std::strerror(errno),
             "give a readable file of lines \"<principal> <sha256 of its token>\"");
    return;
  }
  std::string line;
  int number = 0;
  while (std::getline(in, line)) {
    ++number;
    auto hash = line.find('#');
    if (hash != std::string::npos)
      line.erase(hash);
    std::istringstream words(line);
    std::string principal, digest, extra;
    if (!(words >> principal))
      continue;
    std::string where = out.token_file + " line " + std::to_string(number);
    if (!(words >> digest) || (words >> extra)) {
      c.report(c.at(e.value), field, where + ": expected \"<principal> <sha256>\"", token_hash_hint);
    } else if (!valid_name(principal, 128)) {
      c.report(c.at(e.value), field, where + ": invalid principal name " + quote(principal),
               std::string{"a principal name "} + name_rule);
    } else if (!sha256_hex(digest)) {
      c.report(c.at(e.value), field, where + ": the token hash of " + quote(principal) + " is not a SHA-256",
               token_hash_hint);
    } else if (!out.token_hashes.emplace(principal, digest).second) {
      c.report(c.at(e.value), field, where + ": principal " + quote(principal) + " has a token already",
               "give each principal one token");
    }
  }
}

void check_auth(checker& c, const entry& e, auth_options& out) {
  section s = c.open(e.value, "auth", c.at(e.key), "a map of authentication settings");
  c.unknown_keys(s, auth_keys);
  if (const entry* v = s.find("mode")) {
    int index = c.choice(*v, s.path("mode"), "auth mode", auth_modes);
    if (index >= 0)
      out.mode = static_cast<auth_mode>(index);
  }
  if (const entry* v = s.find("principal_from")) {
    int index = c.choice(*v, s.path("principal_from"), "certificate field", principal_sources);
    if (index >= 0)
      out.principal_from = static_cast<principal_source>(index);
    if (out.mode != auth_mode::mtls)
      c.report(c.at(v->key), s.path("principal_from"), "principal_from applies only with auth.mode: mtls",
               "remove it, or set mode: mtls");
  }
  // With mtls, principals are the names in client certificates: any name may
  // appear in groups and access rules without a token.
  const bool names_from_certificates = out.mode == auth_mode::mtls;
  // Principals named under tokens:, valid or not (a bad hash is reported
  // once, not again where the name is used).
  std::set<std::string> listed;
  if (const entry* v = s.find("tokens")) {
    section ts = c.open(v->value, s.path("tokens"), c.at(v->key), "a map from principal to the SHA-256 of its token",
                        "principal");
    for (const auto& t : ts.items) {
      listed.insert(t.name);
      if (!valid_name(t.name, 128)) {
        c.report(c.at(t.key), ts.path(t.name), "invalid principal name " + quote(t.name),
                 std::string{"a principal name "} + name_rule);
        continue;
      }
      // The value is not repeated: it may be a token pasted by mistake.
      if (!t.value.IsScalar() || !sha256_hex(t.value.Scalar())) {
        c.report(c.at_value(t), ts.path(t.name), "is not the SHA-256 of a token", token_hash_hint);
        continue;
      }
      out.token_hashes[t.name] = t.value.Scalar();
    }
  }
  if (const entry* v = s.find("token_file"))
    if (c.text(*v, s.path("token_file"), out.token_file, "give a file of lines \"<principal> <sha256>\""))
      read_token_file(c, *v, s.path("token_file"), out);
  if (const entry* v = s.find("groups")) {
    section gs = c.open(v->value, s.path("groups"), c.at(v->key), "a map from group name to its principals", "group");
    for (const auto& g : gs.items) {
      if (!valid_name(g.name, 128)) {
        c.report(c.at(g.key), gs.path(g.name), "invalid group name " + quote(g.name),
                 std::string{"a group name "} + name_rule);
        continue;
      }
      if (out.token_hashes.count(g.name)) {
        c.report(c.at(g.key), gs.path(g.name), "group " + quote(g.name) + " has the name of a principal",
                 "give groups and principals different names");
        continue;
      }
      auto members = name_list(c, g, gs.path(g.name), "principals");
      for (const auto& m : members)
        if (!names_from_certificates && !out.token_hashes.count(m) && !listed.count(m))
          c.report(c.at(g.value), gs.path(g.name), "unknown principal " + quote(m),
                   "list it under auth.tokens: or in auth.token_file");
      out.groups[g.name] = std::move(members);
    }
  }
  if (const entry* v = s.find("admins")) {
    out.admins = name_list(c, *v, s.path("admins"), "principals or groups");
    for (const auto& name : out.admins)
      if (!names_from_certificates && !out.token_hashes.count(name) && !out.groups.count(name))
        c.report(c.at(v->value), s.path("admins"), "unknown principal or group " + quote(name),
                 "define it under auth.tokens:, auth.token_file or auth.groups:");
  }
  // One token, two principals: the gateway could only ever pick one of them
  // for it (access rules and audit lines would name the wrong one).
  std::map<std::string, std::string> owner_of;
  for (const auto& [principal, digest] : out.token_hashes) {
    std::string key = digest;
    std::transform(key.begin(), key.end(), key.begin(),
                   [](unsigned char ch) { return static_cast<char>(std::tolower(ch)); });
    auto [at, fresh] = owner_of.emplace(key, principal);
    if (!fresh)
      c.report(c.at(e.key), "auth", "principals " + quote(at->second) + " and " + quote(principal)
                                       + " have the same token (the same SHA-256)",
               "give each principal a token of its own");
  }
  if (out.mode == auth_mode::token && out.token_hashes.empty())
    c.report(s.find("mode") ? c.at(s.find("mode")->value) : s.where, s.path("mode"),
             "auth mode token, but no principal has a token",
             "list principals under auth.tokens: or in auth.token_file");
}

void check_audit(checker& c, const entry& e, audit_options& out) {
  section s = c.open(e.value, "audit", c.at(e.key), "a map of audit settings");
  c.unknown_keys(s, audit_keys);
  if (const entry* v = s.find("path"))
    c.text(*v, s.path("path"), out.path, "give the audit log file, e.g. ./data/audit.log");
}

/// Hints for supervision and circuit keys written in the wrong map of a
/// backend. `backend_field` is "backends.<name>"; `here` is the dotted path
/// of the map being read, whose own keys are left out.
std::vector<misplaced> misplaced_supervision_keys(const std::string& backend_field, const std::string& here) {
  std::string supervision = backend_field + ".supervision";
  std::string backoff = supervision + ".backoff";
  std::string circuit = backend_field + ".circuit";
  std::vector<misplaced> out;
  auto under = [](const std::string& path) { return "it belongs under " + path + ":"; };
  if (here != supervision) {
    for (const auto& k : supervision_keys)
      out.push_back({k, under(supervision)});
  }
  for (const auto& k : backoff_keys) {
    if (here == backoff)
      out.push_back({"backoff_" + k, "write it as " + k + " here: keys under backoff: have no backoff_ prefix"});
    else
      out.push_back({"backoff_" + k, "write it as " + k + " under " + backoff + ":"});
    if (here == backoff)
      continue;
    if (here == circuit && k == "min_ms")
      out.push_back({k, "did you mean \"probe_after_ms\"? the restart delay min_ms belongs under " + backoff + ":"});
    else if (here == circuit && k == "max_ms")
      out.push_back({k, "did you mean \"probe_max_ms\"? the restart delay max_ms belongs under " + backoff + ":"});
    else
      out.push_back({k, under(backoff)});
  }
  if (here != circuit) {
    for (const auto& k : circuit_keys)
      out.push_back({k, under(circuit)});
  }
  return out;
}

/// True when `a` comes after `b` in the file.
bool after(const location& a, const location& b) { return std::tie(a.line, a.column) > std::tie(b.line, b.column); }

/// Reports `low_key` above `high_key` in section `s`, at whichever of the two
/// comes later in the file (or at the one that is set), naming both values.
/// Call it only when both values were read without problems.
void check_order(checker& c, const section& s, const std::string& low_key, uint32_t low,
                 const std::string& high_key, uint32_t high, const std::string& why) {
  if (low <= high)
    return;
  const entry* lo = s.find(low_key);
  const entry* hi = s.find(high_key);
  if (lo == nullptr && hi == nullptr)
    return;
  bool at_high = hi != nullptr && (lo == nullptr || after(c.at(hi->key), c.at(lo->key)));
  std::string low_text = std::to_string(low) + (lo != nullptr ? "" : ", its default");
  std::string high_text = std::to_string(high) + (hi != nullptr ? "" : ", its default");
  std::string message = at_high ? high_key + " (" + high_text + ") is less than " + low_key + " (" + low_text + ")"
                                : low_key + " (" + low_text + ") is greater than " + high_key + " (" + high_text + ")";
  const entry& where = at_high ? *hi : *lo;
  c.report(c.at_value(where), s.path(where.name), message,
           why + ": raise " + high_key + " to at least " + std::to_string(low) + ", or lower " + low_key
             + " to at most " + std::to_string(high));
}

void check_backoff(checker& c, const entry& e, const std::string& backend_field, supervision_config& out) {
  section s = c.open(e.value, backend_field + ".supervision.backoff", c.at(e.key), "a map of backoff settings");
  c.unknown_keys(s, backoff_keys, misplaced_supervision_keys(backend_field, s.field));

  const char* ms_hour = "use 1..3600000 milliseconds (up to 1 hour)";
  bool min_ok = true;
  bool max_ok = true;
  if (const entry* v = s.find("min_ms"))
    min_ok = c.number(*v, s.path(v->name), 1, 3600000, out.backoff_min_ms, ms_hour);
  if (const entry* v = s.find("max_ms"))
    max_ok = c.number(*v, s.path(v->name), 1, 3600000, out.backoff_max_ms, ms_hour);
  if (min_ok && max_ok)
    check_order(c, s, "min_ms", out.backoff_min_ms, "max_ms", out.backoff_max_ms,
                "the longest restart delay cannot be shorter than the first");
  if (const entry* v = s.find("multiplier"))
    c.real(*v, s.path(v->name), 1.0, 10.0, out.backoff_multiplier,
           "use a number in 1.0..10.0: each restart delay is the previous one times this (1.0 keeps it at min_ms)");
  if (const entry* v = s.find("jitter"))
    c.real(*v, s.path(v->name), 0.0, 1.0, out.backoff_jitter,
           "use a fraction in 0.0..1.0: 0.2 spreads each delay by up to 20% either way (0.0 for none)");
  if (const entry* v = s.find("reset_after_ms"))
    c.number(*v, s.path(v->name), 1, 86400000, out.backoff_reset_after_ms,
             "use 1..86400000 milliseconds (up to 1 day)");
}

void check_supervision(checker& c, const entry& e, const std::string& backend_field, supervision_config& out) {
  section s = c.open(e.value, backend_field + ".supervision", c.at(e.key), "a map of supervision settings");
  c.unknown_keys(s, supervision_keys, misplaced_supervision_keys(backend_field, s.field));

  if (const entry* v = s.find("strategy")) {
    int index = c.choice(*v, s.path(v->name), "supervision strategy", supervision_strategies);
    if (index >= 0)
      out.strategy = static_cast<supervision_strategy>(index);
  }
  if (const entry* v = s.find("max_restarts"))
    c.number(*v, s.path(v->name), 0, 1000, out.max_restarts,
             "use 0..1000 restarts (0: the first failure gives up)");
  if (const entry* v = s.find("period_ms"))
    c.number(*v, s.path(v->name), 1, 3600000, out.period_ms, "use 1..3600000 milliseconds (up to 1 hour)");
  if (const entry* v = s.find("backoff"))
    check_backoff(c, *v, backend_field, out);
  if (const entry* v = s.find("shutdown_timeout_ms"))
    c.number(*v, s.path(v->name), 1, 600000, out.shutdown_timeout_ms,
             "use 1..600000 milliseconds (up to 10 minutes)");
}

void check_circuit(checker& c, const entry& e, const std::string& backend_field, circuit_config& out) {
  section s = c.open(e.value, backend_field + ".circuit", c.at(e.key), "a map of circuit settings");
  c.unknown_keys(s, circuit_keys, misplaced_supervision_keys(backend_field, s.field));

  bool after_ok = true;
  bool max_ok = true;
  if (const entry* v = s.find("probe_after_ms"))
    after_ok = c.number(*v, s.path(v->name), 1, 3600000, out.probe_after_ms,
                        "use 1..3600000 milliseconds (up to 1 hour)");
  if (const entry* v = s.find("probe_max_ms"))
    max_ok = c.number(*v, s.path(v->name), 1, 86400000, out.probe_max_ms,
                      "use 1..86400000 milliseconds (up to 1 day)");
  if (after_ok && max_ok)
    check_order(c, s, "probe_after_ms", out.probe_after_ms, "probe_max_ms", out.probe_max_ms,
                "the longest wait between probes cannot be shorter than the first");
}

/// The hint for a sqlite-only key found on a postgres backend.
std::string postgres_hint_for_sqlite_key(const std::string& key) {
  if (key == "path")
    return "a postgres backend names its server with dsn:, e.g. dsn: \"host=127.0.0.1 port=5432 dbname=prism "
           "user=prism\"; remove path";
  if (key == "synchronous")
    return "remove it: on postgres, durability is the server's synchronous_commit setting";
  return "remove it: on postgres, lock waits end at statement_timeout_ms or at the request's deadline";
}

/// True when a libpq connection string or URI carries a password: a
/// password= setting anywhere, or a URI's user:password@.
bool dsn_has_password(const std::string& dsn) {
  std::string text = lower(dsn);
  for (size_t at = text.find("password"); at != std::string::npos; at = text.find("password", at + 1)) {
    size_t i = at + 8;
    while (i < text.size() && std::isspace(static_cast<unsigned char>(text[i])))
      ++i;
    if (i < text.size() && text[i] == '=')
      return true;
  }
  for (const char* scheme : {"postgresql://", "postgres://"}) {
    if (text.rfind(scheme, 0) != 0)
      continue;
    size_t start = std::strlen(scheme);
    size_t end = text.find_first_of("/?", start);
    std::string authority = text.substr(start, end == std::string::npos ? std::string::npos : end - start);
    size_t user_end = authority.rfind('@');
    if (user_end != std::string::npos && authority.substr(0, user_end).find(':') != std::string::npos)
      return true;
  }
  char* error = nullptr;
  PQconninfoOption* options = PQconninfoParse(dsn.c_str(), &error);
  bool found = false;
  if (options != nullptr) {
    for (PQconninfoOption* o = options; o->keyword != nullptr; ++o)
      if (std::strcmp(o->keyword, "password") == 0 && o->val != nullptr && o->val[0] != '\0')
        found = true;
    PQconninfoFree(options);
  }
  PQfreemem(error);
  return found;
}

/// Why libpq cannot read a connection string, or "" when it can. Only called
/// on strings without a password, so libpq's message may quote the string.
std::string dsn_parse_error(const std::string& dsn) {
  char* error = nullptr;
  PQconninfoOption* options = PQconninfoParse(dsn.c_str(), &error);
  std::string why;
  if (options == nullptr) {
    why = error != nullptr ? error : "out of memory";
    while (!why.empty() && std::isspace(static_cast<unsigned char>(why.back())))
      why.pop_back();
  }
  PQconninfoFree(options);
  PQfreemem(error);
  return why;
}

bool valid_env_name(const std::string& name) {
  if (name.empty() || std::isdigit(static_cast<unsigned char>(name[0])))
    return false;
  return std::all_of(name.begin(), name.end(),
                     [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; });
}

/// Reads the keys of a postgres backend from its section.
void check_postgres(checker& c, const section& s, bool known_type, postgres_options& out) {
  const char* dsn_example = "e.g. dsn: \"host=127.0.0.1 port=5432 dbname=prism user=prism\" or "
                            "dsn: postgresql://prism@127.0.0.1:5432/prism";
  if (const entry* v = s.find("dsn")) {
    std::string dsn;
    if (c.text(*v, s.path("dsn"), dsn, std::string{"give a libpq connection string, "} + dsn_example)) {
      if (dsn_has_password(dsn)) {
        // The message does not repeat the string: it holds a secret.
        c.report(c.at(v->value), s.path("dsn"), "the connection string holds a password",
                 "remove the password from dsn and set password_env: (the name of an environment variable "
                 "holding it) or password_file: (a file holding it), so it stays out of the config, the "
                 "logs and error messages");
      } else if (auto why = dsn_parse_error(dsn); !why.empty()) {
        c.report(c.at(v->value), s.path("dsn"), "is not a valid libpq connection string: " + why,
                 std::string{"write key=value pairs or a postgresql:// URI, "} + dsn_example);
      } else {
        out.dsn = std::move(dsn);
      }
    }
  } else if (known_type) {
    c.missing(s, "dsn", std::string{"add dsn: with a libpq connection string, "} + dsn_example);
  }

  const entry* env = s.find("password_env");
  const entry* file = s.find("password_file");
  if (env != nullptr && c.text(*env, s.path("password_env"), out.password_env,
                               "give the name of an environment variable, e.g. PRISM_PG_PASSWORD")) {
    if (!valid_env_name(out.password_env)) {
      c.report(c.at(env->value), s.path("password_env"),
               quote(out.password_env) + " is not an environment variable name",
               "use letters, digits and '_', not starting with a digit, e.g. PRISM_PG_PASSWORD; give the "
               "variable's name, not the password");
      out.password_env.clear();
    }
  }
  if (file != nullptr)
    c.text(*file, s.path("password_file"), out.password_file,
           "give the path of a file whose first line is the password, e.g. /run/secrets/prism-pg");
  if (env != nullptr && file != nullptr) {
    const entry& later = after(c.at(file->key), c.at(env->key)) ? *file : *env;
    c.report(c.at(later.key), s.path(later.name), "password_env and password_file are both set",
             "keep one of them: the password comes either from an environment variable or from a file");
  }

  if (const entry* v = s.find("connect_timeout_ms"))
    c.number(*v, s.path(v->name), 1, 600000, out.connect_timeout_ms,
             "use 1..600000 milliseconds (up to 10 minutes) for one connection attempt");
  if (const entry* v = s.find("statement_timeout_ms"))
    c.number(*v, s.path(v->name), 0, 86400000, out.statement_timeout_ms,
             "use 0..86400000 milliseconds (up to 1 day; 0: no limit but the request's deadline)");
  if (const entry* v = s.find("idle_timeout_ms"))
    c.number(*v, s.path(v->name), 0, 86400000, out.idle_timeout_ms,
             "use 0..86400000 milliseconds (up to 1 day; 0: never close an idle connection)");
  if (const entry* v = s.find("max_lifetime_ms"))
    c.number(*v, s.path(v->name), 0, 86400000, out.max_lifetime_ms,
             "use 0..86400000 milliseconds (up to 1 day; 0: keep a connection as long as it works)");
}

/// True when every character of `text` is a letter, a digit or one of `extra`.
bool only_name_chars(const std::string& text, const char* extra) {
  return std::all_of(text.begin(), text.end(), [&](char ch) {
    return std::isalnum(static_cast<unsigned char>(ch)) || std::strchr(extra, ch) != nullptr;
  });
}

/// Settings Prism makes itself on its Kafka clients, which `properties`
/// may not change, with the reason.
const std::vector<std::pair<std::string, std::string>> kafka_fixed_properties = {
  {"bootstrap.servers", "set brokers: instead"},
  {"acks", "the producer always waits for all in-sync replicas (acks=all)"},
  {"request.required.acks", "the producer always waits for all in-sync replicas (acks=all)"},
  {"enable.idempotence", "the producer is always idempotent"},
  {"group.id", "named subscriptions choose their consumer group"},
  {"enable.auto.commit", "offsets are committed only for messages written to the subscriber"},
  {"enable.auto.offset.store", "offsets are committed only for messages written to the subscriber"},
  {"auto.offset.reset", "the subscriber's start position (LATEST or EARLIEST) decides"},
};

/// Reads the keys of a kafka backend from its section.
void check_kafka(checker& c, const section& s, bool known_type, kafka_options& out) {
  const char* brokers_hint = "give host:port of one or more brokers, e.g. brokers: 127.0.0.1:9092 or "
                             "brokers: [kafka-1:9092, kafka-2:9092]";
  if (const entry* v = s.find("brokers")) {
    std::vector<std::pair<YAML::Node, std::string>> items;
    if (v->value.IsSequence()) {
      for (size_t i = 0; i < v->value.size(); ++i) {
        YAML::Node item = v->value[i];
        if (!item.IsScalar() || item.Scalar().empty())
          c.report(c.at(item.IsNull() ? v->value : item), s.path("brokers") + "[" + std::to_string(i) + "]",
                   "expected host:port, got " + describe(item), brokers_hint);
        else
          items.emplace_back(item, item.Scalar());
      }
      if (v->value.size() == 0)
        c.report(c.at(v->value), s.path("brokers"), "lists no broker", brokers_hint);
    } else {
      std::string text;
      if (c.text(*v, s.path("brokers"), text, brokers_hint)) {
        size_t from = 0;
        while (from <= text.size()) {
          size_t comma = text.find(',', from);
          std::string one = text.substr(from, comma == std::string::npos ? std::string::npos : comma - from);
          while (!one.empty() && std::isspace(static_cast<unsigned char>(one.front())))
            one.erase(0, 1);
          while (!one.empty() && std::isspace(static_cast<unsigned char>(one.back())))
            one.pop_back();
          items.emplace_back(v->value, one);
          if (comma == std::string::npos)
            break;
          from = comma + 1;
        }
      }
    }
    std::vector<std::string> good;
    for (const auto& [node, one] : items) {
      std::string host;
      uint16_t port = 0;
      if (one.find("://") != std::string::npos || !split_host_port(one, host, port) || port == 0)
        c.report(c.at(node), s.path("brokers"), "broker address " + quote(one) + " is not host:port",
                 brokers_hint);
      else
        good.push_back(one);
    }
    if (good.size() == items.size() && !good.empty())
      out.brokers = join(good, ",");
  } else if (known_type) {
    c.missing(s, "brokers", std::string{"add brokers: with the bootstrap servers; "} + brokers_hint);
  }

  if (const entry* v = s.find("topic_prefix")) {
    if (v->value.IsScalar() && v->value.Scalar().empty()) {
      out.topic_prefix.clear();
    } else if (std::string prefix; c.text(*v, s.path("topic_prefix"), prefix, "e.g. topic_prefix: prism.")) {
      if (prefix.size() > 200 || !only_name_chars(prefix, "._-"))
        c.report(c.at(v->value), s.path("topic_prefix"), "invalid topic prefix " + quote(prefix),
                 "Kafka topic names use letters, digits, '.', '_' and '-'; keep the prefix under 200 characters, "
                 "e.g. prism.");
      else
        out.topic_prefix = prefix;
    }
  }
  if (const entry* v = s.find("partitions"))
    c.number(*v, s.path(v->name), 1, 10000, out.partitions,
             "use 1..10000 partitions for the topics Prism creates (order is kept per partition)");
  if (const entry* v = s.find("replication_factor")) {
    if (v->value.IsScalar() && v->value.Scalar() == "-1")
      out.replication_factor = -1;
    else
      c.number(*v, s.path(v->name), 1, 32767, out.replication_factor,
               "use 1..32767 replicas, or -1 for the brokers' default");
  }
  if (const entry* v = s.find("properties")) {
    section ps = c.open(v->value, s.path("properties"), c.at(v->key),
                        "a map from librdkafka property to value", "property");
    // librdkafka itself tells whether it knows a property and takes its
    // value, as it will when the backend starts.
    std::unique_ptr<rd_kafka_conf_t, void (*)(rd_kafka_conf_t*)> probe{rd_kafka_conf_new(),
                                                                      &rd_kafka_conf_destroy};
    for (const auto& p : ps.items) {
      auto fixed = std::find_if(kafka_fixed_properties.begin(), kafka_fixed_properties.end(),
                                [&](const auto& f) { return f.first == p.name; });
      if (fixed != kafka_fixed_properties.end()) {
        c.report(c.at(p.key), ps.path(p.name), quote(p.name) + " is set by Prism and cannot be changed",
                 "remove it: " + fixed->second);
        continue;
      }
      if (!p.value.IsScalar() || p.value.Scalar().empty()) {
        c.report(c.at_value(p), ps.path(p.name), "expected a value, got " + describe(p.value),
                 "librdkafka properties are strings, e.g. security.protocol: ssl");
        continue;
      }
      // Setting plugin.library.paths loads and runs the plugins: not while
      // checking a file.
      char why[512] = "";
      if (p.name != "plugin.library.paths"
          && rd_kafka_conf_set(probe.get(), p.name.c_str(), p.value.Scalar().c_str(), why, sizeof why)
               != RD_KAFKA_CONF_OK) {
        c.report(c.at_value(p), ps.path(p.name), std::string{"librdkafka refuses it: "} + why,
                 "see librdkafka's CONFIGURATION.md for its properties and their values");
        continue;
      }
      out.properties[p.name] = p.value.Scalar();
    }
  }
}

/// Reads the keys of a nats backend from its section.
void check_nats(checker& c, const section& s, bool known_type, nats_options& out) {
  const char* url_hint = "give nats://host:port, several separated by commas, e.g. url: nats://127.0.0.1:4222";
  if (const entry* v = s.find("url")) {
    std::string text;
    if (c.text(*v, s.path("url"), text, url_hint)) {
      bool ok = true;
      size_t from = 0;
      while (ok && from <= text.size()) {
        size_t comma = text.find(',', from);
        std::string one = text.substr(from, comma == std::string::npos ? std::string::npos : comma - from);
        std::string rest;
        for (const char* scheme : {"nats://", "tls://"})
          if (one.rfind(scheme, 0) == 0)
            rest = one.substr(std::strlen(scheme));
        std::string host;
        uint16_t port = 0;
        if (rest.find('@') != std::string::npos) {
          // Not repeated: it holds a secret.
          c.report(c.at(v->value), s.path("url"), "the url holds credentials",
                   "remove user:password@ or token@ from url and set token_env: to the name of an environment "
                   "variable holding the token, so it stays out of the config and the logs");
          ok = false;
        } else if (rest.empty() || !split_host_port(rest, host, port) || port == 0) {
          c.report(c.at(v->value), s.path("url"), "server URL " + quote(one) + " is not nats://host:port",
                   url_hint);
          ok = false;
        }
        if (comma == std::string::npos)
          break;
        from = comma + 1;
      }
      if (ok)
        out.url = text;
    }
  } else if (known_type) {
    c.missing(s, "url", std::string{"add url: with the server's address; "} + url_hint);
  }
  if (const entry* v = s.find("jetstream"))
    c.boolean(*v, s.path("jetstream"), out.jetstream,
              "write jetstream: true (stored messages, durable named subscriptions) or jetstream: false "
              "(core NATS only, at most once)");
  if (const entry* v = s.find("subject_prefix")) {
    std::string prefix;
    if (c.text(*v, s.path("subject_prefix"), prefix, "e.g. subject_prefix: prism")) {
      bool ok = only_name_chars(prefix, "._-") && prefix.front() != '.' && prefix.back() != '.'
                && prefix.find("..") == std::string::npos;
      if (!ok)
        c.report(c.at(v->value), s.path("subject_prefix"), "invalid subject prefix " + quote(prefix),
                 "use tokens of letters, digits, '_' and '-' separated by single dots, with no wildcards, "
                 "e.g. prism or apps.prism");
      else
        out.subject_prefix = prefix;
    }
  }
  if (const entry* v = s.find("stream_prefix")) {
    std::string prefix;
    if (c.text(*v, s.path("stream_prefix"), prefix, "e.g. stream_prefix: PRISM_")) {
      if (prefix.size() > 32 || !only_name_chars(prefix, "_-"))
        c.report(c.at(v->value), s.path("stream_prefix"), "invalid stream prefix " + quote(prefix),
                 "JetStream stream names use letters, digits, '_' and '-'; at most 32 characters, e.g. PRISM_");
      else
        out.stream_prefix = prefix;
    }
  }
  if (const entry* v = s.find("stream_max_age_ms"))
    c.number(*v, s.path(v->name), 0, uint64_t{10} * 365 * 24 * 3600 * 1000, out.stream_max_age_ms,
             "use 0..315360000000 milliseconds (up to 10 years; 0: keep messages forever)");
  if (const entry* v = s.find("stream_max_bytes"))
    c.number(*v, s.path(v->name), 0, uint64_t{1} << 50, out.stream_max_bytes,
             "use 0..1125899906842624 bytes (0: no limit)");
  if (const entry* v = s.find("connect_timeout_ms"))
    c.number(*v, s.path(v->name), 1, 600000, out.connect_timeout_ms,
             "use 1..600000 milliseconds (up to 10 minutes) for one connection attempt");
  if (const entry* v = s.find("token_env")) {
    if (c.text(*v, s.path("token_env"), out.token_env,
               "give the name of an environment variable, e.g. PRISM_NATS_TOKEN")
        && !valid_env_name(out.token_env)) {
      c.report(c.at(v->value), s.path("token_env"), quote(out.token_env) + " is not an environment variable name",
               "use letters, digits and '_', not starting with a digit, e.g. PRISM_NATS_TOKEN; give the "
               "variable's name, not the token");
      out.token_env.clear();
    }
  }
}

/// Reads one backend. `known_type` says whether its type could be read.
backend check_backend(checker& c, const entry& e, bool& known_type) {
  backend b;
  b.name = e.name;
  b.where = c.at(e.key);
  std::string field = "backends." + e.name;
  if (!valid_name(e.name, 64))
    c.report(c.at(e.key), field, "invalid backend name " + quote(e.name),
             std::string{"a backend name "} + name_rule + ", at most 64 characters");

  section s = c.open(e.value, field, c.at(e.key), "a map of backend settings");
  known_type = false;
  if (const entry* v = s.find("type")) {
    int index = c.choice(*v, s.path("type"), "backend type", backend_types);
    if (index >= 0) {
      b.type = static_cast<backend_type>(index);
      known_type = true;
    }
  } else {
    c.missing(s, "type", "add type: memory, sqlite or postgres (keyvalue), or memory, kafka or nats (pubsub)");
  }
  if (known_type && b.type == backend_type::sqlite)
    b.connections = defaults::sqlite_connections;
  else if (known_type && b.type == backend_type::postgres)
    b.connections = defaults::postgres_connections;
  else
    b.connections = defaults::memory_connections;

  // Keys of one backend type on another are reported as such; while the
  // type is unknown (already reported), every type's keys are accepted.
  auto allows = [&](backend_type t, const std::string& key) {
    auto keys = backend_keys(t);
    return std::find(keys.begin(), keys.end(), key) != keys.end();
  };
  bool sqlite_keys_ok = !known_type || b.type == backend_type::sqlite;
  bool postgres_keys_ok = !known_type || b.type == backend_type::postgres;
  bool memory_keys_ok = !known_type || b.type == backend_type::memory;
  bool kafka_keys_ok = !known_type || b.type == backend_type::kafka;
  bool nats_keys_ok = !known_type || b.type == backend_type::nats;
  bool connection_keys_ok = memory_keys_ok || sqlite_keys_ok || postgres_keys_ok;
  std::string kind = known_type ? std::string{to_string(b.type)} : std::string{};
  std::vector<std::string> recognised;
  for (auto t : all_backend_types)
    for (const auto& k : backend_keys(t))
      if (std::find(recognised.begin(), recognised.end(), k) == recognised.end())
        recognised.push_back(k);
  section unknown_only = s;
  unknown_only.items.clear();
  for (const auto& item : s.items) {
    const auto& k = item.name;
    if (std::find(recognised.begin(), recognised.end(), k) == recognised.end()) {
      unknown_only.items.push_back(item);
      continue;
    }
    if (!known_type || allows(b.type, k))
      continue;
    std::vector<std::string> owners;
    for (auto t : all_backend_types)
      if (allows(t, k))
        owners.emplace_back(to_string(t));
    std::string message = quote(k) + " is only valid on " + join_words(owners) + " backends";
    if (std::find(memory_only_keys.begin(), memory_only_keys.end(), k) != memory_only_keys.end())
      message += " (it sizes their pubsub topics)";
    message += ", and " + quote(e.name) + " is a " + kind + " backend";
    std::string hint;
    if (b.type == backend_type::postgres && std::find(sqlite_only_keys.begin(), sqlite_only_keys.end(), k)
                                              != sqlite_only_keys.end())
      hint = postgres_hint_for_sqlite_key(k);
    else if (std::find(connection_keys.begin(), connection_keys.end(), k) != connection_keys.end())
      hint = "remove it: a " + kind + " backend serves pubsub namespaces through one client, not a pool of "
             "connections";
    else if (std::find(memory_only_keys.begin(), memory_only_keys.end(), k) != memory_only_keys.end())
      hint = "remove it: a " + kind + " backend keeps its topics on its own servers";
    else
      hint = "remove it, or set type: " + owners.front();
    c.report(c.at(item.key), s.path(k), message, hint);
  }
  c.unknown_keys(unknown_only, known_type ? backend_keys(b.type) : recognised,
                 misplaced_supervision_keys(field, field));

  if (const entry* v = s.find("connections"); v && connection_keys_ok)
    c.number(*v, s.path(v->name), 1, defaults::connections_max, b.connections);
  if (const entry* v = s.find("max_pending"))
    c.number(*v, s.path(v->name), 0, 1000000, b.max_pending);
  if (const entry* v = s.find("mailbox_limit"))
    c.number(*v, s.path(v->name), 1, 1000000, b.mailbox_limit);
  if (const entry* v = s.find("ttl_sweep_interval_ms"); v && connection_keys_ok)
    c.number(*v, s.path(v->name), 10, 3600000, b.ttl_sweep_interval_ms,
             "use 10..3600000 milliseconds (10 ms to 1 hour)");

  if (memory_keys_ok) {
    if (const entry* v = s.find("topic_retained_messages"))
      c.number(*v, s.path(v->name), 1, 1000000, b.topic_retained_messages,
               "use 1..1000000 messages per topic");
    if (const entry* v = s.find("topic_retained_bytes"))
      c.number(*v, s.path(v->name), 1, uint64_t{1} << 36, b.topic_retained_bytes,
               "use 1..68719476736 bytes of payload per topic (up to 64 GiB)");
    if (const entry* v = s.find("max_topics"))
      c.number(*v, s.path(v->name), 1, 10000000, b.max_topics, "use 1..10000000 topics");
  }

  if (const entry* v = s.find("supervision"); v && connection_keys_ok)
    check_supervision(c, *v, field, b.supervision);
  if (const entry* v = s.find("circuit"))
    check_circuit(c, *v, field, b.circuit);

  if (sqlite_keys_ok) {
    if (const entry* v = s.find("path"))
      c.text(*v, s.path("path"), b.sqlite.path, "give the database file, e.g. ./data/prism.db");
    else if (known_type)
      c.missing(s, "path", "add path: with the database file, e.g. path: ./data/prism.db");
    if (const entry* v = s.find("synchronous")) {
      int index = c.choice(*v, s.path("synchronous"), "synchronous mode", synchronous_modes);
      if (index >= 0)
        b.sqlite.synchronous = static_cast<sqlite_synchronous>(index);
    }
    if (const entry* v = s.find("busy_timeout_ms"))
      c.number(*v, s.path(v->name), 0, 600000, b.sqlite.busy_timeout_ms,
               "use 0..600000 milliseconds (0 fails at once when the database is locked)");
  }
  if (postgres_keys_ok)
    check_postgres(c, s, known_type, b.postgres);
  if (kafka_keys_ok)
    check_kafka(c, s, known_type, b.kafka);
  if (nats_keys_ok)
    check_nats(c, s, known_type, b.nats);
  if (const entry* v = s.find("unavailable_after_ms"); v && (kafka_keys_ok || nats_keys_ok))
    c.number(*v, s.path(v->name), 100, 86400000, b.unavailable_after_ms,
             "use 100..86400000 milliseconds: how long the backend may be unreachable before subscriber "
             "streams end UNAVAILABLE");
  return b;
}

bool serves_pubsub(backend_type t) {
  return t == backend_type::memory || t == backend_type::kafka || t == backend_type::nats;
}
bool serves_keyvalue(backend_type t) { return t != backend_type::kafka && t != backend_type::nats; }

struct backend_info {
  bool known_type = false;
  backend_type type = backend_type::memory;
};

namespace_config check_namespace(checker& c, const entry& e, const std::map<std::string, backend_info>& backends,
                                 bool backends_readable) {
  namespace_config ns;
  ns.name = e.name;
  ns.where = c.at(e.key);
  std::string field = "namespaces." + e.name;
  if (!valid_name(e.name, defaults::namespace_name_max))
    c.report(c.at(e.key), field, "invalid namespace name " + quote(e.name),
             std::string{"a namespace name "} + name_rule + ", at most "
               + std::to_string(defaults::namespace_name_max) + " characters");

  section s = c.open(e.value, field, c.at(e.key), "a map of namespace settings");
  c.unknown_keys(s, namespace_keys,
                 {{"type", "a namespace has no type: set backend: to a backend, whose type applies"}});

  const entry* pattern_entry = s.find("pattern");
  bool pattern_ok = true;
  if (pattern_entry) {
    int index = c.choice(*pattern_entry, s.path("pattern"), "pattern", patterns);
    pattern_ok = index >= 0;
    if (pattern_ok)
      ns.pattern = static_cast<pattern>(index);
  }

  if (const entry* v = s.find("backend")) {
    std::vector<std::string> names;
    for (const auto& [name, info] : backends)
      names.push_back(name);
    if (c.text(*v, s.path("backend"), ns.backend, "name one of the backends")) {
      auto found = backends.find(ns.backend);
      if (found == backends.end()) {
        if (backends_readable)
          c.report(c.at(v->value), s.path("backend"), "unknown backend " + quote(ns.backend),
                   names.empty() ? "define it under backends:"
                                 : "define it under backends: or use one of: " + join(names));
      } else if (pattern_ok && ns.pattern == pattern::pubsub && found->second.known_type
                 && !serves_pubsub(found->second.type)) {
        c.report(c.at(pattern_entry->value), s.path("pattern"),
                 "pattern pubsub needs a memory, kafka or nats backend, but backend " + quote(ns.backend) + " is "
                   + std::string{to_string(found->second.type)} + ", which cannot serve pubsub",
                 "point backend: at a memory, kafka or nats backend, or use pattern: keyvalue");
      } else if (found->second.known_type
                 && (found->second.type == backend_type::kafka || found->second.type == backend_type::nats)
                 && e.name.find('.') != std::string::npos) {
        std::string dashed = e.name;
        std::replace(dashed.begin(), dashed.end(), '.', '-');
        c.report(c.at(e.key), field,
                 "namespace name " + quote(e.name) + " has a '.', which a "
                   + std::string{to_string(found->second.type)}
                   + " backend cannot keep apart from its topic names (namespace \"a\" with topic \"b.c\" "
                     "and namespace \"a.b\" with topic \"c\" would share one)",
                 "rename it without '.', e.g. " + quote(dashed));
      } else if (pattern_ok && ns.pattern == pattern::keyvalue && found->second.known_type
                 && !serves_keyvalue(found->second.type)) {
        c.report(pattern_entry ? c.at(pattern_entry->value) : c.at(v->value),
                 s.path(pattern_entry ? "pattern" : "backend"),
                 "backend " + quote(ns.backend) + " is " + std::string{to_string(found->second.type)}
                   + ", which serves only pubsub namespaces, and this namespace is "
                   + (pattern_entry ? "keyvalue" : "keyvalue (the default pattern)"),
                 "add pattern: pubsub, or point backend: at a memory, sqlite or postgres backend");
      }
    }
  } else {
    c.missing(s, "backend", "add backend: with the name of a backend defined under backends:");
  }

  if (const entry* v = s.find("max_value_bytes"))
    c.number(*v, s.path(v->name), 1, defaults::max_value_bytes_limit, ns.max_value_bytes,
             "use 1.." + std::to_string(defaults::max_value_bytes_limit) + " bytes (at most 64 MiB)");

  if (const entry* v = s.find("subscription_buffer")) {
    if (pattern_ok && ns.pattern != pattern::pubsub)
      c.report(c.at(v->key), s.path(v->name), "subscription_buffer applies only to pubsub namespaces",
               "remove it, or set pattern: pubsub");
    else
      c.number(*v, s.path(v->name), 1, 65536, ns.subscription_buffer,
               "use 1..65536 messages per subscriber stream");
  }

  if (const entry* v = s.find("access")) {
    section as = c.open(v->value, s.path("access"), c.at(v->key), "a map of read, write and admin lists");
    c.unknown_keys(as, access_keys);
    if (const entry* r = as.find("read"))
      ns.access.read = name_list(c, *r, as.path("read"), "principals or groups");
    if (const entry* w = as.find("write"))
      ns.access.write = name_list(c, *w, as.path("write"), "principals or groups");
    if (const entry* a = as.find("admin"))
      ns.access.admin = name_list(c, *a, as.path("admin"), "principals or groups");
  }

  if (const entry* v = s.find("redact_keys"))
    c.boolean(*v, s.path("redact_keys"), ns.redact_keys,
              "write redact_keys: true to keep keys out of the audit log (their SHA-256 is written instead)");

  if (const entry* v = s.find("rate_limit")) {
    section rs = c.open(v->value, s.path("rate_limit"), c.at(v->key), "a map of rate, burst and per_principal");
    c.unknown_keys(rs, rate_limit_keys);
    auto bucket = [&](const section& b, rate_limit& out) {
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
    };
    if (rs.valid && (rs.find("rate") || rs.find("burst")))
      bucket(rs, ns.namespace_rate);
    if (const entry* p = rs.find("per_principal")) {
      section ps = c.open(p->value, rs.path("per_principal"), c.at(p->key), "a map of rate and burst");
      c.unknown_keys(ps, bucket_keys);
      bucket(ps, ns.principal_rate);
    }
  }

  if (const entry* v = s.find("slow_subscriber")) {
    if (pattern_ok && ns.pattern != pattern::pubsub) {
      c.report(c.at(v->key), s.path(v->name), "slow_subscriber applies only to pubsub namespaces",
               "remove it, or set pattern: pubsub");
    } else {
      int index = c.choice(*v, s.path(v->name), "slow subscriber policy", slow_subscriber_policies);
      if (index >= 0)
        ns.disconnect_slow_subscribers = index == 1;
    }
  }

  if (const entry* v = s.find("middleware")) {
    std::string mfield = s.path("middleware");
    std::string stages = "known stages: " + join(known_stages());
    if (v->value.IsNull()) {
      c.report(c.at_value(*v), mfield, "has no value; expected a list of stages",
               "write middleware: [] to run no stages, or leave the key out for [metrics, audit]");
    } else if (!v->value.IsSequence()) {
      c.report(c.at(v->value), mfield, "expected a list of stages, got " + describe(v->value),
               "write a list, e.g. middleware: [metrics, audit]");
    } else {
      std::vector<std::string> list;
      bool ok = true;
      for (size_t i = 0; i < v->value.size(); ++i) {
        const YAML::Node item = v->value[i];
        std::string ifield = mfield + "[" + std::to_string(i) + "]";
        if (!item.IsScalar()) {
          c.report(c.at(item.IsNull() ? v->value : item), ifield,
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
          c.report(c.at(item), ifield, "middleware stage " + quote(stage) + " is listed twice",
                   "a stage runs once per request; remove the second " + quote(stage));
          ok = false;
        } else {
          list.push_back(stage);
        }
      }
      if (ok)
        ns.middleware = std::move(list);
    }
  }

  // After middleware:, which decides whether there is an audit stage.
  if (const entry* v = s.find("audit_required")) {
    if (c.boolean(*v, s.path("audit_required"), ns.audit_required,
                  "write audit_required: true to refuse requests the audit log has no room for")
        && ns.audit_required
        && std::find(ns.middleware.begin(), ns.middleware.end(), "audit") == ns.middleware.end())
      c.report(c.at_value(*v), s.path("audit_required"),
               "needs the audit stage, which this namespace's middleware does not list",
               "add audit to middleware:, or remove audit_required");
  }
  return ns;
}

/// Access lists name principals and groups that auth: defines, and only
/// when auth is on.
void check_access_names(checker& c, const section& namespaces, const gateway_config& cfg) {
  const auto& auth = cfg.auth;
  auto known = [&](const std::string& name) {
    return auth.mode == auth_mode::mtls || auth.token_hashes.count(name) || auth.groups.count(name);
  };
  for (const auto& e : namespaces.items) {
    auto found = cfg.namespaces.find(e.name);
    if (found == cfg.namespaces.end() || !e.value.IsMap() || !e.value["access"])
      continue;
    const auto& access = found->second.access;
    std::string field = "namespaces." + e.name + ".access";
    if (!auth.enabled()) {
      c.report(c.at(e.value["access"]), field, "access rules apply only with auth.mode token or mtls",
               "set auth: {mode: token, tokens: ...}, or remove access:");
      continue;
    }
    for (auto [list, kind] : {std::pair{&access.read, "read"}, std::pair{&access.write, "write"},
                              std::pair{&access.admin, "admin"}})
      for (const auto& name : *list)
        if (!known(name))
          c.report(c.at(e.value["access"]), field + "." + kind, "unknown principal or group " + quote(name),
                   "define it under auth.tokens:, auth.token_file or auth.groups:");
  }
}

/// auth.mode mtls needs TLS with a client CA; a client CA without mtls would
/// verify certificates that nothing then uses.
void check_client_certificates(checker& c, const section& root, const gateway_config& cfg) {
  const entry* auth = root.find("auth");
  const entry* server = root.find("server");
  const auto& tls = cfg.server.tls;
  if (cfg.auth.mode == auth_mode::mtls && tls.client_ca_file.empty()) {
    YAML::Node mode = auth && auth->value.IsMap() ? auth->value["mode"] : YAML::Node{};
    c.report(mode ? c.at(mode) : root.where, "auth.mode",
             "auth mode mtls needs TLS on the gRPC listener with a CA for client certificates",
             "set server.tls: {cert_file: ..., key_file: ..., client_ca_file: ...}");
  }
  if (cfg.auth.mode != auth_mode::mtls && !tls.client_ca_file.empty() && server && server->value.IsMap()) {
    YAML::Node ca = server->value["tls"]["client_ca_file"];
    c.report(c.at(ca), "server.tls.client_ca_file", "client certificates are checked only with auth.mode: mtls",
             "set auth: {mode: mtls}, or remove client_ca_file:");
  }
}

void check_document(checker& c, const YAML::Node& root, gateway_config& cfg) {
  location top = c.at(root);
  if (!root.IsMap()) {
    c.report(top, "", "the config must be a map of sections, got " + describe(root),
             "start with top-level keys: " + join(root_keys));
    return;
  }
  section s = c.open(root, "", top, "a map of sections");
  c.unknown_keys(s, root_keys,
                 {{"listen", "it belongs under server:"},
                  {"admin", "it belongs under server:"},
                  {"scheduler", "it belongs under server:"},
                  {"supervision", "it belongs under backends.<name>: (each backend has its own)"},
                  {"circuit", "it belongs under backends.<name>: (each backend has its own)"}});

  if (const entry* e = s.find("server")) {
    check_server(c, *e, cfg.server);
    cfg.server_source = YAML::Dump(e->value);
  }
  if (const entry* e = s.find("audit")) {
    check_audit(c, *e, cfg.audit);
    cfg.audit_source = YAML::Dump(e->value);
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
    c.missing(s, "backends", "add a backends: map, e.g. backends: {mem: {type: memory}}");
  } else {
    section bs = c.open(backends_entry->value, "backends", c.at(backends_entry->key),
                        "a map from backend name to its settings", "backend");
    backends_readable = bs.valid;
    if (bs.valid && bs.items.empty())
      c.report(c.at_value(*backends_entry), "backends", "no backends defined",
               "define at least one, e.g. mem: {type: memory}");
    for (const auto& e : bs.items) {
      bool known_type = false;
      backend b = check_backend(c, e, known_type);
      b.source = YAML::Dump(e.value);
      infos[e.name] = {known_type, b.type};
      cfg.backends[e.name] = std::move(b);
    }
    // The audit log appends text to its file: to a SQLite database, or to
    // the journal files SQLite keeps beside it, it would corrupt it.
    std::error_code ec;
    auto audit_file = std::filesystem::weakly_canonical(cfg.audit.path, ec);
    for (const auto& [name, b] : cfg.backends) {
      if (ec || b.type != backend_type::sqlite || b.sqlite.path.empty())
        continue;
      std::error_code ec2;
      auto db_file = std::filesystem::weakly_canonical(b.sqlite.path, ec2).string();
      if (ec2)
        continue;
      for (const char* suffix : {"", "-wal", "-shm", "-journal"})
        if (audit_file == db_file + suffix) {
          std::string which = *suffix ? " (its " + std::string{suffix + 1} + " file)" : "";
          c.report(b.where, "backends." + name + ".path",
                   "SQLite database " + quote(b.sqlite.path) + which + " shares the audit log's file (audit.path "
                     + quote(cfg.audit.path) + ")",
                   "give the database and the audit log files of their own");
          break;
        }
    }
  }

  const entry* namespaces_entry = s.find("namespaces");
  if (!namespaces_entry) {
    c.missing(s, "namespaces", "add a namespaces: map, e.g. namespaces: {default: {backend: mem}}");
  } else {
    section ns = c.open(namespaces_entry->value, "namespaces", c.at(namespaces_entry->key),
                        "a map from namespace name to its settings", "namespace");
    if (ns.valid && ns.items.empty())
      c.report(c.at_value(*namespaces_entry), "namespaces", "no namespaces defined",
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
  static const std::vector<std::string> stages = {"metrics", "audit"};
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
      int column = e.mark.is_null() || e.mark.column < 0 ? 1 : e.mark.column + 1;
      c.report({file, line, column}, "", "YAML syntax error: " + e.msg,
               "check indentation (spaces, not tabs), ':' after keys, and closing quotes and brackets");
      result.problems = std::move(c.problems);
      return result;
    }
    if (second)
      c.report({file, second->line + 1, second->column + 1}, "", "the file holds more than one YAML document",
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
    c.report({file, 1, 1}, "", std::string{"cannot read the config: "} + e.what(), "");
  }
  result.problems = std::move(c.problems);
  std::stable_sort(result.problems.begin(), result.problems.end(), [](const problem& a, const problem& b) {
    return std::tie(a.where.line, a.where.column) < std::tie(b.where.line, b.where.column);
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
      return unreadable("it holds more than " + std::to_string(config_bytes_max >> 20)
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
    out += ":" + std::to_string(p.where.line) + ":" + std::to_string(p.where.column);
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
  out << "config OK: " << cfg.namespaces.size() << (cfg.namespaces.size() == 1 ? " namespace (" : " namespaces (");
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
  out << "), " << cfg.backends.size() << (cfg.backends.size() == 1 ? " backend" : " backends") << ", listen "
      << cfg.server.listen << ", admin " << cfg.server.admin;
  return out.str();
}

bool split_host_port(const std::string& text, std::string& host, uint16_t& port) {
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
    case backend_type::sqlite:
      return "sqlite";
    case backend_type::postgres:
      return "postgres";
    case backend_type::kafka:
      return "kafka";
    case backend_type::nats:
      return "nats";
    default:
      return "memory";
  }
}

std::string_view to_string(config::pattern p) noexcept { return p == pattern::pubsub ? "pubsub" : "keyvalue"; }

std::string_view to_string(sqlite_synchronous mode) noexcept {
  return mode == sqlite_synchronous::normal ? "normal" : "full";
}

std::string_view to_string(supervision_strategy s) noexcept {
  switch (s) {
    case supervision_strategy::one_for_all:
      return "one_for_all";
    case supervision_strategy::rest_for_one:
      return "rest_for_one";
    default:
      return "one_for_one";
  }
}

} // namespace prism::config
