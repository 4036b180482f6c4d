// tree, top, info, kill and mailbox: the commands about actors, over
// /debug/tree, /debug/actors and /debug/actors/{id}.

#include <algorithm>
#include <ctime>
#include <map>
#include <ostream>

#include "console/command_support.hpp"
#include "console/format.hpp"

namespace prism::console {

namespace {

using nlohmann::json;

constexpr uint64_t top_rows_default = 20;
constexpr uint64_t top_rows_max = 10000;
constexpr uint64_t window_ms_default = 1000;
constexpr uint64_t window_ms_max = 600000;
constexpr uint64_t kill_timeout_ms_default = 10000;
constexpr uint64_t kill_timeout_ms_max = 600000;
constexpr std::chrono::milliseconds kill_poll_interval{25};
/// info's second read, for messages/s and busy %.
constexpr uint64_t info_window_ms = 1000;
/// info names this many children; more are counted.
constexpr size_t info_children_named_max = 8;

std::string mailbox_cell(const json& actor) {
  auto limit = whole(actor, "mailbox_limit");
  return std::to_string(whole(actor, "mailbox_depth")) + "/"
    + std::to_string(whole(actor, "mailbox_high_water")) + "/"
    + (limit == 0 ? "-" : std::to_string(limit));
}

/// "14:03:22" in local time, for a wall-clock `_at_ms`.
std::string clock_time(uint64_t at_ms) {
  auto seconds = static_cast<std::time_t>(at_ms / 1000);
  std::tm parts{};
  localtime_r(&seconds, &parts);
  char buf[32];
  std::strftime(buf, sizeof buf, "%H:%M:%S", &parts);
  return buf;
}

// --- tree -------------------------------------------------------------------

const json* find_node(const json& nodes, const std::string& who) {
  if (!nodes.is_array())
    return nullptr;
  auto id = parse_whole(who);
  for (const auto& node : nodes) {
    if (id ? whole(node, "id") == *id
           : label_of(node) == who || text_of(node, "name") == who)
      return &node;
    if (const auto* below = find_node(node["children"], who))
      return below;
  }
  return nullptr;
}

/// A path of labels from a root: "supervisor:gateway/supervisor:backends".
const json* find_path(const json& roots, const std::string& path) {
  const json* level = &roots;
  const json* node = nullptr;
  size_t start = 0;
  while (start <= path.size()) {
    auto slash = path.find('/', start);
    auto part = path.substr(
      start, slash == std::string::npos ? std::string::npos : slash - start);
    start = slash == std::string::npos ? path.size() + 1 : slash + 1;
    if (part.empty())
      continue;
    node = nullptr;
    if (level->is_array())
      for (const auto& child : *level)
        if (label_of(child) == part || text_of(child, "name") == part
            || std::to_string(whole(child, "id")) == part) {
          node = &child;
          break;
        }
    if (node == nullptr)
      return nullptr;
    level = &(*node)["children"];
  }
  return node;
}

size_t count_below(const json& node) {
  size_t n = 0;
  if (node.contains("children") && node["children"].is_array())
    for (const auto& child : node["children"])
      n += 1 + count_below(child);
  return n;
}

void collect_labels(const json& nodes, std::vector<std::string>& labels) {
  if (!nodes.is_array())
    return;
  for (const auto& node : nodes) {
    labels.push_back(label_of(node));
    collect_labels(node["children"], labels);
  }
}

void add_tree_rows(table& t, const json& node, const std::string& lead,
                   const std::string& branch, uint64_t depth,
                   uint64_t depth_max) {
  auto label = lead + branch + label_of(node);
  const auto& children = node["children"];
  size_t child_count = children.is_array() ? children.size() : 0;
  if (depth == depth_max && child_count > 0)
    label += " (+" + std::to_string(count_below(node)) + ")";
  t.add({label, std::to_string(whole(node, "id")), text_of(node, "state"),
         mailbox_cell(node), std::to_string(whole(node, "restarts")),
         human_ms(number(node, "uptime_ms"))});
  if (depth == depth_max)
    return;
  // The children line up under their parent's label.
  std::string child_lead = lead;
  if (!branch.empty())
    child_lead += branch == "└─ " ? "   " : "│  ";
  for (size_t i = 0; i < child_count; ++i)
    add_tree_rows(t, children[i], child_lead,
                  i + 1 == child_count ? "└─ " : "├─ ", depth + 1, depth_max);
}

} // namespace

outcome run_tree(context& ctx, const std::vector<std::string>& args) {
  auto parsed = parse_args(ctx, "tree", args, {"--depth"}, 1);
  if (!parsed)
    return outcome::usage;
  auto depth
    = number_flag(ctx, "tree", *parsed, "--depth", UINT64_MAX, 0, UINT64_MAX);
  if (!depth)
    return outcome::usage;
  auto answer = ctx.get("/debug/tree");
  if (!answer.ok())
    return ctx.fail("tree", ctx.failure(answer, "GET", "/debug/tree"));
  const json& roots = answer.body["actors"];
  std::vector<const json*> tops;
  if (!parsed->positional.empty()) {
    const auto& path = parsed->positional[0];
    const json* start = path.find('/') != std::string::npos
      ? find_path(roots, path)
      : find_node(roots, path);
    if (start == nullptr) {
      std::vector<std::string> labels;
      collect_labels(roots, labels);
      auto near = closest(path.substr(path.rfind('/') + 1), labels);
      return ctx.fail("tree",
                      "no actor at \"" + path + "\" in the tree"
                        + (near.empty() ? "" : "; did you mean " + near + "?"));
    }
    tops.push_back(start);
  } else if (roots.is_array()) {
    for (const auto& root : roots)
      tops.push_back(&root);
  }
  table t({{"ACTOR", table::align::left, true},
           {"ID", table::align::right, false},
           {"STATE", table::align::left, false},
           {"MAILBOX", table::align::right, false},
           {"RESTARTS", table::align::right, false},
           {"UPTIME", table::align::right, false}});
  for (const auto* top : tops)
    add_tree_rows(t, *top, "", "", 0, *depth);
  ctx.text() << t.render(ctx.width) << whole(answer.body, "count")
             << " actors; MAILBOX is depth/high-water/limit (- no "
                "limit)\n";
  return outcome::ok;
}

// --- top --------------------------------------------------------------------

namespace {

struct top_row {
  const json* actor = nullptr;
  double rate = -1; // messages/s over the window; -1 without one
  double busy = -1; // % of the window
  double restarts = 0; // over the window when there is one
  double rejected = 0;
  double key = 0;
};

} // namespace

outcome run_top(context& ctx, const std::vector<std::string>& args) {
  auto parsed = parse_args(ctx, "top", args, {"--sort", "--window", "-n"}, 0);
  if (!parsed)
    return outcome::usage;
  auto sort = parsed->value("--sort", "mailbox");
  const auto& keys = top_sort_keys();
  if (std::find(keys.begin(), keys.end(), sort) == keys.end())
    return ctx.usage("top",
                     "--sort takes mailbox, hwm, rate, busy, "
                     "restarts or rejected, not \""
                       + sort + "\"");
  auto window_ms = duration_flag(ctx, "top", *parsed, "--window",
                                 window_ms_default, window_ms_max);
  auto rows_max
    = number_flag(ctx, "top", *parsed, "-n", top_rows_default, 1, top_rows_max);
  if (!window_ms || !rows_max)
    return outcome::usage;
  bool windowed = !ctx.src.recorded()
    && (sort == "rate" || sort == "busy" || parsed->has("--window"));
  auto first = ctx.get("/debug/actors");
  if (!first.ok())
    return ctx.fail("top", ctx.failure(first, "GET", "/debug/actors"));
  reply second = first;
  double elapsed_ms = 0;
  if (windowed) {
    ctx.sleep(std::chrono::milliseconds(*window_ms));
    if (ctx.interrupted())
      return outcome::ok;
    second = ctx.get("/debug/actors");
    if (!second.ok())
      return ctx.fail("top", ctx.failure(second, "GET", "/debug/actors"));
    elapsed_ms = number(second.body, "generated_at_ms")
      - number(first.body, "generated_at_ms");
    if (elapsed_ms <= 0)
      elapsed_ms = static_cast<double>(*window_ms);
  }
  std::map<uint64_t, const json*> before;
  for (const auto& actor : first.body["actors"])
    before[whole(actor, "id")] = &actor;
  std::vector<top_row> rows;
  for (const auto& actor : second.body["actors"]) {
    top_row row;
    row.actor = &actor;
    row.restarts = number(actor, "restarts");
    row.rejected = number(actor, "rejected");
    if (windowed) {
      // An actor that started within the window counts from zero.
      static const json none = json::object();
      auto it = before.find(whole(actor, "id"));
      const json& was = it == before.end() ? none : *it->second;
      auto change = [&](const char* key) {
        return std::max(0.0, number(actor, key) - number(was, key));
      };
      row.rate = change("handled") * 1000 / elapsed_ms;
      row.busy = change("busy_us") / (elapsed_ms * 1000) * 100;
      row.restarts = change("restarts");
      row.rejected = change("rejected");
    } else if (ctx.src.recorded()) {
      row.busy = -1;
    }
    if (sort == "mailbox")
      row.key = number(actor, "mailbox_depth");
    else if (sort == "hwm")
      row.key = number(actor, "mailbox_high_water");
    else if (sort == "rate")
      row.key = windowed ? row.rate : number(actor, "handled");
    else if (sort == "busy")
      row.key = windowed ? row.busy : number(actor, "busy_us");
    else if (sort == "restarts")
      row.key = row.restarts;
    else
      row.key = row.rejected;
    rows.push_back(row);
  }
  std::stable_sort(rows.begin(), rows.end(),
                   [](const top_row& a, const top_row& b) {
                     // Ties (a quiet gateway's zeros) go to the deepest mailbox there has
                     // been.
                     if (a.key != b.key)
                       return a.key > b.key;
                     return number(*a.actor, "mailbox_high_water")
                       > number(*b.actor, "mailbox_high_water");
                   });
  table t({{"ID", table::align::right, false},
           {"ACTOR", table::align::left, true},
           {"STATE", table::align::left, false},
           {"MAILBOX", table::align::right, false},
           {"HWM", table::align::right, false},
           {"LIMIT", table::align::right, false},
           {"MSG/S", table::align::right, false},
           {"BUSY%", table::align::right, false},
           {"P99", table::align::right, false},
           {"RESTARTS", table::align::right, false},
           {"REJECTED", table::align::right, false}});
  for (size_t i = 0; i < rows.size() && i < *rows_max; ++i) {
    const auto& row = rows[i];
    const auto& actor = *row.actor;
    auto limit = whole(actor, "mailbox_limit");
    std::string p99 = actor.contains("handler_us")
        && whole(actor, "handled") > 0
      ? human_us(number(actor["handler_us"], "p99"))
      : "-";
    t.add({std::to_string(whole(actor, "id")), label_of(actor),
           text_of(actor, "state"),
           std::to_string(whole(actor, "mailbox_depth")),
           std::to_string(whole(actor, "mailbox_high_water")),
           limit == 0 ? "-" : std::to_string(limit),
           row.rate < 0 ? "-" : human_number(row.rate),
           row.busy < 0 ? "-" : human_number(row.busy), p99,
           human_number(row.restarts), human_number(row.rejected)});
  }
  auto& out = ctx.text();
  out << "top " << std::min<size_t>(rows.size(), *rows_max) << " of "
      << rows.size() << " actors by " << sort;
  if (windowed)
    out << " over " << human_ms(elapsed_ms)
        << " (MSG/S, BUSY%, RESTARTS and REJECTED are changes over it)";
  else
    out << " (MSG/S and BUSY% need a window: --sort rate or --window 5s)";
  out << "\n" << t.render(ctx.width);
  return outcome::ok;
}

// --- info -------------------------------------------------------------------

namespace {

std::string failure_text(const json& failure) {
  if (!failure.is_object())
    return "none";
  std::string text = text_of(failure, "reason");
  if (failure.contains("ago_ms"))
    text += ", " + human_ms(number(failure, "ago_ms")) + " ago";
  if (failure.contains("at_ms"))
    text += " (at " + clock_time(whole(failure, "at_ms")) + ")";
  for (const char* key : {"message_type", "message"})
    if (failure.contains(key) && !failure[key].is_null())
      text += "; while handling " + text_of(failure, key);
  return text;
}

} // namespace

namespace {

/// What info measures over its window; negative without one.
struct info_rates {
  double messages_per_s = -1;
  double busy_percent = -1;
  double elapsed_ms = 0;
};

fields info_meta(context& ctx, const json& actor,
                 const std::map<uint64_t, std::string>& labels) {
  auto name_of = [&](uint64_t who) {
    auto it = labels.find(who);
    return it == labels.end() ? std::to_string(who) + " (not registered)"
                              : it->second + " (" + std::to_string(who) + ")";
  };
  fields meta(label_and_id(actor));
  meta.add("kind", text_of(actor, "kind"));
  meta.add("name", text_of(actor, "name"));
  meta.add("state", text_of(actor, "state"));
  auto parent = whole(actor, "parent");
  meta.add("parent", parent == 0 ? "none (a root)" : name_of(parent));
  std::string children;
  size_t child_count = 0;
  if (actor["children"].is_array())
    for (const auto& child : actor["children"]) {
      if (child_count < info_children_named_max)
        children
          += (children.empty() ? "" : ", ") + name_of(child.get<uint64_t>());
      ++child_count;
    }
  if (child_count > info_children_named_max)
    children += ", ... (" + std::to_string(child_count) + " in all)";
  meta.add("children", children.empty() ? "none" : children);
  // A recorded run's times are virtual ms since it began.
  auto started = whole(actor, "started_at_ms");
  meta.add("started",
           (ctx.src.recorded()
              ? "at " + std::to_string(started) + " ms of the run"
              : clock_time(started))
             + " (up " + human_ms(number(actor, "uptime_ms")) + ")");
  return meta;
}

fields info_mailbox(const json& actor) {
  fields mailbox("mailbox");
  auto limit = whole(actor, "mailbox_limit");
  mailbox.add("depth", std::to_string(whole(actor, "mailbox_depth")));
  mailbox.add("high-water", std::to_string(whole(actor, "mailbox_high_water")));
  mailbox.add("limit", limit == 0 ? "none" : std::to_string(limit));
  mailbox.add("admitted", std::to_string(whole(actor, "admitted")));
  mailbox.add("rejected", std::to_string(whole(actor, "rejected")));
  return mailbox;
}

/// "500 over the last 1 s, 120 since start", or what there is of it.
std::string now_and_since_start(double now, const std::string& unit,
                                double elapsed_ms, double since_start) {
  std::string start
    = since_start < 0 ? "" : human_number(since_start) + unit + " since start";
  if (now < 0)
    return start.empty() ? "-" : start;
  return human_number(now) + unit + " over the last " + human_ms(elapsed_ms)
    + (start.empty() ? "" : ", " + start);
}

fields info_work(const json& actor, const info_rates& rates) {
  fields work("work");
  work.add("handled", std::to_string(whole(actor, "handled")));
  auto uptime_ms = number(actor, "uptime_ms");
  work.add("messages/s",
           now_and_since_start(
             rates.messages_per_s, "", rates.elapsed_ms,
             uptime_ms > 0 ? number(actor, "handled") * 1000 / uptime_ms : -1));
  if (actor.contains("busy_us"))
    work.add("busy",
             now_and_since_start(rates.busy_percent, "%", rates.elapsed_ms,
                                 uptime_ms > 0
                                   ? number(actor, "busy_us") / (uptime_ms * 10)
                                   : -1));
  if (actor.contains("handler_us")) {
    const auto& h = actor["handler_us"];
    work.add("handler",
             "p50 " + human_us(number(h, "p50")) + ", p99 "
               + human_us(number(h, "p99")) + ", max "
               + human_us(number(h, "max")));
  }
  return work;
}

fields info_supervision(const json& actor) {
  fields supervision("supervision");
  for (const char* key : {"strategy", "restart_strategy"})
    if (actor.contains(key))
      supervision.add("strategy", text_of(actor, key));
  supervision.add("restarts", std::to_string(whole(actor, "restarts")));
  supervision.add("last failure", failure_text(actor["last_failure"]));
  return supervision;
}

} // namespace

outcome run_info(context& ctx, const std::vector<std::string>& args) {
  auto parsed = parse_args(ctx, "info", args, {}, 1);
  if (!parsed)
    return outcome::usage;
  if (parsed->positional.empty())
    return ctx.usage("info", "needs an actor: an id or a name");
  auto id = resolve_actor(ctx, "info", parsed->positional[0]);
  if (!id)
    return outcome::failed;
  auto path = "/debug/actors/" + std::to_string(*id);
  auto first = ctx.get(path);
  if (!first.ok())
    return ctx.fail("info", ctx.failure(first, "GET", path));
  json actor = first.body["actor"];
  // A second read a second later gives the rates of now (a recorded run
  // does not move by itself).
  info_rates rates;
  if (!ctx.src.recorded()) {
    ctx.sleep(std::chrono::milliseconds(info_window_ms));
    auto second = ctx.get(path);
    rates.elapsed_ms = number(second.body, "generated_at_ms")
      - number(first.body, "generated_at_ms");
    if (second.ok() && rates.elapsed_ms > 0) {
      const auto& now = second.body["actor"];
      rates.messages_per_s = (number(now, "handled") - number(actor, "handled"))
        * 1000 / rates.elapsed_ms;
      rates.busy_percent = (number(now, "busy_us") - number(actor, "busy_us"))
        / (rates.elapsed_ms * 1000) * 100;
      actor = now;
    }
  }
  std::map<uint64_t, std::string> labels;
  auto all = ctx.get("/debug/actors", false);
  if (all.ok())
    for (const auto& a : all.body["actors"])
      labels[whole(a, "id")] = label_of(a);
  ctx.text() << info_meta(ctx, actor, labels).render()
             << info_mailbox(actor).render() << info_work(actor, rates).render()
             << info_supervision(actor).render();
  return outcome::ok;
}

// --- kill -------------------------------------------------------------------

outcome run_kill(context& ctx, const std::vector<std::string>& args) {
  auto parsed = parse_args(ctx, "kill", args, {"--timeout"}, 1);
  if (!parsed)
    return outcome::usage;
  if (parsed->positional.empty())
    return ctx.usage("kill", "needs an actor: an id or a name");
  auto timeout_ms = duration_flag(ctx, "kill", *parsed, "--timeout",
                                  kill_timeout_ms_default, kill_timeout_ms_max);
  if (!timeout_ms)
    return outcome::usage;
  auto id = resolve_actor(ctx, "kill", parsed->positional[0]);
  if (!id)
    return outcome::failed;
  auto path = "/debug/actors/" + std::to_string(*id) + "/kill";
  auto killed = ctx.post(path);
  if (!killed.ok())
    return ctx.fail("kill", ctx.failure(killed, "POST", path));
  const json& victim = killed.body["actor"];
  auto kind = text_of(victim, "kind");
  auto name = text_of(victim, "name");
  auto killed_at = ctx.now();
  ctx.text() << "killed " << label_and_id(victim) << "\n" << std::flush;

  json replacement;
  json parent;
  reply last;
  bool found = poll_until(
    ctx, kill_poll_interval, std::chrono::milliseconds(*timeout_ms), [&] {
      last = ctx.get("/debug/actors", false);
      if (!last.ok())
        return false;
      for (const auto& actor : last.body["actors"])
        if (text_of(actor, "kind") == kind && text_of(actor, "name") == name
            && whole(actor, "id") > *id)
          replacement = actor;
      if (replacement.is_null())
        return false;
      for (const auto& actor : last.body["actors"])
        if (whole(actor, "id") == whole(replacement, "parent"))
          parent = actor;
      return true;
    });
  auto waited = std::chrono::duration_cast<std::chrono::milliseconds>(
    ctx.now() - killed_at);
  if (!found) {
    if (ctx.interrupted())
      return ctx.fail("kill", "stopped waiting for its replacement (Ctrl-C)");
    auto supervisor = whole(victim, "parent");
    return ctx.fail(
      "kill",
      "no actor took the place of " + label_of(victim) + " within "
        + human_ms(double(*timeout_ms))
        + (supervisor == 0
             ? " (it has no supervisor: sessions and other roots are not "
               "restarted)"
             : " (its supervisor, actor " + std::to_string(supervisor)
               + ", started none: past its restart limit a supervisor "
                 "gives up; `warnings` says what followed)"));
  }
  if (ctx.json)
    ctx.out << last.body.dump(2) << "\n";
  // The supervisor's own timing: the kill's failure time and the
  // replacement's start, both wall-clock ms from the gateway.
  double restart_ms = static_cast<double>(waited.count());
  std::string how = "seen by polling";
  const auto& failure = victim["last_failure"];
  if (failure.is_object() && replacement.contains("started_at_ms")) {
    double gap
      = number(replacement, "started_at_ms") - number(failure, "at_ms");
    if (gap >= 0) {
      restart_ms = gap;
      how = "kill to its start, by the gateway's clock";
    }
  }
  auto& out = ctx.text();
  out << "restarted as " << label_and_id(replacement) << " after "
      << human_ms(restart_ms) << " (" << how << ")\n"
      << "restarts: " << whole(replacement, "restarts") << " ("
      << label_of(replacement) << ")";
  if (!parent.is_null())
    out << ", " << whole(parent, "restarts") << " (" << label_and_id(parent)
        << ")";
  out << "\n";
  return outcome::ok;
}

// --- mailbox (recorded runs) ---------------------------------------------------

outcome run_mailbox(context& ctx, const std::vector<std::string>& args) {
  auto parsed = parse_args(ctx, "mailbox", args, {}, 1);
  if (!parsed)
    return outcome::usage;
  if (parsed->positional.empty())
    return ctx.usage("mailbox", "needs an actor: an id or a name");
  auto id = resolve_actor(ctx, "mailbox", parsed->positional[0]);
  if (!id)
    return outcome::failed;
  auto path = "/run/mailbox/" + std::to_string(*id);
  auto answer = ctx.get(path);
  if (!answer.ok())
    return ctx.fail("mailbox", ctx.failure(answer, "GET", path));
  const auto& messages = answer.body["messages"];
  table t({{"#", table::align::right, false},
           {"FROM", table::align::left, false},
           {"MESSAGE", table::align::left, true}});
  size_t n = 0;
  if (messages.is_array())
    for (const auto& m : messages)
      t.add({std::to_string(++n), text_of(m, "from"), text_of(m, "message")});
  auto& out = ctx.text();
  out << text_of(answer.body, "label") << " (" << *id << "): " << n
      << (n == 1 ? " message" : " messages") << " waiting\n";
  if (n > 0)
    out << t.render(ctx.width);
  return outcome::ok;
}

} // namespace prism::console
