// Resilience of the real `prism` binary under load: a connection actor killed
// through the admin API is restarted by its supervisor without losing an
// acknowledged write; SIGTERM during load drops no request in flight; a
// backend whose supervisor gives up opens its circuit, says so to clients,
// and closes it again once the probe brings a connection back.
//
// Nothing here sleeps to get past a race: every wait polls for a condition
// (the admin API's view of the actors, the writers' counters) until a
// deadline.

#include <algorithm>
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "admin_view.hpp"
#include "gateway_process.hpp"

using namespace prism::test;
using namespace std::chrono_literals;
using grpc::StatusCode;
using nlohmann::json;

namespace {

constexpr int client_count = 8;
/// OK writes each client makes before the fault, and again after it.
constexpr uint64_t writes_per_phase = 20;
/// How long any one condition may take to come true.
constexpr auto condition_timeout = 10s;

using prism::test::eventually;

/// Waits for `probe` with this file's condition timeout.
template <class Probe>
bool eventually(Probe probe) {
  return prism::test::eventually(probe, condition_timeout);
}

/// What the drain answers a request that arrives after SIGTERM
/// (src/frontend/keyvalue_service.cpp).
const std::string drain_refusal
  = "the gateway is shutting down and takes no new requests";
/// What a call that an actor dropped unanswered is told (actors/runtime/call.cpp).
const std::string dropped_call = "stopped working on this request";

// --- the admin API ------------------------------------------------------------

bool lists_id(const json& actors, uint64_t id) {
  for (const auto& a : actors)
    if (a["id"].get<uint64_t>() == id)
      return true;
  return false;
}

/// The nodes from a root of GET /debug/tree down to the actor `id`, or empty.
std::vector<const json*> tree_path(const json& nodes, uint64_t id) {
  for (const auto& node : nodes) {
    if (node["id"].get<uint64_t>() == id)
      return {&node};
    auto below = tree_path(node["children"], id);
    if (!below.empty()) {
      below.insert(below.begin(), &node);
      return below;
    }
  }
  return {};
}

/// Checks that /debug/tree shows connection `id` under the supervisor
/// `supervisor_id` ("pool:BACKEND"), itself under the pool of `backend`.
void check_in_tree(gateway_process& gw, uint64_t id, uint64_t supervisor_id,
                   const std::string& backend) {
  auto tree = admin_json(gw, "/debug/tree");
  auto path = tree_path(tree["actors"], id);
  INFO("GET /debug/tree -> " << tree.dump());
  REQUIRE(path.size() >= 3);
  const json& connection = *path[path.size() - 1];
  const json& supervisor = *path[path.size() - 2];
  const json& pool = *path[path.size() - 3];
  CHECK(connection["kind"] == "connection");
  CHECK(connection["parent"].get<uint64_t>() == supervisor_id);
  CHECK(supervisor["id"].get<uint64_t>() == supervisor_id);
  CHECK(supervisor["kind"] == "supervisor");
  CHECK(supervisor["name"] == "pool:" + backend);
  CHECK(supervisor["state"] == "running");
  CHECK(pool["kind"] == "pool");
  CHECK(pool["name"] == backend);
}

/// POST /debug/actors/{id}/kill; the answer describes the actor killed.
void kill_actor(gateway_process& gw, uint64_t id) {
  auto path = "/debug/actors/" + std::to_string(id) + "/kill";
  auto r = http_post(gw.admin_port(), path);
  INFO("POST " << path << " -> " << r.status << " " << r.body);
  REQUIRE(r.status == 202);
  auto answer = json::parse(r.body, nullptr, /*allow_exceptions=*/false);
  REQUIRE(answer.is_object());
  CHECK(answer["actor"]["id"].get<uint64_t>() == id);
  // The answer's record says it was killed, by this endpoint, and when.
  REQUIRE(answer["actor"]["last_failure"].is_object());
  CHECK(answer["actor"]["last_failure"]["reason"] == "killed by POST " + path);
  CHECK(answer["actor"]["last_failure"]["ago_ms"].get<int64_t>() >= 0);
}

/// Waits until the connection `name` runs as an actor other than `old_id`
/// with `restarts` restarts, and `old_id` is gone; returns its entry.
json wait_for_incarnation(gateway_process& gw, const std::string& name,
                          uint64_t old_id, uint64_t restarts) {
  json seen;
  bool back = eventually([&] {
    auto actors = actor_list(gw);
    seen = find_actor(actors, "connection", name);
    return !seen.is_null() && seen["id"].get<uint64_t>() != old_id
      && seen["restarts"].get<uint64_t>() == restarts
      && seen["state"] == "running" && !lists_id(actors, old_id);
  });
  INFO("connection " << name << " (was actor " << old_id << ") last seen as "
                     << seen.dump() << "\ngateway log:\n"
                     << gw.log_tail());
  REQUIRE(back);
  return seen;
}

// --- concurrent writers -------------------------------------------------------------

struct write_failure {
  grpc::Status status;
  /// The gateway's front end answered it (it sends x-request-id before it
  /// finishes any call); false for errors of gRPC's own transport.
  bool from_gateway = false;
};

/// One client on its own connection, writing keys "w<client>-<n>".
struct writer {
  std::atomic<uint64_t> ok{0};
  std::atomic<bool> finished{false};
  // Read only after the thread has been joined.
  std::vector<std::pair<std::string, std::string>> acknowledged;
  std::vector<write_failure> failures;
  std::thread thread;
};

/// `client_count` writers on a namespace; with `stop_at_failure` each ends at
/// its first answer that is not OK, else each keeps writing until stop().
class writer_fleet {
public:
  writer_fleet(gateway_process& gw, std::string ns, bool stop_at_failure)
    : writers_(client_count) {
    for (int c = 0; c < client_count; ++c) {
      auto& w = writers_[static_cast<size_t>(c)];
      w.thread = std::thread([this, &w, c, channel = gw.channel(), ns,
                              stop_at_failure] {
        kv_client kv{channel, 10s};
        for (uint64_t n = 0; !stop_.load(); ++n) {
          auto key = "w" + std::to_string(c) + "-" + std::to_string(n);
          auto value = "value of " + key + " from client " + std::to_string(c);
          auto r = kv.set(ns, key, value);
          if (r.ok()) {
            w.acknowledged.emplace_back(std::move(key), std::move(value));
            w.ok.fetch_add(1);
            continue;
          }
          w.failures.push_back(
            {r.status, r.initial_metadata.count("x-request-id") > 0});
          if (stop_at_failure)
            break;
        }
        w.finished.store(true);
      });
    }
  }
  ~writer_fleet() { stop(); }
  writer_fleet(const writer_fleet&) = delete;
  writer_fleet& operator=(const writer_fleet&) = delete;

