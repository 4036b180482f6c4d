#include "admin/admin_routes.hpp"

#include <algorithm>
#include <charconv>
#include <chrono>
#include <initializer_list>
#include <string_view>

#include <caf/actor_system.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include "admin/actor_json.hpp"
#include "admin/debug_data.hpp"
#include "admin/trace_json.hpp"
#include "admin/ui_page.hpp"
#include "config/config.hpp"
#include "runtime/inspector.hpp"
#include "runtime/slow_log.hpp"
#include "runtime/tap.hpp"

namespace prism::admin {

namespace {

/// The {id} segment of the path, when it has one.
struct matched_request {
  const admin_request& req;
  std::string id;
};

struct endpoint {
  const char* method;
  /// As shown by GET /; "{id}" stands for one path segment.
  const char* path;
  const char* help;
  std::function<void(const admin_hooks&, const matched_request&, admin_answer&)>
    handle;
};

// --- answers ------------------------------------------------------------------

void send_text(admin_answer& res, int status, std::string text,
               const char* content_type = "text/plain") {
  res.status = status;
  res.content_type = content_type;
  res.body = std::move(text);
}

void send_json(admin_answer& res, int status, const nlohmann::json& body) {
  // Names come from peers and config: never let a stray byte fail the dump.
  send_text(res, status,
            body.dump(2, ' ', false, nlohmann::json::error_handler_t::replace)
              + "\n",
            "application/json");
}

void send_error(admin_answer& res, int status, const char* error,
                std::string message, nlohmann::json extra = nullptr) {
  nlohmann::json body{{"error", error}, {"message", std::move(message)}};
  if (extra.is_object())
    body.update(extra);
  send_json(res, status, body);
}

/// Whether `req` may use a mutating endpoint; answers 403 when not.
bool admin_request_allowed(const admin_hooks& hooks, const admin_request& req,
                           admin_answer& res) {
  if (!hooks.admin_allowed || hooks.admin_allowed(req.authorization))
    return true;
  send_error(res, 403, "forbidden",
             "this endpoint needs \"Authorization: Bearer <token>\" of a "
             "principal listed in auth.admins");
  return false;
}

/// Wall-clock milliseconds since the Unix epoch (the admin listener is not
/// an actor: it may read the wall clock).
int64_t wall_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch())
    .count();
}

caf::actor_clock::time_point actor_now(const admin_hooks& hooks) {
  return hooks.system ? hooks.system->clock().now()
                      : caf::actor_clock::clock_type::now();
}

/// False (and a 503 answered) when the inspector is not wired in.
bool have_inspector(const admin_hooks& hooks, admin_answer& res) {
  if (hooks.actors)
    return true;
  send_error(res, 503, "unavailable",
             "the actor inspector is not enabled in this process");
  return false;
}

/// The {id} of the path: false (and a 400 answered) when it is not a number.
bool parse_id(const matched_request& req, admin_answer& res, uint64_t& id) {
  const std::string& text = req.id;
  auto first = text.data();
  auto last = first + text.size();
  auto [end, ec] = std::from_chars(first, last, id);
  if (text.empty() || ec != std::errc{} || end != last) {
    send_error(res, 400, "bad_request",
               fmt::format("actor id \"{}\" is not a number: use the "
                           "numeric \"id\" that GET /debug/actors lists",
                           text));
    return false;
  }
  return true;
}

void send_unknown_actor(admin_answer& res, uint64_t id) {
  send_error(res, 404, "not_found",
             fmt::format("no actor with id {} is registered (it may have "
                         "ended; GET /debug/actors lists the live ones)",
                         id),
             {{"id", id}});
}

void kill_actor(const admin_hooks& hooks, const matched_request& req,
                admin_answer& res) {
  uint64_t id = 0;
  if (!admin_request_allowed(hooks, req.req, res))
    return;
  if (!have_inspector(hooks, res) || !parse_id(req, res, id))
    return;
  if (!hooks.system) {
    send_error(res, 503, "unavailable",
               "no actor system is wired to the admin listener");
    return;
  }
  auto record = hooks.actors->find(id);
  if (!record) {
    send_unknown_actor(res, id);
    return;
  }
  auto snap = hooks.actors->snapshot(actor_now(hooks));
  if (!hooks.actors->kill(id, *hooks.system,
                          fmt::format("POST /debug/actors/{}/kill", id))) {
    send_error(res, 404, "not_found",
               fmt::format("actor {} has already ended", id), {{"id", id}});
    return;
  }
  // The actor as the kill left it: its last failure says it was killed, by
  // this endpoint, and when.
  for (auto& a : snap)
    if (a.id == id)
      a = snapshot_of(*record, actor_now(hooks));
  auto one = to_json_one(snap, id, wall_ms());
  if (!one) {
    send_unknown_actor(res, id);
    return;
  }
  send_json(res, 202, *one);
}

