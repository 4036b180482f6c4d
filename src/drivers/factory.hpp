#pragma once

// The drivers of real backends, chosen by backend type.

#include <memory>

#include "drivers/driver.hpp"

namespace prism::drivers {

/// A factory for memory and SQLite drivers that read time from `clock`.
/// Memory backends keep one store per backend name for the factory's life, so
/// all connections of a backend (and a connection made again) see the same
/// data. SQLite drivers open `backend.sqlite.path`, creating its directory
/// when missing; when that fails the factory throws std::runtime_error naming
/// the path and the reason.
driver_factory make_real_driver_factory(std::shared_ptr<wall_clock> clock);

} // namespace prism::drivers
