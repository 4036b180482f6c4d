#pragma once

// Closes the backend clients of brokers that ended, on a thread of its own.
// Closing a client can block: the NATS client waits for its fetches and a
// final flush, up to a second. A broker ends on one of the scheduler's few
// threads, and blocking there would stall every namespace for as long; so a
// broker hands what it must close to the closer and ends at once.

#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <thread>

namespace prism {

/// Something to close by destroying it.
struct closable {
  virtual ~closable() = default;
};

class client_closer {
public:
  client_closer();
  /// Closes what is still queued, then joins the thread. The items it
  /// closes must not own the closer.
  ~client_closer();
  client_closer(const client_closer&) = delete;
  client_closer& operator=(const client_closer&) = delete;

  /// Destroys `item` on the closer's thread, after the items handed before.
  void close(std::unique_ptr<closable> item);

  /// Items handed and not destroyed yet.
  size_t pending() const;

private:
  void run();

  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<std::unique_ptr<closable>> queue_;
  /// The item being destroyed now counts as pending.
  size_t closing_ = 0;
  bool stopping_ = false;
  std::thread thread_;
};

using client_closer_ptr = std::shared_ptr<client_closer>;

} // namespace prism
