#pragma once

// The SQL of the postgres driver's Get and Set, for the benchmark programs
// that run it without the gateway (prism-pg-direct, prism-pg-grpc-baseline).
//
// The texts must stay those of src/drivers/postgres/postgres_schema.cpp
// ("get", "set", and for a compare-and-set "reserve", "current", "put"), so
// that PostgreSQL does the same work whoever sends them.

#include <cstdint>

namespace prism::bench_sql {

/// The driver's schema, for a database the gateway has not used yet: the
/// same tables and index, created under the same advisory lock, so two
/// programs setting up one database at once do not collide.
inline const char* const schema = R"sql(
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

/// $1 namespace, $2 key, $3 now (ms since the epoch): value, version.
inline const char* const get = "SELECT value, version FROM prism_kv "
                               "WHERE ns = $1 AND key = $2 AND "
                               "(expires_at = 0 OR expires_at > $3)";

/// A plain Set in one statement: $1 namespace, $2 key, $3 value,
/// $4 expires_at; takes the namespace's next version (locking its counter
/// row until commit) and answers it.
inline const char* const set
  = "WITH v AS ("
    " INSERT INTO prism_kv_version AS c (ns, counter) VALUES ($1, 1)"
    " ON CONFLICT (ns) DO UPDATE SET counter = c.counter + 1"
    " RETURNING counter) "
    "INSERT INTO prism_kv AS t (ns, key, value, version, expires_at) "
    "SELECT $1, $2, $3, v.counter, $4 FROM v "
    "ON CONFLICT (ns, key) DO UPDATE SET value = excluded.value,"
    " version = excluded.version, expires_at = excluded.expires_at "
    "RETURNING t.version";

/// Compare-and-set, step 1: reserves $2 versions of namespace $1 and
/// answers the last one.
inline const char* const reserve
  = "INSERT INTO prism_kv_version AS c (ns, counter) VALUES ($1, $2) "
    "ON CONFLICT (ns) DO UPDATE SET counter = c.counter + excluded.counter "
    "RETURNING counter";

/// Compare-and-set, step 2: the key's row, locked until commit.
inline const char* const current = "SELECT version, expires_at FROM prism_kv "
                                   "WHERE ns = $1 AND key = $2 FOR UPDATE";

/// Compare-and-set, step 3: $1 namespace, $2 key, $3 value, $4 version,
/// $5 expires_at.
inline const char* const put
  = "INSERT INTO prism_kv (ns, key, value, version, expires_at) "
    "VALUES ($1, $2, $3, $4, $5) "
    "ON CONFLICT (ns, key) DO UPDATE SET value = excluded.value,"
    " version = excluded.version, expires_at = excluded.expires_at";

/// The driver's statement_timeout when its config sets none
/// (postgres_statement_timeout_ms in src/config/defaults.hpp).
constexpr int64_t default_statement_timeout_ms = 30000;

/// How the driver fits a read's session statement_timeout to a call's
/// deadline (statement_scope::fit_session_timeout): `current` is kept when it
/// is at most `left` ms and at least half of it; otherwise the session is set
/// to `left`, rounded down to 50 ms above 100 ms. Answers the value to set,
/// or 0 when `current` fits. `left` < 0 means no deadline shorter than the
/// driver's own timeout.
inline int64_t session_timeout_to_set(int64_t current, int64_t left) {
  if (left < 0)
    return current == default_statement_timeout_ms
      ? 0
      : default_statement_timeout_ms;
  if (current > 0 && current <= left && current * 2 >= left)
    return 0;
  return left > 100 ? left - left % 50 : left;
}

} // namespace prism::bench_sql
