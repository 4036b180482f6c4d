// Config reload against the real binary: SIGHUP and POST /admin/reload add a
// namespace, remove one (and a pubsub one with a stream open), tighten a
// rate limit and revoke a principal while eight clients keep writing, and
// none of their calls fails; a config with
// problems, or one that changes what only a restart can change, is refused
// with the reasons while the old one keeps serving.

#include <atomic>
#include <chrono>
#include <csignal>
#include <string>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "admin_view.hpp"
#include "gateway_process.hpp"
#include "pubsub_client.hpp"

using namespace prism::test;
using namespace std::chrono_literals;

namespace {

// Tokens and their SHA-256 (printf %s TOKEN | sha256sum).
const std::string writer_token = "writer-token";
const std::string victim_token = "reader-token";
const std::string root_token = "admin-token";
const char* writer_hash
  = "3590c0a59f72ce02700194a05f228a725c1f135a6dcb3ded9b2d86ab6a6f52cb";
const char* victim_hash
  = "ba5005a40cf5212e4ac0190104cc127edab013294bb71279a975b27a80982d45";
const char* root_hash
  = "10a4c7c9fc5206d6f36dc6944a81bb6f4a3cb0e25014ae3b12e6c3e52712292a";

/// A config whose auth knows `tokens` (YAML lines "name: hash") and whose
/// namespaces are `namespaces` (YAML lines), on one memory backend.
std::string config_with(const std::string& dir, const std::string& tokens,
                        const std::string& namespaces) {
  return std::string{R"(
server:
  listen: 127.0.0.1:0
  admin: 127.0.0.1:0
audit:
  path: )"}
  + dir + R"(/audit.log
auth:
  mode: token
  tokens:
)" + tokens
    + R"(  admins: [root]
backends:
  mem: {type: memory}
namespaces:
)" + namespaces;
}

/// Before the reload: `work` for the clients, `limited` with a loose rate
/// limit, `retired` and the pubsub `old-events` to be removed, `events` to
/// stay, and the principal `victim` to be revoked.
std::string before(const std::string& dir) {
  return config_with(
    dir,
    std::string{"    writer: "} + writer_hash + "\n    victim: " + victim_hash
      + "\n    root: " + root_hash + "\n",
    R"(  work: {backend: mem, access: {write: [writer, victim]}}
  limited: {backend: mem, access: {write: [writer]}, rate_limit: {rate: 10000, burst: 10000}}
  retired: {backend: mem, access: {write: [writer]}}
  events: {backend: mem, pattern: pubsub, access: {write: [writer]}}
  old-events: {backend: mem, pattern: pubsub, access: {write: [writer]}}
)");
}

/// After: `fresh` added, `retired` and `old-events` removed, `limited` down
/// to about one call per minute, `victim` gone.
std::string after(const std::string& dir) {
  return config_with(dir,
                     std::string{"    writer: "} + writer_hash
                       + "\n    root: " + root_hash + "\n",
                     R"(  work: {backend: mem, access: {write: [writer]}}
  limited: {backend: mem, access: {write: [writer]}, rate_limit: {rate: 0.016, burst: 1}}
  fresh: {backend: mem, access: {write: [writer]}}
  events: {backend: mem, pattern: pubsub, access: {write: [writer]}}
)");
}

/// Eight clients writing and reading back `work` until stopped; every call
/// must succeed. No Catch2 macro runs on their threads.
class client_fleet {
public:
  explicit client_fleet(const gateway_process& gw) {
    for (int i = 0; i < 8; ++i)
      threads_.emplace_back([this, &gw, i] { run(gw, i); });
  }
  ~client_fleet() { stop(); }

  void stop() {
    stopping_ = true;
    for (auto& t : threads_)
      if (t.joinable())
        t.join();
  }

