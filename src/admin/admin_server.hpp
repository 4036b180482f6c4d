#pragma once

// The admin HTTP listener: health, readiness, metrics and the actor
// inspector. Endpoints are declared in one table (path, method, help) in
// admin_routes.cpp, which answers them; GET / lists them. docs/ADMIN.md
// describes each endpoint and its JSON.

#include <chrono>
#include <ctime>
#include <memory>
#include <string>
#include <thread>

#include "admin/admin_routes.hpp"

namespace httplib {
class Server;
}

namespace prism::admin {

class admin_server {
public:
  /// Connections served at once, each on a thread of its own.
  static constexpr size_t workers = 32;
  /// Workers kept while the listener is idle; the others end after
  /// `worker_idle_for` without a connection.
  static constexpr size_t workers_idle = 1;
  static constexpr std::chrono::milliseconds worker_idle_for{10000};
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
