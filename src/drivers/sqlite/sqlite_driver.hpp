#pragma once

// The SQLite backend: one driver is one connection to the database file plus
// one worker thread that runs its jobs in order. execute() only enqueues; the
// worker runs the statements and calls `done` from its own thread. Several
// drivers (the connections of one backend) may share a file: writes take the
// write lock up front (BEGIN IMMEDIATE), so compare-and-set is atomic across
// connections.

#include <cstdint>
#include <memory>
#include <string>

#include "drivers/driver.hpp"
#include "drivers/sql_worker.hpp"

namespace prism::config {
struct backend;
} // namespace prism::config

namespace prism::drivers {

class sqlite_connection;

class sqlite_driver final : public kv_driver, private sql_worker::hooks {
public:
  /// Opens (and if needed creates) `backend.sqlite.path` and its parent
  /// directory. Throws std::runtime_error naming the path and the reason when
  /// the database cannot be opened or set up.
  sqlite_driver(const config::backend& backend, uint32_t index,
                std::shared_ptr<wall_clock> clock);

  /// Stops accepting jobs, lets the running job finish, fails the queued ones
  /// with UNAVAILABLE ("driver shutting down") and joins the worker.
  ~sqlite_driver() override;

  sqlite_driver(const sqlite_driver&) = delete;
  sqlite_driver& operator=(const sqlite_driver&) = delete;

  using kv_driver::execute;
  void execute(std::string ns, operation_ptr op, op_timeout timeout,
               completion done) override;
  void reclaim_expired(uint32_t max_keys, reclaim_completion done) override;
  std::string describe() const override;

private:
  // On the worker thread.
  model::outcome run(const driver_job& j) override;
  uint64_t reclaim(const driver_job& j) override;

  std::string description_;
  std::shared_ptr<wall_clock> clock_;
  std::unique_ptr<sqlite_connection> conn_;
  sql_worker worker_{*this, "sqlite"};
};

} // namespace prism::drivers
