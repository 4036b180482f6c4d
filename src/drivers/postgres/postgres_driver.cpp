#include "drivers/postgres/postgres_driver.hpp"

#include <libpq-fe.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <pqxx/pqxx>

#include <algorithm>
#include <limits>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <new>
#include <optional>
#include <stdexcept>
#include <string_view>
#include <type_traits>
#include <utility>

#include "config/config.hpp"
#include "model/keys.hpp"

namespace prism::drivers {

// --- the schema -------------------------------------------------------------
//
// One table for all namespaces, keyed (ns, key), rather than a table per
// namespace:
// - namespaces come and go with the config; a table each would mean DDL at
//   run time (catalog locks, a schema migration per namespace) and one set of
//   prepared statements per table, with namespace names spliced into SQL;
// - the primary key (ns, key) is a B-tree whose leading column pins the
//   namespace, so a Get is one index probe and a Scan one range walk, exactly
//   as with a table per namespace;
// - reclaiming expired keys is one partial index over every namespace, which
//   is what reclaim_expired (per driver, not per namespace) asks for;
// - it is the SQLite driver's schema, so both backends behave alike.
// The cost: a namespace cannot be dropped or vacuumed on its own.
//
// Keys and values are bytea. PostgreSQL compares bytea with memcmp and then
// by length (byteacmp), never through a collation, which is exactly the
// bytewise order Scan promises.
//
// Versions: prism_kv_version holds one counter row per namespace. Every
// write takes that row's lock (it increments the counter in its own
// transaction), so the writes of a namespace are serialised on it and get
// strictly increasing versions, and compare-and-set can read the key after
// taking the lock without another writer slipping in between.
constexpr const char* create_schema_sql = R"sql(
BEGIN;
SET LOCAL client_min_messages = warning;
SELECT pg_advisory_xact_lock(hashtext('prism_kv schema'));
CREATE TABLE IF NOT EXISTS prism_kv (
  ns         text   NOT NULL,
  key        bytea  NOT NULL,
  value      bytea  NOT NULL,
  version    bigint NOT NULL,
  expires_at bigint NOT NULL DEFAULT 0,
  PRIMARY KEY (ns, key)
);
CREATE INDEX IF NOT EXISTS prism_kv_expiry ON prism_kv (expires_at)
  WHERE expires_at > 0;
CREATE TABLE IF NOT EXISTS prism_kv_version (
  ns      text   NOT NULL PRIMARY KEY,
  counter bigint NOT NULL
);
COMMIT;
)sql";

