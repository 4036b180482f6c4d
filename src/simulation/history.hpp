#pragma once

// The client operations of a run, each with its call and its answer, in the
// order the harness saw them: the input of the oracles and of history.jsonl
// (Jepsen's shape: one invoke line and one ok, fail or info line each).

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "model/keyvalue.hpp"
#include "model/status.hpp"

namespace prism::simulation {

enum class op_function : uint8_t {
  get,
  set,
  cas,
  del,
  batch_set,
  scan,
  publish,
  subscribe,
};

/// "get", "set", "cas", "delete", "batch_set", "scan", "publish",
/// "subscribe".
std::string_view to_string(op_function f) noexcept;

/// Jepsen's completion types: ok (it happened), fail (it certainly did not
/// take effect), info (unknown: a write may or may not have been applied).
enum class completion_type : uint8_t { ok, fail, info };

std::string_view to_string(completion_type t) noexcept;

struct kv_operation {
  std::string request_id;
  int64_t process = 0;
  op_function f = op_function::get;
  /// Get, Set, CAS, Delete: the key; Scan: the key it starts after;
  /// Publish and Subscribe: the topic.
  std::string key;
  /// Set and CAS: the value written (every write's value is unique);
  /// Publish: the payload (unique too); Subscribe: the subscription's name
  /// (empty: ephemeral).
  std::string value;
  /// CAS: the version it requires (0: the key must be absent).
  uint64_t if_version = 0;
  /// BatchSet: its keys and values.
  std::vector<std::pair<std::string, std::string>> entries;
  /// A read of the final check (after the faults and the drain).
  bool final_read = false;
  /// Its client cancelled it mid-call and dropped the answer: the outcome
  /// is unknown to the client (info), whatever the gateway answered.
  bool cancelled = false;
  /// The gateway crashed while the call was in flight: the client saw its
  /// connection drop (UNAVAILABLE, unknown outcome) and no answer may come.
  bool connection_lost = false;
  /// A subscriber's call to subscribe again after its stream ended: made
  /// by the harness, outside its process's loop.
  bool resubscribe = false;

  /// Order of the call and of its answer among all events (0: none yet).
  uint64_t invoke_index = 0;
  uint64_t complete_index = 0;
  int64_t invoke_ms = 0;
  int64_t complete_ms = 0;

  /// Unset while unanswered.
  std::optional<status_code> code;
  std::string message;

  /// Answers: Get (found, value, version), Set and CAS (version), Delete
  /// (existed), BatchSet (versions), Scan (items), Publish (the message id
  /// in read_value).
  bool found = false;
  std::string read_value;
  uint64_t version = 0;
  bool existed = false;
  std::vector<uint64_t> versions;
  std::vector<model::item> items;

  bool answered() const { return code.has_value(); }
  bool writes() const {
    return f == op_function::set || f == op_function::cas
      || f == op_function::del || f == op_function::batch_set
      || f == op_function::publish;
  }
  bool is_pubsub() const {
    return f == op_function::publish || f == op_function::subscribe;
  }
};

/// What a PubSub backend promises (sim_broker.hpp says how each is
/// simulated): kafka and jetstream keep named subscriptions durable and
/// at-least-once; nats_core retains nothing and delivers at most once.
enum class pubsub_model : uint8_t { kafka, jetstream, nats_core };

std::string_view to_string(pubsub_model m) noexcept;

/// One subscriber stream of a PubSub workload, from its Subscribe call to
/// its end.
struct subscriber_stream {
  /// s0, s1, ... in the order they were opened.
  int64_t id = 0;
  int64_t process = 0;
  std::string topic;
  /// Empty: ephemeral.
  std::string subscription;
  /// A named subscription whose members are several subscribers at once.
  bool shared = false;
  /// The Subscribe call that opened it.
  std::string request_id;
  /// When the gateway said it is in place (0: never).
  uint64_t ready_index = 0;
  int64_t ready_ms = 0;
  /// When it ended (0: open at the end of the run) and how.
  uint64_t end_index = 0;
  int64_t end_ms = 0;
  std::optional<status_code> end_code;
  std::string end_message;

  bool named() const { return !subscription.empty(); }
};

/// One message written to a subscriber stream. It takes two places in the
/// event order: `index` (history.jsonl's invoke line) and index + 1 (ok).
struct delivery {
  uint64_t index = 0;
  int64_t time_ms = 0;
  int64_t stream = 0;
  int64_t process = 0;
  std::string topic;
  std::string subscription;
  std::string payload;
  std::string message_id;
};

/// What an answered operation's code means for its effect. Reads that did
/// not succeed fail; writes answered UNAVAILABLE or DEADLINE_EXCEEDED (or a
/// code no backend should give) are info: applied or not, nobody can tell.
completion_type classify(const kv_operation& op);

/// Whether the code counts as the system working: OK, or a CAS refused for
/// its version.
bool succeeded(const kv_operation& op);

/// history.jsonl: per operation, an invoke line and (when answered) its
/// completion line, in event order. Each line: {"index", "process", "type",
/// "f", "key", "value", "version", "time_ms", ...}.
std::string history_jsonl(const std::vector<kv_operation>& ops);

/// The same with the PubSub events: each delivery as an invoke line
/// (f "deliver", the topic, value null) and an ok line (the payload), the
/// pair Jepsen writes for a dequeue, with the stream and subscription.
std::string history_jsonl(const std::vector<kv_operation>& ops,
                          const std::vector<delivery>& deliveries);

/// One operation in a line of text for counterexamples, e.g.
/// "c2-17 (process 2) Set k03 = c2-17 -> OK version 41, 1200..1210 ms".
std::string describe(const kv_operation& op);

/// Text as a JSON string literal.
std::string json_string(const std::string& text);

} // namespace prism::simulation
