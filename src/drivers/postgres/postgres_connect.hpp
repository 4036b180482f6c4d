#pragma once

// How the PostgreSQL driver reaches its server: the settings it resolves
// from the backend's config, libpq's text forms, and a connection made
// without blocking so that the driver's destructor can interrupt it.
// Private to src/drivers/postgres.

#include <libpq-fe.h>

#include <pqxx/basic_connection>
#include <pqxx/connectionpolicy>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "drivers/postgres/postgres_driver.hpp"

namespace prism::drivers::postgres_detail {

using steady = std::chrono::steady_clock;
using time_point = steady::time_point;

/// A message from libpq or the server on one line, without the severity
/// prefix and trailing newline.
std::string one_line(std::string text);

/// A conninfo value in single quotes, with ' and \ escaped.
std::string quoted(const std::string& value);

/// The settings of connection `index` of a postgres backend. Throws
/// std::runtime_error naming the backend when the dsn cannot be read or the
/// password cannot be had.
postgres_settings make_settings(const config::backend& b, uint32_t index);

// --- connecting -------------------------------------------------------------

/// Thrown when the driver stops while a connection attempt is under way.
struct connect_interrupted {};

/// What the connection policy below needs from the thread that connects,
/// and what it hands back: the raw libpq handle, which libpqxx 6 does not
/// expose (the driver reads PQerrorMessage and makes a cancel handle from it).
struct connect_context {
  int wake_fd = -1;
  time_point deadline = time_point::max();
  uint32_t timeout_ms = 0;
  /// The live connection; null once libpqxx has closed it.
  PGconn* handle = nullptr;
};

/// A libpqxx connection policy that connects without blocking: libpq's
/// asynchronous connect, polled with a deadline and a wake-up descriptor, so
/// the driver's destructor can interrupt it. It connects once: libpqxx 6
/// would otherwise reconnect silently when it finds the connection broken,
/// losing the session's settings and hiding the break from the supervisor.
class connect_policy final : public pqxx::connectionpolicy {
public:
  explicit connect_policy(const std::string& options);

  handle do_startconnect(handle orig) override;
  handle do_dropconnect(handle orig) noexcept override;

private:
  connect_context* context_;
  bool used_ = false;
};

using pg_connection = pqxx::basic_connection_base<connect_policy>;

/// Connects with `conninfo`, within `context`'s deadline; throws
/// connect_interrupted when its wake_fd becomes readable meanwhile, and
/// pqxx::broken_connection with libpq's reason when the attempt fails.
std::unique_ptr<pg_connection> open_connection(const std::string& conninfo,
                                               connect_context& context);

} // namespace prism::drivers::postgres_detail
