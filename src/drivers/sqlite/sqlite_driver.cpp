#include "drivers/sqlite/sqlite_driver.hpp"

#include <sqlite3.h>

#include <filesystem>
#include <new>
#include <optional>
#include <stdexcept>
#include <string_view>
#include <type_traits>
#include <unordered_map>
#include <utility>

#include "config/config.hpp"
#include "config/defaults.hpp"
#include "drivers/driver_job.hpp"
#include "model/keys.hpp"

namespace prism::drivers {

namespace {

constexpr const char* schema_sql = R"sql(
CREATE TABLE IF NOT EXISTS kv (
  ns         TEXT    NOT NULL,
  key        BLOB    NOT NULL,
  value      BLOB    NOT NULL,
  version    INTEGER NOT NULL,
  expires_at INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (ns, key)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS kv_expiry ON kv (expires_at) WHERE expires_at > 0;
CREATE TABLE IF NOT EXISTS kv_version (
  ns      TEXT    NOT NULL PRIMARY KEY,
  counter INTEGER NOT NULL
) WITHOUT ROWID;
)sql";

constexpr const char* live_clause = "(expires_at = 0 OR expires_at > ?3)";

/// A failed SQLite call, carried to the job's boundary where it becomes a
/// status.
struct sqlite_failure {
  int rc;
  std::string message;
};

} // namespace

/// One connection and its cached statements. Used by one thread at a time:
/// the constructor's, then the worker's.
class sqlite_connection {
public:
  sqlite_connection(const config::backend& backend);
  ~sqlite_connection();

  sqlite_connection(const sqlite_connection&) = delete;
  sqlite_connection& operator=(const sqlite_connection&) = delete;

  /// Runs `op`, giving up at `deadline` (steady clock): the statement is
  /// interrupted and its transaction rolled back.
  model::outcome execute(const std::string& ns, const model::operation& op,
                         int64_t now_ms,
                         std::chrono::steady_clock::time_point deadline);
  uint64_t reclaim_expired(int64_t now_ms, uint32_t max_keys);

  sqlite3* db() const noexcept { return db_; }
  using time_point = std::chrono::steady_clock::time_point;
  const std::string& path() const noexcept { return path_; }

  /// A cached statement; prepared on first use.
  sqlite3_stmt* statement(const std::string& sql);

  [[noreturn]] void raise(int rc) const {
    throw sqlite_failure{rc, sqlite3_errmsg(db_)};
  }

  /// Runs SQL without results (pragmas, schema, transaction control).
  void exec(const char* sql);

private:
  friend struct drivers::sql_operations<sqlite_connection>;
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

  /// Reserves `n` versions of `ns` and answers the last one.
  uint64_t reserve_versions(const std::string& ns, uint64_t n);
  void upsert(const std::string& ns, const std::string& key,
              const std::string& value, uint64_t version, int64_t expires_at);
  /// Removes a key; true when it was present and live.
  bool remove(const std::string& ns, const std::string& key, int64_t now);

  prism::status to_status(const sqlite_failure& f) const;

  /// Interrupts the running statement once the deadline has passed.
  static int on_progress(void* self) noexcept;

  std::string backend_name_;
  std::string path_;
  int busy_timeout_ms_ = 0;
  /// The deadline of the operation running now.
  time_point deadline_ = time_point::max();
  sqlite3* db_ = nullptr;
  std::unordered_map<std::string, sqlite3_stmt*> statements_;
};

namespace {

/// A cached statement in use: reset and unbound when the scope ends, so the
/// next user starts clean and no read transaction stays open.
class stmt {
public:
  stmt(sqlite_connection& c, const std::string& sql)
    : conn_(c), s_(c.statement(sql)) {}
  ~stmt() {
    sqlite3_reset(s_);
    sqlite3_clear_bindings(s_);
  }
  stmt(const stmt&) = delete;
  stmt& operator=(const stmt&) = delete;

