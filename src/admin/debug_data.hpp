#pragma once

// The gateway-side data of the debug console: the JSON of GET /debug/pools,
// /debug/namespaces, /debug/clients, /debug/warnings, /debug/config,
// /debug/log and /debug/stats (docs/ADMIN.md), rendered from plain reports
// so the tests can hand in their own.

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "gateway/debug_reports.hpp"
#include "runtime/actor_record.hpp"

namespace prism::config {
struct gateway_config;
} // namespace prism::config

namespace prism::admin {

// --- warning thresholds -------------------------------------------------------

/// mailbox_growing: a bounded mailbox deeper than this share of its limit
/// (half: room for one more burst like the one that filled it).
constexpr uint64_t mailbox_growing_percent = 50;
/// mailbox_growing for an unbounded mailbox: deeper than this many messages
/// (a handler keeping up leaves a handful).
constexpr uint64_t mailbox_growing_unbounded_depth = 1000;
/// slow_handler: a handler ran longer than this (it holds a scheduler thread
/// and every message queued behind it that long).
constexpr uint64_t slow_handler_us = 100000;
/// restart_loop: a supervisor restarted its children at least this often in
/// the last minute (actor_record keeps the last 8 restart times).
constexpr uint64_t restart_loop_restarts_per_minute = 5;
/// subscriber_behind: a named subscription has more than this many messages
/// published and not consumed.
constexpr uint64_t subscriber_behind_messages = 1000;

/// What one warning says.
struct warning {
  std::string kind;
  /// "warning" or "error".
  std::string severity;
  /// The actor it is about, when one is.
  std::optional<uint64_t> actor;
  std::string subject;
  std::string message;
  /// How long it has held, when known.
  std::optional<int64_t> since_ms;
};

/// What GET /debug/warnings remembers between reads: each actor's rejected
/// counter (to tell it is rising) and when each warning was first seen (its
/// `since_ms`). Thread-safe.
class warning_history {
public:
  /// The warnings for these figures, read at wall-clock `now_ms`.
  std::vector<warning> evaluate(
    const std::vector<actor_info>& actors,
    const std::vector<pool_report>& pools,
    const std::vector<subscription_lag_report>& lags, int64_t now_ms);

private:
  std::mutex mutex_;
  /// Actor id -> its rejected counter at the previous read.
  std::map<uint64_t, uint64_t> rejected_;
  /// "kind subject" -> wall-clock ms when first seen (dropped once it no
  /// longer holds).
  std::map<std::string, int64_t> first_seen_;
};

/// The process, from /proc/self, and the gateway's own figures.
struct process_stats {
  std::string version;
  int64_t uptime_ms = 0;
  int64_t pid = 0;
  uint64_t rss_bytes = 0;
  uint64_t threads = 0;
  uint64_t cpu_user_ms = 0;
  uint64_t cpu_system_ms = 0;
  uint64_t actors = 0;
  uint64_t sessions = 0;
  uint64_t requests_in_flight = 0;
  std::string config_path;
  std::string listen;
  std::string admin;
};

/// What the gateway knows of itself for GET /debug/stats (the process
/// figures are read from /proc by the admin listener).
struct gateway_stats {
  std::string version;
  /// When the gateway started serving (wall clock, ms since the epoch).
  int64_t started_at_ms = 0;
  uint64_t sessions = 0;
  uint64_t requests_in_flight = 0;
  std::string config_path;
  std::string listen;
  std::string admin;
};

/// Fills rss_bytes, threads and the CPU times from /proc/self; false (and
/// those left 0) where /proc cannot be read.
bool read_proc_self(process_stats& out);

nlohmann::json pools_json(const std::vector<pool_report>& pools,
                          int64_t generated_at_ms);
nlohmann::json namespaces_json(const std::vector<namespace_report>& namespaces,
                               int64_t generated_at_ms);
nlohmann::json clients_json(const std::vector<client_report>& clients,
                            int64_t generated_at_ms);
nlohmann::json warnings_json(const std::vector<warning>& warnings,
                             int64_t generated_at_ms);
nlohmann::json stats_json(const process_stats& stats, int64_t generated_at_ms);

/// The config as JSON, every secret replaced by "<redacted>": token hashes,
/// a password in a PostgreSQL DSN or a NATS URL, Kafka properties whose name
/// says password, secret, token or key, the TLS key file.
nlohmann::json config_json(const config::gateway_config& cfg,
                           int64_t generated_at_ms);

/// The upper bound (in ms) of the bucket where quantile `q` of a cumulative
/// histogram falls (the largest finite bound when it falls in +Inf); 0 when
/// it is empty. Buckets: (upper bound in seconds, cumulative count).
double bucket_quantile_ms(
  const std::vector<std::pair<double, uint64_t>>& buckets, double q);

/// What a secret is replaced by.
inline const char* const redacted = "<redacted>";

/// `dsn` with its password replaced: `password=...` of a key/value string,
/// or the password of a URI's user info.
std::string redact_dsn(const std::string& dsn);

} // namespace prism::admin
