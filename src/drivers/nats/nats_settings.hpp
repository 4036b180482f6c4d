#pragma once

// The settings of a NATS driver and the small pieces every part of it uses:
// its clocks, nats.c's error text and the outcome of one setup attempt.
// Private to src/drivers/nats.

#include <nats/nats.h>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

#include "config/defaults.hpp"
#include "drivers/nats/nats_driver.hpp"

namespace prism::drivers::nats_detail {

using steady = std::chrono::steady_clock;
using time_point = steady::time_point;
using std::chrono::milliseconds;

/// Milliseconds from now until `t`; the largest int64_t for max().
int64_t ms_until(time_point t);

/// The deadline of a publish that may take `timeout`: max() for none.
time_point deadline_after(op_timeout timeout);

/// The text of the error nats.c reported last on this thread, else the
/// status's own text.
std::string error_text(natsStatus s);

struct nats_settings {
  std::string backend;
  std::string url;
  /// url without user information, for messages and describe().
  std::string target;
  bool jetstream = true;
  std::string subject_prefix;
  std::string stream_prefix;
  uint64_t stream_max_age_ms = 0;
  uint64_t stream_max_bytes = 0;
  uint32_t connect_timeout_ms = 0;
  std::string token;
  uint32_t max_pending = 0;
  uint32_t unavailable_after_ms = 0;
};

/// The settings of a nats backend. Throws std::runtime_error when no url is
/// configured or the variable token_env names is not set.
nats_settings settings_of(const config::backend& backend);

/// What one attempt at a setup step came to.
struct step {
  enum kind { done, retry, failed } what = done;
  prism::status why;

  static step ok() { return {}; }
  static step again(std::string reason) {
    return {
      retry,
      prism::status::failure(status_code::unavailable, std::move(reason))};
  }
  static step fail(status_code code, std::string reason) {
    return {failed, prism::status::failure(code, std::move(reason))};
  }
};

/// A failed JetStream call as a step: retried while the server (or its
/// JetStream) is starting, stopping or busy, failed otherwise.
step classify(natsStatus s, jsErrCode code, const std::string& what);

/// Since when a retried step keeps failing while NATS is connected.
class failure_clock {
public:
  void reset() { since_.reset(); }
  /// Notes a failure; true once failures have lasted `limit_ms`.
  bool failed_for(uint32_t limit_ms) {
    auto now = steady::now();
    if (!since_)
      since_ = now;
    return now - *since_ >= milliseconds(limit_ms);
  }

private:
  std::optional<time_point> since_;
};

} // namespace prism::drivers::nats_detail