namespace {

using steady = std::chrono::steady_clock;
using time_point = steady::time_point;

#define PRISM_LIVE "(expires_at = 0 OR expires_at > $3)"

/// The statements a connection prepares, by name.
const std::map<std::string, std::string>& statements() {
  static const std::map<std::string, std::string> all = [] {
    std::map<std::string, std::string> s;
    s["get"] = "SELECT value, version FROM prism_kv "
               "WHERE ns = $1 AND key = $2 AND " PRISM_LIVE;
    s["exists"] = "SELECT 1 FROM prism_kv "
                  "WHERE ns = $1 AND key = $2 AND " PRISM_LIVE;
    // The values only when all of them, with their keys, come to at most
    // $4 bytes (the answer's limit), or there is one: past it the server
    // sends none.
    s["batch_get"] =
      "SELECT key, CASE WHEN total <= $4 OR found = 1 THEN value END, version,"
      " total, found FROM ("
      " SELECT key, value, version,"
      " sum(octet_length(key) + octet_length(value)) OVER () AS total,"
      " count(*) OVER () AS found"
      " FROM prism_kv WHERE ns = $1 AND key = ANY ($2::bytea[]) AND " PRISM_LIVE
      ") AS found";
    // A plain Set in one statement: take the next version (locking the
    // namespace's counter row until commit), then write the key.
    s["set"] =
      "WITH v AS ("
      " INSERT INTO prism_kv_version AS c (ns, counter) VALUES ($1, 1)"
      " ON CONFLICT (ns) DO UPDATE SET counter = c.counter + 1"
      " RETURNING counter) "
      "INSERT INTO prism_kv AS t (ns, key, value, version, expires_at) "
      "SELECT $1, $2, $3, v.counter, $4 FROM v "
      "ON CONFLICT (ns, key) DO UPDATE SET value = excluded.value,"
      " version = excluded.version, expires_at = excluded.expires_at "
      "RETURNING t.version";
    // Reserves $2 versions of namespace $1 and answers the last one.
    s["reserve"] =
      "INSERT INTO prism_kv_version AS c (ns, counter) VALUES ($1, $2) "
      "ON CONFLICT (ns) DO UPDATE SET counter = c.counter + excluded.counter "
      "RETURNING counter";
    // The key's row, locked until commit (a concurrent Delete waits).
    s["current"] = "SELECT version, expires_at FROM prism_kv "
                   "WHERE ns = $1 AND key = $2 FOR UPDATE";
    s["put"] =
      "INSERT INTO prism_kv (ns, key, value, version, expires_at) "
      "VALUES ($1, $2, $3, $4, $5) "
      "ON CONFLICT (ns, key) DO UPDATE SET value = excluded.value,"
      " version = excluded.version, expires_at = excluded.expires_at";
    s["put_many"] =
      "INSERT INTO prism_kv (ns, key, value, version, expires_at) "
      "SELECT $1, k, v, n, e "
      "FROM unnest($2::bytea[], $3::bytea[], $4::bigint[], $5::bigint[])"
      " AS u(k, v, n, e) "
      "ON CONFLICT (ns, key) DO UPDATE SET value = excluded.value,"
      " version = excluded.version, expires_at = excluded.expires_at";
    s["delete"] = "DELETE FROM prism_kv WHERE ns = $1 AND key = $2 "
                  "RETURNING expires_at";
    s["delete_many"] = "DELETE FROM prism_kv "
                       "WHERE ns = $1 AND key = ANY ($2::bytea[]) "
                       "RETURNING expires_at";
    // Rows a writer holds are left for the next round (SKIP LOCKED); a row
    // rewritten meanwhile is re-checked by FOR UPDATE and no longer expired.
    s["reclaim"] =
      "DELETE FROM prism_kv WHERE (ns, key) IN ("
      " SELECT ns, key FROM prism_kv"
      " WHERE expires_at > 0 AND expires_at <= $1"
      " ORDER BY expires_at LIMIT $2 FOR UPDATE SKIP LOCKED) "
      "AND expires_at > 0 AND expires_at <= $1";
    // Scans: keys from the greater of (>= prefix) and (> start_after),
    // below the prefix's successor when it has one, in key order; one row
    // more than the page tells whether another page follows. With values,
    // each row carries the bytes of keys and values up to it, and the
    // server sends a value only while they are within the answer's limit
    // (the last parameter), or for the first row.
    for (int after = 0; after < 2; ++after)
      for (int upper = 0; upper < 2; ++upper)
        for (int keys_only = 0; keys_only < 2; ++keys_only) {
          std::string sql = keys_only ? "SELECT key, version FROM prism_kv"
                                      : "SELECT key, version, value,"
                                        " sum(octet_length(key) + octet_length(value))"
                                        " OVER (ORDER BY key) AS running,"
                                        " row_number() OVER (ORDER BY key) AS n"
                                        " FROM prism_kv";
          sql += " WHERE ns = $1 AND key ";
          sql += after ? "> $2" : ">= $2";
          sql += " AND " PRISM_LIVE;
          if (upper)
            sql += " AND key < $5";
          sql += " ORDER BY key LIMIT $4";
          if (!keys_only)
            sql = std::string{"SELECT key, version, CASE WHEN running <= "}
                  + (upper ? "$6" : "$5") + " OR n = 1 THEN value END, running FROM ("
                  + sql + ") AS page ORDER BY key";
          s["scan_" + std::to_string(after) + std::to_string(upper)
            + std::to_string(keys_only)]
            = sql;
        }
    return s;
  }();
  return all;
}

#undef PRISM_LIVE

/// A message from libpq or the server on one line, without the severity
/// prefix and trailing newline.
std::string one_line(std::string text) {
  for (const char* prefix : {"ERROR:  ", "FATAL:  "})
    if (text.rfind(prefix, 0) == 0)
      text.erase(0, std::strlen(prefix));
  std::string out;
  out.reserve(text.size());
  bool space = false;
  for (char c : text) {
    if (c == '\n' || c == '\r' || c == '\t') {
      space = true;
      continue;
    }
    if (space && !out.empty())
      out += out.back() == '.' || out.back() == ':' ? " " : "; ";
    space = false;
    out += c;
  }
  while (!out.empty() && (out.back() == ' ' || out.back() == ';'))
    out.pop_back();
  return out;
}

/// A conninfo value in single quotes, with ' and \ escaped.
std::string quoted(const std::string& value) {
  std::string out = "'";
  for (char c : value) {
    if (c == '\'' || c == '\\')
      out += '\\';
    out += c;
  }
  out += '\'';
  return out;
}

/// {"\\x0102",...}: a bytea[] in PostgreSQL's text form (hex bytes).
template <class Range, class Bytes>
std::string bytea_array(const Range& items, Bytes bytes_of) {
  static const char digits[] = "0123456789abcdef";
  size_t size = 2;
  for (const auto& it : items)
    size += bytes_of(it).size() * 2 + 6;
  std::string out;
  out.reserve(size);
  out += '{';
  bool first = true;
  for (const auto& it : items) {
    if (!first)
      out += ',';
    first = false;
    out += "\"\\\\x";
    for (unsigned char c : bytes_of(it)) {
      out += digits[c >> 4];
      out += digits[c & 0xf];
    }
    out += '"';
  }
  out += '}';
  return out;
}

std::string bigint_array(const std::vector<int64_t>& values) {
  std::string out = "{";
  for (size_t i = 0; i < values.size(); ++i) {
    if (i > 0)
      out += ',';
    out += std::to_string(values[i]);
  }
  out += '}';
  return out;
}

std::string bytes_of(const pqxx::field& f) {
  pqxx::binarystring b{f};
  return std::string(reinterpret_cast<const char*>(b.data()), b.size());
}

/// A byte count as a bigint parameter (a limit past its range is none).
int64_t as_bigint(uint64_t bytes) {
  return static_cast<int64_t>(
    std::min<uint64_t>(bytes, std::numeric_limits<int64_t>::max()));
}

int64_t ms_left(time_point deadline, time_point now) {
  return std::chrono::ceil<std::chrono::milliseconds>(deadline - now).count();
}

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

/// The context of the connection being made on this thread (set only while
/// a pg_connection is constructed).
thread_local connect_context* connecting = nullptr;

/// A libpqxx connection policy that connects without blocking: libpq's
/// asynchronous connect, polled with a deadline and a wake-up descriptor, so
/// the driver's destructor can interrupt it. It connects once: libpqxx 6
/// would otherwise reconnect silently when it finds the connection broken,
/// losing the session's settings and hiding the break from the supervisor.
class connect_policy final : public pqxx::connectionpolicy {
public:
  explicit connect_policy(const std::string& options)
    : pqxx::connectionpolicy(options), context_(connecting) {}

