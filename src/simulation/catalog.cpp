#include "simulation/catalog.hpp"

namespace prism::simulation {

const std::vector<fault_kind_info>& fault_kinds() {
  static const std::vector<fault_kind_info> table{
    {fault_kind::backend_error,
     "backend_error",
     fault_target::backend,
     true,
     {{"code", param_type::status_code, 0, 0, std::nullopt, "UNAVAILABLE", "",
       false, "the status code the backend answers"},
      {"count", param_type::number, 0, 1000000, 0, "", "", false,
       "fail only the next N operations (0: every one until the fault ends)"}},
     "the backend answers its operations with an error code (not applied)"},
    {fault_kind::latency,
     "latency",
     fault_target::backend,
     true,
     {{"latency_ms", param_type::number, 1, 60000, std::nullopt, "", "", true,
       "virtual ms each operation takes"},
      {"jitter_ms", param_type::number, 0, 60000, 0, "", "", false,
       "plus 0..N ms more, drawn from the seed"}},
     "each operation takes latency_ms (+ jitter) of virtual time; one past "
     "its deadline times out, not applied"},
    {fault_kind::hang,
     "hang",
     fault_target::backend,
     true,
     {},
     "operations hang until the fault ends (then run) or their deadline "
     "passes (DEADLINE_EXCEEDED, not applied)"},
    {fault_kind::outage,
     "outage",
     fault_target::backend,
     true,
     {},
     "the backend is down: connections break and cannot reconnect until it "
     "recovers (restarts, circuit breaker, probes)"},
    {fault_kind::connection_crash,
     "connection_crash",
     fault_target::backend,
     false,
     {{"count", param_type::number, 1, 1000, 1, "", "", false,
       "how many of the next operations crash their connection"},
      {"mode", param_type::choice, 0, 0, std::nullopt, "drop", "drop,throw",
       false,
       "drop: the driver reports a broken connection; throw: the driver "
       "throws"}},
     "the next operations crash their connection actor (the supervisor "
     "restarts it)"},
    {fault_kind::kill,
     "kill",
     fault_target::actor,
     false,
     {},
     "kills one actor through the inspector: session, stage, router, pool, "
     "connection, broker or subscription (by kind, or kind:name)"},
    {fault_kind::deadline_storm,
     "deadline_storm",
     fault_target::workload,
     false,
     {{"count", param_type::number, 1, 100000, 20, "", "", false,
       "how many calls get the tiny deadline"},
      {"deadline_ms", param_type::number, 0, 10000, 1, "", "", false,
       "their deadline, in virtual ms"}},
     "the next calls of the workload carry a tiny deadline"},
    {fault_kind::overload,
     "overload",
     fault_target::workload,
     true,
     {{"factor", param_type::number, 2, 100, 10, "", "", false,
       "offered load, as a multiple of the workload's"}},
     "the workload offers `factor` times its load (more clients on the same "
     "connections) until the fault ends"},
    {fault_kind::commit_unknown,
     "commit_unknown",
     fault_target::backend,
     false,
     {{"count", param_type::number, 1, 1000, 1, "", "", false,
       "how many of the next writes lose their acknowledgment"}},
     "the next writes are applied, then their connection breaks before the "
     "acknowledgment (UNAVAILABLE: may or may not have been applied)"},
    {fault_kind::clock_jump,
     "clock_jump",
     fault_target::workload,
     false,
     {{"ms", param_type::number, 1, 86400000, 60000, "", "", false,
       "how far the backends' wall clock jumps forward, in ms"}},
     "the backends' wall clock jumps forward (keys written with a TTL "
     "expire); virtual time and the actors' timers do not move"},
    {fault_kind::reload,
     "reload",
     fault_target::workload,
     false,
     {{"config", param_type::gateway_config, 0, 0, std::nullopt, "", "", true,
       "the gateway config that replaces the running one (as in "
       "config/prism.yaml)"}},
     "the gateway config is reloaded mid-run (namespaces added or removed, "
     "limits, middleware); one that needs a restart is refused"},
    {fault_kind::restart_storm,
     "restart_storm",
     fault_target::backend,
     true,
     {},
     "every operation crashes its connection (connecting still works), so "
     "connections restart past their supervisor's intensity and it gives up "
     "(the circuit opens) until the fault ends"},
    {fault_kind::client_cancel,
     "client_cancel",
     fault_target::workload,
     false,
     {{"count", param_type::number, 1, 100000, 5, "", "", false,
       "how many of the next calls their clients cancel"},
      {"streams", param_type::number, 0, 1000, 1, "", "", false,
       "PubSub workloads: how many open subscriber streams their clients "
       "close mid-stream (drawn from the seed)"}},
     "the next calls are cancelled by their clients mid-call: the answer is "
     "dropped and the call counts as unknown (info); on a PubSub workload, "
     "subscriber streams are closed mid-stream too"},
    {fault_kind::gateway_crash,
     "gateway_crash",
     fault_target::workload,
     true,
     {},
     "the whole gateway dies (kill -9) and starts again when the fault ends, "
     "over the same backends: calls in flight are lost to their clients "
     "(unknown), durable data must survive; clients wait and call again"},
    {fault_kind::slow_subscriber,
     "slow_subscriber",
     fault_target::workload,
     true,
     {{"count", param_type::number, 1, 1000, 1, "", "", false,
       "how many of the open subscriber streams stop reading (drawn from the "
       "seed)"}},
     "subscribers stop reading their streams until the fault ends (a named "
     "subscription's backlog waits in the backend, an ephemeral one drops "
     "its oldest)"},
    {fault_kind::broker_duplicate,
     "broker_duplicate",
     fault_target::backend,
     true,
     {},
     "a Kafka or JetStream backend sends each message of a named "
     "subscription twice while it lasts, as at-least-once allows"},
  };
  return table;
}

const fault_kind_info& info_of(fault_kind kind) {
  return fault_kinds()[static_cast<size_t>(kind)];
}

std::optional<fault_kind> fault_kind_named(std::string_view name) {
  for (auto& row : fault_kinds())
    if (row.name == name)
      return row.kind;
  return std::nullopt;
}

bool acts_on_pubsub(fault_kind kind) {
  switch (kind) {
    case fault_kind::backend_error:
    case fault_kind::latency:
    case fault_kind::hang:
    case fault_kind::outage:
    case fault_kind::commit_unknown:
    case fault_kind::broker_duplicate: return true;
    default: return false;
  }
}

bool acts_on_keyvalue(fault_kind kind) {
  return info_of(kind).target == fault_target::backend
    && kind != fault_kind::broker_duplicate;
}

const std::vector<oracle_info>& oracles() {
  static const std::vector<oracle_info> table{
    {oracle_kind::answered_once,
     "answered_once",
     {},
     "every call is answered exactly once, with a code its operation may "
     "get"},
    {oracle_kind::no_lost_writes,
     "no_lost_writes",
     {},
     "durable namespaces (sqlite, postgres): each key read back at the end "
     "holds its last acknowledged write or a later one"},
    {oracle_kind::linearizable,
     "linearizable",
     {{"max_states", 1, 1e9, 5e5, true,
       "search states explored per key before the verdict is unknown"}},
     "each key's history has a legal order (register with versions and CAS; "
     "unknown outcomes may or may not apply)"},
    {oracle_kind::mailbox_bounded,
     "mailbox_bounded",
     {{"slack_messages", 0, 1e6, 8, true,
       "messages a mailbox may hold past its request limit and the replies "
       "the in-flight windows allow (timers, notices)"}},
     "no actor admitted more requests than its mailbox limit, and no mailbox "
     "held more than the limits allow"},
    {oracle_kind::recovery,
     "recovery",
     {{"within_ms", 1, 3.6e6, 5000, true,
       "virtual ms after the last fault ends"},
      {"success_rate", 0, 1, 0.9, false,
       "share of calls answered OK (or a CAS mismatch) in the window"},
      {"window_ms", 1, 600000, 500, true, "length of the window measured"},
      {"min_calls", 1, 1e6, 5, true, "calls a window needs to count"}},
     "after the last fault ends, a window of calls succeeds at the rate "
     "within within_ms"},
    {oracle_kind::supervision,
     "supervision",
     {{"settle_ms", 0, 3.6e6, 30000, true,
       "virtual ms the run may wait after the final reads for the tree to "
       "come back"}},
     "supervisors restart within their intensity unless they give up, and "
     "the actor tree comes back to its steady shape once the run settles"},
    {oracle_kind::no_lost_publish,
     "no_lost_publish",
     {},
     "every acknowledged publish reaches each durable subscription that was "
     "in place before it and is still open at the end; nothing is delivered "
     "that no publish could have stored"},
    {oracle_kind::pubsub_order,
     "pubsub_order",
     {},
     "each subscriber stream receives a topic's messages in the order they "
     "were acknowledged, where the backend promises an order"},
    {oracle_kind::pubsub_duplicates,
     "pubsub_duplicates",
     {},
     "a message reaches a subscription more than once only where the "
     "backend is at-least-once (named subscriptions on Kafka or JetStream)"},
  };
  return table;
}

const oracle_info& info_of(oracle_kind kind) {
  return oracles()[static_cast<size_t>(kind)];
}

std::optional<oracle_kind> oracle_named(std::string_view name) {
  for (auto& row : oracles())
    if (row.name == name)
      return row.kind;
  return std::nullopt;
}

std::vector<std::string> split_choices(std::string_view choices) {
  std::vector<std::string> out;
  while (!choices.empty()) {
    auto comma = choices.find(',');
    out.emplace_back(choices.substr(0, comma));
    if (comma == std::string_view::npos)
      break;
    choices.remove_prefix(comma + 1);
  }
  return out;
}

} // namespace prism::simulation
