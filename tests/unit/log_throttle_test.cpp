// The throttle of warnings a client can cause at will.

#include <catch2/catch.hpp>

#include <chrono>

#include "logging/throttle.hpp"

using prism::logging::log_throttle;
using namespace std::chrono_literals;

TEST_CASE("log_throttle: one event per interval, and a count of the rest") {
  log_throttle throttle{60s};
  const log_throttle::clock::time_point t0{1h};
  uint64_t held = 99;
  REQUIRE(throttle.admit(t0, held));
  CHECK(held == 0);
  for (int i = 0; i < 199; ++i)
    CHECK_FALSE(throttle.admit(t0 + 1ms * i, held));
  CHECK_FALSE(throttle.admit(t0 + 59s, held));
  REQUIRE(throttle.admit(t0 + 60s, held));
  CHECK(held == 200);
  // A quiet interval: the next one goes through with nothing held back.
  REQUIRE(throttle.admit(t0 + 10min, held));
  CHECK(held == 0);
}
