#pragma once

// The PostgreSQL driver's tables and the statements each connection
// prepares. Private to src/drivers/postgres.

#include <map>
#include <string>

namespace prism::drivers::postgres_detail {

/// Creates the tables and the expiry index where they are missing, in one
/// transaction that concurrent connections serialise on an advisory lock.
extern const char* const create_schema_sql;

/// The statements a connection prepares, by name.
const std::map<std::string, std::string>& statements();

} // namespace prism::drivers::postgres_detail
