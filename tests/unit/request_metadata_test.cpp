// How a call's gRPC deadline lands on the actor clock.

#include <catch2/catch.hpp>

#include <chrono>

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
