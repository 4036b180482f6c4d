// How a call's gRPC deadline lands on the actor clock.

#include <catch2/catch.hpp>

#include <chrono>

#include <grpc/support/time.h>

#include "frontend/request_metadata.hpp"

using prism::frontend::actor_deadline;
using namespace std::chrono_literals;

TEST_CASE("actor_deadline: a deadline the actor clock can hold is kept, one "
          "past it is none") {
  const caf::actor_clock::time_point now{caf::timespan{3600s}};
  const auto latest = caf::actor_clock::time_point::max();
  CHECK(actor_deadline(now, 250ms) == now + 250ms);
  CHECK(actor_deadline(now, caf::timespan::zero()) == now);
  // Already passed: stays in the past, so the call is refused as expired.
  CHECK(actor_deadline(now, -5s) == now - 5s);
  // 200 years fit; gRPC's largest timeout (99999999 hours) and one that
  // ends just past the clock's range do not, and mean no deadline rather
  // than one in the past.
  const caf::timespan years_200 = 200 * 8766h;
  CHECK(actor_deadline(now, years_200) == now + years_200);
  CHECK(actor_deadline(now, latest - now) == latest);
  CHECK(actor_deadline(now, caf::timespan::max()) == latest);
  CHECK(actor_deadline(now, latest - now + 1ns) == latest);
}

TEST_CASE("call_deadline: gRPC's deadline on the actor clock, however far "
          "ahead or behind") {
  using prism::frontend::call_deadline;
  const auto now = caf::actor_clock::clock_type::now();
  const auto latest = caf::actor_clock::time_point::max();
  CHECK(call_deadline(gpr_inf_future(GPR_CLOCK_MONOTONIC), now) == latest);
  CHECK(call_deadline(gpr_inf_future(GPR_CLOCK_REALTIME), now) == latest);
  auto in_5s = gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC),
                            gpr_time_from_seconds(5, GPR_TIMESPAN));
  auto deadline = call_deadline(in_5s, now);
  CHECK(deadline > now);
  CHECK(deadline <= now + 5s);
  // Long gone (gRPC's own "infinitely past", or further back than the
  // clock's time span holds): expired, and still a time point whose
  // distance to now can be computed.
  for (auto past :
       {gpr_inf_past(GPR_CLOCK_MONOTONIC), gpr_inf_past(GPR_CLOCK_REALTIME),
        gpr_timespec{-9'446'689'358, 0, GPR_CLOCK_MONOTONIC}}) {
    auto d = call_deadline(past, now);
    CHECK(d < now);
    CHECK(now - d <= 200 * 8784h);
  }
}
