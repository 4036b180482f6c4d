#include "drivers/kafka/kafka_driver.hpp"

#include <stdexcept>

namespace prism::drivers {

pubsub_driver_ptr make_kafka_driver(const config::backend&,
                                    std::shared_ptr<wall_clock>) {
  throw std::runtime_error("the Kafka client is not part of this build yet");
}

} // namespace prism::drivers
