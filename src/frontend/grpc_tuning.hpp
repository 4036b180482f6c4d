#pragma once

#include <absl/synchronization/mutex.h>

namespace prism::frontend {

/// Process-wide settings of the gRPC runtime, applied once at start-up by
/// every binary that speaks gRPC (the gateway, the load generator, the
/// benchmark baseline), so they are measured alike.
///
/// Debian's Abseil is built with mutex deadlock detection on: every lock
/// that gRPC takes records lock-order edges in a global graph. That is a
/// debugging aid; on this path it cost about half of the latency a call
/// spends in gRPC when a call is finished from a thread other than gRPC's
/// own, which is how the gateway answers.
inline void tune_grpc_runtime() {
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
}

} // namespace prism::frontend
