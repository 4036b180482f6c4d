// GET /debug/config: the config serving now, with its defaults filled in,
// as JSON, and no secret in it.

#include <algorithm>
#include <cctype>
#include <string_view>

#include "admin/debug_data.hpp"
#include "config/config.hpp"

namespace prism::admin {

namespace {

using nlohmann::json;

std::string lower(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(), [](unsigned char c) {
    return static_cast<char>(std::tolower(c));
  });
  return text;
}

/// A Kafka property whose value is a secret (sasl.password,
/// ssl.key.password, ssl.key.pem, sasl.oauthbearer.client.secret, ...).
bool secret_property(const std::string& name) {
  auto n = lower(name);
  for (std::string_view word : {"password", "secret", "token", "key", "jaas"})
    if (n.find(word) != std::string::npos)
      return true;
  return false;
}

/// `url`s ("nats://user:pass@host:4222,...") with the password of each
/// user info replaced; a user info without a password is replaced whole
/// when `lone_user_is_secret` (NATS takes a token there).
std::string redact_url_passwords(const std::string& urls,
                                 bool lone_user_is_secret) {
  std::string out;
  size_t start = 0;
  while (start <= urls.size()) {
    auto end = urls.find(',', start);
    auto one = urls.substr(
      start, end == std::string::npos ? std::string::npos : end - start);
    auto scheme = one.find("://");
    auto at = one.rfind('@');
    if (scheme != std::string::npos && at != std::string::npos && at > scheme) {
      auto colon = one.find(':', scheme + 3);
      if (colon != std::string::npos && colon < at)
        one = one.substr(0, colon + 1) + redacted + one.substr(at);
      else if (lone_user_is_secret)
        // "nats://token@host": the user info alone is the token.
        one = one.substr(0, scheme + 3) + redacted + one.substr(at);
    }
    out += one;
    if (end == std::string::npos)
      break;
    out += ',';
    start = end + 1;
  }
  return out;
}

json supervision_json(const config::supervision_config& s) {
  return {{"strategy", std::string{config::to_string(s.strategy)}},
          {"max_restarts", s.max_restarts},
          {"period_ms", s.period_ms},
          {"backoff_min_ms", s.backoff_min_ms},
          {"backoff_max_ms", s.backoff_max_ms},
          {"backoff_multiplier", s.backoff_multiplier},
          {"backoff_jitter", s.backoff_jitter},
          {"backoff_reset_after_ms", s.backoff_reset_after_ms},
          {"shutdown_timeout_ms", s.shutdown_timeout_ms}};
}

json backend_json(const config::backend& b) {
  json out{{"type", std::string{config::to_string(b.type)}},
           {"connections", b.connections},
           {"max_pending", b.max_pending},
           {"mailbox_limit", b.mailbox_limit},
           {"ttl_sweep_interval_ms", b.ttl_sweep_interval_ms},
           {"supervision", supervision_json(b.supervision)},
           {"circuit",
            {{"probe_after_ms", b.circuit.probe_after_ms},
             {"probe_max_ms", b.circuit.probe_max_ms}}}};
  switch (b.type) {
    case config::backend_type::memory:
      out["topic_retained_messages"] = b.topic_retained_messages;
      out["topic_retained_bytes"] = b.topic_retained_bytes;
      out["max_topics"] = b.max_topics;
      break;
    case config::backend_type::sqlite:
      out["sqlite"] = {
        {"path", b.sqlite.path},
        {"synchronous", std::string{config::to_string(b.sqlite.synchronous)}},
        {"busy_timeout_ms", b.sqlite.busy_timeout_ms}};
      break;
    case config::backend_type::postgres:
      // The environment variable's name and the file's path are not the
      // password; the DSN may hold one.
      out["postgres"]
        = {{"dsn", redact_dsn(b.postgres.dsn)},
           {"password_env", b.postgres.password_env},
           {"password_file", b.postgres.password_file},
           {"connect_timeout_ms", b.postgres.connect_timeout_ms},
           {"statement_timeout_ms", b.postgres.statement_timeout_ms},
           {"idle_timeout_ms", b.postgres.idle_timeout_ms},
           {"max_lifetime_ms", b.postgres.max_lifetime_ms}};
      break;
    case config::backend_type::kafka: {
      json properties = json::object();
      for (auto& [name, value] : b.kafka.properties)
        properties[name] = secret_property(name) ? json(redacted) : json(value);
      out["kafka"] = {{"brokers", redact_url_passwords(b.kafka.brokers, false)},
                      {"topic_prefix", b.kafka.topic_prefix},
                      {"partitions", b.kafka.partitions},
                      {"replication_factor", b.kafka.replication_factor},
                      {"properties", std::move(properties)}};
      out["unavailable_after_ms"] = b.unavailable_after_ms;
      break;
    }
    case config::backend_type::nats:
      out["nats"] = {{"url", redact_url_passwords(b.nats.url, true)},
                     {"jetstream", b.nats.jetstream},
                     {"subject_prefix", b.nats.subject_prefix},
                     {"stream_prefix", b.nats.stream_prefix},
                     {"stream_max_age_ms", b.nats.stream_max_age_ms},
                     {"stream_max_bytes", b.nats.stream_max_bytes},
                     {"connect_timeout_ms", b.nats.connect_timeout_ms},
                     {"token_env", b.nats.token_env}};
      out["unavailable_after_ms"] = b.unavailable_after_ms;
      break;
  }
  return out;
}

json rate_json(const config::rate_limit& r) {
  return {{"rate", r.rate}, {"burst", r.burst}};
}

json namespace_json(const config::namespace_config& n) {
  return {{"pattern", std::string{config::to_string(n.pattern)}},
          {"backend", n.backend},
          {"max_value_bytes", n.max_value_bytes},
          {"subscription_buffer", n.subscription_buffer},
          {"slow_subscriber",
           n.disconnect_slow_subscribers ? "disconnect" : "drop_oldest"},
          {"redact_keys", n.redact_keys},
          {"audit_required", n.audit_required},
          {"access",
           {{"read", n.access.read},
            {"write", n.access.write},
            {"admin", n.access.admin}}},
          {"rate_limit",
           {{"rate", n.namespace_rate.rate},
            {"burst", n.namespace_rate.burst},
            {"per_principal", rate_json(n.principal_rate)}}},
          {"middleware", n.middleware}};
}

const char* auth_mode_name(config::auth_mode m) {
  switch (m) {
    case config::auth_mode::token: return "token";
    case config::auth_mode::mtls: return "mtls";
    default: return "none";
  }
}

json auth_json(const config::auth_options& a) {
  // The token hashes are as good as the tokens to anyone who can read them
  // and guess: only the principals' names show.
  json tokens = json::object();
  for (auto& [principal, hash] : a.token_hashes)
    tokens[principal] = redacted;
  return {
    {"mode", auth_mode_name(a.mode)},
    {"principal_from",
     a.principal_from == config::principal_source::san ? "san" : "common_name"},
    {"tokens", std::move(tokens)},
    {"token_file", a.token_file},
    {"groups", a.groups},
    {"admins", a.admins}};
}

json server_json(const config::server_options& s) {
  return {{"listen", s.listen},
          {"admin", s.admin},
          {"tls",
           {{"cert_file", s.tls.cert_file},
            {"key_file", s.tls.key_file.empty() ? json("") : json(redacted)},
            {"client_ca_file", s.tls.client_ca_file}}},
          {"session_idle_timeout_ms", s.session_idle_timeout_ms},
          {"session_mailbox_limit", s.session_mailbox_limit},
          {"stage_mailbox_limit", s.stage_mailbox_limit},
          {"router_mailbox_limit", s.router_mailbox_limit},
          {"session_max_in_flight", s.session_max_in_flight},
          {"drain_timeout_ms", s.drain_timeout_ms},
          {"scheduler_max_throughput", s.scheduler_max_throughput},
          {"scheduler_threads", s.scheduler_threads},
          {"scheduler_pollers", s.scheduler_pollers}};
}

} // namespace