/// False (and a 503 answered) when the slow log is not wired in.
bool have_slow_log(const admin_hooks& hooks, admin_answer& res) {
  if (hooks.slow)
    return true;
  send_error(res, 503, "unavailable",
             "the slow log is not wired to the admin listener");
  return false;
}

void reset_slow_log(const admin_hooks& hooks, const matched_request& req,
                    admin_answer& res) {
  if (!admin_request_allowed(hooks, req.req, res) || !have_slow_log(hooks, res))
    return;
  hooks.slow->reset();
  send_json(res, 200, {{"reset", true}, {"recorded", hooks.slow->recorded()}});
}

/// Thresholds the slow log takes, in ms: up to an hour.
constexpr uint64_t slow_threshold_ms_max = 3600000;

void set_slow_threshold(const admin_hooks& hooks, const matched_request& req,
                        admin_answer& res) {
  if (!admin_request_allowed(hooks, req.req, res) || !have_slow_log(hooks, res))
    return;
  const std::string& text = req.id;
  uint64_t ms = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), ms);
  if (text.empty() || ec != std::errc{} || end != text.data() + text.size()
      || ms > slow_threshold_ms_max) {
    send_error(res, 400, "bad_request",
               fmt::format("slow log threshold \"{}\" is not a whole number "
                           "of milliseconds from 0 to {}",
                           text, slow_threshold_ms_max));
    return;
  }
  hooks.slow->set_threshold(std::chrono::milliseconds(ms));
  send_json(res, 200, {{"threshold_ms", ms}});
}

void reload_config(const admin_hooks& hooks, const matched_request& req,
                   admin_answer& res) {
  if (!admin_request_allowed(hooks, req.req, res))
    return;
  if (!hooks.reload) {
    send_error(res, 503, "unavailable",
               "config reload is not wired to the admin listener");
    return;
  }
  auto outcome = hooks.reload();
  if (outcome.applied) {
    send_json(res, 200, {{"reloaded", true}, {"config", outcome.summary}});
    return;
  }
  send_error(res, 422, "refused",
             "the new config was not applied; the old one keeps serving",
             {{"reloaded", false},
              {"config", outcome.summary},
              {"problems", outcome.problems}});
}

// --- taps and follows ---------------------------------------------------------

/// The query's keys an endpoint takes: false (and a 400 answered) for
/// another.
bool only_query_keys(const matched_request& req,
                     std::initializer_list<std::string_view> keys,
                     admin_answer& res) {
  for (auto& entry : req.req.query) {
    if (std::find(keys.begin(), keys.end(), entry.first) != keys.end())
      continue;
    std::string names;
    for (auto key : keys)
      names += (names.empty() ? "" : ", ") + std::string(key);
    send_error(res, 400, "bad_request",
               fmt::format("unknown query parameter \"{}\": this endpoint "
                           "takes {}",
                           entry.first, names.empty() ? "none" : names));
    return false;
  }
  return true;
}

/// The query's `key` as a whole number from `min` to `max` (`fallback`
/// when absent): false (and a 400 naming the limits) otherwise.
bool query_number(const matched_request& req, const char* key,
                  uint64_t fallback, uint64_t min, uint64_t max,
                  admin_answer& res, uint64_t& out) {
  auto i = req.req.query.find(key);
  if (i == req.req.query.end()) {
    out = fallback;
    return true;
  }
  const std::string& text = i->second;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  if (text.empty() || ec != std::errc{} || end != text.data() + text.size()
      || out < min || out > max) {
    send_error(res, 400, "bad_request",
               fmt::format("{} must be a whole number from {} to {}; \"{}\" "
                           "is not",
                           key, min, max, text),
               {{"limit", max}});
    return false;
  }
  return true;
}

/// Events a tap takes and how long it runs when the query does not say.
constexpr uint64_t tap_events_default = 100;
constexpr uint64_t tap_duration_ms_default = 10000;

