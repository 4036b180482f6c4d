#pragma once

// Warnings a client can cause at will (a request the gateway cannot parse, a
// request id it replaces) go through a throttle: one line per interval, which
// says how many were held back, so no client can fill the log.

#include <chrono>
#include <cstdint>
#include <mutex>

namespace prism::logging {

/// Lets one event through per interval and counts the others. Thread-safe.
class log_throttle {
public:
  using clock = std::chrono::steady_clock;

  explicit log_throttle(clock::duration interval) : interval_(interval) {}

  /// True when the event at `now` should be logged; `held` is then the
  /// number of events held back since the last one logged. False (and the
  /// event counted) otherwise.
  bool admit(clock::time_point now, uint64_t& held) {
    std::lock_guard<std::mutex> guard{mutex_};
    if (!logged_any_ || now - last_ >= interval_) {
      held = held_back_;
      held_back_ = 0;
      last_ = now;
      logged_any_ = true;
      return true;
    }
    ++held_back_;
    return false;
  }

private:
  std::mutex mutex_;
  clock::duration interval_;
  clock::time_point last_{};
  bool logged_any_ = false;
  uint64_t held_back_ = 0;
};

} // namespace prism::logging