  handle do_startconnect(handle orig) override {
    if (orig != nullptr)
      return orig;
    if (used_)
      throw pqxx::broken_connection{"the connection was lost"};
    used_ = true;
    PGconn* conn = PQconnectStart(options().c_str());
    if (conn == nullptr)
      throw std::bad_alloc{};
    auto give_up = [&](std::string why) {
      PQfinish(conn);
      throw pqxx::broken_connection{why};
    };
    if (PQstatus(conn) == CONNECTION_BAD)
      give_up(PQerrorMessage(conn));
    PostgresPollingStatusType state = PGRES_POLLING_WRITING;
    while (state != PGRES_POLLING_OK) {
      if (state == PGRES_POLLING_FAILED)
        give_up(PQerrorMessage(conn));
      const int sock = PQsocket(conn);
      if (sock < 0) {
        state = PQconnectPoll(conn);
        continue;
      }
      pollfd fds[2] = {};
      fds[0].fd = sock;
      fds[0].events = state == PGRES_POLLING_READING ? POLLIN : POLLOUT;
      nfds_t count = 1;
      int wait_ms = -1;
      if (context_ != nullptr) {
        if (context_->wake_fd >= 0) {
          fds[1].fd = context_->wake_fd;
          fds[1].events = POLLIN;
          count = 2;
        }
        if (context_->deadline != time_point::max()) {
          const int64_t left = ms_left(context_->deadline, steady::now());
          if (left <= 0)
            give_up("no answer within connect_timeout_ms ("
                    + std::to_string(context_->timeout_ms) + " ms)");
          wait_ms = static_cast<int>(std::min<int64_t>(left, 1 << 30));
        }
      }
      const int rc = ::poll(fds, count, wait_ms);
      if (rc < 0) {
        if (errno == EINTR)
          continue;
        give_up(std::string("poll failed: ") + std::strerror(errno));
      }
      if (count == 2 && fds[1].revents != 0) {
        PQfinish(conn);
        throw connect_interrupted{};
      }
      if (rc == 0)
        continue; // the deadline check above ends it
      state = PQconnectPoll(conn);
    }
    if (context_ != nullptr)
      context_->handle = conn;
    return conn;
  }

  handle do_dropconnect(handle orig) noexcept override {
    if (context_ != nullptr && context_->handle == orig)
      context_->handle = nullptr;
    return orig;
  }

private:
  connect_context* context_;
  bool used_ = false;
};

using pg_connection = pqxx::basic_connection_base<connect_policy>;

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

} // namespace

// --- settings ---------------------------------------------------------------

std::string postgres_settings::password() const {
  if (!password_env.empty()) {
    const char* value = std::getenv(password_env.c_str());
    if (value == nullptr)
      throw std::runtime_error("postgres backend \"" + backend
                               + "\": the environment variable "
                               + password_env
                               + " (password_env) is not set");
    return value;
  }
  if (!password_file.empty()) {
    std::ifstream in(password_file, std::ios::binary);
    if (!in)
      throw std::runtime_error("postgres backend \"" + backend
                               + "\": cannot read password_file \""
                               + password_file + "\": "
                               + std::strerror(errno));
    std::string line;
    std::getline(in, line);
    if (!line.empty() && line.back() == '\r')
      line.pop_back();
    if (in.bad())
      throw std::runtime_error("postgres backend \"" + backend
                               + "\": cannot read password_file \""
                               + password_file + "\"");
    return line;
  }
  return password_in_dsn;
}