  uint64_t calls() const { return calls_; }
  uint64_t failures() const { return failures_; }
  std::string first_failure() const {
    std::lock_guard<std::mutex> guard{mutex_};
    return first_failure_;
  }

private:
  void run(const gateway_process& gw, int id) {
    kv_client kv{gw.channel(), 10s};
    kv.set_token(writer_token);
    for (uint64_t n = 0; !stopping_; ++n) {
      std::string key = "c" + std::to_string(id) + "-" + std::to_string(n % 64);
      auto set = kv.set("work", key, std::to_string(n));
      note(set.status, "Set " + key);
      auto got = kv.get("work", key);
      note(got.status, "Get " + key);
      if (got.ok() && got.response.value() != std::to_string(n))
        note(grpc::Status(grpc::StatusCode::DATA_LOSS,
                          "read back " + got.response.value()),
             "Get " + key);
    }
  }

  void note(const grpc::Status& st, const std::string& what) {
    ++calls_;
    if (st.ok())
      return;
    if (failures_++ == 0) {
      std::lock_guard<std::mutex> guard{mutex_};
      first_failure_ = what + ": " + std::to_string(st.error_code()) + " "
        + st.error_message();
    }
  }

  std::vector<std::thread> threads_;
  std::atomic<bool> stopping_{false};
  std::atomic<uint64_t> calls_{0};
  std::atomic<uint64_t> failures_{0};
  mutable std::mutex mutex_;
  std::string first_failure_;
};

http_response reload(const gateway_process& gw, const std::string& token) {
  return http_request(gw.admin_port(), "POST", "/admin/reload", "", 15s,
                      {{"Authorization", "Bearer " + token}});
}

} // namespace

TEST_CASE("reload: a namespace added and one removed, a rate limit tightened "
          "and a principal revoked while 8 clients write, none of whose calls "
          "fails",
          "[e2e][reload]") {
  gateway_process gw{before("{dir}")};
  gw.start();
  kv_client writer{gw.channel()};
  writer.set_token(writer_token);
  kv_client victim{gw.channel()};
  victim.set_token(victim_token);
  REQUIRE(victim.set("work", "v", "1").ok());
  REQUIRE(writer.set("retired", "k", "1").ok());
  CHECK(writer.set("fresh", "k", "1").status.error_code()
        == grpc::StatusCode::NOT_FOUND);

  // One stream on the pubsub namespace that goes, one on the one that stays.
  subscriber leaving{gw,  "old-events", "t", {}, prism::v1::LATEST,
                     60s, writer_token};
  subscriber staying{gw,  "events",    "t", {}, prism::v1::LATEST,
                     60s, writer_token};

  client_fleet fleet{gw};
  REQUIRE(eventually([&] { return fleet.calls() > 200; }, 20s));

  SECTION("by SIGHUP") {
    write_file(gw.config_path(), after(gw.dir()));
    gw.signal(SIGHUP);
    // The signal is handled on the gateway's own time: wait for its effect.
    REQUIRE(
      eventually([&] { return writer.set("fresh", "k", "1").ok(); }, 10s));
  }
  SECTION("by POST /admin/reload, with an admin's token") {
    write_file(gw.config_path(), after(gw.dir()));
    CHECK(reload(gw, writer_token).status == 403);
    auto answer = reload(gw, root_token);
    INFO(answer.body);
    REQUIRE(answer.status == 200);
    CHECK(nlohmann::json::parse(answer.body).at("reloaded") == true);
    // Applied when the answer comes.
    CHECK(writer.set("fresh", "k", "1").ok());
  }

  // The revoked principal is unknown now; the removed namespace is gone.
  CHECK(victim.get("work", "v").status.error_code()
        == grpc::StatusCode::UNAUTHENTICATED);
  CHECK(writer.get("retired", "k").status.error_code()
        == grpc::StatusCode::NOT_FOUND);
  // The stream of the removed pubsub namespace ended, saying why; the other
  // one still delivers.
  std::vector<prism::v1::Message> left;
  auto ended = leaving.drain(left);
  CHECK(ended.error_code() == grpc::StatusCode::NOT_FOUND);
  CHECK_THAT(ended.error_message(), Catch::Contains("\"old-events\""));
  CHECK(left.empty());
  auto stub = pubsub_stub(gw);
  std::string id;
  auto published = try_publish(*stub, "events", "t", "after the reload", {}, id,
                               10s, writer_token);
  INFO(published.error_message());
  REQUIRE(published.ok());
  auto got = staying.read(1);
  CHECK(got.at(0).payload() == "after the reload");
  // One call per minute now: of three calls in a row at most one passes,
  // and a refusal says when to come back.
  int refused = 0;
  for (int i = 0; i < 3; ++i) {
    auto r = writer.set("limited", "k", "1");
    if (r.status.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED) {
      ++refused;
      CHECK(r.trailing_metadata.count("x-prism-retry-after-ms") == 1);
    }
  }
  CHECK(refused >= 2);

  auto seen = fleet.calls();
  REQUIRE(eventually([&] { return fleet.calls() > seen + 200; }, 20s));
  fleet.stop();
  INFO("first failure: " << fleet.first_failure());
  CHECK(fleet.failures() == 0);
  CHECK(fleet.calls() > 400);
  CHECK_THAT(gw.log_tail(20000), Catch::Contains("config reloaded"));
}

