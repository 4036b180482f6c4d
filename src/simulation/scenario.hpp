#pragma once

// A simulation scenario as read from YAML (docs/SIMULATION.md describes each
// field): the gateway to build, the workload its clients offer, the faults
// to inject and the oracles that judge the run. Loading never throws: like
// the gateway config, it returns every problem with its file, line, field
// and a hint, and refuses keys it does not know.

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "simulation/catalog.hpp"

namespace prism::simulation {

enum class loop_kind : uint8_t {
  /// Each client waits for its answer, then think_ms, then calls again.
  closed,
  /// Each client calls at rate_per_s whatever is outstanding.
  open,
};

enum class key_distribution : uint8_t { uniform, zipf };

/// Relative weights of the operations a client picks.
struct op_mix {
  uint32_t get = 40;
  uint32_t set = 30;
  /// Set with if_version = the last version the client saw of the key (0
  /// when it saw none: only if absent).
  uint32_t cas = 15;
  uint32_t del = 5;
  uint32_t batch_set = 5;
  uint32_t scan = 5;
  /// PubSub workloads only (a pubsub namespace takes only these two).
  uint32_t publish = 0;
  /// Opens a subscriber stream (the kind from `subscription_mix`).
  uint32_t subscribe = 0;

  uint64_t total() const {
    return uint64_t{get} + set + cas + del + batch_set + scan + publish
      + subscribe;
  }
};

/// The mix of a PubSub workload when the scenario gives none.
inline constexpr uint32_t pubsub_publish_weight_default = 85;
inline constexpr uint32_t pubsub_subscribe_weight_default = 15;

/// What a PubSub workload's subscribe opens, by relative weight.
struct subscription_mix {
  /// A named subscription of its own (one member): durable on Kafka and
  /// JetStream.
  uint32_t durable = 50;
  /// A member of the topic's one shared named subscription.
  uint32_t shared = 25;
  /// An ephemeral subscriber.
  uint32_t ephemeral = 25;

  uint64_t total() const { return uint64_t{durable} + shared + ephemeral; }
};

struct workload_spec {
  uint32_t clients = 4;
  loop_kind loop = loop_kind::closed;
  uint32_t think_ms = 10;
  double rate_per_s = 20;
  std::string ns;
  uint32_t keys = 16;
  key_distribution distribution = key_distribution::uniform;
  double zipf_s = 1.0;
  /// Each call's deadline (virtual ms); 0: none.
  uint32_t deadline_ms = 1000;
  uint32_t batch_size = 3;
  uint32_t scan_limit = 5;
  /// The TTL of every Set, CAS and BatchSet entry, in ms; 0: none.
  uint32_t ttl_ms = 0;
  config::location ttl_where;
  op_mix mix;
  /// The namespace is a pubsub one (Kafka or NATS backend): the clients
  /// publish and subscribe.
  bool pubsub = false;
  /// PubSub: topics t0..tN-1, subscriber streams open at once at most, and
  /// what a subscribe opens.
  uint32_t topics = 4;
  uint32_t subscribers_max = 8;
  subscription_mix subscriptions;
  /// PubSub: how long a subscriber waits to subscribe again after its
  /// stream ended (virtual ms).
  uint32_t resubscribe_ms = 100;
};

/// A parameter's value, as its row in the catalog says (number or text).
struct param_value {
  int64_t number = 0;
  std::string text;
  /// For a gateway_config parameter.
  std::shared_ptr<const config::gateway_config> config;
};

struct fault_spec {
  fault_kind kind = fault_kind::backend_error;
  int64_t at_ms = 0;
  /// 0 for kinds that do not last.
  int64_t duration_ms = 0;
  /// Empty for workload faults.
  std::string target;
  /// Every parameter of the kind, defaults filled in.
  std::map<std::string, param_value> params;
  config::location where;

  int64_t end_ms() const { return at_ms + duration_ms; }
  int64_t number(const std::string& name) const;
  const std::string& text(const std::string& name) const;
};

/// Swarm-style random faults: each listed kind is switched on or off by the
/// seed; those on fire at their rate (a Poisson process in virtual time)
/// between from_ms and until_ms, each lasting duration_ms.
struct random_faults {
  std::map<fault_kind, double> rate_per_s;
  int64_t from_ms = 0;
  int64_t until_ms = 0;
  int64_t duration_ms = random_fault_duration_ms_default;
  config::location where;
};

struct oracle_spec {
  oracle_kind kind = oracle_kind::answered_once;
  /// Every threshold of the oracle, defaults filled in.
  std::map<std::string, double> thresholds;
  config::location where;

  double threshold(const std::string& name) const;
};

struct scenario {
  /// As given on the command line.
  std::string file;
  std::string name;
  std::string description;
  config::gateway_config gateway;
  int64_t duration_ms = 0;
  workload_spec workload;
  std::vector<fault_spec> schedule;
  std::optional<random_faults> random;
  std::vector<oracle_spec> oracles;
  /// The scenario as run and its SHA-256 (hex): the file's bytes, or, when
  /// `gateway:` names a config file, the same with that file's text inlined
  /// under `gateway:` (so a run's scenario.yaml stands alone).
  std::string text;
  std::string sha256;
  /// The config file `gateway:` named, as resolved; empty when inline.
  std::string gateway_file;
  /// The line (from 0) of `gateway:` in the file.
  int gateway_line = 0;

  /// Whether the workload's namespace keeps its data on a durable backend
  /// (sqlite or postgres).
  bool durable() const;
  const oracle_spec* oracle(oracle_kind kind) const;
};

struct scenario_result {
  std::optional<scenario> value;
  std::vector<config::problem> problems;
  bool ok() const { return value.has_value() && problems.empty(); }
};

/// Parses and validates scenario text; `file` names it in problems.
scenario_result parse_scenario(const std::string& text,
                               const std::string& file);

/// Reads and validates a scenario file.
scenario_result load_scenario(const std::string& path);

/// Every problem, one per line, as config::format writes them.
std::string format_problems(const std::vector<config::problem>& problems);

} // namespace prism::simulation
