// One entry of the backends: map: its name and type, the keys every backend
// takes, the keys of one type found on another, and the memory and sqlite
// keys. The postgres, kafka and nats keys are read in files of their own.

#include <algorithm>

#include "config/checker.hpp"
#include "config/sections.hpp"
#include "config/text.hpp"

namespace prism::config::detail {

namespace {

/// Keys every backend allows, whatever its type.
const std::vector<std::string> common_backend_keys
  = {"type", "max_pending", "mailbox_limit", "circuit"};
/// Keys of the backends that hold KeyValue data through connection actors.
const std::vector<std::string> connection_keys
  = {"connections", "ttl_sweep_interval_ms", "supervision"};
const std::vector<std::string> sqlite_only_keys
  = {"path", "synchronous", "busy_timeout_ms"};
const std::vector<std::string> memory_only_keys
  = {"topic_retained_messages", "topic_retained_bytes", "max_topics"};
const std::vector<std::string> postgres_only_keys = {"dsn",
                                                     "password_env",
                                                     "password_file",
                                                     "connect_timeout_ms",
                                                     "statement_timeout_ms",
                                                     "idle_timeout_ms",
                                                     "max_lifetime_ms"};
const std::vector<std::string> kafka_only_keys
  = {"brokers",    "topic_prefix",        "partitions", "replication_factor",
     "properties", "unavailable_after_ms"};
const std::vector<std::string> nats_only_keys = {"url",
                                                 "jetstream",
                                                 "subject_prefix",
                                                 "stream_prefix",
                                                 "stream_max_age_ms",
                                                 "stream_max_bytes",
                                                 "connect_timeout_ms",
                                                 "token_env",
                                                 "unavailable_after_ms"};

/// The keys a backend of `type` allows.
std::vector<std::string> backend_keys(backend_type type) {
  std::vector<std::string> keys = common_backend_keys;
  auto add = [&](const std::vector<std::string>& more) {
    keys.insert(keys.end(), more.begin(), more.end());
  };
  switch (type) {
    case backend_type::memory:
      add(connection_keys);
      add(memory_only_keys);
      break;
    case backend_type::sqlite:
      add(connection_keys);
      add(sqlite_only_keys);
      break;
    case backend_type::postgres:
      add(connection_keys);
      add(postgres_only_keys);
      break;
    case backend_type::kafka: add(kafka_only_keys); break;
    case backend_type::nats: add(nats_only_keys); break;
  }
  return keys;
}

constexpr backend_type all_backend_types[]
  = {backend_type::memory, backend_type::sqlite, backend_type::postgres,
     backend_type::kafka, backend_type::nats};

const std::vector<std::string> backend_types
  = {"memory", "sqlite", "postgres", "kafka", "nats"};
const std::vector<std::string> synchronous_modes = {"normal", "full"};

/// True when a backend of type `t` allows `key`.
bool allows(backend_type t, const std::string& key) {
  auto keys = backend_keys(t);
  return std::find(keys.begin(), keys.end(), key) != keys.end();
}

/// Reports the keys in `s` that only backends of another type take, and
/// keys no backend takes. Keys of one backend type on another are reported
/// as such; while the type is unknown (already reported), every type's keys
/// are accepted.
void check_key_types(checker& c, const entry& e, const section& s,
                     bool known_type, backend_type type) {
  std::string kind = known_type ? std::string{to_string(type)} : std::string{};
  std::vector<std::string> recognised;
  for (auto t : all_backend_types)
    for (const auto& k : backend_keys(t))
      if (std::find(recognised.begin(), recognised.end(), k)
          == recognised.end())
        recognised.push_back(k);
  section unknown_only = s;
  unknown_only.items.clear();
  for (const auto& item : s.items) {
    const auto& k = item.name;
    if (std::find(recognised.begin(), recognised.end(), k)
        == recognised.end()) {
      unknown_only.items.push_back(item);
      continue;
    }
    if (!known_type || allows(type, k))
      continue;
    std::vector<std::string> owners;
    for (auto t : all_backend_types)
      if (allows(t, k))
        owners.emplace_back(to_string(t));
    std::string message
      = quote(k) + " is only valid on " + join_words(owners) + " backends";
    if (std::find(memory_only_keys.begin(), memory_only_keys.end(), k)
        != memory_only_keys.end())
      message += " (it sizes their pubsub topics)";
    message += ", and " + quote(e.name) + " is a " + kind + " backend";
    std::string hint;
    if (type == backend_type::postgres
        && std::find(sqlite_only_keys.begin(), sqlite_only_keys.end(), k)
          != sqlite_only_keys.end())
      hint = postgres_hint_for_sqlite_key(k);
    else if (std::find(connection_keys.begin(), connection_keys.end(), k)
             != connection_keys.end())
      hint = "remove it: a " + kind
        + " backend serves pubsub namespaces through one client, not a pool of "
          "connections";
    else if (std::find(memory_only_keys.begin(), memory_only_keys.end(), k)
             != memory_only_keys.end())
      hint = "remove it: a " + kind
        + " backend keeps its topics on its own servers";
    else
      hint = "remove it, or set type: " + owners.front();
    c.report(c.at(item.key), s.path(k), message, hint);
  }
  c.unknown_keys(unknown_only, known_type ? backend_keys(type) : recognised,
                 misplaced_supervision_keys(s.field, s.field));
}

/// Reads the keys that size the pubsub topics of a memory backend.
void check_memory(checker& c, const section& s, backend& out) {
  if (const entry* v = s.find("topic_retained_messages"))
    c.number(*v, s.path(v->name), 1, 1000000, out.topic_retained_messages,
             "use 1..1000000 messages per topic");
  if (const entry* v = s.find("topic_retained_bytes"))
    c.number(*v, s.path(v->name), 1, uint64_t{1} << 36,
             out.topic_retained_bytes,
             "use 1..68719476736 bytes of payload per topic (up to 64 GiB)");
  if (const entry* v = s.find("max_topics"))
    c.number(*v, s.path(v->name), 1, 10000000, out.max_topics,
             "use 1..10000000 topics");
}

/// Reads the keys of a sqlite backend from its section.
void check_sqlite(checker& c, const section& s, bool known_type,
                  sqlite_options& out) {
  if (const entry* v = s.find("path"))
    c.text(*v, s.path("path"), out.path,
           "give the database file, e.g. ./data/prism.db");
  else if (known_type)
    c.missing(s, "path",
              "add path: with the database file, e.g. path: ./data/prism.db");
  if (const entry* v = s.find("synchronous")) {
    int index = c.choice(*v, s.path("synchronous"), "synchronous mode",
                         synchronous_modes);
    if (index >= 0)
      out.synchronous = static_cast<sqlite_synchronous>(index);
  }
  if (const entry* v = s.find("busy_timeout_ms"))
    c.number(
      *v, s.path(v->name), 0, 600000, out.busy_timeout_ms,
      "use 0..600000 milliseconds (0 fails at once when the database is locked)");
}

} // namespace

backend check_backend(checker& c, const entry& e, bool& known_type) {
  backend b;
  b.name = e.name;
  b.where = c.at(e.key);
  std::string field = "backends." + e.name;
  if (!valid_name(e.name, 64))
    c.report(c.at(e.key), field, "invalid backend name " + quote(e.name),
             std::string{"a backend name "} + name_rule
               + ", at most 64 characters");

  section s = c.open(e.value, field, c.at(e.key), "a map of backend settings");
  known_type = false;
  if (const entry* v = s.find("type")) {
    int index = c.choice(*v, s.path("type"), "backend type", backend_types);
    if (index >= 0) {
      b.type = static_cast<backend_type>(index);
      known_type = true;
    }
  } else {
    c.missing(
      s, "type",
      "add type: memory, sqlite or postgres (keyvalue), or memory, kafka or nats (pubsub)");
  }
  if (known_type && b.type == backend_type::sqlite)
    b.connections = defaults::sqlite_connections;
  else if (known_type && b.type == backend_type::postgres)
    b.connections = defaults::postgres_connections;
  else
    b.connections = defaults::memory_connections;

  bool sqlite_keys_ok = !known_type || b.type == backend_type::sqlite;
  bool postgres_keys_ok = !known_type || b.type == backend_type::postgres;
  bool memory_keys_ok = !known_type || b.type == backend_type::memory;
  bool kafka_keys_ok = !known_type || b.type == backend_type::kafka;
  bool nats_keys_ok = !known_type || b.type == backend_type::nats;
  bool connection_keys_ok = memory_keys_ok || sqlite_keys_ok
    || postgres_keys_ok;

  check_key_types(c, e, s, known_type, b.type);

  if (const entry* v = s.find("connections"); v && connection_keys_ok)
    c.number(*v, s.path(v->name), 1, defaults::connections_max, b.connections);
  if (const entry* v = s.find("max_pending"))
    c.number(*v, s.path(v->name), 0, 1000000, b.max_pending);
  if (const entry* v = s.find("mailbox_limit"))
    c.number(*v, s.path(v->name), 1, 1000000, b.mailbox_limit);
  if (const entry* v = s.find("ttl_sweep_interval_ms"); v && connection_keys_ok)
    c.number(*v, s.path(v->name), 10, 3600000, b.ttl_sweep_interval_ms,
             "use 10..3600000 milliseconds (10 ms to 1 hour)");

  if (memory_keys_ok)
    check_memory(c, s, b);

  if (const entry* v = s.find("supervision"); v && connection_keys_ok)
    check_supervision(c, *v, field, b.supervision);
  if (const entry* v = s.find("circuit"))
    check_circuit(c, *v, field, b.circuit);

  if (sqlite_keys_ok)
    check_sqlite(c, s, known_type, b.sqlite);
  if (postgres_keys_ok)
    check_postgres(c, s, known_type, b.postgres);
  if (kafka_keys_ok)
    check_kafka(c, s, known_type, b.kafka);
  if (nats_keys_ok)
    check_nats(c, s, known_type, b.nats);
  if (const entry* v = s.find("unavailable_after_ms");
      v && (kafka_keys_ok || nats_keys_ok))
    c.number(
      *v, s.path(v->name), 100, 86400000, b.unavailable_after_ms,
      "use 100..86400000 milliseconds: how long the backend may be unreachable before subscriber "
      "streams end UNAVAILABLE");
  return b;
}

} // namespace prism::config::detail
