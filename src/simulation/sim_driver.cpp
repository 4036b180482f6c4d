#include "simulation/sim_driver.hpp"

#include <algorithm>
#include <chrono>
#include <stdexcept>

#include "config/config.hpp"

namespace prism::simulation {

sim_backend::sim_backend(std::shared_ptr<manual_clock> clock)
  : clock_(std::move(clock)) {}

namespace {

std::string describe(const model::operation& op) {
  std::string text{model::operation_name(op)};
  auto key = model::primary_key(op);
  if (!key.empty())
    text.append(" ").append(key);
  return text;
}

} // namespace

void sim_backend::fail_next(uint32_t count, status_code code) {
  fail_next_ = count;
  fail_code_ = code;
  if (observer_)
    notify("fail_next " + std::to_string(count) + " "
           + std::string(to_string(code)));
}

void sim_backend::set_failing(std::optional<status_code> code) {
  failing_ = code;
  notify(code ? "failing " + std::string(to_string(*code)) : "failing off");
}

void sim_backend::drop_next(uint32_t count) {
  drop_next_ = count;
  notify("drop_next " + std::to_string(count));
}

void sim_backend::commit_unknown_next(uint32_t count) {
  commit_unknown_next_ = count;
  notify("commit_unknown_next " + std::to_string(count));
}

void sim_backend::throw_next(uint32_t count) {
  throw_next_ = count;
  notify("throw_next " + std::to_string(count));
}

void sim_backend::set_crashing(bool crashing) {
  crashing_ = crashing;
  notify(crashing ? "crashing on" : "crashing off");
}

void sim_backend::set_down(bool down) {
  if (down)
    lose_unflushed_writes();
  down_ = down;
  notify(down ? "down" : "up");
}

void sim_backend::connect(uint32_t index) {
  if (down_) {
    notify("connect #" + std::to_string(index) + " refused");
    throw std::runtime_error("connection refused (simulated backend is down)");
  }
  notify("connect #" + std::to_string(index));
}

void sim_backend::set_random_faults(double fail, double drop, uint64_t seed) {
  random_fail_ = fail;
  random_drop_ = drop;
  rng_.seed(seed);
  notify("random_faults fail=" + std::to_string(fail)
         + " drop=" + std::to_string(drop) + " seed=" + std::to_string(seed));
}

void sim_backend::set_latency(int64_t ms) {
  latency_ms_ = ms;
  notify("latency " + std::to_string(ms) + "ms");
}

void sim_backend::set_latency_jitter(int64_t jitter_ms, uint64_t seed) {
  jitter_ms_ = jitter_ms;
  jitter_rng_.seed(seed);
  notify("latency jitter " + std::to_string(jitter_ms) + "ms");
}

void sim_backend::set_ack_before_write(int64_t checkpoint_ms) {
  ack_checkpoint_ms_ = checkpoint_ms;
  durable_ = store_;
  last_checkpoint_ms_ = clock_->now_ms();
  unflushed_writes_ = 0;
  notify("ack_before_write checkpoint every " + std::to_string(checkpoint_ms)
         + "ms (planted defect)");
}

void sim_backend::checkpoint_if_due() {
  if (ack_checkpoint_ms_ <= 0
      || clock_->now_ms() - last_checkpoint_ms_ < ack_checkpoint_ms_)
    return;
  durable_ = store_;
  last_checkpoint_ms_ = clock_->now_ms();
  unflushed_writes_ = 0;
}

void sim_backend::lose_unflushed_writes() {
  if (ack_checkpoint_ms_ <= 0 || unflushed_writes_ == 0)
    return;
  store_ = durable_;
  notify("lost " + std::to_string(unflushed_writes_)
         + " acknowledged writes since the last checkpoint (planted defect "
           "ack_before_write)");
  unflushed_writes_ = 0;
}

std::optional<int64_t> sim_backend::next_due_ms() const {
  std::optional<int64_t> next;
  auto consider = [&](const held_operation& work) {
    if (!next || work.due_ms < *next)
      next = work.due_ms;
  };
  for (auto& work : delayed_)
    consider(work);
  for (auto& work : held_)
    if (work.times_out)
      consider(work);
  return next;
}

void sim_backend::time_out(held_operation& work) {
  ++failed_;
  notify("timed out " + describe(*work.op));
  work.done(model::outcome::failure(
    status_code::deadline_exceeded,
    "the request's deadline passed while the backend ran it; it was not "
    "applied"));
}

size_t sim_backend::time_out_held(int64_t now_ms) {
  size_t n = 0;
  for (auto i = held_.begin(); i != held_.end();) {
    if (!i->times_out || i->due_ms > now_ms) {
      ++i;
      continue;
    }
    auto work = std::move(*i);
    i = held_.erase(i);
    time_out(work);
    ++n;
  }
  return n;
}

size_t sim_backend::release_due() {
  auto now = clock_->now_ms();
  auto timed_out = time_out_held(now);
  size_t ran = 0;
  // Operations that time out may be due before ones started earlier.
  std::stable_sort(delayed_.begin(), delayed_.end(),
                   [](const held_operation& a, const held_operation& b) {
                     return a.due_ms < b.due_ms;
                   });
  while (!delayed_.empty() && delayed_.front().due_ms <= now) {
    auto work = std::move(delayed_.front());
    delayed_.pop_front();
    ++ran;
    if (work.times_out) {
      time_out(work);
      continue;
    }
    apply(work);
  }
  if (ran > 0)
    notify("completed " + std::to_string(ran) + " delayed");
  return ran + timed_out;
}

void sim_backend::set_holding(bool holding) {
  holding_ = holding;
  if (observer_)
    notify(holding ? "holding on" : "holding off");
}

void sim_backend::set_frozen(bool frozen) {
  frozen_ = frozen;
  notify(frozen ? "frozen on" : "frozen off");
}

size_t sim_backend::discard_in_flight() {
  // The dying process's driver loses what it had acknowledged and not yet
  // written (only with the planted ack_before_write).
  lose_unflushed_writes();
  auto n = held_.size() + delayed_.size();
  held_.clear();
  delayed_.clear();
  if (n > 0)
    notify("discarded " + std::to_string(n) + " in flight");
  return n;
}

void sim_backend::execute(std::string ns, operation_ptr op, op_timeout timeout,
                          kv_driver::completion done) {
  if (frozen_) {
    notify("vanished " + describe(*op));
    return;
  }
  if (throw_next_ > 0) {
    --throw_next_;
    ++failed_;
    notify("threw " + describe(*op));
    lose_unflushed_writes();
    throw std::runtime_error("simulated driver exception (injected)");
  }
  held_operation work{std::move(ns), std::move(op), std::move(done), 0, false};
  auto limit_ms = [&] {
    return std::max<int64_t>(
      std::chrono::duration_cast<std::chrono::milliseconds>(timeout).count(),
      0);
  };
  if (holding_) {
    if (timeout != drivers::no_timeout) {
      work.due_ms = clock_->now_ms() + limit_ms();
      work.times_out = true;
    }
    if (observer_)
      notify("held " + describe(*work.op));
    held_.push_back(std::move(work));
    return;
  }
  if (latency_ms_ > 0) {
    auto wait_ms = latency_ms_;
    if (jitter_ms_ > 0)
      wait_ms += static_cast<int64_t>(jitter_rng_()
                                      % static_cast<uint64_t>(jitter_ms_ + 1));
    if (timeout != drivers::no_timeout && limit_ms() < wait_ms) {
      wait_ms = limit_ms();
      work.times_out = true;
    }
    work.due_ms = clock_->now_ms() + wait_ms;
    notify("delayed " + describe(*work.op));
    delayed_.push_back(std::move(work));
    return;
  }
  apply(work);
}

void sim_backend::apply(held_operation& work) {
  bool drop = down_ || crashing_;
  if (!drop && drop_next_ > 0) {
    --drop_next_;
    drop = true;
  }
  bool fail = false;
  if (!drop && (random_fail_ > 0 || random_drop_ > 0)) {
    // 53 random bits as a fraction in [0, 1): the same on every platform.
    auto x = static_cast<double>(rng_() >> 11) * 0x1.0p-53;
    if (x < random_fail_)
      fail = true;
    else if (x < random_fail_ + random_drop_)
      drop = true;
  }
  if (drop) {
    ++failed_;
    notify("dropped " + describe(*work.op));
    lose_unflushed_writes();
    work.done(model::outcome::lost(down_
                                     ? "connection refused (simulated "
                                       "backend is down)"
                                     : "connection reset by peer (injected)"));
    return;
  }
  if (fail) {
    ++failed_;
    notify("failed " + describe(*work.op) + " UNAVAILABLE (random)");
    work.done(model::outcome::failure(status_code::unavailable,
                                      "simulated backend failure (random)"));
    return;
  }
  if (fail_next_ > 0 || failing_) {
    auto code = failing_ ? *failing_ : fail_code_;
    if (!failing_)
      --fail_next_;
    ++failed_;
    if (observer_)
      notify("failed " + describe(*work.op) + " "
             + std::string(to_string(code)));
    work.done(
      model::outcome::failure(code, "simulated backend failure (injected)"));
    return;
  }
  ++applied_;
  checkpoint_if_due();
  auto result = store_.apply(work.ns, *work.op, clock_->now_ms());
  if (ack_checkpoint_ms_ > 0 && model::is_write(*work.op) && result.status.ok())
    ++unflushed_writes_;
  if (commit_unknown_next_ > 0 && model::is_write(*work.op)
      && result.status.ok()) {
    --commit_unknown_next_;
    notify("applied then dropped " + describe(*work.op));
    lose_unflushed_writes();
    work.done(model::outcome::lost(
      "connection reset during COMMIT (injected): the write may or may not "
      "have been applied"));
    return;
  }
  work.done(std::move(result));
}

size_t sim_backend::release_held() {
  size_t ran = 0;
  while (!held_.empty()) {
    auto work = std::move(held_.front());
    held_.pop_front();
    apply(work);
    ++ran;
  }
  if (observer_)
    notify("released " + std::to_string(ran));
  return ran;
}

void sim_backend::reclaim_expired(uint32_t max_keys,
                                  kv_driver::reclaim_completion done) {
  auto n = store_.reclaim_expired(clock_->now_ms(), max_keys);
  reclaimed_ += n;
  done(n);
}

sim_driver::sim_driver(std::shared_ptr<sim_backend> backend, std::string name,
                       uint32_t index)
  : backend_(std::move(backend)), name_(std::move(name)), index_(index) {}

void sim_driver::execute(std::string ns, operation_ptr op, op_timeout timeout,
                         completion done) {
  backend_->execute(std::move(ns), std::move(op), timeout, std::move(done));
}

void sim_driver::reclaim_expired(uint32_t max_keys, reclaim_completion done) {
  backend_->reclaim_expired(max_keys, std::move(done));
}

std::string sim_driver::describe() const {
  return "sim " + name_ + " #" + std::to_string(index_);
}

driver_factory make_sim_driver_factory(std::shared_ptr<sim_backends> backends,
                                       std::shared_ptr<manual_clock> clock) {
  return [backends, clock](const config::backend& backend,
                           uint32_t index) -> std::unique_ptr<kv_driver> {
    auto& shared = (*backends)[backend.name];
    if (!shared)
      shared = std::make_shared<sim_backend>(clock);
    shared->connect(index);
    return std::make_unique<sim_driver>(shared, backend.name, index);
  };
}

} // namespace prism::simulation
