#include "admin/admin_server.hpp"

#include <charconv>
#include <chrono>
#include <stdexcept>
#include <vector>

#include <caf/actor_system.hpp>
#include <fmt/format.h>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include "admin/actor_json.hpp"
#include "config/config.hpp"
#include "runtime/inspector.hpp"

namespace prism::admin {

namespace {

struct endpoint {
  const char* method;
  /// As shown by GET /; "{id}" stands for one path segment.
  const char* path;
  const char* help;
  std::function<void(const admin_hooks&, const httplib::Request&,
                     httplib::Response&)>
    handle;
};

// --- JSON answers -------------------------------------------------------------

void send_json(httplib::Response& res, int status, const nlohmann::json& body) {
  res.status = status;
  // Names come from peers and config: never let a stray byte fail the dump.
  res.set_content(
    body.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n",
    "application/json");
}

void send_error(httplib::Response& res, int status, const char* error,
                std::string message, nlohmann::json extra = nullptr) {
  nlohmann::json body{{"error", error}, {"message", std::move(message)}};
  if (extra.is_object())
    body.update(extra);
  send_json(res, status, body);
}

/// Whether `req` may use a mutating endpoint; answers 403 when not.
bool admin_request(const admin_hooks& hooks, const httplib::Request& req,
                   httplib::Response& res) {
  if (!hooks.admin_allowed
      || hooks.admin_allowed(req.get_header_value("Authorization")))
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
bool have_inspector(const admin_hooks& hooks, httplib::Response& res) {
  if (hooks.actors)
    return true;
  send_error(res, 503, "unavailable",
             "the actor inspector is not enabled in this process");
  return false;
}

/// The {id} of the path: false (and a 400 answered) when it is not a number.
bool parse_id(const httplib::Request& req, httplib::Response& res,
              uint64_t& id) {
  std::string text = req.matches.size() > 1 ? req.matches[1].str() : "";
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

void send_unknown_actor(httplib::Response& res, uint64_t id) {
  send_error(res, 404, "not_found",
             fmt::format("no actor with id {} is registered (it may have "
                         "ended; GET /debug/actors lists the live ones)",
                         id),
             {{"id", id}});
}

// --- the table ----------------------------------------------------------------

const std::vector<endpoint>& endpoints() {
  static const std::vector<endpoint> table = {
    {"GET", "/healthz", "200 while the process runs",
     [](const admin_hooks&, const httplib::Request&, httplib::Response& res) {
       res.set_content("ok\n", "text/plain");
     }},
    {"GET", "/readyz", "200 while the gateway accepts requests, else 503",
     [](const admin_hooks& hooks, const httplib::Request&,
        httplib::Response& res) {
       bool ready = hooks.ready && hooks.ready();
       res.status = ready ? 200 : 503;
       res.set_content(ready ? "ready\n" : "not ready\n", "text/plain");
     }},
    {"GET", "/metrics", "counters in Prometheus text format",
     [](const admin_hooks& hooks, const httplib::Request&,
        httplib::Response& res) {
       res.set_content(hooks.metrics ? hooks.metrics() : std::string{},
                       "text/plain; version=0.0.4");
     }},
    {"GET", "/debug/actors", "every live actor with its counters (JSON)",
     [](const admin_hooks& hooks, const httplib::Request&,
        httplib::Response& res) {
       if (!have_inspector(hooks, res))
         return;
       auto snap = hooks.actors->snapshot(actor_now(hooks));
       send_json(res, 200, to_json_list(snap, wall_ms()));
     }},
    {"GET", "/debug/tree", "the supervision tree, nested by parent (JSON)",
     [](const admin_hooks& hooks, const httplib::Request&,
        httplib::Response& res) {
       if (!have_inspector(hooks, res))
         return;
       auto snap = hooks.actors->snapshot(actor_now(hooks));
       send_json(res, 200, to_json_tree(snap, wall_ms()));
     }},
    {"GET", "/debug/actors/{id}", "one actor and its children's ids (JSON)",
     [](const admin_hooks& hooks, const httplib::Request& req,
        httplib::Response& res) {
       uint64_t id = 0;
       if (!have_inspector(hooks, res) || !parse_id(req, res, id))
         return;
       auto snap = hooks.actors->snapshot(actor_now(hooks));
       if (auto one = to_json_one(snap, id, wall_ms()))
         send_json(res, 200, *one);
       else
         send_unknown_actor(res, id);
     }},
    {"POST", "/admin/reload",
     "read the config file again and apply it; 200 when applied, 422 with "
     "the problems when refused (the old config keeps serving)",
     [](const admin_hooks& hooks, const httplib::Request& req,
        httplib::Response& res) {
       if (!admin_request(hooks, req, res))
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
     }},
    {"POST", "/debug/actors/{id}/kill",
     "kill one actor (its supervisor may restart it); 202 with the actor",
     [](const admin_hooks& hooks, const httplib::Request& req,
        httplib::Response& res) {
       uint64_t id = 0;
       if (!admin_request(hooks, req, res))
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
                    fmt::format("actor {} has already ended", id),
                    {{"id", id}});
         return;
       }
       // The actor as the kill left it: its last failure says it was killed,
       // by this endpoint, and when.
       for (auto& a : snap)
         if (a.id == id)
           a = snapshot_of(*record, actor_now(hooks));
       auto one = to_json_one(snap, id, wall_ms());
       if (!one) {
         send_unknown_actor(res, id);
         return;
       }
       send_json(res, 202, *one);
     }},
  };
  return table;
}

/// The regular expression httplib matches against the whole request path.
std::string route_pattern(const std::string& path) {
  std::string pattern = path;
  static const std::string placeholder = "{id}";
  for (auto pos = pattern.find(placeholder); pos != std::string::npos;
       pos = pattern.find(placeholder, pos))
    pattern.replace(pos, placeholder.size(), "([^/]+)");
  return pattern;
}

/// httplib answers 400 to a POST without Content-Length (`curl -X POST`)
/// before routing it, unless the handler reads the body itself: so these
/// handlers read (and ignore) a body only when the request announces one.
httplib::Server::HandlerWithContentReader with_body_read(
  httplib::Server::Handler handler) {
  return [handler = std::move(handler)](
           const httplib::Request& req, httplib::Response& res,
           const httplib::ContentReader& read_body) {
    if (req.has_header("Content-Length")
        || req.get_header_value("Transfer-Encoding") == "chunked")
      read_body([](const char*, size_t) { return true; });
    handler(req, res);
  };
}

std::string index_text() {
  std::string text = "Prism admin endpoints:\n";
  for (auto& e : endpoints())
    text += fmt::format("  {:<5} {:<25} {}\n", e.method, e.path, e.help);
  return text;
}

} // namespace

admin_server::admin_server(const std::string& listen, admin_hooks hooks)
  : http_(std::make_unique<httplib::Server>()), hooks_(std::move(hooks)) {
  std::string host;
  uint16_t port = 0;
  if (!config::split_host_port(listen, host, port))
    throw std::invalid_argument("admin address \"" + listen
                                + "\" is not HOST:PORT");
  if (host.size() > 2 && host.front() == '[')
    host = host.substr(1, host.size() - 2);
  // A probe gets through while slow or idle clients hold connections: each
  // holds a worker, there are enough of them, and one that sends nothing
  // for a while is let go.
  http_->new_task_queue = [] {
    return new httplib::ThreadPool(workers);
  };
  // httplib binds with SO_REUSEPORT, so a second gateway given the same
  // admin address would share the port (and its probes and reloads) instead
  // of failing to start. SO_REUSEADDR alone lets a restart bind at once.
  http_->set_socket_options([](socket_t sock) {
    int yes = 1;
    ::setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
  });
  http_->set_read_timeout(idle_timeout_s, 0);
  http_->set_keep_alive_timeout(idle_timeout_s);
  for (auto& e : endpoints()) {
    auto pattern = route_pattern(e.path);
    if (std::string_view{e.method} == "POST")
      http_->Post(pattern,
                  with_body_read([this, &e](const httplib::Request& req,
                                            httplib::Response& res) {
                    e.handle(hooks_, req, res);
                  }));
    else
      http_->Get(
        pattern,
        [this, &e](const httplib::Request& req, httplib::Response& res) {
          e.handle(hooks_, req, res);
        });
  }
  // Any other method on a known path: 405 naming the one to use.
  for (auto& e : endpoints()) {
    auto wrong = [&e](const httplib::Request& req, httplib::Response& res) {
      res.set_header("Allow", e.method);
      send_error(res, 405, "method_not_allowed",
                 fmt::format("{} is not allowed on {}: use {} {}", req.method,
                             e.path, e.method, req.path),
                 {{"allow", nlohmann::json::array({e.method})}});
    };
    auto pattern = route_pattern(e.path);
    if (std::string_view{e.method} == "POST")
      http_->Get(pattern, wrong);
    else
      http_->Post(pattern, with_body_read(wrong));
    http_->Put(pattern, with_body_read(wrong));
    http_->Delete(pattern, with_body_read(wrong));
    http_->Patch(pattern, with_body_read(wrong));
    http_->Options(pattern, wrong);
  }
  http_->Get("/", [](const httplib::Request&, httplib::Response& res) {
    res.set_content(index_text(), "text/plain");
  });
  port_ = port == 0 ? http_->bind_to_any_port(host)
                    : (http_->bind_to_port(host, port) ? port : -1);
  if (port_ <= 0)
    throw std::runtime_error("cannot listen for admin HTTP on " + listen
                             + ": the address is invalid, in use, or not "
                               "allowed (pick another with --admin)");
  thread_ = std::thread([this] { http_->listen_after_bind(); });
}

admin_server::~admin_server() {
  stop();
}

void admin_server::stop() {
  if (thread_.joinable()) {
    http_->stop();
    thread_.join();
  }
}

} // namespace prism::admin
