#include "console/commands.hpp"

#include <algorithm>
#include <ostream>
#include <sstream>
#include <thread>

#include "console/command_support.hpp"
#include "console/format.hpp"

namespace prism::console {

namespace {

/// Where --json sends the text meant for people.
class null_buffer : public std::streambuf {
protected:
  int overflow(int c) override { return c; }
};

null_buffer discarded_buffer;
std::ostream discarded{&discarded_buffer};

/// How often a waiting command looks at Ctrl-C.
constexpr std::chrono::milliseconds interrupt_check_interval{20};
/// `watch`'s redraw interval: default and bounds.
constexpr uint64_t watch_interval_ms_default = 1000;
constexpr uint64_t watch_interval_ms_min = 100;
constexpr uint64_t watch_interval_ms_max = 3600000;

/// ANSI: cursor home, clear the screen.
constexpr const char* clear_screen = "\x1b[H\x1b[2J";

outcome run_help(context& ctx, const std::vector<std::string>& args);
outcome run_watch(context& ctx, const std::vector<std::string>& args);
outcome run_quit(context&, const std::vector<std::string>&) {
  return outcome::ok;
}

std::vector<command> make_commands() {
  using c = completion;
  return {
    {"tree",
     "tree [path] [--depth N]",
     "the supervision tree: state, mailbox, restarts, uptime",
     "Shows the actors nested by supervisor, from the gateway's root down, "
     "with each one's state, mailbox depth/high-water/limit, restarts and "
     "uptime.\n"
     "  path       start at this actor: an id, a label (pool:disk) or a\n"
     "             path of labels from a root (supervisor:gateway/"
     "supervisor:backends)\n"
     "  --depth N  show N levels below the start (0: the start alone)\n"
     "Reads GET /debug/tree.",
     c::actor,
     {},
     false,
     false,
     run_tree},
    {"top",
     "top [--sort KEY] [--window 5s] [-n 20]",
     "the busiest actors, now or over a window",
     "Lists the actors with the most of KEY first.\n"
     "  --sort KEY   mailbox (depth now, the default), hwm (mailbox "
     "high-water),\n"
     "               rate (messages handled per second), busy (% of the "
     "time a\n"
     "               handler ran), restarts, rejected (messages refused)\n"
     "  --window D   rate and busy are measured over D (default 1s): two "
     "reads D\n"
     "               apart. Given with another key, that key is ranked by "
     "its change\n"
     "               over D too.\n"
     "  -n N         show N actors (default 20)\n"
     "Reads GET /debug/actors (twice for a window).",
     c::words,
     {"--sort", "--window", "-n"},
     false,
     false,
     run_top},
    {"info",
     "info <id|name>",
     "one actor: mailbox, work, supervision, last failure",
     "Shows one actor grouped by concern: what it is (kind, parent, "
     "children), its mailbox (depth, high-water, limit, admitted, rejected), "
     "its work (messages/s and busy % over the last second, handler "
     "p50/p99/max) and its supervision (strategy, restarts, last failure "
     "with reason, time and message).\n"
     "  <id|name>  an actor id, a label (connection:mem#0) or a name only "
     "one actor has\n"
     "Reads GET /debug/actors and GET /debug/actors/{id} (twice, 1 s apart).",
     c::actor,
     {},
     false,
     false,
     run_info},
    {"kill",
     "kill <id|name> [--timeout 10s]",
     "kill an actor and show its supervisor restarting it",
     "Kills the actor (an exit it cannot trap), then watches for the actor "
     "its supervisor starts in its place: prints the new id, the restart "
     "count and the time to restart. Fails when no replacement appears "
     "within --timeout (unsupervised actors, such as sessions, are not "
     "replaced).\n"
     "Sends POST /debug/actors/{id}/kill (with --token when auth is on), "
     "then reads GET /debug/actors until the replacement is there.",
     c::actor,
     {},
     true,
     false,
     run_kill},
    {"pools",
     "pools",
     "every backend's pool (like SHOW POOLS)",
     "One line per pool: size, active, idle and down connections, calls "
     "waiting for a connection and the oldest one's wait, calls served, "
     "errors, reconnects and the circuit's state.\n"
     "Reads GET /debug/pools.",
     c::none,
     {},
     false,
     false,
     run_pools},
    {"pool",
     "pool <backend>",
     "one pool in full",
     "Everything GET /debug/pools says of one backend's pool, and how long "
     "its circuit has been in its state.\n"
     "Reads GET /debug/pools.",
     c::pool,
     {},
     false,
     false,
     run_pool},
    {"ns",
     "ns [name] [--window 1s]",
     "namespaces: requests/s, errors, p50/p99, refusals",
     "Per namespace: requests answered per second, errors by status code, "
     "p50 and p99 latency and calls refused by reason, all over the window "
     "(two reads D apart; default 1s). With a name, every code and reason "
     "of that namespace, and the totals since start.\n"
     "Reads GET /debug/namespaces (twice).",
     c::ns,
     {"--window"},
     false,
     false,
     run_ns},
    {"clients",
     "clients",
     "client sessions: peer, principal, age, in flight",
     "One line per client session: its actor, peer address, principal, "
     "age, calls in flight, open streams and calls made.\n"
     "Reads GET /debug/clients.",
     c::none,
     {},
     false,
     false,
     run_clients},
    {"slowlog",
     "slowlog [get N | reset | threshold MS]",
     "the slowest recent requests, with their time per hop",
     "slowlog / slowlog get N: the newest calls that took at least the "
     "threshold (all, or the N newest), each with its time at every hop: "
     "queued in the session, each middleware stage, the router, the wait "
     "for a pool connection, the backend, the reply.\n"
     "slowlog reset: forget the entries (POST /debug/slowlog/reset).\n"
     "slowlog threshold MS: record calls of at least MS milliseconds from "
     "now on (POST /debug/slowlog/threshold/MS).\n"
     "Reads GET /debug/slowlog.",
     c::words,
     {"get", "reset", "threshold"},
     false,
     false,
     run_slowlog},
    {"follow",
     "follow <request-id> [--for 60s]",
     "every hop of one request, as it happened",
     "Shows one call hop by hop: its namespace, operation, code and total "
     "time, the time at each hop, and what each actor did with it, in "
     "order. A request id the gateway has not seen yet is armed first "
     "(the next call with that x-request-id is recorded) and the console "
     "waits for it until it is done, --for passes (default 60s) or Ctrl-C.\n"
     "Reads GET /debug/follow/{request-id}; arms with POST "
     "/debug/follow/{request-id}.",
     c::none,
     {"--for"},
     false,
     false,
     run_follow},
    {"trace",
     "trace <id|name|kind> [--max 100] [--for 10s]",
     "a bounded live tap of the messages an actor handles",
     "Taps the messages the matching actors handle (an id, a label, a name "
     "or a whole kind such as connection) and prints each as it arrives: "
     "when, which actor, the message and its handler time. The tap stops "
     "itself after --max events (default 100, at most 10000) or --for "
     "(default 10s, at most 10m), when its actors end, or on Ctrl-C; the "
     "console says which stopped it and how many events were dropped.\n"
     "Sends POST /debug/trace/{target}?max=N&for_ms=T, reads GET "
     "/debug/trace/{tap}?after=SEQ, stops with POST /debug/trace/{tap}/stop.",
     c::actor,
     {"--max", "--for"},
     true,
     false,
     run_trace},
    {"warnings",
     "warnings",
     "what the gateway thinks needs a look",
     "Lints the gateway computes: a mailbox growing toward its limit or at "
     "it, a handler running long, a request past its deadline still "
     "unanswered, a restart loop, an open circuit, a subscriber far "
     "behind; each with its severity, subject, how long it has held and "
     "what to do.\n"
     "Reads GET /debug/warnings.",
     c::none,
     {},
     false,
     false,
     run_warnings},
    {"config",
     "config",
     "the effective config, secrets redacted",
     "The config the gateway runs with, one setting a line (section.field "
     "value); secrets show as <redacted>.\n"
     "Reads GET /debug/config.",
     c::none,
     {},
     false,
     false,
     run_config},
    {"log",
     "log [level LEVEL]",
     "show or set the log level",
     "log: the current log level. log level LEVEL: set it (trace, debug, "
     "info, warn, error, critical, off) until the next restart.\n"
     "Reads GET /debug/log; sets with POST /debug/log/level/LEVEL.",
     c::words,
     {"level"},
     false,
     false,
     run_log},
    {"stats",
     "stats",
     "the process: version, uptime, memory, CPU, counts",
     "The gateway process: version, pid, uptime, resident memory, threads, "
     "CPU time, live actors, sessions, requests in flight, its config "
     "file and listeners.\n"
     "Reads GET /debug/stats.",
     c::none,
     {},
     false,
     false,
     run_stats},
    {"step",
     "step [N]",
     "move the recorded run N events forward",
     "Moves N events (default 1) forward in the recorded run and prints "
     "the event it now stands on. tree, top, info, follow and mailbox then "
     "show the actors as of that step.\n"
     "Sends POST /run/step/N.",
     c::none,
     {},
     false,
     true,
     run_step},
    {"back",
     "back [N]",
     "move the recorded run N events back",
     "Moves N events (default 1) back in the recorded run.\n"
     "Sends POST /run/back/N.",
     c::none,
     {},
     false,
     true,
     run_back},
    {"goto",
     "goto <step|TIME>",
     "jump to a step or a virtual time",
     "goto 120 stands on step 120; goto 300ms (or 2s) on the first event "
     "at or after that virtual time.\n"
     "Sends POST /run/goto/{step|TIMEms}.",
     c::none,
     {},
     false,
     true,
     run_goto},
    {"mailbox",
     "mailbox <id|name>",
     "the messages waiting in an actor's mailbox at this step",
     "Lists the messages queued for the actor at the current step of the "
     "recorded run, oldest first, with their senders.\n"
     "Reads GET /run/mailbox/{id}.",
     c::actor,
     {},
     false,
     true,
     run_mailbox},
    {"watch",
     "watch <command> [--interval 1s]",
     "run a command again and again, redrawn in place",
     "Clears the screen and runs the command every --interval (default "
     "1s) until Ctrl-C, which returns to the prompt.\n"
     "Example: watch top --sort rate --interval 2s",
     c::command,
     {"--interval"},
     true,
     false,
     run_watch},
    {"help",
     "help [command]",
     "the commands, or one in full",
     "help lists the commands; help NAME shows one with its flags and the "
     "endpoint it reads.",
     c::command,
     {},
     false,
     false,
     run_help},
    {"quit",
     "quit",
     "leave the console (also exit, Ctrl-D)",
     "Leaves the console; its history is kept in ~/.prism_console_history.",
     c::none,
     {},
     false,
     false,
     run_quit},
  };
}

std::vector<std::string> offered_names(const source& src) {
  std::vector<std::string> names;
  for (const auto& cmd : commands())
    if (!cmd.recorded_only || src.recorded())
      names.push_back(cmd.name);
  return names;
}

outcome unknown_command(context& ctx, const std::string& name) {
  auto near = closest(name, offered_names(ctx.src));
  ctx.err << "unknown command \"" << name << "\"";
  if (!near.empty())
    ctx.err << "; did you mean `" << near << "`?";
  ctx.err << " (`help` lists the commands)\n";
  return outcome::usage;
}

outcome run_help(context& ctx, const std::vector<std::string>& args) {
  if (args.size() > 1)
    return ctx.usage("help", "takes at most one command name");
  if (args.empty()) {
    table t({{"COMMAND", table::align::left, false},
             {"WHAT IT SHOWS", table::align::left, true}});
    for (const auto& cmd : commands())
      if (!cmd.recorded_only || ctx.src.recorded())
        t.add({cmd.usage, cmd.summary});
    ctx.out << t.render(ctx.width)
            << "`help COMMAND` says more. Flags: --name value or "
               "--name=value. Durations: 500ms, 5s, 2m.\n";
    return outcome::ok;
  }
  const auto* cmd = find_command(args[0], ctx.src);
  if (cmd == nullptr)
    return unknown_command(ctx, args[0]);
  ctx.out << "usage: " << cmd->usage << "\n"
          << cmd->summary << ".\n\n"
          << cmd->details << "\n";
  if (cmd->live_only && ctx.src.recorded())
    ctx.out << "(not available on a recorded run)\n";
  return outcome::ok;
}

outcome run_watch(context& ctx, const std::vector<std::string>& args) {
  // Everything after the command's name is the command's own, but
  // --interval may come anywhere.
  std::vector<std::string> inner;
  std::string interval_text;
  for (size_t i = 0; i < args.size(); ++i) {
    if (args[i] == "--interval") {
      if (i + 1 == args.size())
        return ctx.usage("watch", "--interval needs a duration (e.g. 2s)");
      interval_text = args[++i];
    } else if (args[i].rfind("--interval=", 0) == 0) {
      interval_text = args[i].substr(11);
    } else {
      inner.push_back(args[i]);
    }
  }
  if (inner.empty())
    return ctx.usage("watch", "needs a command to run (e.g. watch top)");
  uint64_t interval_ms = watch_interval_ms_default;
  if (!interval_text.empty()) {
    auto parsed = parse_duration_ms(interval_text);
    if (!parsed || *parsed < watch_interval_ms_min
        || *parsed > watch_interval_ms_max)
      return ctx.usage("watch",
                       "--interval takes a duration from 100ms to "
                       "1h (e.g. 2s), not \""
                         + interval_text + "\"");
    interval_ms = *parsed;
  }
  if (ctx.src.recorded())
    return ctx.fail("watch",
                    "a recorded run does not change by itself; use "
                    "step, back or goto");
  const auto* cmd = find_command(inner[0], ctx.src);
  if (cmd == nullptr)
    return unknown_command(ctx, inner[0]);
  if (cmd->name == "watch" || cmd->name == "kill" || cmd->name == "quit")
    return ctx.usage("watch", "cannot repeat `" + cmd->name + "`");
  std::vector<std::string> inner_args(inner.begin() + 1, inner.end());
  std::string line;
  for (const auto& word : inner)
    line += (line.empty() ? "" : " ") + word;
  outcome last = outcome::ok;
  while (!ctx.interrupted()) {
    // Draw each frame at once, so the screen never shows half of one.
    std::ostringstream frame_out;
    std::ostringstream frame_err;
    context frame{ctx.src, frame_out, frame_err};
    frame.json = ctx.json;
    frame.width = ctx.width;
    frame.interrupted = ctx.interrupted;
    frame.sleep = ctx.sleep;
    frame.now = ctx.now;
    last = cmd->run(frame, inner_args);
    if (last == outcome::usage) {
      ctx.err << frame_err.str();
      return last;
    }
    ctx.out << clear_screen << "every " << human_ms(double(interval_ms)) << ": "
            << line << "  (Ctrl-C stops)\n\n"
            << frame_out.str() << frame_err.str() << std::flush;
    ctx.sleep(std::chrono::milliseconds(interval_ms));
  }
  ctx.out << "\n";
  return outcome::ok;
}

} // namespace

context::context(source& src, std::ostream& out, std::ostream& err)
  : src(src), out(out), err(err) {
  sleep = [this](std::chrono::milliseconds duration) {
    auto until = std::chrono::steady_clock::now() + duration;
    while (!interrupted()) {
      auto left = until - std::chrono::steady_clock::now();
      if (left <= std::chrono::steady_clock::duration::zero())
        return;
      std::this_thread::sleep_for(std::min<std::chrono::steady_clock::duration>(
        left, interrupt_check_interval));
    }
  };
}

reply context::shown(reply answer, bool show) {
  if (json && show && answer.error.empty())
    out << answer.body.dump(2) << "\n" << std::flush;
  return answer;
}

reply context::get(const std::string& path, bool show) {
  return shown(src.get(path), show);
}

reply context::post(const std::string& path, bool show) {
  return shown(src.post(path), show);
}

std::ostream& context::text() {
  return json ? discarded : out;
}

std::string context::failure(const reply& answer, const std::string& method,
                             const std::string& path) const {
  if (!answer.error.empty())
    return answer.error;
  std::string where
    = method + " " + path + " answered " + std::to_string(answer.status);
  std::string message;
  if (answer.body.is_object() && answer.body.contains("message")
      && answer.body["message"].is_string())
    message = answer.body["message"].get<std::string>();
  else if (answer.body.is_string())
    message = answer.body.get<std::string>();
  while (!message.empty() && (message.back() == '\n' || message.back() == ' '))
    message.pop_back();
  std::string sentence = message.empty() ? where : message + " (" + where + ")";
  if (answer.status == 403)
    sentence += "; pass --token with an admin's token";
  if (answer.status == 404 && message.empty())
    sentence += "; this gateway may not serve it (an older version?)";
  return sentence;
}

outcome context::fail(const std::string& name, const std::string& problem) {
  err << name << ": " << problem << "\n";
  return outcome::failed;
}

outcome context::usage(const std::string& name, const std::string& problem) {
  err << name << ": " << problem << "\n";
  if (const auto* cmd = find_command(name, src))
    err << "usage: " << cmd->usage << "\n";
  return outcome::usage;
}

const std::vector<command>& commands() {
  static const std::vector<command> table = make_commands();
  return table;
}

const command* find_command(const std::string& name, const source& src) {
  std::string wanted = name == "exit" ? "quit" : name;
  for (const auto& cmd : commands())
    if (cmd.name == wanted && (!cmd.recorded_only || src.recorded()))
      return &cmd;
  return nullptr;
}

bool split_words(const std::string& line, std::vector<std::string>& words,
                 std::string& error) {
  words.clear();
  std::string word;
  bool in_word = false;
  char quote = 0;
  for (char c : line) {
    if (quote != 0) {
      if (c == quote)
        quote = 0;
      else
        word += c;
    } else if (c == '"' || c == '\'') {
      quote = c;
      in_word = true;
    } else if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
      if (in_word)
        words.push_back(word);
      word.clear();
      in_word = false;
    } else {
      word += c;
      in_word = true;
    }
  }
  if (quote != 0) {
    error = std::string("a ") + (quote == '"' ? "double" : "single")
      + " quote is not closed";
    return false;
  }
  if (in_word)
    words.push_back(word);
  return true;
}

outcome run_line(context& ctx, const std::string& line) {
  std::vector<std::string> words;
  std::string error;
  if (!split_words(line, words, error)) {
    ctx.err << error << "\n";
    return outcome::usage;
  }
  if (words.empty())
    return outcome::ok;
  const auto* cmd = find_command(words[0], ctx.src);
  if (cmd == nullptr) {
    bool recorded_only = false;
    for (const auto& c : commands())
      recorded_only |= c.name == words[0] && c.recorded_only;
    if (recorded_only) {
      ctx.err << words[0]
              << ": only for a recorded run (prism console --trace DIR)\n";
      return outcome::usage;
    }
    return unknown_command(ctx, words[0]);
  }
  if (cmd->live_only && ctx.src.recorded())
    return ctx.fail(cmd->name,
                    "not available on a recorded run (it acts on "
                    "a running gateway)");
  std::vector<std::string> args(words.begin() + 1, words.end());
  return cmd->run(ctx, args);
}

} // namespace prism::console
