#include <stdexcept>
#include <string>

#include "config/config.hpp"
#include "drivers/kafka/kafka_driver.hpp"
#include "drivers/nats/nats_driver.hpp"
#include "drivers/pubsub_driver.hpp"

namespace prism::drivers {

pubsub_driver_ptr make_pubsub_driver(const config::backend& backend,
                                     std::shared_ptr<wall_clock> clock) {
  switch (backend.type) {
    case config::backend_type::kafka:
      return make_kafka_driver(backend, std::move(clock));
    case config::backend_type::nats:
      return make_nats_driver(backend, std::move(clock));
    default:
      throw std::invalid_argument("backend \"" + backend.name + "\" is a "
                                  + std::string{config::to_string(backend.type)}
                                  + " backend, not a Kafka or NATS one");
  }
}

} // namespace prism::drivers
