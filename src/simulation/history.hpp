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

enum class op_function : uint8_t { get, set, cas, del, batch_set, scan };

/// "get", "set", "cas", "delete", "batch_set", "scan".
std::string_view to_string(op_function f) noexcept;

/// Jepsen's completion types: ok (it happened), fail (it certainly did not
/// take effect), info (unknown: a write may or may not have been applied).
enum class completion_type : uint8_t { ok, fail, info };

std::string_view to_string(completion_type t) noexcept;

struct kv_operation {
  std::string request_id;
  int64_t process = 0;
  op_function f = op_function::get;
  /// Get, Set, CAS, Delete: the key; Scan: the key it starts after.
  std::string key;
  /// Set and CAS: the value written (every write's value is unique).
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

  /// Order of the call and of its answer among all events (0: none yet).
  uint64_t invoke_index = 0;
  uint64_t complete_index = 0;
  int64_t invoke_ms = 0;
  int64_t complete_ms = 0;

  /// Unset while unanswered.
  std::optional<status_code> code;
  std::string message;

  /// Answers: Get (found, value, version), Set and CAS (version), Delete
  /// (existed), BatchSet (versions), Scan (items).
  bool found = false;
  std::string read_value;
  uint64_t version = 0;
  bool existed = false;
  std::vector<uint64_t> versions;
  std::vector<model::item> items;

  bool answered() const { return code.has_value(); }
  bool writes() const {
    return f == op_function::set || f == op_function::cas
      || f == op_function::del || f == op_function::batch_set;
  }
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

/// One operation in a line of text for counterexamples, e.g.
/// "c2-17 (process 2) Set k03 = c2-17 -> OK version 41, 1200..1210 ms".
std::string describe(const kv_operation& op);

/// Text as a JSON string literal.
std::string json_string(const std::string& text);

} // namespace prism::simulation
