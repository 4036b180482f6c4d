#include "console/command_support.hpp"

#include <algorithm>
#include <cctype>
#include <ostream>

#include "console/format.hpp"

namespace prism::console {

std::string parsed_args::value(const std::string& flag,
                               const std::string& fallback) const {
  auto it = flags.find(flag);
  return it == flags.end() ? fallback : it->second;
}

std::optional<parsed_args> parse_args(context& ctx, const std::string& name,
                                      const std::vector<std::string>& args,
                                      const std::vector<std::string>& flags,
                                      size_t positional_max) {
  parsed_args parsed;
  for (size_t i = 0; i < args.size(); ++i) {
    const auto& word = args[i];
    if (word.size() < 2 || word[0] != '-') {
      parsed.positional.push_back(word);
      continue;
    }
    auto equals = word.find('=');
    std::string flag = word.substr(0, equals);
    if (std::find(flags.begin(), flags.end(), flag) == flags.end()) {
      std::string known;
      for (const auto& f : flags)
        known += (known.empty() ? "" : ", ") + f;
      ctx.usage(
        name,
        "unknown flag " + flag
          + (known.empty() ? "; it takes no flags" : "; it takes " + known));
      return std::nullopt;
    }
    if (equals != std::string::npos) {
      parsed.flags[flag] = word.substr(equals + 1);
    } else if (i + 1 < args.size()) {
      parsed.flags[flag] = args[++i];
    } else {
      ctx.usage(name, flag + " needs a value");
      return std::nullopt;
    }
  }
  if (parsed.positional.size() > positional_max) {
    ctx.usage(name,
              positional_max == 0
                ? "takes no arguments, got \"" + parsed.positional[0] + "\""
                : "too many arguments: \"" + parsed.positional[positional_max]
                  + "\"");
    return std::nullopt;
  }
  return parsed;
}

std::optional<uint64_t> duration_flag(context& ctx, const std::string& name,
                                      const parsed_args& args,
                                      const std::string& flag,
                                      uint64_t fallback_ms, uint64_t max_ms) {
  if (!args.has(flag))
    return fallback_ms;
  auto text = args.value(flag);
  auto ms = parse_duration_ms(text);
  if (!ms || *ms > max_ms) {
    ctx.usage(name,
              flag + " takes a duration up to " + human_ms(double(max_ms))
                + " such as 500ms, 5s or 2m, not \"" + text + "\"");
    return std::nullopt;
  }
  return ms;
}

std::optional<uint64_t> number_flag(context& ctx, const std::string& name,
                                    const parsed_args& args,
                                    const std::string& flag, uint64_t fallback,
                                    uint64_t min, uint64_t max) {
  if (!args.has(flag))
    return fallback;
  auto text = args.value(flag);
  auto n = parse_whole(text);
  if (!n || *n < min || *n > max) {
    ctx.usage(name,
              flag + " takes a whole number from " + std::to_string(min)
                + " to " + std::to_string(max) + ", not \"" + text + "\"");
    return std::nullopt;
  }
  return n;
}

double number(const nlohmann::json& object, const char* key) {
  if (!object.is_object())
    return 0;
  auto it = object.find(key);
  return it != object.end() && it->is_number() ? it->get<double>() : 0;
}

uint64_t whole(const nlohmann::json& object, const char* key) {
  if (!object.is_object())
    return 0;
  auto it = object.find(key);
  if (it == object.end() || !it->is_number())
    return 0;
  if (it->is_number_unsigned())
    return it->get<uint64_t>();
  double value = it->get<double>();
  return value > 0 ? static_cast<uint64_t>(value) : 0;
}

std::string text_of(const nlohmann::json& object, const char* key) {
  if (!object.is_object())
    return "";
  auto it = object.find(key);
  if (it == object.end() || it->is_null())
    return "";
  return it->is_string() ? it->get<std::string>() : it->dump();
}

std::string label_of(const nlohmann::json& actor) {
  auto kind = text_of(actor, "kind");
  auto name = text_of(actor, "name");
  return name.empty() ? kind : kind + ":" + name;
}

std::string label_and_id(const nlohmann::json& actor) {
  return label_of(actor) + " (" + std::to_string(whole(actor, "id")) + ")";
}

std::optional<uint64_t> resolve_actor(context& ctx, const std::string& name,
                                      const std::string& who) {
  if (auto id = parse_whole(who))
    return id;
  auto answer = ctx.get("/debug/actors", false);
  if (!answer.ok()) {
    ctx.fail(name, ctx.failure(answer, "GET", "/debug/actors"));
    return std::nullopt;
  }
  const auto& actors = answer.body["actors"];
  std::vector<const nlohmann::json*> by_label;
  std::vector<const nlohmann::json*> by_name;
  std::vector<std::string> labels;
  if (actors.is_array())
    for (const auto& actor : actors) {
      labels.push_back(label_of(actor));
      if (labels.back() == who)
        by_label.push_back(&actor);
      if (text_of(actor, "name") == who)
        by_name.push_back(&actor);
    }
  const auto& found = by_label.empty() ? by_name : by_label;
  if (found.size() == 1)
    return whole(*found.front(), "id");
  if (found.size() > 1) {
    std::string some;
    for (size_t i = 0; i < found.size() && i < 5; ++i)
      some += (i == 0 ? "" : ", ") + label_and_id(*found[i]);
    ctx.fail(name,
             std::to_string(found.size()) + " actors are called \"" + who
               + "\": " + some + (found.size() > 5 ? ", ..." : "")
               + "; give a kind:name label or an id");
    return std::nullopt;
  }
  auto near = closest(who, labels);
  ctx.fail(name,
           "no actor is called \"" + who + "\""
             + (near.empty() ? "" : "; did you mean " + near + "?")
             + " (`tree` lists them)");
  return std::nullopt;
}

std::string path_segment(const std::string& text) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : text) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~'
        || c == ':')
      out += static_cast<char>(c);
    else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

void fields::add(const std::string& key, const std::string& value) {
  rows_.emplace_back(key, value);
}

std::string fields::render() const {
  size_t width = 0;
  for (const auto& row : rows_)
    width = std::max(width, display_width(row.first));
  std::string text;
  if (!title_.empty())
    text += title_ + "\n";
  std::string indent = title_.empty() ? "" : "  ";
  for (const auto& row : rows_)
    text += indent + row.first
      + std::string(width - display_width(row.first) + 2, ' ') + row.second
      + "\n";
  return text;
}

const std::vector<std::string>& log_levels() {
  static const std::vector<std::string> levels{
    "trace", "debug", "info", "warn", "error", "critical", "off"};
  return levels;
}

const std::vector<std::string>& top_sort_keys() {
  static const std::vector<std::string> keys{"mailbox", "hwm",      "rate",
                                             "busy",    "restarts", "rejected"};
  return keys;
}

} // namespace prism::console
