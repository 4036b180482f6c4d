#pragma once

// The checks that judge a run, each on plain data (the client history, the
// answers counted per call, the mailbox figures), so that a test can hand
// one a history it made by hand. Each gives a verdict and, when it fails,
// its first counterexample in words.

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "model/status.hpp"
#include "simulation/catalog.hpp"
#include "simulation/history.hpp"

namespace prism::simulation {

enum class verdict : uint8_t {
  held,
  failed,
  /// The check could not decide (the linearizability search hit its bound).
  unknown,
  /// Does not apply to this run (no_lost_writes on a memory namespace).
  skipped,
};

std::string_view to_string(verdict v) noexcept;

struct oracle_result {
  oracle_kind kind = oracle_kind::answered_once;
  verdict outcome = verdict::held;
  /// What was checked, e.g. "1200 calls, each answered once".
  std::string summary;
  /// When failed: the first counterexample.
  std::string counterexample;
};

/// (a) Every call answered exactly once, with a code its operation may get:
/// OK, UNAVAILABLE, DEADLINE_EXCEEDED, RESOURCE_EXHAUSTED, FAILED_PRECONDITION
/// for a CAS, and the codes in `injected_codes` (what backend_error faults
/// made the backend answer). `answers` counts the answers per request id,
/// including ids no call had.
oracle_result check_answered_once(const std::vector<kv_operation>& ops,
                                  const std::map<std::string, int>& answers,
                                  const std::set<status_code>& injected_codes);

/// (b) On a durable namespace, each key's final read (the operations with
/// final_read set) holds the last acknowledged write or a later write, and
/// a delete acknowledged after the last write stays deleted unless a later
/// write may have been applied. Writes answered UNAVAILABLE or
/// DEADLINE_EXCEEDED may or may not be applied. `durable` false: skipped.
oracle_result check_no_lost_writes(const std::vector<kv_operation>& ops,
                                   bool durable);

/// (c) Per key, a Wing-Gong search for an order of the operations that
/// respects real time and a versioned register (reads see the last write
/// and its version, versions grow, a CAS applies only on its version, a
/// delete empties the key). Info writes may or may not take effect. More
/// than `max_states` explored states on one key: unknown, never a guess.
oracle_result check_linearizable(const std::vector<kv_operation>& ops,
                                 uint64_t max_states);

/// What one actor (by kind:name, across its restarts) held at most.
struct mailbox_figures {
  /// The request limit of its mailbox gate; 0: none.
  uint64_t limit = 0;
  /// Requests its gate admitted at once at most (the inspector's figure).
  uint64_t admitted_high_water = 0;
  /// Messages of any kind seen waiting in its CAF mailbox at most.
  uint64_t depth_max = 0;
  /// Messages beyond the limit its gate may admit (a stage that only
  /// observes takes every outcome of the calls in flight).
  uint64_t admission_allowance = 0;
  /// Replies and notices the in-flight windows allow on top of the limit.
  uint64_t reply_allowance = 0;
};

/// (d) No gate admitted more than its limit (+ admission_allowance), and no
/// mailbox held more than limit + reply_allowance + `slack_messages`.
oracle_result check_mailbox_bounded(
  const std::map<std::string, mailbox_figures>& actors,
  uint64_t slack_messages);

struct recovery_settings {
  int64_t within_ms = 5000;
  double success_rate = 0.9;
  int64_t window_ms = 500;
  uint64_t min_calls = 5;
};

/// (e) After `faults_end_ms` (when the last fault ended), some window of
/// window_ms of calls (by the time they were made; final reads left out)
/// that ends within within_ms has at least min_calls calls and at least
/// success_rate of them succeeded (see `succeeded`).
oracle_result check_recovery(const std::vector<kv_operation>& ops,
                             int64_t faults_end_ms,
                             const recovery_settings& settings);

/// What one supervisor (one actor: a restarted supervisor is another) did.
struct supervisor_figures {
  /// Its label, e.g. "supervisor:pool:disk".
  std::string label;
  /// Its restart intensity: at most `max_restarts` within `period_ms`.
  uint64_t max_restarts = 0;
  int64_t period_ms = 0;
  /// Virtual ms at which it was seen to have carried out each restart.
  std::vector<int64_t> restart_ms;
  /// It ended during the run (gave up, or its parent stopped it).
  bool ended = false;
};

/// (f) Each supervisor restarted its children at most its intensity allows
/// in any window of its period, unless it then gave up (escalated to its
/// parent); and once the run settled, the live actors, counted by kind
/// (sessions left out: they come and go with the clients), are as many as
/// in the steady tree after the start. Counterexample: the supervisor and
/// its restarts in one period, or the kinds whose counts differ.
oracle_result check_supervision(const std::vector<supervisor_figures>& sups,
                                const std::map<std::string, uint64_t>& steady,
                                const std::map<std::string, uint64_t>& settled);

} // namespace prism::simulation
