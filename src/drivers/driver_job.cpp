#include "drivers/driver_job.hpp"

namespace prism::drivers {

std::optional<driver_job> driver_job::operation(std::string ns,
                                                operation_ptr op,
                                                op_timeout timeout,
                                                kv_driver::completion done) {
  if (!op) {
    done(model::outcome::failure(status_code::internal, "no operation given"));
    return std::nullopt;
  }
  driver_job j;
  j.ns = std::move(ns);
  j.op = std::move(op);
  j.done = std::move(done);
  if (timeout != no_timeout) {
    using steady = std::chrono::steady_clock;
    auto now = steady::now();
    auto room = steady::time_point::max() - now;
    j.deadline = timeout >= room
      ? steady::time_point::max()
      : now + std::chrono::duration_cast<steady::duration>(timeout);
  }
  return j;
}

driver_job driver_job::reclaim(uint32_t max_keys,
                               kv_driver::reclaim_completion done) {
  driver_job j;
  j.max_keys = max_keys;
  j.reclaim_done = std::move(done);
  return j;
}

void driver_job::finish(model::outcome out) noexcept {
  try {
    if (done)
      done(std::move(out));
  } catch (...) {
    // A completion must not throw; the worker keeps going if one does.
  }
}

void driver_job::finish_reclaim(uint64_t removed) noexcept {
  try {
    if (reclaim_done)
      reclaim_done(removed);
  } catch (...) {
  }
}

void driver_job::fail() noexcept {
  if (done)
    finish(model::outcome::failure(status_code::unavailable,
                                   "driver shutting down"));
  else
    finish_reclaim(0);
}

int64_t deadline_ms_left(std::chrono::steady_clock::time_point deadline,
                         std::chrono::steady_clock::time_point now) {
  return std::chrono::ceil<std::chrono::milliseconds>(deadline - now).count();
}

model::outcome deadline_passed_before_start(std::string_view server) {
  return model::outcome::failure(status_code::deadline_exceeded,
                                 "the request's deadline passed before "
                                   + std::string{server}
                                   + " started it; it was not applied");
}

} // namespace prism::drivers
