#pragma once

#include <malloc.h>

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
///
/// These binaries allocate with jemalloc (CMake's PRISM_ALLOCATOR), which
/// ignores the next setting; it matters to a build with glibc's malloc
/// (PRISM_ALLOCATOR=system) and to the test programs:
/// glibc gives each thread's heap back to the kernel (madvise) as soon as
/// more than 128 KiB at its top are free. A server's memory use rises and
/// falls by more than that from one batch of calls to the next, so under load
/// it returned pages and faulted them back in dozens of times a second, and
/// each return flushes the TLB of every core (about 5% of the gateway's
/// time under load). A free top of up to `trim_threshold_bytes` is kept.
inline void tune_grpc_runtime() {
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  constexpr int trim_threshold_bytes = 4 << 20;
  mallopt(M_TRIM_THRESHOLD, trim_threshold_bytes);
}

} // namespace prism::frontend
