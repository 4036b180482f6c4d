#pragma once

// The two edges where a call leaves the actors: the completion that answers
// a unary call, and the sink a subscriber stream writes to. The gRPC front
// end implements both; so do tests and the simulator's clients.

#include <functional>
#include <memory>

#include "model/operation.hpp"

namespace prism {

/// Where a call goes to be answered; implemented by the gRPC front end and by
/// test and simulation clients.
class call_completion {
public:
  virtual ~call_completion() = default;
  /// Called exactly once (this or `complete_soon`), from whichever thread
  /// finishes the call.
  virtual void complete(model::outcome&& result) = 0;
  /// The same, from an actor that does nothing after it that could block
  /// its thread: the answer may wait until the thread has run the jobs it
  /// has in hand (the front end sends the answers of calls completed
  /// together together). By default it goes at once.
  virtual void complete_soon(model::outcome&& result) {
    complete(std::move(result));
  }
};

/// Where a subscription writes its messages: the front end's stream, or a
/// test's recorder. Thread-safe.
class message_sink {
public:
  virtual ~message_sink() = default;
  /// Writes one message; calls `done(true)` once it is written, or
  /// `done(false)` when the stream is gone. One write at a time.
  virtual void write(const model::message& m, std::function<void(bool)> done)
    = 0;
  /// Ends the stream with `st`; later calls are ignored.
  virtual void finish(const status& st) = 0;
  /// What to do when the client goes away; runs at once if it already has.
  virtual void on_cancel(std::function<void()> fn) = 0;
  /// The subscription is in place (called before the first write).
  virtual void subscribed() {}
};
using message_sink_ptr = std::shared_ptr<message_sink>;

} // namespace prism
