#pragma once

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

/// A code with a message a person can act on.
struct status {
  status_code code = status_code::ok;
  std::string message;
  /// For RESOURCE_EXHAUSTED and UNAVAILABLE: when a retry makes sense, in ms
  /// (0: no hint). Sent as `x-prism-retry-after-ms` trailing metadata.
  uint32_t retry_after_ms = 0;

  bool ok() const noexcept { return code == status_code::ok; }

  static status failure(status_code code, std::string message) {
    return status{code, std::move(message)};
  }
};

} // namespace prism