namespace {

postgres_settings make_settings(const config::backend& b, uint32_t index) {
  postgres_settings s;
  s.backend = b.name;
  s.index = index;
  s.application_name = postgres_driver::application_name(b.name, index);
  s.password_env = b.postgres.password_env;
  s.password_file = b.postgres.password_file;
  s.connect_timeout_ms = b.postgres.connect_timeout_ms;
  s.statement_timeout_ms = b.postgres.statement_timeout_ms;
  s.idle_timeout_ms = b.postgres.idle_timeout_ms;
  s.max_lifetime_ms = b.postgres.max_lifetime_ms;
  const std::string prefix = "postgres backend \"" + b.name + "\": ";
  if (b.postgres.dsn.empty())
    throw std::runtime_error(prefix + "no dsn configured");
  char* error = nullptr;
  PQconninfoOption* options = PQconninfoParse(b.postgres.dsn.c_str(), &error);
  PQfreemem(error);
  if (options == nullptr)
    // libpq's reason may quote the string, which may hold a secret; the
    // config loader reports it in detail.
    throw std::runtime_error(prefix
                             + "dsn is not a valid libpq connection string "
                               "(`prism check` shows why)");
  std::map<std::string, std::string> given;
  for (PQconninfoOption* o = options; o->keyword != nullptr; ++o) {
    if (o->val == nullptr || o->val[0] == '\0')
      continue;
    const std::string keyword = o->keyword;
    if (keyword == "password") {
      s.password_in_dsn = o->val;
      continue;
    }
    given[keyword] = o->val;
    if (keyword == "application_name" || keyword == "connect_timeout"
        || keyword == "fallback_application_name")
      continue;
    s.conninfo += keyword + "=" + quoted(o->val) + " ";
  }
  PQconninfoFree(options);
  auto part = [&](const char* key) {
    auto i = given.find(key);
    return i == given.end() ? std::string{} : i->second;
  };
  std::string host = part("host");
  if (host.empty())
    host = part("hostaddr");
  if (host.empty())
    host = "localhost";
  s.target = host;
  if (!part("port").empty())
    s.target += ":" + part("port");
  if (!part("user").empty())
    s.target = part("user") + "@" + s.target;
  if (!part("dbname").empty())
    s.target += "/" + part("dbname");
  // Fail now, not on every reconnect, when the password cannot be had.
  (void) s.password();
  return s;
}

} // namespace

// --- one connection ---------------------------------------------------------

/// One open connection with its statements, used by the worker thread only.
class postgres_session {
public:
  postgres_session(const postgres_settings& settings,
                   const std::string& password, int wake_fd,
                   const std::atomic<bool>& shutting_down);
  ~postgres_session();

  postgres_session(const postgres_session&) = delete;
  postgres_session& operator=(const postgres_session&) = delete;

  /// Runs `op`; a broken connection throws connection_broken.
  model::outcome execute(const std::string& ns, const model::operation& op,
                      int64_t now_ms, time_point deadline);
  /// Deletes up to `max_keys` expired rows; a broken connection throws
  /// connection_broken, other failures reclaim nothing this round.
  uint64_t reclaim_expired(int64_t now_ms, uint32_t max_keys);

  /// A cancel handle for the running statement; the caller frees it.
  PGcancel* make_cancel() const {
    return context_.handle ? PQgetCancel(context_.handle) : nullptr;
  }

  time_point opened_at() const noexcept { return opened_at_; }
  time_point last_used() const noexcept { return last_used_; }

private:
  friend class statement_scope;

  void set_up();
  model::outcome run(const std::string& ns, const model::operation& op, int64_t now);
  model::outcome do_get(const std::string& ns, const model::get_op& op, int64_t now);
  model::outcome do_exists(const std::string& ns, const model::exists_op& op,
                        int64_t now);
  model::outcome do_batch_get(const std::string& ns, const model::batch_get_op& op,
                           int64_t now);
  model::outcome do_scan(const std::string& ns, const model::scan_op& op, int64_t now);
  model::outcome do_set(const std::string& ns, const model::set_op& op, int64_t now);
  model::outcome do_delete(const std::string& ns, const model::delete_op& op,
                        int64_t now);
  model::outcome do_batch_set(const std::string& ns, const model::batch_set_op& op,
                           int64_t now);
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
  connect_context context_; // before conn_: the policy points at it
  std::unique_ptr<pg_connection> conn_;
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
  statement_scope(postgres_session& s, bool write)
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

  ~statement_scope() { rollback(); }

  statement_scope(const statement_scope&) = delete;
  statement_scope& operator=(const statement_scope&) = delete;

  template <class... Args>
  pqxx::result exec(const char* name, Args&&... args) {
    try {
      if (statements_++ > 0) {
        if (open_)
          tighten();
        else
          fit_session_timeout(deadline_limit(true));
      }
      return tx_.exec_prepared(name, std::forward<Args>(args)...);
    } catch (const pqxx::failure&) {
      s_.remember_error();
      throw;
    }
  }

