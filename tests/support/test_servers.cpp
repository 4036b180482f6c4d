#include "test_servers.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <sys/wait.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>

#include <catch2/catch.hpp>

namespace prism::test {

std::string require_env(const char* name) {
  const char* value = std::getenv(name);
  if (value == nullptr || *value == '\0')
    FAIL(
      name << " is not set: run through scripts/dev test or "
              "scripts/test-servers (eval \"$(scripts/test-servers start)\")");
  return value;
}

std::string unique_token() {
  static std::atomic<int> counter{0};
  auto now = std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
               .count();
  return std::to_string(::getpid()) + "x" + std::to_string(now % 100000000)
    + "x" + std::to_string(++counter);
}

std::string kafka_control(const std::string& command) {
  auto address = require_env("PRISM_TEST_KAFKA_CONTROL");
  auto colon = address.rfind(':');
  REQUIRE(colon != std::string::npos);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port
    = htons(static_cast<uint16_t>(std::stoi(address.substr(colon + 1))));
  REQUIRE(::inet_pton(AF_INET, address.substr(0, colon).c_str(), &addr.sin_addr)
          == 1);
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  REQUIRE(fd >= 0);
  std::unique_ptr<int, void (*)(int*)> closer(&fd, [](int* f) { ::close(*f); });
  timeval timeout{10, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0)
    FAIL("cannot connect to the Kafka control port " << address);
  auto line = command + "\n";
  REQUIRE(::send(fd, line.data(), line.size(), MSG_NOSIGNAL)
          == static_cast<ssize_t>(line.size()));
  std::string reply;
  char c = 0;
  while (::recv(fd, &c, 1, 0) == 1 && c != '\n')
    reply += c;
  INFO("control: " << command << " -> " << reply);
  return reply;
}

std::pair<int, std::string> shell(const std::string& command) {
  std::string out;
  FILE* pipe = ::popen((command + " 2>&1").c_str(), "r");
  if (pipe == nullptr)
    return {-1, "popen failed"};
  char buffer[512];
  while (std::fgets(buffer, sizeof buffer, pipe) != nullptr)
    out += buffer;
  int status = ::pclose(pipe);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

namespace {

std::string test_servers_script() {
  return PRISM_SOURCE_DIR "/scripts/test-servers";
}

/// The value of `export NAME=value` in scripts/test-servers' output.
std::string exported(const std::string& out, const std::string& name) {
  auto key = "export " + name + "=";
  auto at = out.find(key);
  if (at == std::string::npos)
    return {};
  auto end = out.find('\n', at);
  return out.substr(at + key.size(),
                    end == std::string::npos ? end : end - at - key.size());
}

} // namespace

private_nats::private_nats() {
  auto [rc, out] = shell("PRISM_TEST_SERVERS_PRIVATE=1 " + test_servers_script()
                         + " start nats");
  INFO(out);
  REQUIRE(rc == 0);
  dir_ = exported(out, "PRISM_TEST_SERVERS_DIR");
  url_ = exported(out, "PRISM_TEST_NATS_URL");
  REQUIRE(!dir_.empty());
  REQUIRE(!url_.empty());
}

private_nats::~private_nats() {
  if (!dir_.empty())
    shell(test_servers_script() + " stop " + dir_);
}

void private_nats::stop_server() {
  auto [rc, out] = shell(test_servers_script() + " stop-server nats " + dir_);
  INFO(out);
  REQUIRE(rc == 0);
}

void private_nats::start_server() {
  auto [rc, out] = shell(test_servers_script() + " start-server nats " + dir_);
  INFO(out);
  REQUIRE(rc == 0);
  REQUIRE(exported(out, "PRISM_TEST_NATS_URL") == url_);
}

void private_nats::pause_server() {
  // SIGSTOP takes effect when each of the server's threads is next
  // scheduled: on a loaded machine a request sent right after kill() may
  // still be served. Wait (up to 5 s) until every thread is stopped.
  auto [rc, out] = shell(
    "pid=\"$(cat '" + dir_
    + "/nats.pid')\" && kill -STOP \"$pid\" && "
      "for i in $(seq 500); do "
      "  running=0; "
      "  for t in /proc/$pid/task/*/stat; do "
      "    [ \"$(cut -d' ' -f3 \"$t\" 2>/dev/null)\" = T ] || running=1; "
      "  done; "
      "  [ $running = 0 ] && exit 0; sleep 0.01; "
      "done; echo \"nats-server $pid did not stop\"; exit 1");
  INFO(out);
  REQUIRE(rc == 0);
}

void private_nats::resume_server() {
  auto [rc, out] = shell("kill -CONT \"$(cat '" + dir_ + "/nats.pid')\"");
  INFO(out);
  REQUIRE(rc == 0);
}

} // namespace prism::test
