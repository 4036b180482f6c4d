// slowlog, follow and trace: single requests and the messages actors
// handle, over /debug/slowlog, /debug/follow and /debug/trace.

#include <algorithm>
#include <iterator>
#include <ostream>
#include <vector>

#include "console/command_support.hpp"
#include "console/format.hpp"

namespace prism::console {

namespace {

using nlohmann::json;

constexpr uint64_t slowlog_threshold_ms_max = 3600000;
constexpr uint64_t follow_for_ms_default = 60000;
constexpr uint64_t follow_for_ms_max = 3600000;
constexpr std::chrono::milliseconds follow_poll_interval{100};
constexpr uint64_t trace_max_default = 100;
constexpr uint64_t trace_max_max = 10000;
constexpr uint64_t trace_for_ms_default = 10000;
constexpr uint64_t trace_for_ms_max = 600000;
constexpr std::chrono::milliseconds trace_poll_interval{100};
/// How long past its own --for the console waits for a tap to say it
/// stopped, before it stops the tap itself.
constexpr std::chrono::milliseconds trace_grace{5000};
/// Widths of a trace's columns (at, actor, message, handler), so that
/// batches printed apart line up.
constexpr size_t trace_columns_min[] = {9, 28, 24, 8};

/// "session 12 µs | stage:rate_limit 9 µs | ..."
std::string hops_line(const json& hops) {
  std::string line;
  if (hops.is_array())
    for (const auto& hop : hops)
      line += (line.empty() ? "" : " | ") + text_of(hop, "name") + " "
        + human_us(number(hop, "us"));
  return line;
}

} // namespace

// --- slowlog ----------------------------------------------------------------

outcome run_slowlog(context& ctx, const std::vector<std::string>& args) {
  auto parsed = parse_args(ctx, "slowlog", args, {}, 2);
  if (!parsed)
    return outcome::usage;
  const auto& words = parsed->positional;
  std::string verb = words.empty() ? "get" : words[0];
  if (verb == "reset") {
    if (words.size() > 1)
      return ctx.usage("slowlog", "`slowlog reset` takes no argument");
    if (ctx.src.recorded())
      return ctx.fail("slowlog", "a recorded run has no slow log to reset");
    auto answer = ctx.post("/debug/slowlog/reset");
    if (!answer.ok())
      return ctx.fail("slowlog",
                      ctx.failure(answer, "POST", "/debug/slowlog/reset"));
    ctx.text() << "slow log cleared (" << whole(answer.body, "recorded")
               << " recorded since start)\n";
    return outcome::ok;
  }
  if (verb == "threshold") {
    if (words.size() < 2)
      return ctx.usage("slowlog",
                       "`slowlog threshold` needs milliseconds "
                       "(0 to 3600000)");
    auto ms = parse_whole(words[1]);
    if (!ms || *ms > slowlog_threshold_ms_max)
      return ctx.usage("slowlog",
                       "the threshold is a whole number of "
                       "milliseconds from 0 to 3600000, not \""
                         + words[1] + "\"");
    if (ctx.src.recorded())
      return ctx.fail("slowlog", "a recorded run has no threshold to set");
    auto path = "/debug/slowlog/threshold/" + std::to_string(*ms);
    auto answer = ctx.post(path);
    if (!answer.ok())
      return ctx.fail("slowlog", ctx.failure(answer, "POST", path));
    ctx.text() << "slow log threshold: " << whole(answer.body, "threshold_ms")
               << " ms (calls at least this slow are recorded from now on)\n";
    return outcome::ok;
  }
  if (verb != "get")
    return ctx.usage("slowlog",
                     "unknown word \"" + verb
                       + "\"; use get N, reset or threshold MS");
  size_t limit = SIZE_MAX;
  if (words.size() > 1) {
    auto n = parse_whole(words[1]);
    if (!n || *n == 0)
      return ctx.usage("slowlog",
                       "`slowlog get` takes a number of entries "
                       "(1 or more), not \""
                         + words[1] + "\"");
    limit = static_cast<size_t>(*n);
  }
  auto answer = ctx.get("/debug/slowlog");
  if (!answer.ok())
    return ctx.fail("slowlog", ctx.failure(answer, "GET", "/debug/slowlog"));
  const auto& body = answer.body;
  const auto& entries = body["entries"];
  size_t shown = entries.is_array() ? std::min(entries.size(), limit) : 0;
  auto& out = ctx.text();
  out << "slow log: " << (entries.is_array() ? entries.size() : 0)
      << " entries kept of " << whole(body, "capacity") << ", threshold "
      << whole(body, "threshold_ms") << " ms, " << whole(body, "recorded")
      << " recorded since start";
  if (shown < entries.size())
    out << "; the newest " << shown;
  out << "\n";
  if (shown == 0)
    return outcome::ok;
  table t({{"AGO", table::align::right, false},
           {"NAMESPACE", table::align::left, true},
           {"OPERATION", table::align::left, false},
           {"CODE", table::align::left, false},
           {"TOTAL", table::align::right, false},
           {"PEER", table::align::left, true},
           {"REQUEST ID", table::align::left, true}});
  for (size_t i = 0; i < shown; ++i) {
    const auto& e = entries[i];
    t.add({human_ms(number(e, "ago_ms")), text_of(e, "namespace"),
           text_of(e, "operation"), text_of(e, "code"),
           human_us(number(e, "total_us")), text_of(e, "peer"),
           text_of(e, "request_id")});
  }
  auto lines = t.lines(ctx.width);
  out << lines[0] << "\n";
  for (size_t i = 0; i < shown; ++i) {
    out << lines[i + 1] << "\n    " << hops_line(entries[i]["hops"]);
    if (whole(entries[i], "hops_dropped") > 0)
      out << " (+" << whole(entries[i], "hops_dropped") << " hops not kept)";
    out << "\n";
  }
  return outcome::ok;
}

// --- follow -----------------------------------------------------------------

namespace {

void print_followed(context& ctx, const json& body) {
  const auto& call = body["call"];
  auto& out = ctx.text();
  out << "request " << text_of(body, "request_id") << ": "
      << text_of(call, "namespace") << " " << text_of(call, "operation")
      << " -> " << text_of(call, "code") << " in "
      << human_us(number(call, "total_us")) << "\n"
      << "hops: " << hops_line(call["hops"]) << "\n";
  const auto& events = body["events"];
  if (!events.is_array() || events.empty())
    return;
  double start = number(events[0], "at_ms");
  // A recorded run numbers its events by step.
  bool stepped = events[0].contains("step");
  std::vector<table::column> columns;
  if (stepped)
    columns.push_back({"STEP", table::align::right, false});
  columns.push_back({"AT", table::align::right, false});
  columns.push_back({"ACTOR", table::align::left, true});
  columns.push_back({"WHAT", table::align::left, true});
  table t(columns);
  for (const auto& e : events) {
    auto who = text_of(e, "label");
    if (e.contains("actor") && e["actor"].is_number())
      who += " (" + std::to_string(whole(e, "actor")) + ")";
    std::vector<std::string> row;
    if (stepped)
      row.push_back(text_of(e, "step"));
    row.push_back("+" + human_ms(number(e, "at_ms") - start));
    row.push_back(who);
    row.push_back(text_of(e, "what"));
    t.add(row);
  }
  out << t.render(ctx.width);
}

} // namespace

outcome run_follow(context& ctx, const std::vector<std::string>& args) {
  auto parsed = parse_args(ctx, "follow", args, {"--for"}, 1);
  if (!parsed)
    return outcome::usage;
  if (parsed->positional.empty())
    return ctx.usage("follow",
                     "needs a request id (x-request-id; the slow "
                     "log shows them)");
  auto for_ms = duration_flag(ctx, "follow", *parsed, "--for",
                              follow_for_ms_default, follow_for_ms_max);
  if (!for_ms)
    return outcome::usage;
  auto path = "/debug/follow/" + path_segment(parsed->positional[0]);
  auto answer = ctx.get(path, false);
  if (answer.ok() && answer.status == 200) {
    if (ctx.json)
      ctx.out << answer.body.dump(2) << "\n";
    print_followed(ctx, answer.body);
    return outcome::ok;
  }
  if (!answer.error.empty() || (answer.status != 404 && answer.status != 202))
    return ctx.fail("follow", ctx.failure(answer, "GET", path));
  // A recorded run looks through all of it, whatever the step: what it
  // answers says what its request ids look like.
  if (ctx.src.recorded()) {
    auto why = text_of(answer.body, "message");
    return ctx.fail("follow",
                    why.empty() ? "request " + parsed->positional[0]
                        + " is not in this run"
                                : why);
  }
  if (answer.status == 404) {
    auto armed = ctx.post(path, false);
    if (!armed.ok())
      return ctx.fail("follow", ctx.failure(armed, "POST", path));
  }
  ctx.text() << "waiting for a call with request id " << parsed->positional[0]
             << " (for up to " << human_ms(double(*for_ms))
             << "; Ctrl-C stops)\n"
             << std::flush;
  bool done = poll_until(ctx, follow_poll_interval,
                         std::chrono::milliseconds(*for_ms), [&] {
                           answer = ctx.get(path, false);
                           return answer.ok() && answer.status == 200;
                         });
  if (!done) {
    if (!answer.error.empty())
      return ctx.fail("follow", answer.error);
    return ctx.fail("follow",
                    ctx.interrupted() ? "stopped waiting (Ctrl-C)"
                                      : "no call with that request id within "
                        + human_ms(double(*for_ms)));
  }
  if (ctx.json)
    ctx.out << answer.body.dump(2) << "\n";
  print_followed(ctx, answer.body);
  return outcome::ok;
}

// --- trace ------------------------------------------------------------------

namespace {

std::string stopped_by_text(const std::string& why, uint64_t max,
                            uint64_t for_ms) {
  if (why == "max")
    return "stopped by --max: " + std::to_string(max) + " events";
  if (why == "time")
    return "stopped by --for: " + human_ms(double(for_ms)) + " passed";
  if (why == "cancelled")
    return "stopped: cancelled";
  if (why == "actors_ended")
    return "stopped: every traced actor ended";
  return "stopped (" + why + ")";
}

} // namespace

outcome run_trace(context& ctx, const std::vector<std::string>& args) {
  auto parsed = parse_args(ctx, "trace", args, {"--max", "--for"}, 1);
  if (!parsed)
    return outcome::usage;
  if (parsed->positional.empty())
    return ctx.usage("trace",
                     "needs what to trace: an actor id, a name or a "
                     "kind");
  auto max = number_flag(ctx, "trace", *parsed, "--max", trace_max_default, 1,
                         trace_max_max);
  auto for_ms = duration_flag(ctx, "trace", *parsed, "--for",
                              trace_for_ms_default, trace_for_ms_max);
  if (!max || !for_ms)
    return outcome::usage;
  const auto& target = parsed->positional[0];
  auto start_path = "/debug/trace/" + path_segment(target)
    + "?max=" + std::to_string(*max) + "&for_ms=" + std::to_string(*for_ms);
  auto started = ctx.post(start_path);
  if (!started.ok())
    return ctx.fail("trace", ctx.failure(started, "POST", start_path));
  auto tap = text_of(started.body, "tap");
  auto& out = ctx.text();
  const auto& actors = started.body["actors"];
  out << "tracing " << target << ": " << (actors.is_array() ? actors.size() : 0)
      << " actors " << (actors.is_array() ? actors.dump() : "") << ", at most "
      << *max << " events, for up to " << human_ms(double(*for_ms))
      << " (Ctrl-C stops)\n";
  table::column at{"AT", table::align::right, false};
  table::column who{"ACTOR", table::align::left, true};
  table::column what{"MESSAGE", table::align::left, true};
  table::column took{"HANDLER", table::align::right, false};
  // Every batch is its own table; fixed widths keep them in line.
  auto trace_table = [&] {
    table t({at, who, what, took});
    for (size_t c = 0; c < std::size(trace_columns_min); ++c)
      t.set_width_min(c, trace_columns_min[c]);
    return t;
  };
  out << trace_table().lines(ctx.width)[0] << "\n" << std::flush;

  uint64_t after = 0;
  uint64_t events = 0;
  double first_at = -1;
  reply last;
  std::string state = "running";
  bool stopped_here = false;
  auto deadline = ctx.now() + std::chrono::milliseconds(*for_ms) + trace_grace;
  while (state != "stopped") {
    if (ctx.interrupted() || ctx.now() >= deadline) {
      // Stop the tap; its answer has the events not read yet.
      auto stop_path = "/debug/trace/" + path_segment(tap) + "/stop";
      last = ctx.post(stop_path);
      stopped_here = true;
      if (!last.ok())
        return ctx.fail("trace", ctx.failure(last, "POST", stop_path));
    } else {
      auto path = "/debug/trace/" + path_segment(tap)
        + "?after=" + std::to_string(after);
      last = ctx.get(path);
      if (!last.ok())
        return ctx.fail("trace", ctx.failure(last, "GET", path));
    }
    state = text_of(last.body, "state");
    if (stopped_here)
      state = "stopped";
    const auto& batch = last.body["events"];
    // Each batch goes out as it arrives, in the columns of the header.
    auto rows = trace_table();
    if (batch.is_array())
      for (const auto& e : batch) {
        auto seq = whole(e, "seq");
        if (seq <= after && after != 0)
          continue;
        after = std::max(after, seq);
        ++events;
        if (first_at < 0)
          first_at = number(e, "at_ms");
        auto label = text_of(e, "label") + " ("
          + std::to_string(whole(e, "actor")) + ")";
        rows.add({"+" + human_ms(number(e, "at_ms") - first_at), label,
                  text_of(e, "message"),
                  e.contains("handler_us") && !e["handler_us"].is_null()
                    ? human_us(number(e, "handler_us"))
                    : "-"});
      }
    if (rows.size() > 0) {
      auto lines = rows.lines(ctx.width);
      for (size_t i = 1; i < lines.size(); ++i)
        out << lines[i] << "\n";
      out << std::flush;
    }
    if (state != "stopped")
      ctx.sleep(trace_poll_interval);
  }
  auto stopped_by = text_of(last.body, "stopped_by");
  if (stopped_by.empty())
    stopped_by = "cancelled";
  auto dropped = whole(last.body, "dropped");
  out << events << (events == 1 ? " event; " : " events; ")
      << stopped_by_text(stopped_by, *max, *for_ms) << "; " << dropped
      << " dropped"
      << (dropped > 0 ? " (the tap's buffer was full: lower --max or trace "
                        "fewer actors)"
                      : "")
      << "\n";
  return outcome::ok;
}

} // namespace prism::console
