#include "drivers/postgres/postgres_session.hpp"

#include <new>

#include "config/defaults.hpp"
#include "drivers/driver_job.hpp"
#include "drivers/postgres/postgres_schema.hpp"

namespace prism::drivers {

using namespace postgres_detail;

// --- the statements of one job ----------------------------------------------

statement_scope::statement_scope(postgres_session& s, bool write)
  : s_(s), tx_(*s.conn_), write_(write) {
  const int64_t limit = deadline_limit(false);
  if (!write) {
    fit_session_timeout(limit);
    return;
  }
  const uint32_t own = s.settings_.statement_timeout_ms;
  std::string sql = "BEGIN ISOLATION LEVEL READ COMMITTED";
  if (limit >= 0)
    sql += "; SET LOCAL statement_timeout = " + std::to_string(limit);
  else if (s.session_timeout_ms_ != own)
    sql += "; SET LOCAL statement_timeout = " + std::to_string(own);
  s.job_timeout_ms_ = limit;
  open_ = true;
  try {
    tx_.exec(sql);
  } catch (...) {
    rollback();
    throw;
  }
}

void statement_scope::commit() {
  if (!open_)
    return;
  // A statement answered after the deadline (a stalled server wakes up)
  // must not be committed: the client has been told DEADLINE_EXCEEDED and
  // may have written the key again since, so the late write would land on
  // top of a newer one. Rolled back, it keeps that answer's promise.
  if (s_.deadline_ != time_point::max()
      && deadline_ms_left(s_.deadline_, steady::now()) <= 0)
    throw deadline_passed{true};
  // Past this point a broken connection leaves a write in doubt.
  s_.committing_ = write_;
  try {
    tx_.exec("COMMIT");
  } catch (const pqxx::failure&) {
    s_.remember_error();
    throw;
  }
  s_.committing_ = false;
  open_ = false;
}

void statement_scope::tighten() {
  if (s_.deadline_ == time_point::max() || !open_)
    return;
  const int64_t left = deadline_ms_left(s_.deadline_, steady::now());
  if (left <= 0)
    throw deadline_passed{true};
  const uint32_t own = s_.settings_.statement_timeout_ms;
  const int64_t current = s_.job_timeout_ms_ >= 0 ? s_.job_timeout_ms_ : own;
  if ((current == 0 || current - left > defaults::postgres_timeout_slack_ms)
      && (own == 0 || left < own)) {
    tx_.exec("SET LOCAL statement_timeout = " + std::to_string(left));
    s_.job_timeout_ms_ = left;
  }
}

int64_t statement_scope::deadline_limit(bool after_first) const {
  if (s_.deadline_ == time_point::max())
    return -1;
  const int64_t left = deadline_ms_left(s_.deadline_, steady::now());
  if (left <= 0)
    throw deadline_passed{after_first};
  const uint32_t own = s_.settings_.statement_timeout_ms;
  return own == 0 || left < own ? left : -1;
}

void statement_scope::fit_session_timeout(int64_t limit) {
  const int64_t own = s_.settings_.statement_timeout_ms;
  const int64_t current = s_.session_timeout_ms_;
  bool fits = limit < 0
    ? current == own
    : current > 0 && current <= limit && current * 2 >= limit;
  if (fits) {
    s_.job_timeout_ms_ = limit < 0 ? -1 : current;
    return;
  }
  // Rounded down to a step, so nearby deadlines share one value.
  int64_t value = limit < 0 ? own
    : limit > defaults::postgres_timeout_exact_max_ms
    ? limit - limit % defaults::postgres_timeout_step_ms
    : limit;
  tx_.exec("SET statement_timeout = " + std::to_string(value));
  s_.session_timeout_ms_ = value;
  s_.job_timeout_ms_ = limit < 0 ? -1 : value;
}

void statement_scope::rollback() noexcept {
  if (!open_)
    return;
  open_ = false;
  s_.remember_error();
  if (!s_.is_open())
    return;
  try {
    tx_.exec("ROLLBACK");
  } catch (...) {
    // A connection that broke just now is noticed by the job already.
    s_.remember_error();
  }
}

// --- one connection ---------------------------------------------------------

postgres_session::postgres_session(const postgres_settings& settings,
                                   const std::string& password, int wake_fd,
                                   const std::atomic<bool>& shutting_down)
  : settings_(settings), shutting_down_(shutting_down) {
  std::string conninfo = settings.conninfo;
  conninfo += "application_name=" + quoted(settings.application_name);
  // libpq counts whole seconds (and at least 2); connect_policy enforces
  // the exact milliseconds on the whole attempt itself.
  conninfo += " connect_timeout="
    + std::to_string((settings.connect_timeout_ms + 999) / 1000);
  if (!password.empty())
    conninfo += " password=" + quoted(password);
  context_.wake_fd = wake_fd;
  context_.timeout_ms = settings.connect_timeout_ms;
  context_.deadline
    = steady::now() + std::chrono::milliseconds(settings.connect_timeout_ms);
  conn_ = open_connection(conninfo, context_);
  opened_at_ = last_used_ = steady::now();
  try {
    set_up();
  } catch (const pqxx::broken_connection& e) {
    throw std::runtime_error("the connection broke while it was set up: "
                             + broken_reason(e));
  } catch (const std::exception& e) {
    throw std::runtime_error("connected, but cannot set up the session and "
                             "tables: "
                             + one_line(e.what()));
  }
}

void postgres_session::set_up() {
  pqxx::nontransaction tx{*conn_};
  // One round trip when the tables exist: quiet notices, the connection's
  // statement timeout, and whether the schema is there.
  auto ready
    = tx.exec("SET client_min_messages = warning; SET statement_timeout = "
              + std::to_string(settings_.statement_timeout_ms)
              + "; SELECT to_regclass('prism_kv') IS NOT NULL"
                " AND to_regclass('prism_kv_expiry') IS NOT NULL"
                " AND to_regclass('prism_kv_version') IS NOT NULL");
  if (!ready.at(0).at(0).as<bool>()) {
    try {
      tx.exec(create_schema_sql);
    } catch (...) {
      try {
        tx.exec("ROLLBACK");
      } catch (...) {
      }
      throw;
    }
  }
  session_timeout_ms_ = settings_.statement_timeout_ms;
  // libpqxx prepares each statement on the server at its first use.
  for (const auto& [name, sql] : statements())
    conn_->prepare(name, sql);
}

postgres_session::~postgres_session() = default;

void postgres_session::remember_error() const noexcept {
  try {
    if (context_.handle == nullptr || !error_.empty()
        || PQstatus(context_.handle) == CONNECTION_OK)
      return;
    // What happened, without libpq's indented guesses at why.
    const std::string text = PQerrorMessage(context_.handle);
    std::string kept;
    size_t start = 0;
    while (start < text.size()) {
      size_t end = text.find('\n', start);
      if (end == std::string::npos)
        end = text.size();
      if (text[start] != '\t')
        kept += text.substr(start, end - start) + "\n";
      start = end + 1;
    }
    error_ = one_line(kept);
  } catch (...) {
  }
}

std::string postgres_session::broken_reason(const std::exception& e) const {
  remember_error();
  std::string why = error_;
  if (why.empty())
    why = one_line(e.what());
  return why.empty() ? "the connection was lost" : why;
}

prism::status postgres_session::to_status(const pqxx::sql_error& e) const {
  const std::string state = e.sqlstate();
  const std::string what = one_line(e.what());
  if (state == "57014") {
    if (shutting_down_.load())
      return status::failure(status_code::unavailable,
                             "driver shutting down: the statement was "
                             "cancelled and rolled back (not applied)");
    const bool by_deadline = job_timeout_ms_ >= 0
      || (deadline_ != time_point::max() && steady::now() >= deadline_);
    if (by_deadline)
      return status::failure(status_code::deadline_exceeded,
                             "the request's deadline passed while PostgreSQL "
                             "ran it; it was rolled back (not applied)");
    return status::failure(
      status_code::deadline_exceeded,
      "the statement ran longer than statement_timeout_ms ("
        + std::to_string(settings_.statement_timeout_ms)
        + " ms) or was cancelled; it was rolled back (not applied): " + what);
  }
  if (state == "55P03")
    return status::failure(status_code::unavailable,
                           "PostgreSQL could not take a lock: " + what
                             + " (not applied)");
  if (state == "25006")
    return status::failure(status_code::unavailable,
                           "the PostgreSQL server at " + settings_.target
                             + " is read-only (a standby?): " + what);
  if (state.rfind("53", 0) == 0)
    return status::failure(status_code::resource_exhausted,
                           "PostgreSQL is out of resources: " + what
                             + " (SQLSTATE " + state + ")");
  // Some of libpqxx's exception classes leave the SQLSTATE out.
  return status::failure(
    status_code::internal,
    "postgres: " + what + (state.empty() ? "" : " (SQLSTATE " + state + ")"));
}

model::outcome postgres_session::execute(const std::string& ns,
                                         const model::operation& op,
                                         int64_t now, time_point deadline) {
  deadline_ = deadline;
  struct done_guard {
    postgres_session& s;
    ~done_guard() {
      s.deadline_ = time_point::max();
      s.last_used_ = steady::now();
    }
  } guard{*this};
  // Serialisation failures and deadlocks roll the transaction back; it is
  // tried again a few times while the deadline allows.
  constexpr int attempts = defaults::postgres_rollback_attempts_count;
  for (int attempt = 1;; ++attempt) {
    job_timeout_ms_ = -1;
    committing_ = false;
    error_.clear();
    try {
      return run(ns, op, now);
    } catch (const deadline_passed& d) {
      if (!d.started)
        return deadline_passed_before_start("PostgreSQL");
      return model::outcome::failure(
        status_code::deadline_exceeded,
        "the request's deadline passed while PostgreSQL ran it; it was "
        "rolled back (not applied)");
    } catch (const pqxx::broken_connection& e) {
      throw connection_broken{broken_reason(e), committing_};
    } catch (const pqxx::statement_completion_unknown& e) {
      if (!is_open())
        throw connection_broken{broken_reason(e), true};
      return model::outcome::failure(
        status_code::unavailable,
        "PostgreSQL cannot tell whether the request "
        "was applied: "
          + one_line(e.what()));
    } catch (const pqxx::transaction_rollback& e) {
      if (!is_open())
        throw connection_broken{broken_reason(e), committing_};
      const bool time_left = deadline_ == time_point::max()
        || steady::now() < deadline_;
      if (attempt < attempts && time_left)
        continue;
      return model::outcome::failure(status_code::aborted,
                                     "PostgreSQL rolled the request back "
                                       + std::to_string(attempt) + " times ("
                                       + one_line(e.what())
                                       + "); it was not applied; retry it");
    } catch (const pqxx::sql_error& e) {
      if (!is_open())
        throw connection_broken{broken_reason(e), committing_};
      return model::outcome{to_status(e), {}};
    } catch (const pqxx::in_doubt_error& e) {
      throw connection_broken{broken_reason(e), true};
    } catch (const std::bad_alloc&) {
      return model::outcome::failure(status_code::resource_exhausted,
                                     "out of memory on postgres backend \""
                                       + settings_.backend + "\"");
    } catch (const std::exception& e) {
      if (!is_open())
        throw connection_broken{broken_reason(e), committing_};
      return model::outcome::failure(status_code::internal,
                                     "postgres driver: " + one_line(e.what()));
    }
  }
}

model::outcome postgres_session::run(const std::string& ns,
                                     const model::operation& op, int64_t now) {
  return model::visit_keyvalue(
    drivers::sql_operations<postgres_session>{*this, ns, now}, op);
}

uint64_t postgres_session::reclaim_expired(int64_t now_ms, uint32_t max_keys) {
  if (max_keys == 0)
    return 0;
  error_.clear();
  try {
    // Not counted as use: reclaiming alone does not keep a connection from
    // being closed as idle.
    pqxx::nontransaction tx{*conn_};
    auto rows
      = tx.exec_prepared("reclaim", now_ms, static_cast<int64_t>(max_keys));
    return rows.affected_rows();
  } catch (const pqxx::broken_connection& e) {
    throw connection_broken{broken_reason(e), false};
  } catch (const std::exception& e) {
    if (!is_open())
      throw connection_broken{broken_reason(e), false};
    // Busy or failing: nothing reclaimed this round; the next round retries.
    return 0;
  }
}

} // namespace prism::drivers
