// step, back and goto: moving through a recorded simulation run (the
// source answers /run/...; see src/console/source.hpp).

#include <ostream>

#include "console/command_support.hpp"
#include "console/format.hpp"

namespace prism::console {

namespace {

constexpr uint64_t steps_max = 1000000000;

/// "stage:metrics run: completed c3-5" for a trace line; other shapes as
/// they are.
std::string event_text(const nlohmann::json& event) {
  if (event.is_string())
    return event.get<std::string>();
  if (event.is_object() && event.contains("event"))
    return text_of(event, "actor") + " " + text_of(event, "event") + ": "
      + text_of(event, "message");
  return event.dump();
}

outcome move(context& ctx, const std::string& name, const std::string& path) {
  auto answer = ctx.post(path);
  if (!answer.ok())
    return ctx.fail(name, ctx.failure(answer, "POST", path));
  const auto& at = answer.body;
  double t_ms = number(at, "t_ms");
  auto& out = ctx.text();
  out << "step " << whole(at, "step") << " of " << whole(at, "steps") << " at "
      << (t_ms < 1 ? "0 ms" : human_ms(t_ms)) << ": " << event_text(at["event"])
      << "\n";
  // What the run says of the move: where a time landed, a step shown as of
  // its group's end, the end of the run.
  if (!text_of(at, "note").empty())
    out << "(" << text_of(at, "note") << ")\n";
  if (at.contains("at_end") && at["at_end"].is_boolean()
      && at["at_end"].get<bool>())
    out << "(the end of the run)\n";
  return outcome::ok;
}

outcome move_by(context& ctx, const std::string& name, const char* verb,
                const std::vector<std::string>& args) {
  auto parsed = parse_args(ctx, name, args, {}, 1);
  if (!parsed)
    return outcome::usage;
  uint64_t n = 1;
  if (!parsed->positional.empty()) {
    auto given = parse_whole(parsed->positional[0]);
    if (!given || *given == 0 || *given > steps_max)
      return ctx.usage(name,
                       "takes a number of steps (1 or more), not \""
                         + parsed->positional[0] + "\"");
    n = *given;
  }
  return move(ctx, name, std::string("/run/") + verb + "/" + std::to_string(n));
}

} // namespace

outcome run_step(context& ctx, const std::vector<std::string>& args) {
  return move_by(ctx, "step", "step", args);
}

outcome run_back(context& ctx, const std::vector<std::string>& args) {
  return move_by(ctx, "back", "back", args);
}

outcome run_goto(context& ctx, const std::vector<std::string>& args) {
  auto parsed = parse_args(ctx, "goto", args, {}, 1);
  if (!parsed)
    return outcome::usage;
  if (parsed->positional.empty())
    return ctx.usage("goto", "needs a step (120) or a virtual time (300ms)");
  const auto& where = parsed->positional[0];
  if (auto step = parse_whole(where))
    return move(ctx, "goto", "/run/goto/" + std::to_string(*step));
  // A virtual time: "300ms" (0ms too), "2s", "1.5s", "1m".
  bool in_ms = where.size() > 2
    && where.compare(where.size() - 2, 2, "ms") == 0;
  auto ms = in_ms ? parse_whole(where.substr(0, where.size() - 2))
                  : (where.find_first_not_of("0123456789.") != std::string::npos
                       ? parse_duration_ms(where)
                       : std::nullopt);
  if (!ms)
    return ctx.usage("goto",
                     "takes a step number (120) or a virtual time "
                     "(300ms, 2s), not \""
                       + where + "\"");
  return move(ctx, "goto", "/run/goto/" + std::to_string(*ms) + "ms");
}

} // namespace prism::console