void start_tap(const admin_hooks& hooks, const matched_request& req,
               admin_answer& res) {
  uint64_t max = 0;
  uint64_t for_ms = 0;
  if (!admin_request_allowed(hooks, req.req, res) || !have_inspector(hooks, res)
      || !only_query_keys(req, {"max", "for_ms"}, res)
      || !query_number(req, "max", tap_events_default, 1, tap_board::events_max,
                       res, max)
      || !query_number(req, "for_ms", tap_duration_ms_default, 1,
                       static_cast<uint64_t>(tap_board::duration_max.count()),
                       res, for_ms))
    return;
  auto target = tap_target::parse(req.id);
  if (!target) {
    send_error(res, 400, "bad_request", "a tap needs a target");
    return;
  }
  auto now = actor_now(hooks);
  auto started = hooks.actors->start_tap(
    *target, max, std::chrono::milliseconds(for_ms), now);
  switch (started.refused) {
    case tap_board::refusal::too_many:
      send_error(res, 409, "conflict",
                 fmt::format("{} taps run already, the most at once: stop "
                             "one (POST /debug/trace/{{tap}}/stop) or wait "
                             "for one to end",
                             tap_board::taps_max),
                 {{"limit", tap_board::taps_max}});
      return;
    case tap_board::refusal::no_actor:
      send_error(res, 400, "bad_request",
                 fmt::format("no live actor matches \"{}\": name an actor id, "
                             "a kind:name label, a name or a kind that GET "
                             "/debug/actors lists",
                             req.id),
                 {{"target", req.id}});
      return;
    case tap_board::refusal::none: break;
  }
  send_json(res, 201, to_json(started.tap, now, wall_ms()));
}

/// The {id} of a tap's path: false (and a 400 or 404 answered) when it is
/// not a tap's.
bool parse_tap(const admin_hooks& hooks, const matched_request& req,
               admin_answer& res, uint64_t& tap) {
  if (!have_inspector(hooks, res))
    return false;
  const std::string& text = req.id;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), tap);
  if (text.empty() || ec != std::errc{} || end != text.data() + text.size()) {
    send_error(res, 400, "bad_request",
               fmt::format("tap \"{}\" is not a number: use the \"tap\" that "
                           "POST /debug/trace/{{target}} answered",
                           text));
    return false;
  }
  return true;
}

void send_unknown_tap(admin_answer& res, uint64_t tap) {
  send_error(res, 404, "not_found",
             fmt::format("no tap {} (a stopped tap is forgotten {} s after "
                         "it stops; start one with POST "
                         "/debug/trace/{{target}})",
                         tap, tap_board::kept_after_stop.count() / 1000),
             {{"tap", tap}});
}

void read_tap(const admin_hooks& hooks, const matched_request& req,
              admin_answer& res) {
  uint64_t tap = 0;
  uint64_t after = 0;
  if (!parse_tap(hooks, req, res, tap) || !only_query_keys(req, {"after"}, res)
      || !query_number(req, "after", 0, 0, UINT64_MAX, res, after))
    return;
  auto now = actor_now(hooks);
  if (auto view = hooks.actors->taps().read(tap, after, now))
    send_json(res, 200, to_json(*view, now, wall_ms()));
  else
    send_unknown_tap(res, tap);
}

void stop_tap(const admin_hooks& hooks, const matched_request& req,
              admin_answer& res) {
  uint64_t tap = 0;
  if (!admin_request_allowed(hooks, req.req, res)
      || !parse_tap(hooks, req, res, tap) || !only_query_keys(req, {}, res))
    return;
  auto now = actor_now(hooks);
  if (auto view = hooks.actors->taps().stop(tap, now))
    send_json(res, 200, to_json(*view, now, wall_ms()));
  else
    send_unknown_tap(res, tap);
}

void read_follow(const admin_hooks& hooks, const matched_request& req,
                 admin_answer& res) {
  if (!have_slow_log(hooks, res))
    return;
  auto now = actor_now(hooks);
  auto followed = hooks.slow->followed(req.id, now);
  if (followed && followed->call) {
    send_json(res, 200,
              to_json_followed(*followed->call, "follow", hooks.actors, now,
                               wall_ms()));
    return;
  }
  if (auto slow = hooks.slow->find(req.id)) {
    send_json(res, 200,
              to_json_followed(*slow, "slowlog", hooks.actors, now, wall_ms()));
    return;
  }
  if (followed) {
    send_json(res, 202,
              {{"generated_at_ms", wall_ms()},
               {"request_id", req.id},
               {"state", "waiting"}});
    return;
  }
  send_error(res, 404, "not_found",
             fmt::format("no call with request id \"{}\" is in the slow log "
                         "and none is followed: POST /debug/follow/{} first "
                         "(then send the call), or lower the slow log's "
                         "threshold (POST /debug/slowlog/threshold/{{ms}})",
                         req.id, req.id),
             {{"request_id", req.id}});
}

