#include "runtime/tap.hpp"

#include <algorithm>
#include <charconv>
#include <deque>

#include <caf/abstract_actor.hpp>
#include <caf/actor_cast.hpp>
#include <caf/actor_control_block.hpp>
#include <caf/actor_system.hpp>
#include <caf/local_actor.hpp>
#include <caf/mailbox_element.hpp>
#include <caf/type_erased_tuple.hpp>

namespace prism {

std::string_view to_string(tap_stop stop) noexcept {
  switch (stop) {
    case tap_stop::none: return "";
    case tap_stop::max: return "max";
    case tap_stop::time: return "time";
    case tap_stop::cancelled: return "cancelled";
    case tap_stop::actors_ended: return "actors_ended";
  }
  return "";
}

// --- tap_target ---------------------------------------------------------------

std::optional<tap_target> tap_target::parse(std::string_view text) {
  if (text.empty())
    return std::nullopt;
  tap_target target;
  target.text = std::string(text);
  uint64_t id = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), id);
  if (ec == std::errc{} && end == text.data() + text.size()) {
    target.kind = by::id;
    target.id = id;
  } else if (text.find(':') != std::string_view::npos) {
    target.kind = by::label;
  } else {
    target.kind = by::word;
  }
  return target;
}

bool tap_target::matches(const actor_record& record) const {
  switch (kind) {
    case by::id: return record.id() == id;
    case by::label: {
      const auto& k = record.kind();
      const auto& n = record.name();
      return text.size() == k.size() + 1 + n.size()
        && text.compare(0, k.size(), k) == 0 && text[k.size()] == ':'
        && text.compare(k.size() + 1, std::string::npos, n) == 0;
    }
    case by::word: return record.kind() == text || record.name() == text;
  }
  return false;
}

namespace detail {

// --- tap ----------------------------------------------------------------------

/// One tap: its ring, its limits and the actors it watches. Records hold
/// it (shared) while it watches them; it holds them weakly.
class tap {
public:
  using time_point = caf::actor_clock::time_point;

  tap(uint64_t id, tap_target target, uint64_t events_max,
      std::chrono::milliseconds duration, time_point started_at)
    : id_(id), target_(std::move(target)), events_max_(events_max),
      duration_(duration), started_at_(started_at) {}

  uint64_t id() const noexcept { return id_; }
  const tap_target& target() const noexcept { return target_; }

  /// Watches `record` from now on; false when the tap has stopped.
  bool attach(const std::shared_ptr<tap>& self,
              const actor_record_ptr& record) {
    {
      std::lock_guard<std::mutex> guard{mtx_};
      if (stop_ != tap_stop::none)
        return false;
      watched_.push_back(record);
      actor_ids_.push_back(record->id());
      ++live_;
      empty_since_.reset();
    }
    record->add_tap(self);
    return true;
  }

  enum class taken { kept, stopped_now, stopped };

  /// One handled message. The event that reaches the maximum is kept; one
  /// past the tap's duration is not.
  taken push(const actor_record& record, time_point at, std::string message,
             int64_t handler_us) {
    std::lock_guard<std::mutex> guard{mtx_};
    if (stop_ != tap_stop::none)
      return taken::stopped;
    if (at >= started_at_ + duration_) {
      stop_locked(tap_stop::time, started_at_ + duration_);
      return taken::stopped_now;
    }
    tap_event e;
    e.seq = next_seq_++;
    e.at = at;
    e.actor = record.id();
    e.label = record.kind() + ":" + record.name();
    e.message = std::move(message);
    e.handler_us = handler_us;
    if (ring_.size() == tap_board::ring_events_max) {
      if (ring_.front().seq > delivered_)
        ++dropped_;
      ring_.pop_front();
    }
    ring_.push_back(std::move(e));
    if (next_seq_ - 1 >= events_max_) {
      stop_locked(tap_stop::max, at);
      return taken::stopped_now;
    }
    return taken::kept;
  }

