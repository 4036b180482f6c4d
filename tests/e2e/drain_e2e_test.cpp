// SIGTERM drains: readiness drops, new requests get UNAVAILABLE, requests in
// flight finish, the process exits 0. And a request whose deadline passes
// while it waits is never executed. A request is held in flight for real by
// locking the SQLite database from the test, so the gateway's write waits on
// it for as long as the test wants.

#include <csignal>
#include <future>
#include <optional>
#include <string>
#include <thread>

#include <catch2/catch.hpp>
#include <sqlite3.h>

#include "gateway_process.hpp"

using namespace prism::test;
using namespace std::chrono_literals;

namespace {

std::string drain_config(const std::string& drain_timeout_ms,
                         const std::string& session_max_in_flight = "1024") {
  return R"(
server:
  session_max_in_flight: )"
    + session_max_in_flight + R"(
  drain_timeout_ms: )"
    + drain_timeout_ms + R"(
audit:
  path: {dir}/audit.log
backends:
  mem: {type: memory}
  local: {type: sqlite, path: {dir}/prism.db, connections: 1, busy_timeout_ms: 30000}
namespaces:
  cache: {backend: mem}
  default: {backend: local}
)";
}

/// Holds the database's write lock while it lives.
class write_lock {
public:
  explicit write_lock(const std::string& path) {
    REQUIRE(sqlite3_open(path.c_str(), &db_) == SQLITE_OK);
    REQUIRE(sqlite3_exec(db_, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr)
            == SQLITE_OK);
  }
  void release() {
    if (db_) {
      sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
      sqlite3_close(db_);
      db_ = nullptr;
    }
  }
  ~write_lock() { release(); }

private:
  sqlite3* db_ = nullptr;
};

/// Polls `probe` until it holds or `timeout` passes.
template <class Probe>
bool eventually(Probe probe, std::chrono::milliseconds timeout = 10s) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (probe())
      return true;
    std::this_thread::sleep_for(5ms); // polling interval, not a race fix
  }
  return probe();
}

bool in_flight_is(gateway_process& gw, int n) {
  auto metrics = http_get(gw.admin_port(), "/metrics").body;
  return metrics.find("\nprism_requests_in_flight " + std::to_string(n) + "\n")
    != std::string::npos;
}

/// Starts a Set on the SQLite namespace that waits behind `lock`.
std::future<reply<prism::v1::SetResponse>> held_write(
  gateway_process& gw, std::shared_ptr<grpc::Channel> channel = {}) {
  if (!channel)
    channel = gw.channel();
  return std::async(std::launch::async, [channel] {
    kv_client client{channel, 60s};
    return client.set("default", "held", "value");
  });
}

/// A gateway whose only SQLite connection is busy with one write that waits
/// behind the test's lock. Members end in reverse order: the lock is
/// released before the held write is waited for, so a failing test does not
/// hang on it.
struct held_gateway {
  explicit held_gateway(const std::string& drain_timeout_ms)
    : gw{drain_config(drain_timeout_ms)} {
    gw.start();
    client.emplace(gw.channel());
    REQUIRE(client->set("default", "warm", "up").ok()); // the schema exists
    lock.emplace(gw.dir() + "/prism.db");
    held = held_write(gw);
    REQUIRE(eventually([&] { return in_flight_is(gw, 1); }));
  }

  gateway_process gw;
  std::optional<kv_client> client;
  std::future<reply<prism::v1::SetResponse>> held;
  std::optional<write_lock> lock;
};

} // namespace

TEST_CASE("SIGTERM lets requests in flight finish and refuses new ones",
          "[e2e][drain]") {
  held_gateway h{"20000"};
  auto& gw = h.gw;
  auto& client = *h.client;
  auto& held = h.held;
  auto& lock = *h.lock;

  gw.signal(SIGTERM);
  REQUIRE(eventually(
    [&] { return http_get(gw.admin_port(), "/readyz").status == 503; }));
  auto refused = client.get("cache", "k");
  CHECK(refused.status.error_code() == grpc::StatusCode::UNAVAILABLE);
  CHECK_THAT(refused.status.error_message(), Catch::Contains("shutting down"));
  if (held.wait_for(0s) == std::future_status::ready) {
    auto early = held.get();
    FAIL("the held write was answered before the lock was released: "
         << early.status.error_code() << " " << early.status.error_message()
         << "\ngateway log:\n"
         << gw.log_tail());
  }

  lock.release();
  auto written = held.get();
  INFO(written.status.error_message());
  CHECK(written.ok());
  auto ended = gw.wait_for_exit(10s);
  CHECK(ended.exited);
  CHECK(ended.code == 0);
}

