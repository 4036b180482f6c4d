// The rate-limit stage in the whole actor tree on virtual time: a
// namespace's bucket and each principal's, refill, the retry hint, and
// namespaces without a limit untouched.

#include <string>

#include <catch2/catch.hpp>

#include "simulation/deterministic_gateway.hpp"

using namespace prism;
using prism::simulation::deterministic_gateway;
using prism::simulation::parse_config;

namespace {

const char* limited_config = R"(
backends:
  mem: {type: memory}
namespaces:
  cache: {backend: mem, rate_limit: {rate: 10, burst: 5}}
  shared:
    backend: mem
    rate_limit: {rate: 100, burst: 100, per_principal: {rate: 2, burst: 2}}
  free: {backend: mem}
)";

/// Submits `n` Gets at the current virtual time; returns how many were
/// refused, and checks each refusal's retry hint against `retry_ms`.
int burst_of_gets(deterministic_gateway& g, const std::string& ns, int n,
                  uint32_t retry_ms, const std::string& principal = {}) {
  static int next = 0;
  std::vector<std::string> ids;
  for (int i = 0; i < n; ++i) {
    ids.push_back("q" + std::to_string(++next));
    g.submit(ids.back(), ns, model::get_op{"k"}, {}, "client-1", principal);
  }
  g.run();
  int refused = 0;
  for (auto& id : ids) {
    auto* out = g.answer_of(id);
    REQUIRE(out);
    if (out->status.code == status_code::resource_exhausted) {
      ++refused;
      CHECK(out->status.retry_after_ms == retry_ms);
      CHECK_THAT(out->status.message, Catch::Contains("rate limit"));
    } else {
      CHECK(out->status.ok());
    }
  }
  return refused;
}

} // namespace

TEST_CASE("rate limit: a namespace takes its burst at once, then its rate, "
          "refusals say when the next token comes") {
  deterministic_gateway g{parse_config(limited_config)};
  CHECK(burst_of_gets(g, "cache", 8, 100) == 3); // burst 5; a token per 100 ms
  g.advance_ms(100);
  CHECK(burst_of_gets(g, "cache", 2, 100) == 1);
  g.advance_ms(250); // 2.5 tokens
  CHECK(burst_of_gets(g, "cache", 3, 50) == 1);
  g.advance_ms(10000); // refills to the burst, not beyond
  CHECK(burst_of_gets(g, "cache", 6, 100) == 1);
  // A namespace without a limit is never refused.
  CHECK(burst_of_gets(g, "free", 50, 0) == 0);
}

TEST_CASE("rate limit: each principal has its own bucket within the "
          "namespace's") {
  deterministic_gateway g{parse_config(limited_config)};
  CHECK(burst_of_gets(g, "shared", 3, 500, "alice") == 1);
  CHECK(burst_of_gets(g, "shared", 3, 500, "bob") == 1); // alice's use is hers
  g.advance_ms(500);
  CHECK(burst_of_gets(g, "shared", 2, 500, "alice") == 1);
  // The stage's refusals show in the inspector and in its counters.
  uint64_t rejected = 0;
  for (auto& a : g.actors().snapshot(g.system().clock().now()))
    if (a.kind == "stage" && a.name == "rate_limit")
      rejected = a.rejected;
  CHECK(rejected == 3);
  CHECK_THAT(
    g.metrics_text(),
    Catch::Contains("prism_rate_limited_total{namespace=\"shared\"} 3"));
}

TEST_CASE("rate limit: a reload tightens a limit at once, loosens one without "
          "a free burst, and adds and removes limits") {
  deterministic_gateway g{parse_config(limited_config)};
  CHECK(burst_of_gets(g, "cache", 2, 100) == 0); // 3 of the burst of 5 left
  auto reloaded = parse_config(R"(
backends:
  mem: {type: memory}
namespaces:
  cache: {backend: mem, rate_limit: {rate: 1, burst: 1}}
  shared: {backend: mem}
  free: {backend: mem, rate_limit: {rate: 10, burst: 2}}
)");
  REQUIRE(g.gw().reload(reloaded).empty());
  g.run();
  // The bucket keeps its tokens up to the new burst: one call passes.
  CHECK(burst_of_gets(g, "cache", 3, 1000) == 2);
  // The limit that was removed no longer refuses; the one added does.
  CHECK(burst_of_gets(g, "shared", 20, 0, "alice") == 0);
  CHECK(burst_of_gets(g, "free", 3, 100) == 1);

  // Loosened again: the empty bucket fills at the new rate, not at once.
  REQUIRE(g.gw().reload(parse_config(limited_config)).empty());
  g.run();
  CHECK(burst_of_gets(g, "cache", 1, 100) == 1);
  g.advance_ms(200);
  CHECK(burst_of_gets(g, "cache", 3, 100) == 1);
}
