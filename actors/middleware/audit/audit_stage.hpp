#pragma once

// The audit stage writes one JSON line per answered request. Lines go to an
// `audit_sink`; the real sink appends them to a file from a background thread
// so a slow disk never holds up the actor.

#include <chrono>
#include <cstdint>
#include <memory>
#include <set>
#include <string>

#include "middleware/stage.hpp"

namespace prism {

class audit_sink {
public:
  virtual ~audit_sink() = default;
  /// Takes one JSON object (without the time, which the sink adds).
  virtual void write(std::string json_line) = 0;
  /// Lines the sink could not keep because its queue was full.
  virtual uint64_t dropped() const { return 0; }
};

struct file_audit_options {
  std::string path;
  /// Rotation: a file grows to at most this many bytes; this many old files
  /// are kept (path.1 is the newest).
  size_t file_bytes_max = 100 * 1024 * 1024;
  size_t files_kept = 5;
  /// Lines waiting for the writer thread; past this, new lines are dropped
  /// and counted, so a slow disk never slows requests.
  size_t queue_lines_max = 65536;
  /// The writer wakes when this many lines wait, or after the interval.
  size_t batch_lines = 256;
  std::chrono::milliseconds flush_interval{50};
};

/// A size-rotated file written by a thread of its own in batches: each line
/// is `{"time":"<UTC>",` + the object's fields. Throws std::runtime_error
/// naming the path when it cannot be opened.
std::shared_ptr<audit_sink> make_file_audit_sink(file_audit_options options);

class audit_logic final : public stage_logic {
public:
  /// Keys of the namespaces in `redacted` are written as "sha256:<hex>".
  explicit audit_logic(std::shared_ptr<audit_sink> sink,
                       std::set<std::string> redacted = {});

  const char* kind() const noexcept override { return "audit"; }
  void on_complete(const kv_call& call) override;
  void report(metric_report& out) const override;
  /// Takes the namespaces with redact_keys from a reloaded config.
  void reconfigure(const config::gateway_config& cfg) override;

  /// The JSON object (without time) for one answered call.
  static std::string format_line(const kv_call& call, bool redact_key = false);

private:
  std::shared_ptr<audit_sink> sink_;
  std::set<std::string> redacted_;
  uint64_t written_ = 0;
};

std::unique_ptr<stage_logic> make_audit_stage(std::shared_ptr<audit_sink> sink,
                                              std::set<std::string> redacted = {});

} // namespace prism
