#pragma once

// One open connection of the PostgreSQL driver and the statements of one
// job on it. Private to src/drivers/postgres.

#include <pqxx/except>
#include <pqxx/nontransaction>
#include <pqxx/result>

#include <atomic>
#include <cstdint>
#include <exception>
#include <memory>
#include <string>
#include <utility>

#include "drivers/driver_job.hpp"
#include "drivers/postgres/postgres_connect.hpp"

namespace prism::drivers {

namespace postgres_detail {

// --- outcomes ---------------------------------------------------------------

/// The job's time ran out before or between its statements.
struct deadline_passed {
  bool started;
};

/// The connection broke: the job and every later one answer `lost`.
struct connection_broken {
  std::string reason;
  /// It broke while COMMIT was under way: the write may have been applied.
  bool in_doubt;
};

} // namespace postgres_detail

// --- one connection ---------------------------------------------------------

/// One open connection with its statements, used by the worker thread only.
class postgres_session {
public:
  using time_point = postgres_detail::time_point;

  postgres_session(const postgres_settings& settings,
                   const std::string& password, int wake_fd,
                   const std::atomic<bool>& shutting_down);
  ~postgres_session();

  postgres_session(const postgres_session&) = delete;
  postgres_session& operator=(const postgres_session&) = delete;

  /// Runs `op`; a broken connection throws
  /// postgres_detail::connection_broken.
  model::outcome execute(const std::string& ns, const model::operation& op,
                         int64_t now_ms, time_point deadline);
  /// Deletes up to `max_keys` expired rows; a broken connection throws
  /// postgres_detail::connection_broken, other failures reclaim nothing this
  /// round.
  uint64_t reclaim_expired(int64_t now_ms, uint32_t max_keys);

  /// A cancel handle for the running statement; the caller frees it.
  PGcancel* make_cancel() const {
    return context_.handle ? PQgetCancel(context_.handle) : nullptr;
  }

  time_point opened_at() const noexcept { return opened_at_; }
  time_point last_used() const noexcept { return last_used_; }

private:
  friend struct drivers::sql_operations<postgres_session>;
  friend class statement_scope;

  void set_up();
  model::outcome run(const std::string& ns, const model::operation& op,
                     int64_t now);
  model::outcome do_get(const std::string& ns, const model::get_op& op,
                        int64_t now);
  model::outcome do_exists(const std::string& ns, const model::exists_op& op,
                           int64_t now);
  model::outcome do_batch_get(const std::string& ns,
                              const model::batch_get_op& op, int64_t now);
  model::outcome do_scan(const std::string& ns, const model::scan_op& op,
                         int64_t now);
  model::outcome do_set(const std::string& ns, const model::set_op& op,
                        int64_t now);
  model::outcome do_delete(const std::string& ns, const model::delete_op& op,
                           int64_t now);
  model::outcome do_batch_set(const std::string& ns,
                              const model::batch_set_op& op, int64_t now);
  model::outcome do_batch_delete(const std::string& ns,
                                 const model::batch_delete_op& op, int64_t now);

  /// Why the connection is broken, from libpq's own message when it has one.
  std::string broken_reason(const std::exception& e) const;
  /// Keeps libpq's message of a connection that broke, before libpqxx can
  /// close the handle it lives in.
  void remember_error() const noexcept;
  bool is_open() const noexcept { return conn_ && conn_->is_open(); }
  /// Maps a failed statement to a status (the connection is still open).
  prism::status to_status(const pqxx::sql_error& e) const;

  const postgres_settings& settings_;
  const std::atomic<bool>& shutting_down_;
  postgres_detail::connect_context
    context_; // before conn_: the policy points at it
  std::unique_ptr<postgres_detail::pg_connection> conn_;
  time_point opened_at_;
  time_point last_used_;

  // The job running now.
  time_point deadline_ = time_point::max();
  /// The statement_timeout the job's transaction set from its deadline, in
  /// ms; -1 while the connection's own statement_timeout applies.
  int64_t job_timeout_ms_ = -1;
  /// The session's statement_timeout (SET outside a transaction), in ms:
  /// statement_timeout_ms after connecting; reads in autocommit lower it to
  /// fit their deadline and it stays until a read needs another value.
  int64_t session_timeout_ms_ = 0;
  bool committing_ = false;
  /// libpq's message when the connection broke during the job.
  mutable std::string error_;
};

/// The statements of one job. A read runs in autocommit, one round trip
/// per statement: the session's statement_timeout bounds it by the job's
/// deadline, and is SET again only when it does not fit (longer than the
/// time left, or less than half of it), so a client with steady deadlines
/// pays for the SET once. A write runs in one READ COMMITTED transaction,
/// rolled back unless committed, so that a connection that breaks before
/// COMMIT leaves nothing applied; transactions are driven by hand on a
/// nontransaction so that BEGIN and the deadline's statement_timeout travel
/// in one round trip.
class statement_scope {
public:
  statement_scope(postgres_session& s, bool write);
  ~statement_scope() { rollback(); }

  statement_scope(const statement_scope&) = delete;
  statement_scope& operator=(const statement_scope&) = delete;

  template <class... Args>
  pqxx::result exec(const char* name, Args&&... args) {
    try {
      // In a transaction even the first statement checks the deadline:
      // BEGIN took a round trip, which a stalled server answers late.
      if (open_)
        tighten();
      else if (statements_ > 0)
        fit_session_timeout(deadline_limit(true));
      ++statements_;
      return tx_.exec_prepared(name, std::forward<Args>(args)...);
    } catch (const pqxx::failure&) {
      s_.remember_error();
      throw;
    }
  }

  void commit();

private:
  /// Before a later statement of a transaction: give up when the deadline
  /// has passed, and shorten the statement_timeout to what is left when it
  /// has shrunk noticeably, so the job as a whole ends near its deadline.
  void tighten();

  /// The timeout the job's deadline asks of its next statement, in ms; -1
  /// when the backend's own statement_timeout_ms is shorter (or there is no
  /// deadline). Throws deadline_passed when it has passed.
  int64_t deadline_limit(bool after_first) const;

  /// Outside a transaction: makes the session's statement_timeout end a
  /// statement no later than `limit` ms from now (the backend's own
  /// statement_timeout_ms when -1), without cutting it much shorter.
  void fit_session_timeout(int64_t limit);

  /// Ends an open transaction. Not on a broken connection: libpqxx would
  /// close it for good first, and libpq's account of the break with it.
  void rollback() noexcept;

  postgres_session& s_;
  pqxx::nontransaction tx_;
  bool write_;
  bool open_ = false;
  int statements_ = 0;
};

} // namespace prism::drivers