  /// The fewest OK writes any one writer has made so far.
  uint64_t min_ok() const {
    uint64_t least = UINT64_MAX;
    for (const auto& w : writers_)
      least = std::min(least, w.ok.load());
    return least;
  }
  /// Waits until every writer has made `n` OK writes in all.
  bool wait_for_ok(uint64_t n) {
    return eventually([&] { return min_ok() >= n; });
  }
  bool all_finished() const {
    for (const auto& w : writers_)
      if (!w.finished.load())
        return false;
    return true;
  }
  void stop() {
    stop_.store(true);
    for (auto& w : writers_)
      if (w.thread.joinable())
        w.thread.join();
  }
  const std::vector<writer>& writers() const { return writers_; }

  std::string progress() const {
    std::ostringstream out;
    for (size_t c = 0; c < writers_.size(); ++c) {
      const auto& w = writers_[c];
      out << " w" << c << ": " << w.ok.load() << " ok";
      // A finished writer's thread no longer touches its failures.
      if (w.finished.load()) {
        out << " (finished";
        if (!w.failures.empty())
          out << " after " << describe(w.failures.front().status)
              << (w.failures.front().from_gateway ? ", from the gateway"
                                                  : ", from gRPC's transport");
        out << ")";
      }
    }
    return out.str();
  }

private:
  std::atomic<bool> stop_{false};
  std::vector<writer> writers_;
};

/// Reads every acknowledged key back with Get and compares its value.
void check_acknowledged(kv_client& kv, const std::string& ns,
                        const writer_fleet& fleet) {
  size_t checked = 0;
  size_t lost = 0;
  for (const auto& w : fleet.writers()) {
    for (const auto& [key, value] : w.acknowledged) {
      auto r = kv.get(ns, key);
      ++checked;
      if (!r.ok() || !r.response.found() || r.response.value() != value) {
        if (++lost <= 5)
          FAIL_CHECK("acknowledged "
                     << key << " reads back as " << describe(r.status)
                     << " found=" << r.response.found() << " value='"
                     << r.response.value() << "'");
      }
    }
  }
  INFO(lost << " of " << checked << " acknowledged writes lost");
  CHECK(lost == 0);
  CHECK(checked >= client_count * writes_per_phase);
}

std::string sqlite_config(const std::string& backend_extra = "",
                          const std::string& server_extra = "") {
  return R"(server:
  session_idle_timeout_ms: 60000
)" + server_extra
    + R"(audit:
  path: {dir}/audit.log
backends:
  local:
    type: sqlite
    path: {dir}/prism.db
    connections: 2
    synchronous: full
)" + backend_extra
    + R"(namespaces:
  default: {backend: local}
)";
}

} // namespace

