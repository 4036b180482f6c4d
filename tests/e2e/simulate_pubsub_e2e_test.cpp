// `prism simulate` on PubSub scenarios from the outside: a shipped one
// passes, its history.jsonl carries the publishes and deliveries in
// Jepsen's invoke/ok form, replay reproduces it, and `list` shows the
// PubSub fault kinds and oracles.

#include <sstream>
#include <string>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "gateway_process.hpp"

using namespace prism::test;

namespace {

std::string shipped(const std::string& name) {
  return std::string(PRISM_SOURCE_DIR) + "/simulations/" + name;
}

std::string describe(const command_result& r) {
  return "status " + r.status.describe() + "\nstdout:\n" + r.out + "\nstderr:\n"
    + r.err;
}

} // namespace

TEST_CASE("a shipped pubsub scenario passes, records its deliveries and "
          "replays") {
  temp_dir dir;
  auto out = dir.path() + "/run";
  auto r = run_prism(
    {"simulate", shipped("pubsub-outage.yaml"), "--seed", "4", "--out", out},
    std::chrono::seconds(60));
  INFO(describe(r));
  REQUIRE(r.status.exited);
  CHECK(r.status.code == 0);
  CHECK_THAT(r.out, Catch::Contains("no_lost_publish    held"));
  // Every line of the history parses, and a delivery is an invoke and an
  // ok line of f "deliver".
  std::istringstream history(read_file(out + "/history.jsonl"));
  std::string line;
  int invokes = 0;
  int oks = 0;
  int publishes = 0;
  while (std::getline(history, line)) {
    auto j = nlohmann::json::parse(line);
    if (j["f"] == "deliver")
      (j["type"] == "invoke" ? invokes : oks) += 1;
    if (j["f"] == "publish" && j["type"] == "ok")
      ++publishes;
  }
  CHECK(publishes > 0);
  CHECK(oks > 0);
  CHECK(invokes == oks);
  CHECK_THAT(read_file(out + "/report.html"),
             Catch::Contains("Publishes and deliveries over virtual time"));
  auto replay
    = run_prism({"simulate", "replay", out}, std::chrono::seconds(60));
  INFO(describe(replay));
  CHECK(replay.status.code == 0);
}

TEST_CASE("list shows the pubsub scenarios, fault kinds and oracles") {
  auto r = run_prism({"simulate", "list", "--dir",
                      std::string(PRISM_SOURCE_DIR) + "/simulations"});
  INFO(describe(r));
  CHECK(r.status.code == 0);
  for (auto text :
       {"pubsub-outage.yaml", "pubsub-slow-subscriber.yaml",
        "pubsub-nats-core.yaml", "slow_subscriber", "broker_duplicate",
        "no_lost_publish", "pubsub_order", "pubsub_duplicates"})
    CHECK_THAT(r.out, Catch::Contains(text));
  CHECK_THAT(r.out, !Catch::Contains("INVALID"));
}
