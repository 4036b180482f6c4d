#pragma once

// The audit stage writes one JSON line per answered request. Lines go to an
// `audit_sink`; the real sink appends them to a file from a background thread
// so a slow disk never holds up the actor.

#include <cstdint>
#include <memory>
#include <string>

#include "middleware/stage.hpp"

namespace prism {

class audit_sink {
public:
  virtual ~audit_sink() = default;
  /// Takes one JSON object (without the time, which the sink adds).
  virtual void write(std::string json_line) = 0;
  virtual void flush() {}
};

/// An asynchronous, size-rotated file: the file gets `{"time":...,` + line.
/// Throws std::runtime_error naming the path when it cannot be opened.
std::shared_ptr<audit_sink> make_file_audit_sink(const std::string& path);

class audit_logic final : public stage_logic {
public:
  explicit audit_logic(std::shared_ptr<audit_sink> sink);

  const char* kind() const noexcept override { return "audit"; }
  void on_complete(const kv_call& call) override;
  void report(metric_report& out) const override;

  /// The JSON object (without time) for one answered call.
  static std::string format_line(const kv_call& call);

private:
  std::shared_ptr<audit_sink> sink_;
  uint64_t written_ = 0;
};

std::unique_ptr<stage_logic> make_audit_stage(std::shared_ptr<audit_sink> sink);

} // namespace prism
