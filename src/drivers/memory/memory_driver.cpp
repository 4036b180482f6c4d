#include "drivers/memory/memory_driver.hpp"

#include <new>
#include <stdexcept>

namespace prism::drivers {

memory_driver::memory_driver(std::string backend_name,
                             std::shared_ptr<shared_memory_store> shared,
                             std::shared_ptr<wall_clock> clock)
  : backend_name_(std::move(backend_name)), shared_(std::move(shared)),
    clock_(std::move(clock)) {
  if (!shared_ || !clock_)
    throw std::invalid_argument("memory_driver needs a store and a clock");
}

// Runs inline in microseconds: there is no wait that a timeout could cut
// short (the connection actor already refused work whose deadline passed).
void memory_driver::execute(std::string ns, operation_ptr op, op_timeout,
                            completion done) {
  model::outcome out;
  if (!op) {
    out = model::outcome::failure(status_code::internal, "no operation given");
  } else {
    try {
      std::lock_guard<std::mutex> guard{shared_->mutex};
      out = shared_->store.apply(ns, *op, clock_->now_ms());
    } catch (const std::bad_alloc&) {
      out = model::outcome::failure(status_code::resource_exhausted,
                                    "memory backend \"" + backend_name_
                                      + "\" is out of memory");
    } catch (const std::exception& e) {
      out = model::outcome::failure(status_code::internal, e.what());
    }
  }
  done(std::move(out));
}

void memory_driver::reclaim_expired(uint32_t max_keys,
                                    reclaim_completion done) {
  uint64_t removed = 0;
  {
    std::lock_guard<std::mutex> guard{shared_->mutex};
    removed = shared_->store.reclaim_expired(clock_->now_ms(), max_keys);
  }
  done(removed);
}

std::string memory_driver::describe() const {
  return "memory " + backend_name_;
}

} // namespace prism::drivers
