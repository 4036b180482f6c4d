#pragma once

// The memory backend: every connection of one backend works on the same
// store, guarded by one mutex. Operations complete inline on the calling
// thread; the critical section is short and does no I/O.

#include <memory>
#include <mutex>
#include <string>

#include "drivers/driver.hpp"
#include "drivers/memory/memory_store.hpp"

namespace prism::drivers {

/// The data of one memory backend, shared by its connections.
struct shared_memory_store {
  std::mutex mutex;
  memory_store store;
};

class memory_driver final : public kv_driver {
public:
  memory_driver(std::string backend_name,
                std::shared_ptr<shared_memory_store> shared,
                std::shared_ptr<wall_clock> clock);

  using kv_driver::execute;
  void execute(std::string ns, operation_ptr op, op_timeout timeout,
               completion done) override;
  void reclaim_expired(uint32_t max_keys, reclaim_completion done) override;
  std::string describe() const override;

private:
  std::string backend_name_;
  std::shared_ptr<shared_memory_store> shared_;
  std::shared_ptr<wall_clock> clock_;
};

} // namespace prism::drivers
