#pragma once

// Where the servers that scripts/test-servers started listen, and the local
// Kafka's control port. A missing variable fails the test: these servers are
// part of the test setup, not optional.

#include <string>
#include <utility>

namespace prism::test {

/// The value of environment variable `name`; fails the test when unset.
std::string require_env(const char* name);

/// A token no other test case or run against the same servers uses (process
/// id, time and a counter), for topic, subject and stream names.
std::string unique_token();

/// Sends one command to PRISM_TEST_KAFKA_CONTROL (see docs/TEST-SERVERS.md)
/// and returns its answer line, e.g. "ok".
std::string kafka_control(const std::string& command);

/// Runs a shell command; its output (stdout and stderr) and exit status.
std::pair<int, std::string> shell(const std::string& command);

/// A nats-server of the test's own (scripts/test-servers with
/// PRISM_TEST_SERVERS_PRIVATE=1), which it may stop and start again on the
/// same port with the same store; stopped and removed when the object goes.
class private_nats {
public:
  private_nats();
  ~private_nats();
  private_nats(const private_nats&) = delete;
  private_nats& operator=(const private_nats&) = delete;

  const std::string& url() const { return url_; }
  void stop_server();
  void start_server();
  /// SIGSTOP and SIGCONT: the server holds its connections and answers
  /// nothing while paused.
  void pause_server();
  void resume_server();

private:
  std::string dir_;
  std::string url_;
};

} // namespace prism::test
