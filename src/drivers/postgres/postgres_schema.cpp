#include "drivers/postgres/postgres_schema.hpp"

namespace prism::drivers::postgres_detail {

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
const char* const create_schema_sql = R"sql(
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
    s["batch_get"]
      = "SELECT key, CASE WHEN total <= $4 OR found = 1 THEN value END, version,"
        " total, found FROM ("
        " SELECT key, value, version,"
        " sum(octet_length(key) + octet_length(value)) OVER () AS total,"
        " count(*) OVER () AS found"
        " FROM prism_kv WHERE ns = $1 AND key = ANY ($2::bytea[]) AND " PRISM_LIVE
        ") AS found";
    // A plain Set in one statement: take the next version (locking the
    // namespace's counter row until commit), then write the key.
    s["set"]
      = "WITH v AS ("
        " INSERT INTO prism_kv_version AS c (ns, counter) VALUES ($1, 1)"
        " ON CONFLICT (ns) DO UPDATE SET counter = c.counter + 1"
        " RETURNING counter) "
        "INSERT INTO prism_kv AS t (ns, key, value, version, expires_at) "
        "SELECT $1, $2, $3, v.counter, $4 FROM v "
        "ON CONFLICT (ns, key) DO UPDATE SET value = excluded.value,"
        " version = excluded.version, expires_at = excluded.expires_at "
        "RETURNING t.version";
    // Reserves $2 versions of namespace $1 and answers the last one.
    s["reserve"]
      = "INSERT INTO prism_kv_version AS c (ns, counter) VALUES ($1, $2) "
        "ON CONFLICT (ns) DO UPDATE SET counter = c.counter + excluded.counter "
        "RETURNING counter";
    // The key's row, locked until commit (a concurrent Delete waits).
    s["current"] = "SELECT version, expires_at FROM prism_kv "
                   "WHERE ns = $1 AND key = $2 FOR UPDATE";
    s["put"] = "INSERT INTO prism_kv (ns, key, value, version, expires_at) "
               "VALUES ($1, $2, $3, $4, $5) "
               "ON CONFLICT (ns, key) DO UPDATE SET value = excluded.value,"
               " version = excluded.version, expires_at = excluded.expires_at";
    s["put_many"]
      = "INSERT INTO prism_kv (ns, key, value, version, expires_at) "
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
    s["reclaim"] = "DELETE FROM prism_kv WHERE (ns, key) IN ("
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
          std::string sql = keys_only
            ? "SELECT key, version FROM prism_kv"
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
              + (upper ? "$6" : "$5")
              + " OR n = 1 THEN value END, running FROM (" + sql
              + ") AS page ORDER BY key";
          s["scan_" + std::to_string(after) + std::to_string(upper)
            + std::to_string(keys_only)]
            = sql;
        }
    return s;
  }();
  return all;
}

#undef PRISM_LIVE

} // namespace prism::drivers::postgres_detail
