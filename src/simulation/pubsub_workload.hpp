#pragma once

// The PubSub side of a scenario's workload: the clients' publishes and
// subscriber streams on a pubsub namespace, and their history. The runner
// keeps the processes and their loop; this picks what a process calls
// (publish to a topic, or open a stream: durable, shared or ephemeral),
// opens the streams as recording sinks, records what each stream receives
// and when it is in place or ends, subscribes again after a stream ended
// (as a client would), and makes subscribers stop reading for a
// slow_subscriber fault.

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "model/operation.hpp"
#include "simulation/history.hpp"
#include "simulation/scenario.hpp"

namespace prism::simulation {

class deterministic_gateway;
class recording_sink;

class pubsub_workload {
public:
  /// What the runner does for each new call (gives it its place in the
  /// event order and counts it unanswered), and hands out places in the
  /// event order for the other events.
  struct hooks {
    std::function<void(kv_operation& op)> record_call;
    std::function<uint64_t(uint64_t count)> take_indexes;
  };

  pubsub_workload(const scenario& s, deterministic_gateway& g, hooks h);
  ~pubsub_workload();
  pubsub_workload(const pubsub_workload&) = delete;
  pubsub_workload& operator=(const pubsub_workload&) = delete;

  /// A process's next call: a publish (returned), or a subscribe (returned
  /// too; `open` then makes the stream instead of submitting it).
  model::operation make_operation(std::mt19937_64& rng, kv_operation& op);
  /// Opens the stream of a subscribe call made by make_operation, as
  /// `session`.
  void open(const kv_operation& op, const std::string& session);
  /// The answer to one of its calls was recorded.
  void on_answer(const kv_operation& op);

  /// Subscribes again for the streams that ended resubscribe_ms ago;
  /// returns how many.
  size_t resubscribe_due(int64_t now_ms);
  /// When the next resubscription is due, if one waits.
  std::optional<int64_t> next_due_ms() const;
  /// From now on an ended stream stays ended.
  void stop_resubscribing() { resubscribing_ = false; }
  /// Every durable or shared subscription has a stream in place and no
  /// stream waits to subscribe again.
  bool settled() const;

  /// slow_subscriber: `count` open streams (drawn with `seed`) stop
  /// reading; returns them, e.g. "s2,s5".
  std::string hold(const std::string& fault_id, uint32_t count, uint64_t seed);
  /// They read again (the write each was holding completes).
  void release(const std::string& fault_id);
  /// client_cancel: the clients of `count` open streams (drawn with `seed`)
  /// go away mid-stream; a stream that ends subscribes again as usual.
  /// Returns the streams, for the fault's outcome.
  std::string cancel(const std::string& fault_id, uint32_t count,
                     uint64_t seed);

  const std::vector<subscriber_stream>& streams() const { return streams_; }
  const std::vector<delivery>& deliveries() const { return deliveries_; }

private:
  struct stream_state {
    std::shared_ptr<recording_sink> sink;
    std::string session;
    /// When to subscribe again, once it ended (and before the run stopped
    /// resubscribing).
    std::optional<int64_t> resubscribe_at;
    bool ended = false;
  };

  void open_stream(subscriber_stream s, const std::string& session);
  void ended(size_t index, status_code code, const std::string& message);
  size_t open_streams() const;

  const scenario& s_;
  deterministic_gateway& g_;
  hooks hooks_;
  std::vector<std::string> topics_;
  std::vector<subscriber_stream> streams_;
  std::vector<stream_state> states_;
  std::vector<delivery> deliveries_;
  /// Subscribe calls made by make_operation, not opened yet: shared or not.
  std::map<std::string, bool> pending_shared_;
  std::map<std::string, size_t> stream_of_request_;
  std::map<std::string, std::vector<size_t>> held_;
  uint64_t durable_names_ = 0;
  bool resubscribing_ = true;
};

} // namespace prism::simulation