void arm_follow(const admin_hooks& hooks, const matched_request& req,
                admin_answer& res) {
  if (!admin_request_allowed(hooks, req.req, res) || !have_slow_log(hooks, res))
    return;
  hooks.slow->follow(req.id, actor_now(hooks));
  send_json(res, 202,
            {{"generated_at_ms", wall_ms()},
             {"request_id", req.id},
             {"state", "waiting"},
             {"kept_ms", slow_log::follow_kept.count()}});
}

// --- the gateway's data (the debug console) -----------------------------------

/// False (and a 503 naming the endpoint's data answered) when `hook` is unset.
template <class Hook>
bool have_hook(const Hook& hook, const char* what, admin_answer& res) {
  if (hook)
    return true;
  send_error(res, 503, "unavailable",
             fmt::format("{} are not wired to the admin listener", what));
  return false;
}

void get_pools(const admin_hooks& hooks, const matched_request&,
               admin_answer& res) {
  if (have_hook(hooks.pools, "the backends' pools", res))
    send_json(res, 200, pools_json(hooks.pools(actor_now(hooks)), wall_ms()));
}

void get_namespaces(const admin_hooks& hooks, const matched_request&,
                    admin_answer& res) {
  if (have_hook(hooks.namespaces, "the namespaces' counters", res))
    send_json(res, 200, namespaces_json(hooks.namespaces(), wall_ms()));
}

void get_clients(const admin_hooks& hooks, const matched_request&,
                 admin_answer& res) {
  if (have_hook(hooks.clients, "the client sessions", res))
    send_json(res, 200,
              clients_json(hooks.clients(actor_now(hooks)), wall_ms()));
}

void get_warnings(const admin_hooks& hooks, const matched_request&,
                  admin_answer& res) {
  if (!have_inspector(hooks, res))
    return;
  static warning_history shared_history;
  auto& history = hooks.warnings_seen ? *hooks.warnings_seen : shared_history;
  auto now = actor_now(hooks);
  auto actors = hooks.actors->snapshot(now);
  std::vector<pool_report> pools;
  if (hooks.pools)
    pools = hooks.pools(now);
  std::vector<subscription_lag_report> lags;
  if (hooks.subscription_lags)
    lags = hooks.subscription_lags();
  auto at = wall_ms();
  send_json(res, 200,
            warnings_json(history.evaluate(actors, pools, lags, at), at));
}

void get_config(const admin_hooks& hooks, const matched_request&,
                admin_answer& res) {
  if (!have_hook(hooks.config, "the gateway's config", res))
    return;
  auto cfg = hooks.config();
  if (!cfg) {
    send_error(res, 503, "unavailable", "the gateway has no config yet");
    return;
  }
  send_json(res, 200, config_json(*cfg, wall_ms()));
}

/// The log levels the endpoints name, in spdlog's order (spdlog itself
/// spells warn "warning").
const std::vector<std::string>& log_levels() {
  static const std::vector<std::string> levels
    = {"trace", "debug", "info", "warn", "error", "critical", "off"};
  return levels;
}

void get_log(const admin_hooks&, const matched_request&, admin_answer& res) {
  auto level = static_cast<size_t>(spdlog::default_logger()->level());
  send_json(
    res, 200,
    {{"generated_at_ms", wall_ms()},
     {"level",
      level < log_levels().size() ? log_levels()[level] : std::string{"off"}}});
}

void set_log_level(const admin_hooks& hooks, const matched_request& req,
                   admin_answer& res) {
  if (!admin_request_allowed(hooks, req.req, res))
    return;
  const auto& levels = log_levels();
  auto named = std::find(levels.begin(), levels.end(), req.id);
  if (named == levels.end()) {
    send_error(res, 400, "bad_request",
               fmt::format("log level \"{}\" is not one of trace, debug, "
                           "info, warn, error, critical, off",
                           req.id),
               {{"levels", levels}});
    return;
  }
  auto level = static_cast<spdlog::level::level_enum>(named - levels.begin());
  // Said before it takes effect, so it shows whatever the new level.
  spdlog::warn("log level set to {} by POST /debug/log/level/{}", req.id,
               req.id);
  spdlog::default_logger()->set_level(level);
  send_json(res, 200, {{"level", req.id}});
}