  /// An actor it watches ended at `at`; true when that stopped the tap.
  bool ended(time_point at) {
    std::lock_guard<std::mutex> guard{mtx_};
    if (live_ > 0)
      --live_;
    if (stop_ != tap_stop::none || live_ > 0)
      return false;
    if (target_.kind != tap_target::by::id) {
      // A successor may register under the label or word: check() waits.
      empty_since_ = at;
      return false;
    }
    // No successor can come: an id names one actor.
    stop_locked(tap_stop::actors_ended, at);
    return true;
  }

  /// Applies the limits that depend on time only; true when that stopped
  /// the tap now.
  bool check(time_point now) {
    std::lock_guard<std::mutex> guard{mtx_};
    bool stopped_now = false;
    if (stop_ == tap_stop::none) {
      if (now >= started_at_ + duration_) {
        stop_locked(tap_stop::time, started_at_ + duration_);
        stopped_now = true;
      } else if (live_ == 0) {
        if (!empty_since_)
          empty_since_ = now;
        if (target_.kind == tap_target::by::id
            || now - *empty_since_ >= tap_board::successor_wait) {
          stop_locked(tap_stop::actors_ended, now);
          stopped_now = true;
        }
      }
    }
    return stopped_now;
  }

  /// Stops it as cancelled; true when it was running.
  bool cancel(time_point now) {
    std::lock_guard<std::mutex> guard{mtx_};
    if (stop_ != tap_stop::none)
      return false;
    stop_locked(tap_stop::cancelled, now);
    return true;
  }

  /// Its events with seq > `after`; those become delivered.
  tap_view view(uint64_t after) {
    std::lock_guard<std::mutex> guard{mtx_};
    tap_view v;
    v.tap = id_;
    v.target = target_.text;
    v.actors = actor_ids_;
    v.events_max = events_max_;
    v.duration = duration_;
    v.stopped_by = stop_;
    for (auto& e : ring_)
      if (e.seq > after)
        v.events.push_back(e);
    if (!v.events.empty())
      delivered_ = std::max(delivered_, v.events.back().seq);
    v.dropped = dropped_;
    return v;
  }

  /// Leaves every record it watches (after it stopped).
  void detach_all() {
    std::vector<std::weak_ptr<actor_record>> watched;
    {
      std::lock_guard<std::mutex> guard{mtx_};
      watched.swap(watched_);
    }
    for (auto& w : watched)
      if (auto record = w.lock())
        record->remove_tap(this);
  }

  bool running() const {
    std::lock_guard<std::mutex> guard{mtx_};
    return stop_ == tap_stop::none;
  }

  std::optional<time_point> stopped_at() const {
    std::lock_guard<std::mutex> guard{mtx_};
    return stopped_at_;
  }

private:
  void stop_locked(tap_stop why, time_point at) {
    stop_ = why;
    stopped_at_ = at;
  }

  const uint64_t id_;
  const tap_target target_;
  const uint64_t events_max_;
  const std::chrono::milliseconds duration_;
  const time_point started_at_;

  mutable std::mutex mtx_;
  std::deque<tap_event> ring_;
  uint64_t next_seq_ = 1;
  /// The highest seq a reader was handed.
  uint64_t delivered_ = 0;
  uint64_t dropped_ = 0;
  tap_stop stop_ = tap_stop::none;
  std::optional<time_point> stopped_at_;
  /// Watched actors that have not ended, and since when there are none.
  size_t live_ = 0;
  std::optional<time_point> empty_since_;
  std::vector<std::weak_ptr<actor_record>> watched_;
  std::vector<uint64_t> actor_ids_;
};

// --- the handler guard's side -------------------------------------------------

tap_note* begin_tapped(const actor_record& record) noexcept {
  try {
    auto note = std::make_unique<tap_note>();
    note->at = caf::actor_clock::clock_type::now();
    // The guard runs in the actor's handler: the actor is alive, and its
    // current mailbox element is the message being handled.
    if (auto strong = caf::actor_cast<caf::strong_actor_ptr>(record.address()))
      if (auto self = dynamic_cast<caf::local_actor*>(strong->get())) {
        note->at = self->clock().now();
        if (auto element = self->current_mailbox_element())
          note->message = element->content().stringify();
      }
    if (note->message.size() > tap_board::message_bytes_max) {
      note->message.resize(tap_board::message_bytes_max - 3);
      note->message += "...";
    }
    return note.release();
  } catch (...) {
    return nullptr;
  }
}

void end_tapped(actor_record& record, tap_note* note,
                std::chrono::nanoseconds handler_time) noexcept {
  std::unique_ptr<tap_note> owned{note};
  try {
    auto us
      = std::chrono::duration_cast<std::chrono::microseconds>(handler_time)
          .count();
    for (auto& t : record.taps()) {
      auto taken = t->push(record, owned->at, owned->message, us);
      if (taken == tap::taken::kept)
        continue;
      record.remove_tap(t.get());
      if (taken == tap::taken::stopped_now)
        t->detach_all();
    }
  } catch (...) {
    // A tap that cannot take an event misses it; the actor goes on.
  }
}

} // namespace detail