TEST_CASE(
  "Killing a connection actor while 8 clients write loses no acknowledged write",
  "[e2e][resilience]") {
  gateway_process gw{sqlite_config()};
  gw.start();
  REQUIRE(eventually([&] {
    auto actors = actor_list(gw);
    return !find_actor(actors, "connection", "local#0").is_null()
      && !find_actor(actors, "connection", "local#1").is_null();
  }));

  writer_fleet fleet{gw, "default", /*stop_at_failure=*/false};
  {
    bool started = fleet.wait_for_ok(writes_per_phase);
    INFO("writers:" << fleet.progress() << "\ngateway log:\n" << gw.log_tail());
    REQUIRE(started);
  }

  auto victim = find_actor(actor_list(gw), "connection", "local#0");
  REQUIRE(!victim.is_null());
  auto victim_id = victim["id"].get<uint64_t>();
  auto supervisor_id = victim["parent"].get<uint64_t>();
  kill_actor(gw, victim_id);

  auto back = wait_for_incarnation(gw, "local#0", victim_id,
                                   victim["restarts"].get<uint64_t>() + 1);
  // The same supervisor restarted it: the backend's circuit stayed closed.
  CHECK(back["parent"].get<uint64_t>() == supervisor_id);
  // Its record says why its predecessor ended.
  REQUIRE(back["last_failure"].is_object());
  CHECK(back["last_failure"]["reason"]
        == "killed by POST /debug/actors/" + std::to_string(victim_id)
          + "/kill");
  check_in_tree(gw, back["id"].get<uint64_t>(), supervisor_id, "local");
  CHECK(pool_state(gw, "local") == "running");

  // The writers go on through the new incarnation, then stop.
  bool went_on = fleet.wait_for_ok(fleet.min_ok() + writes_per_phase);
  fleet.stop();
  INFO("writers:" << fleet.progress() << "\ngateway log:\n" << gw.log_tail());
  REQUIRE(went_on);
  // The new incarnation took part of the work.
  {
    auto path = "/debug/actors/" + back["id"].dump();
    auto r = http_get(gw.admin_port(), path);
    INFO("GET " << path << " -> " << r.status << " " << r.body);
    REQUIRE(r.status == 200);
    auto one = json::parse(r.body, nullptr, /*allow_exceptions=*/false);
    REQUIRE(one.is_object());
    CHECK(one["actor"]["name"] == "local#0");
    CHECK(one["actor"]["handled"].get<uint64_t>() > 0);
  }

  // Only the call the killed connection held may fail (a SQLite connection
  // runs one at a time), and only with UNAVAILABLE.
  size_t unavailable = 0;
  for (const auto& w : fleet.writers())
    for (const auto& f : w.failures) {
      INFO("a write failed with " << describe(f.status));
      CHECK(f.status.error_code() == StatusCode::UNAVAILABLE);
      if (f.status.error_code() == StatusCode::UNAVAILABLE)
        ++unavailable;
    }
  CHECK(unavailable <= 1);

  kv_client kv{gw.channel()};
  check_acknowledged(kv, "default", fleet);
}

TEST_CASE("SIGTERM during load: no request in flight fails, exit code 0",
          "[e2e][resilience]") {
  gateway_process gw{sqlite_config("", "  drain_timeout_ms: 20000\n")};
  gw.start();

  writer_fleet fleet{gw, "default", /*stop_at_failure=*/true};
  {
    bool started = fleet.wait_for_ok(writes_per_phase);
    INFO("writers:" << fleet.progress() << "\ngateway log:\n" << gw.log_tail());
    REQUIRE(started);
  }
  gw.signal(SIGTERM);
  // Each writer goes on until the gateway refuses it or its connection ends.
  bool ended = eventually([&] { return fleet.all_finished(); }, 20s);
  auto status = gw.wait_for_exit(stop_timeout);
  fleet.stop();
  INFO("writers:" << fleet.progress() << "\ngateway log:\n" << gw.log_tail());
  REQUIRE(ended);
  CHECK(status.exited);
  CHECK(status.code == 0);

  size_t refused = 0;
  size_t disconnected = 0;
  for (const auto& w : fleet.writers()) {
    INFO("a writer with " << w.ok.load() << " OK writes");
    REQUIRE(w.failures.size() == 1);
    const auto& f = w.failures.front();
    INFO(
      "the write after SIGTERM failed with "
      << describe(f.status)
      << (f.from_gateway ? " (from the gateway)" : " (from gRPC's transport)"));
    CHECK(f.status.error_code() == StatusCode::UNAVAILABLE);
    CHECK_THAT(f.status.error_message(), !Catch::Contains(dropped_call));
    if (f.from_gateway) {
      // The gateway's only answer after SIGTERM that is not OK: the refusal.
      CHECK_THAT(f.status.error_message(), Catch::Contains(drain_refusal));
      ++refused;
    } else {
      ++disconnected;
    }
  }
  CHECK(refused + disconnected == client_count);
  // A call an actor dropped is logged even if its answer never got out.
  CHECK_THAT(gw.log_tail(1 << 20),
             !Catch::Contains("dropped before completion"));

  gw.start();
  kv_client kv{gw.channel()};
  check_acknowledged(kv, "default", fleet);
}

