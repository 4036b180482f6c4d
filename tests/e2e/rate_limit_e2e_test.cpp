// A namespace's rate limit against the real binary: over the limit, the
// call is RESOURCE_EXHAUSTED with the retry hint in trailing metadata.

#include <string>

#include <catch2/catch.hpp>

#include "gateway_process.hpp"

using namespace prism::test;

TEST_CASE("rate limit: over its limit a namespace answers RESOURCE_EXHAUSTED "
          "with x-prism-retry-after-ms",
          "[e2e][rate_limit]") {
  gateway_process gw{R"(
audit:
  path: {dir}/audit.log
backends:
  mem: {type: memory}
namespaces:
  slow: {backend: mem, rate_limit: {rate: 0.5, burst: 1}}
  fast: {backend: mem}
)"};
  gw.start();
  kv_client kv{gw.channel()};
  REQUIRE(kv.set("slow", "k", "v").ok());
  auto refused = kv.get("slow", "k");
  REQUIRE(refused.status.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED);
  CHECK_THAT(refused.status.error_message(),
             Catch::Contains("rate limit of namespace \"slow\""));
  auto hint = refused.trailing_metadata.find("x-prism-retry-after-ms");
  REQUIRE(hint != refused.trailing_metadata.end());
  auto ms = std::stoi(hint->second);
  CHECK(ms > 0);
  CHECK(ms <= 2000);
  CHECK(kv.get("fast", "k").ok());
}
