#pragma once

// How far each named PubSub subscription is behind its topic, for
// `prism_pubsub_lag`. Whoever measures a subscription's lag (the memory
// broker for its groups, a Kafka or NATS client on its own threads) holds an
// entry and stores its latest figure there; /metrics reads the board when it
// is scraped.
//
// An entry is a relaxed atomic: storing a figure takes no lock. The board
// keeps only weak references, so a subscription's series disappears with the
// last entry for it (its last stream in this gateway closed). Several entries
// for one subscription (two local members of one JetStream consumer, each
// measuring the whole consumer) report the largest figure.

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <tuple>

#include "runtime/metric_report.hpp"

namespace prism {

class pubsub_lag_board {
public:
  class entry {
  public:
    /// The latest figure: messages published to the topic that the
    /// subscription has not consumed yet.
    void set(uint64_t lag) noexcept {
      value_.store(static_cast<int64_t>(lag), std::memory_order_relaxed);
    }
    /// -1 until the first set().
    int64_t get() const noexcept {
      return value_.load(std::memory_order_relaxed);
    }

  private:
    std::atomic<int64_t> value_{-1};
  };
  using entry_ptr = std::shared_ptr<entry>;

  /// A new entry for (ns, topic, subscription); the series shows it from its
  /// first set() until the last holder lets go.
  entry_ptr track(const std::string& ns, const std::string& topic,
                  const std::string& subscription);

  /// `prism_pubsub_lag{namespace, subscription, topic}` for every
  /// subscription with a live entry that was set.
  metric_report report() const;

private:
  using key = std::tuple<std::string, std::string, std::string>;
  mutable std::mutex mutex_;
  /// Expired entries are dropped when their key is tracked again and at
  /// every report.
  mutable std::multimap<key, std::weak_ptr<entry>> entries_;
};

using pubsub_lag_board_ptr = std::shared_ptr<pubsub_lag_board>;

} // namespace prism
