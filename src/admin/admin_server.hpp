#pragma once

// The admin HTTP listener: health, readiness, metrics and the actor
// inspector. Endpoints are declared in one table (path, method, help); GET /
// lists them. docs/ADMIN.md describes each endpoint and its JSON.

#include <atomic>
#include <ctime>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

namespace httplib {
class Server;
}

namespace caf {
class actor_system;
}

namespace prism {
class inspector;
}

namespace prism::admin {

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
  /// Reloads the config file (POST /admin/reload); unset answers 503.
  std::function<reload_outcome()> reload;
};

class admin_server {
public:
  /// Connections served at once, each on a thread of its own.
  static constexpr size_t workers = 32;
  /// A connection that sends nothing for this long is closed.
  static constexpr time_t idle_timeout_s = 2;

  /// Binds `listen` (host:port; port 0 picks one) and serves on a thread of
  /// its own. Throws std::runtime_error naming the address on failure.
  admin_server(const std::string& listen, admin_hooks hooks);
  ~admin_server();

  int port() const noexcept { return port_; }
  void stop();

private:
  std::unique_ptr<httplib::Server> http_;
  std::thread thread_;
  admin_hooks hooks_;
  int port_ = 0;
};

} // namespace prism::admin