  // The bound bytes must outlive the statement's use (SQLITE_STATIC).
  stmt& blob(int i, std::string_view v) {
    // A null pointer would bind NULL; an empty blob needs a real address.
    static const char empty = 0;
    check(sqlite3_bind_blob64(s_, i, v.empty() ? &empty : v.data(), v.size(),
                              SQLITE_STATIC));
    return *this;
  }
  stmt& text(int i, std::string_view v) {
    static const char empty = 0;
    check(sqlite3_bind_text64(s_, i, v.empty() ? &empty : v.data(), v.size(),
                              SQLITE_STATIC, SQLITE_UTF8));
    return *this;
  }
  stmt& integer(int i, int64_t v) {
    check(sqlite3_bind_int64(s_, i, v));
    return *this;
  }

  /// True with a row, false when done; throws on error.
  bool step() {
    int rc = sqlite3_step(s_);
    if (rc == SQLITE_ROW)
      return true;
    if (rc == SQLITE_DONE)
      return false;
    conn_.raise(rc);
  }
  void run() {
    while (step()) {
    }
  }

  int64_t column_int(int i) const { return sqlite3_column_int64(s_, i); }
  std::string column_bytes(int i) const {
    const void* p = sqlite3_column_blob(s_, i);
    const int n = sqlite3_column_bytes(s_, i);
    if (p == nullptr || n <= 0) {
      if (sqlite3_errcode(conn_.db()) == SQLITE_NOMEM)
        throw std::bad_alloc{};
      return {};
    }
    return std::string(static_cast<const char*>(p), static_cast<size_t>(n));
  }

private:
  void check(int rc) {
    if (rc != SQLITE_OK)
      conn_.raise(rc);
  }

  sqlite_connection& conn_;
  sqlite3_stmt* s_;
};

/// A transaction that rolls back unless committed.
class transaction {
public:
  transaction(sqlite_connection& c, bool write) : conn_(c) {
    stmt{c, write ? "BEGIN IMMEDIATE" : "BEGIN"}.run();
  }
  ~transaction() {
    if (!done_ && !sqlite3_get_autocommit(conn_.db()))
      sqlite3_exec(conn_.db(), "ROLLBACK", nullptr, nullptr, nullptr);
  }
  transaction(const transaction&) = delete;
  transaction& operator=(const transaction&) = delete;