void get_stats(const admin_hooks& hooks, const matched_request&,
               admin_answer& res) {
  if (!have_hook(hooks.stats, "the gateway's figures", res))
    return;
  auto g = hooks.stats();
  auto at = wall_ms();
  process_stats s;
  s.version = g.version;
  s.uptime_ms
    = g.started_at_ms > 0 && at > g.started_at_ms ? at - g.started_at_ms : 0;
  s.pid = static_cast<int64_t>(::getpid());
  read_proc_self(s);
  s.actors = hooks.actors ? hooks.actors->size() : 0;
  s.sessions = g.sessions;
  s.requests_in_flight = g.requests_in_flight;
  s.config_path = g.config_path;
  s.listen = g.listen;
  s.admin = g.admin;
  send_json(res, 200, stats_json(s, at));
}

// --- the table ----------------------------------------------------------------

const std::vector<endpoint>& endpoints() {
  static const std::vector<endpoint> table = {
    {"GET", "/healthz", "200 while the process runs",
     [](const admin_hooks&, const matched_request&, admin_answer& res) {
       send_text(res, 200, "ok\n");
     }},
    {"GET", "/readyz", "200 while the gateway accepts requests, else 503",
     [](const admin_hooks& hooks, const matched_request&, admin_answer& res) {
       bool ready = hooks.ready && hooks.ready();
       send_text(res, ready ? 200 : 503, ready ? "ready\n" : "not ready\n");
     }},
    {"GET", "/metrics", "counters in Prometheus text format",
     [](const admin_hooks& hooks, const matched_request&, admin_answer& res) {
       send_text(res, 200, hooks.metrics ? hooks.metrics() : std::string{},
                 "text/plain; version=0.0.4");
     }},
    {"GET", "/debug/ui",
     "the debug console: a live page of the actors, pools, namespaces, "
     "warnings and slow log (HTML; loads nothing from the network)",
     [](const admin_hooks&, const matched_request&, admin_answer& res) {
       send_text(res, 200, ui_page_html(), "text/html; charset=utf-8");
       res.headers = ui_page_headers();
     }},
    {"GET", "/debug/actors", "every live actor with its counters (JSON)",
     [](const admin_hooks& hooks, const matched_request&, admin_answer& res) {
       if (!have_inspector(hooks, res))
         return;
       auto snap = hooks.actors->snapshot(actor_now(hooks));
       send_json(res, 200, to_json_list(snap, wall_ms()));
     }},
    {"GET", "/debug/tree", "the supervision tree, nested by parent (JSON)",
     [](const admin_hooks& hooks, const matched_request&, admin_answer& res) {
       if (!have_inspector(hooks, res))
         return;
       auto snap = hooks.actors->snapshot(actor_now(hooks));
       send_json(res, 200, to_json_tree(snap, wall_ms()));
     }},
    {"GET", "/debug/actors/{id}", "one actor and its children's ids (JSON)",
     [](const admin_hooks& hooks, const matched_request& req,
        admin_answer& res) {
       uint64_t id = 0;
       if (!have_inspector(hooks, res) || !parse_id(req, res, id))
         return;
       auto snap = hooks.actors->snapshot(actor_now(hooks));
       if (auto one = to_json_one(snap, id, wall_ms()))
         send_json(res, 200, *one);
       else
         send_unknown_actor(res, id);
     }},
    {"GET", "/debug/slowlog",
     "the newest calls that took at least the threshold, with their time "
     "per hop (JSON)",
     [](const admin_hooks& hooks, const matched_request&, admin_answer& res) {
       if (!have_slow_log(hooks, res))
         return;
       send_json(res, 200, to_json(*hooks.slow, actor_now(hooks), wall_ms()));
     }},
    {"POST", "/debug/slowlog/reset", "forget the slow log's entries",
     reset_slow_log},
    {"POST", "/debug/slowlog/threshold/{id}",
     "record calls that take at least {id} ms from now on", set_slow_threshold},
    {"POST", "/admin/reload",
     "read the config file again and apply it; 200 when applied, 422 with "
     "the problems when refused (the old config keeps serving)",
     reload_config},
    {"POST", "/debug/actors/{id}/kill",
     "kill one actor (its supervisor may restart it); 202 with the actor",
     kill_actor},
    {"POST", "/debug/trace/{id}",
     "tap the messages of the actors {id} names (an id, kind:name, a name "
     "or a kind): ?max=N events (1..10000, 100), ?for_ms=M (1..600000, "
     "10000); 201 with the tap",
     start_tap},
    {"GET", "/debug/trace/{id}", "tap {id}'s events after ?after=SEQ (JSON)",
     read_tap},
    {"POST", "/debug/trace/{id}/stop", "stop tap {id}; its events (JSON)",
     stop_tap},
    {"POST", "/debug/follow/{id}",
     "record the next call with request id {id}, hop by hop; 202", arm_follow},
    {"GET", "/debug/follow/{id}",
     "the call with request id {id}, followed or in the slow log, as a "
     "timeline of its hops (JSON); 202 while a follow waits",
     read_follow},
    // The gateway's data for the debug console.
    {"GET", "/debug/pools",
     "each backend's pool: connections, waiting calls, circuit (JSON)",
     get_pools},
    {"GET", "/debug/namespaces",
     "each namespace's requests by code, refusals and latency (JSON)",
     get_namespaces},
    {"GET", "/debug/clients",
     "each client connection's session: calls in flight, streams (JSON)",
     get_clients},
    {"GET", "/debug/warnings",
     "what needs a look now: full mailboxes, open circuits, restart loops "
     "(JSON)",
     get_warnings},
    {"GET", "/debug/config", "the config serving now, without secrets (JSON)",
     get_config},
    {"GET", "/debug/log", "the log level (JSON)", get_log},
    {"POST", "/debug/log/level/{id}",
     "set the log level: trace, debug, info, warn, error, critical or off",
     set_log_level},
    {"GET", "/debug/stats",
     "the process: memory, threads, CPU time, actors, sessions (JSON)",
     get_stats},
  };
  return table;
}

