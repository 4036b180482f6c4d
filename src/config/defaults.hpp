#pragma once

// Every limit and default of the gateway in one place, each with its unit.
// The configuration schema (docs/CONFIG.md) refers to these names.
//
// Names: what is limited, then its unit, then the qualifier
// (`key_bytes_max`, `nats_connect_timeout_ms`); a count of things needs no
// unit (`batch_keys_max`). The default of a setting whose config key reads
// otherwise (`max_pending`, `mailbox_limit`) keeps the key's words after
// the owner's name (`pool_max_pending`), so it is found by the key.

#include <cstdint>

namespace prism::defaults {

// Listeners.
inline constexpr const char* grpc_listen = "127.0.0.1:8980";
inline constexpr const char* admin_listen = "127.0.0.1:8981";

// Request limits checked by the front end.
inline constexpr uint64_t key_bytes_max = 4096;
/// The largest value a namespace accepts unless it sets max_value_bytes;
/// and the most max_value_bytes may be set to.
inline constexpr uint64_t value_bytes_max = 4 * 1024 * 1024;
inline constexpr uint64_t value_bytes_max_ceiling = 64 * 1024 * 1024;
inline constexpr uint32_t scan_limit_default = 100;
inline constexpr uint32_t scan_limit_max = 1000;
inline constexpr uint32_t batch_keys_max = 1000;
inline constexpr uint64_t request_id_bytes_max = 128;
/// Namespace names (config and requests).
inline constexpr uint64_t namespace_name_bytes_max = 128;
/// Room for keys and framing on top of the largest value a namespace accepts.
inline constexpr uint64_t message_overhead_bytes = 1024 * 1024;

// PubSub requests.
inline constexpr uint64_t topic_name_bytes_max = 249;
inline constexpr uint64_t metadata_entries_max = 64;
inline constexpr uint64_t metadata_entry_bytes_max = 4096;
/// Messages a memory backend keeps per topic, for EARLIEST and for named
/// subscriptions to catch up from.
inline constexpr uint32_t memory_topic_retained_messages = 1000;
/// ... and at most this many payload bytes per topic.
inline constexpr uint64_t memory_topic_retained_bytes = 16 * 1024 * 1024;
/// Topics one memory backend holds (a publish or subscribe that would open
/// one more is refused with RESOURCE_EXHAUSTED).
inline constexpr uint32_t memory_topics_max = 10000;
/// Messages a subscription buffers while its stream is busy.
inline constexpr uint32_t subscription_buffer_messages = 256;

// Kafka and NATS pubsub backends.
inline constexpr const char* kafka_topic_prefix = "prism.";
inline constexpr uint32_t kafka_partitions = 1;
inline constexpr const char* nats_subject_prefix = "prism";
inline constexpr const char* nats_stream_prefix = "PRISM_";
/// Seven days, Kafka's default retention.
inline constexpr uint64_t nats_stream_max_age_ms = 7ull * 24 * 3600 * 1000;
inline constexpr uint32_t nats_connect_timeout_ms = 2000;
inline constexpr uint32_t pubsub_unavailable_after_ms = 10000;

// The NATS driver's own limits (not in the config schema; see also
// nats_tuning in drivers/nats/nats_driver.hpp).
/// How often a driver thread waiting for the NATS connection looks again.
inline constexpr uint32_t nats_connected_poll_ms = 100;
/// Publishes the publisher thread sends at once (core NATS: one flush).
inline constexpr uint32_t nats_publish_batch_max_count = 256;
/// Credit one member of a JetStream named subscription holds at most.
inline constexpr uint64_t nats_member_credit_max_count = uint64_t{1} << 32;
/// How long a departing member waits for the server to take back its NAKs.
inline constexpr uint32_t nats_nak_confirm_wait_ms = 1000;
/// The wait before a push subscription retries its setup while connected.
inline constexpr uint32_t nats_subscribe_retry_ms = 500;
/// Rounds of looking up a namespace's stream and creating it when missing.
inline constexpr uint32_t nats_stream_setup_attempts_count = 2;
/// A publish timeout longer than this (a year) counts as none.
inline constexpr uint64_t nats_publish_timeout_max_ms
  = 365ull * 24 * 3600 * 1000;
/// The retry hint of a publish refused because max_pending are in flight.
inline constexpr uint32_t nats_publish_retry_after_ms = 100;
/// How long closing the connection waits for buffered acks and naks to go.
inline constexpr uint32_t nats_close_flush_wait_ms = 1000;

// Backends.
inline constexpr uint32_t memory_connections = 1;
inline constexpr uint32_t sqlite_connections = 4;
inline constexpr uint32_t connections_max = 256;
inline constexpr uint32_t sqlite_busy_timeout_ms = 5000;
inline constexpr uint32_t postgres_connections = 4;
/// PostgreSQL: the longest a connection attempt may take, a statement may
/// run, a connection may stay idle (0: forever) and may live (0: forever).
inline constexpr uint32_t postgres_connect_timeout_ms = 5000;
inline constexpr uint32_t postgres_statement_timeout_ms = 30000;
inline constexpr uint32_t postgres_idle_timeout_ms = 0;
inline constexpr uint32_t postgres_max_lifetime_ms = 0;
/// PostgreSQL: tries of a request rolled back for a deadlock or serialisation.
inline constexpr uint32_t postgres_rollback_attempts_count = 3;
/// PostgreSQL: the longest one poll() of a connection attempt waits (an int).
inline constexpr uint32_t postgres_connect_poll_max_ms = 1u << 30;
/// PostgreSQL: how far a job's statement_timeout may exceed the time left.
inline constexpr uint32_t postgres_timeout_slack_ms = 20;
/// PostgreSQL: the longest session statement_timeout set exactly, not rounded.
inline constexpr uint32_t postgres_timeout_exact_max_ms = 100;
/// PostgreSQL: longer session statement_timeouts are rounded down to this step.
inline constexpr uint32_t postgres_timeout_step_ms = 50;
/// SQLite: VM instructions between two checks of a statement's deadline.
inline constexpr uint32_t sqlite_progress_interval_count = 1000;
/// How often expired keys are reclaimed, and how many at most per round.
inline constexpr uint32_t ttl_sweep_interval_ms = 1000;
inline constexpr uint32_t ttl_sweep_batch_max = 1000;
/// Requests a pool holds while all its connections are busy.
inline constexpr uint32_t pool_max_pending = 1024;
/// Requests that may wait in a pool's mailbox before it takes them.
inline constexpr uint32_t pool_mailbox_limit = 4096;
/// Requests one connection works on at once (a driver may pipeline them).
inline constexpr uint32_t connection_in_flight_max = 64;

// Supervision of a backend's connections (backends.<name>.supervision).
inline constexpr uint32_t supervision_max_restarts = 5;
inline constexpr uint32_t supervision_period_ms = 10000;
inline constexpr uint32_t backoff_min_ms = 100;
inline constexpr uint32_t backoff_max_ms = 10000;
inline constexpr double backoff_multiplier = 2.0;
inline constexpr double backoff_jitter = 0.2;
inline constexpr uint32_t backoff_reset_after_ms = 30000;
inline constexpr uint32_t shutdown_timeout_ms = 5000;
// Circuit breaking (backends.<name>.circuit): first probe after an open, and
// the longest wait between probes.
inline constexpr uint32_t circuit_probe_after_ms = 1000;
inline constexpr uint32_t circuit_probe_max_ms = 30000;

// Middleware stages and the router: requests that may wait in one mailbox.
inline constexpr uint32_t stage_mailbox_limit = 4096;
inline constexpr uint32_t router_mailbox_limit = 8192;

// Shutdown: how long requests in flight may take to finish after SIGTERM.
inline constexpr uint32_t drain_timeout_ms = 30000;

// Sessions.
/// A session with nothing in flight for this long is closed.
inline constexpr uint32_t session_idle_timeout_ms = 60000;
/// Requests that may wait in one session's mailbox; more are refused.
inline constexpr uint32_t session_mailbox_limit = 1024;
/// Requests one client connection may have in flight; more are refused.
inline constexpr uint32_t session_max_in_flight = 1024;
/// The retry hint sent with a refusal for overload, in ms.
inline constexpr uint32_t overload_retry_after_ms = 50;

// The slow log (GET /debug/slowlog).
/// A call that takes at least this long, from its session starting it to
/// its answer, is recorded; changed at run time by POST
/// /debug/slowlog/threshold.
inline constexpr uint32_t slowlog_threshold_ms = 10;
/// Entries kept; the oldest goes first.
inline constexpr uint32_t slowlog_entries_max = 128;

// Logging.
/// Warnings a client can cause at will (a request id the gateway replaces,
/// a request it cannot parse): at most one line per interval, the rest at
/// debug level.
inline constexpr uint32_t client_warning_interval_ms = 60000;

// Audit log.
inline constexpr const char* audit_path = "./data/audit.log";

// Actor scheduler: messages an actor may handle before yielding its thread.
inline constexpr uint32_t scheduler_max_throughput = 64;
/// Times an idle worker polls its queue before it parks (CAF's
/// work-stealing.aggressive-poll-attempts).
inline constexpr uint32_t scheduler_aggressive_poll_attempts = 100;

// `prism serve`.
/// The longest `prism serve` waits for the gateway's actors to start.
inline constexpr uint32_t actors_start_timeout_ms = 30000;
/// Time gRPC gets to send the answers of the stopped actors before it closes.
inline constexpr uint32_t grpc_shutdown_grace_ms = 1000;

// Command-line clients (`prism kv`, `prism pubsub`).
/// Deadline of a `prism kv` call and of a `prism pubsub publish`.
inline constexpr uint32_t cli_call_timeout_ms = 5000;
/// The longest --timeout-ms and --drain-timeout the command line takes: 1 hour.
inline constexpr uint32_t cli_duration_max_ms = 3600000;
/// How often `prism pubsub subscribe` looks for SIGINT and SIGTERM.
inline constexpr uint32_t cli_signal_poll_ms = 100;

// `prism bench` (src/loadgen).
/// Size of every value it writes.
inline constexpr uint32_t bench_value_bytes = 100;
/// Size of its keyspace (keys bench-0, bench-1, ...).
inline constexpr uint32_t bench_keys = 1000;
/// Open loop: the most calls it keeps in flight at once.
inline constexpr uint32_t bench_max_outstanding = 20000;

} // namespace prism::defaults