// --- tap_board ----------------------------------------------------------------

tap_board::tap_board() = default;

tap_board::~tap_board() {
  for (auto& entry : taps_)
    entry.second->detach_all();
}

void tap_board::sweep(time_point now) {
  size_t stopped = 0;
  for (auto& entry : taps_) {
    if (entry.second->check(now))
      entry.second->detach_all();
    if (!entry.second->running())
      ++stopped;
  }
  // Ids grow with time: the oldest stopped taps come first.
  for (auto i = taps_.begin(); i != taps_.end();) {
    auto at = i->second->stopped_at();
    bool expired = at && now - *at >= kept_after_stop;
    if (at && (expired || stopped > stopped_kept_max)) {
      --stopped;
      i = taps_.erase(i);
    } else {
      ++i;
    }
  }
}

tap_board::start_result tap_board::start(
  const tap_target& target, const std::vector<actor_record_ptr>& actors,
  uint64_t events_max, std::chrono::milliseconds duration, time_point now) {
  std::lock_guard<std::mutex> guard{mtx_};
  sweep(now);
  start_result result;
  size_t running = 0;
  for (auto& entry : taps_)
    if (entry.second->running())
      ++running;
  if (running >= taps_max) {
    result.refused = refusal::too_many;
    return result;
  }
  if (actors.empty()) {
    result.refused = refusal::no_actor;
    return result;
  }
  auto t = std::make_shared<detail::tap>(next_id_++, target, events_max,
                                         duration, now);
  taps_.emplace(t->id(), t);
  for (auto& record : actors)
    t->attach(t, record);
  result.tap = t->view(UINT64_MAX);
  return result;
}

std::optional<tap_view> tap_board::read(uint64_t tap, uint64_t after,
                                        time_point now) {
  std::lock_guard<std::mutex> guard{mtx_};
  sweep(now);
  auto i = taps_.find(tap);
  if (i == taps_.end())
    return std::nullopt;
  return i->second->view(after);
}

std::optional<tap_view> tap_board::stop(uint64_t tap, time_point now) {
  std::lock_guard<std::mutex> guard{mtx_};
  sweep(now);
  auto i = taps_.find(tap);
  if (i == taps_.end())
    return std::nullopt;
  if (i->second->cancel(now))
    i->second->detach_all();
  return i->second->view(0);
}

void tap_board::registered(const actor_record_ptr& record) {
  std::lock_guard<std::mutex> guard{mtx_};
  for (auto& entry : taps_) {
    auto& t = entry.second;
    if (t->target().kind != tap_target::by::id && t->target().matches(*record))
      t->attach(t, record);
  }
}

void tap_board::ended(const actor_record& record) {
  // The actor's own clock (it is the system's: the record's address keeps
  // the control block and thus the system pointer valid).
  auto at = record.address() ? record.address().home_system().clock().now()
                             : caf::actor_clock::clock_type::now();
  for (auto& t : record.taps())
    if (t->ended(at))
      t->detach_all();
}

size_t tap_board::running() const {
  std::lock_guard<std::mutex> guard{mtx_};
  size_t n = 0;
  for (auto& entry : taps_)
    if (entry.second->running())
      ++n;
  return n;
}

} // namespace prism