constexpr std::string_view id_placeholder = "{id}";

/// Whether `path` is the endpoint's; its {id} segment goes into `id`. An
/// {id} is one path segment of at least one byte, any but '/'.
bool matches(std::string_view pattern, std::string_view path, std::string& id) {
  auto at = pattern.find(id_placeholder);
  if (at == std::string_view::npos)
    return path == pattern;
  auto head = pattern.substr(0, at);
  auto tail = pattern.substr(at + id_placeholder.size());
  if (path.size() <= head.size() + tail.size()
      || path.substr(0, head.size()) != head
      || path.substr(path.size() - tail.size()) != tail)
    return false;
  auto segment
    = path.substr(head.size(), path.size() - head.size() - tail.size());
  if (segment.find('/') != std::string_view::npos)
    return false;
  id.assign(segment);
  return true;
}

std::string index_text() {
  std::string text = "Prism admin endpoints:\n";
  for (auto& e : endpoints())
    text += fmt::format("  {:<5} {:<25} {}\n", e.method, e.path, e.help);
  return text;
}

} // namespace

std::optional<admin_answer> route(const admin_hooks& hooks,
                                  const admin_request& req) {
  // HEAD is answered as GET: the listener sends its headers only.
  const std::string_view method = req.method == "HEAD" ? std::string_view{"GET"}
                                                       : req.method;
  admin_answer res;
  if (req.path == "/") {
    if (method != "GET")
      return std::nullopt;
    send_text(res, 200, index_text());
    return res;
  }
  // A path may have a row per method: the row of the request's method
  // answers, else 405 names the path's methods.
  std::vector<const char*> allowed;
  const char* pattern = nullptr;
  for (auto& e : endpoints()) {
    matched_request matched{req, {}};
    if (!matches(e.path, req.path, matched.id))
      continue;
    if (method == e.method) {
      e.handle(hooks, matched, res);
      return res;
    }
    allowed.push_back(e.method);
    if (pattern == nullptr)
      pattern = e.path;
  }
  if (allowed.empty())
    return std::nullopt;
  std::string methods;
  std::string choices;
  for (auto m : allowed) {
    methods += (methods.empty() ? "" : ", ") + std::string(m);
    choices += (choices.empty() ? "" : " or ") + std::string(m);
  }
  res.allow = methods;
  send_error(res, 405, "method_not_allowed",
             fmt::format("{} is not allowed on {}: use {} {}", req.method,
                         pattern, choices, req.path),
             {{"allow", allowed}});
  return res;
}

std::string routed_paths_pattern() {
  std::string pattern;
  for (auto& e : endpoints()) {
    std::string path = e.path;
    for (auto pos = path.find(id_placeholder); pos != std::string::npos;
         pos = path.find(id_placeholder, pos))
      path.replace(pos, id_placeholder.size(), "[^/]+");
    pattern += (pattern.empty() ? "" : "|") + path;
  }
  return pattern;
}

} // namespace prism::admin