TEST_CASE("A backend that breaks opens its circuit and the gateway says so",
          "[e2e][resilience]") {
  // One restart allowed per minute: the second failure gives up. The probe
  // waits long enough for the test to see the circuit open.
  constexpr uint64_t probe_after_ms = 1500;
  gateway_process gw{sqlite_config(R"(    supervision:
      max_restarts: 1
      period_ms: 60000
      backoff: {min_ms: 10, max_ms: 100, jitter: 0.0}
    circuit:
      probe_after_ms: )" + std::to_string(probe_after_ms)
                                   + R"(
      probe_max_ms: 30000
)")};
  gw.start();
  kv_client kv{gw.channel()};
  {
    auto r = kv.set("default", "before", "the circuit opened");
    INFO(describe(r.status));
    REQUIRE(r.ok());
  }

  auto first = find_actor(actor_list(gw), "connection", "local#0");
  REQUIRE(!first.is_null());
  auto first_supervisor = first["parent"].get<uint64_t>();

  // The first failure is within the restart intensity: restarted.
  kill_actor(gw, first["id"].get<uint64_t>());
  auto second = wait_for_incarnation(gw, "local#0", first["id"].get<uint64_t>(),
                                     first["restarts"].get<uint64_t>() + 1);
  CHECK(second["parent"].get<uint64_t>() == first_supervisor);
  CHECK(pool_state(gw, "local") == "running");

  // The second exceeds it: the supervisor gives up and the circuit opens.
  kill_actor(gw, second["id"].get<uint64_t>());
  json pool;
  bool opened = eventually([&] {
    pool = find_actor(actor_list(gw), "pool", "local");
    return !pool.is_null() && pool["state"] == "failed";
  });
  {
    INFO("pool last seen as " << pool.dump() << "\ngateway log:\n"
                              << gw.log_tail());
    REQUIRE(opened);
  }
  REQUIRE(pool["last_failure"].is_object());
  CHECK_THAT(pool["last_failure"]["reason"].get<std::string>(),
             Catch::Contains("circuit open"));

  // While it is open, requests are refused at once, with a retry hint.
  auto refused = kv.set("default", "while-open", "never applied");
  {
    INFO(describe(refused.status) << "\ngateway log:\n" << gw.log_tail());
    CHECK(refused.status.error_code() == StatusCode::UNAVAILABLE);
    CHECK_THAT(refused.status.error_message(),
               Catch::Contains("circuit is open"));
    auto hint = refused.trailing_metadata.find("x-prism-retry-after-ms");
    REQUIRE(hint != refused.trailing_metadata.end());
    auto retry_after = std::stoull(hint->second);
    CHECK(retry_after > 0);
    CHECK(retry_after <= probe_after_ms);
  }
  auto refused_read = kv.get("default", "before");
  CHECK(refused_read.status.error_code() == StatusCode::UNAVAILABLE);

  // The probe starts the connections under a new supervisor (half open:
  // "restarting"); the backend is healthy, so the first request, a trial,
  // succeeds and closes the circuit.
  json third;
  bool recovered = eventually([&] {
    auto actors = actor_list(gw);
    pool = find_actor(actors, "pool", "local");
    third = find_actor(actors, "connection", "local#0");
    return !pool.is_null()
      && (pool["state"] == "running" || pool["state"] == "restarting")
      && !third.is_null()
      && third["restarts"].get<uint64_t>()
      == first["restarts"].get<uint64_t>() + 2
      && !find_actor(actors, "connection", "local#1").is_null();
  });
  {
    INFO("pool last seen as " << pool.dump() << ", connection as "
                              << third.dump() << "\ngateway log:\n"
                              << gw.log_tail());
    REQUIRE(recovered);
  }
  auto new_supervisor = third["parent"].get<uint64_t>();
  CHECK(new_supervisor != first_supervisor);
  check_in_tree(gw, third["id"].get<uint64_t>(), new_supervisor, "local");

  auto after = kv.set("default", "after", "the circuit closed");
  INFO(describe(after.status));
  CHECK(after.ok());
  CHECK(find_actor(actor_list(gw), "pool", "local")["state"] == "running");
  auto before = kv.get("default", "before");
  REQUIRE(before.ok());
  CHECK(before.response.value() == "the circuit opened");
  auto never = kv.get("default", "while-open");
  REQUIRE(never.ok());
  CHECK_FALSE(never.response.found());
}
