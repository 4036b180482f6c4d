#pragma once

// Message taps: for a while, the messages some actors handle, each with its
// handler's time, in a bounded ring a reader polls (GET /debug/trace/{tap}).
//
// A tap names its actors by a target: an id (that actor only), a
// `kind:name` label, or a bare word (every actor whose kind or name it is).
// A tap on a label or a word also takes actors that register under it
// while it runs: a supervisor's restart of a killed actor shows up in it.
//
// Cost on the call path: the handler guard (`handling`, inspector.hpp)
// loads its record's tap count (one relaxed atomic) and does nothing more
// while the actor is not tapped. A tapped actor's guard describes the
// message (CAF's text of it, cut at message_bytes_max) and hands it to each
// of its taps, whose lock is held only to put it in the ring.
//
// Every tap is bounded: it stops after events_max events or after its
// duration, whichever comes first, and says which; a ring of
// ring_events_max keeps its latest events (the ones overwritten before a
// reader saw them are counted as dropped). At most taps_max run at once; a
// stopped tap is kept for kept_after_stop, then forgotten.

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <caf/actor_clock.hpp>

#include "runtime/actor_record.hpp"

namespace prism {

/// Why a tap stopped.
enum class tap_stop : uint8_t {
  /// It still runs.
  none,
  /// It took its maximum of events.
  max,
  /// Its duration passed.
  time,
  /// A reader stopped it.
  cancelled,
  /// Every actor it watched ended (and, for a label or a word, no successor
  /// registered within tap_board::successor_wait).
  actors_ended,
};

/// "max", "time", "cancelled", "actors_ended"; "" for none.
std::string_view to_string(tap_stop stop) noexcept;

/// Which actors a tap watches.
struct tap_target {
  enum class by : uint8_t { id, label, word };
  by kind = by::word;
  uint64_t id = 0;
  /// The label's or word's text; for an id, its digits.
  std::string text;

  /// An id when `text` is all digits, a label when it has a ':', else a
  /// word. Nullopt when it is empty.
  static std::optional<tap_target> parse(std::string_view text);
  bool matches(const actor_record& record) const;
};

/// One message an actor handled while tapped.
struct tap_event {
  /// From 1, in the order the tap took them.
  uint64_t seq = 0;
  /// When the handler started, on the actor clock.
  caf::actor_clock::time_point at;
  uint64_t actor = 0;
  /// "kind:name".
  std::string label;
  /// CAF's text of the message, at most tap_board::message_bytes_max bytes.
  std::string message;
  int64_t handler_us = 0;
};

/// A tap as a reader sees it.
struct tap_view {
  uint64_t tap = 0;
  std::string target;
  /// Every actor the tap has watched, in the order it took them.
  std::vector<uint64_t> actors;
  uint64_t events_max = 0;
  std::chrono::milliseconds duration{0};
  tap_stop stopped_by = tap_stop::none;
  /// The events after the reader's `after`, oldest first.
  std::vector<tap_event> events;
  /// Events overwritten in the ring before any reader was handed them.
  uint64_t dropped = 0;
};

namespace detail {

/// What the handler guard notes at the start of a tapped actor's handler.
struct tap_note {
  caf::actor_clock::time_point at;
  std::string message;
};

/// The text of the message `record`'s actor handles now and the time on
/// its clock; the guard calls it on the actor's own thread. Null when
/// there is no memory for it.
tap_note* begin_tapped(const actor_record& record) noexcept;
/// Hands the noted message to the record's taps and deletes `note`.
void end_tapped(actor_record& record, tap_note* note,
                std::chrono::nanoseconds handler_time) noexcept;

} // namespace detail

/// The taps of one inspector. Thread-safe.
class tap_board {
public:
  using time_point = caf::actor_clock::time_point;

  /// Taps running at once.
  static constexpr size_t taps_max = 4;
  /// Stopped taps kept for their readers at once (the oldest goes first).
  static constexpr size_t stopped_kept_max = 16;
  /// The most events one tap takes.
  static constexpr uint64_t events_max = 10000;
  /// The longest a tap runs.
  static constexpr std::chrono::milliseconds duration_max{600000};
  /// Events a tap's ring holds.
  static constexpr size_t ring_events_max = 1024;
  /// How long a stopped tap is kept for its reader.
  static constexpr std::chrono::milliseconds kept_after_stop{60000};
  /// How long a tap on a label or word whose actors all ended waits for a
  /// successor (a supervisor's restart backs off up to 10 s by default).
  static constexpr std::chrono::milliseconds successor_wait{15000};
  /// A message's text is cut at this many bytes.
  static constexpr size_t message_bytes_max = 200;

  tap_board();
  ~tap_board();
  tap_board(const tap_board&) = delete;
  tap_board& operator=(const tap_board&) = delete;

  enum class refusal : uint8_t { none, too_many, no_actor };

  struct start_result {
    refusal refused = refusal::none;
    /// The new tap, when not refused.
    tap_view tap;
  };

  /// Starts a tap on `actors` (those `target` matches now), at most
  /// `events_max` events for at most `duration` from `now`. Limits are the
  /// caller's to check (events_max, duration_max).
  start_result start(const tap_target& target,
                     const std::vector<actor_record_ptr>& actors,
                     uint64_t events_max, std::chrono::milliseconds duration,
                     time_point now);

  /// The tap's events with seq > `after`; nullopt when there is no such tap
  /// (never started, or forgotten).
  std::optional<tap_view> read(uint64_t tap, uint64_t after, time_point now);

  /// Stops the tap (stopped_by "cancelled" unless it had stopped already)
  /// and returns it with all its events still in the ring.
  std::optional<tap_view> stop(uint64_t tap, time_point now);

  /// A newly registered actor: the running taps whose target is a label or
  /// a word that matches it take it.
  void registered(const actor_record_ptr& record);

  /// An actor a tap watches ended.
  void ended(const actor_record& record);

  /// Taps running now.
  size_t running() const;

private:
  void sweep(time_point now);

  mutable std::mutex mtx_;
  std::map<uint64_t, std::shared_ptr<detail::tap>> taps_;
  uint64_t next_id_ = 1;
};

} // namespace prism
