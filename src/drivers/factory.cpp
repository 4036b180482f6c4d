#include "drivers/factory.hpp"

#include <map>
#include <mutex>
#include <stdexcept>
#include <string>

#include "config/config.hpp"
#include "drivers/memory/memory_driver.hpp"
#include "drivers/postgres/postgres_driver.hpp"
#include "drivers/sqlite/sqlite_driver.hpp"

namespace prism::drivers {

namespace {

struct memory_stores {
  std::mutex mutex;
  std::map<std::string, std::shared_ptr<shared_memory_store>> by_backend;

  std::shared_ptr<shared_memory_store> get(const std::string& backend) {
    std::lock_guard<std::mutex> guard{mutex};
    auto& store = by_backend[backend];
    if (!store)
      store = std::make_shared<shared_memory_store>();
    return store;
  }
};

} // namespace

driver_factory make_real_driver_factory(std::shared_ptr<wall_clock> clock) {
  if (!clock)
    clock = system_wall_clock();
  auto stores = std::make_shared<memory_stores>();
  return [clock = std::move(clock), stores = std::move(stores)](
           const config::backend& backend,
           uint32_t index) -> std::unique_ptr<kv_driver> {
    switch (backend.type) {
      case config::backend_type::memory:
        return std::make_unique<memory_driver>(
          backend.name, stores->get(backend.name), clock);
      case config::backend_type::sqlite:
        return std::make_unique<sqlite_driver>(backend, index, clock);
      case config::backend_type::postgres:
        return std::make_unique<postgres_driver>(backend, index, clock);
      case config::backend_type::kafka:
      case config::backend_type::nats:
        throw std::invalid_argument(
          "backend \"" + backend.name + "\" is a "
          + std::string{config::to_string(backend.type)}
          + " backend: it serves pubsub namespaces, not KeyValue");
    }
    throw std::runtime_error("backend \"" + backend.name
                             + "\": unknown backend type");
  };
}

} // namespace prism::drivers
