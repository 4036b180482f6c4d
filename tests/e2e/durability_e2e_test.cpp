// What the gateway acknowledged on a SQLite namespace (synchronous: full)
// survives `kill -9` and a restart on the same config and data directory.

#include <algorithm>
#include <atomic>
#include <csignal>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

#include "gateway_process.hpp"

using namespace prism::test;
using namespace std::chrono_literals;

namespace {

struct acknowledged {
  std::string value;
  uint64_t version = 0;
};

/// Reads every key back and compares it with what was acknowledged;
/// `deleted` keys must be absent.
void check_survivors(kv_client& kv, const std::string& ns,
                     const std::map<std::string, acknowledged>& written,
                     const std::vector<std::string>& deleted) {
  std::vector<std::string> keys;
  for (const auto& [key, ack] : written)
    keys.push_back(key);
  size_t lost = 0;
  for (size_t from = 0; from < keys.size(); from += 500) {
    std::vector<std::string> chunk(
      keys.begin() + from, keys.begin() + std::min(keys.size(), from + 500));
    auto read = kv.batch_get(ns, chunk);
    INFO("BatchGet -> " << describe(read.status));
    REQUIRE(read.ok());
    REQUIRE(read.response.items_size() == static_cast<int>(chunk.size()));
    for (const auto& item : read.response.items()) {
      const auto& ack = written.at(item.key());
      if (!item.found() || item.value() != ack.value
          || item.version() != ack.version) {
        if (++lost <= 5)
          FAIL_CHECK(item.key() << " after restart: found=" << item.found()
                                << " value='" << item.value() << "' version="
                                << item.version() << "; acknowledged '"
                                << ack.value << "' version " << ack.version);
      }
    }
  }
  CHECK(lost == 0);
  if (!deleted.empty()) {
    auto read = kv.batch_get(ns, deleted);
    REQUIRE(read.ok());
    for (const auto& item : read.response.items()) {
      INFO("deleted key " << item.key());
      CHECK_FALSE(item.found());
    }
  }
}

} // namespace

TEST_CASE("Acknowledged writes to SQLite survive kill -9",
          "[e2e][durability]") {
  gateway_process gateway;
  gateway.start();
  std::map<std::string, acknowledged> written;
  std::vector<std::string> deleted;
  {
    kv_client kv(gateway.channel());
    for (int i = 0; i < 300; ++i) {
      std::string key = "durable/" + std::to_string(i);
      std::string value = "value " + std::to_string(i)
        + std::string(static_cast<size_t>(i % 7) * 100, 'x');
      auto r = kv.set("default", key, value);
      INFO(key << " -> " << describe(r.status));
      REQUIRE(r.ok());
      written[key] = {value, r.response.version()};
    }
    // Overwrites, deletes and a batch, all acknowledged before the kill.
    for (int i = 0; i < 300; i += 10) {
      std::string key = "durable/" + std::to_string(i);
      auto r = kv.set("default", key, "overwritten " + std::to_string(i));
      REQUIRE(r.ok());
      written[key] = {"overwritten " + std::to_string(i), r.response.version()};
    }
    for (int i = 5; i < 300; i += 50) {
      std::string key = "durable/" + std::to_string(i);
      auto r = kv.del("default", key);
      REQUIRE(r.ok());
      REQUIRE(r.response.existed());
      written.erase(key);
      deleted.push_back(key);
    }
    std::vector<prism::v1::Entry> entries;
    for (int i = 0; i < 50; ++i)
      entries.push_back(make_entry("durable/batch/" + std::to_string(i),
                                   "batch " + std::to_string(i)));
    auto batch = kv.batch_set("default", entries);
    REQUIRE(batch.ok());
    REQUIRE(batch.response.versions_size() == 50);
    for (int i = 0; i < 50; ++i)
      written["durable/batch/" + std::to_string(i)]
        = {"batch " + std::to_string(i), batch.response.versions(i)};
    auto last
      = kv.set("default", "durable/last", "the last acknowledged write");
    REQUIRE(last.ok());
    written["durable/last"]
      = {"the last acknowledged write", last.response.version()};
  }
  auto ended = gateway.kill9();
  REQUIRE(ended.signal == SIGKILL);

  gateway.start();
  kv_client kv(gateway.channel());
  check_survivors(kv, "default", written, deleted);

  // Versions carry on from where they were: a new write gets a larger one.
  auto next = kv.set("default", "durable/last", "after restart");
  REQUIRE(next.ok());
  CHECK(next.response.version() > written["durable/last"].version);
}

TEST_CASE("Writes acknowledged while kill -9 hits a busy gateway survive",
          "[e2e][durability]") {
  constexpr int writer_count = 4;
  constexpr int writes_before_kill = 400;
  constexpr int writes_per_writer_max = 5000;

  gateway_process gateway;
  gateway.start();

  std::atomic<int> acknowledged_count{0};
  std::atomic<bool> killed{false};
  std::vector<std::map<std::string, acknowledged>> acks(writer_count);
  std::vector<std::thread> writers;
  for (int w = 0; w < writer_count; ++w) {
    writers.emplace_back([&, w] {
      kv_client kv(gateway.channel(), 5s);
      for (int i = 0; i < writes_per_writer_max && !killed.load(); ++i) {
        std::string key = "busy/" + std::to_string(w) + "/" + std::to_string(i);
        std::string value
          = "writer " + std::to_string(w) + " value " + std::to_string(i);
        auto r = kv.set("default", key, value);
        if (!r.ok())
          break; // the gateway is gone; what it acknowledged is recorded
        acks[w][key] = {value, r.response.version()};
        acknowledged_count.fetch_add(1);
      }
    });
  }

  // Kill while the writers are still sending.
  auto deadline = std::chrono::steady_clock::now() + 30s;
  while (acknowledged_count.load() < writes_before_kill
         && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(2ms);
  REQUIRE(acknowledged_count.load() >= writes_before_kill);
  auto ended = gateway.kill9();
  killed = true;
  for (auto& t : writers)
    t.join();
  REQUIRE(ended.signal == SIGKILL);

  std::map<std::string, acknowledged> written;
  for (const auto& a : acks)
    written.insert(a.begin(), a.end());
  INFO(written.size() << " writes acknowledged before the kill");

  gateway.start();
  kv_client kv(gateway.channel());
  check_survivors(kv, "default", written, {});
}

TEST_CASE("SIGTERM stops the gateway with exit code 0 and keeps the data",
          "[e2e][durability]") {
  gateway_process gateway;
  gateway.start();
  uint64_t version = 0;
  {
    kv_client kv(gateway.channel());
    auto r = kv.set("default", "term/key", "kept across a clean stop");
    REQUIRE(r.ok());
    version = r.response.version();
  }
  auto ended = gateway.stop();
  INFO("log:\n" << gateway.log_tail());
  CHECK(ended.exited);
  CHECK(ended.code == 0);

  gateway.start();
  kv_client kv(gateway.channel());
  auto got = kv.get("default", "term/key");
  REQUIRE(got.ok());
  CHECK(got.response.found());
  CHECK(got.response.value() == "kept across a clean stop");
  CHECK(got.response.version() == version);
}
