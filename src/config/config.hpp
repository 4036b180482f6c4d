#pragma once

// The gateway's configuration as loaded from YAML. Loading never throws: it
// returns every problem it finds, each with its place in the file and a hint.

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/defaults.hpp"

namespace prism::config {

/// Where a value came from: file, 1-based line and column.
struct location {
  std::string file;
  int line = 0;
  int column = 0;
};

enum class backend_type { memory, sqlite, postgres, kafka, nats };

enum class sqlite_synchronous { normal, full };

struct sqlite_options {
  /// Database file; relative paths are relative to the working directory.
  std::string path;
  sqlite_synchronous synchronous = sqlite_synchronous::full;
  uint32_t busy_timeout_ms = defaults::sqlite_busy_timeout_ms;
};

/// A PostgreSQL backend (`type: postgres`). Times in milliseconds.
struct postgres_options {
  /// libpq connection string or URI, without a password.
  std::string dsn;
  /// Where the password comes from: the name of an environment variable, or
  /// a file whose first line is the password. At most one is set; neither
  /// when the server needs no password (trust, peer, a client certificate,
  /// or a ~/.pgpass entry).
  std::string password_env;
  std::string password_file;
  uint32_t connect_timeout_ms = defaults::postgres_connect_timeout_ms;
  /// The longest a statement may run; 0 for no limit other than the
  /// request's deadline.
  uint32_t statement_timeout_ms = defaults::postgres_statement_timeout_ms;
  /// Close a connection idle this long (0: never); it reconnects on its
  /// next request.
  uint32_t idle_timeout_ms = defaults::postgres_idle_timeout_ms;
  /// Reconnect, between requests, a connection older than this (0: never).
  uint32_t max_lifetime_ms = defaults::postgres_max_lifetime_ms;
};

/// A Kafka backend (`type: kafka`), for pubsub namespaces. The producer
/// always uses acks=all with idempotence.
struct kafka_options {
  /// bootstrap.servers, e.g. "127.0.0.1:9092,127.0.0.1:9093".
  std::string brokers;
  /// The Kafka topic of (namespace, topic) is "<topic_prefix><namespace>.<topic>".
  std::string topic_prefix = defaults::kafka_topic_prefix;
  /// Topics the gateway creates (on first publish or subscribe, when
  /// missing) get this many partitions; Kafka keeps order per partition.
  uint32_t partitions = defaults::kafka_partitions;
  /// ... and this replication factor (-1: the brokers' default).
  int32_t replication_factor = -1;
  /// Extra librdkafka properties for the producer and the consumers (e.g.
  /// security.protocol); they cannot change acks or idempotence.
  std::map<std::string, std::string> properties;
};

/// A NATS backend (`type: nats`), for pubsub namespaces.
struct nats_options {
  /// Server URL(s), comma-separated, e.g. "nats://127.0.0.1:4222".
  std::string url;
  /// true: publishes are stored by JetStream and named subscriptions are
  /// durable JetStream consumers (at-least-once); ephemeral subscribers read
  /// the subject with core NATS. false: core NATS only (at-most-once; named
  /// subscriptions are queue groups, which keep no position).
  bool jetstream = true;
  /// The subject of (namespace, topic) is "<subject_prefix>.<namespace>.<topic>".
  std::string subject_prefix = defaults::nats_subject_prefix;
  /// JetStream: namespace ns is stored in the stream "<stream_prefix><ns>"
  /// (characters a stream name cannot hold replaced by '_'), created when
  /// missing.
  std::string stream_prefix = defaults::nats_stream_prefix;
  /// Limits of the streams the gateway creates (an existing stream keeps
  /// its own): messages older than this are removed (0: kept forever) ...
  uint64_t stream_max_age_ms = defaults::nats_stream_max_age_ms;
  /// ... and the oldest go once the stream holds more than this many bytes
  /// (0: no limit).
  uint64_t stream_max_bytes = 0;
  uint32_t connect_timeout_ms = defaults::nats_connect_timeout_ms;
  /// Where the token comes from, if the server wants one: an environment
  /// variable's name (never the token itself).
  std::string token_env;
};

enum class supervision_strategy { one_for_one, one_for_all, rest_for_one };

/// How a pool's supervisor restarts the backend's connection actors
/// (`backends.<name>.supervision`). Times in milliseconds.
struct supervision_config {
  supervision_strategy strategy = supervision_strategy::one_for_one;
  /// Intensity: more than `max_restarts` restarts within `period_ms` and the
  /// supervisor gives up, which opens the backend's circuit.
  uint32_t max_restarts = defaults::supervision_max_restarts;
  uint32_t period_ms = defaults::supervision_period_ms;
  /// Restart delay: min_ms * multiplier^n, capped at max_ms, spread by
  /// +-jitter (relative), back to min_ms after reset_after_ms without failure.
  uint32_t backoff_min_ms = defaults::backoff_min_ms;
  uint32_t backoff_max_ms = defaults::backoff_max_ms;
  double backoff_multiplier = defaults::backoff_multiplier;
  double backoff_jitter = defaults::backoff_jitter;
  uint32_t backoff_reset_after_ms = defaults::backoff_reset_after_ms;
  /// A child asked to stop is killed after this long.
  uint32_t shutdown_timeout_ms = defaults::shutdown_timeout_ms;
};

/// The backend's circuit breaker (`backends.<name>.circuit`): once its
/// supervisor gives up, requests fail fast and the pool probes the backend,
/// first after `probe_after_ms`, then doubling up to `probe_max_ms`.
struct circuit_config {
  uint32_t probe_after_ms = defaults::circuit_probe_after_ms;
  uint32_t probe_max_ms = defaults::circuit_probe_max_ms;
};

struct backend {
  std::string name;
  /// The backend's settings as written (YAML, normalised): a reload compares
  /// it to tell whether the backend changed.
  std::string source;
  backend_type type = backend_type::memory;
  uint32_t connections = defaults::memory_connections;
  uint32_t max_pending = defaults::pool_max_pending;
  /// Requests that may wait in the pool's mailbox before it takes them.
  uint32_t mailbox_limit = defaults::pool_mailbox_limit;
  uint32_t ttl_sweep_interval_ms = defaults::ttl_sweep_interval_ms;
  supervision_config supervision;
  circuit_config circuit;
  sqlite_options sqlite;
  postgres_options postgres;
  kafka_options kafka;
  nats_options nats;
  /// Kafka and NATS: how long the backend may stay unreachable before its
  /// subscriber streams end UNAVAILABLE and publishes are refused at once
  /// (until it is back).
  uint32_t unavailable_after_ms = defaults::pubsub_unavailable_after_ms;
  /// Memory backends serving pubsub namespaces: what each topic retains and
  /// how many topics there may be.
  uint32_t topic_retained_messages = defaults::memory_topic_retained_messages;
  uint64_t topic_retained_bytes = defaults::memory_topic_retained_bytes;
  uint32_t max_topics = defaults::memory_topics_max;
  location where;
};

enum class auth_mode { none, token, mtls };

/// Where mode mtls finds a client certificate's principal.
enum class principal_source { common_name, san };

/// Who may call the gateway (`auth:`). With mode token, every call carries
/// `authorization: Bearer <token>`; the principal is the name the token's
/// SHA-256 is listed under. With mode mtls, the principal is the subject
/// common name (or first subject alternative name) of the verified client
/// certificate, and tokens identify only the admin listener's callers.
struct auth_options {
  auth_mode mode = auth_mode::none;
  principal_source principal_from = principal_source::common_name;
  bool enabled() const { return mode != auth_mode::none; }
  /// Principal name -> SHA-256 of its token, 64 lowercase hex digits; from
  /// `tokens:` and the lines "<principal> <sha256>" of `token_file`.
  std::map<std::string, std::string> token_hashes;
  std::string token_file;
  /// Group name -> its principals.
  std::map<std::string, std::vector<std::string>> groups;
  /// Principals (or groups) that may use the admin listener's mutating
  /// endpoints.
  std::vector<std::string> admins;
};

/// A token bucket: `rate` requests per second on average, up to `burst` at
/// once. A rate of 0 means no limit.
struct rate_limit {
  double rate = 0;
  uint32_t burst = 0;
  bool limited() const { return rate > 0; }
};

/// Who may do what on a namespace (`namespaces.<name>.access`), by principal
/// or group name. admin includes write and read; nothing is allowed to
/// anyone not listed.
struct access_rules {
  std::vector<std::string> read;
  std::vector<std::string> write;
  std::vector<std::string> admin;
};

enum class pattern { keyvalue, pubsub };

struct namespace_config {
  std::string name;
  config::pattern pattern = pattern::keyvalue;
  std::string backend;
  uint64_t max_value_bytes = defaults::value_bytes_max;
  /// Pubsub namespaces: messages a subscriber stream buffers while it writes.
  uint32_t subscription_buffer = defaults::subscription_buffer_messages;
  /// Pubsub namespaces: an ephemeral subscriber whose buffer is full is
  /// disconnected (RESOURCE_EXHAUSTED) instead of losing its oldest
  /// messages (`slow_subscriber: disconnect` vs the default `drop_oldest`).
  bool disconnect_slow_subscribers = false;
  /// Audit lines show "sha256:<hex>" of the key instead of the key.
  bool redact_keys = false;
  /// Every request must get its audit line: when the audit log has no room
  /// for it, the request is refused UNAVAILABLE before it runs (instead of
  /// its line being dropped). Needs the audit stage.
  bool audit_required = false;
  /// With auth.mode token: who may read, write and administer it.
  access_rules access;
  /// Requests per second for the whole namespace, and for each principal
  /// in it (`rate_limit: {rate, burst, per_principal: {rate, burst}}`).
  rate_limit namespace_rate;
  rate_limit principal_rate;
  /// Middleware stage names in the order a request visits them.
  std::vector<std::string> middleware = {"metrics", "audit"};
  location where;
};

struct audit_options {
  std::string path = defaults::audit_path;
};

/// TLS on the gRPC listener (`server.tls`): off when no certificate is set.
/// The files are read when the gateway starts.
struct tls_options {
  std::string cert_file;
  std::string key_file;
  /// CA bundle that client certificates must chain to (auth.mode mtls).
  std::string client_ca_file;
  bool enabled() const { return !cert_file.empty(); }
};

struct server_options {
  std::string listen = defaults::grpc_listen;
  tls_options tls;
  std::string admin = defaults::admin_listen;
  uint32_t session_idle_timeout_ms = defaults::session_idle_timeout_ms;
  /// Requests that may wait in a session's mailbox before it takes them.
  uint32_t session_mailbox_limit = defaults::session_mailbox_limit;
  /// Requests that may wait in a middleware stage's mailbox, and in the
  /// router's, before they take them; more are refused.
  uint32_t stage_mailbox_limit = defaults::stage_mailbox_limit;
  uint32_t router_mailbox_limit = defaults::router_mailbox_limit;
  /// Requests one client connection may have in flight at once.
  uint32_t session_max_in_flight = defaults::session_max_in_flight;
  /// On SIGTERM/SIGINT: how long requests in flight may take to finish.
  uint32_t drain_timeout_ms = defaults::drain_timeout_ms;
  uint32_t scheduler_max_throughput = defaults::scheduler_max_throughput;
  /// 0 picks the number of cores.
  uint32_t scheduler_threads = 0;
  /// Scheduler threads that also poll gRPC (each its own completion queue);
  /// 0 picks one per four threads, at least one.
  uint32_t scheduler_pollers = 0;

