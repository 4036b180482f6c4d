#include "admin/admin_routes.hpp"

#include <charconv>
#include <chrono>
#include <string_view>

#include <caf/actor_system.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "admin/actor_json.hpp"
#include "admin/ui_page.hpp"
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
