#pragma once

// Where a call has been on its way through the pipeline: each actor that
// took it notes the time (on the actor clock) as it starts on it. The slow
// log turns the notes into time per hop. A fixed array on the call, written
// by one actor at a time: no allocation, no lock.

#include <array>
#include <cstdint>

#include <caf/actor_clock.hpp>

namespace prism {

enum class hop_kind : uint8_t {
  /// A middleware stage took it (`detail`: its config::stage_kind).
  stage,
  router,
  /// Its backend's pool took it (it may wait there for a connection).
  pool,
  /// A connection took it from the pool and handed it to the driver.
  connection,
  /// The driver answered the connection.
  backend,
};

struct call_hop {
  hop_kind kind = hop_kind::stage;
  uint8_t detail = 0;
  /// The id of the actor that took it (a follow names it).
  uint64_t actor = 0;
  caf::actor_clock::time_point at;
};

class call_hops {
public:
  /// A call's path has a session, a few stages, the router, a pool and a
  /// connection; a hop past this many is counted, not kept.
  static constexpr size_t hops_max = 12;

  void add(hop_kind kind, uint64_t actor, caf::actor_clock::time_point at,
           uint8_t detail = 0) noexcept {
    if (count_ < hops_max)
      hops_[count_++] = call_hop{kind, detail, actor, at};
    else if (dropped_ < UINT8_MAX)
      ++dropped_;
  }

  const call_hop* begin() const noexcept { return hops_.data(); }
  const call_hop* end() const noexcept { return hops_.data() + count_; }
  size_t size() const noexcept { return count_; }
  size_t dropped() const noexcept { return dropped_; }

private:
  std::array<call_hop, hops_max> hops_{};
  uint8_t count_ = 0;
  uint8_t dropped_ = 0;
};

} // namespace prism
