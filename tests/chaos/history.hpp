#pragma once

// The chaos client's history: one JSON object per line, appended by every
// thread of the process, each line flushed as soon as it is written so that
// the history is complete whenever the process stops. scripts/chaos-check
// reads it; docs/CHAOS.md describes the records.

#include <cstdio>
#include <mutex>
#include <string>

#include <grpcpp/grpcpp.h>
#include <nlohmann/json.hpp>

namespace prism::chaos {

/// Wall-clock milliseconds since the Unix epoch, with microseconds as the
/// fraction: the nemesis stamps its faults on the same clock.
double now_ms();

/// What a call's status says about its effect: "ok"; "fail" (the gateway
/// refused it, nothing was applied); "unknown" (the call may or may not have
/// been applied: the connection broke, the deadline passed, the backend
/// broke while it ran).
const char* outcome_of(const grpc::Status& status);

/// The gRPC code's name, e.g. "UNAVAILABLE".
const char* code_name(grpc::StatusCode code);

class history {
public:
  /// Opens `path` for appending; throws std::runtime_error naming the path
  /// when it cannot.
  explicit history(const std::string& path);
  ~history();

  history(const history&) = delete;
  history& operator=(const history&) = delete;

  /// Appends one record as a line.
  void write(const nlohmann::json& record);

private:
  std::mutex mutex_;
  std::FILE* file_;
};

/// Fills the status fields of a record: outcome, code and (when not OK) the
/// message, cut to a length that keeps the history readable.
void add_status(nlohmann::json& record, const grpc::Status& status);

} // namespace prism::chaos
