#pragma once

// The topics of an in-memory PubSub backend, in one actor. A Publish call
// appends the message to its topic's log (the last `retained` messages are
// kept) and delivers it: to every ephemeral subscriber of the topic, and to
// one member of each named subscription (round robin among the members with
// credit). It answers the publisher once the message is delivered to the
// topic, with its id.
//
// A named subscription keeps its position in the topic's log while it has no
// member (for as long as the process runs and the log still holds the
// messages; what the log drops before the subscription reads it is counted
// as lost). A message counts as consumed once a member wrote it to its
// client (the member's credit carries the message's tag back); what a member
// was sent but had not written when it left goes to the group again. A
// subscriber asks for EARLIEST to start at the oldest retained message, LATEST (the default) for only new ones; a named subscription that
// already exists keeps its position whatever a new member asks. Its lag
// (what it has not consumed) is on the lag board even while it has no
// member.

#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "drivers/driver.hpp"
#include "pubsub/lag_board.hpp"
#include "runtime/admission.hpp"
#include "runtime/call.hpp"
#include "runtime/inspector.hpp"

namespace prism {

struct broker_options {
  std::string backend;
  uint32_t retained = defaults::memory_topic_retained_messages;
  uint64_t retained_bytes = defaults::memory_topic_retained_bytes;
  uint32_t max_topics = defaults::memory_topics_max;
  std::shared_ptr<drivers::wall_clock> clock;
  inspector* actors = nullptr;
  uint64_t parent = 0;
  /// The slots the router takes before it enqueues a call here.
  admission_ptr gate;
  /// Where each named subscription's lag is reported (none in some tests).
  pubsub_lag_board_ptr lag_board;
};

struct broker_state {
  static inline const char* name = "broker";

  struct member {
    subscription_actor subscriber;
    uint32_t credit = 0;
    /// Offsets sent to this member and not yet written to its client.
    std::set<uint64_t> unacked;
  };
  struct group {
    std::vector<member> members;
    size_t next = 0;
    /// Offset of the next message the group reads.
    uint64_t cursor = 0;
    /// Offsets a member was sent but left without writing: sent again
    /// (to any member) before anything new.
    std::set<uint64_t> redeliver;
    uint64_t lost = 0;
    /// Messages not consumed yet (published after the cursor, to be sent
    /// again, or sent and not written), kept up to date on the board.
    pubsub_lag_board::entry_ptr lag;
  };
  struct topic {
    /// Messages from `first` to `first + log.size()`.
    std::deque<model::message> log;
    uint64_t first = 0;
    /// Payload bytes in `log`.
    uint64_t bytes = 0;
    std::vector<subscription_actor> ephemeral;
    std::map<std::string, group> groups;
    uint64_t end() const { return first + log.size(); }
  };

  broker_options options;
  /// By namespace, then topic.
  std::map<std::string, std::map<std::string, topic>> topics;
  size_t topic_count = 0;
  /// Makes message ids unique across restarts of the broker.
  int64_t epoch_ms = 0;
  uint64_t published = 0;
  uint64_t gate_rejections_seen = 0;
  inspector_registration registration;
};

broker_actor::behavior_type broker(
  broker_actor::stateful_pointer<broker_state> self, broker_options options);

} // namespace prism