TEST_CASE("past the drain timeout, requests still in flight are answered "
          "UNAVAILABLE",
          "[e2e][drain]") {
  held_gateway h{"300"};
  auto& gw = h.gw;
  auto& held = h.held;
  auto& lock = *h.lock;

  gw.signal(SIGTERM);
  REQUIRE(held.wait_for(10s) == std::future_status::ready);
  auto written = held.get();
  INFO("gateway log:\n" << gw.log_tail());
  CHECK(written.status.error_code() == grpc::StatusCode::UNAVAILABLE);
  CHECK_THAT(written.status.error_message(),
             Catch::Contains("stopped working on this request"));
  // The driver still waits on the lock; the process ends once it gives up.
  lock.release();
  auto ended = gw.wait_for_exit(10s);
  CHECK(ended.exited);
  CHECK(ended.code == 0);
  CHECK_THAT(gw.log_tail(), Catch::Contains("after the drain timeout"));
}

TEST_CASE("a second signal stops the drain at once", "[e2e][drain]") {
  held_gateway h{"60000"};
  auto& gw = h.gw;
  auto& held = h.held;
  auto& lock = *h.lock;

  gw.signal(SIGTERM);
  REQUIRE(eventually(
    [&] { return http_get(gw.admin_port(), "/readyz").status == 503; }));
  gw.signal(SIGINT);
  REQUIRE(held.wait_for(10s) == std::future_status::ready);
  CHECK(held.get().status.error_code() == grpc::StatusCode::UNAVAILABLE);
  lock.release();
  auto ended = gw.wait_for_exit(10s);
  CHECK(ended.exited);
  CHECK(ended.code == 1);
}

TEST_CASE("a request whose deadline passes while it waits for a connection "
          "is not executed",
          "[e2e][deadline]") {
  // The only connection waits on the lock with the held write...
  held_gateway h{"20000"};
  auto& gw = h.gw;
  auto& client = *h.client;
  auto& held = h.held;
  auto& lock = *h.lock;
  // ...so this one waits in the pool, with a short deadline.
  auto channel = gw.channel();
  auto late = std::async(std::launch::async, [channel] {
    kv_client short_lived{channel, 200ms};
    return short_lived.set("default", "too-late", "value");
  });
  REQUIRE(eventually([&] { return in_flight_is(gw, 2); }));
  CHECK(late.get().status.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED);
  lock.release();
  CHECK(held.get().ok());
  // The pool answered the expired call itself; the backend never saw it.
  REQUIRE(eventually([&] { return in_flight_is(gw, 0); }));
  auto got = client.get("default", "too-late");
  REQUIRE(got.ok());
  CHECK_FALSE(got.response.found());
  auto metrics = http_get(gw.admin_port(), "/metrics").body;
  CHECK_THAT(
    metrics,
    Catch::Contains(
      R"(prism_requests_total{code="DEADLINE_EXCEEDED",namespace="default",operation="Set"} 1)"));
  CHECK_THAT(
    metrics,
    Catch::Contains(
      R"(prism_rejections_total{namespace="default",reason="deadline"} 1)"));
}

TEST_CASE("a client connection over its in-flight window is refused with a "
          "retry hint",
          "[e2e][overload]") {
  gateway_process gw{drain_config("20000", "1")};
  gw.start();
  auto channel = gw.channel();
  kv_client client{channel};
  REQUIRE(client.set("default", "warm", "up").ok());
  write_lock lock{gw.dir() + "/prism.db"};
  auto held = held_write(gw, channel); // the same connection: one session
  REQUIRE(eventually([&] { return in_flight_is(gw, 1); }));
  auto refused = client.get("cache", "k");
  CHECK(refused.status.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED);
  CHECK_THAT(refused.status.error_message(), Catch::Contains("in flight"));
  auto hint = refused.trailing_metadata.find("x-prism-retry-after-ms");
  REQUIRE(hint != refused.trailing_metadata.end());
  CHECK(std::stoi(hint->second) > 0);
  // Counted by its session before it answered.
  CHECK_THAT(
    http_get(gw.admin_port(), "/metrics").body,
    Catch::Contains(
      R"(prism_rejections_total{namespace="cache",reason="window_full"} 1)"));
  // Another connection is not affected.
  kv_client other{gw.channel()};
  CHECK(other.get("cache", "k").ok());
  lock.release();
  CHECK(held.get().ok());
  CHECK(client.get("cache", "k").ok());
}