  void commit() {
    if (!open_)
      return;
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

private:
  /// Before a later statement of a transaction: give up when the deadline
  /// has passed, and shorten the statement_timeout to what is left when it
  /// has shrunk noticeably, so the job as a whole ends near its deadline.
  void tighten() {
    if (s_.deadline_ == time_point::max() || !open_)
      return;
    const int64_t left = ms_left(s_.deadline_, steady::now());
    if (left <= 0)
      throw deadline_passed{true};
    const uint32_t own = s_.settings_.statement_timeout_ms;
    const int64_t current = s_.job_timeout_ms_ >= 0 ? s_.job_timeout_ms_ : own;
    if ((current == 0 || current - left > 20) && (own == 0 || left < own)) {
      tx_.exec("SET LOCAL statement_timeout = " + std::to_string(left));
      s_.job_timeout_ms_ = left;
    }
  }

  /// The timeout the job's deadline asks of its next statement, in ms; -1
  /// when the backend's own statement_timeout_ms is shorter (or there is no
  /// deadline). Throws deadline_passed when it has passed.
  int64_t deadline_limit(bool after_first) const {
    if (s_.deadline_ == time_point::max())
      return -1;
    const int64_t left = ms_left(s_.deadline_, steady::now());
    if (left <= 0)
      throw deadline_passed{after_first};
    const uint32_t own = s_.settings_.statement_timeout_ms;
    return own == 0 || left < own ? left : -1;
  }

  /// Outside a transaction: makes the session's statement_timeout end a
  /// statement no later than `limit` ms from now (the backend's own
  /// statement_timeout_ms when -1), without cutting it much shorter.
  void fit_session_timeout(int64_t limit) {
    const int64_t own = s_.settings_.statement_timeout_ms;
    const int64_t current = s_.session_timeout_ms_;
    bool fits = limit < 0 ? current == own
                          : current > 0 && current <= limit && current * 2 >= limit;
    if (fits) {
      s_.job_timeout_ms_ = limit < 0 ? -1 : current;
      return;
    }
    // Rounded down to 50 ms, so nearby deadlines share one value.
    int64_t value = limit < 0 ? own : (limit > 100 ? limit - limit % 50 : limit);
    tx_.exec("SET statement_timeout = " + std::to_string(value));
    s_.session_timeout_ms_ = value;
    s_.job_timeout_ms_ = limit < 0 ? -1 : value;
  }

  /// Ends an open transaction. Not on a broken connection: libpqxx would
  /// close it for good first, and libpq's account of the break with it.
  void rollback() noexcept {
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

  postgres_session& s_;
  pqxx::nontransaction tx_;
  bool write_;
  bool open_ = false;
  int statements_ = 0;
};

postgres_session::postgres_session(const postgres_settings& settings,
                                   const std::string& password, int wake_fd,
                                   const std::atomic<bool>& shutting_down)
  : settings_(settings), shutting_down_(shutting_down) {
  std::string conninfo = settings.conninfo;
  conninfo += "application_name=" + quoted(settings.application_name);
  // libpq counts whole seconds (and at least 2); the policy above enforces
  // the exact milliseconds on the whole attempt itself.
  conninfo += " connect_timeout="
              + std::to_string((settings.connect_timeout_ms + 999) / 1000);
  if (!password.empty())
    conninfo += " password=" + quoted(password);
  context_.wake_fd = wake_fd;
  context_.timeout_ms = settings.connect_timeout_ms;
  context_.deadline = steady::now()
                      + std::chrono::milliseconds(settings.connect_timeout_ms);
  struct guard {
    guard(connect_context* c) { connecting = c; }
    ~guard() { connecting = nullptr; }
  } set{&context_};
  conn_ = std::make_unique<pg_connection>(conninfo);
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
  auto ready = tx.exec(
    "SET client_min_messages = warning; SET statement_timeout = "
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
    const bool by_deadline
      = job_timeout_ms_ >= 0
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
  return status::failure(status_code::internal,
                         "postgres: " + what
                           + (state.empty() ? "" : " (SQLSTATE " + state + ")"));
}

model::outcome postgres_session::execute(const std::string& ns,
                                      const model::operation& op, int64_t now,
                                      time_point deadline) {
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
  constexpr int attempts = 3;
  for (int attempt = 1;; ++attempt) {
    job_timeout_ms_ = -1;
    committing_ = false;
    error_.clear();
    try {
      return run(ns, op, now);
    } catch (const deadline_passed& d) {
      return model::outcome::failure(
        status_code::deadline_exceeded,
        d.started ? "the request's deadline passed while PostgreSQL ran it; "
                    "it was rolled back (not applied)"
                  : "the request's deadline passed before PostgreSQL "
                    "started it; it was not applied");
    } catch (const pqxx::broken_connection& e) {
      throw connection_broken{broken_reason(e), committing_};
    } catch (const pqxx::statement_completion_unknown& e) {
      if (!is_open())
        throw connection_broken{broken_reason(e), true};
      return model::outcome::failure(status_code::unavailable,
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
      return model::outcome::failure(
        status_code::aborted,
        "PostgreSQL rolled the request back " + std::to_string(attempt)
          + " times (" + one_line(e.what())
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
  struct runner {
    postgres_session& c;
    const std::string& ns;
    int64_t now;
    model::outcome run(const model::get_op& x) { return c.do_get(ns, x, now); }
    model::outcome run(const model::exists_op& x) {
      return c.do_exists(ns, x, now);
    }
    model::outcome run(const model::batch_get_op& x) {
      return c.do_batch_get(ns, x, now);
    }
    model::outcome run(const model::scan_op& x) { return c.do_scan(ns, x, now); }
    model::outcome run(const model::set_op& x) { return c.do_set(ns, x, now); }
    model::outcome run(const model::delete_op& x) {
      return c.do_delete(ns, x, now);
    }
    model::outcome run(const model::batch_set_op& x) {
      return c.do_batch_set(ns, x, now);
    }
    model::outcome run(const model::batch_delete_op& x) {
      return c.do_batch_delete(ns, x, now);
    }
  };
  return model::visit_keyvalue(runner{*this, ns, now}, op);
}

model::outcome postgres_session::do_get(const std::string& ns,
                                     const model::get_op& op, int64_t now) {
  statement_scope q{*this, false};
  auto rows = q.exec("get", ns, pqxx::binarystring{op.key}, now);
  q.commit();
  model::get_result r;
  if (!rows.empty()) {
    r.found = true;
    r.value = bytes_of(rows[0][0]);
    r.version = rows[0][1].as<uint64_t>();
  }
  return model::outcome::success(std::move(r));
}

model::outcome postgres_session::do_exists(const std::string& ns,
                                        const model::exists_op& op, int64_t now) {
  statement_scope q{*this, false};
  auto rows = q.exec("exists", ns, pqxx::binarystring{op.key}, now);
  q.commit();
  model::exists_result r;
  r.exists = !rows.empty();
  return model::outcome::success(r);
}

model::outcome postgres_session::do_batch_get(const std::string& ns,
                                           const model::batch_get_op& op,
                                           int64_t now) {
  model::batch_get_result r;
  r.items.reserve(op.keys.size());
  if (op.keys.empty())
    return model::outcome::success(std::move(r));
  std::vector<std::string_view> keys(op.keys.begin(), op.keys.end());
  std::sort(keys.begin(), keys.end());
  keys.erase(std::unique(keys.begin(), keys.end()), keys.end());
  // One statement: every key is read from the same snapshot.
  statement_scope q{*this, false};
  const int64_t limit = as_bigint(op.answer_bytes_max);
  auto rows = q.exec("batch_get", ns,
                     bytea_array(keys, [](std::string_view k) { return k; }),
                     now, limit);
  q.commit();
  // Each key once is already too much: so is the answer.
  if (rows.size() > 1 && rows[0][3].as<int64_t>() > limit)
    return model::batch_get_too_large(op);
  std::map<std::string, std::pair<std::string, uint64_t>, model::bytewise_less>
    found;
  for (const auto& row : rows)
    found.emplace(bytes_of(row[0]),
                  std::make_pair(bytes_of(row[1]), row[2].as<uint64_t>()));
  model::answer_budget budget{op.answer_bytes_max};
  for (const auto& key : op.keys) {
    model::item it;
    it.key = key;
    auto f = found.find(key);
    if (f != found.end()) {
      if (!budget.take(key.size() + f->second.first.size()))
        return model::batch_get_too_large(op);
      it.found = true;
      it.value = f->second.first;
      it.version = f->second.second;
    }
    r.items.push_back(std::move(it));
  }
  return model::outcome::success(std::move(r));
}

model::outcome postgres_session::do_scan(const std::string& ns,
                                      const model::scan_op& op, int64_t now) {
  const uint32_t limit = model::effective_scan_limit(op);
  const bool after = !op.start_after.empty()
                     && op.start_after.compare(op.prefix) >= 0;
  const auto upper = model::prefix_successor(op.prefix);
  const std::string name = std::string("scan_") + (after ? "1" : "0")
                           + (upper ? "1" : "0") + (op.keys_only ? "1" : "0");
  pqxx::binarystring lower{after ? op.start_after : op.prefix};
  const int64_t rows_wanted = static_cast<int64_t>(limit) + 1;
  const int64_t answer_max = as_bigint(op.answer_bytes_max);
  statement_scope q{*this, false};
  pqxx::result rows;
  if (op.keys_only)
    rows = upper ? q.exec(name.c_str(), ns, lower, now, rows_wanted,
                          pqxx::binarystring{*upper})
                 : q.exec(name.c_str(), ns, lower, now, rows_wanted);
  else
    rows = upper ? q.exec(name.c_str(), ns, lower, now, rows_wanted,
                          pqxx::binarystring{*upper}, answer_max)
                 : q.exec(name.c_str(), ns, lower, now, rows_wanted, answer_max);
  q.commit();
  model::scan_result r;
  r.items.reserve(std::min<size_t>(rows.size(), limit));
  uint64_t bytes = 0;
  for (const auto& row : rows) {
    model::item it;
    it.key = bytes_of(row[0]);
    // With values, the server's running count decides (and sent no value
    // past the limit); keys only, the keys count.
    const uint64_t through = op.keys_only ? bytes + it.key.size()
                                          : row[3].as<uint64_t>();
    if (r.items.size() == limit
        || (!r.items.empty() && through > op.answer_bytes_max)) {
      r.next_start_after = r.items.back().key;
      break;
    }
    bytes = through;
    if (!op.keys_only)
      it.value = bytes_of(row[2]);
    it.found = true;
    it.version = row[1].as<uint64_t>();
    r.items.push_back(std::move(it));
  }
  return model::outcome::success(std::move(r));
}

model::outcome postgres_session::do_set(const std::string& ns,
                                     const model::set_op& op, int64_t now) {
  const int64_t expires_at = model::expiry_for(now, op.ttl_ms);
  statement_scope q{*this, true};
  model::set_result r;
  if (!op.if_version) {
    auto rows = q.exec("set", ns, pqxx::binarystring{op.key},
                       pqxx::binarystring{op.value}, expires_at);
    r.version = rows.at(0).at(0).as<uint64_t>();
    q.commit();
    return model::outcome::success(r);
  }
  // Compare-and-set: take the namespace's next version first, which locks
  // its counter row, so no other write of the namespace runs between the
  // check and the write; read the key (a fresh snapshot, taken after the
  // lock, so it sees every write committed before); lock its row against a
  // concurrent Delete. On a mismatch the transaction rolls back, the
  // reserved version with it.
  const uint64_t version
    = q.exec("reserve", ns, int64_t{1}).at(0).at(0).as<uint64_t>();
  std::optional<uint64_t> current;
  {
    auto rows = q.exec("current", ns, pqxx::binarystring{op.key});
    if (!rows.empty() && model::is_live(rows[0][1].as<int64_t>(), now))
      current = rows[0][0].as<uint64_t>();
  }
  const bool match = *op.if_version == 0 ? !current.has_value()
                                         : current == *op.if_version;
  if (!match)
    return model::outcome::failure(
      status_code::failed_precondition,
      model::version_mismatch_message(op.key, *op.if_version, current));
  q.exec("put", ns, pqxx::binarystring{op.key}, pqxx::binarystring{op.value},
         static_cast<int64_t>(version), expires_at);
  q.commit();
  r.version = version;
  return model::outcome::success(r);
}

model::outcome postgres_session::do_delete(const std::string& ns,
                                        const model::delete_op& op, int64_t now) {
  statement_scope q{*this, true};
  auto rows = q.exec("delete", ns, pqxx::binarystring{op.key});
  q.commit();
  model::delete_result r;
  for (const auto& row : rows)
    r.existed = r.existed || model::is_live(row[0].as<int64_t>(), now);
  return model::outcome::success(r);
}

model::outcome postgres_session::do_batch_set(const std::string& ns,
                                           const model::batch_set_op& op,
                                           int64_t now) {
  model::batch_set_result r;
  if (op.entries.empty())
    return model::outcome::success(std::move(r));
  const uint64_t n = op.entries.size();
  // The last entry for a key wins; rows are written in key order, so two
  // batches lock shared keys in the same order and cannot deadlock.
  std::map<std::string_view, size_t, model::bytewise_less> last;
  for (size_t i = 0; i < op.entries.size(); ++i)
    last[op.entries[i].key] = i;
  statement_scope q{*this, true};
  const uint64_t top = q.exec("reserve", ns, static_cast<int64_t>(n))
                         .at(0)
                         .at(0)
                         .as<uint64_t>();
  const uint64_t first = top - n + 1;
  std::vector<const model::entry*> rows;
  std::vector<int64_t> versions;
  std::vector<int64_t> expiries;
  rows.reserve(last.size());
  for (const auto& [key, i] : last) {
    rows.push_back(&op.entries[i]);
    versions.push_back(static_cast<int64_t>(first + i));
    expiries.push_back(model::expiry_for(now, op.entries[i].ttl_ms));
  }
  q.exec("put_many", ns,
         bytea_array(rows, [](const model::entry* e) -> std::string_view {
           return e->key;
         }),
         bytea_array(rows, [](const model::entry* e) -> std::string_view {
           return e->value;
         }),
         bigint_array(versions), bigint_array(expiries));
  q.commit();
  r.versions.reserve(n);
  for (uint64_t i = 0; i < n; ++i)
    r.versions.push_back(first + i);
  return model::outcome::success(std::move(r));
}

model::outcome postgres_session::do_batch_delete(const std::string& ns,
                                              const model::batch_delete_op& op,
                                              int64_t now) {
  model::batch_delete_result r;
  if (op.keys.empty())
    return model::outcome::success(r);
  std::vector<std::string_view> keys(op.keys.begin(), op.keys.end());
  std::sort(keys.begin(), keys.end());
  keys.erase(std::unique(keys.begin(), keys.end()), keys.end());
  statement_scope q{*this, true};
  auto rows = q.exec("delete_many", ns,
                     bytea_array(keys, [](std::string_view k) { return k; }));
  q.commit();
  for (const auto& row : rows)
    if (model::is_live(row[0].as<int64_t>(), now))
      ++r.deleted;
  return model::outcome::success(r);
}

uint64_t postgres_session::reclaim_expired(int64_t now_ms, uint32_t max_keys) {
  if (max_keys == 0)
    return 0;
  error_.clear();
  try {
    // Not counted as use: reclaiming alone does not keep a connection from
    // being closed as idle.
    pqxx::nontransaction tx{*conn_};
    auto rows = tx.exec_prepared("reclaim", now_ms,
                                 static_cast<int64_t>(max_keys));
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

// --- the driver -------------------------------------------------------------

std::string postgres_driver::application_name(const std::string& backend,
                                              uint32_t index) {
  return "prism:" + backend + "#" + std::to_string(index);
}

postgres_driver::postgres_driver(const config::backend& backend,
                                 uint32_t index,
                                 std::shared_ptr<wall_clock> clock)
  : settings_(make_settings(backend, index)),
    description_("postgres " + settings_.target + " #" + std::to_string(index)),
    clock_(std::move(clock)) {
  if (!clock_)
    throw std::invalid_argument("postgres_driver needs a clock");
  wake_fd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (wake_fd_ < 0)
    throw std::runtime_error("postgres backend \"" + backend.name
                             + "\": cannot make an eventfd: "
                             + std::strerror(errno));
  worker_ = std::thread([this] { run(); });
}

postgres_driver::~postgres_driver() {
  {
    std::lock_guard<std::mutex> guard{mutex_};
    stopping_ = true;
    shutting_down_.store(true);
    if (running_ && cancel_ != nullptr) {
      char error[256];
      PQcancel(cancel_, error, sizeof error);
    }
  }
  const uint64_t one = 1;
  [[maybe_unused]] auto written = ::write(wake_fd_, &one, sizeof one);
  wake_.notify_all();
  if (worker_.joinable())
    worker_.join();
  ::close(wake_fd_);
}

std::string postgres_driver::mask(std::string text) const {
  for (const auto& secret : secrets_) {
    if (secret.empty())
      continue;
    for (size_t at = text.find(secret); at != std::string::npos;
         at = text.find(secret, at + 3))
      text.replace(at, secret.size(), "***");
  }
  return text;
}

void postgres_driver::submit(job j) {
  {
    std::lock_guard<std::mutex> guard{mutex_};
    if (!stopping_) {
      queue_.push_back(std::move(j));
      wake_.notify_one();
      return;
    }
  }
  j.fail();
}

void postgres_driver::execute(std::string ns, operation_ptr op,
                              op_timeout timeout, completion done) {
  if (auto j = job::operation(std::move(ns), std::move(op), timeout,
                              std::move(done)))
    submit(std::move(*j));
}

void postgres_driver::reclaim_expired(uint32_t max_keys,
                                      reclaim_completion done) {
  submit(job::reclaim(max_keys, std::move(done)));
}

std::string postgres_driver::describe() const {
  return description_;
}

void postgres_driver::open(std::unique_ptr<postgres_session>& session) {
  const std::string where = "cannot connect to PostgreSQL at "
                            + settings_.target + " as "
                            + settings_.application_name + ": ";
  try {
    std::string password = settings_.password();
    if (!password.empty()
        && std::find(secrets_.begin(), secrets_.end(), password)
             == secrets_.end())
      secrets_.push_back(password);
    session = std::make_unique<postgres_session>(settings_, password, wake_fd_,
                                                 shutting_down_);
    PGcancel* cancel = session->make_cancel();
    std::lock_guard<std::mutex> guard{mutex_};
    cancel_ = cancel;
  } catch (const connect_interrupted&) {
    session.reset();
    broken_ = "driver shutting down";
    return;
  } catch (const std::exception& e) {
    session.reset();
    broken_ = mask(where + one_line(e.what()));
  }
}

void postgres_driver::close(std::unique_ptr<postgres_session>& session) {
  {
    std::lock_guard<std::mutex> guard{mutex_};
    if (cancel_ != nullptr)
      PQfreeCancel(cancel_);
    cancel_ = nullptr;
  }
  session.reset();
}

void postgres_driver::run() {
  std::unique_ptr<postgres_session> session;
  open(session);
  for (;;) {
    job j;
    bool idle = false;
    {
      std::unique_lock<std::mutex> lock{mutex_};
      auto ready = [this] { return stopping_ || !queue_.empty(); };
      if (session && settings_.idle_timeout_ms > 0)
        idle = !wake_.wait_until(
          lock,
          session->last_used()
            + std::chrono::milliseconds(settings_.idle_timeout_ms),
          ready);
      else
        wake_.wait(lock, ready);
      if (stopping_)
        break;
      if (!idle) {
        j = std::move(queue_.front());
        queue_.pop_front();
      }
    }
    if (idle) {
      // Idle too long: give the server its connection back; the next job
      // connects again.
      close(session);
      continue;
    }
    if (broken_.empty() && session && settings_.max_lifetime_ms > 0
        && steady::now() - session->opened_at()
             >= std::chrono::milliseconds(settings_.max_lifetime_ms))
      close(session);
    // A request (re)connects; a reclaim round does not: it waits for the
    // next connection rather than keep one open for itself.
    if (broken_.empty() && !session && j.done)
      open(session);
    if (shutting_down_.load()) {
      j.fail();
      continue;
    }

    if (j.done) {
      model::outcome out;
      if (!broken_.empty()) {
        out = model::outcome::lost(broken_);
      } else {
        {
          std::lock_guard<std::mutex> guard{mutex_};
          running_ = true;
        }
        try {
          out = session->execute(j.ns, *j.op, clock_->now_ms(), j.deadline);
        } catch (const connection_broken& b) {
          broken_ = "lost the connection to PostgreSQL at " + settings_.target
                    + ": " + b.reason;
          // outcome::lost means "not applied" unless it says otherwise.
          out = model::outcome::lost(
            b.in_doubt ? broken_
                           + "; it broke while the request committed, which "
                             "may or may not have been applied"
                       : broken_);
        } catch (...) {
          out = model::outcome::failure(status_code::internal,
                                     "unexpected failure in postgres driver");
        }
        {
          std::lock_guard<std::mutex> guard{mutex_};
          running_ = false;
        }
        if (!broken_.empty())
          close(session);
      }
      out.status.message = mask(std::move(out.status.message));
      j.finish(std::move(out));
    } else if (j.reclaim_done) {
      uint64_t removed = 0;
      if (broken_.empty() && session) {
        {
          std::lock_guard<std::mutex> guard{mutex_};
          running_ = true;
        }
        try {
          removed = session->reclaim_expired(clock_->now_ms(), j.max_keys);
        } catch (const connection_broken& b) {
          broken_ = "lost the connection to PostgreSQL at " + settings_.target
                    + ": " + b.reason;
        } catch (...) {
        }
        {
          std::lock_guard<std::mutex> guard{mutex_};
          running_ = false;
        }
        if (!broken_.empty())
          close(session);
      }
      j.finish_reclaim(removed);
    }
  }
  close(session);
  std::deque<job> rest;
  {
    std::lock_guard<std::mutex> guard{mutex_};
    rest.swap(queue_);
  }
  for (auto& j : rest)
    j.fail();
}

} // namespace prism::drivers