std::string redact_dsn(const std::string& dsn) {
  if (dsn.find("://") != std::string::npos) {
    auto out = redact_url_passwords(dsn, false);
    // A URI may also carry ?password=... in its query.
    auto q = lower(out).find("password=");
    if (q != std::string::npos) {
      auto end = out.find('&', q);
      out = out.substr(0, q + 9) + redacted
        + (end == std::string::npos ? "" : out.substr(end));
    }
    return out;
  }
  // key=value pairs separated by spaces; a value may be 'quoted'.
  auto text = lower(dsn);
  std::string out;
  size_t i = 0;
  while (i < dsn.size()) {
    auto key_at = text.find("password", i);
    if (key_at == std::string::npos
        || (key_at > 0
            && !std::isspace(static_cast<unsigned char>(text[key_at - 1])))) {
      if (key_at == std::string::npos) {
        out += dsn.substr(i);
        break;
      }
      out += dsn.substr(i, key_at + 8 - i);
      i = key_at + 8;
      continue;
    }
    auto eq = key_at + 8;
    while (eq < dsn.size() && std::isspace(static_cast<unsigned char>(dsn[eq])))
      ++eq;
    if (eq >= dsn.size() || dsn[eq] != '=') {
      out += dsn.substr(i, key_at + 8 - i);
      i = key_at + 8;
      continue;
    }
    auto v = eq + 1;
    while (v < dsn.size() && std::isspace(static_cast<unsigned char>(dsn[v])))
      ++v;
    auto end = v;
    if (end < dsn.size() && dsn[end] == '\'') {
      ++end;
      while (end < dsn.size() && dsn[end] != '\'') {
        if (dsn[end] == '\\')
          ++end;
        ++end;
      }
      ++end;
    } else {
      while (end < dsn.size()
             && !std::isspace(static_cast<unsigned char>(dsn[end])))
        ++end;
    }
    out += dsn.substr(i, v - i);
    out += redacted;
    i = std::min(end, dsn.size());
  }
  return out;
}

json config_json(const config::gateway_config& cfg, int64_t generated_at_ms) {
  json backends = json::object();
  for (auto& [name, b] : cfg.backends)
    backends[name] = backend_json(b);
  json namespaces = json::object();
  for (auto& [name, n] : cfg.namespaces)
    namespaces[name] = namespace_json(n);
  return {{"generated_at_ms", generated_at_ms},
          {"config",
           {{"server", server_json(cfg.server)},
            {"audit", {{"path", cfg.audit.path}}},
            {"auth", auth_json(cfg.auth)},
            {"backends", std::move(backends)},
            {"namespaces", std::move(namespaces)}}}};
}

} // namespace prism::admin
