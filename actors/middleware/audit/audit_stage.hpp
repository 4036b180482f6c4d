#pragma once

// The audit stage writes one JSON line per answered request. Lines go to an
// `audit_sink`; the real sink appends them to a file from a thread of its
// own, so a slow disk never holds up the actor: when its queue is full, a
// line is dropped and counted.
//
// A namespace with `audit_required: true` may not run a request whose line
// could be lost: the stage reserves room for the line in the sink's queue as
// the call passes it, and refuses the call UNAVAILABLE (with the retry hint)
// when there is none. The call carries the reservation to its completion,
// where the line is written into it; a call that ends without reaching the
// stage's completion hands the room back.

#include <chrono>
#include <cstdint>
#include <memory>
#include <set>
#include <string>
#include <unordered_map>

#include "middleware/stage.hpp"

namespace prism {

class audit_sink {
public:
  virtual ~audit_sink() = default;
  /// Takes one JSON object (without the time, which the sink adds); a sink
  /// without room drops it and counts it.
  virtual void write(std::string json_line) = 0;
  /// Takes room for a line that comes later through write_reserved; false
  /// when there is none. Never waits.
  virtual bool reserve() { return true; }
  /// Writes a line into room reserve() took; never drops it for room.
  virtual void write_reserved(std::string json_line) {
    write(std::move(json_line));
  }
  /// Gives back room reserve() took for a line that will not come.
  virtual void abandon() {}
  /// Lines the sink could not keep (no room, or the file failed).
  virtual uint64_t dropped() const { return 0; }
  /// Lines queued or reserved and not written yet.
  virtual uint64_t backlog() const { return 0; }
};

/// Room a call holds in the audit sink's queue for its line. Writing the
/// line uses it; destroyed unused, it goes back to the sink (and the line
/// counts as dropped: its request may have run).
class audit_slot {
public:
  explicit audit_slot(std::shared_ptr<audit_sink> sink);
  ~audit_slot();
  audit_slot(const audit_slot&) = delete;
  audit_slot& operator=(const audit_slot&) = delete;

  void write(std::string json_line);

private:
  std::shared_ptr<audit_sink> sink_;
  bool written_ = false;
};

struct file_audit_options {
  std::string path;
  /// Rotation: a file grows to at most this many bytes; this many old files
  /// are kept (path.1 is the newest).
  size_t file_bytes_max = 100 * 1024 * 1024;
  size_t files_kept = 5;
  /// Lines queued or reserved and not yet written; past this, new lines are
  /// dropped and counted and reservations refused, so a slow disk never
  /// slows requests.
  size_t queue_lines_max = 65536;
  /// The writer wakes when this many lines wait, or after the interval.
  size_t batch_lines = 256;
  std::chrono::milliseconds flush_interval{50};
};

/// A size-rotated file written by a thread of its own in batches: each line
/// is `{"time":"<UTC>",` + the object's fields. Throws std::runtime_error
/// naming the path when it cannot be opened.
std::shared_ptr<audit_sink> make_file_audit_sink(file_audit_options options);

/// prism_audit_lines_dropped_total and prism_audit_backlog_lines of `sink`,
/// for the registry's scrape-time collectors.
metric_report audit_sink_report(const audit_sink& sink);

struct audit_namespaces {
  /// Their lines carry "sha256:<hex>" of the key instead of the key.
  std::set<std::string> redacted;
  /// Their calls are refused before they run when the sink has no room for
  /// their line (`audit_required: true`).
  std::set<std::string> required;
};

/// The namespaces of `cfg` with redact_keys and with audit_required.
audit_namespaces audit_namespaces_of(const config::gateway_config& cfg);

class audit_logic final : public stage_logic {
public:
  /// Counts lines in prism_audit_lines_total and refusals in
  /// prism_audit_refused_total{namespace} of `metrics`, which it keeps.
  audit_logic(std::shared_ptr<audit_sink> sink, audit_namespaces namespaces,
              metrics_registry_ptr metrics);

  config::stage_kind kind() const noexcept override {
    return config::stage_kind::audit;
  }
  status on_request(kv_call& call) override;
  void on_complete(const kv_call& call) override;
  /// Takes the namespaces with redact_keys and audit_required from a
  /// reloaded config.
  void reconfigure(const config::gateway_config& cfg) override;

  /// The JSON object (without time) for one answered call.
  static std::string format_line(const kv_call& call, bool redact_key = false);

private:
  void take(audit_namespaces namespaces);

  std::shared_ptr<audit_sink> sink_;
  metrics_registry_ptr metrics_;
  std::set<std::string> redacted_;
  /// The namespaces that require their lines, with their refusal counters.
  std::unordered_map<std::string, prometheus::Counter*> required_;
  prometheus::Counter* lines_ = nullptr;
};

std::unique_ptr<stage_logic> make_audit_stage(
  std::shared_ptr<audit_sink> sink, audit_namespaces namespaces,
  const metrics_registry_ptr& metrics);

} // namespace prism
