#pragma once

// The drivers of real backends, chosen by backend type.

#include <memory>

#include "drivers/driver.hpp"

namespace prism::drivers {

/// A factory for memory, SQLite and PostgreSQL drivers that read time from
/// `clock`.
/// Memory backends keep one store per backend name for the factory's life, so
/// all connections of a backend (and a connection made again) see the same
/// data. SQLite drivers open `backend.sqlite.path`, creating its directory
/// when missing; when that fails the factory throws std::runtime_error naming
/// the path and the reason. PostgreSQL drivers connect on their own thread
/// and report a failure to connect through their operations (see
/// postgres_driver.hpp); they throw only for a config they cannot use (an
/// unset password_env variable, an unreadable password_file).
driver_factory make_real_driver_factory(std::shared_ptr<wall_clock> clock);

} // namespace prism::drivers
