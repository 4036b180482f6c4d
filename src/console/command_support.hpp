#pragma once

// What the console's commands share: flag parsing, reading numbers out of
// the admin JSON, finding an actor by id or name. Internal to
// src/console.

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "console/commands.hpp"

namespace prism::console {

/// A command's words split into positional arguments and flags.
struct parsed_args {
  std::vector<std::string> positional;
  std::map<std::string, std::string> flags;

  bool has(const std::string& flag) const { return flags.count(flag) > 0; }
  std::string value(const std::string& flag,
                    const std::string& fallback = "") const;
};

/// Splits `args` by the flags `name` takes (each takes a value, as
/// "--sort mailbox" or "--sort=mailbox"); reports an unknown flag, a flag
/// without its value or more than `positional_max` arguments as a usage
/// error naming it.
std::optional<parsed_args> parse_args(context& ctx, const std::string& name,
                                      const std::vector<std::string>& args,
                                      const std::vector<std::string>& flags,
                                      size_t positional_max);

/// A flag's duration ("--window 5s"), or `fallback` when it is absent;
/// nullopt (after a usage error naming the flag) when it does not parse.
std::optional<uint64_t> duration_flag(context& ctx, const std::string& name,
                                      const parsed_args& args,
                                      const std::string& flag,
                                      uint64_t fallback_ms, uint64_t max_ms);
/// A flag's whole number from `min` to `max`, like duration_flag.
std::optional<uint64_t> number_flag(context& ctx, const std::string& name,
                                    const parsed_args& args,
                                    const std::string& flag, uint64_t fallback,
                                    uint64_t min, uint64_t max);

/// A field as a number (0 when absent or not a number).
double number(const nlohmann::json& object, const char* key);
uint64_t whole(const nlohmann::json& object, const char* key);
/// A field as a string ("" when absent; numbers are written out).
std::string text_of(const nlohmann::json& object, const char* key);

/// "kind:name" of an actor (the kind alone when it has no name).
std::string label_of(const nlohmann::json& actor);
/// "pool:mem (12)".
std::string label_and_id(const nlohmann::json& actor);

/// The id of the actor `who` names: a number, a "kind:name" label or a
/// bare name that only one actor has. Writes the problem (with the closest
/// label) to err and returns nullopt when there is none or several.
std::optional<uint64_t> resolve_actor(context& ctx, const std::string& name,
                                      const std::string& who);

/// `text` percent-encoded for one path segment.
std::string path_segment(const std::string& text);

/// Key: value lines with the keys aligned, under an optional title.
class fields {
public:
  explicit fields(std::string title = "") : title_(std::move(title)) {}
  void add(const std::string& key, const std::string& value);
  std::string render() const;

private:
  std::string title_;
  std::vector<std::pair<std::string, std::string>> rows_;
};

/// Waits until `probe` holds, polling every `interval`, until `timeout`
/// passes or Ctrl-C; returns whether it held.
template <class Probe>
bool poll_until(context& ctx, std::chrono::milliseconds interval,
                std::chrono::milliseconds timeout, Probe probe) {
  auto deadline = ctx.now() + timeout;
  for (;;) {
    if (probe())
      return true;
    if (ctx.interrupted() || ctx.now() >= deadline)
      return false;
    ctx.sleep(interval);
  }
}

// The handlers, by area.
outcome run_tree(context&, const std::vector<std::string>&);
outcome run_top(context&, const std::vector<std::string>&);
outcome run_info(context&, const std::vector<std::string>&);
outcome run_kill(context&, const std::vector<std::string>&);
outcome run_pools(context&, const std::vector<std::string>&);
outcome run_pool(context&, const std::vector<std::string>&);
outcome run_ns(context&, const std::vector<std::string>&);
outcome run_clients(context&, const std::vector<std::string>&);
outcome run_slowlog(context&, const std::vector<std::string>&);
outcome run_follow(context&, const std::vector<std::string>&);
outcome run_trace(context&, const std::vector<std::string>&);
outcome run_warnings(context&, const std::vector<std::string>&);
outcome run_config(context&, const std::vector<std::string>&);
outcome run_log(context&, const std::vector<std::string>&);
outcome run_stats(context&, const std::vector<std::string>&);
outcome run_step(context&, const std::vector<std::string>&);
outcome run_back(context&, const std::vector<std::string>&);
outcome run_goto(context&, const std::vector<std::string>&);
outcome run_mailbox(context&, const std::vector<std::string>&);

/// Log levels `log level` takes, as the gateway names them.
const std::vector<std::string>& log_levels();
/// Keys `top --sort` takes.
const std::vector<std::string>& top_sort_keys();

} // namespace prism::console
