#pragma once

// The admin listener's routing, apart from its sockets: a request (method,
// path, Authorization header) goes to the row of the endpoint table whose
// path it names and comes back as an answer. admin_server hands httplib's
// requests to it; the tests and the admin_route fuzzer call it directly.

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <caf/actor_clock.hpp>

namespace caf {
class actor_system;
}

namespace prism {
class inspector;
class slow_log;
struct pool_report;
struct namespace_report;
struct client_report;
struct subscription_lag_report;
} // namespace prism

namespace prism::config {
struct gateway_config;
} // namespace prism::config

namespace prism::admin {

struct gateway_stats;
class warning_history;

/// What a config reload did: applied, or refused with the reasons (each a
/// sentence a person can act on) and the old config still serving.
struct reload_outcome {
  bool applied = false;
  /// One line describing the config now serving.
  std::string summary;
  std::vector<std::string> problems;
};

struct admin_hooks {
  /// Prometheus text of the gateway's counters.
  std::function<std::string()> metrics;
  /// True while the gateway accepts requests.
  std::function<bool()> ready;
  /// The registry of live actors, served under /debug; the /debug endpoints
  /// answer 503 without it. Must outlive the admin server.
  prism::inspector* actors = nullptr;
  /// The actor system the inspected actors run in: its clock gives ages, and
  /// kills are sent in it. Must outlive the admin server.
  caf::actor_system* system = nullptr;
  /// Whether a request's `authorization` header may use the mutating
  /// endpoints (kill); unset allows everyone.
  std::function<bool(const std::string& authorization)> admin_allowed;
  /// The gateway's slow log (GET /debug/slowlog); the /debug/slowlog
  /// endpoints answer 503 without it. Must outlive the admin server.
  prism::slow_log* slow = nullptr;
  /// Reloads the config file (POST /admin/reload); unset answers 503.
  std::function<reload_outcome()> reload;

  // The gateway's data for the debug console (see admin/debug_data.hpp):
  // each endpoint answers 503 while the hook it reads is unset. The
  // time_point arguments are the actor clock's now, to compute ages.
  /// GET /debug/pools and the circuit_open warnings.
  std::function<std::vector<pool_report>(caf::actor_clock::time_point)> pools;
  /// GET /debug/namespaces.
  std::function<std::vector<namespace_report>()> namespaces;
  /// GET /debug/clients.
  std::function<std::vector<client_report>(caf::actor_clock::time_point)>
    clients;
  /// The subscriber_behind warnings; unset: none.
  std::function<std::vector<subscription_lag_report>()> subscription_lags;
  /// GET /debug/config: the config serving now (rendered without secrets).
  std::function<std::shared_ptr<const config::gateway_config>()> config;
  /// GET /debug/stats: what the gateway knows of itself.
  std::function<gateway_stats()> stats;
  /// What GET /debug/warnings remembers between reads; unset: one history
  /// shared by every listener of the process.
  std::shared_ptr<warning_history> warnings_seen;
};

/// A request as the routing reads it.
struct admin_request {
  /// As sent; HEAD is answered like GET (the listener sends no body).
  std::string method;
  /// Decoded, without the query.
  std::string path;
  /// The Authorization header, empty when there is none.
  std::string authorization;
  /// The query's key=value pairs, decoded (the first of a repeated key).
  std::map<std::string, std::string> query{};
};

struct admin_answer {
  int status = 200;
  std::string content_type;
  std::string body;
  /// The Allow header of a 405, else empty.
  std::string allow;
  /// More headers to send (name, value), e.g. a page's
  /// Content-Security-Policy.
  std::vector<std::pair<std::string, std::string>> headers;
};

/// The answer to `req`: the endpoint's, or 405 naming the methods to use
/// when the path is an endpoint's and the method another's. Nullopt when the
/// path is no endpoint's (the listener answers those 404).
std::optional<admin_answer> route(const admin_hooks& hooks,
                                  const admin_request& req);

/// The regular expression (ECMAScript, matching a whole path) of every path
/// route() answers, for the listener to hand those paths to it.
std::string routed_paths_pattern();

} // namespace prism::admin
