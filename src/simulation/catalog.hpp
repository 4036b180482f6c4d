#pragma once

// What a scenario can name, as tables: the fault kinds (what each targets,
// whether it lasts, its parameters with their types, bounds and defaults)
// and the oracles (their thresholds). The scenario parser validates against
// these rows, `prism simulate list` prints them, and the runner and the
// oracles read their settings by the names given here. A new fault kind or
// oracle is a new row plus the code that acts on it.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace prism::simulation {

enum class fault_kind : uint8_t {
  backend_error,
  latency,
  hang,
  outage,
  connection_crash,
  kill,
  deadline_storm,
  overload,
  commit_unknown,
  clock_jump,
  reload,
  restart_storm,
  client_cancel,
  gateway_crash,
  slow_subscriber,
  broker_duplicate,
};

/// What a fault's `target` names.
enum class fault_target : uint8_t {
  /// A backend of the gateway config: a KeyValue one (memory, sqlite,
  /// postgres), or a Kafka or NATS one for the kinds `acts_on_pubsub` says.
  backend,
  /// An actor kind, optionally with a name: "pool", "pool:disk",
  /// "connection:disk#0", "session:client-2", "stage:metrics", "router".
  actor,
  /// No target: the fault acts on the workload.
  workload,
};

enum class param_type : uint8_t {
  /// A whole number within [min, max].
  number,
  /// A gRPC status code name other than OK, e.g. UNAVAILABLE.
  status_code,
  /// One of the words in `choices` (comma-separated).
  choice,
  /// A whole gateway config (a map, as in config/prism.yaml).
  gateway_config,
};

struct param_spec {
  std::string_view name;
  param_type type = param_type::number;
  int64_t min = 0;
  int64_t max = 0;
  /// For numbers; nullopt: the parameter has no default (see `required`).
  std::optional<int64_t> default_number;
  /// For codes and choices.
  std::string_view default_text;
  std::string_view choices;
  bool required = false;
  std::string_view help;
};

struct fault_kind_info {
  fault_kind kind;
  std::string_view name;
  fault_target target;
  /// True: the fault lasts `duration_ms` (required, >= 1). False: it
  /// happens at `at_ms` and `duration_ms` does not apply.
  bool lasts;
  std::vector<param_spec> params;
  /// One line for `prism simulate list`.
  std::string_view summary;
};

/// Every fault kind, in the order of `fault_kind`.
const std::vector<fault_kind_info>& fault_kinds();
const fault_kind_info& info_of(fault_kind kind);
std::optional<fault_kind> fault_kind_named(std::string_view name);
/// Whether a backend fault of this kind can target a simulated Kafka or
/// NATS backend (a PubSub workload's).
bool acts_on_pubsub(fault_kind kind);
/// Whether it can target a KeyValue backend.
bool acts_on_keyvalue(fault_kind kind);

/// Random faults last this long when the scenario does not say.
inline constexpr int64_t random_fault_duration_ms_default = 300;

enum class oracle_kind : uint8_t {
  answered_once,
  no_lost_writes,
  linearizable,
  mailbox_bounded,
  recovery,
  supervision,
  no_lost_publish,
  pubsub_order,
  pubsub_duplicates,
};

struct threshold_spec {
  std::string_view name;
  double min = 0;
  double max = 0;
  double default_value = 0;
  /// Whole numbers only.
  bool whole = true;
  std::string_view help;
};

struct oracle_info {
  oracle_kind kind;
  std::string_view name;
  std::vector<threshold_spec> thresholds;
  std::string_view summary;
};

/// Every oracle, in the order of `oracle_kind`.
const std::vector<oracle_info>& oracles();
const oracle_info& info_of(oracle_kind kind);
std::optional<oracle_kind> oracle_named(std::string_view name);

/// Words of a comma-separated list ("a,b,c").
std::vector<std::string> split_choices(std::string_view choices);

} // namespace prism::simulation
