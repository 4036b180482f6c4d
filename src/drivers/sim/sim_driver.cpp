#include "drivers/sim/sim_driver.hpp"

#include "config/config.hpp"

namespace prism::drivers {

sim_backend::sim_backend(std::shared_ptr<manual_clock> clock)
  : clock_(std::move(clock)) {
}

namespace {

std::string describe(const kv::operation& op) {
  std::string text{kv::operation_name(op)};
  auto key = kv::primary_key(op);
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

void sim_backend::set_holding(bool holding) {
  holding_ = holding;
  if (observer_)
    notify(holding ? "holding on" : "holding off");
}

void sim_backend::execute(std::string ns, operation_ptr op,
                          kv_driver::completion done) {
  held_operation work{std::move(ns), std::move(op), std::move(done)};
  if (holding_) {
    if (observer_)
      notify("held " + describe(*work.op));
    held_.push_back(std::move(work));
    return;
  }
  apply(work);
}

void sim_backend::apply(held_operation& work) {
  if (fail_next_ > 0) {
    --fail_next_;
    ++failed_;
    if (observer_)
      notify("failed " + describe(*work.op) + " "
             + std::string(to_string(fail_code_)));
    work.done(kv::outcome::failure(fail_code_,
                                   "simulated backend failure (injected)"));
    return;
  }
  ++applied_;
  work.done(store_.apply(work.ns, *work.op, clock_->now_ms()));
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
  : backend_(std::move(backend)), name_(std::move(name)), index_(index) {
}

void sim_driver::execute(std::string ns, operation_ptr op, completion done) {
  backend_->execute(std::move(ns), std::move(op), std::move(done));
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
    return std::make_unique<sim_driver>(shared, backend.name, index);
  };
}

} // namespace prism::drivers