  /// Calls one client connection may have open at the gRPC layer: twice its
  /// in-flight window, so the window still refuses (with a retry hint) what
  /// goes beyond it, and a flood past that waits in the client.
  uint32_t max_concurrent_streams() const {
    auto twice = static_cast<uint64_t>(session_max_in_flight) * 2;
    return static_cast<uint32_t>(twice > 1000000 ? 1000000 : twice);
  }
};

struct gateway_config {
  server_options server;
  audit_options audit;
  auth_options auth;
  std::map<std::string, backend> backends;
  std::map<std::string, namespace_config> namespaces;
  /// The server: and audit: sections as written (YAML, normalised), for a
  /// reload to tell whether they changed.
  std::string server_source;
  std::string audit_source;

  /// The largest request message the gRPC listener must accept.
  uint64_t max_request_bytes() const;
};

/// One thing wrong with a config file.
struct problem {
  location where;
  /// Dotted path of the field, e.g. "namespaces.cache.backend".
  std::string field;
  std::string message;
  std::string hint;
};

struct load_result {
  /// Set only when the file has no problems.
  std::optional<gateway_config> config;
  std::vector<problem> problems;

  bool ok() const { return config.has_value() && problems.empty(); }
};

/// Names of the middleware stages this build knows.
const std::vector<std::string>& known_stages();

/// Parses and validates YAML text; `file` names it in problems.
load_result parse(const std::string& yaml_text, const std::string& file);

/// Reads and validates a file.
load_result load_file(const std::string& path);

/// "file:line:column: field: message (hint: ...)". The line and column are
/// left out when unknown (line 0), the field when empty, the hint when empty.
std::string format(const problem& p);

/// One line describing a valid config, e.g. "2 namespaces, 2 backends".
std::string summary(const gateway_config& cfg);

/// Splits "host:port"; false when it is not a valid listen address. An IPv6
/// host is written in brackets, "[::1]:8980", and returned without them.
bool split_host_port(const std::string& text, std::string& host,
                     uint16_t& port);

/// The YAML spelling of each choice, e.g. "sqlite", "pubsub", "full".
std::string_view to_string(backend_type type) noexcept;
std::string_view to_string(config::pattern p) noexcept;
std::string_view to_string(sqlite_synchronous mode) noexcept;
std::string_view to_string(supervision_strategy s) noexcept;

} // namespace prism::config
