#pragma once

// The NATS client of a pubsub backend (`type: nats`); see pubsub_driver.hpp
// for the contract.

#include <memory>

#include "drivers/pubsub_driver.hpp"

namespace prism::drivers {

/// Throws std::runtime_error for a config the client library refuses.
pubsub_driver_ptr make_nats_driver(const config::backend& backend,
                                    std::shared_ptr<wall_clock> clock);

} // namespace prism::drivers
