#pragma once

// Where the servers that scripts/test-servers started listen, and the local
// Kafka's control port. A missing variable fails the test: these servers are
// part of the test setup, not optional.

#include <string>

namespace prism::test {

/// The value of environment variable `name`; fails the test when unset.
std::string require_env(const char* name);

/// Sends one command to PRISM_TEST_KAFKA_CONTROL (see docs/TEST-SERVERS.md)
/// and returns its answer line, e.g. "ok".
std::string kafka_control(const std::string& command);

} // namespace prism::test
