#include "runtime/supervision.hpp"

#include <algorithm>
#include <cmath>

#include <caf/exit_reason.hpp>
#include <caf/make_message.hpp>
#include <caf/message.hpp>
#include <fmt/format.h>

namespace prism {

const char* to_string(restart_type x) noexcept {
  switch (x) {
    case restart_type::permanent: return "permanent";
    case restart_type::transient: return "transient";
    case restart_type::temporary: return "temporary";
  }
  return "?";
}

const char* to_string(strategy x) noexcept {
  switch (x) {
    case strategy::one_for_one: return "one_for_one";
    case strategy::one_for_all: return "one_for_all";
    case strategy::rest_for_one: return "rest_for_one";
  }
  return "?";
}

bool is_normal_exit(const caf::error& reason) noexcept {
  return !reason || reason == caf::exit_reason::normal
    || reason == caf::exit_reason::user_shutdown;
}

bool should_restart(restart_type type, const caf::error& reason) noexcept {
  switch (type) {
    case restart_type::permanent: return true;
    case restart_type::transient: return !is_normal_exit(reason);
    case restart_type::temporary: return false;
  }
  return false;
}

std::vector<size_t> affected_children(strategy s, size_t failed, size_t count) {
  std::vector<size_t> result;
  if (failed >= count)
    return result;
  switch (s) {
    case strategy::one_for_one: result.push_back(failed); break;
    case strategy::one_for_all:
      for (size_t i = 0; i < count; ++i)
        result.push_back(i);
      break;
    case strategy::rest_for_one:
      for (size_t i = failed; i < count; ++i)
        result.push_back(i);
      break;
  }
  return result;
}

caf::timespan backoff_delay(const backoff_options& opts, uint32_t exponent,
                            std::mt19937_64& rng) {
  // A uniform draw in [0, 1) from the top 53 bits: the same on every
  // standard library, unlike std::uniform_real_distribution.
  double unit = static_cast<double>(rng() >> 11) * 0x1.0p-53;
  auto lo = static_cast<double>(opts.min.count());
  auto hi = static_cast<double>(std::max(opts.max, opts.min).count());
  double base = lo
    * std::pow(std::max(opts.multiplier, 1.0), static_cast<double>(exponent));
  if (!(base <= hi)) // also catches overflow to infinity
    base = hi;
  double jitter = std::clamp(opts.jitter, 0.0, 1.0);
  double delay = base * (1.0 + jitter * (2.0 * unit - 1.0));
  delay = std::clamp(delay, lo, hi);
  return caf::timespan{static_cast<caf::timespan::rep>(std::llround(delay))};
}

// --- restart_intensity -------------------------------------------------------

restart_intensity::restart_intensity(uint32_t max_restarts,
                                     caf::timespan period)
  : max_restarts_(max_restarts), period_(period) {}

void restart_intensity::expire(clock_time now) {
  while (!restarts_.empty() && now - restarts_.front() >= period_)
    restarts_.pop_front();
}

bool restart_intensity::admit(clock_time now) {
  expire(now);
  restarts_.push_back(now);
  return restarts_.size() <= max_restarts_;
}

size_t restart_intensity::recent(clock_time now) const {
  return static_cast<size_t>(
    std::count_if(restarts_.begin(), restarts_.end(),
                  [&](clock_time t) { return now - t < period_; }));
}

// --- supervision_logic -------------------------------------------------------

supervision_logic::supervision_logic(std::string supervisor_name,
                                     supervisor_options options,
                                     std::vector<child_info> children)
  : name_(std::move(supervisor_name)), options_(options),
    intensity_(options.intensity_max_restarts, options.intensity_period) {
  children_.reserve(children.size());
  for (auto& c : children) {
    child_record r;
    r.name = std::move(c.name);
    r.restart = c.restart;
    children_.push_back(std::move(r));
  }
}

void supervision_logic::started(size_t i, clock_time now) {
  auto& c = children_.at(i);
  if (c.started_at)
    ++c.restarts;
  c.started_at = now;
  c.running = true;
}

void supervision_logic::stopped(size_t i) {
  children_.at(i).running = false;
}

decision supervision_logic::exited(size_t i, const caf::error& reason,
                                   clock_time now, std::mt19937_64& rng,
                                   const std::string& rendered_reason) {
  auto& c = children_.at(i);
  c.running = false;
  if (!is_normal_exit(reason)) {
    c.last_failure = reason;
    c.last_failure_at = now;
  }
  decision d;
  if (!should_restart(c.restart, reason))
    return d;
  if (!intensity_.admit(now)) {
    d.what = decision::action::give_up;
    d.affected = affected_children(strategy::one_for_all, i, children_.size());
    d.explanation = fmt::format(
      "supervisor \"{}\" gave up: child \"{}\" exited ({}) and restarting it "
      "would exceed the restart intensity of at most {} restarts within {} ms",
      name_, c.name, rendered_reason, options_.intensity_max_restarts,
      std::chrono::duration_cast<std::chrono::milliseconds>(
        options_.intensity_period)
        .count());
    return d;
  }
  // A child that ran long enough without failing starts its backoff over.
  if (c.started_at && now - *c.started_at >= options_.backoff.reset_after)
    c.backoff_exponent = 0;
  d.what = decision::action::restart;
  d.delay = backoff_delay(options_.backoff, c.backoff_exponent, rng);
  if (c.backoff_exponent < 64)
    ++c.backoff_exponent;
  d.affected = affected_children(options_.strategy, i, children_.size());
  for (auto j : d.affected)
    if (j == i || children_[j].restart != restart_type::temporary)
      d.restart.push_back(j);
  return d;
}

// --- errors ------------------------------------------------------------------

caf::error make_supervision_error(supervision_errc code, std::string text) {
  return caf::error{static_cast<uint8_t>(code), supervision_category::value,
                    caf::make_message(std::move(text))};
}

std::string supervision_error_text(const caf::error& err) {
  if (!err || err.category() != supervision_category::value)
    return {};
  const auto& ctx = err.context();
  if (ctx.size() == 1 && ctx.match_element<std::string>(0))
    return ctx.get_as<std::string>(0);
  return {};
}

} // namespace prism
