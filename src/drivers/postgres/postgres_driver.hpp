#pragma once

// The PostgreSQL backend: one driver is one libpqxx connection plus one
// worker thread that owns it and runs the driver's jobs in order. execute()
// only enqueues; every blocking libpq/libpqxx call (connecting included)
// happens on the worker, which calls `done` from its own thread.
//
// Lifecycle. The constructor starts the worker, which connects at once; jobs
// queued meanwhile wait for it. A connection that cannot be made, or that
// breaks (the server closed it, a network error), is not made again: every
// job from then on answers model::outcome::lost with the reason, so the
// connection actor fails and its supervisor starts a fresh driver (with its
// backoff, and the circuit past its intensity). Between jobs the worker
// closes a connection idle for idle_timeout_ms and replaces one older than
// max_lifetime_ms; a job after that reconnects first, invisibly when it works.
//
// Data. All namespaces share one table, prism_kv (ns, key, value, version,
// expires_at) with primary key (ns, key), plus prism_kv_version (ns, counter)
// for each namespace's version counter; see postgres_schema.cpp and
// docs/CONFIG.md for why.

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "drivers/driver.hpp"
#include "drivers/sql_worker.hpp"

namespace prism::config {
struct backend;
} // namespace prism::config

extern "C" {
struct pg_cancel;
}

namespace prism::drivers {

class postgres_session;

/// What a postgres driver needs from its backend's config, resolved once.
struct postgres_settings {
  std::string backend;
  uint32_t index = 0;
  /// The connection string as configured, rebuilt as key='value' pairs
  /// without password, application_name and connect_timeout (the driver
  /// sets those).
  std::string conninfo;
  /// user@host:port/dbname, for messages and describe(); never a password.
  std::string target;
  std::string application_name;
  /// Where the password comes from; all empty when none is needed.
  std::string password_env;
  std::string password_file;
  std::string password_in_dsn;
  uint32_t connect_timeout_ms = 0;
  uint32_t statement_timeout_ms = 0;
  uint32_t idle_timeout_ms = 0;
  uint32_t max_lifetime_ms = 0;

  /// The password for the next connection attempt ("" for none). Throws
  /// std::runtime_error when its source cannot be read; the message names
  /// the source, never the password.
  std::string password() const;
};

class postgres_driver final : public kv_driver, private sql_worker::hooks {
public:
  /// Checks the settings and the password source (throws std::runtime_error
  /// naming the backend and the problem: an unreadable dsn, an unset
  /// password_env variable, an unreadable password_file) and starts the
  /// worker. Does not wait for the network.
  postgres_driver(const config::backend& backend, uint32_t index,
                  std::shared_ptr<wall_clock> clock);

  /// Stops accepting jobs, interrupts a connection attempt, cancels the
  /// running statement (its job answers UNAVAILABLE "driver shutting down",
  /// rolled back), fails the queued jobs with UNAVAILABLE ("driver shutting
  /// down") and joins the worker.
  ~postgres_driver() override;

  postgres_driver(const postgres_driver&) = delete;
  postgres_driver& operator=(const postgres_driver&) = delete;

  using kv_driver::execute;
  void execute(std::string ns, operation_ptr op, op_timeout timeout,
               completion done) override;
  void reclaim_expired(uint32_t max_keys, reclaim_completion done) override;
  /// "postgres user@host:port/dbname #index".
  std::string describe() const override;

  /// The application_name of a backend's connection `index`,
  /// "prism:<backend>#<index>" (PostgreSQL keeps its first 63 bytes), so an
  /// operator can find it in pg_stat_activity.
  static std::string application_name(const std::string& backend,
                                      uint32_t index);

private:
  using time_point = sql_worker::time_point;

  // On the worker thread, except stopping(), which runs on the thread that
  // destroys the driver.
  /// Connects at once.
  void started() override;
  /// When the open connection has been idle for idle_timeout_ms.
  time_point idle_until() override;
  /// Closes the idle connection; the next job connects again.
  void idle() override;
  /// Replaces a connection past max_lifetime_ms, connects for a request
  /// when none is open, and refuses every job once the driver stops.
  bool admit(const driver_job& j) override;
  model::outcome run(const driver_job& j) override;
  uint64_t reclaim(const driver_job& j) override;
  /// Cancels the running statement and interrupts a connection attempt.
  void stopping() override;
  /// Closes the connection.
  void stopped() override;

  /// Connects; on failure leaves `session_` empty and sets `broken_`.
  void open();
  void close();
  /// Notes whether a job runs on the open connection.
  void set_running(bool running);
  /// Replaces every known password in `text` by "***".
  std::string mask(std::string text) const;

  postgres_settings settings_;
  std::string description_;
  std::shared_ptr<wall_clock> clock_;

  /// Guards running_ and cancel_.
  std::mutex cancel_mutex_;
  /// A job is running on the connection `cancel_` belongs to.
  bool running_ = false;
  /// Cancels the running statement of the open connection (null when none
  /// is open).
  pg_cancel* cancel_ = nullptr;
  std::atomic<bool> shutting_down_{false};
  /// Interrupts a connection attempt (an eventfd).
  int wake_fd_ = -1;

  // Worker only.
  std::unique_ptr<postgres_session> session_;
  /// Why the connection is gone for good ("" while it is usable).
  std::string broken_;
  /// Passwords used so far, to mask in messages.
  std::vector<std::string> secrets_;

  sql_worker worker_{*this, "postgres"};
};

} // namespace prism::drivers
