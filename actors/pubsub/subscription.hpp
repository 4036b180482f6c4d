#pragma once

// A subscription actor: one per subscriber stream, owned by the client's
// session. Its broker delivers messages; it writes them to the stream one at
// a time (the next only when the previous write completed) and buffers the
// rest, at most `buffer` of them.
//
// - An ephemeral subscription (no name) is pushed every message. When its
//   buffer is full it drops the oldest message and counts the drop (the
//   inspector shows it as `rejected`), or, when its namespace says
//   `slow_subscriber: disconnect`, ends the stream RESOURCE_EXHAUSTED: a
//   slow reader never slows the broker or the other subscribers, and never
//   grows memory.
// - A named subscription pulls: it gives its broker credit for as many
//   messages as its buffer holds and one more for each message written, so
//   the broker keeps what it cannot take (nothing is dropped here). With
//   that credit it hands back the tag of the message it wrote, which a
//   backend with acknowledgements (Kafka, JetStream) acknowledges: a message
//   counts as consumed only once it reached the client's stream.
//
// It ends when the client goes away (the sink's cancel), when the stream
// breaks, when its broker ends it (`ended`, e.g. its backend stayed down too
// long), or when its broker ends (the stream then ends UNAVAILABLE).

#include <cstdint>
#include <deque>
#include <string>

#include "config/defaults.hpp"
#include "runtime/call.hpp"
#include "runtime/inspector.hpp"

namespace prism {

struct subscription_options {
  std::string name;
  bool named = false;
  uint32_t buffer = defaults::subscription_buffer_messages;
  /// Ephemeral: end the stream instead of dropping when the buffer is full.
  bool disconnect_when_full = false;
  inspector* actors = nullptr;
  uint64_t parent = 0;
};

struct subscription_state {
  static inline const char* name = "subscription";
  subscription_options options;
  message_sink_ptr sink;
  std::deque<model::message> buffer;
  bool writing = false;
  /// The tag of the message being written.
  uint64_t writing_tag = 0;
  broker_actor broker;
  uint64_t delivered = 0;
  uint64_t dropped = 0;
  inspector_registration registration;
};

/// The stream finished writing a message (true) or is gone (false): the
/// sink's answer to the subscription's own write.
using written_atom = caf::atom_constant<caf::atom("written")>;
/// What a subscription handles: its public interface and its stream's
/// answers.
using subscription_impl
  = subscription_actor::extend<caf::reacts_to<written_atom, bool>>;

subscription_impl::behavior_type subscription(
  subscription_impl::stateful_pointer<subscription_state> self,
  message_sink_ptr sink, subscription_options options);

} // namespace prism
