#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace prism {

/// Outcome codes of a request. The values equal gRPC's status codes so the
/// front end converts with a cast.
enum class status_code : int {
  ok = 0,
  cancelled = 1,
  unknown = 2,
  invalid_argument = 3,
  deadline_exceeded = 4,
  not_found = 5,
  already_exists = 6,
  permission_denied = 7,
  resource_exhausted = 8,
  failed_precondition = 9,
  aborted = 10,
  out_of_range = 11,
  unimplemented = 12,
  internal = 13,
  unavailable = 14,
  data_loss = 15,
  unauthenticated = 16,
};

/// The gRPC spelling of a code, e.g. "INVALID_ARGUMENT".
std::string_view to_string(status_code code) noexcept;

/// Why the gateway refused a call without running it, for
/// prism_rejections_total. DEADLINE_EXCEEDED counts as `deadline` whatever
/// set it.
enum class refusal : uint8_t {
  none,
  /// A rate limit of the namespace or the principal.
  rate_limit,
  /// An actor's mailbox (a session, a stage, the router, a pool, a broker).
  mailbox_full,
  /// The client connection's in-flight window.
  window_full,
  /// A backend's wait queue (max_pending).
  queue_full,
  /// A backend whose circuit is open (or half open), or a Kafka or NATS
  /// backend unreachable for longer than unavailable_after_ms.
  circuit_open,
  /// The call's deadline passed.
  deadline,
  /// The audit log has no room for the line of a namespace that requires
  /// one (audit_required).
  audit_backlog,
};
inline constexpr size_t refusal_count = 8;

/// The label of a reason, e.g. "rate_limit".
std::string_view to_string(refusal reason) noexcept;

/// A code with a message a person can act on.
struct status {
  status_code code = status_code::ok;
  std::string message;
  /// For RESOURCE_EXHAUSTED and UNAVAILABLE: when a retry makes sense, in ms
  /// (0: no hint). Sent as `x-prism-retry-after-ms` trailing metadata.
  uint32_t retry_after_ms = 0;
  /// Set when the gateway refused the call before running it.
  refusal reason = refusal::none;

  bool ok() const noexcept { return code == status_code::ok; }

  static status failure(status_code code, std::string message) {
    return status{code, std::move(message)};
  }
};

} // namespace prism
