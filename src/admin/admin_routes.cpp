#include "admin/admin_routes.hpp"

#include <algorithm>
#include <charconv>
#include <chrono>
#include <string_view>

#include <caf/actor_system.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include "admin/actor_json.hpp"
#include "admin/debug_data.hpp"
#include "config/config.hpp"
#include "runtime/inspector.hpp"
#include "runtime/slow_log.hpp"

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
  for (auto& e : endpoints()) {
    matched_request matched{req, {}};
    if (!matches(e.path, req.path, matched.id))
      continue;
    if (method == e.method) {
      e.handle(hooks, matched, res);
      return res;
    }
    res.allow = e.method;
    send_error(res, 405, "method_not_allowed",
               fmt::format("{} is not allowed on {}: use {} {}", req.method,
                           e.path, e.method, req.path),
               {{"allow", nlohmann::json::array({e.method})}});
    return res;
  }
  return std::nullopt;
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