  void commit() {
    // Past this point the write is kept even if the deadline passes: an
    // interrupted COMMIT would leave the client unsure whether it applied.
    sqlite3_progress_handler(conn_.db(), 0, nullptr, nullptr);
    stmt{conn_, "COMMIT"}.run();
    done_ = true;
  }

private:
  sqlite_connection& conn_;
  bool done_ = false;
};

std::string open_error(const config::backend& b, const std::string& reason) {
  return "sqlite backend \"" + b.name + "\": cannot open database \""
    + b.sqlite.path + "\": " + reason;
}

} // namespace

sqlite_connection::sqlite_connection(const config::backend& backend)
  : backend_name_(backend.name), path_(backend.sqlite.path) {
  namespace fs = std::filesystem;
  if (path_.empty())
    throw std::runtime_error(open_error(backend, "no path configured"));
  const fs::path parent = fs::path(path_).parent_path();
  if (!parent.empty()) {
    std::error_code ec;
    fs::create_directories(parent, ec);
    if (ec)
      throw std::runtime_error(open_error(backend,
                                          "cannot create directory \""
                                            + parent.string()
                                            + "\": " + ec.message()));
  }
  const int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE
    | SQLITE_OPEN_NOMUTEX;
  int rc = sqlite3_open_v2(path_.c_str(), &db_, flags, nullptr);
  if (rc != SQLITE_OK) {
    std::string reason = db_ ? sqlite3_errmsg(db_) : sqlite3_errstr(rc);
    sqlite3_close(db_);
    db_ = nullptr;
    throw std::runtime_error(open_error(backend, reason));
  }
  try {
    sqlite3_extended_result_codes(db_, 1);
    busy_timeout_ms_ = static_cast<int>(backend.sqlite.busy_timeout_ms);
    sqlite3_busy_timeout(db_, busy_timeout_ms_);
    std::string mode;
    {
      stmt s{*this, "PRAGMA journal_mode=WAL"};
      if (s.step())
        mode = s.column_bytes(0);
    }
    if (mode != "wal")
      throw std::runtime_error(open_error(
        backend,
        "cannot use WAL journal mode (journal mode is \"" + mode + "\")"));
    exec(backend.sqlite.synchronous == config::sqlite_synchronous::full
           ? "PRAGMA synchronous=FULL"
           : "PRAGMA synchronous=NORMAL");
    exec(schema_sql);
  } catch (const sqlite_failure& f) {
    for (auto& [sql, s] : statements_)
      sqlite3_finalize(s);
    statements_.clear();
    sqlite3_close(db_);
    db_ = nullptr;
    throw std::runtime_error(open_error(backend, f.message));
  } catch (...) {
    for (auto& [sql, s] : statements_)
      sqlite3_finalize(s);
    statements_.clear();
    sqlite3_close(db_);
    db_ = nullptr;
    throw;
  }
}

sqlite_connection::~sqlite_connection() {
  for (auto& [sql, s] : statements_)
    sqlite3_finalize(s);
  sqlite3_close(db_);
}

sqlite3_stmt* sqlite_connection::statement(const std::string& sql) {
  auto i = statements_.find(sql);
  if (i != statements_.end())
    return i->second;
  sqlite3_stmt* s = nullptr;
  int rc = sqlite3_prepare_v3(db_, sql.c_str(), static_cast<int>(sql.size()),
                              SQLITE_PREPARE_PERSISTENT, &s, nullptr);
  if (rc != SQLITE_OK)
    raise(rc);
  try {
    statements_.emplace(sql, s);
  } catch (...) {
    sqlite3_finalize(s);
    throw;
  }
  return s;
}

void sqlite_connection::exec(const char* sql) {
  char* err = nullptr;
  int rc = sqlite3_exec(db_, sql, nullptr, nullptr, &err);
  if (rc != SQLITE_OK) {
    std::string message = err ? err : sqlite3_errstr(rc);
    sqlite3_free(err);
    throw sqlite_failure{rc, std::move(message)};
  }
}

int sqlite_connection::on_progress(void* self) noexcept {
  auto* conn = static_cast<sqlite_connection*>(self);
  return std::chrono::steady_clock::now() >= conn->deadline_ ? 1 : 0;
}

prism::status sqlite_connection::to_status(const sqlite_failure& f) const {
  bool late = deadline_ != time_point::max()
    && std::chrono::steady_clock::now() >= deadline_;
  switch (f.rc & 0xff) {
    case SQLITE_INTERRUPT:
      return status::failure(status_code::deadline_exceeded,
                             "the request's deadline passed while the "
                             "database ran it; it was rolled back (not "
                             "applied)");
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      if (late)
        return status::failure(status_code::deadline_exceeded,
                               "the request's deadline passed while it "
                               "waited for the database lock ("
                                 + path_ + "); it was not applied");
      return status::failure(status_code::unavailable,
                             "database is busy: " + f.message + " (" + path_
                               + ")");
    case SQLITE_FULL:
      return status::failure(status_code::resource_exhausted,
                             "database is full: " + f.message + " (" + path_
                               + ")");
    case SQLITE_NOMEM:
      return status::failure(status_code::resource_exhausted,
                             "sqlite is out of memory: " + f.message);
    case SQLITE_IOERR:
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
    case SQLITE_CANTOPEN:
    case SQLITE_PROTOCOL:
    case SQLITE_READONLY:
      return status::failure(status_code::unavailable,
                             "database file \"" + path_ + "\": " + f.message);
    default:
      return status::failure(status_code::internal, "sqlite: " + f.message);
  }
}

model::outcome sqlite_connection::execute(const std::string& ns,
                                          const model::operation& op,
                                          int64_t now, time_point deadline) {
  deadline_ = deadline;
  if (deadline != time_point::max()) {
    const int64_t left_ms
      = deadline_ms_left(deadline, std::chrono::steady_clock::now());
    if (left_ms <= 0)
      return deadline_passed_before_start("the database");
    // Wait for the lock no longer than the client waits, and stop a
    // statement that runs past the deadline.
    sqlite3_busy_timeout(
      db_, static_cast<int>(std::min<int64_t>(busy_timeout_ms_, left_ms)));
    sqlite3_progress_handler(
      db_, static_cast<int>(defaults::sqlite_progress_interval_count),
      &sqlite_connection::on_progress, this);
  }
  struct restore {
    sqlite_connection& c;
    ~restore() {
      if (c.deadline_ != time_point::max()) {
        sqlite3_progress_handler(c.db_, 0, nullptr, nullptr);
        sqlite3_busy_timeout(c.db_, c.busy_timeout_ms_);
        c.deadline_ = time_point::max();
      }
    }
  } guard{*this};
  try {
    return model::visit_keyvalue(
      drivers::sql_operations<sqlite_connection>{*this, ns, now}, op);
  } catch (const sqlite_failure& f) {
    return model::outcome{to_status(f), {}};
  } catch (const std::bad_alloc&) {
    return model::outcome::failure(status_code::resource_exhausted,
                                   "out of memory on sqlite backend \""
                                     + backend_name_ + "\"");
  } catch (const std::exception& e) {
    return model::outcome::failure(status_code::internal, e.what());
  }
}

model::outcome sqlite_connection::do_get(const std::string& ns,
                                         const model::get_op& op, int64_t now) {
  static const std::string sql
    = std::string(
        "SELECT value, version FROM kv WHERE ns = ?1 AND key = ?2 AND ")
    + live_clause;
  model::get_result r;
  stmt s{*this, sql};
  s.text(1, ns).blob(2, op.key).integer(3, now);
  if (s.step()) {
    r.found = true;
    r.value = s.column_bytes(0);
    r.version = static_cast<uint64_t>(s.column_int(1));
  }
  return model::outcome::success(std::move(r));
}

model::outcome sqlite_connection::do_exists(const std::string& ns,
                                            const model::exists_op& op,
                                            int64_t now) {
  static const std::string sql
    = std::string("SELECT 1 FROM kv WHERE ns = ?1 AND key = ?2 AND ")
    + live_clause;
  model::exists_result r;
  stmt s{*this, sql};
  s.text(1, ns).blob(2, op.key).integer(3, now);
  r.exists = s.step();
  return model::outcome::success(r);
}

model::outcome sqlite_connection::do_batch_get(const std::string& ns,
                                               const model::batch_get_op& op,
                                               int64_t now) {
  static const std::string sql
    = std::string(
        "SELECT value, version FROM kv WHERE ns = ?1 AND key = ?2 AND ")
    + live_clause;
  model::batch_get_result r;
  r.items.reserve(op.keys.size());
  model::answer_budget budget{op.answer_bytes_max};
  // One read transaction: every key is read from the same snapshot.
  transaction t{*this, false};
  for (const auto& key : op.keys) {
    model::item it;
    it.key = key;
    stmt s{*this, sql};
    s.text(1, ns).blob(2, key).integer(3, now);
    if (s.step()) {
      it.found = true;
      it.value = s.column_bytes(0);
      if (!budget.take(key.size() + it.value.size()))
        return model::batch_get_too_large(op);
      it.version = static_cast<uint64_t>(s.column_int(1));
    }
    r.items.push_back(std::move(it));
  }
  t.commit();
  return model::outcome::success(std::move(r));
}

model::outcome sqlite_connection::do_scan(const std::string& ns,
                                          const model::scan_op& op,
                                          int64_t now) {
  const uint32_t limit = model::effective_scan_limit(op);
  // Keys from the greater of (>= prefix) and (> start_after), below the
  // prefix's successor when it has one.
  const bool after = !op.start_after.empty()
    && op.start_after.compare(op.prefix) >= 0;
  const auto upper = model::prefix_successor(op.prefix);
  std::string sql = op.keys_only ? "SELECT key, version FROM kv"
                                 : "SELECT key, version, value FROM kv";
  sql += " WHERE ns = ?1 AND key ";
  sql += after ? "> ?2" : ">= ?2";
  sql += " AND ";
  sql += live_clause;
  if (upper)
    sql += " AND key < ?5";
  sql += " ORDER BY key LIMIT ?4";

  model::scan_result r;
  stmt s{*this, sql};
  s.text(1, ns).blob(2, after ? op.start_after : op.prefix).integer(3, now);
  // One row more than the page tells whether another page exists.
  s.integer(4, static_cast<int64_t>(limit) + 1);
  if (upper)
    s.blob(5, *upper);
  model::answer_budget budget{op.answer_bytes_max};
  while (s.step()) {
    model::item it;
    it.key = s.column_bytes(0);
    if (!op.keys_only)
      it.value = s.column_bytes(2);
    if (r.items.size() == limit
        || !budget.take(it.key.size() + it.value.size())) {
      r.next_start_after = r.items.back().key;
      break;
    }
    it.found = true;
    it.version = static_cast<uint64_t>(s.column_int(1));
    r.items.push_back(std::move(it));
  }
  return model::outcome::success(std::move(r));
}

uint64_t sqlite_connection::reserve_versions(const std::string& ns,
                                             uint64_t n) {
  stmt s{*this,
         "INSERT INTO kv_version (ns, counter) VALUES (?1, ?2) "
         "ON CONFLICT (ns) DO UPDATE SET counter = counter + excluded.counter "
         "RETURNING counter"};
  s.text(1, ns).integer(2, static_cast<int64_t>(n));
  if (!s.step())
    throw sqlite_failure{SQLITE_INTERNAL, "version counter returned no row"};
  const auto last = static_cast<uint64_t>(s.column_int(0));
  s.run();
  return last;
}

void sqlite_connection::upsert(const std::string& ns, const std::string& key,
                               const std::string& value, uint64_t version,
                               int64_t expires_at) {
  stmt s{*this,
         "INSERT INTO kv (ns, key, value, version, expires_at) "
         "VALUES (?1, ?2, ?3, ?4, ?5) "
         "ON CONFLICT (ns, key) DO UPDATE SET value = excluded.value, "
         "version = excluded.version, expires_at = excluded.expires_at"};
  s.text(1, ns).blob(2, key).blob(3, value);
  s.integer(4, static_cast<int64_t>(version)).integer(5, expires_at);
  s.run();
}

bool sqlite_connection::remove(const std::string& ns, const std::string& key,
                               int64_t now) {
  stmt s{*this,
         "DELETE FROM kv WHERE ns = ?1 AND key = ?2 RETURNING expires_at"};
  s.text(1, ns).blob(2, key);
  bool live = false;
  while (s.step())
    live = model::is_live(s.column_int(0), now);
  return live;
}

model::outcome sqlite_connection::do_set(const std::string& ns,
                                         const model::set_op& op, int64_t now) {
  transaction t{*this, true};
  if (op.if_version) {
    std::optional<uint64_t> current;
    {
      stmt s{*this,
             "SELECT version, expires_at FROM kv WHERE ns = ?1 AND key = ?2"};
      s.text(1, ns).blob(2, op.key);
      if (s.step() && model::is_live(s.column_int(1), now))
        current = static_cast<uint64_t>(s.column_int(0));
    }
    const bool match = *op.if_version == 0 ? !current.has_value()
                                           : current == *op.if_version;
    if (!match)
      return model::outcome::failure(
        status_code::failed_precondition,
        model::version_mismatch_message(op.key, *op.if_version, current));
  }
  model::set_result r;
  r.version = reserve_versions(ns, 1);
  upsert(ns, op.key, op.value, r.version, model::expiry_for(now, op.ttl_ms));
  t.commit();
  return model::outcome::success(r);
}

model::outcome sqlite_connection::do_delete(const std::string& ns,
                                            const model::delete_op& op,
                                            int64_t now) {
  model::delete_result r;
  r.existed = remove(ns, op.key, now);
  return model::outcome::success(r);
}

model::outcome sqlite_connection::do_batch_set(const std::string& ns,
                                               const model::batch_set_op& op,
                                               int64_t now) {
  model::batch_set_result r;
  if (op.entries.empty())
    return model::outcome::success(std::move(r));
  r.versions.reserve(op.entries.size());
  transaction t{*this, true};
  const uint64_t n = op.entries.size();
  const uint64_t last = reserve_versions(ns, n);
  uint64_t version = last - n;
  for (const auto& e : op.entries) {
    ++version;
    upsert(ns, e.key, e.value, version, model::expiry_for(now, e.ttl_ms));
    r.versions.push_back(version);
  }
  t.commit();
  return model::outcome::success(std::move(r));
}

model::outcome sqlite_connection::do_batch_delete(
  const std::string& ns, const model::batch_delete_op& op, int64_t now) {
  model::batch_delete_result r;
  if (op.keys.empty())
    return model::outcome::success(r);
  transaction t{*this, true};
  // A key listed twice is gone after its first mention, so counts once.
  for (const auto& key : op.keys)
    if (remove(ns, key, now))
      ++r.deleted;
  t.commit();
  return model::outcome::success(r);
}

uint64_t sqlite_connection::reclaim_expired(int64_t now_ms, uint32_t max_keys) {
  if (max_keys == 0)
    return 0;
  try {
    stmt s{*this,
           "DELETE FROM kv WHERE (ns, key) IN ("
           "SELECT ns, key FROM kv WHERE expires_at > 0 AND expires_at <= ?1 "
           "ORDER BY expires_at LIMIT ?2)"};
    s.integer(1, now_ms).integer(2, max_keys);
    s.run();
    return static_cast<uint64_t>(sqlite3_changes64(db_));
  } catch (const sqlite_failure&) {
    // Busy or failing: nothing reclaimed this round; the next round retries.
    return 0;
  }
}

// --- the driver -------------------------------------------------------------

sqlite_driver::sqlite_driver(const config::backend& backend, uint32_t index,
                             std::shared_ptr<wall_clock> clock)
  : description_("sqlite " + backend.sqlite.path + " #"
                 + std::to_string(index)),
    clock_(std::move(clock)) {
  if (!clock_)
    throw std::invalid_argument("sqlite_driver needs a clock");
  conn_ = std::make_unique<sqlite_connection>(backend);
  worker_.start();
}

sqlite_driver::~sqlite_driver() {
  worker_.stop();
}

void sqlite_driver::execute(std::string ns, operation_ptr op,
                            op_timeout timeout, completion done) {
  worker_.execute(std::move(ns), std::move(op), timeout, std::move(done));
}

void sqlite_driver::reclaim_expired(uint32_t max_keys,
                                    reclaim_completion done) {
  worker_.reclaim_expired(max_keys, std::move(done));
}

std::string sqlite_driver::describe() const {
  return description_;
}

model::outcome sqlite_driver::run(const driver_job& j) {
  return conn_->execute(j.ns, *j.op, clock_->now_ms(), j.deadline);
}

uint64_t sqlite_driver::reclaim(const driver_job& j) {
  return conn_->reclaim_expired(clock_->now_ms(), j.max_keys);
}

} // namespace prism::drivers