TEST_CASE("reload: a config with problems, or one that needs a restart, is "
          "refused with the reasons and the old one keeps serving",
          "[e2e][reload]") {
  gateway_process gw{before("{dir}")};
  gw.start();
  kv_client writer{gw.channel()};
  writer.set_token(writer_token);
  REQUIRE(writer.set("work", "k", "1").ok());

  SECTION("problems are those of prism check, with their lines") {
    write_file(gw.config_path(),
               before(gw.dir()) + "  broken: {backend: nowhere}\n");
    auto answer = reload(gw, root_token);
    INFO(answer.body);
    REQUIRE(answer.status == 422);
    auto body = nlohmann::json::parse(answer.body);
    CHECK(body.at("reloaded") == false);
    REQUIRE(body.at("problems").size() == 1);
    CHECK_THAT(body.at("problems")[0].get<std::string>(),
               Catch::Contains("namespaces.broken.backend")
                 && Catch::Contains("nowhere")
                 && Catch::Contains("prism.yaml:"));
    // The same by SIGHUP: logged, nothing changes.
    gw.signal(SIGHUP);
    REQUIRE(eventually(
      [&] {
        return gw.log_tail(20000).find("config reload refused")
          != std::string::npos;
      },
      10s));
  }
  SECTION("settings built into the running gateway need a restart") {
    std::string yaml = before(gw.dir());
    yaml.replace(
      yaml.find("mem: {type: memory}"), 19,
      "mem: {type: memory, max_pending: 7}\n  disk: {type: sqlite, path: "
        + gw.dir() + "/x.db}");
    yaml += "  ondisk: {backend: disk, access: {write: [writer]}}\n";
    write_file(gw.config_path(), yaml);
    auto answer = reload(gw, root_token);
    INFO(answer.body);
    REQUIRE(answer.status == 422);
    auto problems = nlohmann::json::parse(answer.body).at("problems").dump();
    CHECK_THAT(problems,
               Catch::Contains("backends.mem changed; restart the gateway"));
    CHECK_THAT(
      problems,
      Catch::Contains("namespace \\\"ondisk\\\" needs backend \\\"disk\\\""));
  }
  // Nothing of the refused configs applies.
  CHECK(writer.set("work", "k", "2").ok());
  CHECK(writer.set("ondisk", "k", "1").status.error_code()
        == grpc::StatusCode::NOT_FOUND);
  kv_client victim{gw.channel()};
  victim.set_token(victim_token);
  CHECK(victim.set("work", "v", "1").ok());
}
